/* SPDX-License-Identifier: MIT */
/*
 * classify.c - the verdict rules (docs/verdicts.md), as a pure function.
 *
 * Reads a connection record as the tracker left it; never changes it, never
 * looks at packets. The rules are tried in order and the first that fits
 * wins: refused, timed_out, unanswered, half_open, reset, closed, stalled,
 * half_closed, open. Each verdict comes with one plain sentence saying what
 * happened and which side did it, and the frame that made it certain.
 *
 * Two steps (classify.h): classify_verdict() runs the rules and sets the
 * verdict, its frame and the stall; classify_reason() writes the sentence
 * from the record and that result only (verdict, stall, now_ns), so it can
 * run later, and only for the connections whose sentence is printed.
 */
#include "classify.h"

#include <stdio.h>
#include <string.h>

static const char *const verdict_names[VERDICT__COUNT] = {
    [VERDICT_REFUSED] = "refused",     [VERDICT_TIMED_OUT] = "timed_out",
    [VERDICT_UNANSWERED] = "unanswered", [VERDICT_HALF_OPEN] = "half_open",
    [VERDICT_RESET] = "reset",         [VERDICT_CLOSED] = "closed",
    [VERDICT_STALLED] = "stalled",     [VERDICT_HALF_CLOSED] = "half_closed",
    [VERDICT_OPEN] = "open",
};

const char *verdict_name(enum verdict v)
{
    if ((unsigned)v >= VERDICT__COUNT)
        return "unknown";
    return verdict_names[v];
}

bool verdict_from_name(const char *name, enum verdict *out)
{
    unsigned i;
    if (!name_lookup(verdict_names, VERDICT__COUNT, name, &i))
        return false;
    *out = (enum verdict)i;
    return true;
}

const char *classify_fmt_duration(char *buf, size_t len, int64_t ns)
{
    if (ns < 0)
        ns = 0;
    if (ns < 1000000LL)
        snprintf(buf, len, "%lld us", (long long)(ns / 1000));
    else if (ns < 1000000000LL)
        snprintf(buf, len, "%lld ms", (long long)(ns / 1000000));
    else
        snprintf(buf, len, "%.1f s", (double)ns / 1e9);
    return buf;
}

/* The stall going on for data sent by s, into *ep (every field set) when
 * there is one; false, *ep untouched, when not: most connections have none,
 * and this runs twice per connection. */
static bool ongoing_stall(const struct conn *c, enum side s, int64_t now_ns, int64_t threshold_ns,
                          struct stall_episode *ep)
{
    if (c->flags & CONN_DONE)
        return false;
    const struct stall_track *st = &c->ep[s].stall;
    enum stall_kind k = stall_track_kind(st);
    if (k == STALL_NONE)
        return false;
    uint64_t frame;
    int64_t start = stall_track_start(c, s, &frame);
    if (now_ns - start < threshold_ns)
        return false;
    memset(ep, 0, sizeof *ep);
    ep->start_frame = frame;
    ep->idle_before_ns = conn_dur(c, &c->ep[s].stall_idle_before);
    ep->kind = (uint8_t)k;
    ep->start_ns = start;
    ep->seconds_ns = now_ns - start;
    ep->blamed = (uint8_t)side_peer(s);
    ep->ongoing = 1;
    return true;
}

struct stall_episode classify_ongoing_stall(const struct conn *c, enum side s, int64_t now_ns,
                                            int64_t threshold_ns)
{
    struct stall_episode ep;
    if (!ongoing_stall(c, s, now_ns, threshold_ns, &ep))
        memset(&ep, 0, sizeof ep);
    return ep;
}

/* ---- the rules --------------------------------------------------------- */

void classify_verdict(const struct conn *c, const struct classify_config *cfg, int64_t now_ns,
                      struct verdict_info *out)
{
    const struct conn_rare *rare = conn_rare(c);
    const struct endpoint *cl = &c->ep[SIDE_CLIENT], *sv = &c->ep[SIDE_SERVER];
    /* Every field but the sentence buffer, which only needs its first byte. */
    memset(out, 0, offsetof(struct verdict_info, reason));
    out->reason[0] = '\0';
    if (now_ns < c->last_ns)
        now_ns = c->last_ns;
    out->now_ns = now_ns;

    /* The stall going on now (the longer of the two directions), and the
     * longest episode overall, recorded or ongoing. */
    struct stall_episode ongoing, on;
    ongoing.kind = STALL_NONE; /* the other fields are read only when it is set */
    for (int s = 0; s < 2; s++)
        if (ongoing_stall(c, (enum side)s, now_ns, cfg->stall_threshold_ns, &on) &&
            (ongoing.kind == STALL_NONE || on.seconds_ns > ongoing.seconds_ns))
            ongoing = on;
    out->stall = rare->stall_longest;
    if (ongoing.kind != STALL_NONE &&
        (out->stall.kind == STALL_NONE || ongoing.seconds_ns >= out->stall.seconds_ns))
        out->stall = ongoing;

    bool established = (c->flags & CONN_ESTABLISHED) != 0;
    bool synack = (sv->flags & EP_SYN) != 0;
    bool client_syn = (cl->flags & EP_SYN) || (c->flags & CONN_ICMP_SYN);
    bool rst_by_server = (c->flags & CONN_RST) && c->rst_side == SIDE_SERVER;
    int fins = ((cl->flags & EP_FIN) != 0) + ((sv->flags & EP_FIN) != 0);

    if (!established && !synack && client_syn) {
        if (rst_by_server || (c->flags & CONN_ICMP_SYN)) {
            out->verdict = VERDICT_REFUSED;
            out->verdict_frame = rst_by_server ? rare->frame_rst : rare->frame_icmp;
            return;
        }
        uint32_t retries = cl->syns ? cl->syns - 1 : 0;
        out->verdict_frame = conn_frame(c, &c->last_frame);
        if (retries > 0 || now_ns - conn_syn_last(c) >= cfg->attempt_timeout_ns) {
            out->verdict = VERDICT_TIMED_OUT;
        } else {
            out->verdict = VERDICT_UNANSWERED;
            if ((c->flags & CONN_RST) && c->rst_side == SIDE_CLIENT)
                out->verdict_frame = rare->frame_rst;
        }
        return;
    }
    if (synack && !established && !(c->flags & CONN_RST)) {
        out->verdict = VERDICT_HALF_OPEN;
        out->verdict_frame = conn_frame(c, &c->last_frame);
        return;
    }
    if ((c->flags & CONN_RST) && c->rst_phase != PHASE_CLOSED) {
        out->verdict = VERDICT_RESET;
        out->verdict_frame = rare->frame_rst;
        return;
    }
    if (fins == 2) {
        out->verdict = VERDICT_CLOSED;
        out->clean = out->stall.kind == STALL_NONE;
        uint64_t fin_c = conn_frame(c, &cl->frame_fin), fin_s = conn_frame(c, &sv->frame_fin);
        out->verdict_frame = fin_c < fin_s ? fin_s : fin_c;
        return;
    }
    if (ongoing.kind != STALL_NONE) {
        out->stall = ongoing; /* the verdict is about the stall going on */
        out->verdict = VERDICT_STALLED;
        out->verdict_frame = out->stall.start_frame;
        return;
    }
    if (fins == 1) {
        out->verdict = VERDICT_HALF_CLOSED;
        out->verdict_frame =
            conn_frame(c, &c->ep[(cl->flags & EP_FIN) ? SIDE_CLIENT : SIDE_SERVER].frame_fin);
        return;
    }
    out->verdict = VERDICT_OPEN;
    out->clean = out->stall.kind == STALL_NONE;
    out->verdict_frame = conn_frame(c, &c->last_frame);
}

/* ---- one function per verdict sentence ---------------------------------
 * Each writes into buf (len bytes) and reads only c and v. */

static void reason_refused(const struct conn *c, char *buf, size_t len)
{
    const struct conn_rare *rare = conn_rare(c);
    char ip[64];
    if ((c->flags & CONN_RST) && c->rst_side == SIDE_SERVER) {
        struct ip_addr server = conn_addr(c, SIDE_SERVER);
        ip_addr_format(&server, c->key.ip_version, ip, sizeof ip);
        snprintf(buf, len,
                 "The SYN to port %u was answered by RST from %s (TTL %u) and no SYN-ACK: "
                 "nothing listens there, or a firewall rejects it with a reset.",
                 conn_port(c, SIDE_SERVER), ip, rare->ep[SIDE_SERVER].rst_ttl);
    } else {
        ip_addr_format(&rare->icmp_src, c->key.ip_version, ip, sizeof ip);
        snprintf(buf, len,
                 "The SYN to port %u was answered by ICMP%s unreachable (type %u code %u) from "
                 "%s (%s %u) and no SYN-ACK: a firewall or the host rejects it.",
                 conn_port(c, SIDE_SERVER), c->key.ip_version == 6 ? "v6" : "", rare->icmp_type,
                 rare->icmp_code, ip, c->key.ip_version == 6 ? "hop limit" : "TTL", rare->icmp_ttl);
    }
}

/* "after 1.0 s, 3.0 s" : the gaps between successive SYNs. */
static void syn_backoff_text(const struct conn *c, char *buf, size_t len)
{
    uint32_t n = c->ep[SIDE_CLIENT].syns;
    size_t used = 0;
    buf[0] = '\0';
    uint32_t prev = 0;
    for (uint32_t i = 0; i + 1 < n && i < CONN_MAX_SYN_TIMES && used < len; i++) {
        uint32_t t = conn_rare(c)->syn_times_us[i];
        int w = snprintf(buf + used, len - used, "%s%.1f s", i ? ", " : "",
                         (double)(t - prev) / 1e6);
        if (w < 0)
            break;
        used += (size_t)w;
        prev = t;
    }
}

/* timed_out and unanswered */
static void reason_unanswered(const struct conn *c, const struct verdict_info *v, char *buf,
                              size_t len)
{
    const struct endpoint *cl = &c->ep[SIDE_CLIENT];
    uint32_t retries = cl->syns ? cl->syns - 1 : 0;
    char d[32], backoff[128];
    int64_t waited = v->now_ns - conn_syn_last(c);
    if (v->verdict == VERDICT_TIMED_OUT) {
        if (retries > 0) {
            syn_backoff_text(c, backoff, sizeof backoff);
            snprintf(buf, len,
                     "The client sent %u SYNs to port %u (retries after %s) and none was "
                     "answered: dropped on the path or by a firewall, or the host is down.",
                     cl->syns, conn_port(c, SIDE_SERVER), backoff);
        } else {
            snprintf(buf, len,
                     "The SYN to port %u was not answered within %s: dropped on the path or "
                     "by a firewall, or the host is down.",
                     conn_port(c, SIDE_SERVER), classify_fmt_duration(d, sizeof d, waited));
        }
    } else if ((c->flags & CONN_RST) && c->rst_side == SIDE_CLIENT) {
        snprintf(buf, len,
                 "The SYN to port %u got no SYN-ACK, and the client aborted the attempt with a "
                 "RST %s after it.",
                 conn_port(c, SIDE_SERVER),
                 classify_fmt_duration(d, sizeof d, conn_rare(c)->rst_ns - conn_syn_last(c)));
    } else {
        snprintf(buf, len,
                 "The SYN to port %u was not answered, but %s %s after it: "
                 "too soon to call it a timeout.",
                 conn_port(c, SIDE_SERVER),
                 (c->flags & CONN_EVICTED) ? "the connection was evicted from the table"
                                           : "the capture ended",
                 classify_fmt_duration(d, sizeof d, waited));
    }
}

static void reason_half_open(const struct conn *c, char *buf, size_t len)
{
    const struct endpoint *sv = &c->ep[SIDE_SERVER];
    snprintf(buf, len,
             "The server answered with SYN-ACK (%u time%s) but the client never completed the "
             "handshake: the server sits in SYN_RECEIVED (final ACK lost, a spoofed SYN, or a "
             "client that gave up).",
             sv->syns, sv->syns == 1 ? "" : "s");
}

static void reason_reset(const struct conn *c, char *buf, size_t len)
{
    const struct conn_rare *rare = conn_rare(c);
    enum side by = (enum side)c->rst_side;
    const struct endpoint *e = &c->ep[by];
    const struct ep_rare *e_rare = ep_rare(c, e);
    char d[32], extra[96] = "";
    /* A RST whose TTL differs from the rest of that side's traffic was
     * likely forged by a box on the path. */
    if (e->ttl && e_rare->rst_ttl && e->ttl != e_rare->rst_ttl)
        snprintf(extra, sizeof extra, " Its TTL (%u) differs from the %s's other segments (%u): "
                 "a middlebox may have sent it.", e_rare->rst_ttl, side_name(by), e->ttl);
    const char *phase;
    switch ((enum reset_phase)c->rst_phase) {
    case PHASE_HANDSHAKE:
        phase = "during the handshake";
        break;
    case PHASE_CLOSING:
        phase = "while closing (after one FIN)";
        break;
    default:
        phase = "while established";
        break;
    }
    int64_t long_gap = conn_dur(c, &c->long_gap), long_gap_end = conn_time(c, &c->long_gap_end);
    if (long_gap > rare->idle_before_rst_ns && rare->rst_ns - long_gap_end <= CONN_AFTER_GAP_NS) {
        char g[32];
        snprintf(buf, len,
                 "The %s reset the connection %s, %s after the first segment that followed %s "
                 "of silence.%s",
                 side_name(by), phase,
                 classify_fmt_duration(d, sizeof d, rare->rst_ns - long_gap_end),
                 classify_fmt_duration(g, sizeof g, long_gap), extra);
        return;
    }
    snprintf(buf, len, "The %s reset the connection %s, after %s of silence.%s", side_name(by),
             phase, classify_fmt_duration(d, sizeof d, rare->idle_before_rst_ns), extra);
}

/* "; earlier it stalled 2.1 s (zero window on the server's side, from frame 9)" */
static void stall_note(const struct verdict_info *v, char *buf, size_t len)
{
    char d[32];
    buf[0] = '\0';
    if (v->stall.kind == STALL_NONE)
        return;
    snprintf(buf, len, "; earlier it stalled for %s (%s, blamed on the %s, from frame %llu)",
             classify_fmt_duration(d, sizeof d, v->stall.seconds_ns),
             stall_kind_name((enum stall_kind)v->stall.kind),
             side_name((enum side)v->stall.blamed), (unsigned long long)v->stall.start_frame);
}

static void reason_closed(const struct conn *c, const struct verdict_info *v, char *buf,
                          size_t len)
{
    bool client_first =
        conn_frame(c, &c->ep[SIDE_CLIENT].frame_fin) < conn_frame(c, &c->ep[SIDE_SERVER].frame_fin);
    char stall[160];
    stall_note(v, stall, sizeof stall);
    snprintf(buf, len, "Both sides closed with FIN (the %s first)%s%s.",
             client_first ? "client" : "server",
             (c->flags & CONN_RST) ? "; a RST followed the FINs" : "", stall);
}

static void reason_stalled(const struct conn *c, const struct verdict_info *v, char *buf,
                           size_t len)
{
    const struct stall_episode *st = &v->stall;
    enum side blamed = (enum side)st->blamed, sender = side_peer(blamed);
    char d[32];
    classify_fmt_duration(d, sizeof d, st->seconds_ns);
    switch ((enum stall_kind)st->kind) {
    case STALL_ZERO_WINDOW:
        snprintf(buf, len,
                 "The %s has advertised a zero window for %s while the %s waits to send "
                 "(%u probes): the %s application is not reading.",
                 side_name(blamed), d, side_name(sender), conn_rare(c)->ep[sender].zw_probes,
                 side_name(blamed));
        break;
    case STALL_UNACKED_DATA:
        snprintf(buf, len,
                 "The %s has retransmitted data the %s never acknowledged for %s: the %s or the "
                 "path to it stopped delivering.",
                 side_name(sender), side_name(blamed), d, side_name(blamed));
        break;
    default:
        snprintf(buf, len,
                 "The %s's data has filled the %s's advertised window for %s without progress: "
                 "the %s is reading too slowly.",
                 side_name(sender), side_name(blamed), d, side_name(blamed));
        break;
    }
}

static void reason_half_closed(const struct conn *c, const struct verdict_info *v, char *buf,
                               size_t len)
{
    const struct endpoint *cl = &c->ep[SIDE_CLIENT];
    enum side closer = (cl->flags & EP_FIN) ? SIDE_CLIENT : SIDE_SERVER;
    enum side other = side_peer(closer);
    char d[32];
    snprintf(buf, len,
             "The %s closed (FIN) and the %s stayed open for %s until %s without closing "
             "or resetting: %s.",
             side_name(closer), side_name(other),
             classify_fmt_duration(d, sizeof d, v->now_ns - conn_time(c, &c->ep[closer].ts_fin)),
             (c->flags & CONN_EVICTED) ? "it was evicted from the table" : "the end",
             other == SIDE_SERVER ? "the server may leak connections in CLOSE_WAIT"
                                  : "the client may leak connections in CLOSE_WAIT");
}

static void reason_open(const struct conn *c, const struct verdict_info *v, char *buf,
                        size_t len)
{
    char stall[160];
    stall_note(v, stall, sizeof stall);
    snprintf(buf, len, "%s and still open %s%s.",
             c->handshake == HS_COMPLETE ? "Established"
                                         : "Established (handshake not fully seen)",
             (c->flags & CONN_EVICTED) ? "when it was evicted from the table"
                                       : "at the end of the capture",
             stall);
}

char *classify_reason(const struct conn *c, const struct verdict_info *v, char *buf, size_t len)
{
    if (len == 0)
        return buf;
    buf[0] = '\0';
    switch (v->verdict) {
    case VERDICT_REFUSED:
        reason_refused(c, buf, len);
        break;
    case VERDICT_TIMED_OUT:
    case VERDICT_UNANSWERED:
        reason_unanswered(c, v, buf, len);
        break;
    case VERDICT_HALF_OPEN:
        reason_half_open(c, buf, len);
        break;
    case VERDICT_RESET:
        reason_reset(c, buf, len);
        break;
    case VERDICT_CLOSED:
        reason_closed(c, v, buf, len);
        break;
    case VERDICT_STALLED:
        reason_stalled(c, v, buf, len);
        break;
    case VERDICT_HALF_CLOSED:
        reason_half_closed(c, v, buf, len);
        break;
    case VERDICT_OPEN:
    case VERDICT__COUNT:
        reason_open(c, v, buf, len);
        break;
    }
    return buf;
}

const char *verdict_reason(const struct conn *c, const struct verdict_info *v, char *buf,
                           size_t len)
{
    if (v->reason[0])
        return v->reason;
    return classify_reason(c, v, buf, len);
}

void classify_connection(const struct conn *c, const struct classify_config *cfg, int64_t now_ns,
                         struct verdict_info *out)
{
    classify_verdict(c, cfg, now_ns, out);
    classify_reason(c, out, out->reason, sizeof out->reason);
}
