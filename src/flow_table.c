/* SPDX-License-Identifier: MIT */
/*
 * flow_table.c - uthash table of connections plus two O(1) age lists.
 *
 * The key is canonical (lower address/port pair first) and zero-padded so
 * uthash can hash and compare it as raw bytes. Direction is kept in the
 * connection (CONN_CLIENT_IS_LO), never in the key. See flow_table.h.
 */
#include "fasthash.h" /* before uthash.h */
#include "flow_table.h"

#include <stdlib.h>
#include <string.h>

/* Compare two (address, port) endpoints for the canonical order. */
static int endpoint_cmp(const struct ip_addr *a, uint16_t pa, const struct ip_addr *b, uint16_t pb)
{
    int r = memcmp(a->b, b->b, sizeof a->b);
    if (r != 0)
        return r;
    return (pa > pb) - (pa < pb);
}

void flow_key_make(struct flow_key *k, const struct tcp_segment *seg, bool *src_is_lo)
{
    memset(k, 0, sizeof *k);
    k->ip_version = seg->ip_version;
    if (endpoint_cmp(&seg->src, seg->sport, &seg->dst, seg->dport) <= 0) {
        k->addr_lo = seg->src;
        k->port_lo = seg->sport;
        k->addr_hi = seg->dst;
        k->port_hi = seg->dport;
        *src_is_lo = true;
    } else {
        k->addr_lo = seg->dst;
        k->port_lo = seg->dport;
        k->addr_hi = seg->src;
        k->port_hi = seg->sport;
        *src_is_lo = false;
    }
}

/* ---- age lists ---------------------------------------------------------- */

static void list_append(struct flow_list *l, struct conn *c)
{
    c->lru_next = NULL;
    c->lru_prev = l->tail;
    if (l->tail)
        l->tail->lru_next = c;
    else
        l->head = c;
    l->tail = c;
    l->count++;
}

static void list_unlink(struct flow_list *l, struct conn *c)
{
    if (c->lru_prev)
        c->lru_prev->lru_next = c->lru_next;
    else
        l->head = c->lru_next;
    if (c->lru_next)
        c->lru_next->lru_prev = c->lru_prev;
    else
        l->tail = c->lru_prev;
    c->lru_prev = c->lru_next = NULL;
    l->count--;
}

static struct flow_list *list_of(struct flow_table *t, const struct conn *c)
{
    return (c->flags & CONN_DONE) ? &t->linger : &t->active;
}

/* ---- table ------------------------------------------------------------- */

void flow_table_init(struct flow_table *t)
{
    memset(t, 0, sizeof *t);
}

void flow_table_destroy(struct flow_table *t)
{
    struct conn *c, *tmp;
    HASH_ITER(hh, t->hash, c, tmp)
    {
        HASH_DEL(t->hash, c);
        free(c);
    }
    flow_table_init(t);
}

struct conn *flow_table_find(struct flow_table *t, const struct flow_key *k)
{
    struct conn *c = NULL;
    HASH_FIND(hh, t->hash, k, sizeof *k, c);
    return c;
}

struct conn *flow_table_add(struct flow_table *t, const struct flow_key *k)
{
    struct conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->key = *k;
    HASH_ADD(hh, t->hash, key, sizeof c->key, c);
    list_append(&t->active, c);
    t->count++;
    if (t->count > t->peak)
        t->peak = t->count;
    t->bytes += sizeof *c;
    return c;
}

void flow_table_touch(struct flow_table *t, struct conn *c)
{
    struct flow_list *l = list_of(t, c);
    if (l->tail == c)
        return;
    list_unlink(l, c);
    list_append(l, c);
}

void flow_table_mark_done(struct flow_table *t, struct conn *c)
{
    if (c->flags & CONN_DONE) {
        flow_table_touch(t, c);
        return;
    }
    list_unlink(&t->active, c);
    c->flags |= CONN_DONE;
    list_append(&t->linger, c);
}

void flow_table_remove(struct flow_table *t, struct conn *c)
{
    list_unlink(list_of(t, c), c);
    HASH_DEL(t->hash, c);
    t->count--;
    t->bytes -= sizeof *c;
}

void flow_table_free_conn(struct conn *c)
{
    free(c);
}
