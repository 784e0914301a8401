/* SPDX-License-Identifier: MIT */
/*
 * conn.c - names for the connection model's enums, and small accessors.
 * Every enum value has a name; out-of-range values get "unknown".
 */
#include "conn.h"

#include <stddef.h>
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

const struct ip_addr *conn_addr(const struct conn *c, enum side s)
{
    bool lo = ((c->flags & CONN_CLIENT_IS_LO) != 0) == (s == SIDE_CLIENT);
    return lo ? &c->key.addr_lo : &c->key.addr_hi;
}

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
    const struct stall_track *st = &c->ep[s].stall;
    const struct ep_rare *r = &conn_rare(c)->ep[s];
    bool use_inflight = st->inflight && (!st->zero || st->inflight_since_ns < r->zero_since_ns);
    *frame = use_inflight ? st->inflight_frame : r->zero_frame;
    return use_inflight ? st->inflight_since_ns : r->zero_since_ns;
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
