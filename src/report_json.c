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

struct json_reporter {
    struct reporter base;
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

static void put_time(FILE *f, const char *key, int64_t ns, int digits)
{
    char b[48];
    report_fmt_time(b, sizeof b, ns, digits);
    fprintf(f, ",\"%s\":%s", key, b);
}

static void put_addr(FILE *f, const char *key, const struct ip_addr *a, int ver)
{
    char b[64];
    ip_addr_format(a, ver, b, sizeof b);
    fprintf(f, ",\"%s\":\"%s\"", key, b);
}

static void put_pair_u64(FILE *f, const char *key, uint64_t cl, uint64_t sv)
{
    fprintf(f, ",\"%s\":{\"client\":%llu,\"server\":%llu}", key, (unsigned long long)cl,
            (unsigned long long)sv);
}

static void put_stall(FILE *f, const struct stall_episode *st, int digits)
{
    if (st->kind == STALL_NONE) {
        fputs(",\"stall\":null", f);
        return;
    }
    fprintf(f, ",\"stall\":{\"kind\":\"%s\",\"side\":\"%s\"",
            stall_kind_name((enum stall_kind)st->kind), side_name((enum side)st->blamed));
    put_time(f, "start", st->start_ns, digits);
    put_time(f, "seconds", st->seconds_ns, digits);
    fprintf(f, ",\"start_frame\":%llu", (unsigned long long)st->start_frame);
    fprintf(f, ",\"ongoing\":%s}", st->ongoing ? "true" : "false");
}

static const char *roles_name(const struct conn *c)
{
    if (c->flags & CONN_ROLES_GUESSED)
        return "port_heuristic";
    if (c->ep[SIDE_CLIENT].flags & EP_SYN)
        return "syn";
    return "synack";
}

static void json_connection(struct reporter *base, const struct conn *c,
                            const struct verdict_info *v, enum conn_end why)
{
    FILE *f = base->cfg.out;
    int dg = base->cfg.ts_digits;
    const struct endpoint *cl = &c->ep[SIDE_CLIENT], *sv = &c->ep[SIDE_SERVER];
    int ver = c->key.ip_version;

    fprintf(f, "{\"type\":\"connection\",\"id\":%llu", (unsigned long long)c->id);
    put_addr(f, "client", conn_addr(c, SIDE_CLIENT), ver);
    fprintf(f, ",\"client_port\":%u", conn_port(c, SIDE_CLIENT));
    put_addr(f, "server", conn_addr(c, SIDE_SERVER), ver);
    fprintf(f, ",\"server_port\":%u,\"ip_version\":%d", conn_port(c, SIDE_SERVER), ver);
    fprintf(f, ",\"verdict\":\"%s\",\"reason\":\"", verdict_name(v->verdict));
    report_json_escape(f, v->reason);
    fputc('"', f);
    put_time(f, "start", c->start_ns, dg);
    put_time(f, "end", c->last_ns, dg);
    put_time(f, "duration", c->last_ns - c->start_ns, dg);
    fprintf(f, ",\"first_frame\":%llu,\"last_frame\":%llu,\"verdict_frame\":%llu",
            (unsigned long long)c->first_frame, (unsigned long long)c->last_frame,
            (unsigned long long)v->verdict_frame);
    fprintf(f, ",\"handshake\":\"%s\",\"client_state\":\"%s\",\"server_state\":\"%s\"",
            handshake_name((enum handshake_seen)c->handshake),
            tcp_state_name((enum tcp_state)cl->state), tcp_state_name((enum tcp_state)sv->state));
    if (c->flags & CONN_RST)
        fprintf(f, ",\"reset_by\":\"%s\"", side_name((enum side)c->rst_side));
    else
        fputs(",\"reset_by\":null", f);
    fprintf(f, ",\"syn_retransmits\":%u", cl->syns > 1 ? cl->syns - 1 : 0);
    put_stall(f, &v->stall, dg);
    put_pair_u64(f, "packets", cl->pkts, sv->pkts);
    put_pair_u64(f, "bytes", cl->bytes, sv->bytes);
    put_pair_u64(f, "retransmits", cl->retransmits, sv->retransmits);
    if (c->handshake == HS_COMPLETE && c->established_ns >= cl->ts_syn_last_ns)
        put_time(f, "handshake_rtt", c->established_ns - cl->ts_syn_last_ns, dg);
    else
        fputs(",\"handshake_rtt\":null", f);

    /* ---- beyond the required fields ---- */
    fprintf(f, ",\"end_reason\":\"%s\",\"evicted\":%s,\"roles\":\"%s\"", conn_end_name(why),
            (c->flags & CONN_EVICTED) ? "true" : "false", roles_name(c));
    if (c->flags & CONN_RST) {
        fprintf(f, ",\"reset\":{\"phase\":\"%s\",\"frame\":%llu",
                reset_phase_name((enum reset_phase)c->rst_phase),
                (unsigned long long)c->frame_rst);
        put_time(f, "time", c->rst_ns, dg);
        put_time(f, "idle_before", c->idle_before_rst_ns, dg);
        fprintf(f, ",\"ttl\":%u}", c->ep[c->rst_side].rst_ttl);
    }
    if (c->flags & CONN_ICMP) {
        fputs(",\"icmp\":{", f);
        char b[64];
        ip_addr_format(&c->icmp_src, ver, b, sizeof b);
        fprintf(f, "\"from\":\"%s\",\"type\":%u,\"code\":%u,\"ttl\":%u,\"frame\":%llu}", b,
                c->icmp_type, c->icmp_code, c->icmp_ttl, (unsigned long long)c->frame_icmp);
    }
    if (cl->syns > 1) {
        fputs(",\"syn_backoff\":[", f);
        uint32_t prev = 0;
        for (uint32_t i = 0; i + 1 < cl->syns && i < CONN_MAX_SYN_TIMES; i++) {
            fprintf(f, "%s%.3f", i ? "," : "", (double)(c->syn_times_us[i] - prev) / 1e6);
            prev = c->syn_times_us[i];
        }
        fputc(']', f);
    }
    fprintf(f, ",\"synack_retransmits\":%u", sv->syns > 1 ? sv->syns - 1 : 0);
    put_pair_u64(f, "fast_retransmits", cl->rtx_fast, sv->rtx_fast);
    put_pair_u64(f, "spurious_retransmits", cl->rtx_spurious, sv->rtx_spurious);
    put_pair_u64(f, "zero_windows", cl->zero_windows, sv->zero_windows);
    put_pair_u64(f, "zero_window_probes", cl->zw_probes, sv->zw_probes);
    put_pair_u64(f, "keepalives", cl->keepalives, sv->keepalives);
    put_pair_u64(f, "rst_ignored", cl->rst_ignored, sv->rst_ignored);
    put_pair_u64(f, "nagle_holds", cl->nagle_events, sv->nagle_events);
    put_pair_u64(f, "ack_gaps", cl->ack_gaps, sv->ack_gaps);
    fprintf(f, ",\"synack_after_ack\":%u", sv->synack_after_ack);
    fprintf(f, ",\"stall_episodes\":%u", c->stall_episodes);
    put_time(f, "max_idle", c->max_idle_ns, dg);
    fprintf(f, ",\"fin_frames\":{\"client\":%llu,\"server\":%llu}",
            (unsigned long long)cl->frame_fin, (unsigned long long)sv->frame_fin);
    fprintf(f, ",\"mss\":{\"client\":%u,\"server\":%u}", cl->mss, sv->mss);
    fputs("}\n", f);
    if (base->cfg.live)
        fflush(f); /* live: a consumer sees each connection as it ends */
}

static void json_event(struct reporter *base, const struct conn *c, enum tracker_event ev,
                       int64_t now_ns, const char *detail)
{
    FILE *f = base->cfg.out;
    fprintf(f, "{\"type\":\"event\",\"event\":\"%s\",\"id\":%llu", tracker_event_name(ev),
            (unsigned long long)c->id);
    put_time(f, "time", now_ns, base->cfg.ts_digits);
    put_addr(f, "client", conn_addr(c, SIDE_CLIENT), c->key.ip_version);
    fprintf(f, ",\"client_port\":%u", conn_port(c, SIDE_CLIENT));
    put_addr(f, "server", conn_addr(c, SIDE_SERVER), c->key.ip_version);
    fprintf(f, ",\"server_port\":%u,\"frame\":%llu,\"detail\":\"", conn_port(c, SIDE_SERVER),
            (unsigned long long)c->last_frame);
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
            "\"replaced\":%llu,\"unhandled_state_events\":%llu,\"peak_connections\":%zu",
            (unsigned long long)s->tracker.ts_backwards,
            (unsigned long long)s->tracker.icmp_unmatched,
            (unsigned long long)s->tracker.evicted, (unsigned long long)s->tracker.replaced,
            (unsigned long long)s->tracker.unhandled_state, s->peak_connections);
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
    .create = json_create,
    .connection = json_connection,
    .event = json_event,
    .finding = json_finding,
    .end = json_end,
    .destroy = json_destroy,
};
