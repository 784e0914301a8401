/* SPDX-License-Identifier: MIT */
/*
 * conn.h - what tcptriage knows about one TCP connection while it lives.
 *
 * A connection is two endpoints (client = the side that sent the first SYN,
 * server = the other) plus the evidence the verdict rules need: frame numbers
 * and times of the SYNs, SYN-ACKs, FINs and RSTs, counters, and stall
 * episodes. The tracker (tracker.c) is the only writer; the classifier
 * (classify.c) and the reporters only read.
 *
 * Endpoint states use the RFC 9293 (ex RFC 793) names, as far as the wire
 * shows them to an observer in the middle.
 *
 * Sizes matter: one of these exists per live connection. What most segments
 * of most connections touch is in struct conn and struct endpoint; evidence
 * of rarer events (RST, ICMP, SYN retries, keepalives, zero windows, Nagle
 * holds, stall history) is in a rare block allocated on first use, which
 * most connections never get (docs/performance.md). Frame numbers are
 * 64-bit and times int64 nanoseconds everywhere: the evidence keeps the
 * capture's precision.
 */
#ifndef TCPTRIAGE_CONN_H
#define TCPTRIAGE_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "decode.h"

/* ------------------------------------------------------------------------ */
/* Serial-number arithmetic (RFC 1982) for 32-bit TCP sequence numbers.     */

static inline bool seq_lt(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) < 0;
}
static inline bool seq_leq(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) <= 0;
}
static inline bool seq_gt(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) > 0;
}
static inline bool seq_geq(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) >= 0;
}

/* ------------------------------------------------------------------------ */
/* Endpoint state (RFC 9293 section 3.3.2 names).                            */

enum tcp_state {
    TCP_CLOSED = 0,
    TCP_LISTEN,
    TCP_SYN_SENT,
    TCP_SYN_RECEIVED,
    TCP_ESTABLISHED,
    TCP_FIN_WAIT_1,
    TCP_FIN_WAIT_2,
    TCP_CLOSING,
    TCP_TIME_WAIT,
    TCP_CLOSE_WAIT,
    TCP_LAST_ACK,
    TCP_STATE__COUNT
};

/* "SYN_SENT", ... ; "UNKNOWN" for an out-of-range value. */
const char *tcp_state_name(enum tcp_state s);

/* The two sides of a connection. */
enum side { SIDE_CLIENT = 0, SIDE_SERVER = 1 };

static inline enum side side_peer(enum side s)
{
    return s == SIDE_CLIENT ? SIDE_SERVER : SIDE_CLIENT;
}
const char *side_name(enum side s); /* "client" / "server" */

/* Kinds of stall (see docs/verdicts.md). */
enum stall_kind {
    STALL_NONE = 0,
    STALL_ZERO_WINDOW,  /* the receiver advertises 0 and the sender probes */
    STALL_UNACKED_DATA, /* the sender retransmits data that is never acknowledged */
    STALL_WINDOW_FULL,  /* bytes in flight fill the advertised window */
};
const char *stall_kind_name(enum stall_kind k); /* "zero_window", ...; "none" */

/* One stall episode: data from `sender` waited, without progress, on the
 * other side (the blamed side, reported as "side"). */
struct stall_episode {
    int64_t start_ns;    /* last forward progress before the stall */
    uint64_t start_frame; /* the frame of that progress (or of the zero window) */
    int64_t idle_before_ns; /* silence on the connection before the waiting data was sent */
    int64_t seconds_ns;  /* how long it lasted (so far) */
    uint8_t kind;        /* enum stall_kind */
    uint8_t blamed;      /* enum side: the receiver that did not take the data */
    uint8_t ongoing;     /* still going at the time it was measured */
};

/* Per-direction stall tracking flags (data sent by this endpoint). When the
 * tracked episode started, in which frame, and the silence before it are in
 * the endpoint (stall_since, stall_frame, stall_idle_before); the
 * zero-window side of it (when the peer's window went to 0, and in which
 * frame) is rare and lives in the connection's rare block (struct ep_rare). */
struct stall_track {
    uint8_t inflight : 1;      /* data is in flight */
    uint8_t zero : 1;          /* the peer advertises a zero window */
    uint8_t retransmitted : 1; /* a real retransmission during this episode */
    uint8_t probed : 1;        /* a zero-window probe during this episode */
    uint8_t window_full : 1;   /* in flight reached the peer's window */
    uint8_t announced : 1;     /* live: stall_start was reported for this episode */
};

struct conn;

/* Kind of the episode the stall tracking st describes, or STALL_NONE
 * when what is tracked is not a stall (data in flight with no retransmission
 * and no window limit: an ACK we may simply not have captured). */
enum stall_kind stall_track_kind(const struct stall_track *st);
/* When the episode of side s started (meaningful only when something is
 * tracked), and the frame that started it. */
int64_t stall_track_start(const struct conn *c, enum side s, uint64_t *frame);

/* Flags on an endpoint (bit set). */
#define EP_SEEN 0x0001         /* sent at least one segment */
#define EP_SYN 0x0002          /* sent SYN (or SYN-ACK) */
#define EP_FIN 0x0004          /* sent FIN */
#define EP_RST 0x0008          /* sent RST */
#define EP_SEQ_KNOWN 0x0010    /* snd_nxt is meaningful */
#define EP_ACK_KNOWN 0x0020    /* ack is meaningful */
#define EP_WSCALE 0x0040       /* offered window scaling in its SYN */
#define EP_FIN_ACKED 0x0080    /* its FIN was acknowledged by the peer */
#define EP_SACK_OK 0x0100      /* offered SACK in its SYN */
#define EP_TIMESTAMPS 0x0200   /* offered timestamps in its SYN */
#define EP_ZERO_WINDOW 0x0400  /* its last advertised window was zero */
#define EP_DATA 0x0800         /* sent payload */
#define EP_KA_PENDING 0x1000   /* sent a keepalive not yet answered */
#define EP_SACK_SEEN 0x2000    /* sent SACK blocks */
#define EP_SMALL_HELD 0x4000   /* small_sent_ns: a small segment not yet released by an ACK */
#define EP_FIN_KEPT 0x8000     /* the sequence number of its FIN is in the rare block (it is
                                  snd_nxt - 1 until then: ep_fin_seq()) */

/* ------------------------------------------------------------------------ */
/* Compact evidence (docs/performance.md, "Memory").                          */
/*
 * Most times and frame numbers of a connection are kept in 32 bits: a time
 * as its offset from the connection's start_ns in units of the capture's
 * timestamp resolution (c->tunit: 10^tunit ns, so microseconds for a
 * classic pcap and nanoseconds for a nanosecond one), a frame number as its
 * offset from first_frame. Exact while the offsets fit: 71 minutes of a
 * microsecond capture, 4.29 s of a nanosecond one, 4·10^9 frames. A time
 * that is not a whole number of units makes the connection's units finer
 * (conn_refine()) when its values still fit then; a value that does not fit
 * (or lies before the start) makes the connection "wide": its rare block
 * gets a struct conn_wide with every such field as a plain 64-bit value,
 * and the accessors use that from then on. So the evidence always keeps the
 * capture's precision; only the memory depends on the range.
 *
 * Read them with conn_time(), conn_dur(), conn_frame(); only the tracker
 * writes them, with conn_set_time() and the others. The types are structs
 * so that a direct read or write does not compile.
 */
typedef struct { uint32_t v; } ctime32;  /* a time (0: none / time 0) */
typedef struct { uint32_t v; } cdur32;   /* a duration >= 0 */
typedef struct { uint32_t v; } cframe32; /* a frame number (0: none) */

#define EP_RETRANSMITS_MAX 0xFFFFFFu /* struct endpoint.retransmits saturates here */

/* What every connection needs about one endpoint, touched by most segments. */
struct endpoint {
    uint32_t bytes;       /* payload bytes sent (retransmissions included), low 32 bits:
                             read with conn_bytes() (the rest is in the rare block) */
    uint32_t isn;         /* sequence number of its SYN */
    uint32_t snd_nxt;     /* highest sequence number sent + 1 (SYN and FIN count) */
    uint32_t ack;         /* highest acknowledgment it sent */
    uint32_t win_bytes;   /* last advertised receive window, scaled when known */
    uint32_t pkts;        /* segments sent */
    uint32_t retransmits : 24; /* data/FIN retransmissions (probes and keepalives excluded;
                                  saturates at 16,777,215) */
    uint32_t ttl : 8;     /* TTL / hop limit of its last ordinary segment */
    uint16_t flags;       /* EP_* */
    uint16_t mss;         /* MSS option from its SYN (0: none) */
    uint8_t syns;         /* SYN (client) or SYN-ACK (server) segments sent (saturates) */
    uint8_t dupacks;      /* duplicate ACKs in a row it sent, reset on progress (saturates) */
    uint8_t state : 4;    /* enum tcp_state */
    uint8_t wscale : 4;   /* window scale it offered (at most 14) */
    struct stall_track stall; /* its data waiting on the peer: flags ... */
    ctime32 small_sent;   /* Nagle: when its last small segment left with nothing in flight */
    ctime32 ack_release;  /* Nagle: when the peer's late pure ACK released it (0: none);
                             it had been held since small_sent */
    ctime32 stall_since;  /* ... valid if stall.inflight: last progress with data out */
    cframe32 stall_frame; /* ... frame of stall_since */
    cdur32 stall_idle_before; /* ... silence before the data now in flight was sent */
    /* Above: touched by most segments. Below: by SYNs and FINs only. */
    cframe32 frame_syn;   /* first SYN / SYN-ACK frame (0: none) */
    cframe32 frame_fin;   /* first FIN frame */
    ctime32 ts_syn;       /* first SYN / SYN-ACK */
    ctime32 ts_fin;       /* first FIN */
};

/* What only some connections need about an endpoint: counters of rarer
 * events and the evidence that goes with them. Zero until the first such
 * event allocates the connection's rare block. */
struct ep_rare {
    uint32_t rtx_fast;    /* retransmissions after >= 3 duplicate ACKs or a SACK hole */
    uint32_t rtx_spurious; /* retransmissions of data already acknowledged */
    uint32_t synack_after_ack; /* SYN-ACKs resent after the client's ACK arrived */
    uint32_t ack_gaps;    /* times it acknowledged data we never saw (capture drops) */
    uint32_t zero_windows; /* segments advertising a zero window */
    uint32_t zw_probes;   /* zero-window probes sent */
    uint32_t keepalives;  /* keepalive probes sent */
    uint32_t keepalive_acks; /* its keepalives that the peer answered */
    uint32_t rst_ignored; /* RSTs it sent that the peer would not accept */
    uint32_t icmp_errors; /* ICMP errors attributed to the connection quoting its segments */
    uint32_t nagle_events; /* small segment held until the peer's delayed ACK */
    uint8_t rst_ttl;      /* TTL / hop limit of its RST */
    uint16_t bytes_hi;    /* payload bytes sent, bits 32-47 (struct endpoint has the rest) */
    int64_t nagle_delay_ns; /* latency those holds added, in total */
    uint64_t frame_rst;   /* first RST frame */
    int64_t ts_keepalive_ns; /* last keepalive probe sent */
    int64_t keepalive_gap_ns; /* interval between the last two keepalive probes */
    int64_t keepalive_idle_ns; /* silence before its first keepalive probe */
    int64_t zero_since_ns; /* stall tracking: when the peer's window went to 0 */
    uint64_t zero_frame;   /* ... and in which frame */
};

/* Canonical, pointer-free, zero-padded flow key: the (address, port) pair that
 * compares lower comes first. The flow table hashes and compares it bytewise. */
struct flow_key { /* 40 bytes: flow_table.c hashes it as five 64-bit words */
    struct ip_addr addr_lo;
    struct ip_addr addr_hi;
    uint16_t port_lo;
    uint16_t port_hi;
    uint8_t ip_version;
    uint8_t pad[3];
};

/* Both addresses of an IPv6 connection, in key order (flow table blocks). */
struct ip_pair {
    struct ip_addr lo;
    struct ip_addr hi;
};

/* The key a connection keeps: the flow key above in 16 bytes. An IPv4
 * address is its 4 bytes (the flow key's other 12 are zero); IPv6 addresses
 * live in a block of the flow table's the key points to. Lookups build a
 * struct flow_key from the packet and compare it with this (flow_table.c). */
struct conn_key {
    union {
        uint32_t v4[2];     /* ip_version 4: the lo and hi addresses */
        struct ip_pair *v6; /* ip_version 6 */
    } addr;
    uint16_t port_lo;
    uint16_t port_hi;
    uint8_t ip_version;
    uint8_t pad[3];
};

/* ck = k, the IPv6 addresses (if any) copied to *v6 (which ck then points
 * to; unused for IPv4). */
void conn_key_set(struct conn_key *ck, const struct flow_key *k, struct ip_pair *v6);

/* How the handshake was seen. */
enum handshake_seen {
    HS_MISSING = 0, /* neither the SYN nor the SYN-ACK is in the capture */
    HS_PARTIAL,     /* SYN seen, the rest not (yet) */
    HS_COMPLETE,    /* SYN, SYN-ACK and the client's ACK */
};
const char *handshake_name(enum handshake_seen h);

/* Phase of the connection when a RST arrived. */
enum reset_phase {
    PHASE_NONE = 0,
    PHASE_HANDSHAKE,
    PHASE_ESTABLISHED,
    PHASE_CLOSING,  /* after one FIN */
    PHASE_CLOSED,   /* after both FINs */
};
const char *reset_phase_name(enum reset_phase p);

/* Connection-level flags. */
#define CONN_CLIENT_IS_LO 0x0001  /* the client is key.addr_lo/port_lo */
#define CONN_ROLES_GUESSED 0x0002 /* roles by port heuristic (no SYN, no SYN-ACK) */
#define CONN_ESTABLISHED 0x0004   /* reached ESTABLISHED (or started mid-stream) */
#define CONN_RST 0x0008           /* a RST was seen */
#define CONN_ICMP 0x0010          /* an ICMP unreachable was attributed to it */
#define CONN_ICMP_SYN 0x0020      /* ... quoting a client SYN */
#define CONN_DONE 0x0040          /* terminal: both FINs, or RST: lingering */
#define CONN_EVICTED 0x0080       /* evicted at a cap of the table's (see CONN_IN_HANDSHAKE) */
#define CONN_WSCALE_ON 0x0100     /* window scaling negotiated (both SYNs offered it) */
#define CONN_WSCALE_KNOWN 0x0200  /* we saw both SYNs, so scaling is known */
#define CONN_ONE_SIDED 0x0400     /* established inferred from the client alone */
#define CONN_TS_BACKWARDS 0x0800  /* a timestamp went backwards within it */
#define CONN_EV_TIMED_OUT 0x1000  /* live: timed_out was reported */
#define CONN_EV_HALF_CLOSED 0x2000 /* live: half_closed was reported */
#define CONN_WIDE 0x4000         /* compact evidence moved to rare->wide (conn_widen) */
#define CONN_IN_HANDSHAKE 0x8000 /* in the table's handshake list (flow_table.h); on an
                                     evicted connection: evicted by --max-handshakes */

#define CONN_MAX_SYN_TIMES 6 /* SYN send times kept for the backoff */
#define CONN_LONG_GAP_NS 500000000LL /* a silence this long may precede an idle-timeout death */
/* A failure up to this long after a long silence ended is taken as caused by
 * the first segments after it (e.g. the RST answering them). */
#define CONN_AFTER_GAP_NS 2000000000LL

/* The rare block of a connection: evidence most connections never need (a
 * RST, an ICMP error, SYN retries, stall history, keepalives,
 * zero windows, Nagle holds). Allocated by the tracker on the first such
 * event; readers use conn_rare(), which never returns NULL. */
struct conn_rare {
    uint64_t frame_rst;        /* frame of the RST that ended it */
    uint64_t frame_icmp;       /* frame of the ICMP unreachable */
    int64_t rst_ns;            /* time of the ending RST */
    int64_t idle_before_rst_ns; /* silence before the RST */
    struct stall_episode stall_longest; /* longest stall episode (kind NONE: none) */
    uint32_t stall_episodes;   /* how many stall episodes reached the threshold */
    uint32_t syn_times_us[CONN_MAX_SYN_TIMES]; /* client SYN times after the first, us */
    struct ip_addr icmp_src;   /* who sent the ICMP unreachable */
    uint8_t icmp_type;
    uint8_t icmp_code;
    uint8_t icmp_ttl;
    struct ep_rare ep[2];      /* [SIDE_CLIENT], [SIDE_SERVER] */
    struct conn_wide *wide;    /* with CONN_WIDE: the compact fields, 64-bit */
    uint64_t resumes;          /* the id of the evicted connection this one continues (its
                                  tuple came back after the eviction: tracker.c); 0: none */
    int64_t syn_last_ns;       /* the client's last SYN, once it resent one (conn_syn_last()) */
    uint32_t fin_seq[2];       /* [side] with EP_FIN_KEPT: the sequence number of its FIN */
};

struct conn {
    /* What most segments touch, first ... */
    struct conn_key key;       /* index key (canonical) */
    uint16_t flags;            /* CONN_* */
    uint8_t rst_side : 1;      /* enum side that sent the ending RST */
    uint8_t rst_phase : 3;     /* enum reset_phase */
    uint8_t handshake : 2;     /* enum handshake_seen */
    uint8_t tunit;             /* compact times are in units of 10^tunit ns */
    uint32_t first_frame_lo;   /* (with first_frame_hi: conn_first_frame()) */
    struct conn_rare *rare;    /* NULL until needed: read through conn_rare() */
    int64_t last_ns;           /* time of the last frame */
    int64_t start_ns;          /* time of the first frame: base of the compact times */
    cframe32 last_frame;       /* last frame of this connection */
    cdur32 max_idle;           /* longest silence between two of its frames */
    uint16_t first_frame_hi;   /* first frame: base of the compact frame numbers (48 bits) */
    uint16_t id_hi;            /* (with id_lo: conn_id()) */
    struct endpoint ep[2];     /* [SIDE_CLIENT], [SIDE_SERVER] */
    /* ... what is written once, last. */
    uint32_t id_lo;            /* conn_id(): 1, 2, ... in order of first packet (48 bits) */
    cframe32 frame_established; /* frame of the ACK that completed the handshake */
    ctime32 established;       /* time the handshake completed */
    cdur32 long_gap;           /* the last silence >= CONN_LONG_GAP_NS (common: not rare) ... */
    ctime32 long_gap_end;      /* ... and when it ended */
};

/* Three and a half cache lines: 224 bytes. The pool is 2 MiB-aligned, so a
 * connection starts on a cache line or half-way through one, and spans four
 * lines either way (docs/performance.md, item 36). */
_Static_assert(sizeof(struct conn) == 224, "struct conn is 224 bytes");

/* The compact fields as plain values, once a connection is wide: one slot per
 * field of CONN_COMPACT_FIELDS (conn.c), times and durations in ns. */
#define CONN_WIDE_SLOTS 24
struct conn_wide {
    int64_t v[CONN_WIDE_SLOTS];
};

/* c was evicted at the half-open connections' cap (--max-handshakes), not
 * the table's: the tracker leaves CONN_IN_HANDSHAKE set only then. */
static inline bool conn_evicted_at_handshake_cap(const struct conn *c)
{
    return (c->flags & (CONN_EVICTED | CONN_IN_HANDSHAKE)) == (CONN_EVICTED | CONN_IN_HANDSHAKE);
}

/* The rare block of c, or an all-zero one when c has none. */
static inline const struct conn_rare *conn_rare(const struct conn *c)
{
    extern const struct conn_rare conn_rare_none;
    return c->rare ? c->rare : &conn_rare_none;
}

/* A connection's id and first frame number are 48-bit (2.8·10^14: 325 days
 * of frames at 10 million a second); the tracker stops creating connections
 * beyond that (counted as allocation failures). */
#define CONN_U48_MAX ((UINT64_C(1) << 48) - 1)

static inline uint64_t conn_id(const struct conn *c)
{
    return (uint64_t)c->id_hi << 32 | c->id_lo;
}

static inline uint64_t conn_first_frame(const struct conn *c)
{
    return (uint64_t)c->first_frame_hi << 32 | c->first_frame_lo;
}

/* (id and n at most CONN_U48_MAX) */
static inline void conn_set_id(struct conn *c, uint64_t id)
{
    c->id_lo = (uint32_t)id;
    c->id_hi = (uint16_t)(id >> 32);
}

static inline void conn_set_first_frame(struct conn *c, uint64_t n)
{
    c->first_frame_lo = (uint32_t)n;
    c->first_frame_hi = (uint16_t)(n >> 32);
}

/* The time of the client's last SYN: its first one's, unless it resent it
 * (the retries are kept in the rare block; the server's last SYN-ACK is not
 * kept: nothing reads it). */
static inline int64_t conn_syn_last(const struct conn *c);

/* The rare counters of endpoint e of c (an all-zero block when c has none). */
static inline const struct ep_rare *ep_rare(const struct conn *c, const struct endpoint *e)
{
    return &conn_rare(c)->ep[e - c->ep];
}

/* The sequence number of e's FIN (e has sent one): the last of its sequence
 * space, unless that moved on after the FIN, or never matched it (a FIN on
 * a SYN), when the tracker kept it in the rare block (EP_FIN_KEPT). */
static inline uint32_t ep_fin_seq(const struct conn *c, const struct endpoint *e)
{
    return (e->flags & EP_FIN_KEPT) ? conn_rare(c)->fin_seq[e - c->ep] : e->snd_nxt - 1;
}

/* ------------------------------------------------------------------------ */
/* Reading and writing the compact evidence (see "Compact evidence" above).   */

extern const int64_t conn_pow10[10];  /* 10^k */
extern const uint64_t conn_inv5[10];  /* the inverse of 5^k modulo 2^64 */

struct flow_table;
/* Makes c wide: its compact fields become 64-bit values in a struct
 * conn_wide hung from its rare block (both allocated through t). False when
 * t is NULL or memory is short; the caller then saturates the value, and
 * the flow table counts it (flow_table.widen_failed). */
bool conn_widen(struct flow_table *t, struct conn *c);
/* The wide value of a compact field of c (c must be wide). */
int64_t conn_wide_get(const struct conn *c, const void *field);
void conn_wide_set(struct conn *c, void *field, int64_t v);
/* A time or duration v that is not a whole number of c's units (a
 * nanosecond time in a capture that said microseconds): c's units made
 * finer, the values so far converted, and v stored in field, when they all
 * fit then; false otherwise (the caller makes c wide). */
bool conn_refine(struct conn *c, void *field, int64_t v);
/* Every compact field of c (compact still) as a 64-bit value, into w. */
void conn_wide_fill(const struct conn *c, struct conn_wide *w);

/* The accessors are on every segment's path: always inlined (GCC outlined
 * them, and the segment path with them, by its size heuristics). */
#define CONN_INLINE static inline __attribute__((always_inline))

/* d / 10^tunit when d is a whole number of units (any result of 2^32 - 1
 * or more means "does not fit": a number that is not a multiple of 5^k
 * gives more than (2^64 - 1) / 5^k, over 9·10^12, by the inverse). */
CONN_INLINE uint64_t conn_units(const struct conn *c, uint64_t d)
{
    unsigned k = c->tunit;
    if (d & ((UINT64_C(1) << k) - 1))
        return UINT64_MAX;
    return (d >> k) * conn_inv5[k];
}

#define CONN_LIKELY_COMPACT(c) __builtin_expect(((c)->flags & CONN_WIDE) == 0, 1)

CONN_INLINE int64_t conn_time(const struct conn *c, const ctime32 *f)
{
    if (!CONN_LIKELY_COMPACT(c))
        return conn_wide_get(c, f);
    return f->v ? c->start_ns + (int64_t)(f->v - 1) * conn_pow10[c->tunit] : 0;
}

static inline int64_t conn_syn_last(const struct conn *c)
{
    const struct endpoint *cl = &c->ep[SIDE_CLIENT];
    /* (a retry's time 0 would mean the first SYN's was 0 too; and 0 is what
     * a rare block allocated after a retry whose allocation failed holds) */
    return cl->syns >= 2 && c->rare && c->rare->syn_last_ns ? c->rare->syn_last_ns
                                                            : conn_time(c, &cl->ts_syn);
}

CONN_INLINE int64_t conn_dur(const struct conn *c, const cdur32 *f)
{
    if (!CONN_LIKELY_COMPACT(c))
        return conn_wide_get(c, f);
    return (int64_t)f->v * conn_pow10[c->tunit];
}

CONN_INLINE uint64_t conn_frame(const struct conn *c, const cframe32 *f)
{
    if (!CONN_LIKELY_COMPACT(c))
        return (uint64_t)conn_wide_get(c, f);
    return f->v ? conn_first_frame(c) + f->v - 1 : 0;
}

/* The setters take the flow table that allocates the wide block (NULL: never
 * widen, saturate instead; for records built by hand). What does not fit
 * takes conn_set_wide(), out of line. */
__attribute__((cold)) void conn_set_wide(struct flow_table *t, struct conn *c, void *field,
                                         int64_t v);

CONN_INLINE void conn_set_time(struct flow_table *t, struct conn *c, ctime32 *f, int64_t ns)
{
    uint64_t q = conn_units(c, (uint64_t)ns - (uint64_t)c->start_ns);
    if (CONN_LIKELY_COMPACT(c) && ns >= c->start_ns && q < UINT32_MAX)
        f->v = (uint32_t)q + 1;
    else if (CONN_LIKELY_COMPACT(c) && ns == 0)
        f->v = 0;
    else
        conn_set_wide(t, c, f, ns);
}

CONN_INLINE void conn_set_dur(struct flow_table *t, struct conn *c, cdur32 *f, int64_t ns)
{
    uint64_t q = conn_units(c, (uint64_t)ns);
    if (CONN_LIKELY_COMPACT(c) && ns >= 0 && q <= UINT32_MAX)
        f->v = (uint32_t)q;
    else
        conn_set_wide(t, c, f, ns);
}

CONN_INLINE void conn_set_frame(struct flow_table *t, struct conn *c, cframe32 *f, uint64_t n)
{
    uint64_t first = conn_first_frame(c);
    if (CONN_LIKELY_COMPACT(c) && n - first < UINT32_MAX)
        f->v = (uint32_t)(n - first) + 1;
    else if (CONN_LIKELY_COMPACT(c) && n == 0)
        f->v = 0;
    else
        conn_set_wide(t, c, f, (int64_t)n);
}

/* Payload bytes side s sent. */
static inline uint64_t conn_bytes(const struct conn *c, enum side s)
{
    return (uint64_t)conn_rare(c)->ep[s].bytes_hi << 32 | c->ep[s].bytes;
}

/* Index of name in names[0..count) (a NULL entry never matches); false when
 * absent. Shared by the *_from_name() parsers. */
bool name_lookup(const char *const *names, unsigned count, const char *name, unsigned *index);

/* Address and port of a side, in the connection's orientation. */
struct ip_addr conn_addr(const struct conn *c, enum side s);
uint16_t conn_port(const struct conn *c, enum side s);

/* conn_addr() written to *a as two 8-byte words (an IPv4 address is
 * its 4 bytes, then zeros). For keys that are then hashed and compared a
 * word at a time: a load is forwarded from one store that covers it, and
 * waits for the cache when it spans narrower ones, as a struct built with
 * a memset() and a 4-byte copy, then read 8 or 16 bytes at a time, does. */
static inline void conn_addr_words(const struct conn *c, enum side s, struct ip_addr *a)
{
    bool lo = ((c->flags & CONN_CLIENT_IS_LO) != 0) == (s == SIDE_CLIENT);
    uint64_t w0, w1 = 0;
    if (c->key.ip_version == 6) {
        const struct ip_addr *v6 = lo ? &c->key.addr.v6->lo : &c->key.addr.v6->hi;
        memcpy(&w0, v6->b, 8);
        memcpy(&w1, v6->b + 8, 8);
    } else {
        uint32_t v4;
        memcpy(&v4, &c->key.addr.v4[lo ? 0 : 1], 4);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        w0 = v4;
#else
        w0 = (uint64_t)v4 << 32;
#endif
    }
    memcpy(a->b, &w0, 8);
    memcpy(a->b + 8, &w1, 8);
}

/* Bytes sent by side s that the peer has not acknowledged (0 if unknown). */
uint32_t conn_in_flight(const struct conn *c, enum side s);

#endif
