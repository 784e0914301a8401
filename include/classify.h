/* SPDX-License-Identifier: MIT */
/*
 * classify.h - the verdict of one connection, with its reason and evidence.
 *
 * classify_connection() is a pure function of a connection record, the
 * thresholds and the time "now" (end of capture, eviction time, or the clock
 * in live mode). Exactly one verdict per connection; where several fit, the
 * first in enum order wins (docs/verdicts.md gives the rules and reasons).
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
    bool clean;                 /* nothing to report in the text list */
    char reason[VERDICT_REASON_MAX]; /* one plain sentence */
};

/* The stall episode going on for data sent by s at now (kind NONE if none
 * has reached the threshold). */
struct stall_episode classify_ongoing_stall(const struct conn *c, enum side s, int64_t now_ns,
                                            int64_t threshold_ns);

/* A duration for the sentences: "30 us" below a millisecond, "850 ms" below
 * a second, "3.2 s" above (negative values read as 0). Returns buf. */
const char *classify_fmt_duration(char *buf, size_t len, int64_t ns);

void classify_connection(const struct conn *c, const struct classify_config *cfg, int64_t now_ns,
                         struct verdict_info *out);

#endif
