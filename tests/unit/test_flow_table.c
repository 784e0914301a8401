/* SPDX-License-Identifier: MIT */
/*
 * test_flow_table.c - unit tests for the flow table (src/flow_table.c).
 *
 * Checks the canonical flow key (the same for both directions, zero-padded,
 * lower (address, port) first), and the table proper: add / find / remove,
 * the two age lists (active and lingering) with their O(1) touch and
 * mark-done moves, and the count / peak / bytes bookkeeping. Every list is
 * walked both ways after each change, so a broken prev/next link or count
 * shows at once; AddressSanitizer checks ownership (remove hands the
 * connection back, destroy frees what is left).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "flow_table.h"
#include "seg_builder.h"

/* ---------------------------------------------------------------------------
 * Helpers
 */

static struct flow_key key_of(const struct ip_addr *src, uint16_t sport, const struct ip_addr *dst,
                              uint16_t dport, uint8_t ver, bool *src_is_lo)
{
    struct decoded d = sb_tcp(src, sport, dst, dport, ver, TCP_ACK, 1, 1, 0, 1000);
    struct flow_key k;
    memset(&k, 0xff, sizeof k); /* flow_key_make must clear every byte */
    flow_key_make(&k, &d.tcp, src_is_lo);
    return k;
}

/* A key for client port p between 10.0.0.1 and 10.0.0.2:80. */
static struct flow_key key_port(uint16_t p)
{
    struct ip_addr a = sb_ip4(10, 0, 0, 1), b = sb_ip4(10, 0, 0, 2);
    bool lo;
    return key_of(&a, p, &b, 80, 4, &lo);
}

/* Connection number i (up to 2^24): clients 10.x.y.z port 1000 + i % 50000. */
static struct flow_key key_n(uint32_t i)
{
    uint32_t host = i / 50000u + 1u;
    struct ip_addr a = sb_ip4(10, (uint8_t)(host >> 16), (uint8_t)(host >> 8), (uint8_t)host),
                   b = sb_ip4(192, 0, 2, 1);
    bool lo;
    return key_of(&a, (uint16_t)(1000u + i % 50000u), &b, 80, 4, &lo);
}

/* The list holds exactly want[0..n) in this order, linked both ways, and
 * every member's CONN_DONE matches the list. */
static void assert_list(const struct flow_table *t, const struct flow_list *l,
                        struct conn *const *want, size_t n, bool done)
{
    assert_int_equal(l->count, n);
    if (n == 0) {
        assert_int_equal(l->head, 0);
        assert_int_equal(l->tail, 0);
        return;
    }
    assert_ptr_equal(flow_list_head(t, l), want[0]);
    assert_int_equal(l->head, flow_table_idx(t, want[0]) + 1);
    assert_int_equal(l->tail, flow_table_idx(t, want[n - 1]) + 1);
    const struct conn *prev = NULL;
    size_t i = 0;
    for (const struct conn *c = flow_list_head(t, l); c; c = flow_table_next(t, c), i++) {
        assert_true(i < n);
        assert_ptr_equal(c, want[i]);
        assert_ptr_equal(flow_table_prev(t, c), prev);
        assert_int_equal((c->flags & CONN_DONE) != 0, done);
        prev = c;
    }
    assert_int_equal(i, n);
}

/* ---------------------------------------------------------------------------
 * Keys
 */

static void test_key_same_both_directions_v4(void **state)
{
    (void)state;
    struct ip_addr a = sb_ip4(192, 0, 2, 1), b = sb_ip4(198, 51, 100, 2);
    bool lo_ab, lo_ba;
    struct flow_key ab = key_of(&a, 40000, &b, 443, 4, &lo_ab);
    struct flow_key ba = key_of(&b, 443, &a, 40000, 4, &lo_ba);
    assert_memory_equal(&ab, &ba, sizeof ab);
    assert_true(lo_ab != lo_ba);
    /* the lower address first, whatever the ports */
    assert_true(lo_ab);
    assert_memory_equal(&ab.addr_lo, &a, sizeof a);
    assert_memory_equal(&ab.addr_hi, &b, sizeof b);
    assert_int_equal(ab.port_lo, 40000);
    assert_int_equal(ab.port_hi, 443);
    assert_int_equal(ab.ip_version, 4);
    /* zero padding: bytes 4..15 of IPv4 addresses and pad[] */
    for (int i = 4; i < 16; i++) {
        assert_int_equal(ab.addr_lo.b[i], 0);
        assert_int_equal(ab.addr_hi.b[i], 0);
    }
    for (size_t i = 0; i < sizeof ab.pad; i++)
        assert_int_equal(ab.pad[i], 0);
}

static void test_key_same_both_directions_v6(void **state)
{
    (void)state;
    struct ip_addr a = sb_ip6("2001:db8::2"), b = sb_ip6("2001:db8::1");
    bool lo_ab, lo_ba;
    struct flow_key ab = key_of(&a, 80, &b, 50000, 6, &lo_ab);
    struct flow_key ba = key_of(&b, 50000, &a, 80, 6, &lo_ba);
    assert_memory_equal(&ab, &ba, sizeof ab);
    assert_false(lo_ab); /* 2001:db8::2 is the higher address */
    assert_true(lo_ba);
    assert_memory_equal(&ab.addr_lo, &b, sizeof b);
    assert_int_equal(ab.port_lo, 50000);
    assert_int_equal(ab.ip_version, 6);
}

static void test_key_same_address_orders_by_port(void **state)
{
    (void)state;
    struct ip_addr lo = sb_ip4(127, 0, 0, 1);
    bool lo_1, lo_2;
    struct flow_key k1 = key_of(&lo, 6000, &lo, 5000, 4, &lo_1);
    struct flow_key k2 = key_of(&lo, 5000, &lo, 6000, 4, &lo_2);
    assert_memory_equal(&k1, &k2, sizeof k1);
    assert_false(lo_1);
    assert_true(lo_2);
    assert_int_equal(k1.port_lo, 5000);
    assert_int_equal(k1.port_hi, 6000);
}

static void test_key_differs_per_tuple(void **state)
{
    (void)state;
    struct flow_key k1 = key_port(50000), k2 = key_port(50001);
    assert_memory_not_equal(&k1, &k2, sizeof k1);
    /* the same 4-tuple bytes in IPv4 and IPv6 are different flows */
    struct ip_addr a = sb_ip4(10, 0, 0, 1), b = sb_ip4(10, 0, 0, 2);
    bool lo;
    struct flow_key v4 = key_of(&a, 1, &b, 2, 4, &lo);
    struct flow_key v6 = key_of(&a, 1, &b, 2, 6, &lo);
    assert_memory_not_equal(&v4, &v6, sizeof v4);
}

/* ---------------------------------------------------------------------------
 * Table
 */

static void test_add_find_counts(void **state)
{
    (void)state;
    struct flow_table t;
    flow_table_init(&t);
    assert_int_equal(t.count, 0);
    struct flow_key ka = key_port(50000), kb = key_port(50001), kc = key_port(50002);
    struct conn *a = flow_table_add(&t, &ka);
    struct conn *b = flow_table_add(&t, &kb);
    struct conn *c = flow_table_add(&t, &kc);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    /* zeroed, with the key */
    struct conn_key key_a;
    conn_key_set(&key_a, &ka, NULL); /* IPv4: no block for addresses */
    assert_memory_equal(&a->key, &key_a, sizeof key_a);
    assert_int_equal(a->flags, 0);
    assert_int_equal(conn_id(a), 0);
    assert_int_equal(a->ep[SIDE_CLIENT].pkts, 0);
    assert_int_equal(t.count, 3);
    assert_int_equal(t.peak, 3);
    assert_int_equal(t.bytes, 3 * sizeof(struct conn));
    assert_ptr_equal(flow_table_find(&t, &ka), a);
    assert_ptr_equal(flow_table_find(&t, &kb), b);
    assert_ptr_equal(flow_table_find(&t, &kc), c);
    struct flow_key kx = key_port(50003);
    assert_null(flow_table_find(&t, &kx));
    /* found from the other direction's key too */
    struct ip_addr x = sb_ip4(10, 0, 0, 1), y = sb_ip4(10, 0, 0, 2);
    bool lo;
    struct flow_key rev = key_of(&y, 80, &x, 50001, 4, &lo);
    assert_ptr_equal(flow_table_find(&t, &rev), b);

    struct conn *const want[] = {a, b, c};
    assert_list(&t, &t.active, want, 3, false);
    assert_list(&t, &t.linger, NULL, 0, true);
    flow_table_destroy(&t);
    assert_int_equal(t.count, 0);
    assert_null(t.slots);
    assert_int_equal(t.active.head, 0);
}

static void test_touch_moves_to_tail(void **state)
{
    (void)state;
    struct flow_table t;
    flow_table_init(&t);
    struct flow_key k[3] = {key_port(1), key_port(2), key_port(3)};
    struct conn *a = flow_table_add(&t, &k[0]);
    struct conn *b = flow_table_add(&t, &k[1]);
    struct conn *c = flow_table_add(&t, &k[2]);

    flow_table_touch(&t, a); /* head -> tail */
    assert_list(&t, &t.active, (struct conn *const[]){b, c, a}, 3, false);
    flow_table_touch(&t, a); /* already the tail */
    assert_list(&t, &t.active, (struct conn *const[]){b, c, a}, 3, false);
    flow_table_touch(&t, c); /* middle -> tail */
    assert_list(&t, &t.active, (struct conn *const[]){b, a, c}, 3, false);
    flow_table_touch(&t, b);
    assert_list(&t, &t.active, (struct conn *const[]){a, c, b}, 3, false);
    assert_int_equal(t.count, 3);
    flow_table_destroy(&t);
}

static void test_mark_done_moves_to_linger(void **state)
{
    (void)state;
    struct flow_table t;
    flow_table_init(&t);
    struct flow_key k[4] = {key_port(1), key_port(2), key_port(3), key_port(4)};
    struct conn *a = flow_table_add(&t, &k[0]);
    struct conn *b = flow_table_add(&t, &k[1]);
    struct conn *c = flow_table_add(&t, &k[2]);
    struct conn *d = flow_table_add(&t, &k[3]);

    flow_table_mark_done(&t, b);
    assert_true(b->flags & CONN_DONE);
    assert_list(&t, &t.active, (struct conn *const[]){a, c, d}, 3, false);
    assert_list(&t, &t.linger, (struct conn *const[]){b}, 1, true);
    flow_table_mark_done(&t, d);
    flow_table_mark_done(&t, a);
    assert_list(&t, &t.active, (struct conn *const[]){c}, 1, false);
    assert_list(&t, &t.linger, (struct conn *const[]){b, d, a}, 3, true);
    /* done again: stays lingering, moves to the tail */
    flow_table_mark_done(&t, b);
    assert_list(&t, &t.linger, (struct conn *const[]){d, a, b}, 3, true);
    /* touching a lingering connection reorders the lingering list only */
    flow_table_touch(&t, d);
    assert_list(&t, &t.linger, (struct conn *const[]){a, b, d}, 3, true);
    assert_list(&t, &t.active, (struct conn *const[]){c}, 1, false);
    assert_int_equal(t.count, 4);
    assert_ptr_equal(flow_table_find(&t, &k[1]), b);
    flow_table_destroy(&t);
}

static void test_handshake_list(void **state)
{
    (void)state;
    struct flow_table t;
    flow_table_init(&t);
    struct flow_key k[4] = {key_port(1), key_port(2), key_port(3), key_port(4)};
    struct conn *a = flow_table_add_hashed(&t, &k[0], flow_key_hash(&k[0]), true);
    struct conn *b = flow_table_add_hashed(&t, &k[1], flow_key_hash(&k[1]), false);
    struct conn *c = flow_table_add_hashed(&t, &k[2], flow_key_hash(&k[2]), true);
    struct conn *d = flow_table_add_hashed(&t, &k[3], flow_key_hash(&k[3]), true);
    assert_true(a->flags & CONN_IN_HANDSHAKE);
    assert_false(b->flags & CONN_IN_HANDSHAKE);
    assert_list(&t, &t.handshake, (struct conn *const[]){a, c, d}, 3, false);
    assert_list(&t, &t.active, (struct conn *const[]){b}, 1, false);
    flow_table_touch(&t, a); /* within its own list */
    assert_list(&t, &t.handshake, (struct conn *const[]){c, d, a}, 3, false);
    /* a walk mark on d moves on when d leaves the list */
    flow_table_walk_mark(&t, &t.handshake, d);
    assert_ptr_equal(flow_table_walk_start(&t, &t.handshake), d);
    flow_table_mark_established(&t, d); /* to the active list's tail */
    assert_false(d->flags & CONN_IN_HANDSHAKE);
    assert_ptr_equal(flow_table_walk_start(&t, &t.handshake), a);
    assert_ptr_equal(flow_table_walk_start(&t, &t.active), b); /* unmarked: the head */
    assert_list(&t, &t.handshake, (struct conn *const[]){c, a}, 2, false);
    assert_list(&t, &t.active, (struct conn *const[]){b, d}, 2, false);
    flow_table_mark_established(&t, d); /* no longer in it: nothing */
    assert_list(&t, &t.active, (struct conn *const[]){b, d}, 2, false);
    flow_table_mark_done(&t, c); /* straight from the handshake to the lingering list */
    assert_false(c->flags & CONN_IN_HANDSHAKE);
    assert_list(&t, &t.handshake, (struct conn *const[]){a}, 1, false);
    assert_list(&t, &t.linger, (struct conn *const[]){c}, 1, true);
    flow_table_remove(&t, a);
    flow_table_free_conn(&t, a);
    assert_int_equal(t.handshake.count, 0);
    assert_null(flow_list_head(&t, &t.handshake));
    assert_int_equal(t.count, 3);
    flow_table_destroy(&t);
}

static void test_remove(void **state)
{
    (void)state;
    struct flow_table t;
    flow_table_init(&t);
    struct flow_key k[5] = {key_port(1), key_port(2), key_port(3), key_port(4), key_port(5)};
    struct conn *c[5];
    for (int i = 0; i < 5; i++)
        c[i] = flow_table_add(&t, &k[i]);
    flow_table_mark_done(&t, c[3]);
    flow_table_mark_done(&t, c[4]);
    assert_int_equal(t.peak, 5);

    /* middle of the active list */
    flow_table_remove(&t, c[1]);
    assert_null(flow_table_find(&t, &k[1]));
    assert_list(&t, &t.active, (struct conn *const[]){c[0], c[2]}, 2, false);
    flow_table_free_conn(&t, c[1]);
    /* head of the lingering list */
    flow_table_remove(&t, c[3]);
    assert_null(flow_table_find(&t, &k[3]));
    assert_list(&t, &t.linger, (struct conn *const[]){c[4]}, 1, true);
    flow_table_free_conn(&t, c[3]);
    /* tail, then the last of the active list */
    flow_table_remove(&t, c[2]);
    flow_table_free_conn(&t, c[2]);
    flow_table_remove(&t, c[0]);
    flow_table_free_conn(&t, c[0]);
    assert_list(&t, &t.active, NULL, 0, false);
    assert_int_equal(t.count, 1);
    assert_int_equal(t.peak, 5);
    assert_int_equal(t.bytes, sizeof(struct conn));
    assert_ptr_equal(flow_table_find(&t, &k[4]), c[4]);

    /* a removed key can be added again */
    struct conn *again = flow_table_add(&t, &k[1]);
    assert_non_null(again);
    assert_ptr_equal(flow_table_find(&t, &k[1]), again);
    assert_int_equal(t.count, 2);
    assert_int_equal(t.peak, 5);
    flow_table_destroy(&t);
}

/* Many connections: find, touch and remove keep table and lists agreeing. */
static void test_many(void **state)
{
    (void)state;
    enum { N = 2000 };
    struct flow_table t;
    flow_table_init(&t);
    static struct conn *c[N];
    for (unsigned i = 0; i < N; i++) {
        struct flow_key k = key_port((uint16_t)(1000 + i));
        c[i] = flow_table_add(&t, &k);
        assert_non_null(c[i]);
        conn_set_id(c[i], i);
    }
    assert_int_equal(t.count, N);
    assert_int_equal(t.peak, N);
    for (unsigned i = 0; i < N; i += 3)
        flow_table_mark_done(&t, c[i]);
    for (unsigned i = 1; i < N; i += 3)
        flow_table_touch(&t, c[i]);
    for (unsigned i = 0; i < N; i++) {
        struct flow_key k = key_port((uint16_t)(1000 + i));
        assert_ptr_equal(flow_table_find(&t, &k), c[i]);
    }
    assert_int_equal(t.active.count + t.linger.count, N);
    assert_int_equal(t.linger.count, (N + 2) / 3);
    /* the active list: i % 3 == 2 first (untouched, in order), then the touched */
    const struct conn *p = flow_list_head(&t, &t.active);
    for (unsigned i = 2; i < N; i += 3, p = flow_table_next(&t, p))
        assert_int_equal(conn_id(p), i);
    for (unsigned i = 1; i < N; i += 3, p = flow_table_next(&t, p))
        assert_int_equal(conn_id(p), i);
    assert_null(p);
    for (unsigned i = 0; i < N; i += 2) {
        flow_table_remove(&t, c[i]);
        flow_table_free_conn(&t, c[i]);
    }
    assert_int_equal(t.count, N / 2);
    assert_int_equal(t.active.count + t.linger.count, N / 2);
    assert_int_equal(t.peak, N);
    for (unsigned i = 0; i < N; i++) {
        struct flow_key k = key_port((uint16_t)(1000 + i));
        if (i % 2)
            assert_ptr_equal(flow_table_find(&t, &k), c[i]);
        else
            assert_null(flow_table_find(&t, &k));
    }
    flow_table_destroy(&t); /* frees the other half (ASan checks) */
}

/* The open-addressing index under churn: random adds and removes (so runs
 * of colliding slots form, wrap around the end of the slot array, and are
 * shifted back by deletion), checked against a plain list of what should be
 * there after every step; the pool reuses freed connections. */
static void test_index_churn(void **state)
{
    (void)state;
    enum { KEYS = 6000, STEPS = 60000 };
    static struct conn *live[KEYS];
    struct flow_table t;
    flow_table_init(&t);
    uint64_t rng = 0x2545f4914f6cdd1dull;
    size_t n_live = 0, max_live = 0;
    for (unsigned step = 0; step < STEPS; step++) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        unsigned i = (unsigned)(rng % KEYS);
        struct flow_key k = key_port((uint16_t)(1000 + i));
        struct conn *found = flow_table_find(&t, &k);
        assert_ptr_equal(found, live[i]);
        if (live[i]) {
            flow_table_remove(&t, live[i]);
            flow_table_free_conn(&t, live[i]);
            live[i] = NULL;
            n_live--;
            assert_null(flow_table_find(&t, &k));
        } else {
            live[i] = flow_table_add(&t, &k);
            assert_non_null(live[i]);
            conn_set_id(live[i], i);
            n_live++;
        }
        if (n_live > max_live)
            max_live = n_live;
        assert_int_equal(t.count, n_live);
        if (step % 4999 == 0) { /* now and then, everything */
            for (unsigned j = 0; j < KEYS; j++) {
                struct flow_key kj = key_port((uint16_t)(1000 + j));
                assert_ptr_equal(flow_table_find(&t, &kj), live[j]);
            }
            size_t walked = 0;
            for (const struct conn *c = flow_list_head(&t, &t.active); c;
                 c = flow_table_next(&t, c))
                walked++;
            assert_int_equal(walked, n_live);
        }
    }
    assert_int_equal(t.peak, max_live);
    /* the index stays at most two-thirds full */
    assert_true(2 * (t.mask + 1) >= 3 * max_live);
    flow_table_destroy(&t);
}

/* The hashes flow_table_prefetch_heads() computes for the next two to leave
 * are kept for their removal; a place freed in between (not by that
 * removal) and taken by another key must not keep its old hash: removing the
 * newcomer finds its own slot (with a stale hash the removal would search
 * another run forever). */
static void test_prefetch_memo_forgets(void **state)
{
    (void)state;
    struct flow_table t;
    flow_table_init(&t);
    struct flow_key ka = key_n(1), kb = key_n(2), kc = key_n(3), kd = key_n(4);
    struct conn *a = flow_table_add(&t, &ka), *b = flow_table_add(&t, &kb);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(flow_table_add(&t, &kc));
    flow_table_prefetch_heads(&t, &t.active); /* a and b: their hashes kept */
    assert_int_equal(t.memo_idx[1], flow_table_idx(&t, b) + 1);
    flow_table_remove(&t, b);
    flow_table_free_conn(&t, b);
    struct conn *d = flow_table_add(&t, &kd);
    assert_ptr_equal(d, b); /* b's place */
    flow_table_remove(&t, d);
    flow_table_free_conn(&t, d);
    assert_null(flow_table_find(&t, &kd));
    flow_table_remove(&t, a); /* through the kept hash */
    flow_table_free_conn(&t, a);
    assert_null(flow_table_find(&t, &ka));
    assert_non_null(flow_table_find(&t, &kc));
    assert_int_equal(t.count, 1);
    flow_table_destroy(&t);
}

/* A table past the sizes where its memory changes kind (hugemem.h): a pool
 * made usable over several 2 MiB units (the first as ordinary pages, the
 * rest advised huge) and an index of more than FLOW_INDEX_HUGE bytes; every
 * connection found, in its own slot of the pool, removed and reused. */
static void test_large_table(void **state)
{
    (void)state;
    enum { N = 150000 };
    static struct conn *c[N];
    struct flow_table t;
    flow_table_init(&t);
    for (uint32_t i = 0; i < N; i++) {
        struct flow_key k = key_n(i);
        c[i] = flow_table_add(&t, &k);
        assert_non_null(c[i]);
        conn_set_id(c[i], i);
        conn_set_first_frame(c[i], (uint64_t)i * 3u); /* writes into every unit */
    }
    assert_true(t.pool_committed > 2 * HUGE_UNIT);
    assert_true(t.pool_committed <= t.pool_reserved);
    /* the index between a third and two-thirds full: 12-24 bytes each */
    assert_true(2 * (t.mask + 1) >= 3 * (size_t)N);
    assert_true((t.mask + 1) * sizeof(uint64_t) <= 24 * (size_t)N);
    assert_true((t.mask + 1) * sizeof(uint64_t) > FLOW_INDEX_HUGE);
    for (uint32_t i = 0; i < N; i++) {
        struct flow_key k = key_n(i);
        struct conn *f = flow_table_find(&t, &k);
        assert_ptr_equal(f, c[i]);
        assert_int_equal(conn_id(f), i);
        assert_int_equal(conn_first_frame(f), (uint64_t)i * 3u);
        for (uint32_t j = i + 1; j < N && j < i + 3; j++) /* no two share memory */
            assert_true((const char *)c[j] >= (const char *)(c[i] + 1) ||
                        (const char *)c[j] + sizeof *c[j] <= (const char *)c[i]);
    }
    for (uint32_t i = 0; i < N; i += 2) {
        flow_table_remove(&t, c[i]);
        flow_table_free_conn(&t, c[i]);
    }
    for (uint32_t i = 0; i < N; i += 2) { /* the freed places come back */
        struct flow_key k = key_n(i);
        assert_null(flow_table_find(&t, &k));
        c[i] = flow_table_add(&t, &k);
        assert_non_null(c[i]);
        conn_set_id(c[i], i);
    }
    for (uint32_t i = 0; i < N; i++) {
        struct flow_key k = key_n(i);
        assert_ptr_equal(flow_table_find(&t, &k), c[i]);
        assert_int_equal(conn_id(c[i]), i);
    }
    assert_int_equal(t.count, N);
    assert_int_equal(t.peak, N);
    flow_table_destroy(&t);
}

/* The pool holds at most the table's limit: one more add fails (as when
 * memory is short) until a connection is freed, whose place comes back; the
 * pool made usable follows the connections held, not the limit. */
static void test_pool_limit(void **state)
{
    (void)state;
    enum { N = 1000 };
    static struct conn *c[N];
    struct flow_table t;
    flow_table_init(&t);
    flow_table_set_limit(&t, N);
    for (uint32_t i = 0; i < N; i++) {
        struct flow_key k = key_n(i);
        assert_non_null(c[i] = flow_table_add(&t, &k));
        assert_int_equal(flow_table_idx(&t, c[i]), i);
    }
    struct flow_key k = key_n(N);
    assert_null(flow_table_add(&t, &k));
    assert_int_equal(t.count, N);
    assert_int_equal(t.pool_committed, HUGE_UNIT);
    flow_table_set_limit(&t, 2 * N); /* too late: reserved already */
    assert_null(flow_table_add(&t, &k));
    flow_table_remove(&t, c[7]);
    flow_table_free_conn(&t, c[7]);
    struct conn *again = flow_table_add(&t, &k);
    assert_ptr_equal(again, c[7]);
    assert_ptr_equal(flow_table_find(&t, &k), again);
    flow_table_destroy(&t);
}

/* This process's address space in bytes (VmSize), 0 if unknown. */
static size_t vm_size(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    size_t kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmSize: %zu kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb * 1024;
}

/* Under an address-space limit (`ulimit -v`) a large limit does not fit:
 * the pool reserves for as many connections as do (a child process, with
 * 1 GiB of address space left), and the table holds that many. */
static void test_pool_limit_address_space(void **state)
{
    (void)state;
    size_t vm = vm_size();
    if (!vm)
        skip();
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct rlimit rl = {vm + ((size_t)1 << 30), vm + ((size_t)1 << 30)};
        if (setrlimit(RLIMIT_AS, &rl) != 0)
            _exit(3);
        struct flow_table t;
        flow_table_init(&t);
        size_t got = flow_table_set_limit(&t, 100000000);
        int bad = got == 0 || got >= 100000000 || got * sizeof(struct conn) > ((size_t)1 << 30) ||
                  flow_table_set_limit(&t, 5) != got; /* (reserved: unchanged) */
        for (uint32_t i = 0; !bad && i < 1000; i++) {
            struct flow_key k = key_n(i);
            bad = flow_table_add(&t, &k) == NULL;
        }
        flow_table_destroy(&t);
        _exit(bad ? 1 : 0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* IPv6 connections keep their addresses in the table's blocks (struct
 * conn_key): many of them (several slabs), found by their key, told apart
 * from IPv4 connections with the same address bytes and from IPv6 ones that
 * differ only past the first 4 bytes, their blocks reused once freed, and
 * the table's byte count back to zero at the end. */
static void test_v6_keys(void **state)
{
    (void)state;
    enum { N = 300 };
    struct flow_table t;
    flow_table_init(&t);
    static struct conn *c6[N], *c4[N];
    bool lo;
    for (unsigned i = 0; i < N; i++) {
        struct ip_addr a = sb_ip4(10, 0, 0, 1), b = sb_ip4(10, 0, 0, 2);
        struct flow_key k4 = key_of(&a, (uint16_t)(1000 + i), &b, 80, 4, &lo);
        struct flow_key k6 = key_of(&a, (uint16_t)(1000 + i), &b, 80, 6, &lo);
        c4[i] = flow_table_add(&t, &k4);
        c6[i] = flow_table_add(&t, &k6);
        assert_non_null(c4[i]);
        assert_non_null(c6[i]);
    }
    assert_int_equal(t.count, 2 * N);
    for (unsigned i = 0; i < N; i++) {
        struct ip_addr a = sb_ip4(10, 0, 0, 1), b = sb_ip4(10, 0, 0, 2);
        struct flow_key k4 = key_of(&a, (uint16_t)(1000 + i), &b, 80, 4, &lo);
        struct flow_key k6 = key_of(&a, (uint16_t)(1000 + i), &b, 80, 6, &lo);
        assert_ptr_equal(flow_table_find(&t, &k4), c4[i]);
        assert_ptr_equal(flow_table_find(&t, &k6), c6[i]);
        /* the same but for a byte past the first four (IPv6 only) */
        struct ip_addr a2 = a;
        a2.b[9] = 1;
        struct flow_key k6b = key_of(&a2, (uint16_t)(1000 + i), &b, 80, 6, &lo);
        assert_null(flow_table_find(&t, &k6b));
        struct ip_addr lo_addr = conn_addr(c6[i], (c6[i]->flags & CONN_CLIENT_IS_LO) ? SIDE_CLIENT
                                                                                      : SIDE_SERVER);
        assert_memory_equal(&lo_addr, &k6.addr_lo, sizeof lo_addr);
        assert_int_equal(conn_port(c4[i], SIDE_CLIENT), conn_port(c6[i], SIDE_CLIENT));
    }
    size_t bytes_full = t.bytes;
    for (unsigned i = 0; i < N; i++) {
        flow_table_remove(&t, c6[i]);
        flow_table_free_conn(&t, c6[i]);
    }
    assert_int_equal(t.count, N);
    /* freed blocks are reused: as many again, no new slab */
    struct v6_slab *slabs = t.v6_slabs;
    for (unsigned i = 0; i < N; i++) {
        struct ip_addr a = sb_ip6("2001:db8::1"), b = sb_ip6("2001:db8::2");
        struct flow_key k6 = key_of(&a, (uint16_t)(1000 + i), &b, 443, 6, &lo);
        c6[i] = flow_table_add(&t, &k6);
        assert_non_null(c6[i]);
        assert_ptr_equal(flow_table_find(&t, &k6), c6[i]);
    }
    assert_ptr_equal(t.v6_slabs, slabs);
    assert_int_equal(t.bytes, bytes_full);
    for (unsigned i = 0; i < N; i++) {
        flow_table_remove(&t, c4[i]);
        flow_table_free_conn(&t, c4[i]);
        flow_table_remove(&t, c6[i]);
        flow_table_free_conn(&t, c6[i]);
    }
    assert_int_equal(t.count, 0);
    assert_int_equal(t.bytes, 0);
    flow_table_destroy(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_same_both_directions_v4),
        cmocka_unit_test(test_key_same_both_directions_v6),
        cmocka_unit_test(test_key_same_address_orders_by_port),
        cmocka_unit_test(test_key_differs_per_tuple),
        cmocka_unit_test(test_add_find_counts),
        cmocka_unit_test(test_touch_moves_to_tail),
        cmocka_unit_test(test_mark_done_moves_to_linger),
        cmocka_unit_test(test_handshake_list),
        cmocka_unit_test(test_remove),
        cmocka_unit_test(test_many),
        cmocka_unit_test(test_index_churn),
        cmocka_unit_test(test_large_table),
        cmocka_unit_test(test_pool_limit),
        cmocka_unit_test(test_prefetch_memo_forgets),
        cmocka_unit_test(test_pool_limit_address_space),
        cmocka_unit_test(test_v6_keys),
    };
    return cmocka_run_group_tests_name("flow_table", tests, NULL, NULL);
}
