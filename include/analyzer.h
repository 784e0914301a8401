/* SPDX-License-Identifier: MIT */
/*
 * analyzer.h - the pipeline for one input: decode -> track -> classify ->
 * report. Frames go in; connection records, events and a summary come out
 * through a reporter. Used the same way by files, live capture, tests and
 * fuzzers (no libpcap here).
 */
#ifndef TCPTRIAGE_ANALYZER_H
#define TCPTRIAGE_ANALYZER_H

#include <stdbool.h>
#include <stdint.h>

#include "classify.h"
#include "decode.h"
#include "findings.h"
#include "report.h"
#include "tracker.h"

struct analyzer_config {
    struct decode_config decode;
    struct tracker_config tracker;
    uint32_t fail_on;       /* bit (1u << verdict) for each --fail-on verdict */
    uint32_t fail_on_findings; /* bit (1u << finding kind) for each --fail-on finding */
    struct findings_config findings;
    bool events;            /* report events as they become certain (live) */
};

void analyzer_config_default(struct analyzer_config *cfg);

/* Frames decoded but not yet handed to the tracker (file mode, large
 * tables only): by the time a frame is tracked, its table slot and
 * connection have been prefetched while the frames after it were decoded. */
#define ANALYZER_SLOT_AHEAD 2 /* frames between the slot prefetch and the connection's */
#define ANALYZER_CONN_AHEAD 2 /* frames between the connection prefetch and tracking */
#define ANALYZER_PIPELINE 8   /* a power of two > 1 + ANALYZER_SLOT_AHEAD + ANALYZER_CONN_AHEAD */
#define ANALYZER_PIPELINE_MIN 65536u /* connections held from which the pipeline is used */
struct analyzer_pending {
    struct decoded d;
    struct frame f;          /* .bytes cleared: the frame's bytes are gone */
    struct tracker_prep prep;
    bool prepared;           /* prep is filled in (and the slot prefetched) */
};

struct analyzer {
    struct analyzer_config cfg;
    struct analyzer_pending pending[ANALYZER_PIPELINE];
    unsigned pending_first, pending_n;
    bool pipeline_allowed;   /* file mode: no live events, so tracking may lag decoding */
    bool pipelined;          /* allowed, and the table is large enough for it to pay */
    size_t pipeline_on, pipeline_off; /* table sizes (connections) that switch it */
    struct classify_config classify;
    struct decode_counters decode;
    struct tracker tracker;
    struct reporter *rep;   /* borrowed */
    struct findings *findings; /* NULL if out of memory: findings are then skipped */
    struct report_summary summary;
    bool fail_hit;          /* a --fail-on verdict was reported */
};

void analyzer_init(struct analyzer *a, const struct analyzer_config *cfg, struct reporter *rep);
void analyzer_frame(struct analyzer *a, const struct frame *f);
/* Live: the clock moved to now_ns without a frame. */
void analyzer_tick(struct analyzer *a, int64_t now_ns);
/* End of input: report every remaining connection and the summary.
 * damage: NULL, or what was wrong with the input. */
void analyzer_finish(struct analyzer *a, const char *source, const char *link,
                     const char *damage);
void analyzer_destroy(struct analyzer *a);

#endif
