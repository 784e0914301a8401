/* SPDX-License-Identifier: MIT */
/*
 * conn.c - names for the connection model's enums, and small accessors.
 * Every enum value has a name; out-of-range values get "unknown".
 */
#include "conn.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const tcp_state_names[TCP_STATE__COUNT] = {
    [TCP_CLOSED] = "CLOSED",           [TCP_LISTEN] = "LISTEN",
    [TCP_SYN_SENT] = "SYN_SENT",       [TCP_SYN_RECEIVED] = "SYN_RECEIVED",
    [TCP_ESTABLISHED] = "ESTABLISHED", [TCP_FIN_WAIT_1] = "FIN_WAIT_1",
    [TCP_FIN_WAIT_2] = "FIN_WAIT_2",   [TCP_CLOSING] = "CLOSING",
    [TCP_TIME_WAIT] = "TIME_WAIT",     [TCP_CLOSE_WAIT] = "CLOSE_WAIT",
    [TCP_LAST_ACK] = "LAST_ACK",
};

const char *tcp_state_name(enum tcp_state s)
{
    if ((unsigned)s >= TCP_STATE__COUNT)
        return "UNKNOWN";
    return tcp_state_names[s];
}

const char *side_name(enum side s)
{
    switch (s) {
    case SIDE_CLIENT:
        return "client";
    case SIDE_SERVER:
        return "server";
    }
    return "unknown";
}

const char *stall_kind_name(enum stall_kind k)
{
    switch (k) {
    case STALL_NONE:
        return "none";
    case STALL_ZERO_WINDOW:
        return "zero_window";
    case STALL_UNACKED_DATA:
        return "unacked_data";
    case STALL_WINDOW_FULL:
        return "window_full";
    }
    return "unknown";
}

const char *handshake_name(enum handshake_seen h)
{
    switch (h) {
    case HS_MISSING:
        return "missing";
    case HS_PARTIAL:
        return "partial";
    case HS_COMPLETE:
        return "complete";
    }
    return "unknown";
}

const char *reset_phase_name(enum reset_phase p)
{
    switch (p) {
    case PHASE_NONE:
        return "none";
    case PHASE_HANDSHAKE:
        return "handshake";
    case PHASE_ESTABLISHED:
        return "established";
    case PHASE_CLOSING:
        return "closing";
    case PHASE_CLOSED:
        return "closed";
    }
    return "unknown";
}

struct ip_addr conn_addr(const struct conn *c, enum side s)
{
    struct ip_addr a;
    conn_addr_words(c, s, &a);
    return a;
}

void conn_key_set(struct conn_key *ck, const struct flow_key *k, struct ip_pair *v6)
{
    memset(ck, 0, sizeof *ck);
    if (k->ip_version == 6) {
        v6->lo = k->addr_lo;
        v6->hi = k->addr_hi;
        ck->addr.v6 = v6;
    } else {
        memcpy(&ck->addr.v4[0], k->addr_lo.b, 4);
        memcpy(&ck->addr.v4[1], k->addr_hi.b, 4);
    }
    ck->port_lo = k->port_lo;
    ck->port_hi = k->port_hi;
    ck->ip_version = k->ip_version;
}

_Static_assert(offsetof(struct conn_key, port_lo) == 8 && offsetof(struct flow_key, port_lo) == 32,
               "the ports, version and padding are one word in both keys");

uint16_t conn_port(const struct conn *c, enum side s)
{
    bool lo = ((c->flags & CONN_CLIENT_IS_LO) != 0) == (s == SIDE_CLIENT);
    return lo ? c->key.port_lo : c->key.port_hi;
}

uint32_t conn_in_flight(const struct conn *c, enum side s)
{
    const struct endpoint *e = &c->ep[s];
    const struct endpoint *p = &c->ep[side_peer(s)];
    if (!(e->flags & EP_SEQ_KNOWN) || !(p->flags & EP_ACK_KNOWN))
        return 0;
    if (!seq_gt(e->snd_nxt, p->ack))
        return 0;
    return e->snd_nxt - p->ack;
}

enum stall_kind stall_track_kind(const struct stall_track *st)
{
    if (st->zero && st->probed)
        return STALL_ZERO_WINDOW;
    if (st->inflight && st->retransmitted)
        return STALL_UNACKED_DATA;
    if (st->inflight && st->window_full)
        return STALL_WINDOW_FULL;
    if (st->zero && st->inflight)
        return STALL_ZERO_WINDOW;
    return STALL_NONE;
}

int64_t stall_track_start(const struct conn *c, enum side s, uint64_t *frame)
{
    const struct endpoint *e = &c->ep[s];
    const struct ep_rare *r = &conn_rare(c)->ep[s];
    int64_t since = conn_time(c, &e->stall_since);
    bool use_inflight = e->stall.inflight && (!e->stall.zero || since < r->zero_since_ns);
    *frame = use_inflight ? conn_frame(c, &e->stall_frame) : r->zero_frame;
    return use_inflight ? since : r->zero_since_ns;
}

/* ------------------------------------------------------------------------ */
/* Compact evidence                                                          */

const int64_t conn_pow10[10] = {
    1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000,
};

const uint64_t conn_inv5[10] = {
    0x0000000000000001u, 0xcccccccccccccccdu, 0x8f5c28f5c28f5c29u, 0x1cac083126e978d5u,
    0xd288ce703afb7e91u, 0x5d4e8fb00bcbe61du, 0x790fb65668c26139u, 0xe5032477ae8d46a5u,
    0xc767074b22e90e21u, 0x8e47ce423a2e9c6du,
};

enum compact_kind { K_TIME, K_DUR, K_FRAME };

#define EP_COMPACT(X, s)                                                                       \
    X(E##s##_SMALL_SENT, ep[s].small_sent, K_TIME)                                             \
    X(E##s##_ACK_RELEASE, ep[s].ack_release, K_TIME)                                           \
    X(E##s##_STALL_SINCE, ep[s].stall_since, K_TIME)                                           \
    X(E##s##_STALL_FRAME, ep[s].stall_frame, K_FRAME)                                          \
    X(E##s##_STALL_IDLE, ep[s].stall_idle_before, K_DUR)                                       \
    X(E##s##_FRAME_SYN, ep[s].frame_syn, K_FRAME)                                              \
    X(E##s##_FRAME_FIN, ep[s].frame_fin, K_FRAME)                                              \
    X(E##s##_TS_SYN, ep[s].ts_syn, K_TIME)                                                     \
    X(E##s##_TS_FIN, ep[s].ts_fin, K_TIME)

/* Every compact field of struct conn: its wide slot's name, the field, its kind. */
#define CONN_COMPACT_FIELDS(X)                                                                 \
    X(LAST_FRAME, last_frame, K_FRAME)                                                         \
    X(MAX_IDLE, max_idle, K_DUR)                                                               \
    X(FRAME_ESTABLISHED, frame_established, K_FRAME)                                           \
    X(ESTABLISHED, established, K_TIME)                                                        \
    X(LONG_GAP, long_gap, K_DUR)                                                               \
    X(LONG_GAP_END, long_gap_end, K_TIME)                                                      \
    EP_COMPACT(X, 0)                                                                           \
    EP_COMPACT(X, 1)

#define SLOT_NAME(name, field, kind) W_##name,
enum wide_slot { CONN_COMPACT_FIELDS(SLOT_NAME) W__COUNT };
#undef SLOT_NAME
_Static_assert(W__COUNT == CONN_WIDE_SLOTS, "CONN_WIDE_SLOTS is the number of compact fields");

struct compact_field {
    uint16_t off;
    uint8_t kind;
};

#define FIELD_ENTRY(name, field, kind) [W_##name] = {offsetof(struct conn, field), kind},
static const struct compact_field compact_fields[CONN_WIDE_SLOTS] = {
    CONN_COMPACT_FIELDS(FIELD_ENTRY)};
#undef FIELD_ENTRY

/* The wide slot of each compact field + 1, by the field's offset / 4 (0: not
 * a compact field). */
#define POS_ENTRY(name, field, kind) [offsetof(struct conn, field) / 4] = W_##name + 1,
static const uint8_t slot_by_pos[sizeof(struct conn) / 4] = {CONN_COMPACT_FIELDS(POS_ENTRY)};
#undef POS_ENTRY

static unsigned wide_slot(const struct conn *c, const void *field)
{
    size_t off = (size_t)((const char *)field - (const char *)c);
    unsigned slot = off < sizeof *c && off % 4 == 0 ? slot_by_pos[off / 4] : 0;
    if (slot == 0) { /* a compact field missing from CONN_COMPACT_FIELDS: a bug */
        fprintf(stderr, "tcptriage: internal error: no wide slot at offset %zu\n", off);
        abort();
    }
    return slot - 1;
}

int64_t conn_wide_get(const struct conn *c, const void *field)
{
    return c->rare->wide->v[wide_slot(c, field)];
}

void conn_wide_set(struct conn *c, void *field, int64_t v)
{
    c->rare->wide->v[wide_slot(c, field)] = v;
}

bool conn_refine(struct conn *c, void *field, int64_t v)
{
    const struct compact_field *cf = &compact_fields[wide_slot(c, field)];
    if (cf->kind == K_FRAME || c->tunit == 0)
        return false;
    int64_t d = cf->kind == K_TIME ? v - c->start_ns : v;
    if (d < 0 || (cf->kind == K_TIME && v == 0))
        return false;
    unsigned k = c->tunit; /* the coarsest unit v is a whole number of */
    while (k > 0 && d % conn_pow10[k] != 0)
        k--;
    if (k == c->tunit || d / conn_pow10[k] >= (int64_t)UINT32_MAX)
        return false;
    /* the values so far, in the finer unit: do they all still fit? */
    uint64_t f = (uint64_t)conn_pow10[c->tunit - k];
    for (unsigned i = 0; i < CONN_WIDE_SLOTS; i++) {
        uint32_t x;
        memcpy(&x, (const char *)c + compact_fields[i].off, sizeof x);
        if (compact_fields[i].kind == K_TIME && x && (uint64_t)(x - 1) * f >= UINT32_MAX)
            return false;
        if (compact_fields[i].kind == K_DUR && (uint64_t)x * f > UINT32_MAX)
            return false;
    }
    for (unsigned i = 0; i < CONN_WIDE_SLOTS; i++) {
        char *p = (char *)c + compact_fields[i].off;
        uint32_t x;
        memcpy(&x, p, sizeof x);
        if (compact_fields[i].kind == K_TIME && x)
            x = (uint32_t)((uint64_t)(x - 1) * f + 1);
        else if (compact_fields[i].kind == K_DUR)
            x = (uint32_t)((uint64_t)x * f);
        memcpy(p, &x, sizeof x);
    }
    c->tunit = (uint8_t)k;
    uint32_t nv = (uint32_t)(d / conn_pow10[k]) + (cf->kind == K_TIME ? 1u : 0u);
    memcpy(field, &nv, sizeof nv);
    return true;
}

void conn_wide_fill(const struct conn *c, struct conn_wide *w)
{
    for (unsigned i = 0; i < CONN_WIDE_SLOTS; i++) {
        const void *f = (const char *)c + compact_fields[i].off;
        switch ((enum compact_kind)compact_fields[i].kind) {
        case K_TIME:
            w->v[i] = conn_time(c, f);
            break;
        case K_DUR:
            w->v[i] = conn_dur(c, f);
            break;
        case K_FRAME:
            w->v[i] = (int64_t)conn_frame(c, f);
            break;
        }
    }
}

const struct conn_rare conn_rare_none;

bool name_lookup(const char *const *names, unsigned count, const char *name, unsigned *index)
{
    for (unsigned i = 0; i < count; i++) {
        if (names[i] && strcmp(names[i], name) == 0) {
            *index = i;
            return true;
        }
    }
    return false;
}
