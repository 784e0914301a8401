/* SPDX-License-Identifier: MIT */
/*
 * flow_table.c - pool, open-addressing index and three O(1) age lists for
 * the live connections.
 *
 * The key is canonical (lower address/port pair first) and zero-padded so it
 * can be hashed and compared as five 64-bit words. Direction is kept in the
 * connection (CONN_CLIENT_IS_LO), never in the key. See flow_table.h.
 */
#include "flow_table.h"

#include <assert.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* The hash of a key given as its five 64-bit words: each multiplied by its
 * own odd constant and summed (the products are independent, so they run in
 * parallel), then folded and mixed once (splitmix64's finaliser): a third of
 * the work of hashing the words one after the other, and the same spread in
 * the low bits the index uses. */
static uint32_t hash_words(uint64_t w0, uint64_t w1, uint64_t w2, uint64_t w3, uint64_t w4)
{
    uint64_t h = w0 * 0x9e3779b97f4a7c15ull + w1 * 0xc2b2ae3d27d4eb4full +
                 w2 * 0x165667b19e3779f9ull + w3 * 0xd6e8feb86659fd93ull +
                 w4 * 0xff51afd7ed558ccdull;
    h ^= h >> 32;
    h *= 0x94d049bb133111ebull;
    h ^= h >> 29;
    return (uint32_t)h;
}

uint32_t flow_key_make_hashed(struct flow_key *k, const struct tcp_segment *seg, bool *src_is_lo)
{
    /* The addresses as 8-byte words (the decoder writes them so: a wider
     * load of narrower stores cannot be forwarded from the store buffer). */
    uint64_t s0, s1, d0, d1;
    memcpy(&s0, seg->src.b, 8);
    memcpy(&s1, seg->src.b + 8, 8);
    memcpy(&d0, seg->dst.b, 8);
    memcpy(&d1, seg->dst.b + 8, 8);
    /* Canonical order: the (address, port) that compares lower, the address
     * bytes as memcmp() orders them -- as big-endian words. */
    int cmp;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint64_t bs0 = __builtin_bswap64(s0), bd0 = __builtin_bswap64(d0);
    uint64_t bs1 = __builtin_bswap64(s1), bd1 = __builtin_bswap64(d1);
#else
    uint64_t bs0 = s0, bd0 = d0, bs1 = s1, bd1 = d1;
#endif
    if (bs0 != bd0)
        cmp = bs0 < bd0 ? -1 : 1;
    else if (bs1 != bd1)
        cmp = bs1 < bd1 ? -1 : 1;
    else
        cmp = (seg->sport > seg->dport) - (seg->sport < seg->dport);
    bool lo = cmp <= 0;
    uint16_t plo = lo ? seg->sport : seg->dport, phi = lo ? seg->dport : seg->sport;
    /* ports, version and padding: the last word, laid out as in memory */
    uint8_t tail[8] = {0};
    memcpy(tail, &plo, 2);
    memcpy(tail + 2, &phi, 2);
    tail[4] = seg->ip_version;
    uint64_t w0 = lo ? s0 : d0, w1 = lo ? s1 : d1, w2 = lo ? d0 : s0, w3 = lo ? d1 : s1, w4;
    memcpy(&w4, tail, sizeof w4);
    /* word by word from registers (no array on the stack: the compiler
     * would store it in 8-byte pieces and reload it 16 bytes at a time) */
    unsigned char *kb = (unsigned char *)k;
    memcpy(kb, &w0, 8);
    memcpy(kb + 8, &w1, 8);
    memcpy(kb + 16, &w2, 8);
    memcpy(kb + 24, &w3, 8);
    memcpy(kb + 32, &w4, 8);
    *src_is_lo = lo;
    return hash_words(w0, w1, w2, w3, w4);
}

/* flow_key_hash() of a connection's key. */
static uint32_t conn_key_hash(const struct conn_key *ck)
{
    uint64_t w4;
    memcpy(&w4, &ck->port_lo, 8); /* ports, version, zero padding: as in the flow key */
    if (ck->ip_version == 6) {
        uint64_t w[4];
        memcpy(w, ck->addr.v6, sizeof w);
        return hash_words(w[0], w[1], w[2], w[3], w4);
    }
    /* an IPv4 address in a flow key: its 4 bytes, then zeros */
    unsigned char lo[8] = {0}, hi[8] = {0};
    uint64_t w0, w2;
    memcpy(lo, &ck->addr.v4[0], 4);
    memcpy(hi, &ck->addr.v4[1], 4);
    memcpy(&w0, lo, 8);
    memcpy(&w2, hi, 8);
    return hash_words(w0, 0, w2, 0, w4);
}

void flow_key_make(struct flow_key *k, const struct tcp_segment *seg, bool *src_is_lo)
{
    (void)flow_key_make_hashed(k, seg, src_is_lo);
}

_Static_assert(sizeof(struct flow_key) == 40, "flow_key is compared as five 64-bit words");
_Static_assert(offsetof(struct flow_key, port_lo) == 32 &&
                   offsetof(struct flow_key, port_hi) == 34 &&
                   offsetof(struct flow_key, ip_version) == 36,
               "flow_key_make() writes the ports, version and padding as one word");

_Static_assert(offsetof(struct conn_key, port_lo) == 8 && sizeof(struct conn_key) == 16,
               "the ports, version and padding are one 8-byte word in both keys");

/* Is the connection's key ck the flow key k? */
static bool key_equal(const struct conn_key *ck, const struct flow_key *k)
{
    uint64_t a, b;
    memcpy(&a, &ck->port_lo, 8);
    memcpy(&b, &k->port_lo, 8);
    if (a != b)
        return false;
    if (k->ip_version == 6)
        return memcmp(ck->addr.v6, k, sizeof *ck->addr.v6) == 0;
    /* IPv4: a flow key's addresses are their 4 bytes, then zeros (always:
     * the decoder writes them so), so the 4 bytes decide */
    uint32_t lo, hi;
    memcpy(&lo, k->addr_lo.b, 4);
    memcpy(&hi, k->addr_hi.b, 4);
    return ((lo ^ ck->addr.v4[0]) | (hi ^ ck->addr.v4[1])) == 0;
}

/* ---- age lists ---------------------------------------------------------- */

static void list_append(struct flow_table *t, struct flow_list *l, struct conn *c)
{
    uint32_t idx = flow_table_idx(t, c), me = idx + 1;
    t->links[idx] = (struct flow_link){.prev = l->tail, .next = 0};
    if (l->tail)
        t->links[l->tail - 1].next = me;
    else
        l->head = me;
    l->tail = me;
    l->count++;
}

static void list_unlink(struct flow_table *t, struct flow_list *l, struct conn *c)
{
    uint32_t idx = flow_table_idx(t, c);
    struct flow_link *k = &t->links[idx];
    if (l->walk == idx + 1)                    /* the mark moves on; at the tail, */
        l->walk = k->next ? k->next : k->prev; /* back: what is before it is settled */
    if (k->prev)
        t->links[k->prev - 1].next = k->next;
    else
        l->head = k->next;
    if (k->next)
        t->links[k->next - 1].prev = k->prev;
    else
        l->tail = k->prev;
    k->prev = k->next = 0;
    l->count--;
}

static struct flow_list *list_of(struct flow_table *t, const struct conn *c)
{
    if (c->flags & CONN_DONE)
        return &t->linger;
    return (c->flags & CONN_IN_HANDSHAKE) ? &t->handshake : &t->active;
}

struct conn *flow_list_head(const struct flow_table *t, const struct flow_list *l)
{
    return l->head ? flow_table_at(t, l->head - 1) : NULL;
}

struct conn *flow_table_next(const struct flow_table *t, const struct conn *c)
{
    uint32_t n = t->links[flow_table_idx(t, c)].next;
    return n ? flow_table_at(t, n - 1) : NULL;
}

struct conn *flow_table_walk_start(const struct flow_table *t, const struct flow_list *l)
{
    return l->walk ? flow_table_at(t, l->walk - 1) : flow_list_head(t, l);
}

void flow_table_walk_mark(const struct flow_table *t, struct flow_list *l, const struct conn *c)
{
    l->walk = flow_table_idx(t, c) + 1;
}

struct conn *flow_table_prev(const struct flow_table *t, const struct conn *c)
{
    uint32_t n = t->links[flow_table_idx(t, c)].prev;
    return n ? flow_table_at(t, n - 1) : NULL;
}

/* ---- pool --------------------------------------------------------------- */

/* Reserves the pool for t->limit connections, or for as many as the
 * address space allows (halving down to one 2 MiB unit's worth: under
 * `ulimit -v` a large limit may not fit); t->limit becomes what was
 * reserved. False, and not tried again, when not even that fits. */
static bool pool_reserve(struct flow_table *t)
{
    if (t->pool || t->reserve_failed)
        return t->pool != NULL;
    size_t limit = t->limit ? t->limit : FLOW_DEFAULT_LIMIT;
    if (limit > (SIZE_MAX - HUGE_UNIT) / sizeof(struct conn)) /* (32-bit size_t) */
        limit = (SIZE_MAX - HUGE_UNIT) / sizeof(struct conn);
    const size_t unit = HUGE_UNIT / sizeof(struct conn);
    for (;;) {
        size_t bytes = (limit * sizeof(struct conn) + HUGE_UNIT - 1) / HUGE_UNIT * HUGE_UNIT;
        if ((t->pool = huge_reserve(bytes))) {
            t->pool_reserved = bytes;
            t->limit = (uint32_t)limit;
            return true;
        }
        if (limit <= unit) {
            t->reserve_failed = true;
            return false;
        }
        limit = limit / 2 > unit ? limit / 2 : unit;
    }
}

/* Makes the next 2 MiB of the pool usable (reserving the pool first), and
 * the links as many; false when the limit is reached or memory is short. */
static bool pool_grow(struct flow_table *t)
{
    if (!pool_reserve(t))
        return false;
    size_t done = t->pool_committed;
    if (done >= t->pool_reserved || t->usable >= t->limit)
        return false;
    size_t usable = (done + HUGE_UNIT) / sizeof(struct conn);
    if (usable > t->limit)
        usable = t->limit;
    if (usable > t->links_cap) {
        size_t cap = (size_t)t->links_cap * 2 > usable ? (size_t)t->links_cap * 2 : usable;
        if (cap > t->limit)
            cap = t->limit;
        struct flow_link *links = realloc(t->links, cap * sizeof *links);
        if (!links)
            return false;
        t->links = links;
        t->links_cap = (uint32_t)cap;
    }
    /* the first unit as ordinary pages: a small capture touches a few */
    if (!huge_commit((char *)t->pool + done, HUGE_UNIT, done > 0))
        return false;
    t->pool_committed = done + HUGE_UNIT;
    t->usable = (uint32_t)usable;
    return true;
}

/* memset(c, 0, sizeof *c) as 16-byte stores: GCC makes the memset a `rep
 * stos`, whose start-up cost was 3% of a SYN flood (a new connection per
 * SYN). The vector type may alias anything. */
typedef uint64_t conn_zero_v __attribute__((vector_size(16), may_alias, aligned(16)));
static void conn_zero(struct conn *c)
{
    /* (16-byte aligned: the pool is 2 MiB-aligned and sizeof *c a multiple of 32) */
    _Static_assert(sizeof *c % 32 == 0, "struct conn is whole 32-byte halves of cache lines");
    assert(((uintptr_t)c & 15) == 0);
    conn_zero_v *v = (conn_zero_v *)(void *)c, z = {0, 0};
#pragma GCC unroll 16
    for (size_t i = 0; i < sizeof *c / sizeof z; i++)
        v[i] = z;
}

/* A zeroed connection from the free list, else the next never-used slot of
 * the pool (more of it made usable when that is used up); NULL when the
 * limit is reached or memory is short. A free connection links to the next
 * through its first 4 bytes. The pool is not written to until its slots are
 * handed out: a small capture touches only the pages it uses. */
static struct conn *pool_take(struct flow_table *t)
{
    uint32_t idx;
    if (t->free_head) {
        idx = t->free_head - 1;
        memcpy(&t->free_head, flow_table_at(t, idx), sizeof t->free_head);
    } else {
        if (t->fresh == t->usable && !pool_grow(t))
            return NULL;
        idx = t->fresh++;
    }
    struct conn *c = flow_table_at(t, idx);
    conn_zero(c);
    return c;
}

static void pool_put(struct flow_table *t, struct conn *c)
{
    uint32_t me = flow_table_idx(t, c) + 1;
    for (int i = 0; i < 2; i++) /* its place may take another key */
        if (t->memo_idx[i] == me)
            t->memo_idx[i] = 0;
    memcpy(c, &t->free_head, sizeof t->free_head);
    t->free_head = me;
}

/* ---- index -------------------------------------------------------------- */

static uint64_t slot_of(const struct flow_table *t, const struct conn *c, uint32_t hash)
{
    return ((uint64_t)hash << 32) | ((uint64_t)flow_table_idx(t, c) + 1);
}

/* Index memory for n slots, zeroed: huge pages from FLOW_INDEX_HUGE bytes. */
static uint64_t *slots_alloc(size_t n)
{
    if (n * sizeof(uint64_t) >= FLOW_INDEX_HUGE)
        return huge_alloc(n * sizeof(uint64_t));
    return calloc(n, sizeof(uint64_t));
}

/* NULL (no index yet) is fine. */
static void slots_free(uint64_t *slots, size_t n)
{
    if (n * sizeof(uint64_t) >= FLOW_INDEX_HUGE)
        huge_free(slots, n * sizeof(uint64_t));
    else
        free(slots);
}

/* Doubles the index (or makes the first one); false when out of memory. */
static bool index_grow(struct flow_table *t)
{
    size_t n = t->mask ? (t->mask + 1) * 2 : 1024;
    uint64_t *slots = slots_alloc(n);
    if (!slots)
        return false;
    for (size_t i = 0; t->mask && i <= t->mask; i++) {
        uint64_t s = t->slots[i];
        if (!s)
            continue;
        size_t j = (size_t)(s >> 32) & (n - 1);
        while (slots[j])
            j = (j + 1) & (n - 1);
        slots[j] = s;
    }
    slots_free(t->slots, t->mask + 1);
    t->slots = slots;
    t->mask = n - 1;
    return true;
}

/* The hash of the key of c, connection n (pool index + 1): kept by
 * flow_table_prefetch_heads() for its removal, else recomputed (the record
 * does not keep it). */
static uint32_t memo_lookup(const struct flow_table *t, uint32_t n, const struct conn *c)
{
    return n == t->memo_idx[0]   ? t->memo_hash[0]
           : n == t->memo_idx[1] ? t->memo_hash[1]
                                 : conn_key_hash(&c->key);
}

uint32_t flow_table_conn_hash(const struct flow_table *t, const struct conn *c)
{
    return memo_lookup(t, flow_table_idx(t, c) + 1, c);
}

/* The slot holding c. */
static size_t index_slot(const struct flow_table *t, const struct conn *c)
{
    uint32_t hash = flow_table_conn_hash(t, c);
    uint64_t want = slot_of(t, c, hash);
    size_t i = hash & t->mask;
    while (t->slots[i] != want)
        i = (i + 1) & t->mask;
    return i;
}

/* Empties slot i, moving later members of its run back so every lookup
 * still finds them without crossing an empty slot (Knuth's algorithm R). */
static void index_delete(struct flow_table *t, size_t i)
{
    size_t j = i;
    for (;;) {
        t->slots[i] = 0;
        for (;;) {
            j = (j + 1) & t->mask;
            if (!t->slots[j])
                return;
            size_t home = (size_t)(t->slots[j] >> 32) & t->mask;
            /* Can slot j's entry move to i? Only if its home is not in the
             * cyclic range (i, j]: if it is no farther from j than i is
             * (distances modulo the size; no branch on where the range
             * wraps, whose outcome the processor cannot guess). */
            if (((j - home) & t->mask) >= ((j - i) & t->mask))
                break;
        }
        t->slots[i] = t->slots[j];
        i = j;
    }
}

/* ---- IPv6 addresses ----------------------------------------------------- */

/* IPv6 connections keep their addresses out of the key (struct conn_key),
 * in 32-byte blocks carved from slabs: no malloc header each. The slabs stay
 * until the table is destroyed, as the pool does. */
#define V6_SLAB_BLOCKS 127
union v6_block {
    struct ip_pair pair;  /* in use */
    union v6_block *next; /* free */
};
struct v6_slab {
    struct v6_slab *next;
    union v6_block blocks[V6_SLAB_BLOCKS];
};

static void v6_put(struct flow_table *t, struct ip_pair *p)
{
    union v6_block *b = (union v6_block *)p; /* its first member */
    b->next = t->v6_free;
    t->v6_free = b;
    t->bytes -= sizeof *p;
}

static struct ip_pair *v6_take(struct flow_table *t)
{
    if (!t->v6_free) {
        struct v6_slab *sl = malloc(sizeof *sl);
        if (!sl)
            return NULL;
        sl->next = t->v6_slabs;
        t->v6_slabs = sl;
        for (unsigned i = 0; i < V6_SLAB_BLOCKS; i++) {
            sl->blocks[i].next = t->v6_free;
            t->v6_free = &sl->blocks[i];
        }
    }
    union v6_block *b = t->v6_free;
    t->v6_free = b->next;
    t->bytes += sizeof b->pair;
    return &b->pair;
}

static void v6_free_all(struct flow_table *t)
{
    while (t->v6_slabs) {
        struct v6_slab *sl = t->v6_slabs;
        t->v6_slabs = sl->next;
        free(sl);
    }
    t->v6_free = NULL;
}

/* ---- table -------------------------------------------------------------- */

void *flow_table_retire_index(struct flow_table *t, size_t *bytes)
{
    t->index_retired = true;
    *bytes = t->slots ? (t->mask + 1) * sizeof *t->slots : 0;
    return t->slots;
}

/* A spare rare block links to the next through its first field. */
static struct conn_rare *rare_spare_next(const struct conn_rare *r)
{
    return (struct conn_rare *)(uintptr_t)r->frame_rst;
}

void flow_table_init(struct flow_table *t)
{
    memset(t, 0, sizeof *t);
}

size_t flow_table_set_limit(struct flow_table *t, size_t n)
{
    if (!t->pool && !t->reserve_failed) {
        t->limit = n == 0 ? FLOW_DEFAULT_LIMIT : n > FLOW_MAX_LIMIT ? FLOW_MAX_LIMIT : (uint32_t)n;
        (void)pool_reserve(t);
    }
    return t->pool ? t->limit : 0;
}

void flow_table_destroy(struct flow_table *t)
{
    struct flow_list *lists[3] = {&t->handshake, &t->active, &t->linger};
    for (int l = 0; l < 3; l++)
        for (struct conn *c = flow_list_head(t, lists[l]); c; c = flow_table_next(t, c)) {
            if (c->rare)
                free(c->rare->wide);
            free(c->rare);
        }
    while (t->rare_spare) {
        struct conn_rare *r = t->rare_spare;
        t->rare_spare = rare_spare_next(r);
        free(r);
    }
    huge_free(t->pool, t->pool_reserved);
    v6_free_all(t);
    free(t->links);
    slots_free(t->slots, t->mask + 1);
    flow_table_init(t);
}

uint32_t flow_key_hash(const struct flow_key *k)
{
    uint64_t w[5];
    memcpy(w, k, sizeof w);
    return hash_words(w[0], w[1], w[2], w[3], w[4]);
}

/* GCC takes a function whose only effects are reads and __builtin_prefetch()
 * for a pure one, and drops the calls to it that it does not inline: with
 * link-time optimisation the eviction's prefetches vanished so (and a flood
 * at the cap ran 40% slower) once make_room() called them from one more
 * place. An empty volatile asm is an effect it keeps, and costs nothing. */
#define PREFETCH_KEEP() __asm__ volatile("")

void flow_table_prefetch_slot(const struct flow_table *t, uint32_t hash)
{
    PREFETCH_KEEP();
    if (t->mask)
        __builtin_prefetch(&t->slots[hash & t->mask]);
}

void flow_table_prefetch_conn(const struct flow_table *t, uint32_t hash)
{
    PREFETCH_KEEP();
    if (!t->mask)
        return;
    for (size_t i = hash & t->mask;; i = (i + 1) & t->mask) {
        uint64_t s = t->slots[i];
        if (!s)
            return;
        if ((uint32_t)(s >> 32) == hash) {
            const char *c = (const char *)flow_table_at(t, (uint32_t)s - 1);
            /* the lines most segments touch: up to the end of ep[1]'s
             * per-segment fields (conn.h) */
            for (size_t off = 0; off < offsetof(struct conn, ep[1].frame_syn); off += 64)
                __builtin_prefetch(c + off);
        }
    }
}

/* The hash of the key of connection n (pool index + 1), kept in memo slot
 * m for its removal. */
static uint32_t memo_hash(struct flow_table *t, uint32_t n, int m)
{
    uint32_t h = memo_lookup(t, n, flow_table_at(t, n - 1));
    t->memo_idx[m] = n;
    t->memo_hash[m] = h;
    return h;
}

void flow_table_prefetch_heads(struct flow_table *t, const struct flow_list *l)
{
    PREFETCH_KEEP();
    /* The list is followed in the links (a dense array), not through the
     * connections, whose structs may not have arrived yet: only the first
     * two are read, for their keys' hashes (their structs were prefetched
     * two and three calls ago). An IPv6 key's addresses are in a block of
     * their own: the second's is prefetched, and its hash computed from it
     * at the next call, when it is the first. Each hash is computed once:
     * the second's is the first's at the next call, and the removal uses
     * them (memo_hash(); pool_put() forgets a freed one). */
    uint32_t n1 = l->head, n2, n3, n4;
    if (!n1)
        return;
    __builtin_prefetch(&t->slots[memo_hash(t, n1, 0) & t->mask]);
    if (!(n2 = t->links[n1 - 1].next))
        return;
    const struct conn *c2 = flow_table_at(t, n2 - 1);
    if (c2->key.ip_version == 6)
        __builtin_prefetch(c2->key.addr.v6);
    else
        __builtin_prefetch(&t->slots[memo_hash(t, n2, 1) & t->mask]);
    if (!(n3 = t->links[n2 - 1].next))
        return;
    n4 = t->links[n3 - 1].next;
    /* the fourth's whole struct (the third's at the end of the list): the
     * verdict reads it all */
    const char *v = (const char *)flow_table_at(t, (n4 ? n4 : n3) - 1);
    for (size_t off = 0; off < sizeof(struct conn); off += 64)
        __builtin_prefetch(v + off);
}

struct conn *flow_table_find(struct flow_table *t, const struct flow_key *k)
{
    return flow_table_find_hashed(t, k, flow_key_hash(k));
}

struct conn *flow_table_find_hashed(struct flow_table *t, const struct flow_key *k, uint32_t h)
{
    if (!t->mask || t->index_retired)
        return NULL;
    for (size_t i = h & t->mask;; i = (i + 1) & t->mask) {
        uint64_t s = t->slots[i];
        if (!s)
            return NULL;
        if ((uint32_t)(s >> 32) == h) {
            /* its list links, which flow_table_touch() reads next */
            __builtin_prefetch(&t->links[(uint32_t)s - 1]);
            struct conn *c = flow_table_at(t, (uint32_t)s - 1);
            if (key_equal(&c->key, k))
                return c;
        }
    }
}

struct conn *flow_table_add(struct flow_table *t, const struct flow_key *k)
{
    return flow_table_add_hashed(t, k, flow_key_hash(k), false);
}

struct conn *flow_table_add_hashed(struct flow_table *t, const struct flow_key *k, uint32_t hash,
                                   bool handshake)
{
    /* at most two-thirds full: 12-24 bytes of index a connection (flow_table.h) */
    if (t->index_retired || ((t->count + 1) * 3 > (t->mask + 1) * 2 && !index_grow(t)))
        return NULL;
    struct ip_pair *v6 = NULL;
    if (k->ip_version == 6 && !(v6 = v6_take(t)))
        return NULL;
    struct conn *c = pool_take(t);
    if (!c) {
        if (v6)
            v6_put(t, v6);
        return NULL;
    }
    conn_key_set(&c->key, k, v6);
    size_t i = hash & t->mask;
    while (t->slots[i])
        i = (i + 1) & t->mask;
    t->slots[i] = slot_of(t, c, hash);
    if (handshake)
        c->flags |= CONN_IN_HANDSHAKE;
    list_append(t, handshake ? &t->handshake : &t->active, c);
    t->count++;
    if (t->count > t->peak)
        t->peak = t->count;
    t->bytes += sizeof *c;
    return c;
}

void flow_table_touch(struct flow_table *t, struct conn *c)
{
    struct flow_list *l = list_of(t, c);
    if (l->tail == flow_table_idx(t, c) + 1)
        return;
    list_unlink(t, l, c);
    list_append(t, l, c);
}

void flow_table_mark_established(struct flow_table *t, struct conn *c)
{
    if (!(c->flags & CONN_IN_HANDSHAKE) || (c->flags & CONN_DONE))
        return;
    list_unlink(t, &t->handshake, c);
    c->flags &= (uint16_t)~CONN_IN_HANDSHAKE;
    list_append(t, &t->active, c);
}

void flow_table_mark_done(struct flow_table *t, struct conn *c)
{
    if (c->flags & CONN_DONE) {
        flow_table_touch(t, c);
        return;
    }
    list_unlink(t, list_of(t, c), c);
    c->flags = (uint16_t)((c->flags & ~CONN_IN_HANDSHAKE) | CONN_DONE);
    list_append(t, &t->linger, c);
}

void flow_table_remove(struct flow_table *t, struct conn *c)
{
    list_unlink(t, list_of(t, c), c);
    if (!t->index_retired)
        index_delete(t, index_slot(t, c));
    t->count--;
    t->bytes -= sizeof *c + (c->rare ? sizeof *c->rare : 0) +
                (c->flags & CONN_WIDE ? sizeof(struct conn_wide) : 0);
}

struct conn_rare *flow_table_rare(struct flow_table *t, struct conn *c)
{
    if (!c->rare) {
        if (t->rare_spare) { /* a block freed before: no trip through malloc */
            c->rare = t->rare_spare;
            t->rare_spare = rare_spare_next(c->rare);
            t->n_rare_spare--;
            memset(c->rare, 0, sizeof *c->rare);
        } else {
            c->rare = calloc(1, sizeof *c->rare);
        }
        if (c->rare)
            t->bytes += sizeof *c->rare;
    }
    return c->rare;
}

bool conn_widen(struct flow_table *t, struct conn *c)
{
    if (c->flags & CONN_WIDE)
        return true;
    if (!t)
        return false;
    struct conn_wide *w = malloc(sizeof *w);
    struct conn_rare *r = w ? flow_table_rare(t, c) : NULL;
    if (!r) {
        free(w);
        t->widen_failed++;
        return false;
    }
    conn_wide_fill(c, w);
    r->wide = w;
    c->flags |= CONN_WIDE;
    t->bytes += sizeof *w;
    t->wide++;
    return true;
}

void conn_set_wide(struct flow_table *t, struct conn *c, void *field, int64_t v)
{
    if (!(c->flags & CONN_WIDE) && conn_refine(c, field, v)) {
        if (t)
            t->refined++;
        return;
    }
    if (conn_widen(t, c))
        conn_wide_set(c, field, v);
    else
        *(uint32_t *)field = UINT32_MAX; /* saturated: no memory (counted) */
}

void flow_table_free_conn(struct flow_table *t, struct conn *c)
{
    if (c->key.ip_version == 6 && c->key.addr.v6) {
        v6_put(t, c->key.addr.v6);
        c->key.addr.v6 = NULL;
    }
    if (c->rare) {
        free(c->rare->wide);
        c->rare->wide = NULL;
    }
    if (c->rare && t->n_rare_spare < FLOW_RARE_SPARES) {
        c->rare->frame_rst = (uint64_t)(uintptr_t)t->rare_spare; /* the spares' link */
        t->rare_spare = c->rare;
        t->n_rare_spare++;
    } else {
        free(c->rare);
    }
    c->rare = NULL;
    pool_put(t, c);
}
