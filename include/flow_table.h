/* SPDX-License-Identifier: MIT */
/*
 * flow_table.h - the table of live connections.
 *
 * A uthash table keyed by the canonical struct flow_key, plus two age lists
 * ordered by last activity (least recent first):
 *   - the active list: connections that may still change verdict;
 *   - the lingering list: connections that are finished (RST, or both FINs)
 *     and wait a short while for stray trailing segments before they are
 *     reported and freed.
 * Touching a connection moves it to the tail of its list in O(1), so expiry
 * and eviction look only at list heads.
 *
 * The table owns the memory of the connections it holds; flow_table_remove()
 * hands ownership back to the caller, who frees with flow_table_free_conn().
 */
#ifndef TCPTRIAGE_FLOW_TABLE_H
#define TCPTRIAGE_FLOW_TABLE_H

#include <stddef.h>

#include "conn.h"

struct flow_list {
    struct conn *head; /* least recently active */
    struct conn *tail; /* most recently active */
    size_t count;
};

struct flow_table {
    struct conn *hash;        /* uthash head */
    struct flow_list active;  /* CONN_DONE clear */
    struct flow_list linger;  /* CONN_DONE set */
    size_t count;             /* connections held */
    size_t peak;              /* most held at once */
    size_t bytes;             /* memory held by connections (approximate) */
};

/* Build the canonical key of a segment's (src, sport, dst, dport). Sets
 * *src_is_lo to whether the source is the key's "lo" side. */
void flow_key_make(struct flow_key *k, const struct tcp_segment *seg, bool *src_is_lo);

void flow_table_init(struct flow_table *t);
/* Frees every connection still held. */
void flow_table_destroy(struct flow_table *t);

struct conn *flow_table_find(struct flow_table *t, const struct flow_key *k);
/* Allocates a zeroed connection with key k, inserts it at the tail of the
 * active list. Returns NULL when out of memory. */
struct conn *flow_table_add(struct flow_table *t, const struct flow_key *k);
/* Moves c to the tail of its list (active or lingering by CONN_DONE). */
void flow_table_touch(struct flow_table *t, struct conn *c);
/* Moves c from the active to the lingering list (sets CONN_DONE). */
void flow_table_mark_done(struct flow_table *t, struct conn *c);
/* Unlinks c from the table; the caller owns it afterwards. */
void flow_table_remove(struct flow_table *t, struct conn *c);
void flow_table_free_conn(struct conn *c);

#endif
