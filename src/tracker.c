/* SPDX-License-Identifier: MIT */
/*
 * tracker.c - rebuild TCP connections from segments, as an observer on the
 * path sees them.
 *
 * For each segment: find the connection (flow_table), decide whether it starts
 * a new one on the same tuple, then update, in this order, the sender's
 * handshake, the ACK it carries (progress for the peer's data, FIN acked),
 * its sequence space (new data, retransmission, keepalive, zero-window
 * probe), the window it advertises, its FIN, and the stall tracking of both
 * directions. RST short-cuts all of that.
 *
 * Endpoint states change in exactly one function, endpoint_event(), which has
 * one handler per state and counts the combinations it has no rule for.
 *
 * References: RFC 9293 (TCP; states, sequence space), RFC 1982 (serial
 * arithmetic), RFC 7323 (window scale, timestamps), RFC 2018 (SACK),
 * RFC 1122 section 4.2.3.6 (keepalive), RFC 9293 section 3.8.6.1 (zero-window
 * probing), RFC 5961 (RST/SYN on established connections).
 * Not done here: reassembly, payload inspection, classification.
 */
#include "tracker.h"

#include <stdlib.h>
#include <string.h>

void tracker_config_default(struct tracker_config *cfg)
{
    cfg->attempt_timeout_ns = 3000000000LL;
    cfg->stall_threshold_ns = 1000000000LL;
    cfg->linger_ns = 4000000000LL;
    cfg->max_connections = 1000000;
    cfg->max_handshakes = 100000;
    cfg->time_unit = 0;
    cfg->fast_paths = true;
}

const char *conn_end_name(enum conn_end e)
{
    switch (e) {
    case END_FINISHED:
        return "finished";
    case END_REPLACED:
        return "replaced";
    case END_EVICTED:
        return "evicted";
    case END_CAPTURE_END:
        return "capture_end";
    }
    return "unknown";
}

const char *tracker_event_name(enum tracker_event e)
{
    static const char *const names[TEV__COUNT] = {
        [TEV_REFUSED] = "refused",         [TEV_RESET] = "reset",
        [TEV_HALF_OPEN] = "half_open",     [TEV_HALF_CLOSED] = "half_closed",
        [TEV_CLOSED] = "closed",           [TEV_STALL_START] = "stall_start",
        [TEV_STALL_END] = "stall_end",     [TEV_TIMED_OUT] = "timed_out",
    };
    if ((unsigned)e >= TEV__COUNT)
        return "unknown";
    return names[e];
}

/* ======================================================================== */
/* Endpoint state machine                                                    */

enum ep_event {
    EV_SEND_SYN = 0,  /* it sent SYN */
    EV_SEND_SYNACK,   /* it sent SYN-ACK */
    EV_HANDSHAKE_ACK, /* the handshake's third segment was seen */
    EV_SEND_FIN,      /* it sent FIN */
    EV_RECV_FIN,      /* its peer sent FIN */
    EV_FIN_ACKED,     /* its FIN was acknowledged */
    EV_RST,           /* a RST ended the connection */
};

/* Each handler returns the next state, or TCP_STATE__COUNT for "no rule". */
static enum tcp_state on_closed(enum ep_event ev)
{
    switch (ev) {
    case EV_SEND_SYN:
        return TCP_SYN_SENT;
    case EV_SEND_SYNACK:
        return TCP_SYN_RECEIVED;
    case EV_HANDSHAKE_ACK: /* its SYN or SYN-ACK was out of sight */
        return TCP_ESTABLISHED;
    case EV_RST:
        return TCP_CLOSED;
    default:
        return TCP_STATE__COUNT;
    }
}

static enum tcp_state on_listen(enum ep_event ev)
{
    switch (ev) {
    case EV_SEND_SYNACK:
        return TCP_SYN_RECEIVED;
    case EV_HANDSHAKE_ACK:
        return TCP_ESTABLISHED;
    case EV_RST:
        return TCP_CLOSED;
    default:
        return TCP_STATE__COUNT;
    }
}

static enum tcp_state on_syn_sent(enum ep_event ev)
{
    switch (ev) {
    case EV_SEND_SYN:
        return TCP_SYN_SENT;
    case EV_SEND_SYNACK: /* simultaneous open */
        return TCP_SYN_RECEIVED;
    case EV_HANDSHAKE_ACK:
        return TCP_ESTABLISHED;
    case EV_SEND_FIN: /* one-sided capture: handshake done out of sight */
        return TCP_FIN_WAIT_1;
    case EV_RECV_FIN:
        return TCP_CLOSE_WAIT;
    case EV_RST:
        return TCP_CLOSED;
    default:
        return TCP_STATE__COUNT;
    }
}

static enum tcp_state on_syn_received(enum ep_event ev)
{
    switch (ev) {
    case EV_SEND_SYNACK:
        return TCP_SYN_RECEIVED;
    case EV_HANDSHAKE_ACK:
        return TCP_ESTABLISHED;
    case EV_SEND_FIN:
        return TCP_FIN_WAIT_1;
    case EV_RECV_FIN:
        return TCP_CLOSE_WAIT;
    case EV_RST:
        return TCP_CLOSED;
    default:
        return TCP_STATE__COUNT;
    }
}

static enum tcp_state on_established(enum ep_event ev)
{
    switch (ev) {
    case EV_HANDSHAKE_ACK:
        return TCP_ESTABLISHED;
    case EV_SEND_FIN:
        return TCP_FIN_WAIT_1;
    case EV_RECV_FIN:
        return TCP_CLOSE_WAIT;
    case EV_RST:
        return TCP_CLOSED;
    default:
        return TCP_STATE__COUNT;
    }
}

static enum tcp_state on_fin_wait_1(enum ep_event ev)
{
    switch (ev) {
    case EV_FIN_ACKED:
        return TCP_FIN_WAIT_2;
    case EV_RECV_FIN:
        return TCP_CLOSING;
    case EV_RST:
        return TCP_CLOSED;
    default:
        return TCP_STATE__COUNT;
    }
}

static enum tcp_state on_fin_wait_2(enum ep_event ev)
{
    switch (ev) {
    case EV_RECV_FIN:
        return TCP_TIME_WAIT;
    case EV_RST:
        return TCP_CLOSED;
    default:
        return TCP_STATE__COUNT;
    }
}

static enum tcp_state on_closing(enum ep_event ev)
{
    switch (ev) {
    case EV_FIN_ACKED:
        return TCP_TIME_WAIT;
    case EV_RST:
        return TCP_CLOSED;
    default:
        return TCP_STATE__COUNT;
    }
}

static enum tcp_state on_time_wait(enum ep_event ev)
{
    switch (ev) {
    case EV_RECV_FIN: /* retransmitted FIN */
    case EV_RST:
        return TCP_TIME_WAIT;
    default:
        return TCP_STATE__COUNT;
    }
}

static enum tcp_state on_close_wait(enum ep_event ev)
{
    switch (ev) {
    case EV_SEND_FIN:
        return TCP_LAST_ACK;
    case EV_RECV_FIN:
        return TCP_CLOSE_WAIT;
    case EV_RST:
        return TCP_CLOSED;
    default:
        return TCP_STATE__COUNT;
    }
}

static enum tcp_state on_last_ack(enum ep_event ev)
{
    switch (ev) {
    case EV_FIN_ACKED:
    case EV_RST:
        return TCP_CLOSED;
    case EV_RECV_FIN:
        return TCP_LAST_ACK;
    default:
        return TCP_STATE__COUNT;
    }
}

/* The one place an endpoint's state changes. */
static void endpoint_event(struct tracker *t, struct endpoint *e, enum ep_event ev)
{
    enum tcp_state next;
    switch ((enum tcp_state)e->state) {
    case TCP_CLOSED:
        next = on_closed(ev);
        break;
    case TCP_LISTEN:
        next = on_listen(ev);
        break;
    case TCP_SYN_SENT:
        next = on_syn_sent(ev);
        break;
    case TCP_SYN_RECEIVED:
        next = on_syn_received(ev);
        break;
    case TCP_ESTABLISHED:
        next = on_established(ev);
        break;
    case TCP_FIN_WAIT_1:
        next = on_fin_wait_1(ev);
        break;
    case TCP_FIN_WAIT_2:
        next = on_fin_wait_2(ev);
        break;
    case TCP_CLOSING:
        next = on_closing(ev);
        break;
    case TCP_TIME_WAIT:
        next = on_time_wait(ev);
        break;
    case TCP_CLOSE_WAIT:
        next = on_close_wait(ev);
        break;
    case TCP_LAST_ACK:
        next = on_last_ack(ev);
        break;
    default:
        next = TCP_STATE__COUNT;
        break;
    }
    if (next == TCP_STATE__COUNT) {
        t->cnt.unhandled_state++;
        return;
    }
    e->state = (uint8_t)next & 0xFu; /* enum tcp_state: 11 values */
}

/* ======================================================================== */
/* Helpers                                                                   */

enum side tracker_sender_side(const struct conn *c, const struct tcp_segment *seg)
{
    struct ip_addr ca = conn_addr(c, SIDE_CLIENT), sa = conn_addr(c, SIDE_SERVER);
    if (seg->sport == conn_port(c, SIDE_CLIENT) && memcmp(&ca, &seg->src, sizeof ca) == 0 &&
        (seg->dport != conn_port(c, SIDE_SERVER) || memcmp(&sa, &seg->dst, sizeof sa) == 0))
        return SIDE_CLIENT;
    return SIDE_SERVER;
}

/* The side that sent a segment, from which end of c's key its source is
 * (flow_key_make()). The same as tracker_sender_side() without comparing
 * addresses: a connection between two identical endpoints has the source
 * "lo" both ways, and its client is "lo" too, so every segment is the
 * client's, as tracker_sender_side() says. */
static enum side side_of(const struct conn *c, bool src_is_lo)
{
    return src_is_lo == ((c->flags & CONN_CLIENT_IS_LO) != 0) ? SIDE_CLIENT : SIDE_SERVER;
}

/* Ports at or above this are taken as ephemeral (Linux's default range is
 * 32768-60999, Windows' and IANA's 49152-65535). */
#define EPHEMERAL_PORT_MIN 32768u
#define WELL_KNOWN_PORT_MAX 1023u

/* Port heuristic for a connection whose handshake we did not see (see
 * docs/verdicts.md): true when the segment's source looks like the server. */
static bool source_looks_like_server(uint16_t sport, uint16_t dport)
{
    bool s_wk = sport <= WELL_KNOWN_PORT_MAX, d_wk = dport <= WELL_KNOWN_PORT_MAX;
    if (s_wk != d_wk)
        return s_wk;
    bool s_eph = sport >= EPHEMERAL_PORT_MIN, d_eph = dport >= EPHEMERAL_PORT_MIN;
    if (s_eph != d_eph)
        return d_eph;
    if (sport != dport)
        return sport < dport;
    return false; /* same port: the first sender is the client */
}

static int64_t clamp_us_to_u32(int64_t us)
{
    if (us < 0)
        return 0;
    if (us > (int64_t)UINT32_MAX)
        return (int64_t)UINT32_MAX;
    return us;
}

/* Bytes of payload (not SYN/FIN) sent by s that are unacknowledged. */
static uint32_t data_in_flight(const struct conn *c, enum side s)
{
    uint32_t n = conn_in_flight(c, s);
    const struct endpoint *e = &c->ep[s];
    if (n > 0 && (e->flags & EP_FIN) && !(e->flags & EP_FIN_ACKED))
        n--;
    return n;
}

/* The rare block of c, allocated on first use. Out of memory, the evidence
 * goes to a scratch block and the failure is counted. */
static struct conn_rare *rare_of(struct tracker *t, struct conn *c)
{
    if (c->rare)
        return c->rare;
    struct conn_rare *r = flow_table_rare(&t->table, c);
    if (r)
        return r;
    t->cnt.rare_failures++;
    memset(&t->rare_sink, 0, sizeof t->rare_sink);
    return &t->rare_sink;
}

/* Keeps v as the sequence number of s's FIN in the rare block; without one
 * (no memory: counted) the FIN stays at snd_nxt - 1, which is closer than
 * the rare block's absence would read (0). */
static void fin_seq_set(struct tracker *t, struct conn *c, enum side s, uint32_t v)
{
    struct conn_rare *r = rare_of(t, c);
    if (r == &t->rare_sink)
        return;
    r->fin_seq[s] = v;
    c->ep[s].flags |= EP_FIN_KEPT;
}

/* The sequence number of s's FIN is snd_nxt - 1 while snd_nxt stays there
 * (ep_fin_seq()): before snd_nxt moves on, it goes to the rare block. */
static void fin_seq_keep(struct tracker *t, struct conn *c, enum side s)
{
    struct endpoint *e = &c->ep[s];
    if ((e->flags & (EP_FIN | EP_FIN_KEPT)) == EP_FIN)
        fin_seq_set(t, c, s, e->snd_nxt - 1);
}

/* ======================================================================== */
/* Stall episodes                                                            */

/* Payload bytes sent by s: 32 bits in the endpoint, what carries over in the
 * rare block (a connection that sends 4 GiB one way gets one). */
static inline void add_bytes(struct tracker *t, struct conn *c, enum side s, uint32_t len)
{
    struct endpoint *e = &c->ep[s];
    uint32_t sum = e->bytes + len;
    if (sum < len)
        rare_of(t, c)->ep[s].bytes_hi++;
    e->bytes = sum;
}

/* Forget the stall tracking of data sent by s. */
static void stall_clear(struct tracker *t, struct conn *c, enum side s)
{
    struct endpoint *e = &c->ep[s];
    memset(&e->stall, 0, sizeof e->stall);
    if (c->flags & CONN_WIDE) {
        conn_set_time(&t->table, c, &e->stall_since, 0);
        conn_set_frame(&t->table, c, &e->stall_frame, 0);
        conn_set_dur(&t->table, c, &e->stall_idle_before, 0);
    } else { /* 0 is 0 in every unit */
        e->stall_since.v = e->stall_frame.v = e->stall_idle_before.v = 0;
    }
    if (c->rare) {
        c->rare->ep[s].zero_since_ns = 0;
        c->rare->ep[s].zero_frame = 0;
    }
}

/* Close the episode of data sent by s at time now (progress, or the end). */
static void stall_close(struct tracker *t, struct conn *c, enum side s, int64_t now_ns)
{
    struct stall_track *st = &c->ep[s].stall;
    enum stall_kind k = stall_track_kind(st);
    uint64_t frame;
    int64_t start = stall_track_start(c, s, &frame);
    if (k != STALL_NONE && now_ns - start >= t->cfg.stall_threshold_ns) {
        int64_t dur = now_ns - start;
        struct conn_rare *r = rare_of(t, c);
        r->stall_episodes++;
        if (dur > r->stall_longest.seconds_ns || r->stall_longest.kind == STALL_NONE) {
            r->stall_longest.start_ns = start;
            r->stall_longest.start_frame = frame;
            r->stall_longest.idle_before_ns = conn_dur(c, &c->ep[s].stall_idle_before);
            r->stall_longest.seconds_ns = dur;
            r->stall_longest.kind = (uint8_t)k;
            r->stall_longest.blamed = (uint8_t)side_peer(s);
            r->stall_longest.ongoing = 0;
        }
        if (t->event)
            t->event(t->ctx, c, TEV_STALL_END, now_ns);
    }
    stall_clear(t, c, s);
}

/* Re-open tracking for data sent by s after progress at now. */
static void stall_reopen(struct tracker *t, struct conn *c, enum side s, int64_t now_ns)
{
    struct stall_track *st = &c->ep[s].stall;
    if (data_in_flight(c, s) > 0) {
        st->inflight = 1;
        conn_set_time(&t->table, c, &c->ep[s].stall_since, now_ns);
        conn_set_frame(&t->table, c, &c->ep[s].stall_frame, conn_frame(c, &c->last_frame));
    }
    if (c->ep[side_peer(s)].flags & EP_ZERO_WINDOW) {
        struct ep_rare *r = &rare_of(t, c)->ep[s];
        st->zero = 1;
        r->zero_since_ns = now_ns;
        r->zero_frame = conn_frame(c, &c->last_frame);
    }
}

/* After a segment: start tracking newly outstanding data, note window-full. */
static void stall_observe(struct tracker *t, struct conn *c, enum side s, int64_t now_ns)
{
    struct stall_track *st = &c->ep[s].stall;
    const struct endpoint *r = &c->ep[side_peer(s)];
    uint32_t inflight = data_in_flight(c, s);
    if (inflight > 0 && !st->inflight) {
        st->inflight = 1;
        conn_set_time(&t->table, c, &c->ep[s].stall_since, now_ns);
        conn_set_frame(&t->table, c, &c->ep[s].stall_frame, conn_frame(c, &c->last_frame));
        conn_set_dur(&t->table, c, &c->ep[s].stall_idle_before, t->gap_ns);
    }
    if (inflight > 0 && r->win_bytes > 0 && (c->flags & CONN_WSCALE_KNOWN) &&
        inflight >= r->win_bytes)
        st->window_full = 1;
}

/* ======================================================================== */
/* Connection life                                                           */

static void emit_and_free(struct tracker *t, struct conn *c, enum conn_end why, int64_t now_ns)
{
    if (t->linger_head == flow_table_idx(&t->table, c) + 1)
        t->linger_head = 0;
    flow_table_remove(&t->table, c);
    t->emit(t->ctx, c, why, now_ns);
    flow_table_free_conn(&t->table, c);
}

/* Finished connections wait linger_ns after their last frame. Called for
 * every frame: the time of the lingering list's head is remembered
 * (t->linger_head, t->linger_head_ns), so the head -- a cold connection --
 * is read only when it changes, or when its time has come. */
static void expire_lingering(struct tracker *t, int64_t now_ns)
{
    uint32_t h;
    while ((h = t->table.linger.head)) {
        struct conn *head = flow_list_head(&t->table, &t->table.linger); /* not read here */
        if (h != t->linger_head) {
            t->linger_head = h;
            t->linger_head_ns = head->last_ns;
            flow_table_prefetch_heads(&t->table, &t->table.linger);
        }
        if (now_ns - t->linger_head_ns < t->cfg.linger_ns)
            return;
        emit_and_free(t, head, END_FINISHED, now_ns);
    }
}

/* ---- evicted tuples ------------------------------------------------------
 *
 * An evicted established connection is reported at once; if its tuple comes
 * back (the rest of a long connection that was idle), the record made for
 * it says which connection it continues (resumes) and keeps that one's roles
 * instead of guessing them from the ports: not a new connection out of
 * nowhere. The tracker remembers the tuples of recent evictions for that in
 * a fixed array of slots, indexed like the flow table (by the tuple's hash)
 * and holding a 64-bit fingerprint of the tuple (a second, independent hash:
 * a false match has odds of ~2^-64), the evicted connection's id and its
 * roles. A slot is overwritten by a later eviction that hashes to it: the
 * memory is bounded (16 bytes a slot, a slot per 8 connections of
 * --max-connections, from 1,024 to 2^20: 2 MiB at the default) and keeps the
 * most recent evictions. Connections evicted in their handshake are not
 * remembered: a SYN flood's are spoofed and never come back, and a real
 * client's retry comes back after more evictions than a bounded memory holds
 * (a flood at the handshake cap evicts one a SYN); writing a slot a SYN made
 * a flood a third slower. Their next segment opens a record of its own: a
 * retried SYN a new attempt, a resent SYN-ACK one whose roles it gives. */
struct evicted_slot {
    uint64_t fp;   /* the tuple's fingerprint (never 0); 0: empty */
    uint64_t info; /* the evicted connection's id << 2 | EVS_* */
};
#define EVS_CLIENT_IS_LO 1u  /* its client was the key's lo side */
#define EVS_ROLES_GUESSED 2u /* ... as the port heuristic guessed */
#define EVICTED_SLOTS_MIN 1024u
#define EVICTED_SLOTS_MAX ((size_t)1 << 20)

/* The fingerprint of the flow key whose five 64-bit words are w: built like
 * flow_key_hash() (the words times odd constants, summed, then mixed) with
 * other constants and murmur3's finaliser, so it does not depend on the
 * slot index. */
static uint64_t tuple_fingerprint(const uint64_t w[5])
{
    uint64_t h = w[0] * 0xa0761d6478bd642full + w[1] * 0xe7037ed1a0b428dbull +
                 w[2] * 0x8ebc6af09c88c6e3ull + w[3] * 0x589965cc75374cc3ull +
                 w[4] * 0x1d8e4e27c47d124full;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h | 1;
}

static uint64_t flow_key_fingerprint(const struct flow_key *k)
{
    uint64_t w[5];
    _Static_assert(sizeof *k == sizeof w, "the flow key is five words");
    memcpy(w, k, sizeof w);
    return tuple_fingerprint(w);
}

/* The same for a connection's key, without building the flow key: an IPv4
 * address is its 4 bytes then zeros in the flow key (conn.h). */
static uint64_t conn_key_fingerprint(const struct conn_key *ck)
{
    uint64_t w[5] = {0, 0, 0, 0, 0};
    if (ck->ip_version == 6) {
        memcpy(w, ck->addr.v6, 4 * sizeof w[0]);
    } else {
        memcpy(&w[0], &ck->addr.v4[0], 4);
        memcpy(&w[2], &ck->addr.v4[1], 4);
    }
    memcpy(&w[4], &ck->port_lo, sizeof w[4]); /* ports, version, padding: one word in both */
    return tuple_fingerprint(w);
}

static void evicted_remember(struct tracker *t, const struct conn *c)
{
    if (!t->evicted) {
        size_t n = EVICTED_SLOTS_MIN;
        while (n < t->cfg.max_connections / 8 && n < EVICTED_SLOTS_MAX)
            n *= 2;
        t->evicted = calloc(n, sizeof *t->evicted);
        if (!t->evicted)
            return; /* (only the links are lost; tried again at the next eviction) */
        t->evicted_mask = n - 1;
    }
    /* (c is removed but its place not yet freed: its hash is the one its
     * removal used) */
    struct evicted_slot *sl = &t->evicted[flow_table_conn_hash(&t->table, c) & t->evicted_mask];
    sl->fp = conn_key_fingerprint(&c->key);
    sl->info = conn_id(c) << 2 | ((c->flags & CONN_CLIENT_IS_LO) ? EVS_CLIENT_IS_LO : 0) |
               ((c->flags & CONN_ROLES_GUESSED) ? EVS_ROLES_GUESSED : 0);
}

/* The slot's info (id << 2 | EVS_*) of the evicted connection that a new
 * connection on p's tuple, opened by seg, continues; 0: none. The first new
 * connection on the tuple uses the memory up: a SYN opens a new connection
 * (the port was reused: an established connection would have been replaced
 * by it), and whatever comes after that new one is not the evicted one's. */
static uint64_t evicted_match(struct tracker *t, const struct tracker_prep *p,
                              const struct tcp_segment *seg)
{
    struct evicted_slot *sl = &t->evicted[p->hash & t->evicted_mask];
    if (!sl->fp || sl->fp != flow_key_fingerprint(&p->key))
        return 0;
    sl->fp = 0;
    if ((seg->flags & (TCP_SYN | TCP_ACK | TCP_RST)) == TCP_SYN)
        return 0;
    return sl->info;
}

/* Reports the least recently active connection of list l (not empty) as
 * evicted. (Inlined: once per SYN of a flood at the handshake cap.) */
static inline __attribute__((always_inline)) void
evict(struct tracker *t, const struct flow_list *l, bool handshake_cap, int64_t now_ns)
{
    struct conn *c = flow_list_head(&t->table, l);
    c->flags |= CONN_EVICTED;
    t->cnt.evicted++;
    t->cnt.evicted_handshakes += handshake_cap;
    flow_table_remove(&t->table, c); /* (never a lingering one: emit_and_free() not needed) */
    if (c->flags & CONN_ESTABLISHED)
        evicted_remember(t, c);
    /* What the reporters see: CONN_IN_HANDSHAKE when that cap evicted it. */
    if (!handshake_cap)
        c->flags &= (uint16_t)~CONN_IN_HANDSHAKE;
    t->emit(t->ctx, c, END_EVICTED, now_ns);
    flow_table_free_conn(&t->table, c);
    flow_table_prefetch_heads(&t->table, l);
}

/* Make room for one more connection (one that begins its handshake when
 * handshake is true). Connections still in their handshake are capped
 * apart (max_handshakes), so a SYN flood evicts its own half-open
 * connections, not the established ones (as long as those fit in the rest
 * of the table). At the table's cap a lingering
 * connection goes first (it is finished anyway), then the least recently
 * active of all: of the two lists' heads, the one whose last frame came
 * first. */
static void make_room(struct tracker *t, bool handshake, int64_t now_ns)
{
    struct flow_table *tb = &t->table;
    /* (With both caps equal the table's decides: the same victim, and it is
     * reported as the table's cap's, the only one the user set.) */
    if (handshake && t->cfg.max_handshakes < t->cfg.max_connections)
        while (tb->handshake.count >= t->cfg.max_handshakes && tb->handshake.count > 0)
            evict(t, &tb->handshake, true, now_ns);
    while (tb->count >= t->cfg.max_connections && tb->count > 0) {
        struct conn *c = flow_list_head(tb, &tb->linger);
        if (c) {
            emit_and_free(t, c, END_FINISHED, now_ns);
            continue;
        }
        struct conn *a = flow_list_head(tb, &tb->active), *h = flow_list_head(tb, &tb->handshake);
        bool older_active =
            a && (!h || conn_frame(a, &a->last_frame) < conn_frame(h, &h->last_frame));
        evict(t, older_active ? &tb->active : &tb->handshake, false, now_ns);
    }
}

static void mark_done(struct tracker *t, struct conn *c, int64_t now_ns)
{
    if (!(c->flags & CONN_DONE)) {
        stall_close(t, c, SIDE_CLIENT, now_ns);
        stall_close(t, c, SIDE_SERVER, now_ns);
    }
    flow_table_mark_done(&t->table, c);
}

/* Both FINs sent and both acknowledged: nothing more can come but a stray
 * ACK, so the connection starts lingering. While a FIN is unacknowledged its
 * sender keeps retransmitting it (for up to a minute or more, with backoff):
 * the connection stays active so those retransmissions are not mistaken for
 * a new connection picked up mid-stream. */
static void maybe_fully_closed(struct tracker *t, struct conn *c, int64_t now_ns)
{
    const uint16_t both = EP_FIN | EP_FIN_ACKED;
    if ((c->ep[SIDE_CLIENT].flags & both) == both && (c->ep[SIDE_SERVER].flags & both) == both)
        mark_done(t, c, now_ns);
}

/* Does this segment start a new connection on c's tuple? (RFC 9293 3.10.7.4,
 * RFC 5961 4: a SYN on a live connection is not a new one.) */
static bool starts_new_connection(const struct conn *c, enum side s,
                                  const struct tcp_segment *seg)
{
    if ((seg->flags & (TCP_SYN | TCP_ACK | TCP_RST)) != TCP_SYN)
        return false;
    if (c->flags & CONN_DONE)
        return true;
    const struct endpoint *e = &c->ep[s];
    if (c->flags & CONN_ESTABLISHED)
        return false;
    /* An attempt that never completed, and a SYN with a new ISN: a new try. */
    return s == SIDE_CLIENT && (e->flags & EP_SYN) && seg->seq != e->isn;
}

static struct conn *new_connection(struct tracker *t, const struct tracker_prep *p,
                                   const struct tcp_segment *seg, const struct frame *f)
{
    bool src_is_lo = p->src_is_lo;
    /* A SYN or SYN-ACK begins a handshake; anything else is picked up
     * mid-stream, established (below). */
    bool handshake = (seg->flags & TCP_SYN) != 0;
    if (t->next_id >= CONN_U48_MAX || f->number > CONN_U48_MAX) { /* (conn.h) */
        t->cnt.alloc_failures++;
        return NULL;
    }
    make_room(t, handshake, f->ts_ns);
    struct conn *c = flow_table_add_hashed(&t->table, &p->key, p->hash, handshake);
    if (!c) {
        t->cnt.alloc_failures++;
        return NULL;
    }
    t->cnt.connections++;
    conn_set_id(c, ++t->next_id);
    c->tunit = t->cfg.time_unit;
    conn_set_first_frame(c, f->number);
    c->start_ns = f->ts_ns;
    c->last_ns = f->ts_ns;

    bool src_is_client;
    uint8_t syn_ack = seg->flags & (TCP_SYN | TCP_ACK);
    if (seg->flags & TCP_RST) {
        src_is_client = !source_looks_like_server(seg->sport, seg->dport);
        c->flags |= CONN_ROLES_GUESSED;
    } else if (syn_ack == TCP_SYN) {
        src_is_client = true;
    } else if (syn_ack == (TCP_SYN | TCP_ACK)) {
        src_is_client = false;
    } else {
        src_is_client = !source_looks_like_server(seg->sport, seg->dport);
        c->flags |= CONN_ROLES_GUESSED;
    }
    uint64_t ev = t->evicted ? evicted_match(t, p, seg) : 0;
    struct conn_rare *r = ev ? rare_of(t, c) : NULL;
    if (r && r != &t->rare_sink) { /* (no block: no link, the roles guessed as they were) */
        /* the continuation of an evicted connection: a link, and its roles
         * (when the ports guessed them there, they stay guessed here) */
        r->resumes = ev >> 2;
        if (c->flags & CONN_ROLES_GUESSED) {
            src_is_client = ((ev & EVS_CLIENT_IS_LO) != 0) == src_is_lo;
            if (!(ev & EVS_ROLES_GUESSED))
                c->flags &= (uint16_t)~CONN_ROLES_GUESSED;
        }
        t->cnt.resumed++;
    }
    if (src_is_client == src_is_lo)
        c->flags |= CONN_CLIENT_IS_LO;

    if (!(seg->flags & TCP_SYN)) {
        /* Mid-stream: both sides are taken as established. */
        c->ep[SIDE_CLIENT].state = TCP_ESTABLISHED;
        c->ep[SIDE_SERVER].state = TCP_ESTABLISHED;
        c->flags |= CONN_ESTABLISHED;
    }
    c->handshake = HS_MISSING;
    return c;
}

static void fire_due_events(struct tracker *t, struct conn *c, int64_t now_ns);

/* ======================================================================== */
/* Segment handling                                                          */

static void take_syn_options(struct conn *c, struct endpoint *e, const struct tcp_segment *seg)
{
    if (seg->has_mss)
        e->mss = seg->mss;
    if (seg->has_wscale) {
        e->flags |= EP_WSCALE;
        e->wscale = seg->wscale & 0xFu; /* the decoder caps it at 14 */
    }
    if (seg->sack_permitted)
        e->flags |= EP_SACK_OK;
    if (seg->has_timestamps)
        e->flags |= EP_TIMESTAMPS;
    const struct endpoint *cl = &c->ep[SIDE_CLIENT], *sv = &c->ep[SIDE_SERVER];
    if ((cl->flags & EP_SYN) && (sv->flags & EP_SYN)) {
        c->flags |= CONN_WSCALE_KNOWN;
        if ((cl->flags & EP_WSCALE) && (sv->flags & EP_WSCALE))
            c->flags |= CONN_WSCALE_ON;
    }
}

/* The first SYN (or SYN-ACK) from side s: its sequence start, frame, time
 * and options. */
static inline __attribute__((always_inline)) void
first_syn(struct tracker *t, struct conn *c, enum side s, const struct tcp_segment *seg,
          const struct frame *f)
{
    struct endpoint *e = &c->ep[s];
    bool is_synack = (seg->flags & TCP_ACK) != 0;
    e->flags |= EP_SYN | EP_SEQ_KNOWN;
    e->isn = seg->seq;
    fin_seq_keep(t, c, s);
    e->snd_nxt = seg->seq + 1;
    conn_set_frame(&t->table, c, &e->frame_syn, f->number);
    conn_set_time(&t->table, c, &e->ts_syn, f->ts_ns);
    take_syn_options(c, e, seg);
    endpoint_event(t, e, is_synack ? EV_SEND_SYNACK : EV_SEND_SYN);
    if (s == SIDE_CLIENT && !is_synack)
        c->handshake = HS_PARTIAL;
    else if (s == SIDE_SERVER && c->handshake == HS_MISSING)
        c->handshake = HS_PARTIAL;
}

static void on_syn(struct tracker *t, struct conn *c, enum side s, const struct tcp_segment *seg,
                   const struct frame *f)
{
    struct endpoint *e = &c->ep[s];
    bool is_synack = (seg->flags & TCP_ACK) != 0;
    if (e->syns < UINT8_MAX)
        e->syns++;
    if (!(e->flags & EP_SYN)) {
        first_syn(t, c, s, seg, f);
        return;
    }
    /* A retransmitted SYN / SYN-ACK. */
    if (s == SIDE_CLIENT) {
        struct conn_rare *r = rare_of(t, c);
        if (e->syns >= 2 && e->syns - 2 < CONN_MAX_SYN_TIMES)
            r->syn_times_us[e->syns - 2] =
                (uint32_t)clamp_us_to_u32((f->ts_ns - conn_time(c, &e->ts_syn)) / 1000);
        r->syn_last_ns = f->ts_ns; /* (conn_syn_last()) */
    }
    /* the ACK reached the server, yet it did not take it (accept queue full?) */
    if (s == SIDE_SERVER && is_synack && (c->flags & CONN_ESTABLISHED))
        rare_of(t, c)->ep[s].synack_after_ack++;
    if (s == SIDE_SERVER && is_synack && !(c->flags & CONN_ESTABLISHED) && t->event &&
        e->syns == 2)
        t->event(t->ctx, c, TEV_HALF_OPEN, f->ts_ns);
}

/* The third segment of the handshake, or evidence that it happened. */
static void maybe_established(struct tracker *t, struct conn *c, enum side s,
                              const struct tcp_segment *seg, const struct frame *f)
{
    if (c->flags & CONN_ESTABLISHED)
        return;
    struct endpoint *cl = &c->ep[SIDE_CLIENT], *sv = &c->ep[SIDE_SERVER];
    bool done = false;
    if (s == SIDE_CLIENT && (seg->flags & TCP_ACK)) {
        if (sv->flags & EP_SYN)
            done = seq_geq(seg->ack, sv->isn + 1);
        else if (cl->flags & EP_SYN) {
            /* One-sided capture: the client acknowledges a SYN-ACK we did
             * not see. */
            done = true;
            c->flags |= CONN_ONE_SIDED;
        }
    } else if (s == SIDE_SERVER && (sv->flags & EP_SYN) &&
               (seg->payload_bytes > 0 || (seg->flags & TCP_FIN))) {
        done = true; /* the server sends data: it got the ACK we missed */
    }
    if (!done)
        return;
    c->flags |= CONN_ESTABLISHED;
    flow_table_mark_established(&t->table, c);
    conn_set_frame(&t->table, c, &c->frame_established, f->number);
    conn_set_time(&t->table, c, &c->established, f->ts_ns);
    if ((cl->flags & EP_SYN) && (sv->flags & EP_SYN) && s == SIDE_CLIENT)
        c->handshake = HS_COMPLETE;
    else if (c->handshake == HS_MISSING)
        c->handshake = HS_PARTIAL;
    if (cl->state < TCP_ESTABLISHED)
        endpoint_event(t, cl, EV_HANDSHAKE_ACK);
    if (sv->state < TCP_ESTABLISHED)
        endpoint_event(t, sv, EV_HANDSHAKE_ACK);
}

/* Would the receiver accept this RST? (RFC 9293 3.10.7.3 and 3.10.7.4,
 * RFC 5961 3.2.) In SYN-SENT only a RST that acknowledges the SYN counts;
 * later, its sequence number must fall in the receiver's window (or be the
 * sender's next sequence number). A RST the receiver would drop -- forged,
 * stale, or injected -- does not end the connection; it is counted. */
static bool rst_acceptable(const struct conn *c, enum side s, const struct tcp_segment *seg)
{
    const struct endpoint *e = &c->ep[s], *r = &c->ep[side_peer(s)];
    if ((r->flags & EP_SYN) && !(e->flags & EP_SYN) && r->state == TCP_SYN_SENT &&
        !(c->flags & CONN_ESTABLISHED))
        return (seg->flags & TCP_ACK) && seg->ack == r->isn + 1;
    if ((e->flags & EP_SEQ_KNOWN) && seg->seq == e->snd_nxt)
        return true;
    if (!(r->flags & EP_ACK_KNOWN))
        return true;
    uint32_t win = r->win_bytes > 0 ? r->win_bytes : 1;
    return seq_geq(seg->seq, r->ack) && seq_lt(seg->seq, r->ack + win);
}

static void on_rst(struct tracker *t, struct conn *c, enum side s, const struct tcp_segment *seg,
                   const struct frame *f, int64_t idle_ns)
{
    struct endpoint *e = &c->ep[s];
    if (!rst_acceptable(c, s, seg)) {
        rare_of(t, c)->ep[s].rst_ignored++;
        return;
    }
    e->flags |= EP_RST;
    struct conn_rare *r = rare_of(t, c);
    if (!r->ep[s].frame_rst) {
        r->ep[s].frame_rst = f->number;
        r->ep[s].rst_ttl = seg->ttl;
    }
    if (c->flags & CONN_RST)
        return; /* the first RST decided */
    const struct endpoint *cl = &c->ep[SIDE_CLIENT], *sv = &c->ep[SIDE_SERVER];
    int fins = ((cl->flags & EP_FIN) != 0) + ((sv->flags & EP_FIN) != 0);
    c->flags |= CONN_RST;
    r->frame_rst = f->number;
    r->rst_ns = f->ts_ns;
    c->rst_side = s == SIDE_SERVER ? 1u : 0u;
    r->idle_before_rst_ns = idle_ns;
    if (fins == 2)
        c->rst_phase = PHASE_CLOSED;
    else if (fins == 1)
        c->rst_phase = PHASE_CLOSING;
    else if (c->flags & CONN_ESTABLISHED)
        c->rst_phase = PHASE_ESTABLISHED;
    else
        c->rst_phase = PHASE_HANDSHAKE;
    endpoint_event(t, &c->ep[SIDE_CLIENT], EV_RST);
    endpoint_event(t, &c->ep[SIDE_SERVER], EV_RST);
    mark_done(t, c, f->ts_ns);
    if (t->event && fins < 2) {
        bool refused = !(sv->flags & EP_SYN) && !(c->flags & CONN_ESTABLISHED) &&
                       s == SIDE_SERVER && (cl->flags & EP_SYN);
        t->event(t->ctx, c, refused ? TEV_REFUSED : TEV_RESET, f->ts_ns);
    }
}

/* ---- Nagle + delayed ACK ----------------------------------------------- */

/* Delays at or above this are delayed ACKs (Linux's minimum is 40 ms, Windows'
 * 200 ms); the held segment must follow the releasing ACK within
 * NAGLE_FOLLOW_NS to have been waiting for it. */
#define NAGLE_MIN_DELAY_NS 20000000LL
#define NAGLE_FOLLOW_NS 2000000LL
#define SMALL_SEGMENT_DEFAULT 536u /* RFC 9293 default MSS, when no MSS was seen */

static bool is_small(const struct conn *c, enum side s, uint32_t len)
{
    uint16_t mss = c->ep[side_peer(s)].mss ? c->ep[side_peer(s)].mss : c->ep[s].mss;
    return len > 0 && len < (mss ? mss : SMALL_SEGMENT_DEFAULT);
}

/* A pure ACK from s that acknowledges all of the peer's data, late: it may
 * release a small segment the peer's Nagle algorithm was holding. */
static void nagle_on_ack(struct tracker *t, struct conn *c, enum side s,
                         const struct tcp_segment *seg, int64_t now_ns)
{
    struct endpoint *pe = &c->ep[side_peer(s)];
    if (seg->payload_bytes || !(pe->flags & EP_SMALL_HELD) ||
        conn_in_flight(c, side_peer(s)) != 0)
        return;
    pe->flags &= (uint16_t)~EP_SMALL_HELD;
    if (now_ns - conn_time(c, &pe->small_sent) >= NAGLE_MIN_DELAY_NS)
        conn_set_time(&t->table, c, &pe->ack_release, now_ns); /* delay: ack_release - small_sent */
}

/* Data from s: was it held by Nagle until the ACK that just arrived? */
static void nagle_on_data(struct tracker *t, struct conn *c, enum side s, uint32_t len,
                          uint32_t inflight_before, int64_t now_ns)
{
    struct endpoint *e = &c->ep[s];
    if (!is_small(c, s, len))
        return;
    int64_t release = conn_time(c, &e->ack_release);
    if (release && now_ns - release <= NAGLE_FOLLOW_NS) {
        struct ep_rare *r = &rare_of(t, c)->ep[s];
        r->nagle_events++;
        r->nagle_delay_ns += release - conn_time(c, &e->small_sent);
    }
    conn_set_time(&t->table, c, &e->ack_release, 0);
    if (inflight_before == 0) {
        conn_set_time(&t->table, c, &e->small_sent, now_ns);
        e->flags |= EP_SMALL_HELD;
    }
}

/* The ACK carried by a segment from s: progress for the peer's data. */
static void on_ack(struct tracker *t, struct conn *c, enum side s, const struct tcp_segment *seg,
                   uint32_t prev_win, int64_t now_ns)
{
    struct endpoint *e = &c->ep[s];
    enum side p = side_peer(s);
    struct endpoint *pe = &c->ep[p];
    if (!(seg->flags & TCP_ACK))
        return;
    if (!(e->flags & EP_ACK_KNOWN)) {
        e->flags |= EP_ACK_KNOWN;
        e->ack = seg->ack;
    } else if (seq_gt(seg->ack, e->ack)) {
        e->ack = seg->ack;
        e->dupacks = 0;
        stall_close(t, c, p, now_ns);
        if ((pe->flags & EP_SEQ_KNOWN) && seq_gt(seg->ack, pe->snd_nxt)) {
            fin_seq_keep(t, c, p);
            pe->snd_nxt = seg->ack; /* data we did not capture */
            rare_of(t, c)->ep[s].ack_gaps++;
        }
        nagle_on_ack(t, c, s, seg, now_ns);
        stall_reopen(t, c, p, now_ns);
    } else if (seg->ack == e->ack && seg->payload_bytes == 0 &&
               !(seg->flags & (TCP_SYN | TCP_FIN)) && seg->window == prev_win) {
        if (e->dupacks < UINT8_MAX)
            e->dupacks++;
        if (pe->flags & EP_KA_PENDING) {
            pe->flags &= (uint16_t)~EP_KA_PENDING;
            rare_of(t, c)->ep[p].keepalive_acks++;
        }
    }
    if ((pe->flags & EP_FIN) && !(pe->flags & EP_FIN_ACKED) &&
        seq_geq(e->ack, ep_fin_seq(c, pe) + 1)) {
        pe->flags |= EP_FIN_ACKED;
        if (!(c->flags & CONN_RST)) { /* after a RST both ends are CLOSED already */
            endpoint_event(t, pe, EV_FIN_ACKED);
            maybe_fully_closed(t, c, now_ns);
        }
    }
}

/* The sequence space of a segment from s: new data, retransmission,
 * keepalive or zero-window probe. */
static void on_sequence(struct tracker *t, struct conn *c, enum side s,
                        const struct tcp_segment *seg, int64_t now_ns)
{
    struct endpoint *e = &c->ep[s];
    const struct endpoint *pe = &c->ep[side_peer(s)];
    uint32_t len = seg->payload_bytes;
    uint32_t syn = (seg->flags & TCP_SYN) ? 1u : 0u;
    uint32_t fin = (seg->flags & TCP_FIN) ? 1u : 0u;
    uint32_t end = seg->seq + syn + len + fin;
    bool peer_zero = (pe->flags & EP_ZERO_WINDOW) != 0;

    if (len > 0)
        e->flags |= EP_DATA;
    if (!(e->flags & EP_SEQ_KNOWN)) {
        e->flags |= EP_SEQ_KNOWN; /* (no FIN yet: on_fin() comes after this) */
        e->snd_nxt = end;
        return;
    }
    if (syn)
        return; /* handled by on_syn */

    /* A segment one byte below snd_nxt, carrying 0 or 1 byte, with
     * everything acknowledged: a keepalive (RFC 1122 4.2.3.6) -- or, when the
     * peer's window is zero, a zero-window probe (Linux probes this way). */
    if (!fin && len <= 1 && seg->seq == e->snd_nxt - 1 &&
        (peer_zero || ((pe->flags & EP_ACK_KNOWN) && seq_geq(pe->ack, e->snd_nxt)))) {
        struct ep_rare *r = &rare_of(t, c)->ep[s];
        if (peer_zero) {
            r->zw_probes++;
            e->stall.probed = 1;
        } else {
            if (r->keepalives)
                r->keepalive_gap_ns = now_ns - r->ts_keepalive_ns;
            else
                r->keepalive_idle_ns = t->gap_ns;
            r->ts_keepalive_ns = now_ns;
            r->keepalives++;
            e->flags |= EP_KA_PENDING;
        }
        return;
    }
    if (len == 0 && !fin) {
        if (peer_zero && seq_lt(seg->seq, e->snd_nxt)) {
            rare_of(t, c)->ep[s].zw_probes++;
            e->stall.probed = 1;
        }
        return; /* a pure ACK */
    }
    if (seq_lt(seg->seq, e->snd_nxt)) {
        /* Starts below what was already sent: a retransmission. */
        if (e->retransmits < EP_RETRANSMITS_MAX)
            e->retransmits++;
        if ((pe->flags & EP_ACK_KNOWN) && seq_leq(end, pe->ack)) {
            rare_of(t, c)->ep[s].rtx_spurious++;
        } else {
            if (pe->dupacks >= 3 || (pe->flags & EP_SACK_SEEN))
                rare_of(t, c)->ep[s].rtx_fast++;
            e->stall.retransmitted = 1;
        }
    } else if (peer_zero && len > 0) {
        /* New data into a zero window: a probe (BSD / Windows style). */
        rare_of(t, c)->ep[s].zw_probes++;
        e->stall.probed = 1;
    } else if (len > 0) {
        nagle_on_data(t, c, s, len, conn_in_flight(c, s), now_ns);
    }
    if (seq_gt(end, e->snd_nxt)) {
        fin_seq_keep(t, c, s);
        e->snd_nxt = end;
    }
}

/* The window advertised by s (for the peer's data). */
static void on_window(struct tracker *t, struct conn *c, enum side s,
                      const struct tcp_segment *seg, int64_t now_ns)
{
    struct endpoint *e = &c->ep[s];
    enum side p = side_peer(s);
    if (seg->flags & TCP_SYN) {
        e->win_bytes = seg->window; /* never scaled in a SYN (RFC 7323 2.2) */
        return;
    }
    uint32_t win = seg->window;
    if (c->flags & CONN_WSCALE_ON)
        win <<= e->wscale;
    e->win_bytes = win;
    if (seg->window == 0) {
        struct conn_rare *r = rare_of(t, c);
        r->ep[s].zero_windows++;
        if (!(e->flags & EP_ZERO_WINDOW)) {
            e->flags |= EP_ZERO_WINDOW;
            if (!c->ep[p].stall.zero) {
                c->ep[p].stall.zero = 1;
                r->ep[p].zero_since_ns = now_ns;
                r->ep[p].zero_frame = conn_frame(c, &c->last_frame);
            }
        }
    } else if (e->flags & EP_ZERO_WINDOW) {
        e->flags &= (uint16_t)~EP_ZERO_WINDOW;
        stall_close(t, c, p, now_ns); /* the window opened: progress */
        stall_reopen(t, c, p, now_ns);
    }
}

/* How long after a RST a segment from its receiver may still have been sent
 * before the RST arrived: one round trip (from the handshake), at least 1 ms. */
static int64_t crossing_window_ns(const struct conn *c)
{
    int64_t rtt = 0;
    if (c->handshake == HS_COMPLETE)
        rtt = conn_time(c, &c->established) - conn_syn_last(c);
    return rtt > 1000000 ? rtt : 1000000;
}

static void on_fin(struct tracker *t, struct conn *c, enum side s, const struct tcp_segment *seg,
                   const struct frame *f)
{
    struct endpoint *e = &c->ep[s];
    struct endpoint *pe = &c->ep[side_peer(s)];
    if (e->flags & EP_FIN)
        return; /* retransmitted FIN: counted by on_sequence */
    e->flags |= EP_FIN;
    uint32_t fin_seq = seg->seq + ((seg->flags & TCP_SYN) ? 1u : 0u) + seg->payload_bytes;
    if (fin_seq != e->snd_nxt - 1) /* (a FIN on a SYN: on_sequence() left it out) */
        fin_seq_set(t, c, s, fin_seq);
    conn_set_frame(&t->table, c, &e->frame_fin, f->number);
    conn_set_time(&t->table, c, &e->ts_fin, f->ts_ns);
    if (c->flags & CONN_RST) {
        /* A FIN right behind the peer's RST crossed it on the wire: it was
         * sent before the RST arrived, so it counts for the phase. */
        if (s != c->rst_side && f->ts_ns - conn_rare(c)->rst_ns <= crossing_window_ns(c)) {
            int fins = ((pe->flags & EP_FIN) != 0) + 1;
            c->rst_phase = (uint8_t)(fins == 2 ? PHASE_CLOSED : PHASE_CLOSING);
        }
        return;
    }
    endpoint_event(t, e, EV_SEND_FIN);
    endpoint_event(t, pe, EV_RECV_FIN);
    if (pe->flags & EP_FIN) {
        if (t->event)
            t->event(t->ctx, c, TEV_CLOSED, f->ts_ns);
        maybe_fully_closed(t, c, f->ts_ns);
    }
}

static void on_segment(struct tracker *t, struct conn *c, enum side s,
                       const struct tcp_segment *seg, const struct frame *f)
{
    struct endpoint *e = &c->ep[s];
    int64_t ts = f->ts_ns;
    if (ts < c->last_ns) {
        c->flags |= CONN_TS_BACKWARDS;
        ts = c->last_ns; /* durations never go negative */
    }
    int64_t idle = ts - c->last_ns;
    if (idle > conn_dur(c, &c->max_idle))
        conn_set_dur(&t->table, c, &c->max_idle, idle);
    t->gap_ns = idle;
    if (idle >= CONN_LONG_GAP_NS) {
        conn_set_dur(&t->table, c, &c->long_gap, idle);
        conn_set_time(&t->table, c, &c->long_gap_end, ts);
    }
    c->last_ns = ts;
    conn_set_frame(&t->table, c, &c->last_frame, f->number);
    e->pkts++;
    add_bytes(t, c, s, seg->payload_bytes);
    e->flags |= EP_SEEN;
    if (seg->sack_count)
        e->flags |= EP_SACK_SEEN;

    if (seg->flags & TCP_RST) {
        on_rst(t, c, s, seg, f, idle);
        return;
    }
    e->ttl = seg->ttl;
    uint32_t prev_win = e->win_bytes;
    if (c->flags & CONN_WSCALE_ON && !(seg->flags & TCP_SYN))
        prev_win >>= e->wscale;
    if (seg->flags & TCP_SYN)
        on_syn(t, c, s, seg, f);
    else
        maybe_established(t, c, s, seg, f);
    on_ack(t, c, s, seg, prev_win, ts);
    on_sequence(t, c, s, seg, ts);
    on_window(t, c, s, seg, ts);
    if (seg->flags & TCP_FIN)
        on_fin(t, c, s, seg, f);
    if (!(c->flags & CONN_DONE)) {
        stall_observe(t, c, SIDE_CLIENT, ts);
        stall_observe(t, c, SIDE_SERVER, ts);
    }
    /* (live: the timers now due fire in tracker_packet_prepared(), after
     * any frame of the connection, including those that return early above) */
}

/* The opening SYN of a connection just created for it (a plain SYN: no
 * payload, no SACK blocks): what on_segment() does for it, without the
 * tests for everything a first segment cannot be -- no silence before it,
 * nothing acknowledged, no data in flight either way (so no stall to
 * track), no FIN, no RST. A SYN flood is made of nothing else. Off with
 * the other fast paths (TCPTRIAGE_NO_FASTPATH=1, live events);
 * tests/fastpath.py compares. */
static inline __attribute__((always_inline)) bool
fast_open_syn(struct tracker *t, struct conn *c, enum side s, const struct tcp_segment *seg,
              const struct frame *f)
{
    if ((seg->flags & (TCP_SYN | TCP_ACK | TCP_RST | TCP_FIN)) != TCP_SYN ||
        seg->payload_bytes || seg->sack_count || !t->fast || c->last_ns != f->ts_ns)
        return false;
    struct endpoint *e = &c->ep[s];
    /* on_segment(): idle 0 (new_connection() set last_ns to this frame's) */
    t->gap_ns = 0;
    conn_set_frame(&t->table, c, &c->last_frame, f->number);
    e->pkts++;
    e->flags |= EP_SEEN;
    e->ttl = seg->ttl;
    /* on_syn(), its first SYN */
    e->syns++;
    first_syn(t, c, s, seg, f);
    /* on_window(): a SYN's window is never scaled */
    e->win_bytes = seg->window;
    return true;
}

/* Header prediction (after Van Jacobson's for TCP receivers): most segments
 * of an established connection are the next in-order data segment or an
 * ACK for data sent, with nothing else going on. This handles exactly those
 * and does for them what on_segment() does -- the same updates in the same
 * order, through the same helpers -- without testing for everything that is
 * not happening (SYN, FIN, RST, SACK, zero windows, retransmissions,
 * keepalives and probes, acknowledgments beyond what was seen, silences
 * long enough to matter, time going backwards, live events). Anything else,
 * and every segment when TCPTRIAGE_NO_FASTPATH=1, takes on_segment();
 * tests/fastpath.py checks that both ways give the same output. */
/* Inlined into its one caller: GCC's size heuristics kept it apart once the
 * compact accessors (conn.h) grew it, a call and spills on most segments. */
static inline __attribute__((always_inline)) bool
fast_segment(struct tracker *t, struct conn *c, enum side s, const struct tcp_segment *seg,
             const struct frame *f)
{
    struct endpoint *e = &c->ep[s];
    enum side p = side_peer(s);
    struct endpoint *pe = &c->ep[p];
    const uint16_t known = EP_SEQ_KNOWN | EP_ACK_KNOWN;
    int64_t ts = f->ts_ns, idle = ts - c->last_ns;
    uint32_t len = seg->payload_bytes;
    if ((seg->flags & (TCP_SYN | TCP_FIN | TCP_RST | TCP_ACK)) != TCP_ACK || seg->sack_count ||
        seg->window == 0 || !t->fast ||
        (c->flags & (CONN_ESTABLISHED | CONN_DONE | CONN_RST)) != CONN_ESTABLISHED ||
        (e->flags & known) != known || !(pe->flags & EP_SEQ_KNOWN) ||
        ((e->flags | pe->flags) & (EP_FIN | EP_ZERO_WINDOW)) || seg->seq != e->snd_nxt ||
        idle < 0 || idle >= CONN_LONG_GAP_NS ||
        (seg->ack != e->ack && !(seq_gt(seg->ack, e->ack) && seq_leq(seg->ack, pe->snd_nxt))))
        return false;

    /* on_segment() */
    if (idle > conn_dur(c, &c->max_idle))
        conn_set_dur(&t->table, c, &c->max_idle, idle);
    t->gap_ns = idle;
    c->last_ns = ts;
    conn_set_frame(&t->table, c, &c->last_frame, f->number);
    e->pkts++;
    add_bytes(t, c, s, len);
    e->flags |= EP_SEEN;
    e->ttl = seg->ttl;
    uint32_t prev_win = e->win_bytes;
    if (c->flags & CONN_WSCALE_ON)
        prev_win >>= e->wscale;

    /* on_ack(): progress, or a duplicate. With no FIN sent, the data in
     * flight is conn_in_flight() (data_in_flight() subtracts only a FIN). */
    if (seg->ack != e->ack) {
        e->ack = seg->ack;
        e->dupacks = 0;
        uint32_t infl_p = seq_gt(pe->snd_nxt, e->ack) ? pe->snd_nxt - e->ack : 0;
        /* stall_close(p): with nothing but data in flight tracked (no
         * retransmission, full window or zero window) it is no stall */
        struct stall_track *sp = &pe->stall;
        if (sp->zero | sp->retransmitted | sp->window_full) {
            stall_close(t, c, p, ts);
        } else {
            stall_clear(t, c, p);
        }
        /* nagle_on_ack() */
        if (len == 0 && (pe->flags & EP_SMALL_HELD) && infl_p == 0) {
            pe->flags &= (uint16_t)~EP_SMALL_HELD;
            if (ts - conn_time(c, &pe->small_sent) >= NAGLE_MIN_DELAY_NS)
                conn_set_time(&t->table, c, &pe->ack_release, ts);
        }
        /* stall_reopen(p): the window is not zero */
        if (infl_p > 0) {
            sp->inflight = 1;
            conn_set_time(&t->table, c, &pe->stall_since, ts);
            conn_set_frame(&t->table, c, &pe->stall_frame, f->number);
        }
    } else if (len == 0 && seg->window == prev_win) {
        if (e->dupacks < UINT8_MAX)
            e->dupacks++;
        if (pe->flags & EP_KA_PENDING) {
            pe->flags &= (uint16_t)~EP_KA_PENDING;
            rare_of(t, c)->ep[p].keepalive_acks++;
        }
    }

    /* on_sequence(): new data in order, and nagle_on_data() */
    bool peer_ack = (pe->flags & EP_ACK_KNOWN) != 0;
    if (len > 0) {
        e->flags |= EP_DATA;
        if (is_small(c, s, len)) {
            int64_t release = conn_time(c, &e->ack_release);
            if (release && ts - release <= NAGLE_FOLLOW_NS) {
                struct ep_rare *r = &rare_of(t, c)->ep[s];
                r->nagle_events++;
                r->nagle_delay_ns += release - conn_time(c, &e->small_sent);
            }
            conn_set_time(&t->table, c, &e->ack_release, 0);
            if (!peer_ack || !seq_gt(e->snd_nxt, pe->ack)) { /* nothing was in flight */
                conn_set_time(&t->table, c, &e->small_sent, ts);
                e->flags |= EP_SMALL_HELD;
            }
        }
        e->snd_nxt = seg->seq + len;
    }

    /* on_window() */
    uint32_t win = seg->window;
    if (c->flags & CONN_WSCALE_ON)
        win <<= e->wscale;
    e->win_bytes = win;

    /* stall_observe() of both directions, on what is in flight now */
    uint32_t in[2];
    in[s] = peer_ack && seq_gt(e->snd_nxt, pe->ack) ? e->snd_nxt - pe->ack : 0;
    in[p] = seq_gt(pe->snd_nxt, e->ack) ? pe->snd_nxt - e->ack : 0;
    for (int x = 0; x < 2; x++) {
        struct endpoint *ex = &c->ep[x];
        struct stall_track *st = &ex->stall;
        const struct endpoint *r = &c->ep[!x];
        if (in[x] > 0 && !st->inflight) {
            st->inflight = 1;
            conn_set_time(&t->table, c, &ex->stall_since, ts);
            conn_set_frame(&t->table, c, &ex->stall_frame, f->number);
            conn_set_dur(&t->table, c, &ex->stall_idle_before, idle);
        }
        if (in[x] > 0 && r->win_bytes > 0 && (c->flags & CONN_WSCALE_KNOWN) &&
            in[x] >= r->win_bytes)
            st->window_full = 1;
    }
    return true;
}

/* An ICMP unreachable quoting a segment of c. */
static void on_icmp(struct tracker *t, struct conn *c, enum side s, const struct decoded *d,
                    const struct frame *f)
{
    const struct tcp_segment *q = &d->tcp; /* s sent the quoted segment */
    conn_set_frame(&t->table, c, &c->last_frame, f->number);
    if (f->ts_ns > c->last_ns)
        c->last_ns = f->ts_ns;
    rare_of(t, c)->ep[s].icmp_errors++;
    if (c->flags & CONN_ICMP)
        return;
    c->flags |= CONN_ICMP;
    struct conn_rare *r = rare_of(t, c);
    r->frame_icmp = f->number;
    r->icmp_src = d->icmp_src;
    r->icmp_type = d->icmp_type;
    r->icmp_code = d->icmp_code;
    r->icmp_ttl = d->icmp_ttl;
    const struct endpoint *cl = &c->ep[SIDE_CLIENT];
    bool quotes_syn = (q->quote_has_flags && (q->flags & (TCP_SYN | TCP_ACK)) == TCP_SYN) ||
                      ((cl->flags & EP_SYN) && q->seq == cl->isn);
    if (s == SIDE_CLIENT && quotes_syn && !(c->flags & CONN_ESTABLISHED)) {
        c->flags |= CONN_ICMP_SYN;
        if (t->event && !(c->ep[SIDE_SERVER].flags & EP_SYN))
            t->event(t->ctx, c, TEV_REFUSED, f->ts_ns);
    }
}

void tracker_init(struct tracker *t, const struct tracker_config *cfg, tracker_emit_fn emit,
                  tracker_event_fn event, void *ctx)
{
    memset(t, 0, sizeof *t);
    t->cfg = *cfg;
    if (t->cfg.max_connections == 0)
        t->cfg.max_connections = 1;
    if (t->cfg.max_handshakes == 0 || t->cfg.max_handshakes > t->cfg.max_connections)
        t->cfg.max_handshakes = t->cfg.max_connections;
    if (t->cfg.time_unit > 9) /* 10^time_unit ns: conn_pow10[] has 0-9 */
        t->cfg.time_unit = 0;
    flow_table_init(&t->table);
    /* Under an address-space limit the pool may hold fewer: the cap is then
     * what it holds (main.c says so), so a full table still evicts. */
    size_t room = flow_table_set_limit(&t->table, t->cfg.max_connections);
    if (room && room < t->cfg.max_connections) {
        t->cfg.max_connections = room;
        if (t->cfg.max_handshakes > room)
            t->cfg.max_handshakes = room;
    }
    t->emit = emit;
    t->event = event;
    /* The fast path does not fire live events; without cfg->fast_paths
     * neither it nor the analyzer's pipeline runs (to compare). */
    t->fast = !event && t->cfg.fast_paths;
    t->ctx = ctx;
}

void tracker_prepare(const struct tracker *t, const struct decoded *d, struct tracker_prep *p)
{
    p->hash = flow_key_make_hashed(&p->key, &d->tcp, &p->src_is_lo);
    flow_table_prefetch_slot(&t->table, p->hash);
}

void tracker_prefetch(const struct tracker *t, const struct tracker_prep *p)
{
    flow_table_prefetch_conn(&t->table, p->hash);
    /* read if the frame opens a connection (with the pipeline only: a large
     * table, where a flood evicts one connection a SYN) */
    if (t->evicted)
        __builtin_prefetch(&t->evicted[p->hash & t->evicted_mask]);
}

void tracker_packet(struct tracker *t, const struct decoded *d, const struct frame *f)
{
    struct tracker_prep p;
    tracker_prepare(t, d, &p);
    tracker_packet_prepared(t, d, f, &p);
}

void tracker_packet_prepared(struct tracker *t, const struct decoded *d, const struct frame *f,
                             const struct tracker_prep *p)
{
    if (f->ts_ns < t->now_ns)
        t->cnt.ts_backwards++;
    else
        t->now_ns = f->ts_ns;
    expire_lingering(t, t->now_ns);

    bool src_is_lo = p->src_is_lo;
    struct conn *c = flow_table_find_hashed(&t->table, &p->key, p->hash);
    if (c && (c->flags & CONN_DONE))
        t->linger_head = 0; /* its time may change: expire_lingering() reads it again */

    if (d->icmp != ICMP_KIND_NONE) {
        if (!c) {
            /* An ICMP error for a connection we never saw: keep it only
             * when it quotes a SYN (a refusal whose SYN we missed). */
            if (!(d->tcp.quote_has_flags && (d->tcp.flags & (TCP_SYN | TCP_ACK)) == TCP_SYN)) {
                t->cnt.icmp_unmatched++;
                return;
            }
            struct tcp_segment syn = d->tcp;
            c = new_connection(t, p, &syn, f);
            if (!c)
                return;
        } else {
            flow_table_touch(&t->table, c);
        }
        on_icmp(t, c, side_of(c, src_is_lo), d, f);
        if (t->event)
            fire_due_events(t, c, c->last_ns);
        return;
    }

    if (c && starts_new_connection(c, side_of(c, src_is_lo), &d->tcp)) {
        t->cnt.replaced++;
        emit_and_free(t, c, END_REPLACED, t->now_ns);
        c = NULL;
    }
    bool known = c != NULL;
    if (!known) {
        c = new_connection(t, p, &d->tcp, f);
        if (!c)
            return;
    }
    enum side s = side_of(c, src_is_lo);
    if (known ? !fast_segment(t, c, s, &d->tcp, f) : !fast_open_syn(t, c, s, &d->tcp, f))
        on_segment(t, c, s, &d->tcp, f);
    /* Live (no fast paths then): the timers this frame finds due fire now,
     * whatever the frame was -- an ignored RST or an ICMP error (above) as
     * well as an ordinary segment. Each moves the connection to the tail of
     * its list, where the timer walk would not look for min_wait / 4. Its
     * time: the frame's, or the connection's last if time went back. */
    if (t->event)
        fire_due_events(t, c, c->last_ns);
    /* Most recently active now. After the segment rather than before (the
     * same order results: the segment may only move c to the tail of the
     * active list, from the handshake list, or of the lingering list, where
     * this leaves it), so the links that
     * flow_table_find_hashed() prefetched have arrived. */
    if (known)
        flow_table_touch(&t->table, c);
}

/* ---- live events that become certain with time ------------------------ */

/* Fire the events of c that are due at now: an unanswered SYN past the
 * attempt timeout, a stall past the threshold, a FIN not answered by the
 * other side within the stall threshold. Each fires once. */
static void fire_due_events(struct tracker *t, struct conn *c, int64_t now_ns)
{
    const struct endpoint *cl = &c->ep[SIDE_CLIENT], *sv = &c->ep[SIDE_SERVER];
    if (c->flags & CONN_DONE)
        return;
    if (!(c->flags & (CONN_ESTABLISHED | CONN_RST | CONN_ICMP_SYN | CONN_EV_TIMED_OUT)) &&
        (cl->flags & EP_SYN) && !(sv->flags & EP_SYN) &&
        now_ns - conn_syn_last(c) >= t->cfg.attempt_timeout_ns) {
        c->flags |= CONN_EV_TIMED_OUT;
        t->event(t->ctx, c, TEV_TIMED_OUT, now_ns);
    }
    for (int s = 0; s < 2; s++) {
        struct stall_track *st = &c->ep[s].stall;
        uint64_t frame;
        if (!st->announced && stall_track_kind(st) != STALL_NONE &&
            now_ns - stall_track_start(c, (enum side)s, &frame) >= t->cfg.stall_threshold_ns) {
            st->announced = 1;
            t->event(t->ctx, c, TEV_STALL_START, now_ns);
        }
    }
    int fins = ((cl->flags & EP_FIN) != 0) + ((sv->flags & EP_FIN) != 0);
    if (fins == 1 && !(c->flags & CONN_EV_HALF_CLOSED)) {
        int64_t fin_ns = conn_time(c, (cl->flags & EP_FIN) ? &cl->ts_fin : &sv->ts_fin);
        if (now_ns - fin_ns >= t->cfg.stall_threshold_ns) {
            c->flags |= CONN_EV_HALF_CLOSED;
            t->event(t->ctx, c, TEV_HALF_CLOSED, now_ns);
        }
    }
}

/* The timer walk of list l (tracker_advance()). */
static void walk_timers(struct tracker *t, struct flow_list *l, int64_t min_wait, int64_t max_wait)
{
    bool settled = true; /* every connection walked so far is past max_wait */
    for (struct conn *c = flow_table_walk_start(&t->table, l), *next;
         c && t->now_ns - c->last_ns >= min_wait / 4; c = next) {
        next = flow_table_next(&t->table, c);
        fire_due_events(t, c, t->now_ns);
        t->timer_visits++;
        if (settled && t->now_ns - c->last_ns > max_wait) {
            if (next) /* (the last one stays marked: a walk never starts past the tail) */
                flow_table_walk_mark(&t->table, l, next);
        } else {
            settled = false;
        }
    }
}

void tracker_advance(struct tracker *t, int64_t now_ns)
{
    if (now_ns > t->now_ns)
        t->now_ns = now_ns;
    expire_lingering(t, t->now_ns);
    if (!t->event)
        return;
    /* Only connections silent for a while can have a timer due without a
     * packet: walk the handshake and active lists from their least recently
     * active ends. Every timer of a connection is due at most max_wait after its last frame
     * (each counts from a SYN, a FIN or a stall start, none later than that
     * frame), so a connection silent for longer than that has fired all it
     * ever will until its next frame, which moves it to the tail. The walk
     * marks where that run of finished ones ends, and the next walk starts
     * there: hours-idle connections (pools, keepalives) are visited once,
     * not every 100 ms. */
    int64_t min_wait = t->cfg.attempt_timeout_ns < t->cfg.stall_threshold_ns
                           ? t->cfg.attempt_timeout_ns
                           : t->cfg.stall_threshold_ns;
    int64_t max_wait = t->cfg.attempt_timeout_ns > t->cfg.stall_threshold_ns
                           ? t->cfg.attempt_timeout_ns
                           : t->cfg.stall_threshold_ns;
    walk_timers(t, &t->table.handshake, min_wait, max_wait);
    walk_timers(t, &t->table.active, min_wait, max_wait);
}

/* Connections still held at the end, by id: the key is copied next to the
 * pool index so sorting does not visit every connection at each comparison.
 * 12 bytes: the index's memory holds at least that much a connection. */
struct by_id {
    uint32_t id_lo; /* the 48-bit id (conn.h) */
    uint32_t idx;   /* the pool index */
    uint16_t id_hi;
    uint16_t pad;
};
_Static_assert(sizeof(struct by_id) == 12, "struct by_id is 12 bytes");

static uint64_t by_id_key(const struct by_id *b)
{
    return (uint64_t)b->id_hi << 32 | b->id_lo;
}

/* Heapsort by id, in place: glibc's qsort() is a merge sort that allocates
 * a copy of the array, which would make the end of a run its peak again. */
static void by_id_sift(struct by_id *a, size_t root, size_t n)
{
    for (;;) {
        size_t child = 2 * root + 1;
        if (child >= n)
            return;
        if (child + 1 < n && by_id_key(&a[child + 1]) > by_id_key(&a[child]))
            child++;
        if (by_id_key(&a[root]) >= by_id_key(&a[child]))
            return;
        struct by_id tmp = a[root];
        a[root] = a[child];
        a[child] = tmp;
        root = child;
    }
}

static void by_id_sort(struct by_id *a, size_t n)
{
    for (size_t i = n / 2; i-- > 0;)
        by_id_sift(a, i, n);
    for (size_t end = n; end > 1; end--) {
        struct by_id tmp = a[0];
        a[0] = a[end - 1];
        a[end - 1] = tmp;
        by_id_sift(a, 0, end - 1);
    }
}

void tracker_finish(struct tracker *t)
{
    size_t n = t->table.count, i = 0;
    if (n == 0)
        return;
    /* Sorted in the index's memory (the index is no longer needed): the
     * end of a run with a full table does not need 12 more bytes for each. */
    size_t scratch = 0;
    struct by_id *all = flow_table_retire_index(&t->table, &scratch);
    bool owned = !all || scratch < n * sizeof *all;
    if (owned)
        all = malloc(n * sizeof *all);
    /* (the lingering ones are finished; the others end with the capture) */
    const struct flow_list *lists[3] = {&t->table.handshake, &t->table.active, &t->table.linger};
    if (!all) {
        /* No memory to sort: emit in table order rather than lose them. */
        for (int l = 0; l < 3; l++)
            for (struct conn *c; (c = flow_list_head(&t->table, lists[l]));)
                emit_and_free(t, c, (c->flags & CONN_DONE) ? END_FINISHED : END_CAPTURE_END,
                              t->now_ns);
        return;
    }
    for (int l = 0; l < 3; l++)
        for (struct conn *c = flow_list_head(&t->table, lists[l]); c;
             c = flow_table_next(&t->table, c))
            all[i++] = (struct by_id){c->id_lo, flow_table_idx(&t->table, c), c->id_hi, 0};
    by_id_sort(all, i);
    for (size_t j = 0; j < i; j++) {
        if (j + 4 < i)
            __builtin_prefetch(flow_table_at(&t->table, all[j + 4].idx));
        struct conn *c = flow_table_at(&t->table, all[j].idx);
        emit_and_free(t, c, (c->flags & CONN_DONE) ? END_FINISHED : END_CAPTURE_END, t->now_ns);
    }
    if (owned)
        free(all);
}

void tracker_destroy(struct tracker *t)
{
    flow_table_destroy(&t->table);
    free(t->evicted);
    t->evicted = NULL;
}
