/* SPDX-License-Identifier: MIT */
/*
 * report_json.c - NDJSON reporter: one object per line.
 *
 * Lines: {"type":"connection",...} as each connection finishes,
 * {"type":"event",...} in live mode, and a last {"type":"summary",...}.
 * The schema is documented in docs/output.md; field names there are a
 * contract. Nothing is buffered beyond stdio: memory does not grow with the
 * number of connections.
 */
#include "report.h"

#include <stdlib.h>
#include <string.h>

/* ---- a small buffered writer for the per-connection line ----------------
 * One connection line is assembled in memory with hand-rolled number
 * formatting and written with one fwrite: the reporter runs once per
 * connection (millions in a large capture), and printf's format parsing was
 * most of its cost. The output is byte-for-byte what printf would give. */

#define JW_CAP 8192

struct jw {
    char buf[JW_CAP];
    size_t n;
    FILE *f;
};

struct json_reporter {
    struct reporter base;
    struct jw w; /* the connection line being assembled */
};

static struct reporter *json_create(const struct reporter_config *cfg)
{
    struct json_reporter *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->base.ops = &report_json_ops;
    r->base.cfg = *cfg;
    return &r->base;
}

static void jw_flush(struct jw *w)
{
    if (w->n)
        fwrite(w->buf, 1, w->n, w->f);
    w->n = 0;
}

/* jw_mem() when the bytes do not fit: flush first (rare, out of line). */
static void jw_mem_slow(struct jw *w, const char *s, size_t len)
{
    jw_flush(w);
    if (len > JW_CAP) {
        fwrite(s, 1, len, w->f);
        return;
    }
    memcpy(w->buf, s, len);
    w->n = len;
}

/* Inline, so that a literal's strlen() and the short copies fold into a few
 * instructions at each call: ~60 pieces per connection line. */
static inline void jw_mem(struct jw *w, const char *s, size_t len)
{
    if (w->n + len > JW_CAP) {
        jw_mem_slow(w, s, len);
        return;
    }
    memcpy(w->buf + w->n, s, len);
    w->n += len;
}

static inline void jw_lit(struct jw *w, const char *s)
{
    jw_mem(w, s, strlen(s));
}

/* "00" "01" ... "99": numbers are written two digits at a time. */
static const char jw_digits2[201] = "00010203040506070809101112131415161718192021222324"
                                    "25262728293031323334353637383940414243444546474849"
                                    "50515253545556575859606162636465666768697071727374"
                                    "75767778798081828384858687888990919293949596979899";

/* The last n digits of v, zero-padded, ending at end (n even or odd). */
static void jw_fixed_digits(char *end, uint64_t v, int n)
{
    for (; n >= 2; n -= 2) {
        end -= 2;
        memcpy(end, jw_digits2 + 2 * (v % 100), 2);
        v /= 100;
    }
    if (n)
        *--end = (char)('0' + v % 10);
}

/* jw_u64() of a number of two digits or more (out of line). */
static void jw_u64_long(struct jw *w, uint64_t v)
{
    char tmp[24];
    size_t i = sizeof tmp;
    while (v >= 100) {
        i -= 2;
        memcpy(tmp + i, jw_digits2 + 2 * (v % 100), 2);
        v /= 100;
    }
    if (v >= 10) {
        i -= 2;
        memcpy(tmp + i, jw_digits2 + 2 * v, 2);
    } else {
        tmp[--i] = (char)('0' + v);
    }
    jw_mem(w, tmp + i, sizeof tmp - i);
}

static inline void jw_u64(struct jw *w, uint64_t v)
{
    if (v < 10) { /* most counters: inline */
        char c = (char)('0' + v);
        jw_mem(w, &c, 1);
        return;
    }
    jw_u64_long(w, v);
}

/* Keys are literals: ,"key": is one piece whose length the compiler knows
 * (JW_KEY), so writing it is one short copy. */
#define JW_KEY(key) ",\"" key "\":"
#define JW_KEY_LEN(key) (sizeof(JW_KEY(key)) - 1)
#define jw_key(w, key) jw_mem((w), JW_KEY(key), JW_KEY_LEN(key))
#define jw_key_u64(w, key, v) jw_key_u64_((w), JW_KEY(key), JW_KEY_LEN(key), (v))
#define jw_key_name(w, key, value) jw_key_name_((w), JW_KEY(key), JW_KEY_LEN(key), (value))
#define jw_time(w, key, ns, digits) jw_time_((w), JW_KEY(key), JW_KEY_LEN(key), (ns), (digits))
#define jw_addr(w, key, a, ver) jw_addr_((w), JW_KEY(key), JW_KEY_LEN(key), (a), (ver))
#define jw_pair(w, key, cl, sv) jw_pair_((w), JW_KEY(key), JW_KEY_LEN(key), (cl), (sv))

static void jw_key_u64_(struct jw *w, const char *key, size_t klen, uint64_t v)
{
    jw_mem(w, key, klen);
    jw_u64(w, v);
}

/* ,"key":"value" (value needs no escaping: names and addresses) */
static void jw_key_name_(struct jw *w, const char *key, size_t klen, const char *value)
{
    jw_mem(w, key, klen);
    jw_mem(w, "\"", 1);
    jw_lit(w, value);
    jw_mem(w, "\"", 1);
}

/* A JSON string, escaped as report_json_escape() does, with quotes. */
static void jw_str(struct jw *w, const char *s)
{
    jw_mem(w, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        switch (*p) {
        case '"':
            jw_mem(w, "\\\"", 2);
            break;
        case '\\':
            jw_mem(w, "\\\\", 2);
            break;
        case '\n':
            jw_mem(w, "\\n", 2);
            break;
        case '\t':
            jw_mem(w, "\\t", 2);
            break;
        default:
            if (*p < 0x20) {
                snprintf(esc, sizeof esc, "\\u%04x", *p);
                jw_mem(w, esc, 6);
            } else {
                jw_mem(w, (const char *)p, 1);
            }
        }
    }
    jw_mem(w, "\"", 1);
}

/* Seconds with 6 or 9 decimals, as report_fmt_time() writes them. */
static void jw_time_(struct jw *w, const char *key, size_t klen, int64_t ns, int digits)
{
    jw_mem(w, key, klen);
    uint64_t u = (uint64_t)ns;
    if (ns < 0) {
        jw_mem(w, "-", 1);
        u = 0 - (uint64_t)ns;
    }
    jw_u64(w, u / 1000000000u);
    uint64_t frac = u % 1000000000u;
    char tmp[10];
    int nd = digits == 9 ? 9 : 6;
    if (nd == 6)
        frac /= 1000u;
    tmp[0] = '.';
    jw_fixed_digits(tmp + 1 + nd, frac, nd);
    jw_mem(w, tmp, (size_t)nd + 1);
}

static void jw_addr_(struct jw *w, const char *key, size_t klen, const struct ip_addr *a,
                    int ver)
{
    char b[64];
    report_fmt_addr(a, ver, b, sizeof b);
    jw_key_name_(w, key, klen, b);
}

static void jw_pair_(struct jw *w, const char *key, size_t klen, uint64_t cl, uint64_t sv)
{
    jw_mem(w, key, klen);
    jw_mem(w, "{\"client\":", 10);
    jw_u64(w, cl);
    jw_mem(w, ",\"server\":", 10);
    jw_u64(w, sv);
    jw_mem(w, "}", 1);
}

static void jw_stall(struct jw *w, const struct stall_episode *st, int digits)
{
    if (st->kind == STALL_NONE) {
        jw_lit(w, ",\"stall\":null");
        return;
    }
    jw_lit(w, ",\"stall\":{\"kind\":\"");
    jw_lit(w, stall_kind_name((enum stall_kind)st->kind));
    jw_lit(w, "\",\"side\":\"");
    jw_lit(w, side_name((enum side)st->blamed));
    jw_mem(w, "\"", 1);
    jw_time(w, "start", st->start_ns, digits);
    jw_time(w, "seconds", st->seconds_ns, digits);
    jw_key_u64(w, "start_frame", st->start_frame);
    jw_lit(w, st->ongoing ? ",\"ongoing\":true}" : ",\"ongoing\":false}");
}

static const char *roles_name(const struct conn *c)
{
    if (c->flags & CONN_ROLES_GUESSED)
        return "port_heuristic";
    if (c->ep[SIDE_CLIENT].flags & EP_SYN)
        return "syn";
    if (!(c->ep[SIDE_SERVER].flags & EP_SYN) && conn_rare(c)->resumes)
        return "resumed"; /* those of the evicted connection it continues */
    return "synack";
}

static void json_connection(struct reporter *base, const struct conn *c,
                            const struct verdict_info *v, enum conn_end why)
{
    const struct conn_rare *rare = conn_rare(c);
    struct json_reporter *r = (struct json_reporter *)base;
    struct jw *w = &r->w;
    int dg = base->cfg.ts_digits;
    const struct endpoint *cl = &c->ep[SIDE_CLIENT], *sv = &c->ep[SIDE_SERVER];
    const struct ep_rare *sv_rare = ep_rare(c, sv);
    const struct ep_rare *cl_rare = ep_rare(c, cl);
    int ver = c->key.ip_version;

    w->f = base->cfg.out;
    jw_lit(w, "{\"type\":\"connection\"");
    jw_key_u64(w, "id", conn_id(c));
    struct ip_addr client = conn_addr(c, SIDE_CLIENT), server = conn_addr(c, SIDE_SERVER);
    jw_addr(w, "client", &client, ver);
    jw_key_u64(w, "client_port", conn_port(c, SIDE_CLIENT));
    jw_addr(w, "server", &server, ver);
    jw_key_u64(w, "server_port", conn_port(c, SIDE_SERVER));
    jw_key_u64(w, "ip_version", (uint64_t)ver);
    jw_key_name(w, "verdict", verdict_name(v->verdict));
    char reason[VERDICT_REASON_MAX];
    jw_key(w, "reason");
    jw_str(w, verdict_reason(c, v, reason, sizeof reason));
    jw_time(w, "start", c->start_ns, dg);
    jw_time(w, "end", c->last_ns, dg);
    jw_time(w, "duration", c->last_ns - c->start_ns, dg);
    jw_key_u64(w, "first_frame", conn_first_frame(c));
    jw_key_u64(w, "last_frame", conn_frame(c, &c->last_frame));
    jw_key_u64(w, "verdict_frame", v->verdict_frame);
    jw_key_name(w, "handshake", handshake_name((enum handshake_seen)c->handshake));
    jw_key_name(w, "client_state", tcp_state_name((enum tcp_state)cl->state));
    jw_key_name(w, "server_state", tcp_state_name((enum tcp_state)sv->state));
    if (c->flags & CONN_RST)
        jw_key_name(w, "reset_by", side_name((enum side)c->rst_side));
    else
        jw_lit(w, ",\"reset_by\":null");
    jw_key_u64(w, "syn_retransmits", cl->syns > 1 ? cl->syns - 1 : 0);
    jw_stall(w, &v->stall, dg);
    jw_pair(w, "packets", cl->pkts, sv->pkts);
    jw_pair(w, "bytes", conn_bytes(c, SIDE_CLIENT), conn_bytes(c, SIDE_SERVER));
    jw_pair(w, "retransmits", cl->retransmits, sv->retransmits);
    int64_t est_ns = conn_time(c, &c->established), syn_last = conn_syn_last(c);
    if (c->handshake == HS_COMPLETE && est_ns >= syn_last)
        jw_time(w, "handshake_rtt", est_ns - syn_last, dg);
    else
        jw_lit(w, ",\"handshake_rtt\":null");

    /* ---- beyond the required fields ---- */
    jw_key_name(w, "end_reason", conn_end_name(why));
    if (!(c->flags & CONN_EVICTED))
        jw_lit(w, ",\"evicted\":false");
    else if (conn_evicted_at_handshake_cap(c))
        jw_lit(w, ",\"evicted\":true,\"evicted_by\":\"max_handshakes\"");
    else
        jw_lit(w, ",\"evicted\":true,\"evicted_by\":\"max_connections\"");
    if (rare->resumes)
        jw_key_u64(w, "resumes", rare->resumes);
    jw_key_name(w, "roles", roles_name(c));
    if (c->flags & CONN_RST) {
        jw_lit(w, ",\"reset\":{\"phase\":\"");
        jw_lit(w, reset_phase_name((enum reset_phase)c->rst_phase));
        jw_mem(w, "\"", 1);
        jw_key_u64(w, "frame", rare->frame_rst);
        jw_time(w, "time", rare->rst_ns, dg);
        jw_time(w, "idle_before", rare->idle_before_rst_ns, dg);
        jw_key_u64(w, "ttl", rare->ep[c->rst_side].rst_ttl);
        jw_mem(w, "}", 1);
    }
    if (c->flags & CONN_ICMP) {
        char b[64];
        report_fmt_addr(&rare->icmp_src, ver, b, sizeof b);
        jw_lit(w, ",\"icmp\":{\"from\":\"");
        jw_lit(w, b);
        jw_mem(w, "\"", 1);
        jw_key_u64(w, "type", rare->icmp_type);
        jw_key_u64(w, "code", rare->icmp_code);
        jw_key_u64(w, "ttl", rare->icmp_ttl);
        jw_key_u64(w, "frame", rare->frame_icmp);
        jw_pair(w, "count", rare->ep[SIDE_CLIENT].icmp_errors, rare->ep[SIDE_SERVER].icmp_errors);
        jw_mem(w, "}", 1);
    }
    if (cl->syns > 1) {
        jw_lit(w, ",\"syn_backoff\":[");
        uint32_t prev = 0;
        for (uint32_t i = 0; i + 1 < cl->syns && i < CONN_MAX_SYN_TIMES; i++) {
            char b[32];
            int n = snprintf(b, sizeof b, "%s%.3f", i ? "," : "",
                             (double)(rare->syn_times_us[i] - prev) / 1e6);
            jw_mem(w, b, n > 0 ? (size_t)n : 0);
            prev = rare->syn_times_us[i];
        }
        jw_mem(w, "]", 1);
    }
    jw_key_u64(w, "synack_retransmits", sv->syns > 1 ? sv->syns - 1 : 0);
    jw_pair(w, "fast_retransmits", cl_rare->rtx_fast, sv_rare->rtx_fast);
    jw_pair(w, "spurious_retransmits", cl_rare->rtx_spurious, sv_rare->rtx_spurious);
    jw_pair(w, "zero_windows", cl_rare->zero_windows, sv_rare->zero_windows);
    jw_pair(w, "zero_window_probes", cl_rare->zw_probes, sv_rare->zw_probes);
    jw_pair(w, "keepalives", cl_rare->keepalives, sv_rare->keepalives);
    jw_pair(w, "rst_ignored", cl_rare->rst_ignored, sv_rare->rst_ignored);
    jw_pair(w, "nagle_holds", cl_rare->nagle_events, sv_rare->nagle_events);
    jw_pair(w, "ack_gaps", cl_rare->ack_gaps, sv_rare->ack_gaps);
    jw_key_u64(w, "synack_after_ack", sv_rare->synack_after_ack);
    jw_key_u64(w, "stall_episodes", rare->stall_episodes);
    jw_time(w, "max_idle", conn_dur(c, &c->max_idle), dg);
    jw_pair(w, "fin_frames", conn_frame(c, &cl->frame_fin), conn_frame(c, &sv->frame_fin));
    jw_pair(w, "mss", cl->mss, sv->mss);
    jw_mem(w, "}\n", 2);
    jw_flush(w);
    if (base->cfg.live)
        fflush(w->f); /* live: a consumer sees each connection as it ends */
}

/* The rarer lines (events, findings, summary) use stdio directly. */
static void put_time(FILE *f, const char *key, int64_t ns, int digits)
{
    char b[48];
    report_fmt_time(b, sizeof b, ns, digits);
    fprintf(f, ",\"%s\":%s", key, b);
}

static void put_addr(FILE *f, const char *key, const struct ip_addr *a, int ver)
{
    char b[64];
    report_fmt_addr(a, ver, b, sizeof b);
    fprintf(f, ",\"%s\":\"%s\"", key, b);
}

static void json_event(struct reporter *base, const struct conn *c, enum tracker_event ev,
                       int64_t now_ns, const char *detail)
{
    FILE *f = base->cfg.out;
    fprintf(f, "{\"type\":\"event\",\"event\":\"%s\",\"id\":%llu", tracker_event_name(ev),
            (unsigned long long)conn_id(c));
    put_time(f, "time", now_ns, base->cfg.ts_digits);
    struct ip_addr client = conn_addr(c, SIDE_CLIENT), server = conn_addr(c, SIDE_SERVER);
    put_addr(f, "client", &client, c->key.ip_version);
    fprintf(f, ",\"client_port\":%u", conn_port(c, SIDE_CLIENT));
    put_addr(f, "server", &server, c->key.ip_version);
    fprintf(f, ",\"server_port\":%u,\"frame\":%llu,\"detail\":\"", conn_port(c, SIDE_SERVER),
            (unsigned long long)conn_frame(c, &c->last_frame));
    report_json_escape(f, detail ? detail : "");
    fputs("\"}\n", f);
    fflush(f);
}

static void json_finding(struct reporter *base, const struct finding *fd)
{
    FILE *f = base->cfg.out;
    fprintf(f, "{\"type\":\"finding\",\"kind\":\"%s\",\"subject\":\"",
            finding_kind_name(fd->kind));
    report_json_escape(f, fd->subject);
    fputs("\",\"statement\":\"", f);
    report_json_escape(f, fd->statement);
    fprintf(f, "\",\"confidence\":\"%s\",\"confidence_note\":", confidence_name(fd->confidence));
    if (fd->confidence_note[0]) {
        fputc('"', f);
        report_json_escape(f, fd->confidence_note);
        fputc('"', f);
    } else {
        fputs("null", f);
    }
    fprintf(f, ",\"connection_count\":%llu,\"connections\":[", (unsigned long long)fd->connections);
    for (size_t i = 0; i < fd->n_ids; i++)
        fprintf(f, "%s%llu", i ? "," : "", (unsigned long long)fd->ids[i]);
    fputs("],\"evidence_frames\":[", f);
    for (size_t i = 0; i < fd->n_ids; i++)
        fprintf(f, "%s%llu", i ? "," : "", (unsigned long long)fd->frames[i]);
    fputs("],\"check\":[", f);
    for (size_t i = 0; i < fd->n_checks; i++) {
        fputs(i ? ",\"" : "\"", f);
        report_json_escape(f, fd->checks[i]);
        fputc('"', f);
    }
    fputs("]}\n", f);
}

static void json_end(struct reporter *base, const struct report_summary *s)
{
    FILE *f = base->cfg.out;
    fputs("{\"type\":\"summary\",\"source\":\"", f);
    report_json_escape(f, s->source ? s->source : "");
    fprintf(f, "\",\"link_type\":\"%s\"", s->link ? s->link : "");
    fprintf(f, ",\"frames\":%llu,\"tcp_segments\":%llu,\"icmp_errors\":%llu",
            (unsigned long long)s->frames, (unsigned long long)s->decode.tcp_segments,
            (unsigned long long)s->decode.icmp_errors);
    put_time(f, "start", s->first_ns, base->cfg.ts_digits);
    put_time(f, "end", s->last_ns, base->cfg.ts_digits);
    fprintf(f, ",\"connections\":%llu,\"verdicts\":{", (unsigned long long)s->connections);
    for (unsigned i = 0; i < VERDICT__COUNT; i++)
        fprintf(f, "%s\"%s\":%llu", i ? "," : "", verdict_name((enum verdict)i),
                (unsigned long long)s->verdicts[i]);
    fputs("},\"skipped\":{", f);
    int n = 0;
    uint64_t malformed = 0;
    for (unsigned i = 0; i < DR__COUNT; i++) {
        if (decode_reason_is_malformed((enum decode_reason)i)) {
            malformed += s->decode.by_reason[i];
            continue;
        }
        fprintf(f, "%s\"%s\":%llu", n++ ? "," : "", decode_reason_name((enum decode_reason)i),
                (unsigned long long)s->decode.by_reason[i]);
    }
    fprintf(f, "},\"malformed\":%llu,\"malformed_by_reason\":{", (unsigned long long)malformed);
    n = 0;
    for (unsigned i = 0; i < DR__COUNT; i++) {
        if (!decode_reason_is_malformed((enum decode_reason)i))
            continue;
        fprintf(f, "%s\"%s\":%llu", n++ ? "," : "", decode_reason_name((enum decode_reason)i),
                (unsigned long long)s->decode.by_reason[i]);
    }
    fprintf(f, "},\"checksum_bad\":%llu,\"checksum_unverified\":%llu,\"options_cut\":%llu",
            (unsigned long long)s->decode.checksum_bad,
            (unsigned long long)s->decode.checksum_unverified,
            (unsigned long long)s->decode.options_cut);
    fprintf(f, ",\"caplen_gt_wirelen\":%llu", (unsigned long long)s->decode.caplen_gt_wirelen);
    fprintf(f,
            ",\"timestamps_backwards\":%llu,\"icmp_unmatched\":%llu,\"evicted\":%llu,"
            "\"evicted_handshakes\":%llu,"
            "\"replaced\":%llu,\"unhandled_state_events\":%llu,\"peak_connections\":%zu",
            (unsigned long long)s->tracker.ts_backwards,
            (unsigned long long)s->tracker.icmp_unmatched,
            (unsigned long long)s->tracker.evicted,
            (unsigned long long)s->tracker.evicted_handshakes, (unsigned long long)s->tracker.replaced,
            (unsigned long long)s->tracker.unhandled_state, s->peak_connections);
    if (s->tracker.evicted) /* (none can be resumed otherwise) */
        fprintf(f, ",\"resumed\":%llu", (unsigned long long)s->tracker.resumed);
    if (base->cfg.live)
        fprintf(f, ",\"capture_dropped\":%llu,\"interface_dropped\":%llu",
                (unsigned long long)s->live_dropped, (unsigned long long)s->live_if_dropped);
    fprintf(f, ",\"findings\":%llu,\"findings_overflow\":%llu", (unsigned long long)s->findings,
            (unsigned long long)s->findings_overflow);
    fprintf(f, ",\"damaged\":%s", s->damaged ? "true" : "false");
    if (s->damaged) {
        fputs(",\"damage\":\"", f);
        report_json_escape(f, s->damage);
        fputc('"', f);
    }
    fputs("}\n", f);
    fflush(f);
}

static void json_destroy(struct reporter *base)
{
    free(base);
}

const struct reporter_ops report_json_ops = {
    .name = "json",
    .reason_on_demand = true, /* every line carries one, written as it is assembled */
    .create = json_create,
    .connection = json_connection,
    .event = json_event,
    .finding = json_finding,
    .end = json_end,
    .destroy = json_destroy,
};
