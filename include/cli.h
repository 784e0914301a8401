/* SPDX-License-Identifier: MIT */
/*
 * cli.h - command-line options: parsing and validation, nothing else.
 * Every bad option gives one clear line and exit status 2 (main decides).
 */
#ifndef TCPTRIAGE_CLI_H
#define TCPTRIAGE_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "analyzer.h"

/* Exit statuses (docs/output.md). */
enum exit_status {
    EXIT_ANALYSED = 0, /* analysed, nothing matched --fail-on */
    EXIT_FAIL_ON = 1,  /* a --fail-on verdict was found */
    EXIT_USAGE = 2,    /* usage error or unreadable input */
    EXIT_DAMAGED = 3,  /* the input was damaged; what came before is reported */
};

struct options {
    const char *read_path;    /* -r */
    const char *iface;        /* -i */
    const char *format;       /* --format */
    char *filter;             /* BPF expression (owned) */
    struct analyzer_config analyzer;
    size_t max_report_lines;  /* text: problem lines kept */
    /* live */
    int snaplen;              /* -s */
    bool no_promisc;          /* -p */
    uint64_t count;           /* -c (0: no limit) */
    double duration_s;        /* --duration (0: no limit) */
    const char *user;         /* -Z */
    const char *write_path;   /* -w */
    double interval_s;        /* --interval; <0: default */
    bool help;
    bool version;
};

/* Parse argv. Returns 0, or -1 with a one-line message in err. */
int cli_parse(int argc, char **argv, struct options *o, char *err, size_t errlen);
void cli_free(struct options *o);
void cli_usage(FILE *f);

#endif
