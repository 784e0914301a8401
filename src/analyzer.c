/* SPDX-License-Identifier: MIT */
/*
 * analyzer.c - wires decode, tracker, classifier and reporter together for
 * one input, and keeps the summary counters. See analyzer.h.
 */
#include "analyzer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void analyzer_config_default(struct analyzer_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->decode.verify_checksums = true;
    tracker_config_default(&cfg->tracker);
    findings_config_default(&cfg->findings);
}

static void on_conn(void *ctx, const struct conn *c, enum conn_end why, int64_t now_ns)
{
    struct analyzer *a = ctx;
    struct verdict_info v;
    /* The sentence costs more than the rules: leave it to reporters that
     * write it only when they print it. */
    if (a->rep->ops->reason_on_demand)
        classify_verdict(c, &a->classify, now_ns, &v);
    else
        classify_connection(c, &a->classify, now_ns, &v);
    a->summary.connections++;
    a->summary.verdicts[v.verdict]++;
    if (conn_rare(c)->stall_episodes)
        a->summary.stalled_episodes++;
    if (a->cfg.fail_on & (1u << v.verdict))
        a->fail_hit = true;
    if (a->findings)
        findings_add(a->findings, c, &v, now_ns);
    a->rep->ops->connection(a->rep, c, &v, why);
}

static void on_event(void *ctx, const struct conn *c, enum tracker_event ev, int64_t now_ns)
{
    struct analyzer *a = ctx;
    if (!a->cfg.events || !a->rep->ops->event)
        return;
    /* The sentence is the verdict's, as it stands at this moment. */
    struct verdict_info v;
    classify_connection(c, &a->classify, now_ns, &v);
    if (ev == TEV_STALL_END)
        snprintf(v.reason, sizeof v.reason, "the %s stall ended after %.1f s",
                 stall_kind_name((enum stall_kind)conn_rare(c)->stall_longest.kind),
                 (double)conn_rare(c)->stall_longest.seconds_ns / 1e9);
    a->rep->ops->event(a->rep, c, ev, now_ns, v.reason);
}

void analyzer_init(struct analyzer *a, const struct analyzer_config *cfg, struct reporter *rep)
{
    memset(a, 0, sizeof *a);
    a->cfg = *cfg;
    a->rep = rep;
    a->classify.attempt_timeout_ns = cfg->tracker.attempt_timeout_ns;
    a->classify.stall_threshold_ns = cfg->tracker.stall_threshold_ns;
    /* Events only when they are printed (live): the timers cost per packet. */
    tracker_init(&a->tracker, &cfg->tracker, on_conn, cfg->events ? on_event : NULL, a);
    /* Live events must come out as their frame arrives: no lag then.
     * TCPTRIAGE_NO_FASTPATH=1 turns the pipeline off too (tests/fastpath.py). */
    a->pipeline_allowed = !cfg->events && a->tracker.fast;
    /* The pipeline pays once the table outgrows the caches (+13% at 140 k
     * connections held) and costs a little below that (-5% at 40 k): on from
     * ANALYZER_PIPELINE_MIN connections held, off again below three quarters
     * of that (docs/performance.md). TCPTRIAGE_PIPELINE_MIN=N moves the
     * threshold (tests/fastpath.py: 0 = always; near the number of
     * connections held = switching often). */
    a->pipeline_on = ANALYZER_PIPELINE_MIN;
    a->pipeline_off = a->pipeline_on - a->pipeline_on / 4;
    const char *pm = getenv("TCPTRIAGE_PIPELINE_MIN");
    if (pm && *pm) { /* on from N, off below N: no hysteresis, to switch often */
        char *end;
        unsigned long long v = strtoull(pm, &end, 10);
        if (*end == '\0')
            a->pipeline_on = a->pipeline_off = v > SIZE_MAX ? SIZE_MAX : (size_t)v;
    }
    /* a->pipelined starts false: analyzer_frame() switches it on */
    a->findings = findings_new(&cfg->findings);
}

/* Track the oldest pending frame. */
static void pending_pop(struct analyzer *a)
{
    struct analyzer_pending *p = &a->pending[a->pending_first];
    if (!p->prepared)
        tracker_prepare(&a->tracker, &p->d, &p->prep);
    tracker_packet_prepared(&a->tracker, &p->d, &p->f, &p->prep);
    a->pending_first = (a->pending_first + 1) & (ANALYZER_PIPELINE - 1);
    a->pending_n--;
}

/* Track every pending frame (before time moves on without a frame, and at
 * the end). */
static void pending_flush(struct analyzer *a)
{
    while (a->pending_n)
        pending_pop(a);
}

void analyzer_frame(struct analyzer *a, const struct frame *f)
{
    if (a->summary.frames == 0)
        a->summary.first_ns = f->ts_ns;
    if (f->ts_ns > a->summary.last_ns || a->summary.frames == 0)
        a->summary.last_ns = f->ts_ns;
    a->summary.frames++;
    if (a->pipeline_allowed) {
        size_t held = a->tracker.table.count;
        if (!a->pipelined && held >= a->pipeline_on)
            a->pipelined = true;
        else if (a->pipelined && held < a->pipeline_off) {
            pending_flush(a);
            a->pipelined = false;
        }
    }
    if (!a->pipelined) {
        struct decoded d;
        enum decode_status st = decode_frame(f, &a->cfg.decode, &d, &a->decode);
        if (st == DECODE_TCP || st == DECODE_ICMP)
            tracker_packet(&a->tracker, &d, f);
        return;
    }
    /* Decode into the next free place. Then, by age: the frame before it
     * gets its key and hash and its index slot prefetched (not the newest:
     * reading its addresses right after the decoder wrote them would stall
     * on the store buffer); ANALYZER_SLOT_AHEAD frames later its connection
     * is prefetched; ANALYZER_CONN_AHEAD frames after that it is tracked. */
    struct analyzer_pending *p =
        &a->pending[(a->pending_first + a->pending_n) & (ANALYZER_PIPELINE - 1)];
    enum decode_status st = decode_frame(f, &a->cfg.decode, &p->d, &a->decode);
    if (st != DECODE_TCP && st != DECODE_ICMP)
        return;
    /* What the tracker reads of a frame: its time and number (the bytes
     * are gone by the time it is tracked). Copied field by field: a wider
     * load of fields just written one by one stalls on the store buffer. */
    p->f.ts_ns = f->ts_ns;
    p->f.number = f->number;
    p->prepared = false;
    a->pending_n++;
    const unsigned mask = ANALYZER_PIPELINE - 1, newest = a->pending_first + a->pending_n - 1;
    if (a->pending_n >= 2) {
        struct analyzer_pending *q = &a->pending[(newest - 1) & mask];
        tracker_prepare(&a->tracker, &q->d, &q->prep);
        q->prepared = true;
    }
    if (a->pending_n > 1 + ANALYZER_SLOT_AHEAD)
        tracker_prefetch(&a->tracker, &a->pending[(newest - 1 - ANALYZER_SLOT_AHEAD) & mask].prep);
    if (a->pending_n > 1 + ANALYZER_SLOT_AHEAD + ANALYZER_CONN_AHEAD)
        pending_pop(a);
}

void analyzer_tick(struct analyzer *a, int64_t now_ns)
{
    pending_flush(a);
    tracker_advance(&a->tracker, now_ns);
}

static void on_finding(void *ctx, const struct finding *f)
{
    struct analyzer *a = ctx;
    if (a->rep->ops->finding)
        a->rep->ops->finding(a->rep, f);
}

void analyzer_finish(struct analyzer *a, const char *source, const char *link, const char *damage)
{
    pending_flush(a);
    tracker_finish(&a->tracker);
    struct report_summary *s = &a->summary;
    if (a->findings) {
        uint32_t kinds = 0;
        s->findings = findings_finish(a->findings, on_finding, a, &kinds);
        s->findings_overflow = findings_overflow(a->findings);
        if (kinds & a->cfg.fail_on_findings)
            a->fail_hit = true;
    }
    s->decode = a->decode;
    s->tracker = a->tracker.cnt;
    s->peak_connections = a->tracker.table.peak;
    s->source = source;
    s->link = link;
    if (damage) {
        s->damaged = true;
        snprintf(s->damage, sizeof s->damage, "%s", damage);
    }
    a->rep->ops->end(a->rep, s);
}

void analyzer_destroy(struct analyzer *a)
{
    tracker_destroy(&a->tracker);
    findings_free(a->findings);
    a->findings = NULL;
}
