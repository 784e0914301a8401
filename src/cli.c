/* SPDX-License-Identifier: MIT */
/*
 * cli.c - parse and validate the command line (getopt_long).
 * Numbers must parse completely and be in range; verdict names must exist.
 */
#include <stdio.h>

#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum long_only {
    OPT_FORMAT = 1000,
    OPT_FAIL_ON,
    OPT_ATTEMPT_TIMEOUT,
    OPT_STALL_THRESHOLD,
    OPT_LINGER,
    OPT_MAX_CONNECTIONS,
    OPT_MAX_HANDSHAKES,
    OPT_MAX_REPORT_LINES,
    OPT_NO_CHECKSUMS,
    OPT_DURATION,
    OPT_INTERVAL,
    OPT_VERSION,
    OPT_THRESHOLD,
};

static const struct option long_opts[] = {
    {"read", required_argument, NULL, 'r'},
    {"interface", required_argument, NULL, 'i'},
    {"format", required_argument, NULL, OPT_FORMAT},
    {"fail-on", required_argument, NULL, OPT_FAIL_ON},
    {"attempt-timeout", required_argument, NULL, OPT_ATTEMPT_TIMEOUT},
    {"stall-threshold", required_argument, NULL, OPT_STALL_THRESHOLD},
    {"linger", required_argument, NULL, OPT_LINGER},
    {"max-connections", required_argument, NULL, OPT_MAX_CONNECTIONS},
    {"max-handshakes", required_argument, NULL, OPT_MAX_HANDSHAKES},
    {"max-report-lines", required_argument, NULL, OPT_MAX_REPORT_LINES},
    {"no-checksums", no_argument, NULL, OPT_NO_CHECKSUMS},
    {"duration", required_argument, NULL, OPT_DURATION},
    {"interval", required_argument, NULL, OPT_INTERVAL},
    {"version", no_argument, NULL, OPT_VERSION},
    {"threshold", required_argument, NULL, OPT_THRESHOLD},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

void cli_usage(FILE *f)
{
    fputs("usage: tcptriage -r FILE [options] [BPF filter]\n"
          "       tcptriage -i IFACE [options] [BPF filter]\n"
          "\n"
          "Input:\n"
          "  -r FILE                 read a pcap/pcapng capture (.gz ok; - for stdin)\n"
          "  -i IFACE                capture live on IFACE (any for all)\n"
          "  -s SNAPLEN              live: bytes to capture per packet (default 262144)\n"
          "  -p                      live: do not put the interface in promiscuous mode\n"
          "  -c COUNT                stop after COUNT packets\n"
          "  --duration SECONDS      live: stop after SECONDS\n"
          "  -Z USER                 live: drop root privileges to USER once capturing\n"
          "  -w FILE                 live: also save the raw packets to FILE\n"
          "Output:\n"
          "  --format text|json      report format (default text)\n"
          "  --fail-on LIST          exit 1 if any of these verdicts or findings occurs\n"
          "  --interval SECONDS      live: periodic summary line (0: off)\n"
          "  --max-report-lines N    text: problem connections listed (default 10000)\n"
          "Analysis:\n"
          "  --attempt-timeout SEC   unanswered SYN becomes timed_out after SEC (default 3)\n"
          "  --stall-threshold SEC   no progress this long while data waits: stall (default 1)\n"
          "  --linger SEC            finished connections wait SEC for stray segments (4)\n"
          "  --max-connections N     flow table cap; least recently active evicted (1000000)\n"
          "  --max-handshakes N      of which still in their handshake: a SYN flood's cap\n"
          "                          (100000, at most --max-connections)\n"
          "  --no-checksums          do not verify TCP checksums\n"
          "  --threshold NAME=VALUE  a finding threshold (docs/findings.md), repeatable\n"
          "Exit status: 0 analysed, 1 --fail-on matched, 2 usage or unreadable input,\n"
          "             3 input damaged (what came before is still reported).\n"
          "Verdicts: refused timed_out unanswered half_open reset closed stalled half_closed open\n",
          f);
}

static int parse_seconds(const char *s, const char *opt, double min, double max, double *out,
                         char *err, size_t errlen)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end != '\0' || !isfinite(v) || v < min || v > max) {
        snprintf(err, errlen, "%s: '%s' is not a number of seconds between %g and %g", opt, s,
                 min, max);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_count(const char *s, const char *opt, uint64_t min, uint64_t max, uint64_t *out,
                       char *err, size_t errlen)
{
    char *end;
    errno = 0;
    if (*s == '-' || *s == '+' || *s == '\0') {
        snprintf(err, errlen, "%s: '%s' is not a whole number", opt, s);
        return -1;
    }
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end != '\0' || v < min || v > max) {
        snprintf(err, errlen, "%s: '%s' is not a whole number between %llu and %llu", opt, s,
                 (unsigned long long)min, (unsigned long long)max);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_fail_on(const char *list, uint32_t *mask, uint32_t *finding_mask, char *err,
                         size_t errlen)
{
    char *copy = strdup(list), *save = NULL;
    if (!copy) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = 0;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        enum verdict v;
        enum finding_kind k;
        if (verdict_from_name(tok, &v)) {
            *mask |= 1u << v;
        } else if (finding_kind_from_name(tok, &k)) {
            *finding_mask |= 1u << k;
        } else {
            snprintf(err, errlen,
                     "--fail-on: unknown verdict or finding '%s' (verdicts: refused, timed_out, "
                     "unanswered, half_open, reset, closed, stalled, half_closed, open; findings: "
                     "syn_flood, backlog_overflow, idle_timeout, close_wait_leak, port_churn, "
                     "keepalive, retransmissions, slow_handshake, nagle_delayed_ack)",
                     tok);
            rc = -1;
            break;
        }
    }
    if (rc == 0 && *mask == 0 && *finding_mask == 0) {
        snprintf(err, errlen, "--fail-on: empty list");
        rc = -1;
    }
    free(copy);
    return rc;
}

static int64_t to_ns(double s)
{
    return (int64_t)llround(s * 1e9);
}

int cli_parse(int argc, char **argv, struct options *o, char *err, size_t errlen)
{
    memset(o, 0, sizeof *o);
    analyzer_config_default(&o->analyzer);
    o->format = "text";
    o->max_report_lines = 10000;
    o->interval_s = -1;
    optind = 0; /* glibc: 0 also resets the position inside grouped short options */
    opterr = 0;
    int c;
    double d;
    uint64_t n;
    while ((c = getopt_long(argc, argv, "+r:i:s:pc:Z:w:h", long_opts, NULL)) != -1) {
        switch (c) {
        case 'r':
            o->read_path = optarg;
            break;
        case 'i':
            o->iface = optarg;
            break;
        case 's':
            if (parse_count(optarg, "-s", 64, 262144, &n, err, errlen))
                return -1;
            o->snaplen = (int)n;
            break;
        case 'p':
            o->no_promisc = true;
            break;
        case 'c':
            if (parse_count(optarg, "-c", 1, UINT64_MAX, &o->count, err, errlen))
                return -1;
            break;
        case 'Z':
            o->user = optarg;
            break;
        case 'w':
            o->write_path = optarg;
            break;
        case 'h':
            o->help = true;
            return 0;
        case OPT_VERSION:
            o->version = true;
            return 0;
        case OPT_FORMAT:
            if (!reporter_find(optarg)) {
                snprintf(err, errlen, "--format: unknown format '%s' (known: %s)", optarg,
                         reporter_names());
                return -1;
            }
            o->format = optarg;
            break;
        case OPT_FAIL_ON:
            if (parse_fail_on(optarg, &o->analyzer.fail_on, &o->analyzer.fail_on_findings, err,
                              errlen))
                return -1;
            break;
        case OPT_ATTEMPT_TIMEOUT:
            if (parse_seconds(optarg, "--attempt-timeout", 0.001, 86400, &d, err, errlen))
                return -1;
            o->analyzer.tracker.attempt_timeout_ns = to_ns(d);
            break;
        case OPT_STALL_THRESHOLD:
            if (parse_seconds(optarg, "--stall-threshold", 0.001, 86400, &d, err, errlen))
                return -1;
            o->analyzer.tracker.stall_threshold_ns = to_ns(d);
            break;
        case OPT_LINGER:
            if (parse_seconds(optarg, "--linger", 0, 3600, &d, err, errlen))
                return -1;
            o->analyzer.tracker.linger_ns = to_ns(d);
            break;
        case OPT_MAX_CONNECTIONS:
            if (parse_count(optarg, "--max-connections", 1, 100000000, &n, err, errlen))
                return -1;
            o->analyzer.tracker.max_connections = (size_t)n;
            break;
        case OPT_MAX_HANDSHAKES:
            if (parse_count(optarg, "--max-handshakes", 1, 100000000, &n, err, errlen))
                return -1;
            o->analyzer.tracker.max_handshakes = (size_t)n;
            break;
        case OPT_MAX_REPORT_LINES:
            if (parse_count(optarg, "--max-report-lines", 0, 100000000, &n, err, errlen))
                return -1;
            o->max_report_lines = (size_t)n;
            break;
        case OPT_THRESHOLD:
            if (!findings_config_set(&o->analyzer.findings, optarg, err, errlen))
                return -1;
            break;
        case OPT_NO_CHECKSUMS:
            o->analyzer.decode.verify_checksums = false;
            break;
        case OPT_DURATION:
            if (parse_seconds(optarg, "--duration", 0.001, 1e9, &o->duration_s, err, errlen))
                return -1;
            break;
        case OPT_INTERVAL:
            if (parse_seconds(optarg, "--interval", 0, 86400, &o->interval_s, err, errlen))
                return -1;
            break;
        case '?':
        default:
            if (optopt && optopt < 1000 && optopt != '?')
                snprintf(err, errlen, "option -%c %s", optopt,
                         strchr("risZwc", optopt) ? "needs a value" : "is unknown");
            else
                snprintf(err, errlen, "unknown or incomplete option '%s'", argv[optind - 1]);
            return -1;
        }
    }
    if (!o->read_path && !o->iface) {
        snprintf(err, errlen, "nothing to read: give -r FILE or -i IFACE");
        return -1;
    }
    if (o->read_path && o->iface) {
        snprintf(err, errlen, "give either -r FILE or -i IFACE, not both");
        return -1;
    }
    if (o->read_path && (o->user || o->write_path || o->duration_s > 0 || o->snaplen)) {
        snprintf(err, errlen, "-Z, -w, -s and --duration are for live capture (-i)");
        return -1;
    }
    /* The rest is the BPF filter, as tcpdump takes it. */
    size_t len = 1;
    for (int i = optind; i < argc; i++)
        len += strlen(argv[i]) + 1;
    o->filter = calloc(1, len);
    if (!o->filter) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (int i = optind; i < argc; i++) {
        if (i > optind)
            strcat(o->filter, " ");
        strcat(o->filter, argv[i]);
    }
    return 0;
}

void cli_free(struct options *o)
{
    free(o->filter);
    o->filter = NULL;
}
