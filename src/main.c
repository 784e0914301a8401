/* SPDX-License-Identifier: MIT */
/*
 * main.c - tcptriage: read a capture (or an interface), rebuild every TCP
 * connection, give each a verdict with evidence, and say what to check.
 *
 * Top to bottom: parse options; open the input; create the reporter; feed
 * every frame to the analyzer; finish; choose the exit status. Only this
 * file exits the process or reads the wall clock.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "analyzer.h"
#include "capture.h"
#include "cli.h"
#include "report.h"

#ifndef TCPTRIAGE_VERSION
#define TCPTRIAGE_VERSION "0.1.0"
#endif

/* Live: how often timers (timed_out, stalls) are checked by the clock. */
#define TICK_NS 100000000LL

static struct capture *g_live_capture;
static volatile sig_atomic_t g_signals;

static void on_signal(int sig)
{
    (void)sig;
    if (++g_signals >= 2)
        _exit(130); /* a second signal: exit at once */
    if (g_live_capture)
        capture_break(g_live_capture);
}

static int64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* -Z: give up root once the capture is open, as tcpdump does. */
static int drop_privileges(const char *user, char *err, size_t errlen)
{
    struct passwd *pw = getpwnam(user);
    if (!pw) {
        snprintf(err, errlen, "-Z: no such user '%s'", user);
        return -1;
    }
    if (initgroups(pw->pw_name, pw->pw_gid) != 0 || setgid(pw->pw_gid) != 0 ||
        setuid(pw->pw_uid) != 0) {
        snprintf(err, errlen, "-Z: cannot become '%s': %s", user, strerror(errno));
        return -1;
    }
    return 0;
}

static void print_interval(FILE *f, const struct analyzer *a, struct capture *cap, bool json)
{
    uint64_t drop, ifdrop;
    capture_drops(cap, &drop, &ifdrop);
    const struct report_summary *s = &a->summary;
    if (json) {
        fprintf(f, "{\"type\":\"stats\",\"frames\":%llu,\"live_connections\":%zu,"
                   "\"reported\":%llu,\"memory_bytes\":%zu,\"capture_dropped\":%llu}\n",
                (unsigned long long)s->frames, a->tracker.table.count,
                (unsigned long long)s->connections, a->tracker.table.bytes,
                (unsigned long long)drop);
    } else {
        fprintf(f, "-- %llu frames, %zu live connections (%zu KiB), %llu reported:",
                (unsigned long long)s->frames, a->tracker.table.count,
                a->tracker.table.bytes / 1024, (unsigned long long)s->connections);
        for (unsigned i = 0; i < VERDICT__COUNT; i++)
            if (s->verdicts[i])
                fprintf(f, " %s %llu", verdict_name((enum verdict)i),
                        (unsigned long long)s->verdicts[i]);
        fprintf(f, "; %llu dropped by the kernel\n", (unsigned long long)drop);
    }
    fflush(f);
}

int main(int argc, char **argv)
{
    struct options o;
    char err[512] = "";
    if (cli_parse(argc, argv, &o, err, sizeof err) != 0) {
        fprintf(stderr, "tcptriage: %s (try --help)\n", err);
        cli_free(&o);
        return EXIT_USAGE;
    }
    if (o.help || o.version) {
        if (o.help)
            cli_usage(stdout);
        else
            printf("tcptriage %s\n", TCPTRIAGE_VERSION);
        cli_free(&o);
        return EXIT_ANALYSED;
    }

    struct capture *cap;
    if (o.read_path) {
        cap = capture_open_file(o.read_path, o.filter, err, sizeof err);
    } else {
        struct capture_live_options lo = {
            .iface = o.iface,
            .snaplen = o.snaplen,
            .promiscuous = !o.no_promisc,
            .timeout_ms = 100,
            .save_path = o.write_path,
        };
        cap = capture_open_live(&lo, o.filter, err, sizeof err);
    }
    if (!cap) {
        fprintf(stderr, "tcptriage: %s\n", err);
        cli_free(&o);
        return EXIT_USAGE;
    }
    if (o.user && drop_privileges(o.user, err, sizeof err) != 0) {
        fprintf(stderr, "tcptriage: %s\n", err);
        capture_close(cap);
        cli_free(&o);
        return EXIT_USAGE;
    }

    bool live = o.iface != NULL;
    bool json = strcmp(o.format, "json") == 0;
    /* A file's JSON report is ~1.3 KB a connection: stdio's default buffer
     * (4 KiB on a pipe or /dev/null) made that a write() every three lines,
     * 150,000 system calls for bench-10m. Only for a regular input file:
     * live output is flushed line by line (the reporters do), a capture
     * streamed in (`tcpdump -w - | tcptriage -r -`) keeps its lines coming
     * a few at a time, and a terminal keeps its line buffering. */
    static char outbuf[256 * 1024];
    struct stat in_st;
    bool regular_in = o.read_path && strcmp(o.read_path, "-") != 0 &&
                      stat(o.read_path, &in_st) == 0 && S_ISREG(in_st.st_mode);
    if (regular_in && !isatty(STDOUT_FILENO))
        setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);
    struct reporter_config rc = {
        .out = stdout,
        .ts_digits = capture_ts_digits(cap),
        .max_problem_lines = o.max_report_lines,
        .live = live,
    };
    const struct reporter_ops *ops = reporter_find(o.format);
    struct reporter *rep = ops->create(&rc);
    if (!rep) {
        fprintf(stderr, "tcptriage: out of memory\n");
        capture_close(cap);
        cli_free(&o);
        return EXIT_USAGE;
    }
    o.analyzer.events = live;
    /* Compact times in the capture's units: microseconds make the 32-bit
     * offsets of conn.h cover 71 minutes of a connection (nanoseconds 4.3 s).
     * TCPTRIAGE_TIME_UNIT=K (0-9) sets 10^K ns instead, for tests/compact.py:
     * a unit the timestamps are not multiples of makes every connection wide,
     * 0 on a microsecond capture makes those longer than 4.3 s wide, and the
     * output must not change. */
    o.analyzer.tracker.time_unit = (uint8_t)(9 - capture_ts_digits(cap));
    const char *tu = getenv("TCPTRIAGE_TIME_UNIT");
    if (tu && tu[0] >= '0' && tu[0] <= '9' && !tu[1])
        o.analyzer.tracker.time_unit = (uint8_t)(tu[0] - '0');
    /* TCPTRIAGE_NO_FASTPATH=1 (any value but empty and "0"): every fast path
     * off -- the tracker's (and with it the analyzer's pipeline) and the
     * findings' pair filter -- so tests/fastpath.py can compare outputs. */
    const char *nf = getenv("TCPTRIAGE_NO_FASTPATH");
    if (nf && *nf && strcmp(nf, "0") != 0) {
        o.analyzer.tracker.fast_paths = false;
        o.analyzer.findings.pair_filter = false;
    }
    static struct analyzer a;
    analyzer_init(&a, &o.analyzer, rep);
    if (a.tracker.cfg.max_connections < o.analyzer.tracker.max_connections)
        fprintf(stderr,
                "tcptriage: warning: address space for %zu connections only: "
                "--max-connections lowered from %zu\n",
                a.tracker.cfg.max_connections, o.analyzer.tracker.max_connections);

    if (live) {
        g_live_capture = cap;
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
    }
    double interval = o.interval_s;
    if (interval < 0)
        interval = (live && !json && isatty(STDOUT_FILENO)) ? 10.0 : 0.0;
    int64_t t_start = mono_ns();
    int64_t next_interval = t_start + (int64_t)(interval * 1e9);
    int64_t last_tick = t_start;

    const char *damage = NULL;
    char damage_buf[256];
    struct frame f;
    uint64_t n = 0;
    for (;;) {
        enum capture_status st = capture_next(cap, &f);
        if (st == CAPTURE_FRAME) {
            analyzer_frame(&a, &f);
            if (o.count && ++n >= o.count)
                break;
        } else if (st == CAPTURE_TIMEOUT) {
            analyzer_tick(&a, wall_ns());
        } else if (st == CAPTURE_DAMAGED) {
            snprintf(damage_buf, sizeof damage_buf, "%s", capture_damage(cap));
            damage = damage_buf; /* outlives capture_close() */
            break;
        } else {
            break;
        }
        if (live) {
            int64_t now = mono_ns();
            if (now - last_tick >= TICK_NS) {
                analyzer_tick(&a, wall_ns());
                last_tick = now;
            }
            if (o.duration_s > 0 && now - t_start >= (int64_t)(o.duration_s * 1e9))
                break;
            if (interval > 0 && now >= next_interval) {
                print_interval(stdout, &a, cap, json);
                next_interval = now + (int64_t)(interval * 1e9);
            }
        }
    }
    if (live) {
        analyzer_tick(&a, wall_ns());
        capture_drops(cap, &a.summary.live_dropped, &a.summary.live_if_dropped);
    }
    const char *source = live ? o.iface : (strcmp(o.read_path, "-") == 0 ? "stdin" : o.read_path);
    analyzer_finish(&a, source, capture_link_name(cap), damage);
    bool fail = a.fail_hit;
    /* Out of memory on the way (or past 2^48 frames: conn.h): say what it
     * cost (never seen in a normal run). */
    const struct tracker_counters *tc = &a.tracker.cnt;
    if (tc->alloc_failures || tc->rare_failures || a.tracker.table.widen_failed)
        fprintf(stderr,
                "tcptriage: warning: out of memory (or past frame 2^48): %llu connections not "
                "tracked, evidence of rare events lost %llu times, %llu times or frame numbers "
                "saturated\n",
                (unsigned long long)tc->alloc_failures, (unsigned long long)tc->rare_failures,
                (unsigned long long)a.tracker.table.widen_failed);
    const char *dw = getenv("TCPTRIAGE_DEBUG_WIDE");
    if (dw && strcmp(dw, "0") != 0) /* tests/compact.py */
        fprintf(stderr, "tcptriage: debug: %llu connections wide, units refined %llu times\n",
                (unsigned long long)a.tracker.table.wide,
                (unsigned long long)a.tracker.table.refined);
    analyzer_destroy(&a);
    rep->ops->destroy(rep);
    g_live_capture = NULL;
    capture_close(cap);
    cli_free(&o);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "tcptriage: error writing the report\n");
        return EXIT_USAGE;
    }
    if (damage) {
        fprintf(stderr, "tcptriage: input damaged: %s\n", damage);
        return EXIT_DAMAGED;
    }
    return fail ? EXIT_FAIL_ON : EXIT_ANALYSED;
}
