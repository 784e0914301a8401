/* SPDX-License-Identifier: MIT */
/*
 * tracker.h - follow every TCP connection through the capture.
 *
 * The tracker takes decoded segments (and ICMP errors quoting TCP) in capture
 * order, finds or creates their connection in the flow table, and updates the
 * per-endpoint state (RFC 9293 names), sequence space, windows, retransmission
 * and probe counters, and stall episodes. It never classifies: it hands each
 * finished connection to an emit callback, which classifies and reports it;
 * the tracker frees the connection when the callback returns.
 *
 * Packets are the clock: every time is the capture's, in nanoseconds. Live
 * mode advances the clock with tracker_advance() when no packet arrives.
 *
 * When a connection ends:
 *   - finished (RST, or both FINs): it lingers for cfg.linger_ns of capture
 *     time to absorb trailing segments, then is emitted (END_FINISHED);
 *   - a new SYN on its tuple after it finished or failed: emitted at once
 *     (END_REPLACED) and the new connection starts;
 *   - the table is full (max_connections), or a new connection begins a
 *     handshake while max_handshakes others are in theirs: the least
 *     recently active connection (of those in their handshake, for the
 *     second) is emitted as evicted (END_EVICTED);
 *   - the capture ends: tracker_finish() emits all the rest, in start order.
 */
#ifndef TCPTRIAGE_TRACKER_H
#define TCPTRIAGE_TRACKER_H

#include <stddef.h>
#include <stdint.h>

#include "conn.h"
#include "decode.h"
#include "flow_table.h"

struct tracker_config {
    int64_t attempt_timeout_ns; /* an unanswered SYN is timed out after this (3 s) */
    int64_t stall_threshold_ns; /* no progress this long while data waits: stall (1 s) */
    int64_t linger_ns;          /* finished connections wait this long (4 s) */
    size_t max_connections;     /* flow table cap (evict the least recently active) */
    size_t max_handshakes;      /* of which at most this many still in their handshake
                                   (evict the least recently active of those; at most
                                   max_connections) */
    uint8_t time_unit;          /* compact times in units of 10^time_unit ns: the capture's
                                   resolution (3 for microseconds; 0, the default, always
                                   fits the values, with the shortest range: conn.h) */
    bool fast_paths;            /* header prediction and the opening SYN's fast path
                                   (file mode; true by default). false: every segment
                                   takes the general path, to compare (main.c:
                                   TCPTRIAGE_NO_FASTPATH=1, tests/fastpath.py) */
};

/* Defaults, documented in docs/verdicts.md and --help. */
void tracker_config_default(struct tracker_config *cfg);

enum conn_end {
    END_FINISHED = 0, /* finished and lingered */
    END_REPLACED,     /* a new connection started on the same tuple */
    END_EVICTED,      /* table full */
    END_CAPTURE_END,  /* still there when the capture ended */
};
const char *conn_end_name(enum conn_end e);

/* Something that became certain about a connection while it lives (live
 * mode prints these at once). */
enum tracker_event {
    TEV_REFUSED = 0,  /* RST or ICMP answered the SYN */
    TEV_RESET,        /* a RST ended an attempted or established connection */
    TEV_HALF_OPEN,    /* the server retransmitted its SYN-ACK: the ACK is missing */
    TEV_HALF_CLOSED,  /* one side sent FIN and the other has not, stall threshold later */
    TEV_CLOSED,       /* both sides sent FIN */
    TEV_STALL_START,  /* a stall reached the threshold */
    TEV_STALL_END,    /* ... and ended */
    TEV_TIMED_OUT,    /* attempt timeout after the last unanswered SYN */
    TEV__COUNT
};
const char *tracker_event_name(enum tracker_event e);

/* Called for each connection leaving the table. `c` is valid only during the
 * call; the tracker frees it afterwards. now_ns is the capture time. */
typedef void (*tracker_emit_fn)(void *ctx, const struct conn *c, enum conn_end why,
                                int64_t now_ns);
/* Optional: called when an event becomes certain. */
typedef void (*tracker_event_fn)(void *ctx, const struct conn *c, enum tracker_event ev,
                                 int64_t now_ns);

struct tracker_counters {
    uint64_t connections;     /* connections created */
    uint64_t evicted;         /* emitted as evicted at the cap */
    uint64_t evicted_handshakes; /* ... of which at max_handshakes (half-open, a SYN flood) */
    uint64_t replaced;        /* ended by a new SYN on the same tuple */
    uint64_t resumed;         /* created on the tuple of an evicted connection, as its
                                 continuation (conn_rare()->resumes) */
    uint64_t ts_backwards;    /* frames whose time went backwards */
    uint64_t icmp_unmatched;  /* ICMP errors about no known connection */
    uint64_t unhandled_state; /* endpoint events with no rule in their state */
    uint64_t alloc_failures;  /* connections not created for lack of memory */
    uint64_t rare_failures;   /* rare blocks not allocated (that evidence lost) */
};

struct evicted_slot;

struct tracker {
    struct tracker_config cfg;
    struct flow_table table;
    struct tracker_counters cnt;
    tracker_emit_fn emit;
    tracker_event_fn event; /* may be NULL */
    void *ctx;
    int64_t now_ns;         /* latest capture time seen */
    int64_t gap_ns;         /* silence before the segment being processed, on its connection */
    uint32_t linger_head;   /* pool index + 1 of the lingering list's head (0: not known) */
    int64_t linger_head_ns; /* ... and its last_ns, read when that head was first seen */
    bool fast;              /* header prediction on (file mode, not TCPTRIAGE_NO_FASTPATH) */
    struct conn_rare rare_sink; /* where rare evidence goes when its block cannot be allocated */
    /* The tuples of recently evicted connections (tracker.c, "Evicted
     * tuples"): allocated at the first eviction, a fixed number of slots. */
    struct evicted_slot *evicted;
    size_t evicted_mask;
    uint64_t next_id;
    uint64_t timer_visits;  /* live: connections the timer walks looked at (tests) */
};

void tracker_init(struct tracker *t, const struct tracker_config *cfg, tracker_emit_fn emit,
                  tracker_event_fn event, void *ctx);
/* Feed one decoded frame (DECODE_TCP or DECODE_ICMP). */
void tracker_packet(struct tracker *t, const struct decoded *d, const struct frame *f);

/* The same in steps, so a caller can work on a few frames at once and hide
 * the memory latency of the table (analyzer.c does in file mode):
 * tracker_prepare() computes the frame's key and hash and prefetches its
 * index slot; tracker_prefetch(), a little later, prefetches the
 * connection; tracker_packet_prepared() then handles the frame exactly as
 * tracker_packet() would. Frames must still be handled in order; the hints
 * never change results. */
struct tracker_prep {
    struct flow_key key;
    uint32_t hash;
    bool src_is_lo;
};
void tracker_prepare(const struct tracker *t, const struct decoded *d, struct tracker_prep *p);
void tracker_prefetch(const struct tracker *t, const struct tracker_prep *p);
void tracker_packet_prepared(struct tracker *t, const struct decoded *d, const struct frame *f,
                             const struct tracker_prep *p);
/* Let time pass (live mode, or before finishing): expire lingering
 * connections and fire timers (timed_out events). */
void tracker_advance(struct tracker *t, int64_t now_ns);
/* End of input: emit every connection still held, in start order. The
 * tracker takes no more packets after it (new connections would fail: the
 * table's index is retired, its memory used to sort them). */
void tracker_finish(struct tracker *t);
/* Frees the table (connections still held are dropped silently). */
void tracker_destroy(struct tracker *t);

/* Exposed for unit tests: the side a segment was sent by. */
enum side tracker_sender_side(const struct conn *c, const struct tcp_segment *seg);

#endif
