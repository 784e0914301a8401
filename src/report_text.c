/* SPDX-License-Identifier: MIT */
/*
 * report_text.c - the human report.
 *
 * Layout: a summary (counts per verdict), then one line per connection that
 * is not clean, in time order (time, client -> server, verdict, reason,
 * frames), then, for each kind of problem present, what to check next on the
 * hosts involved. In live mode each event is also printed as it happens.
 *
 * Memory: only problem connections are kept, as one compact line each, and
 * at most cfg.max_problem_lines of them (the rest are counted).
 * Times are UTC so the output does not depend on the machine's time zone.
 */
#include "report.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define KIND_COUNT (VERDICT__COUNT + 3) /* stalled splits by stall kind */

struct problem_line {
    int64_t start_ns;
    uint64_t id;
    char *text;
};

struct kind_example {
    uint64_t count;
    char server[64];
    char peer[64];
    uint16_t port;
};

struct text_reporter {
    struct reporter base;
    struct problem_line *lines;
    size_t n_lines, cap_lines;
    uint64_t dropped;
    struct kind_example kinds[KIND_COUNT];
    struct finding *findings; /* kept for the report's Findings section */
    size_t n_findings;
};

static struct reporter *text_create(const struct reporter_config *cfg)
{
    struct text_reporter *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->base.ops = &report_text_ops;
    r->base.cfg = *cfg;
    return &r->base;
}

/* "12:00:01.234567" (UTC). The time of day is the seconds since the epoch
 * modulo 86400 (time_t counts no leap seconds: what gmtime_r() gives),
 * written by hand: this runs for every kept problem line. */
static void fmt_clock(char *buf, size_t len, int64_t ns, int digits)
{
    int64_t sec = ns >= 0 ? ns / 1000000000LL : (ns - 999999999LL) / 1000000000LL;
    int64_t frac = ns - sec * 1000000000LL;
    int64_t day_s = sec % 86400;
    if (day_s < 0)
        day_s += 86400;
    int nd = digits == 9 ? 9 : 6;
    if (nd == 6)
        frac /= 1000;
    char tmp[24];
    int fields[3] = {(int)(day_s / 3600), (int)(day_s / 60 % 60), (int)(day_s % 60)};
    size_t n = 0;
    for (int i = 0; i < 3; i++) {
        tmp[n++] = (char)('0' + fields[i] / 10);
        tmp[n++] = (char)('0' + fields[i] % 10);
        tmp[n++] = i < 2 ? ':' : '.';
    }
    for (int i = nd - 1; i >= 0; i--) {
        tmp[n + (size_t)i] = (char)('0' + frac % 10);
        frac /= 10;
    }
    n += (size_t)nd;
    if (len) {
        size_t k = n < len ? n : len - 1; /* cut as snprintf would */
        memcpy(buf, tmp, k);
        buf[k] = '\0';
    }
}

static void fmt_endpoint(char *buf, size_t len, const struct conn *c, enum side s)
{
    char ip[64];
    struct ip_addr a = conn_addr(c, s);
    report_fmt_addr(&a, c->key.ip_version, ip, sizeof ip);
    if (c->key.ip_version == 6)
        snprintf(buf, len, "[%s]:%u", ip, conn_port(c, s));
    else
        snprintf(buf, len, "%s:%u", ip, conn_port(c, s));
}

static unsigned kind_index(enum verdict v, enum stall_kind k)
{
    if (v == VERDICT_STALLED && k == STALL_UNACKED_DATA)
        return VERDICT__COUNT;
    if (v == VERDICT_STALLED && k == STALL_WINDOW_FULL)
        return VERDICT__COUNT + 1;
    return (unsigned)v;
}

static void note_kind(struct text_reporter *r, const struct conn *c, const struct verdict_info *v)
{
    struct kind_example *k = &r->kinds[kind_index(v->verdict, (enum stall_kind)v->stall.kind)];
    if (k->count++ > 0)
        return;
    struct ip_addr server = conn_addr(c, SIDE_SERVER);
    report_fmt_addr(&server, c->key.ip_version, k->server, sizeof k->server);
    k->port = conn_port(c, SIDE_SERVER);
    /* The peer of the host where the checks run. */
    enum side peer = SIDE_CLIENT;
    if (v->verdict == VERDICT_RESET)
        peer = side_peer((enum side)c->rst_side);
    else if (v->verdict == VERDICT_STALLED)
        peer = v->stall.kind == STALL_UNACKED_DATA ? (enum side)v->stall.blamed
                                                   : side_peer((enum side)v->stall.blamed);
    struct ip_addr peer_addr = conn_addr(c, peer);
    report_fmt_addr(&peer_addr, c->key.ip_version, k->peer, sizeof k->peer);
}

static void text_connection(struct reporter *base, const struct conn *c,
                            const struct verdict_info *v, enum conn_end why)
{
    struct text_reporter *r = (struct text_reporter *)base;
    if (v->clean && why != END_EVICTED)
        return;
    note_kind(r, c, v);
    if (r->n_lines >= base->cfg.max_problem_lines) {
        r->dropped++;
        return;
    }
    if (r->n_lines == r->cap_lines) {
        size_t cap = r->cap_lines ? r->cap_lines * 2 : 64;
        if (cap > base->cfg.max_problem_lines)
            cap = base->cfg.max_problem_lines;
        struct problem_line *nl = realloc(r->lines, cap * sizeof *nl);
        if (!nl) {
            r->dropped++;
            return;
        }
        r->lines = nl;
        r->cap_lines = cap;
    }
    char t[32], a[80], b[80], line[VERDICT_REASON_MAX + 320], reason[VERDICT_REASON_MAX];
    fmt_clock(t, sizeof t, c->start_ns, base->cfg.ts_digits);
    fmt_endpoint(a, sizeof a, c, SIDE_CLIENT);
    fmt_endpoint(b, sizeof b, c, SIDE_SERVER);
    char resumes[64] = "";
    if (conn_rare(c)->resumes)
        snprintf(resumes, sizeof resumes, "; continues evicted connection %llu",
                 (unsigned long long)conn_rare(c)->resumes);
    int n = snprintf(line, sizeof line,
                     "  %s  %s -> %s  %-11s %s (frames %llu-%llu, verdict at %llu%s%s)", t, a, b,
                     verdict_name(v->verdict), verdict_reason(c, v, reason, sizeof reason),
                     (unsigned long long)conn_first_frame(c),
                     (unsigned long long)conn_frame(c, &c->last_frame),
                     (unsigned long long)v->verdict_frame, resumes,
                     why != END_EVICTED                   ? ""
                     : conn_evicted_at_handshake_cap(c) ? "; evicted at the handshake cap"
                                                        : "; evicted at the table cap");
    if (n < 0)
        return;
    char *text = strdup(line);
    if (!text) {
        r->dropped++;
        return;
    }
    r->lines[r->n_lines].start_ns = c->start_ns;
    r->lines[r->n_lines].id = conn_id(c);
    r->lines[r->n_lines].text = text;
    r->n_lines++;
}

static void text_event(struct reporter *base, const struct conn *c, enum tracker_event ev,
                       int64_t now_ns, const char *detail)
{
    FILE *f = base->cfg.out;
    char t[32], a[80], b[80];
    fmt_clock(t, sizeof t, now_ns, base->cfg.ts_digits);
    fmt_endpoint(a, sizeof a, c, SIDE_CLIENT);
    fmt_endpoint(b, sizeof b, c, SIDE_SERVER);
    fprintf(f, "%s  %s -> %s  %s%s%s\n", t, a, b, tracker_event_name(ev), detail ? ": " : "",
            detail ? detail : "");
    fflush(f);
}

static void text_finding(struct reporter *base, const struct finding *f)
{
    struct text_reporter *r = (struct text_reporter *)base;
    struct finding *nv = realloc(r->findings, (r->n_findings + 1) * sizeof *nv);
    if (!nv)
        return;
    r->findings = nv;
    r->findings[r->n_findings++] = *f;
}

static void print_findings(FILE *f, const struct text_reporter *r)
{
    if (!r->n_findings)
        return;
    fputs("\nFindings (most severe first):\n", f);
    for (size_t i = 0; i < r->n_findings; i++) {
        const struct finding *fd = &r->findings[i];
        fprintf(f, "  [%s] %s  (confidence %s%s%s)\n", finding_kind_name(fd->kind), fd->subject,
                confidence_name(fd->confidence), fd->confidence_note[0] ? ": " : "",
                fd->confidence_note);
        fprintf(f, "    %s\n", fd->statement);
        if (fd->n_ids) {
            fputs("    evidence: connection (frame)", f);
            for (size_t j = 0; j < fd->n_ids; j++)
                fprintf(f, " %llu (%llu)", (unsigned long long)fd->ids[j],
                        (unsigned long long)fd->frames[j]);
            if (fd->connections > fd->n_ids)
                fprintf(f, " ... %llu in all", (unsigned long long)fd->connections);
            fputc('\n', f);
        }
        for (size_t j = 0; j < fd->n_checks; j++)
            fprintf(f, "    check: %s\n", fd->checks[j]);
    }
}

static int line_cmp(const void *x, const void *y)
{
    const struct problem_line *a = x, *b = y;
    if (a->start_ns != b->start_ns)
        return a->start_ns < b->start_ns ? -1 : 1;
    return (a->id > b->id) - (a->id < b->id);
}

/* Prints a check command with PORT, SERVER and PEER filled in. */
static void print_check(FILE *f, const char *tmpl, const struct kind_example *k)
{
    char port[8];
    snprintf(port, sizeof port, "%u", k->port);
    fputs("    ", f);
    for (const char *p = tmpl; *p;) {
        if (strncmp(p, "PORT", 4) == 0) {
            fputs(port, f);
            p += 4;
        } else if (strncmp(p, "SERVER", 6) == 0) {
            fputs(k->server, f);
            p += 6;
        } else if (strncmp(p, "PEER", 4) == 0) {
            fputs(k->peer, f);
            p += 4;
        } else {
            fputc(*p++, f);
        }
    }
    fputc('\n', f);
}

static void text_end(struct reporter *base, const struct report_summary *s)
{
    struct text_reporter *r = (struct text_reporter *)base;
    FILE *f = base->cfg.out;
    char t0[48] = "-", dur[32] = "0";
    if (s->frames) {
        time_t sec = (time_t)(s->first_ns / 1000000000LL);
        struct tm tm;
        if (gmtime_r(&sec, &tm))
            strftime(t0, sizeof t0, "%Y-%m-%d %H:%M:%S UTC", &tm);
        snprintf(dur, sizeof dur, "%.3f", (double)(s->last_ns - s->first_ns) / 1e9);
    }
    fprintf(f, "tcptriage: %s (%s)\n", s->source ? s->source : "-", s->link ? s->link : "-");
    fprintf(f, "  %llu frames, %llu TCP segments, %llu connection%s, from %s over %s s\n",
            (unsigned long long)s->frames, (unsigned long long)s->decode.tcp_segments,
            (unsigned long long)s->connections, s->connections == 1 ? "" : "s", t0, dur);
    fputs("  verdicts:", f);
    int any = 0;
    for (unsigned i = 0; i < VERDICT__COUNT; i++) {
        if (!s->verdicts[i])
            continue;
        fprintf(f, " %s %llu", verdict_name((enum verdict)i), (unsigned long long)s->verdicts[i]);
        any = 1;
    }
    fputs(any ? "\n" : " none\n", f);
    uint64_t malformed = 0, skipped = 0;
    for (unsigned i = 0; i < DR__COUNT; i++) {
        if (decode_reason_is_malformed((enum decode_reason)i))
            malformed += s->decode.by_reason[i];
        else
            skipped += s->decode.by_reason[i];
    }
    fprintf(f, "  frames not analysed: %llu skipped (not TCP, fragments, cut headers), %llu "
               "malformed",
            (unsigned long long)skipped, (unsigned long long)malformed);
    if (malformed) {
        fputs(" (", f);
        int n = 0;
        for (unsigned i = 0; i < DR__COUNT; i++)
            if (decode_reason_is_malformed((enum decode_reason)i) && s->decode.by_reason[i])
                fprintf(f, "%s%s %llu", n++ ? ", " : "", decode_reason_name((enum decode_reason)i),
                        (unsigned long long)s->decode.by_reason[i]);
        fputc(')', f);
    }
    fprintf(f, "; %llu bad TCP checksums\n", (unsigned long long)s->decode.checksum_bad);
    uint64_t ev_hs = s->tracker.evicted_handshakes, ev_all = s->tracker.evicted;
    if (ev_all && !ev_hs)
        fprintf(f, "  %llu connections evicted at the table cap (--max-connections)\n",
                (unsigned long long)ev_all);
    else if (ev_all == ev_hs && ev_hs)
        fprintf(f, "  %llu half-open connections evicted at the handshake cap (--max-handshakes)\n",
                (unsigned long long)ev_hs);
    else if (ev_all)
        fprintf(f, "  %llu connections evicted: %llu half-open at the handshake cap "
                   "(--max-handshakes), %llu at the table cap (--max-connections)\n",
                (unsigned long long)ev_all, (unsigned long long)ev_hs,
                (unsigned long long)(ev_all - ev_hs));
    if (s->tracker.resumed)
        fprintf(f, "  %llu connections came back after their eviction: each was reported as the "
                   "continuation of the evicted one (\"continues evicted connection N\")\n",
                (unsigned long long)s->tracker.resumed);
    if (base->cfg.live)
        fprintf(f, "  capture drops: %llu by the kernel, %llu by the interface\n",
                (unsigned long long)s->live_dropped, (unsigned long long)s->live_if_dropped);
    if (s->damaged)
        fprintf(f, "  INPUT DAMAGED: %s (everything before it is reported)\n", s->damage);
    print_findings(f, r);

    if (r->n_lines) {
        qsort(r->lines, r->n_lines, sizeof *r->lines, line_cmp);
        fputs("\nProblem connections (time order, UTC):\n", f);
        for (size_t i = 0; i < r->n_lines; i++)
            fprintf(f, "%s\n", r->lines[i].text);
    }
    if (r->dropped)
        fprintf(f, "  ... and %llu more (raise --max-report-lines to see them)\n",
                (unsigned long long)r->dropped);

    int header = 0;
    static const char *const kind_names[KIND_COUNT] = {
        [VERDICT_REFUSED] = "refused",
        [VERDICT_TIMED_OUT] = "timed_out",
        [VERDICT_UNANSWERED] = "unanswered",
        [VERDICT_HALF_OPEN] = "half_open",
        [VERDICT_RESET] = "reset",
        [VERDICT_CLOSED] = "closed (with a stall)",
        [VERDICT_STALLED] = "stalled (zero window)",
        [VERDICT_HALF_CLOSED] = "half_closed",
        [VERDICT_OPEN] = "open (with a stall)",
        [VERDICT__COUNT] = "stalled (unacknowledged data)",
        [VERDICT__COUNT + 1] = "stalled (window full)",
    };
    for (unsigned i = 0; i < KIND_COUNT; i++) {
        const struct kind_example *k = &r->kinds[i];
        if (!k->count)
            continue;
        enum verdict v = i < VERDICT__COUNT ? (enum verdict)i : VERDICT_STALLED;
        enum stall_kind sk = i == VERDICT__COUNT       ? STALL_UNACKED_DATA
                             : i == VERDICT__COUNT + 1 ? STALL_WINDOW_FULL
                                                       : STALL_ZERO_WINDOW;
        const char *const *checks = report_checks_for(v, sk);
        if (!checks[0])
            continue;
        if (!header++)
            fputs("\nWhat to check next:\n", f);
        fprintf(f, "  %s (%llu connection%s, e.g. server %s port %u):\n", kind_names[i],
                (unsigned long long)k->count, k->count == 1 ? "" : "s", k->server, k->port);
        for (const char *const *c = checks; *c; c++)
            print_check(f, *c, k);
    }
    fflush(f);
}

static void text_destroy(struct reporter *base)
{
    struct text_reporter *r = (struct text_reporter *)base;
    for (size_t i = 0; i < r->n_lines; i++)
        free(r->lines[i].text);
    free(r->lines);
    free(r->findings);
    free(r);
}

const struct reporter_ops report_text_ops = {
    .name = "text",
    .reason_on_demand = true, /* only kept problem lines carry one */
    .create = text_create,
    .connection = text_connection,
    .event = text_event,
    .finding = text_finding,
    .end = text_end,
    .destroy = text_destroy,
};
