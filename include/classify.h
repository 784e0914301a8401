/* SPDX-License-Identifier: MIT */
/*
 * classify.h - the verdict of one connection, with its reason and evidence.
 *
 * classify_connection() is a pure function of a connection record, the
 * thresholds and the time "now" (end of capture, eviction time, or the clock
 * in live mode). Exactly one verdict per connection; where several fit, the
 * first in enum order wins (docs/verdicts.md gives the rules and reasons).
 *
 * The verdict and its sentence are two steps: classify_verdict() decides the
 * verdict and its evidence (cheap: comparisons only), classify_reason()
 * writes the sentence (snprintf: most of the cost). A caller that prints the
 * sentence only for some connections (the text report keeps only problem
 * connections, and at most --max-report-lines of them) asks for it only
 * then; classify_connection() does both.
 */
#ifndef TCPTRIAGE_CLASSIFY_H
#define TCPTRIAGE_CLASSIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conn.h"

enum verdict {
    VERDICT_REFUSED = 0,
    VERDICT_TIMED_OUT,
    VERDICT_UNANSWERED,
    VERDICT_HALF_OPEN,
    VERDICT_RESET,
    VERDICT_CLOSED,
    VERDICT_STALLED,
    VERDICT_HALF_CLOSED,
    VERDICT_OPEN,
    VERDICT__COUNT
};

const char *verdict_name(enum verdict v);
/* Parses a verdict name; returns false when unknown. */
bool verdict_from_name(const char *name, enum verdict *out);

struct classify_config {
    int64_t attempt_timeout_ns;
    int64_t stall_threshold_ns;
};

#define VERDICT_REASON_MAX 320

struct verdict_info {
    enum verdict verdict;
    uint64_t verdict_frame;     /* the frame that made the verdict certain */
    struct stall_episode stall; /* longest episode, recorded or ongoing (kind NONE: none) */
    int64_t now_ns;             /* the time classified at (never before the last packet) */
    bool clean;                 /* nothing to report in the text list */
    /* One plain sentence; "" when only classify_verdict() ran (then
     * verdict_reason() / classify_reason() write it on demand). */
    char reason[VERDICT_REASON_MAX];
};

/* The stall episode going on for data sent by s at now (kind NONE if none
 * has reached the threshold). */
struct stall_episode classify_ongoing_stall(const struct conn *c, enum side s, int64_t now_ns,
                                            int64_t threshold_ns);

/* A duration for the sentences: "30 us" below a millisecond, "850 ms" below
 * a second, "3.2 s" above (negative values read as 0). Returns buf. */
const char *classify_fmt_duration(char *buf, size_t len, int64_t ns);

/* The verdict, its frame, the stall and `clean`; out->reason is left "". */
void classify_verdict(const struct conn *c, const struct classify_config *cfg, int64_t now_ns,
                      struct verdict_info *out);

/* Writes the sentence for a verdict classify_verdict() made on c (the same
 * record, unchanged since) into buf: the same text classify_connection()
 * puts in out->reason, cut to len - 1 bytes. Returns buf. */
char *classify_reason(const struct conn *c, const struct verdict_info *v, char *buf, size_t len);

/* v->reason if it is filled, else the sentence written into buf (which
 * should hold VERDICT_REASON_MAX bytes). For reporters. */
const char *verdict_reason(const struct conn *c, const struct verdict_info *v, char *buf,
                           size_t len);

/* classify_verdict() and classify_reason() into out->reason. */
void classify_connection(const struct conn *c, const struct classify_config *cfg, int64_t now_ns,
                         struct verdict_info *out);

#endif
