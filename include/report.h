/* SPDX-License-Identifier: MIT */
/*
 * report.h - reporters: one per output format, chosen by name from a table.
 *
 * A reporter receives, in this order: begin(), then any number of
 * connection() / event() calls as connections finish (file order of their
 * end), then end() with the summary. Each format lives in its own file
 * (report_json.c, report_text.c). Output is deterministic: the same input
 * and options give the same bytes.
 */
#ifndef TCPTRIAGE_REPORT_H
#define TCPTRIAGE_REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "classify.h"
#include "conn.h"
#include "decode.h"
#include "findings.h"
#include "tracker.h"

/* Everything the summary shows. */
struct report_summary {
    uint64_t frames;                  /* frames read (after the BPF filter) */
    uint64_t connections;             /* connections reported */
    uint64_t verdicts[VERDICT__COUNT]; /* connections per verdict */
    uint64_t stalled_episodes;        /* connections with a recorded stall episode */
    struct decode_counters decode;
    struct tracker_counters tracker;
    size_t peak_connections;          /* most connections held at once */
    int64_t first_ns, last_ns;        /* capture time span (0 if no frame) */
    const char *source;               /* file name or interface */
    const char *link;                 /* link type name */
    bool damaged;                     /* the input was cut short or corrupt */
    char damage[256];                 /* what was wrong, if damaged */
    uint64_t live_dropped;            /* live: packets dropped by the kernel */
    uint64_t live_if_dropped;
    uint64_t report_lines_dropped;    /* text: problem lines over the bound */
    uint64_t findings;                /* findings reported */
    uint64_t findings_overflow;       /* connections not aggregated (tables full) */
};

struct reporter_config {
    FILE *out;
    int ts_digits;             /* 6 (microseconds) or 9 (nanoseconds) */
    size_t max_problem_lines;  /* text: problem connections kept for the sorted list */
    bool live;                 /* print events as they happen */
};

struct reporter;

struct reporter_ops {
    const char *name;
    /* true: connection() gets a verdict_info whose reason may be "" and
     * writes the sentence itself (verdict_reason()) only where it prints it;
     * false: the analyzer always fills the reason first. */
    bool reason_on_demand;
    struct reporter *(*create)(const struct reporter_config *cfg);
    void (*connection)(struct reporter *r, const struct conn *c, const struct verdict_info *v,
                       enum conn_end why);
    void (*event)(struct reporter *r, const struct conn *c, enum tracker_event ev,
                  int64_t now_ns, const char *detail);
    void (*finding)(struct reporter *r, const struct finding *f);
    void (*end)(struct reporter *r, const struct report_summary *s);
    void (*destroy)(struct reporter *r);
};

struct reporter {
    const struct reporter_ops *ops;
    struct reporter_config cfg;
};

/* NULL when the name is unknown. */
const struct reporter_ops *reporter_find(const char *name);
/* "text, json" */
const char *reporter_names(void);

extern const struct reporter_ops report_json_ops;
extern const struct reporter_ops report_text_ops;

/* Shared helpers for the reporters. */
/* ip_addr_format() with IPv4 written by hand (inet_ntop goes through
 * sprintf: ~2,000 instructions an address, twice per JSON line): the same
 * text, "a.b.c.d" for IPv4 and ip_addr_format()'s for the rest. Returns buf. */
char *report_fmt_addr(const struct ip_addr *a, int ip_version, char *buf, size_t len);
/* Formats t as seconds since the epoch with `digits` decimals. */
void report_fmt_time(char *buf, size_t len, int64_t ns, int digits);
/* Escapes s as a JSON string body (without quotes) into f. */
void report_json_escape(FILE *f, const char *s);
/* What to check on the hosts for a verdict / stall kind (NULL-terminated). */
const char *const *report_checks_for(enum verdict v, enum stall_kind k);

#endif
