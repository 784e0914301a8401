/* SPDX-License-Identifier: MIT */
/*
 * findings.h - diagnoses above single connections: the production traps
 * behind the bad verdicts (listen backlog overflow, SYN flood, port churn,
 * CLOSE_WAIT leaks, idle timeouts in the path, keepalive failures,
 * Nagle + delayed ACK, retransmission and handshake health).
 *
 * Computed only from finished connections and their verdicts (what the
 * tracker recorded), never from packets. Aggregates are kept per service
 * (server address and port) and per client -> service pair, in tables with
 * caps, so memory stays bounded whatever the input. docs/findings.md gives
 * every rule and its reasoning.
 */
#ifndef TCPTRIAGE_FINDINGS_H
#define TCPTRIAGE_FINDINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "classify.h"
#include "conn.h"

/* In severity order: the text report lists findings in this order. */
enum finding_kind {
    FINDING_SYN_FLOOD = 0,
    FINDING_BACKLOG_OVERFLOW,
    FINDING_IDLE_TIMEOUT,
    FINDING_CLOSE_WAIT_LEAK,
    FINDING_PORT_CHURN,
    FINDING_KEEPALIVE,
    FINDING_RETRANSMISSIONS,
    FINDING_SLOW_HANDSHAKE,
    FINDING_NAGLE_DELAYED_ACK,
    FINDING__COUNT
};
const char *finding_kind_name(enum finding_kind k);
bool finding_kind_from_name(const char *name, enum finding_kind *out);

enum confidence { CONFIDENCE_LOW = 0, CONFIDENCE_MEDIUM, CONFIDENCE_HIGH };
const char *confidence_name(enum confidence c);

#define FINDING_MAX_IDS 16    /* connections listed as evidence */
#define FINDING_MAX_CHECKS 5  /* commands to run */

struct finding {
    enum finding_kind kind;
    enum confidence confidence;
    char subject[128];        /* "10.0.0.2:80", "10.0.0.1 -> 10.0.0.2:80", ... */
    char statement[1024];     /* one sentence with the numbers */
    char confidence_note[192]; /* why the confidence is not high ("" if it is) */
    uint64_t connections;     /* connections behind it in total */
    size_t n_ids;
    uint64_t ids[FINDING_MAX_IDS];    /* the first of them */
    uint64_t frames[FINDING_MAX_IDS]; /* a telling frame of each */
    size_t n_checks;
    char checks[FINDING_MAX_CHECKS][192];
};

/* Thresholds (options --threshold NAME=VALUE, defaults in docs/findings.md). */
struct findings_config {
    uint32_t flood_min_half_open;   /* half-open connections to one listener */
    uint32_t flood_min_sources;     /* ... from at least this many addresses */
    uint32_t backlog_min_signals;   /* dropped-SYN signals on a listener that answers */
    uint32_t churn_min_connections; /* connections client -> service */
    double churn_min_rate;          /* per second */
    uint32_t ephemeral_ports;       /* size of the client's ephemeral range (28232) */
    double time_wait_s;             /* TIME_WAIT duration (60 s on Linux) */
    uint32_t close_wait_min;        /* half-closed connections per service */
    double idle_min_s;              /* silence before a death for idle_timeout */
    double idle_cluster;            /* relative spread of "about the same" idle time */
    uint32_t nagle_min_events;      /* held segments per service */
    double retrans_min_rate;        /* retransmitted / all segments */
    uint32_t retrans_min;           /* retransmissions per service */
    double slow_handshake_s;        /* handshake RTT p95 above this is slow */
    size_t max_services;            /* aggregate table caps */
    size_t max_pairs;
    bool pair_filter;               /* the full pair table's filter (true by default;
                                       false: TCPTRIAGE_NO_FASTPATH=1, main.c) */
};
void findings_config_default(struct findings_config *cfg);
/* Parses "name=value" into cfg; false (with a message) when unknown/bad. */
bool findings_config_set(struct findings_config *cfg, const char *assignment, char *err,
                         size_t errlen);

struct findings;

struct findings *findings_new(const struct findings_config *cfg);
/* One finished connection, with its verdict, at capture time now_ns. */
void findings_add(struct findings *fs, const struct conn *c, const struct verdict_info *v,
                  int64_t now_ns);
typedef void (*finding_emit_fn)(void *ctx, const struct finding *f);
/* Computes the findings and emits them, most severe first. Returns how many
 * were emitted; *kinds_seen gets bit (1u << kind) for each kind emitted. */
size_t findings_finish(struct findings *fs, finding_emit_fn emit, void *ctx, uint32_t *kinds_seen);
/* Services / pairs not tracked because a table was full. */
uint64_t findings_overflow(const struct findings *fs);
void findings_free(struct findings *fs);

#endif
