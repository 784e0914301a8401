/* SPDX-License-Identifier: MIT */
/*
 * flow_table.h - the table of live connections.
 *
 * Three parts:
 *   - a pool: connections live in one array, recycled through a free list,
 *     so creating and freeing one costs no malloc() and no allocator header,
 *     and a connection is named by its 32-bit index in the array, which its
 *     address gives (the record does not keep it). The array is address
 *     space reserved for the table's limit (flow_table_set_limit()) and made
 *     usable 2 MiB at a time as the table grows: memory follows the most
 *     connections held at once, never the limit;
 *   - an index: open addressing with linear probing over 64-bit slots, each
 *     holding a connection's 32-bit hash and its pool index. A lookup reads
 *     the slots (one cache line, usually) and touches only the connection
 *     whose hash matches; deletion shifts the run back (no tombstones). The
 *     index is kept at most two-thirds full: between a third and two-thirds
 *     full once grown, 12-24 bytes a connection (with the record and the
 *     links, at most 256 bytes a connection all told).
 *   - three age lists ordered by last activity (least recent first), linked
 *     through a dense array of 32-bit (prev, next) pairs indexed like the
 *     pool, not through the connections: moving a connection to the tail on
 *     every packet then touches 8-byte links that stay in cache, not the
 *     cold neighbours' structs:
 *       the handshake list: connections that began with a SYN or SYN-ACK and
 *       have not completed their handshake (nor finished) -- what a SYN
 *       flood fills, so the tracker can cap them apart (CONN_IN_HANDSHAKE);
 *       the active list: the other connections that may still change verdict;
 *       the lingering list: connections that are finished (RST, or both FINs)
 *       and wait a short while for stray trailing segments before they are
 *       reported and freed.
 *     Touching a connection moves it to the tail of its list in O(1), so
 *     expiry and eviction look only at list heads. Each list has a mark for
 *     walks that resume where they left off (the live timers).
 *
 * uthash served here first; it costs 56 bytes of handle per connection and a
 * chain walk over cold connections per miss, which was the top of the
 * profile (docs/performance.md, README "Dependencies and why").
 *
 * The table owns the memory of the connections it holds; flow_table_remove()
 * unlinks a connection (still valid) and flow_table_free_conn() returns it to
 * the pool.
 */
#ifndef TCPTRIAGE_FLOW_TABLE_H
#define TCPTRIAGE_FLOW_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include "conn.h"
#include "hugemem.h"

/* The pool is made usable a 2 MiB unit at a time (HUGE_UNIT); from the
 * second unit on (~9,000 connections) advised to be huge pages (hugemem.h),
 * as is an index of 1 MiB or more (131,072 slots: from 32,769
 * connections). The first is not, so a small capture stays small. */
#define FLOW_INDEX_HUGE ((size_t)1 << 20)
/* The pool's size when flow_table_set_limit() was not called. */
#define FLOW_DEFAULT_LIMIT ((uint32_t)1 << 20)
/* The most connections a table holds: their indices + 1 fit in 32 bits. */
#define FLOW_MAX_LIMIT ((uint32_t)1 << 31)

/* Freed rare blocks kept for the next connections that need one (about
 * 1.3 MB at most), rather than a malloc() and free() each. */
#define FLOW_RARE_SPARES 4096u

/* List links of one connection: pool index + 1 of its neighbours, 0: none. */
struct flow_link {
    uint32_t prev;
    uint32_t next;
};

struct flow_list {
    uint32_t head; /* pool index + 1 of the least recently active, 0: empty */
    uint32_t tail; /* ... of the most recently active */
    uint32_t walk; /* ... of the walk mark (flow_table_walk_start()), 0: the head */
    size_t count;
};

struct v6_slab;
union v6_block;

struct flow_table {
    uint64_t *slots;          /* index: (hash << 32) | (pool index + 1); 0 = empty */
    size_t mask;              /* slots - 1 (a power of two), 0 before the first add */
    struct conn *pool;        /* the pool: address space for `limit` connections ... */
    size_t pool_reserved;     /* ... its bytes (a multiple of HUGE_UNIT) ... */
    size_t pool_committed;    /* ... of which usable (idem) */
    uint32_t limit;           /* most connections held at once (flow_table_set_limit()) */
    uint32_t usable;          /* connections in the usable part of the pool */
    bool reserve_failed;      /* no address space for even 2 MiB of pool: not tried again */
    struct flow_link *links;  /* age-list links, links_cap of them (>= usable) */
    uint32_t links_cap;
    uint32_t free_head;       /* pool index + 1 of the first free connection, 0: none */
    uint32_t memo_idx[2];     /* pool index + 1 of the next connections to leave (0: none) */
    uint32_t memo_hash[2];    /* ... and their keys' hashes (flow_table_prefetch_heads()) */
    uint32_t fresh;           /* pool slots handed out at least once (the rest untouched) */
    struct flow_list handshake; /* CONN_IN_HANDSHAKE set (CONN_DONE clear) */
    struct flow_list active;  /* CONN_DONE and CONN_IN_HANDSHAKE clear */
    struct flow_list linger;  /* CONN_DONE set */
    size_t count;             /* connections held */
    size_t peak;              /* most held at once */
    size_t bytes;             /* memory held by connections (structs and rare blocks) */
    struct conn_rare *rare_spare; /* freed rare blocks kept for reuse, linked through */
    uint32_t n_rare_spare;        /* their frame_rst; at most FLOW_RARE_SPARES */
    bool index_retired;           /* flow_table_retire_index() was called */
    struct v6_slab *v6_slabs;     /* blocks for IPv6 connections' addresses ... */
    union v6_block *v6_free;      /* ... and the free ones */
    uint64_t wide;                /* connections made wide (conn_widen) */
    uint64_t refined;             /* times when a connection's units were made finer */
    uint64_t widen_failed;        /* values saturated: no memory for a wide block */
};

/* Build the canonical key of a segment's (src, sport, dst, dport). Sets
 * *src_is_lo to whether the source is the key's "lo" side. */
void flow_key_make(struct flow_key *k, const struct tcp_segment *seg, bool *src_is_lo);
/* The same, returning the key's hash (flow_key_hash()) computed on the way. */
uint32_t flow_key_make_hashed(struct flow_key *k, const struct tcp_segment *seg, bool *src_is_lo);

void flow_table_init(struct flow_table *t);
/* The most connections t will hold at once (at most FLOW_MAX_LIMIT; 0 or
 * unset: FLOW_DEFAULT_LIMIT), before its first add: the pool reserves the
 * address space for them now, or for as many as fit (fewer under an
 * address-space limit). Returns the limit reserved (0: none at all); an add
 * beyond it fails as when memory is short. Called again later, only
 * returns the limit. */
size_t flow_table_set_limit(struct flow_table *t, size_t n);
/* The pool index of c (a connection of t's), and the connection at index
 * idx (one handed out). */
static inline uint32_t flow_table_idx(const struct flow_table *t, const struct conn *c)
{
    return (uint32_t)(c - t->pool);
}

static inline struct conn *flow_table_at(const struct flow_table *t, uint32_t idx)
{
    return &t->pool[idx];
}
/* For the end of the table's life, when the connections still held are
 * emitted one by one: the index is no longer kept (finds return NULL, adds
 * fail, flow_table_remove() leaves it alone) and its memory, at least 12
 * bytes per connection held (the index is at most two-thirds full), is the
 * caller's scratch until flow_table_destroy() frees it: *bytes of it, or
 * NULL when there is none. So sorting them does not raise the peak. */
void *flow_table_retire_index(struct flow_table *t, size_t *bytes);
/* Frees every connection still held, and the pool and index. */
void flow_table_destroy(struct flow_table *t);

/* The hash the index uses for key k. */
uint32_t flow_key_hash(const struct flow_key *k);
/* The same for the key of c, a connection of t (the record does not keep
 * its hash): the one kept for its removal (flow_table_prefetch_heads())
 * while c's place is not freed, else computed. */
uint32_t flow_table_conn_hash(const struct flow_table *t, const struct conn *c);

struct conn *flow_table_find(struct flow_table *t, const struct flow_key *k);
/* The same, with k's hash already computed (flow_key_hash()). */
struct conn *flow_table_find_hashed(struct flow_table *t, const struct flow_key *k, uint32_t hash);
/* Hints for a lookup coming soon (prefetches; no effect on results): the
 * index slot of hash, then -- once that slot is likely in cache -- the
 * connections whose hash matches. */
void flow_table_prefetch_slot(const struct flow_table *t, uint32_t hash);
void flow_table_prefetch_conn(const struct flow_table *t, uint32_t hash);
/* The head of list l is next to be removed (evicted at the cap, or expired
 * after lingering): prefetch the index slots of the head and the second one
 * (their structs were brought into cache by the previous calls; an IPv6
 * second one's address block instead) and the fourth one's struct. The
 * hashes computed on the way are kept for their removal. */
void flow_table_prefetch_heads(struct flow_table *t, const struct flow_list *l);
/* Takes a zeroed connection with key k from the pool and inserts it at the
 * tail of the active list (of the handshake list, with CONN_IN_HANDSHAKE,
 * when handshake is true). Returns NULL when out of memory. */
struct conn *flow_table_add(struct flow_table *t, const struct flow_key *k);
struct conn *flow_table_add_hashed(struct flow_table *t, const struct flow_key *k, uint32_t hash,
                                   bool handshake);
/* The least recently active connection of list l (NULL: empty), and the
 * one after c in c's list (NULL: c is the most recent). */
struct conn *flow_list_head(const struct flow_table *t, const struct flow_list *l);
struct conn *flow_table_next(const struct flow_table *t, const struct conn *c);
struct conn *flow_table_prev(const struct flow_table *t, const struct conn *c);

/* A mark in list l for a walk that resumes where it can (the live timers:
 * connections before the mark need no more visits): the connection at the
 * mark (the head when unset), and setting it at c (which is in l).
 * When the marked connection leaves the list the mark moves to the one
 * after it (to the one before it when it was the last). */
struct conn *flow_table_walk_start(const struct flow_table *t, const struct flow_list *l);
void flow_table_walk_mark(const struct flow_table *t, struct flow_list *l, const struct conn *c);

/* Moves c to the tail of its list (by CONN_DONE and CONN_IN_HANDSHAKE). */
void flow_table_touch(struct flow_table *t, struct conn *c);
/* Its handshake completed: moves c from the handshake list (if there) to
 * the tail of the active list (clears CONN_IN_HANDSHAKE). */
void flow_table_mark_established(struct flow_table *t, struct conn *c);
/* Moves c to the tail of the lingering list (sets CONN_DONE). */
void flow_table_mark_done(struct flow_table *t, struct conn *c);
/* Unlinks c from the index and its list; c stays valid until freed. */
void flow_table_remove(struct flow_table *t, struct conn *c);
/* Allocates c's rare block (zeroed); NULL when out of memory. */
struct conn_rare *flow_table_rare(struct flow_table *t, struct conn *c);
/* Returns a removed connection (and its rare block) to the pool. */
void flow_table_free_conn(struct flow_table *t, struct conn *c);

#endif
