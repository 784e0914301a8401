/* SPDX-License-Identifier: MIT */
/*
 * test_tracker.c - unit tests for the connection tracker (src/tracker.c),
 * checked through the verdicts the classifier (src/classify.c) gives the
 * connections the tracker emits, plus the enum names of src/conn.c.
 *
 * A scenario is an array of steps (struct sb_step, tests/unit/seg_builder.h):
 * who sends what, when, with sequence numbers relative to the ISNs. The
 * harness feeds the steps to tracker_packet() as decoded segments with
 * frame numbers 1, 2, ... (frame n is step n-1), optionally lets the clock
 * run on with tracker_advance(), calls tracker_finish(), and keeps a copy of
 * every emitted connection together with its classification at emit time
 * and the live events. Each scenario states the verdict, the verdict frame,
 * both endpoint states, the handshake and the end reason it expects, and
 * may add its own checks (counters, stall episode, reset side, ...).
 *
 * Expectations follow docs/verdicts.md and docs/output.md; where the code
 * and the documentation disagree, the test asserts the documentation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "classify.h"
#include "conn.h"
#include "flow_table.h"
#include "seg_builder.h"
#include "tracker.h"

/* ---------------------------------------------------------------------------
 * Harness
 */
#define MAX_OUT 16
#define MAX_EVENTS 32

struct captured {
    struct conn c;          /* copy; its list pointers are stale, c.rare points to .rare */
    struct conn_rare rare;  /* copy of the rare block (zero when it had none) */
    struct conn_wide wide;  /* copy of its wide block (CONN_WIDE) */
    struct ip_pair v6;      /* copy of its IPv6 addresses */
    struct verdict_info v;  /* classify_connection() at emit time */
    enum conn_end why;
    int64_t now_ns;
};

struct logged_event {
    enum tracker_event ev;
    uint64_t id;
    uint64_t frame; /* the connection's last frame at the time */
    int64_t now_ns;
};

struct harness {
    struct tracker t;
    struct classify_config ccfg;
    struct captured out[MAX_OUT];
    size_t n_out;
    struct logged_event events[MAX_EVENTS];
    size_t n_events;
    uint64_t frame_no;
};

static void on_emit(void *ctx, const struct conn *c, enum conn_end why, int64_t now_ns)
{
    struct harness *h = ctx;
    assert_true(h->n_out < MAX_OUT);
    struct captured *k = &h->out[h->n_out++];
    k->c = *c;
    k->rare = *conn_rare(c);
    k->c.rare = c->rare ? &k->rare : NULL;
    if (c->flags & CONN_WIDE) {
        k->wide = *c->rare->wide;
        k->rare.wide = &k->wide;
    }
    if (c->key.ip_version == 6) {
        k->v6 = *c->key.addr.v6;
        k->c.key.addr.v6 = &k->v6;
    }
    k->why = why;
    k->now_ns = now_ns;
    classify_connection(c, &h->ccfg, now_ns, &k->v);
}

static void on_event(void *ctx, const struct conn *c, enum tracker_event ev, int64_t now_ns)
{
    struct harness *h = ctx;
    assert_true(h->n_events < MAX_EVENTS);
    struct logged_event *e = &h->events[h->n_events++];
    e->ev = ev;
    e->id = conn_id(c);
    e->frame = conn_frame(c, &c->last_frame);
    e->now_ns = now_ns;
}

/* The harness of the running test, freed by h_teardown() when an assertion
 * jumps out of the test before h_free(). */
static struct harness *current;

static struct harness *h_new(const struct tracker_config *cfg)
{
    struct harness *h = calloc(1, sizeof *h);
    assert_non_null(h);
    current = h;
    struct tracker_config def;
    tracker_config_default(&def);
    if (!cfg)
        cfg = &def;
    h->ccfg.attempt_timeout_ns = cfg->attempt_timeout_ns;
    h->ccfg.stall_threshold_ns = cfg->stall_threshold_ns;
    tracker_init(&h->t, cfg, on_emit, on_event, h);
    return h;
}

static void h_free(struct harness *h)
{
    tracker_destroy(&h->t);
    free(h);
    current = NULL;
}

static int h_teardown(void **state)
{
    (void)state;
    if (current)
        h_free(current);
    return 0;
}

/* Both directions of each 4-tuple the scenarios use. */
enum flow_index {
    F_A = 0,  /* 10.0.0.1:51000 -> 10.0.0.2:80 */
    F_A2,     /* the same tuple, other ISNs (port reuse) */
    F_B,      /* 10.0.0.1:51001 -> 10.0.0.2:80 */
    F_C,      /* 10.0.0.1:51002 -> 10.0.0.2:80 */
    F_8118,   /* 10.0.0.1:51476 -> 10.0.0.2:8118 */
    F_80,     /* 10.0.0.3:40000 -> 10.0.0.4:80 */
    F_22,     /* 10.0.0.5:1024 -> 10.0.0.6:22 */
    F_LOWER,  /* 10.0.0.7:6000 -> 10.0.0.8:5000 */
    F_SA,     /* 10.0.0.9:80 -> 10.0.0.10:50000 (client on the low port) */
    F_WRAP,   /* ISNs just below 2^32 */
    F_LOOP,   /* 127.0.0.1:6000 -> 127.0.0.1:5000 */
    F_V6,     /* [2001:db8::1]:40002 -> [2001:db8::2]:443 */
    F__COUNT
};

static struct sb_flow flows[F__COUNT];

static void flows_init(void)
{
    struct sb_flow *f;
    f = &flows[F_A];
    *f = (struct sb_flow){sb_ip4(10, 0, 0, 1), sb_ip4(10, 0, 0, 2), 51000, 80, 4, 1000000u,
                          5000000u};
    flows[F_A2] = *f;
    flows[F_A2].cisn = 9000000u;
    flows[F_A2].sisn = 7000000u;
    flows[F_B] = *f;
    flows[F_B].cport = 51001;
    flows[F_C] = *f;
    flows[F_C].cport = 51002;
    flows[F_8118] = *f;
    flows[F_8118].cport = 51476;
    flows[F_8118].sport = 8118;
    flows[F_80] = (struct sb_flow){sb_ip4(10, 0, 0, 3), sb_ip4(10, 0, 0, 4), 40000, 80, 4,
                                   111u, 222u};
    flows[F_22] = (struct sb_flow){sb_ip4(10, 0, 0, 5), sb_ip4(10, 0, 0, 6), 1024, 22, 4, 333u,
                                   444u};
    flows[F_LOWER] = (struct sb_flow){sb_ip4(10, 0, 0, 7), sb_ip4(10, 0, 0, 8), 6000, 5000, 4,
                                      555u, 666u};
    flows[F_SA] = (struct sb_flow){sb_ip4(10, 0, 0, 9), sb_ip4(10, 0, 0, 10), 80, 50000, 4,
                                   777u, 888u};
    flows[F_WRAP] = (struct sb_flow){sb_ip4(10, 0, 0, 11), sb_ip4(10, 0, 0, 12), 40001, 443, 4,
                                     0xFFFFFF9Cu, 0xFFFFFFF0u};
    flows[F_LOOP] = (struct sb_flow){sb_ip4(127, 0, 0, 1), sb_ip4(127, 0, 0, 1), 6000, 5000, 4,
                                     1234u, 5678u};
    flows[F_V6] = (struct sb_flow){sb_ip6("2001:db8::1"), sb_ip6("2001:db8::2"), 40002, 443, 6,
                                   42u, 4242u};
}

static void h_step(struct harness *h, const struct sb_step *st)
{
    struct decoded d = sb_step_decoded(&flows[st->flow], st);
    struct frame f = sb_frame(SB_T0_NS + SB_US(st->t_us), ++h->frame_no);
    tracker_packet(&h->t, &d, &f);
}

static void h_run(struct harness *h, const struct sb_step *steps, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h_step(h, &steps[i]);
}

static size_t h_count_events(const struct harness *h, enum tracker_event ev)
{
    size_t n = 0;
    for (size_t i = 0; i < h->n_events; i++)
        n += h->events[i].ev == ev;
    return n;
}

/* The first event of that kind; one with id and frame 0 if there is none. */
static const struct logged_event *h_first_event(const struct harness *h, enum tracker_event ev)
{
    static const struct logged_event none = {TEV__COUNT, 0, 0, 0};
    for (size_t i = 0; i < h->n_events; i++)
        if (h->events[i].ev == ev)
            return &h->events[i];
    return &none;
}

static void assert_reason_has(const struct verdict_info *v, const char *needle)
{
    if (!strstr(v->reason, needle))
        fail_msg("reason \"%s\" does not contain \"%s\"", v->reason, needle);
}

/* ---------------------------------------------------------------------------
 * Step shorthands. Times are microseconds; MS(x) milliseconds.
 */
#define MS(x) ((int64_t)(x) * 1000)
#define CW 64240 /* client window */
#define SW 65535 /* server window */
#define SYN TCP_SYN
#define SA (TCP_SYN | TCP_ACK)
#define A TCP_ACK
#define PA (TCP_PSH | TCP_ACK)
#define FA (TCP_FIN | TCP_ACK)
#define R TCP_RST
#define RA (TCP_RST | TCP_ACK)

/* client -> server / server -> client on flow fl */
#define STEP_(fl, dir, t, f, s, a, l, w, icmp)                                              \
    {(int64_t)(t), (uint8_t)(fl), (uint8_t)(dir), (uint8_t)(f), (uint32_t)(s), (uint32_t)(a), \
     (uint32_t)(l), (uint16_t)(w), (icmp)}
#define CF(fl, t, f, s, a, l) STEP_(fl, SB_C2S, t, f, s, a, l, CW, false)
#define SF(fl, t, f, s, a, l) STEP_(fl, SB_S2C, t, f, s, a, l, SW, false)
#define SFW(fl, t, f, s, a, l, w) STEP_(fl, SB_S2C, t, f, s, a, l, w, false)
#define ICMP_CF(fl, t, f, s) STEP_(fl, SB_C2S, t, f, s, 0, 0, CW, true)
#define C(t, f, s, a, l) CF(F_A, t, f, s, a, l)
#define S(t, f, s, a, l) SF(F_A, t, f, s, a, l)
#define SW_(t, f, s, a, l, w) SFW(F_A, t, f, s, a, l, w)

/* Frames 1-3: SYN at 0, SYN-ACK at 10 ms, ACK at 20 ms (handshake RTT 20 ms). */
#define HANDSHAKE(fl) \
    CF(fl, 0, SYN, 0, 0, 0), SF(fl, MS(10), SA, 0, 1, 0), CF(fl, MS(20), A, 1, 1, 0)

/* Frames 1-9: a clean connection; the client closes first (frame 7), the
 * server's FIN (frame 8) is the second, frame 9 acknowledges it. */
#define CLEAN_STEPS(fl)                                                          \
    HANDSHAKE(fl), CF(fl, MS(30), PA, 1, 1, 100), SF(fl, MS(40), PA, 1, 101, 200), \
        CF(fl, MS(50), A, 101, 201, 0), CF(fl, MS(60), FA, 101, 201, 0),           \
        SF(fl, MS(70), FA, 201, 102, 0), CF(fl, MS(80), A, 102, 202, 0)

/* Frames 1-13: 1000 bytes from the client, acknowledged with a zero window
 * at 40 ms (frame 5); the client probes at snd_una - 1 and the server
 * answers each probe with the zero window again, until 3.101 s. */
#define ZERO_WINDOW_STEPS                                                             \
    HANDSHAKE(F_A), C(MS(30), PA, 1, 1, 1000), SW_(MS(40), A, 1, 1001, 0, 0),          \
        C(MS(300), A, 1000, 1, 0), SW_(MS(301), A, 1, 1001, 0, 0),                    \
        C(MS(700), A, 1000, 1, 0), SW_(MS(701), A, 1, 1001, 0, 0),                    \
        C(MS(1500), A, 1000, 1, 0), SW_(MS(1501), A, 1, 1001, 0, 0),                  \
        C(MS(3100), A, 1000, 1, 0), SW_(MS(3101), A, 1, 1001, 0, 0)

/* ---------------------------------------------------------------------------
 * Scenarios
 */
struct scenario {
    const char *name;
    const struct sb_step *steps;
    size_t n_steps;
    int64_t end_us;      /* advance the clock to this before finishing (0: don't) */
    size_t n_out;        /* connections emitted in all */
    size_t idx;          /* the one the expectations below are about */
    enum verdict verdict;
    uint64_t verdict_frame;
    enum tcp_state client_state, server_state;
    enum handshake_seen handshake;
    enum conn_end why;
    void (*check)(const struct harness *h);
};

#define STEPS(...) ((const struct sb_step[]){__VA_ARGS__})
#define NSTEPS(...) (sizeof((const struct sb_step[]){__VA_ARGS__}) / sizeof(struct sb_step))
#define SCEN_STEPS(...) STEPS(__VA_ARGS__), NSTEPS(__VA_ARGS__)

/* ---- per-scenario checks ------------------------------------------------ */

static void check_clean(const struct harness *h)
{
    const struct conn *c = &h->out[0].c;
    const struct verdict_info *v = &h->out[0].v;
    assert_int_equal(conn_id(c), 1);
    assert_int_equal(conn_port(c, SIDE_CLIENT), 51000);
    assert_int_equal(conn_port(c, SIDE_SERVER), 80);
    assert_memory_equal((struct ip_addr[]){conn_addr(c, SIDE_CLIENT)}, &flows[F_A].cli,
                        sizeof(struct ip_addr));
    assert_memory_equal((struct ip_addr[]){conn_addr(c, SIDE_SERVER)}, &flows[F_A].srv,
                        sizeof(struct ip_addr));
    assert_int_equal(conn_first_frame(c), 1);
    assert_int_equal(conn_frame(c, &c->last_frame), 9);
    assert_int_equal(c->start_ns, SB_T0_NS);
    assert_int_equal(c->last_ns, SB_T0_NS + SB_MS(80));
    assert_int_equal(conn_frame(c, &c->frame_established), 3);
    /* handshake RTT: from the (last) SYN to the ACK completing the handshake */
    assert_int_equal(conn_time(c, &c->established) - conn_syn_last(c),
                     SB_MS(20));
    assert_int_equal(c->ep[SIDE_CLIENT].pkts, 6);
    assert_int_equal(c->ep[SIDE_SERVER].pkts, 3);
    assert_int_equal(conn_bytes(c, SIDE_CLIENT), 100);
    assert_int_equal(conn_bytes(c, SIDE_SERVER), 200);
    assert_int_equal(c->ep[SIDE_CLIENT].retransmits, 0);
    assert_int_equal(c->ep[SIDE_SERVER].retransmits, 0);
    assert_int_equal(c->ep[SIDE_CLIENT].syns, 1);
    assert_int_equal(c->ep[SIDE_SERVER].syns, 1);
    assert_int_equal(conn_frame(c, &c->ep[SIDE_CLIENT].frame_fin), 7);
    assert_int_equal(conn_frame(c, &c->ep[SIDE_SERVER].frame_fin), 8);
    assert_true(c->ep[SIDE_CLIENT].flags & EP_FIN_ACKED);
    assert_true(c->ep[SIDE_SERVER].flags & EP_FIN_ACKED);
    assert_true(c->flags & CONN_DONE);
    assert_false(c->flags & (CONN_RST | CONN_ROLES_GUESSED | CONN_EVICTED));
    assert_true(c->flags & CONN_WSCALE_KNOWN);
    assert_false(c->flags & CONN_WSCALE_ON);
    assert_int_equal(conn_rare(c)->stall_episodes, 0);
    assert_int_equal(v->stall.kind, STALL_NONE);
    assert_true(v->clean);
    assert_reason_has(v, "client first");
    assert_int_equal(h->t.cnt.connections, 1);
    assert_int_equal(h->t.cnt.replaced, 0);
    assert_int_equal(h->t.cnt.evicted, 0);
    /* live events: closed, once, at the second FIN; nothing else went wrong */
    assert_int_equal(h_count_events(h, TEV_CLOSED), 1);
    assert_int_equal(h_first_event(h, TEV_CLOSED)->frame, 8);
    assert_int_equal(h_first_event(h, TEV_CLOSED)->id, 1);
    assert_int_equal(h_count_events(h, TEV_RESET) + h_count_events(h, TEV_REFUSED) +
                         h_count_events(h, TEV_STALL_START) + h_count_events(h, TEV_TIMED_OUT),
                     0);
}

static void check_refused_rst(const struct harness *h)
{
    const struct conn *c = &h->out[0].c;
    assert_true(c->flags & CONN_RST);
    assert_int_equal(c->rst_side, SIDE_SERVER);
    assert_int_equal(c->rst_phase, PHASE_HANDSHAKE);
    assert_int_equal(conn_rare(c)->frame_rst, 2);
    assert_int_equal(conn_rare(c)->ep[SIDE_SERVER].rst_ignored, 0);
    assert_reason_has(&h->out[0].v, "RST");
    assert_int_equal(h_count_events(h, TEV_REFUSED), 1);
    assert_int_equal(h_count_events(h, TEV_RESET), 0);
}

static void check_rst_ignored(const struct harness *h)
{
    const struct conn *c = &h->out[0].c;
    assert_int_equal(conn_rare(c)->ep[SIDE_SERVER].rst_ignored, 1);
    assert_false(c->flags & CONN_RST);
    assert_false(c->ep[SIDE_SERVER].flags & EP_RST);
    assert_int_equal(conn_rare(c)->frame_rst, 0);
    assert_int_equal(c->ep[SIDE_SERVER].pkts, 1);
    assert_int_equal(h->n_events, 0);
}

static void check_refused_icmp(const struct harness *h)
{
    const struct conn *c = &h->out[0].c;
    struct ip_addr router = sb_ip4(192, 0, 2, 254);
    assert_true(c->flags & CONN_ICMP);
    assert_true(c->flags & CONN_ICMP_SYN);
    assert_false(c->flags & CONN_RST);
    assert_int_equal(conn_rare(c)->frame_icmp, 2);
    assert_int_equal(conn_rare(c)->icmp_type, 3);
    assert_int_equal(conn_rare(c)->icmp_code, 13);
    assert_int_equal(conn_rare(c)->icmp_ttl, 61);
    assert_memory_equal(&conn_rare(c)->icmp_src, &router, sizeof router);
    assert_reason_has(&h->out[0].v, "ICMP unreachable (type 3 code 13)");
    assert_int_equal(h_count_events(h, TEV_REFUSED), 1);
}

static void check_icmp_unseen_syn(const struct harness *h)
{
    const struct conn *c = &h->out[0].c;
    assert_true(c->flags & CONN_ICMP_SYN);
    assert_int_equal(conn_first_frame(c), 1);
    assert_int_equal(conn_port(c, SIDE_CLIENT), 51000);
    assert_int_equal(conn_port(c, SIDE_SERVER), 80);
}

static void check_timed_out(const struct harness *h)
{
    const struct conn *c = &h->out[0].c;
    assert_int_equal(c->ep[SIDE_CLIENT].syns, 3);
    assert_int_equal(conn_rare(c)->syn_times_us[0], 1000000);
    assert_int_equal(conn_rare(c)->syn_times_us[1], 3000000);
    assert_int_equal(conn_rare(c)->syn_times_us[2], 0);
    assert_int_equal(conn_time(c, &c->ep[SIDE_CLIENT].ts_syn), SB_T0_NS);
    assert_int_equal(conn_syn_last(c), SB_T0_NS + SB_SEC(3));
    assert_int_equal(h->t.cnt.connections, 1);
    assert_int_equal(h->t.cnt.replaced, 0);
    assert_reason_has(&h->out[0].v, "3 SYNs");
    assert_reason_has(&h->out[0].v, "1.0 s, 2.0 s");
}

static void check_unanswered(const struct harness *h)
{
    assert_int_equal(h->out[0].now_ns, SB_T0_NS + SB_MS(500));
    assert_reason_has(&h->out[0].v, "500 ms");
}

static void check_timed_out_clock(const struct harness *h)
{
    /* the other connection, which moved the clock, is reported too */
    assert_int_equal(conn_port(&h->out[0].c, SIDE_CLIENT), 51000);
    assert_int_equal(conn_port(&h->out[1].c, SIDE_CLIENT), 51001);
    assert_int_equal(h->out[1].v.verdict, VERDICT_OPEN);
    assert_reason_has(&h->out[0].v, "within 3.0 s");
}

static void check_half_open(const struct harness *h)
{
    const struct conn *c = &h->out[0].c;
    assert_int_equal(c->ep[SIDE_SERVER].syns, 3);
    assert_int_equal(conn_frame(c, &c->ep[SIDE_SERVER].frame_syn), 2);
    assert_false(c->flags & CONN_ESTABLISHED);
    assert_int_equal(h_count_events(h, TEV_HALF_OPEN), 1);
    assert_int_equal(h_first_event(h, TEV_HALF_OPEN)->frame, 3);
    assert_reason_has(&h->out[0].v, "3 times");
}

static void check_reset_by_server(const struct harness *h)
{
    const struct conn *c = &h->out[0].c;
    assert_true(c->flags & CONN_RST);
    assert_int_equal(c->rst_side, SIDE_SERVER);
    assert_int_equal(c->rst_phase, PHASE_ESTABLISHED);
    assert_int_equal(conn_rare(c)->frame_rst, 6);
    assert_int_equal(conn_rare(c)->rst_ns, SB_T0_NS + SB_MS(5040));
    assert_int_equal(conn_rare(c)->idle_before_rst_ns, SB_SEC(5));
    assert_int_equal(conn_dur(c, &c->max_idle), SB_SEC(5));
    assert_int_equal(conn_rare(c)->ep[SIDE_SERVER].frame_rst, 6);
    assert_int_equal(conn_rare(c)->ep[SIDE_SERVER].rst_ignored, 0);
    assert_reason_has(&h->out[0].v, "server reset the connection while established");
    assert_int_equal(h_count_events(h, TEV_RESET), 1);
    assert_int_equal(h_first_event(h, TEV_RESET)->frame, 6);
}

static void check_reset_by_client(const struct harness *h)
{
    const struct conn *c = &h->out[0].c;
    assert_int_equal(c->rst_side, SIDE_CLIENT);
    assert_int_equal(c->rst_phase, PHASE_ESTABLISHED);
    assert_int_equal(conn_rare(c)->idle_before_rst_ns, SB_SEC(2));
    assert_reason_has(&h->out[0].v, "client reset");
}

static void check_reset_closing(const struct harness *h)
{
    const struct conn *c = &h->out[0].c;
    assert_int_equal(c->rst_side, SIDE_SERVER);
    assert_int_equal(c->rst_phase, PHASE_CLOSING);
    assert_int_equal(conn_rare(c)->idle_before_rst_ns, SB_SEC(1));
    assert_reason_has(&h->out[0].v, "while closing");
}

static void check_rst_after_fins(const struct harness *h)
{
    const struct conn *c = &h->out[0].c;
    assert_true(c->flags & CONN_RST);
    assert_int_equal(c->rst_side, SIDE_CLIENT);
    assert_int_equal(c->rst_phase, PHASE_CLOSED);
    assert_reason_has(&h->out[0].v, "RST followed");
    assert_int_equal(h_count_events(h, TEV_RESET), 0);
}

static void check_rst_out_of_window(const struct harness *h)
{
    const struct conn *c = &h->out[0].c;
    assert_int_equal(conn_rare(c)->ep[SIDE_SERVER].rst_ignored, 1);
    assert_false(c->flags & (CONN_RST | CONN_DONE));
    assert_int_equal(h_count_events(h, TEV_RESET), 0);
}

static void check_fin_crossed_rst(const struct harness *h)
{
    const struct conn *c = &h->out[0].c;
    assert_true(c->flags & CONN_RST);
    assert_int_equal(c->rst_side, SIDE_CLIENT);
    assert_int_equal(c->rst_phase, PHASE_CLOSED);
    assert_int_equal(conn_frame(c, &c->ep[SIDE_SERVER].frame_fin), 6);
}

static void check_fin_after_rst(const struct harness *h)
{
    const struct conn *c = &h->out[0].c;
    assert_int_equal(c->rst_side, SIDE_CLIENT);
    assert_int_equal(c->rst_phase, PHASE_CLOSING);
}

static void check_zero_window(const struct harness *h)
{
    const struct conn *c = &h->out[0].c;
    const struct verdict_info *v = &h->out[0].v;
    assert_int_equal(v->stall.kind, STALL_ZERO_WINDOW);
    assert_int_equal(v->stall.blamed, SIDE_SERVER);
    assert_int_equal(v->stall.ongoing, 1);
    assert_int_equal(v->stall.start_ns, SB_T0_NS + SB_MS(40));
    assert_int_equal(v->stall.seconds_ns, SB_MS(3061));
    assert_int_equal(v->stall.start_frame, 5);
    assert_int_equal(conn_rare(c)->ep[SIDE_CLIENT].zw_probes, 4);
    assert_int_equal(c->ep[SIDE_CLIENT].retransmits, 0);
    assert_int_equal(conn_rare(c)->ep[SIDE_CLIENT].keepalives, 0);
    assert_int_equal(conn_rare(c)->ep[SIDE_SERVER].zero_windows, 5);
    assert_true(c->ep[SIDE_SERVER].flags & EP_ZERO_WINDOW);
    assert_int_equal(conn_rare(c)->stall_episodes, 0); /* none closed yet */
    assert_false(v->clean);
    assert_reason_has(v, "server has advertised a zero window");
    assert_reason_has(v, "(4 probes)");
}

static void check_zero_window_recovered(const struct harness *h)
{
    const struct conn *c = &h->out[0].c;
    const struct verdict_info *v = &h->out[0].v;
    assert_int_equal(conn_rare(c)->stall_episodes, 1);
    assert_int_equal(conn_rare(c)->stall_longest.kind, STALL_ZERO_WINDOW);
    assert_int_equal(conn_rare(c)->stall_longest.blamed, SIDE_SERVER);
    assert_int_equal(conn_rare(c)->stall_longest.start_ns, SB_T0_NS + SB_MS(40));
    assert_int_equal(conn_rare(c)->stall_longest.seconds_ns, SB_MS(3160));
    assert_int_equal(conn_rare(c)->stall_longest.ongoing, 0);
    assert_int_equal(conn_rare(c)->stall_longest.start_frame, 5);
    assert_int_equal(v->stall.kind, STALL_ZERO_WINDOW);
    assert_int_equal(v->stall.seconds_ns, SB_MS(3160));
    assert_false(v->clean);
    assert_false(c->ep[SIDE_SERVER].flags & EP_ZERO_WINDOW);
    assert_int_equal(conn_rare(c)->ep[SIDE_CLIENT].zw_probes, 4);
    assert_int_equal(c->ep[SIDE_CLIENT].retransmits, 0);
    assert_int_equal(conn_bytes(c, SIDE_CLIENT), 2000);
    assert_int_equal(h_count_events(h, TEV_STALL_END), 1);
    assert_int_equal(h_first_event(h, TEV_STALL_END)->frame, 14);
    /* docs/verdicts.md: "A connection that stalled and recovered keeps its
     * verdict (e.g. closed) and its reason mentions the stall." */
    assert_reason_has(v, "stall");
}

static void check_unacked(const struct harness *h)
{
    const struct conn *c = &h->out[0].c;
    const struct verdict_info *v = &h->out[0].v;
    assert_int_equal(v->stall.kind, STALL_UNACKED_DATA);
    assert_int_equal(v->stall.blamed, SIDE_SERVER);
    assert_int_equal(v->stall.ongoing, 1);
    assert_int_equal(v->stall.start_ns, SB_T0_NS + SB_MS(30));
    assert_int_equal(v->stall.seconds_ns, SB_SEC(3));
    assert_int_equal(v->stall.start_frame, 4);
    assert_int_equal(c->ep[SIDE_CLIENT].retransmits, 3);
    assert_int_equal(conn_rare(c)->ep[SIDE_CLIENT].rtx_fast, 0);
    assert_int_equal(conn_rare(c)->ep[SIDE_CLIENT].rtx_spurious, 0);
    assert_int_equal(conn_bytes(c, SIDE_CLIENT), 4000);
    assert_int_equal(c->ep[SIDE_CLIENT].pkts, 6);
    assert_reason_has(v, "client has retransmitted data the server never acknowledged");
}

static void check_window_full(const struct harness *h)
{
    const struct verdict_info *v = &h->out[0].v;
    assert_int_equal(v->stall.kind, STALL_WINDOW_FULL);
    assert_int_equal(v->stall.blamed, SIDE_SERVER);
    assert_int_equal(v->stall.start_ns, SB_T0_NS + SB_MS(30));
    assert_int_equal(v->stall.start_frame, 4);
    assert_int_equal(h->out[0].c.ep[SIDE_CLIENT].retransmits, 0);
}

static void check_not_stalled(const struct harness *h)
{
    const struct conn *c = &h->out[0].c;
    const struct verdict_info *v = &h->out[0].v;
    assert_int_equal(v->stall.kind, STALL_NONE);
    assert_int_equal(conn_rare(c)->stall_episodes, 0);
    assert_int_equal(c->ep[SIDE_CLIENT].retransmits, 0);
    assert_int_equal(conn_in_flight(c, SIDE_CLIENT), 1000);
    assert_true(v->clean);
}

static void check_keepalive(const struct harness *h)
{
    const struct conn *c = &h->out[0].c;
    const struct verdict_info *v = &h->out[0].v;
    assert_int_equal(conn_rare(c)->ep[SIDE_CLIENT].keepalives, 2);
    assert_int_equal(conn_rare(c)->ep[SIDE_CLIENT].keepalive_acks, 2);
    assert_int_equal(conn_rare(c)->ep[SIDE_CLIENT].keepalive_gap_ns, SB_SEC(75));
    assert_int_equal(conn_rare(c)->ep[SIDE_CLIENT].ts_keepalive_ns, SB_T0_NS + SB_MS(135040));
    assert_false(c->ep[SIDE_CLIENT].flags & EP_KA_PENDING);
    assert_int_equal(c->ep[SIDE_CLIENT].retransmits, 0);
    assert_int_equal(conn_rare(c)->ep[SIDE_CLIENT].zw_probes, 0);
    assert_int_equal(c->ep[SIDE_SERVER].retransmits, 0);
    assert_int_equal(conn_dur(c, &c->max_idle), SB_MS(74990));
    assert_int_equal(conn_rare(c)->stall_episodes, 0);
    assert_int_equal(v->stall.kind, STALL_NONE);
    assert_true(v->clean);
}

static void check_keepalive_one_byte(const struct harness *h)
{
    const struct conn *c = &h->out[0].c;
    assert_int_equal(conn_rare(c)->ep[SIDE_CLIENT].keepalives, 1);
    assert_int_equal(conn_rare(c)->ep[SIDE_CLIENT].keepalive_acks, 1);
    assert_int_equal(c->ep[SIDE_CLIENT].retransmits, 0);
    assert_int_equal(conn_rare(c)->ep[SIDE_CLIENT].rtx_spurious, 0);
    assert_int_equal(h->out[0].v.stall.kind, STALL_NONE);
}

static void check_fast_and_spurious(const struct harness *h)
{
    const struct conn *c = &h->out[0].c;
    assert_int_equal(c->ep[SIDE_SERVER].dupacks, 0); /* reset by the progress */
    assert_int_equal(c->ep[SIDE_CLIENT].retransmits, 2);
    assert_int_equal(conn_rare(c)->ep[SIDE_CLIENT].rtx_fast, 1);
    assert_int_equal(conn_rare(c)->ep[SIDE_CLIENT].rtx_spurious, 1);
    assert_int_equal(conn_bytes(c, SIDE_CLIENT), 6000);
    assert_int_equal(conn_rare(c)->stall_episodes, 0); /* recovered in 20 ms */
    assert_int_equal(h->out[0].v.stall.kind, STALL_NONE);
    assert_true(h->out[0].v.clean);
}

static void check_icmp_on_established(const struct harness *h)
{
    const struct conn *c = &h->out[0].c;
    assert_true(c->flags & CONN_ICMP);
    assert_false(c->flags & CONN_ICMP_SYN);
    assert_int_equal(conn_rare(c)->frame_icmp, 6); /* the first one's evidence */
    /* counted by the side whose segment they quote */
    assert_int_equal(conn_rare(c)->ep[SIDE_CLIENT].icmp_errors, 2);
    assert_int_equal(conn_rare(c)->ep[SIDE_SERVER].icmp_errors, 1);
    assert_int_equal(h_count_events(h, TEV_REFUSED), 0);
}

static void check_half_closed(const struct harness *h)
{
    const struct conn *c = &h->out[0].c;
    assert_true(c->ep[SIDE_CLIENT].flags & EP_FIN_ACKED);
    assert_false(c->ep[SIDE_SERVER].flags & EP_FIN);
    assert_false(c->flags & CONN_DONE);
    assert_int_equal(h_count_events(h, TEV_HALF_CLOSED), 1);
    assert_int_equal(h_count_events(h, TEV_CLOSED), 0);
    assert_reason_has(&h->out[0].v, "server may leak connections in CLOSE_WAIT");
}

static void check_open(const struct harness *h)
{
    const struct conn *c = &h->out[0].c;
    assert_true(h->out[0].v.clean);
    assert_true(c->flags & CONN_ESTABLISHED);
    assert_int_equal(conn_bytes(c, SIDE_CLIENT), 100);
    assert_int_equal(conn_bytes(c, SIDE_SERVER), 200);
    assert_int_equal(h->n_events, 0);
}

/* Mid-stream: roles from ports. expected client/server ports in the flow. */
static void check_roles_guessed(const struct harness *h, enum flow_index fl)
{
    const struct conn *c = &h->out[0].c;
    assert_true(c->flags & CONN_ROLES_GUESSED);
    assert_true(c->flags & CONN_ESTABLISHED);
    assert_int_equal(conn_port(c, SIDE_CLIENT), flows[fl].cport);
    assert_int_equal(conn_port(c, SIDE_SERVER), flows[fl].sport);
    assert_memory_equal((struct ip_addr[]){conn_addr(c, SIDE_CLIENT)}, &flows[fl].cli,
                        sizeof(struct ip_addr));
    assert_memory_equal((struct ip_addr[]){conn_addr(c, SIDE_SERVER)}, &flows[fl].srv,
                        sizeof(struct ip_addr));
}

static void check_midstream_8118(const struct harness *h)
{
    check_roles_guessed(h, F_8118);
}

static void check_midstream_80(const struct harness *h)
{
    check_roles_guessed(h, F_80);
    assert_int_equal(conn_bytes(&h->out[0].c, SIDE_SERVER), 100);
}

static void check_midstream_22(const struct harness *h)
{
    check_roles_guessed(h, F_22);
    assert_int_equal(conn_bytes(&h->out[0].c, SIDE_CLIENT), 100);
}

static void check_midstream_lower(const struct harness *h)
{
    check_roles_guessed(h, F_LOWER);
}

static void check_synack_first(const struct harness *h)
{
    const struct conn *c = &h->out[0].c;
    assert_false(c->flags & CONN_ROLES_GUESSED);
    assert_int_equal(conn_port(c, SIDE_CLIENT), 80);
    assert_int_equal(conn_port(c, SIDE_SERVER), 50000);
    assert_int_equal(conn_frame(c, &c->ep[SIDE_SERVER].frame_syn), 1);
    assert_int_equal(conn_frame(c, &c->ep[SIDE_CLIENT].frame_syn), 0);
}

static void check_wraparound(const struct harness *h)
{
    const struct conn *c = &h->out[0].c;
    assert_int_equal(c->ep[SIDE_CLIENT].retransmits, 0);
    assert_int_equal(c->ep[SIDE_SERVER].retransmits, 0);
    assert_int_equal(conn_rare(c)->ep[SIDE_CLIENT].keepalives, 0);
    assert_int_equal(conn_rare(c)->ep[SIDE_CLIENT].zw_probes, 0);
    assert_int_equal(conn_bytes(c, SIDE_CLIENT), 1000);
    assert_int_equal(conn_bytes(c, SIDE_SERVER), 100);
    assert_int_equal(c->ep[SIDE_CLIENT].snd_nxt, 0xFFFFFF9Cu + 1002u);
    assert_int_equal(c->ep[SIDE_SERVER].snd_nxt, 0xFFFFFFF0u + 102u);
    assert_int_equal(ep_fin_seq(c, &c->ep[SIDE_CLIENT]), 0xFFFFFF9Cu + 1001u);
    assert_int_equal(h->out[0].v.stall.kind, STALL_NONE);
    assert_true(h->out[0].v.clean);
}

static void check_loopback(const struct harness *h)
{
    const struct conn *c = &h->out[0].c;
    assert_int_equal(conn_port(c, SIDE_CLIENT), 6000);
    assert_int_equal(conn_port(c, SIDE_SERVER), 5000);
    assert_int_equal(c->ep[SIDE_CLIENT].pkts, 6);
    assert_int_equal(c->ep[SIDE_SERVER].pkts, 3);
    assert_int_equal(conn_bytes(c, SIDE_SERVER), 200);
}

static void check_ipv6(const struct harness *h)
{
    const struct conn *c = &h->out[0].c;
    assert_int_equal(c->key.ip_version, 6);
    assert_memory_equal((struct ip_addr[]){conn_addr(c, SIDE_CLIENT)}, &flows[F_V6].cli,
                        sizeof(struct ip_addr));
    assert_int_equal(conn_port(c, SIDE_SERVER), 443);
    assert_int_equal(c->ep[SIDE_CLIENT].pkts, 6);
}

static void check_new_syn_after_close(const struct harness *h)
{
    const struct captured *second = &h->out[1];
    assert_int_equal(conn_id(&h->out[0].c), 1);
    assert_int_equal(h->out[0].now_ns, SB_T0_NS + SB_SEC(1));
    assert_int_equal(conn_id(&second->c), 2);
    assert_int_equal(second->why, END_CAPTURE_END);
    assert_int_equal(second->v.verdict, VERDICT_OPEN);
    assert_int_equal(conn_first_frame(&second->c), 10);
    assert_int_equal(second->c.ep[SIDE_CLIENT].isn, 9000000u);
    assert_int_equal(second->c.handshake, HS_COMPLETE);
    assert_int_equal(h->t.cnt.connections, 2);
    assert_int_equal(h->t.cnt.replaced, 1);
}

static void check_refused_twice(const struct harness *h)
{
    const struct captured *second = &h->out[1];
    assert_int_equal(second->v.verdict, VERDICT_REFUSED);
    assert_int_equal(second->v.verdict_frame, 4);
    assert_int_equal(second->why, END_FINISHED);
    assert_int_equal(conn_first_frame(&second->c), 3);
    assert_int_equal(conn_frame(&h->out[0].c, &h->out[0].c.last_frame), 2);
    assert_int_equal(h->t.cnt.connections, 2);
    assert_int_equal(h->t.cnt.replaced, 1);
    assert_int_equal(h_count_events(h, TEV_REFUSED), 2);
}

static void check_new_isn_retry(const struct harness *h)
{
    assert_int_equal(h->out[0].c.ep[SIDE_CLIENT].syns, 1);
    assert_int_equal(h->out[1].v.verdict, VERDICT_UNANSWERED);
    assert_int_equal(conn_first_frame(&h->out[1].c), 2);
    assert_int_equal(h->out[1].why, END_CAPTURE_END);
    assert_int_equal(h->t.cnt.replaced, 1);
}

static void check_syn_on_established(const struct harness *h)
{
    assert_int_equal(h->t.cnt.connections, 1);
    assert_int_equal(h->t.cnt.replaced, 0);
    assert_int_equal(h->out[0].c.ep[SIDE_CLIENT].isn, flows[F_A].cisn);
}

static void check_ts_backwards(const struct harness *h)
{
    const struct conn *c = &h->out[0].c;
    assert_int_equal(h->t.cnt.ts_backwards, 1);
    assert_true(c->flags & CONN_TS_BACKWARDS);
    assert_true(c->last_ns >= c->start_ns);
    assert_int_equal(c->last_ns, SB_T0_NS + SB_MS(110));
}

/* ---- the table ---------------------------------------------------------- */

static struct scenario scenarios[] = {
    {"clean", SCEN_STEPS(CLEAN_STEPS(F_A)), 0, 1, 0, VERDICT_CLOSED, 8, TCP_TIME_WAIT,
     TCP_CLOSED, HS_COMPLETE, END_FINISHED, check_clean},
    {"refused_rst",
     SCEN_STEPS(C(0, SYN, 0, 0, 0), S(MS(1), RA, 0, 1, 0)), 0, 1, 0, VERDICT_REFUSED, 2,
     TCP_CLOSED, TCP_CLOSED, HS_PARTIAL, END_FINISHED, check_refused_rst},
    {"rst_wrong_ack_in_syn_sent_ignored",
     SCEN_STEPS(C(0, SYN, 0, 0, 0), S(MS(1), RA, 0, 5, 0)), 0, 1, 0, VERDICT_UNANSWERED, 2,
     TCP_SYN_SENT, TCP_CLOSED, HS_PARTIAL, END_CAPTURE_END, check_rst_ignored},
    {"rst_without_ack_in_syn_sent_ignored",
     SCEN_STEPS(C(0, SYN, 0, 0, 0), S(MS(1), R, 0, 0, 0)), 0, 1, 0, VERDICT_UNANSWERED, 2,
     TCP_SYN_SENT, TCP_CLOSED, HS_PARTIAL, END_CAPTURE_END, check_rst_ignored},
    {"refused_icmp", SCEN_STEPS(C(0, SYN, 0, 0, 0), ICMP_CF(F_A, MS(2), SYN, 0)), 0, 1, 0,
     VERDICT_REFUSED, 2, TCP_SYN_SENT, TCP_CLOSED, HS_PARTIAL, END_CAPTURE_END,
     check_refused_icmp},
    {"refused_icmp_syn_not_captured", SCEN_STEPS(ICMP_CF(F_A, 0, SYN, 0)), 0, 1, 0,
     VERDICT_REFUSED, 1, TCP_CLOSED, TCP_CLOSED, HS_MISSING, END_CAPTURE_END,
     check_icmp_unseen_syn},
    {"timed_out_three_syns",
     SCEN_STEPS(C(0, SYN, 0, 0, 0), C(MS(1000), SYN, 0, 0, 0), C(MS(3000), SYN, 0, 0, 0)), 0,
     1, 0, VERDICT_TIMED_OUT, 3, TCP_SYN_SENT, TCP_CLOSED, HS_PARTIAL, END_CAPTURE_END,
     check_timed_out},
    {"unanswered_capture_ends_early", SCEN_STEPS(C(0, SYN, 0, 0, 0)), MS(500), 1, 0,
     VERDICT_UNANSWERED, 1, TCP_SYN_SENT, TCP_CLOSED, HS_PARTIAL, END_CAPTURE_END,
     check_unanswered},
    {"timed_out_by_other_traffic",
     SCEN_STEPS(C(0, SYN, 0, 0, 0), CF(F_B, MS(3000), PA, 1, 1, 10)), 0, 2, 0,
     VERDICT_TIMED_OUT, 1, TCP_SYN_SENT, TCP_CLOSED, HS_PARTIAL, END_CAPTURE_END,
     check_timed_out_clock},
    {"half_open",
     SCEN_STEPS(C(0, SYN, 0, 0, 0), S(MS(10), SA, 0, 1, 0), S(MS(1010), SA, 0, 1, 0),
                S(MS(3010), SA, 0, 1, 0)),
     0, 1, 0, VERDICT_HALF_OPEN, 4, TCP_SYN_SENT, TCP_SYN_RECEIVED, HS_PARTIAL,
     END_CAPTURE_END, check_half_open},
    {"reset_by_server",
     SCEN_STEPS(HANDSHAKE(F_A), C(MS(30), PA, 1, 1, 100), S(MS(40), A, 1, 101, 0),
                S(MS(5040), RA, 1, 101, 0)),
     0, 1, 0, VERDICT_RESET, 6, TCP_CLOSED, TCP_CLOSED, HS_COMPLETE, END_FINISHED,
     check_reset_by_server},
    {"reset_by_client",
     SCEN_STEPS(HANDSHAKE(F_A), C(MS(30), PA, 1, 1, 100), S(MS(40), A, 1, 101, 0),
                C(MS(2040), RA, 101, 1, 0)),
     0, 1, 0, VERDICT_RESET, 6, TCP_CLOSED, TCP_CLOSED, HS_COMPLETE, END_FINISHED,
     check_reset_by_client},
    {"reset_after_one_fin",
     SCEN_STEPS(HANDSHAKE(F_A), C(MS(30), FA, 1, 1, 0), S(MS(40), A, 1, 2, 0),
                S(MS(1040), RA, 1, 2, 0)),
     0, 1, 0, VERDICT_RESET, 6, TCP_CLOSED, TCP_CLOSED, HS_COMPLETE, END_FINISHED,
     check_reset_closing},
    {"rst_after_both_fins_is_closed",
     SCEN_STEPS(HANDSHAKE(F_A), C(MS(30), PA, 1, 1, 100), S(MS(40), PA, 1, 101, 200),
                C(MS(50), A, 101, 201, 0), C(MS(60), FA, 101, 201, 0),
                S(MS(70), FA, 201, 102, 0), C(MS(90), R, 102, 0, 0)),
     0, 1, 0, VERDICT_CLOSED, 8, TCP_TIME_WAIT, TCP_CLOSED, HS_COMPLETE, END_FINISHED,
     check_rst_after_fins},
    {"rst_out_of_window_ignored",
     SCEN_STEPS(HANDSHAKE(F_A), C(MS(30), PA, 1, 1, 100), S(MS(40), A, 1, 101, 0),
                S(MS(1040), RA, 1000001, 101, 0)),
     0, 1, 0, VERDICT_OPEN, 6, TCP_ESTABLISHED, TCP_ESTABLISHED, HS_COMPLETE,
     END_CAPTURE_END, check_rst_out_of_window},
    {"fin_crossing_rst_is_closed",
     SCEN_STEPS(HANDSHAKE(F_A), C(MS(1000), FA, 1, 1, 0), C(MS(1010), R, 2, 0, 0),
                S(MS(1015), FA, 1, 2, 0)),
     0, 1, 0, VERDICT_CLOSED, 6, TCP_CLOSED, TCP_CLOSED, HS_COMPLETE, END_FINISHED,
     check_fin_crossed_rst},
    {"fin_long_after_rst_is_reset",
     SCEN_STEPS(HANDSHAKE(F_A), C(MS(1000), FA, 1, 1, 0), C(MS(1010), R, 2, 0, 0),
                S(MS(1200), FA, 1, 2, 0)),
     0, 1, 0, VERDICT_RESET, 5, TCP_CLOSED, TCP_CLOSED, HS_COMPLETE, END_FINISHED,
     check_fin_after_rst},
    {"zero_window_stalled", SCEN_STEPS(ZERO_WINDOW_STEPS), 0, 1, 0, VERDICT_STALLED,
     /* docs/verdicts.md: "the frame that began the episode": the zero window */
     5, TCP_ESTABLISHED, TCP_ESTABLISHED, HS_COMPLETE, END_CAPTURE_END, check_zero_window},
    {"zero_window_recovered",
     SCEN_STEPS(ZERO_WINDOW_STEPS, S(MS(3200), A, 1, 1001, 0), C(MS(3210), PA, 1001, 1, 1000),
                S(MS(3220), A, 1, 2001, 0), C(MS(3300), FA, 2001, 1, 0),
                S(MS(3310), FA, 1, 2002, 0), C(MS(3320), A, 2002, 2, 0)),
     0, 1, 0, VERDICT_CLOSED, 18, TCP_TIME_WAIT, TCP_CLOSED, HS_COMPLETE, END_FINISHED,
     check_zero_window_recovered},
    {"unacked_data_stalled",
     SCEN_STEPS(HANDSHAKE(F_A), C(MS(30), PA, 1, 1, 1000), C(MS(230), PA, 1, 1, 1000),
                C(MS(630), PA, 1, 1, 1000), C(MS(1430), PA, 1, 1, 1000)),
     MS(3030), 1, 0, VERDICT_STALLED,
     /* docs/verdicts.md: the frame that began the episode: the first send */
     4, TCP_ESTABLISHED, TCP_ESTABLISHED, HS_COMPLETE, END_CAPTURE_END, check_unacked},
    {"window_full_stalled",
     SCEN_STEPS(C(0, SYN, 0, 0, 0), SW_(MS(10), SA, 0, 1, 0, 1000), C(MS(20), A, 1, 1, 0),
                C(MS(30), PA, 1, 1, 1000)),
     MS(2030), 1, 0, VERDICT_STALLED, 4, TCP_ESTABLISHED, TCP_ESTABLISHED, HS_COMPLETE,
     END_CAPTURE_END, check_window_full},
    {"in_flight_without_retransmission_is_open",
     SCEN_STEPS(HANDSHAKE(F_A), C(MS(30), PA, 1, 1, 1000)), MS(2030), 1, 0, VERDICT_OPEN, 4,
     TCP_ESTABLISHED, TCP_ESTABLISHED, HS_COMPLETE, END_CAPTURE_END, check_not_stalled},
    {"keepalive",
     SCEN_STEPS(HANDSHAKE(F_A), C(MS(30), PA, 1, 1, 100), S(MS(40), A, 1, 101, 0),
                C(MS(60040), A, 100, 1, 0), S(MS(60050), A, 1, 101, 0),
                C(MS(135040), A, 100, 1, 0), S(MS(135050), A, 1, 101, 0)),
     0, 1, 0, VERDICT_OPEN, 9, TCP_ESTABLISHED, TCP_ESTABLISHED, HS_COMPLETE, END_CAPTURE_END,
     check_keepalive},
    {"keepalive_one_byte",
     SCEN_STEPS(HANDSHAKE(F_A), C(MS(30), PA, 1, 1, 100), S(MS(40), A, 1, 101, 0),
                C(MS(45040), A, 100, 1, 1), S(MS(45041), A, 1, 101, 0)),
     0, 1, 0, VERDICT_OPEN, 7, TCP_ESTABLISHED, TCP_ESTABLISHED, HS_COMPLETE, END_CAPTURE_END,
     check_keepalive_one_byte},
    {"fast_and_spurious_retransmissions",
     SCEN_STEPS(HANDSHAKE(F_A), C(MS(30), PA, 1, 1, 1000), C(MS(31), PA, 1001, 1, 1000),
                C(MS(32), PA, 2001, 1, 1000), C(MS(33), PA, 3001, 1, 1000),
                S(MS(40), A, 1, 1, 0), S(MS(41), A, 1, 1, 0), S(MS(42), A, 1, 1, 0),
                C(MS(45), PA, 1, 1, 1000), S(MS(50), A, 1, 4001, 0),
                C(MS(60), PA, 1, 1, 1000)),
     0, 1, 0, VERDICT_OPEN, 13, TCP_ESTABLISHED, TCP_ESTABLISHED, HS_COMPLETE, END_CAPTURE_END,
     check_fast_and_spurious},
    {"icmp_on_established_changes_nothing",
     SCEN_STEPS(HANDSHAKE(F_A), C(MS(30), PA, 1, 1, 100), S(MS(40), A, 1, 101, 0),
                ICMP_CF(F_A, MS(50), PA, 101), ICMP_CF(F_A, MS(51), PA, 101),
                STEP_(F_A, SB_S2C, MS(52), A, 1, 101, 0, CW, true)),
     0, 1, 0, VERDICT_OPEN, 8, TCP_ESTABLISHED, TCP_ESTABLISHED, HS_COMPLETE, END_CAPTURE_END,
     check_icmp_on_established},
    {"half_closed",
     SCEN_STEPS(HANDSHAKE(F_A), C(MS(30), FA, 1, 1, 0), S(MS(40), A, 1, 2, 0)), MS(5000), 1, 0,
     VERDICT_HALF_CLOSED, 4, TCP_FIN_WAIT_2, TCP_CLOSE_WAIT, HS_COMPLETE, END_CAPTURE_END,
     check_half_closed},
    {"open",
     SCEN_STEPS(HANDSHAKE(F_A), C(MS(30), PA, 1, 1, 100), S(MS(40), PA, 1, 101, 200),
                C(MS(50), A, 101, 201, 0)),
     0, 1, 0, VERDICT_OPEN, 6, TCP_ESTABLISHED, TCP_ESTABLISHED, HS_COMPLETE, END_CAPTURE_END,
     check_open},
    {"midstream_51476_to_8118_client_first",
     SCEN_STEPS(CF(F_8118, 0, PA, 1, 1, 100), SF(F_8118, MS(10), A, 1, 101, 0)), 0, 1, 0,
     VERDICT_OPEN, 2, TCP_ESTABLISHED, TCP_ESTABLISHED, HS_MISSING, END_CAPTURE_END,
     check_midstream_8118},
    {"midstream_51476_to_8118_server_first",
     SCEN_STEPS(SF(F_8118, 0, PA, 1, 1, 100), CF(F_8118, MS(10), A, 1, 101, 0)), 0, 1, 0,
     VERDICT_OPEN, 2, TCP_ESTABLISHED, TCP_ESTABLISHED, HS_MISSING, END_CAPTURE_END,
     check_midstream_8118},
    {"midstream_80_vs_40000",
     SCEN_STEPS(SF(F_80, 0, PA, 1, 1, 100), CF(F_80, MS(10), A, 1, 101, 0)), 0, 1, 0,
     VERDICT_OPEN, 2, TCP_ESTABLISHED, TCP_ESTABLISHED, HS_MISSING, END_CAPTURE_END,
     check_midstream_80},
    {"midstream_22_vs_1024",
     SCEN_STEPS(CF(F_22, 0, PA, 1, 1, 100), SF(F_22, MS(10), A, 1, 101, 0)), 0, 1, 0,
     VERDICT_OPEN, 2, TCP_ESTABLISHED, TCP_ESTABLISHED, HS_MISSING, END_CAPTURE_END,
     check_midstream_22},
    {"midstream_lower_port_is_server",
     SCEN_STEPS(CF(F_LOWER, 0, PA, 1, 1, 100), SF(F_LOWER, MS(10), A, 1, 101, 0)), 0, 1, 0,
     VERDICT_OPEN, 2, TCP_ESTABLISHED, TCP_ESTABLISHED, HS_MISSING, END_CAPTURE_END,
     check_midstream_lower},
    {"synack_first_sender_is_server",
     SCEN_STEPS(SF(F_SA, 0, SA, 0, 1, 0), CF(F_SA, MS(10), A, 1, 1, 0),
                CF(F_SA, MS(20), PA, 1, 1, 100)),
     0, 1, 0, VERDICT_OPEN, 3, TCP_ESTABLISHED, TCP_ESTABLISHED, HS_PARTIAL, END_CAPTURE_END,
     check_synack_first},
    {"sequence_wraparound",
     SCEN_STEPS(HANDSHAKE(F_WRAP), CF(F_WRAP, MS(30), PA, 1, 1, 500),
                CF(F_WRAP, MS(31), PA, 501, 1, 500), SF(F_WRAP, MS(40), PA, 1, 1001, 100),
                CF(F_WRAP, MS(50), A, 1001, 101, 0), CF(F_WRAP, MS(60), FA, 1001, 101, 0),
                SF(F_WRAP, MS(70), FA, 101, 1002, 0), CF(F_WRAP, MS(80), A, 1002, 102, 0)),
     0, 1, 0, VERDICT_CLOSED, 9, TCP_TIME_WAIT, TCP_CLOSED, HS_COMPLETE, END_FINISHED,
     check_wraparound},
    {"loopback_same_address", SCEN_STEPS(CLEAN_STEPS(F_LOOP)), 0, 1, 0, VERDICT_CLOSED, 8,
     TCP_TIME_WAIT, TCP_CLOSED, HS_COMPLETE, END_FINISHED, check_loopback},
    {"ipv6_clean", SCEN_STEPS(CLEAN_STEPS(F_V6)), 0, 1, 0, VERDICT_CLOSED, 8, TCP_TIME_WAIT,
     TCP_CLOSED, HS_COMPLETE, END_FINISHED, check_ipv6},
    {"new_syn_after_close_replaces",
     SCEN_STEPS(CLEAN_STEPS(F_A), CF(F_A2, MS(1000), SYN, 0, 0, 0),
                SF(F_A2, MS(1010), SA, 0, 1, 0), CF(F_A2, MS(1020), A, 1, 1, 0)),
     0, 2, 0, VERDICT_CLOSED, 8, TCP_TIME_WAIT, TCP_CLOSED, HS_COMPLETE, END_REPLACED,
     check_new_syn_after_close},
    {"new_syn_after_refused",
     SCEN_STEPS(C(0, SYN, 0, 0, 0), S(MS(1), RA, 0, 1, 0), CF(F_A2, MS(1000), SYN, 0, 0, 0),
                SF(F_A2, MS(1001), RA, 0, 1, 0)),
     0, 2, 0, VERDICT_REFUSED, 2, TCP_CLOSED, TCP_CLOSED, HS_PARTIAL, END_REPLACED,
     check_refused_twice},
    {"new_isn_on_unanswered_attempt",
     SCEN_STEPS(C(0, SYN, 0, 0, 0), CF(F_A2, MS(1000), SYN, 0, 0, 0)), 0, 2, 0,
     VERDICT_UNANSWERED, 1, TCP_SYN_SENT, TCP_CLOSED, HS_PARTIAL, END_REPLACED,
     check_new_isn_retry},
    {"syn_on_established_is_not_new",
     SCEN_STEPS(HANDSHAKE(F_A), C(MS(30), PA, 1, 1, 100), S(MS(40), A, 1, 101, 0),
                CF(F_A2, MS(50), SYN, 0, 0, 0)),
     0, 1, 0, VERDICT_OPEN, 6, TCP_ESTABLISHED, TCP_ESTABLISHED, HS_COMPLETE,
     END_CAPTURE_END, check_syn_on_established},
    {"timestamps_going_backwards",
     SCEN_STEPS(C(MS(100), SYN, 0, 0, 0), S(MS(50), SA, 0, 1, 0), C(MS(110), A, 1, 1, 0)), 0,
     1, 0, VERDICT_OPEN, 3, TCP_ESTABLISHED, TCP_ESTABLISHED, HS_COMPLETE, END_CAPTURE_END,
     check_ts_backwards},
};

#define N_SCENARIOS (sizeof scenarios / sizeof scenarios[0])

static void run_scenario(void **state)
{
    const struct scenario *sc = *state;
    struct harness *h = h_new(NULL);
    h_run(h, sc->steps, sc->n_steps);
    if (sc->end_us)
        tracker_advance(&h->t, SB_T0_NS + SB_US(sc->end_us));
    tracker_finish(&h->t);

    assert_int_equal(h->n_out, sc->n_out);
    const struct captured *k = &h->out[sc->idx];
    if (k->v.verdict != sc->verdict)
        fail_msg("verdict %s, expected %s (reason: %s)", verdict_name(k->v.verdict),
                 verdict_name(sc->verdict), k->v.reason);
    assert_string_equal(tcp_state_name((enum tcp_state)k->c.ep[SIDE_CLIENT].state),
                        tcp_state_name(sc->client_state));
    assert_string_equal(tcp_state_name((enum tcp_state)k->c.ep[SIDE_SERVER].state),
                        tcp_state_name(sc->server_state));
    assert_string_equal(handshake_name((enum handshake_seen)k->c.handshake),
                        handshake_name(sc->handshake));
    assert_string_equal(conn_end_name(k->why), conn_end_name(sc->why));
    assert_true(k->v.reason[0] != '\0');
    if (sc->check)
        sc->check(h);
    assert_int_equal(k->v.verdict_frame, sc->verdict_frame);
    assert_int_equal(h->t.table.count, 0);
    /* A scenario of ordinary TCP never needs an event the state machine
     * has no rule for. */
    assert_int_equal(h->t.cnt.unhandled_state, 0);
    h_free(h);
}

/* ---------------------------------------------------------------------------
 * Tests with their own configuration or timing
 */

/* Feeds one SYN on flow fl at t_us. */
static void syn_at(struct harness *h, enum flow_index fl, int64_t t_us)
{
    struct sb_step st = CF(fl, t_us, SYN, 0, 0, 0);
    h_step(h, &st);
}

static void test_eviction_least_recently_active(void **state)
{
    (void)state;
    struct tracker_config cfg;
    tracker_config_default(&cfg);
    cfg.max_connections = 2;
    struct harness *h = h_new(&cfg);
    syn_at(h, F_A, 0);
    syn_at(h, F_B, MS(1));
    syn_at(h, F_A, MS(2)); /* retransmission: A is now the most recent */
    assert_int_equal(h->n_out, 0);
    syn_at(h, F_C, MS(3)); /* the table is full: B goes */
    assert_int_equal(h->n_out, 1);
    assert_int_equal(conn_port(&h->out[0].c, SIDE_CLIENT), 51001);
    assert_int_equal(h->out[0].why, END_EVICTED);
    assert_true(h->out[0].c.flags & CONN_EVICTED);
    assert_int_equal(h->out[0].now_ns, SB_T0_NS + SB_MS(3));
    assert_int_equal(h->out[0].v.verdict, VERDICT_UNANSWERED);
    assert_int_equal(h->t.cnt.evicted, 1);
    assert_int_equal(h->t.cnt.connections, 3);
    assert_int_equal(h->t.table.count, 2);
    assert_int_equal(h->t.table.peak, 2);
    tracker_finish(&h->t);
    assert_int_equal(h->n_out, 3);
    /* the rest in start order, not evicted */
    assert_int_equal(conn_port(&h->out[1].c, SIDE_CLIENT), 51000);
    assert_int_equal(conn_port(&h->out[2].c, SIDE_CLIENT), 51002);
    assert_int_equal(h->out[1].why, END_CAPTURE_END);
    assert_false(h->out[1].c.flags & CONN_EVICTED);
    assert_int_equal(h->out[1].c.ep[SIDE_CLIENT].syns, 2);
    assert_int_equal(h->t.cnt.evicted, 1);
    h_free(h);
}

/* An evicted established connection whose tuple comes back: the record made
 * for the rest of it says which connection it continues and keeps that
 * one's roles -- here a client on port 80 talking to port 50000, which the
 * port heuristic would turn round. Once only; a SYN on the tuple opens a new
 * connection (the port reused), and uses the memory up: what follows that
 * one is not the evicted one's. Connections evicted in their handshake are
 * not remembered (tracker.c, "Evicted tuples"). */
static void test_evicted_tuple_resumes(void **state)
{
    (void)state;
    struct tracker_config cfg;
    tracker_config_default(&cfg);
    cfg.max_connections = 1;
    struct harness *h = h_new(&cfg);
    const struct sb_step steps[] = {
        HANDSHAKE(F_SA),
        CF(F_A, MS(30), SYN, 0, 0, 0),             /* evicts the F_SA connection */
        SF(F_SA, MS(40), PA, 1, 1, 100),           /* its server answers: evicts A */
        CF(F_SA, MS(50), A, 1, 101, 0),            /* (the same record) */
    };
    h_run(h, steps, sizeof steps / sizeof steps[0]);
    assert_int_equal(h->n_out, 2);
    const struct conn *sa = &h->out[0].c, *a = &h->out[1].c;
    assert_true(sa->flags & CONN_EVICTED);
    assert_int_equal(conn_port(sa, SIDE_CLIENT), 80);
    assert_int_equal(conn_rare(sa)->resumes, 0);
    assert_true(a->flags & CONN_EVICTED);
    assert_int_equal(conn_port(a, SIDE_CLIENT), 51000);
    assert_int_equal(h->t.cnt.resumed, 1);
    tracker_finish(&h->t);
    assert_int_equal(h->n_out, 3);
    const struct conn *cont = &h->out[2].c;
    assert_int_equal(conn_rare(cont)->resumes, conn_id(sa));
    assert_false(cont->flags & CONN_ROLES_GUESSED);
    assert_int_equal(conn_port(cont, SIDE_CLIENT), 80);
    assert_int_equal(conn_port(cont, SIDE_SERVER), 50000);
    assert_int_equal(cont->ep[SIDE_SERVER].pkts, 1);
    assert_int_equal(cont->ep[SIDE_CLIENT].pkts, 1);
    assert_int_equal(cont->handshake, HS_MISSING);
    h_free(h);

    /* A SYN on an evicted established connection's tuple: a new one, which
     * uses the memory up (its close, and a stray ACK after its lingering, are
     * its own, not A's). A half-open one's SYN again: not remembered. */
    cfg.max_connections = 2;
    h = h_new(&cfg);
    const struct sb_step again[] = {
        HANDSHAKE(F_A),
        CF(F_B, MS(30), SYN, 0, 0, 0),
        CF(F_C, MS(31), SYN, 0, 0, 0),   /* evicts A (established) */
        CF(F_A2, MS(40), SYN, 0, 0, 0),  /* evicts B (half-open); A's tuple, a new ISN */
        SF(F_A2, MS(50), SA, 0, 1, 0),   CF(F_A2, MS(60), A, 1, 1, 0),
        CF(F_A2, MS(70), FA, 1, 1, 0),   SF(F_A2, MS(80), FA, 1, 2, 0),
        CF(F_A2, MS(90), A, 2, 2, 0),    /* A2 closed: lingers, then goes */
        CF(F_B, MS(1040), SYN, 0, 0, 0), /* B's retransmitted SYN: evicts C */
        CF(F_A2, MS(20000), A, 2, 2, 0), /* a stray ACK long after */
    };
    h_run(h, again, sizeof again / sizeof again[0]);
    tracker_finish(&h->t);
    assert_int_equal(h->t.cnt.evicted, 3);
    assert_int_equal(h->t.cnt.resumed, 0);
    for (size_t i = 0; i < h->n_out; i++)
        assert_int_equal(conn_rare(&h->out[i].c)->resumes, 0);
    h_free(h);
    cfg.max_connections = 1;

    /* Roles the ports guessed (picked up mid-stream) stay guessed */
    h = h_new(&cfg);
    const struct sb_step guessed[] = {
        CF(F_LOWER, 0, PA, 1, 1, 100),      /* 6000 -> 5000: taken as 5000's client */
        CF(F_A, MS(10), SYN, 0, 0, 0),      /* evicts it */
        SF(F_LOWER, MS(20), PA, 1, 101, 50), /* it comes back: evicts A */
    };
    h_run(h, guessed, sizeof guessed / sizeof guessed[0]);
    tracker_finish(&h->t);
    assert_int_equal(h->n_out, 3);
    assert_true(h->out[0].c.flags & CONN_ROLES_GUESSED);
    assert_int_equal(conn_rare(&h->out[2].c)->resumes, conn_id(&h->out[0].c));
    assert_true(h->out[2].c.flags & CONN_ROLES_GUESSED);
    assert_int_equal(conn_port(&h->out[2].c, SIDE_CLIENT), conn_port(&h->out[0].c, SIDE_CLIENT));
    h_free(h);

    /* IPv6: the tuple read from the connection's address block */
    h = h_new(&cfg);
    const struct sb_step v6[] = {
        HANDSHAKE(F_V6),
        CF(F_A, MS(30), SYN, 0, 0, 0),     /* evicts the IPv6 connection */
        SF(F_V6, MS(40), PA, 1, 1, 100),   /* it comes back */
    };
    h_run(h, v6, sizeof v6 / sizeof v6[0]);
    tracker_finish(&h->t);
    assert_int_equal(h->n_out, 3);
    assert_int_equal(h->out[2].c.key.ip_version, 6);
    assert_int_equal(conn_rare(&h->out[2].c)->resumes, conn_id(&h->out[0].c));
    assert_int_equal(conn_port(&h->out[2].c, SIDE_CLIENT), 40002);
    h_free(h);
}

static void test_eviction_takes_lingering_first(void **state)
{
    (void)state;
    struct tracker_config cfg;
    tracker_config_default(&cfg);
    cfg.max_connections = 2;
    struct harness *h = h_new(&cfg);
    const struct sb_step steps[] = {
        C(0, SYN, 0, 0, 0), S(MS(1), RA, 0, 1, 0), /* A refused: lingering */
        CF(F_B, MS(2), SYN, 0, 0, 0), CF(F_C, MS(3), SYN, 0, 0, 0),
    };
    h_run(h, steps, sizeof steps / sizeof steps[0]);
    assert_int_equal(h->n_out, 1);
    assert_int_equal(conn_port(&h->out[0].c, SIDE_CLIENT), 51000);
    assert_int_equal(h->out[0].why, END_FINISHED);
    assert_false(h->out[0].c.flags & CONN_EVICTED);
    assert_int_equal(h->out[0].v.verdict, VERDICT_REFUSED);
    assert_int_equal(h->t.cnt.evicted, 0);
    tracker_finish(&h->t);
    assert_int_equal(h->n_out, 3);
    h_free(h);
}

/* A SYN flood fills the handshake list, capped apart: the half-open
 * connections evict each other, never an established one -- even when that
 * is the least recently active of all. A completed handshake leaves the list. */
static void test_handshake_cap_spares_established(void **state)
{
    (void)state;
    struct tracker_config cfg;
    tracker_config_default(&cfg);
    cfg.max_connections = 10;
    cfg.max_handshakes = 2;
    struct harness *h = h_new(&cfg);
    const struct sb_step steps[] = {
        HANDSHAKE(F_A), CF(F_B, MS(30), SYN, 0, 0, 0), CF(F_C, MS(40), SYN, 0, 0, 0),
    };
    h_run(h, steps, sizeof steps / sizeof steps[0]);
    assert_int_equal(h->n_out, 0);
    assert_int_equal(h->t.table.active.count, 1);
    assert_int_equal(h->t.table.handshake.count, 2);
    syn_at(h, F_8118, MS(50)); /* the handshakes are at their cap: B goes, not A */
    assert_int_equal(h->n_out, 1);
    assert_int_equal(conn_port(&h->out[0].c, SIDE_CLIENT), 51001);
    assert_int_equal(h->out[0].why, END_EVICTED);
    assert_true(h->out[0].c.flags & CONN_EVICTED);
    assert_int_equal(h->out[0].v.verdict, VERDICT_UNANSWERED);
    assert_int_equal(h->out[0].now_ns, SB_T0_NS + SB_MS(50));
    assert_true(h->out[0].c.flags & CONN_IN_HANDSHAKE); /* (which cap: the reporters say) */
    assert_int_equal(h->t.cnt.evicted_handshakes, 1);
    assert_int_equal(h->t.table.active.count, 1);
    assert_int_equal(h->t.table.handshake.count, 2);
    const struct sb_step finish_c[] = {SF(F_C, MS(60), SA, 0, 1, 0), CF(F_C, MS(70), A, 1, 1, 0)};
    h_run(h, finish_c, 2); /* C's handshake completes: it moves to the active list */
    assert_int_equal(h->t.table.active.count, 2);
    assert_int_equal(h->t.table.handshake.count, 1);
    assert_int_equal(h->t.cnt.evicted, 1);
    tracker_finish(&h->t);
    assert_int_equal(h->n_out, 4);
    assert_int_equal(conn_port(&h->out[1].c, SIDE_CLIENT), 51000); /* A, C, 8118 by start */
    assert_int_equal(h->out[1].why, END_CAPTURE_END);
    assert_false(h->out[1].c.flags & CONN_EVICTED);
    assert_int_equal(h->out[1].v.verdict, VERDICT_OPEN);
    assert_int_equal(conn_port(&h->out[2].c, SIDE_CLIENT), 51002);
    assert_int_equal(h->out[2].c.handshake, HS_COMPLETE);
    assert_int_equal(conn_port(&h->out[3].c, SIDE_CLIENT), 51476);
    h_free(h);
}

/* At the table's cap the least recently active connection goes, whichever
 * list holds it: the two heads are compared by their last frames. */
static void test_eviction_lru_across_lists(void **state)
{
    (void)state;
    struct tracker_config cfg;
    tracker_config_default(&cfg);
    cfg.max_connections = 2; /* (max_handshakes is then 2 as well) */
    for (int a_busy = 0; a_busy < 2; a_busy++) {
        struct harness *h = h_new(&cfg);
        const struct sb_step steps[] = {HANDSHAKE(F_A), CF(F_B, MS(30), SYN, 0, 0, 0)};
        h_run(h, steps, sizeof steps / sizeof steps[0]);
        if (a_busy) { /* A sends after B's SYN: B is now the least recently active */
            const struct sb_step data = CF(F_A, MS(40), PA, 1, 1, 100);
            h_step(h, &data);
        }
        assert_int_equal(h->t.table.active.count, 1);
        assert_int_equal(h->t.table.handshake.count, 1);
        syn_at(h, F_C, MS(50));
        assert_int_equal(h->n_out, 1);
        assert_int_equal(h->out[0].why, END_EVICTED);
        assert_int_equal(conn_port(&h->out[0].c, SIDE_CLIENT), a_busy ? 51001 : 51000);
        assert_false(h->out[0].c.flags & CONN_IN_HANDSHAKE); /* the table's cap, not that one */
        assert_int_equal(h->t.cnt.evicted, 1);
        assert_int_equal(h->t.cnt.evicted_handshakes, 0);
        assert_int_equal(h->t.table.active.count, a_busy ? 1 : 0);
        assert_int_equal(h->t.table.handshake.count, a_busy ? 1 : 2);
        tracker_finish(&h->t);
        assert_int_equal(h->n_out, 3);
        h_free(h);
    }
}

static void test_linger(void **state)
{
    (void)state;
    struct harness *h = h_new(NULL); /* linger 4 s */
    const struct sb_step steps[] = {CLEAN_STEPS(F_A)}; /* last frame at 80 ms */
    h_run(h, steps, sizeof steps / sizeof steps[0]);
    assert_int_equal(h->n_out, 0);
    assert_int_equal(h->t.table.linger.count, 1);
    assert_int_equal(h->t.table.active.count, 0);
    /* another connection's traffic moves the clock */
    struct sb_step other = CF(F_B, MS(4079), PA, 1, 1, 10);
    h_step(h, &other);
    assert_int_equal(h->n_out, 0);
    other.t_us = MS(4080);
    other.seq = 11;
    h_step(h, &other);
    assert_int_equal(h->n_out, 1);
    assert_int_equal(h->out[0].why, END_FINISHED);
    assert_int_equal(h->out[0].now_ns, SB_T0_NS + SB_MS(4080));
    assert_int_equal(h->out[0].v.verdict, VERDICT_CLOSED);
    assert_int_equal(h->t.table.linger.count, 0);
    tracker_finish(&h->t);
    assert_int_equal(h->n_out, 2);
    assert_int_equal(h->out[1].why, END_CAPTURE_END);
    h_free(h);
}

static void test_linger_absorbs_trailing_segments(void **state)
{
    (void)state;
    struct tracker_config cfg;
    tracker_config_default(&cfg);
    cfg.linger_ns = SB_MS(500);
    struct harness *h = h_new(&cfg);
    const struct sb_step steps[] = {CLEAN_STEPS(F_A)};
    h_run(h, steps, sizeof steps / sizeof steps[0]);
    /* a retransmitted server FIN and its ACK, inside the linger time */
    const struct sb_step trailing[] = {S(MS(300), FA, 201, 102, 0), C(MS(301), A, 102, 202, 0)};
    h_run(h, trailing, 2);
    assert_int_equal(h->n_out, 0);
    tracker_advance(&h->t, SB_T0_NS + SB_MS(800));
    assert_int_equal(h->n_out, 0); /* 499 ms after its last frame */
    tracker_advance(&h->t, SB_T0_NS + SB_MS(801));
    assert_int_equal(h->n_out, 1);
    assert_int_equal(h->out[0].why, END_FINISHED);
    assert_int_equal(conn_frame(&h->out[0].c, &h->out[0].c.last_frame), 11);
    assert_int_equal(h->out[0].c.ep[SIDE_SERVER].retransmits, 1);
    assert_int_equal(h->out[0].v.verdict, VERDICT_CLOSED);
    assert_int_equal(h->out[0].v.verdict_frame, 8);
    assert_int_equal(h->t.cnt.connections, 1);
    tracker_finish(&h->t);
    assert_int_equal(h->n_out, 1);
    h_free(h);
}

/* Ids and first frame numbers are 48-bit (conn.h): values past 32 bits
 * come back whole (a first frame of 2^40 + 5, its last frame 2^40 + 7), and
 * a frame past 48 bits opens no connection (an allocation failure,
 * counted) where the frames before it did. */
static void test_u48_fields(void **state)
{
    (void)state;
    struct harness *h = h_new(NULL);
    h->frame_no = (UINT64_C(1) << 40) + 4;
    const struct sb_step hs[] = {HANDSHAKE(F_A)};
    h_run(h, hs, 3);
    h->frame_no = CONN_U48_MAX; /* the next frame is 2^48 */
    const struct sb_step other[] = {HANDSHAKE(F_B)};
    h_run(h, other, 1);
    assert_int_equal(h->t.cnt.connections, 1);
    assert_int_equal(h->t.cnt.alloc_failures, 1);
    tracker_finish(&h->t);
    assert_int_equal(h->n_out, 1);
    const struct conn *c = &h->out[0].c;
    assert_int_equal(conn_id(c), 1);
    assert_int_equal(conn_first_frame(c), (UINT64_C(1) << 40) + 5);
    assert_int_equal(conn_frame(c, &c->last_frame), (UINT64_C(1) << 40) + 7);
    struct conn x = {0};
    conn_set_id(&x, CONN_U48_MAX);
    conn_set_first_frame(&x, (UINT64_C(1) << 47) + 3);
    assert_int_equal(conn_id(&x), CONN_U48_MAX);
    assert_int_equal(conn_first_frame(&x), (UINT64_C(1) << 47) + 3);
    h_free(h);
}

/* The FIN's sequence number is not stored while it is the last of its
 * sender's sequence space (ep_fin_seq()); when that moves on after the FIN
 * (data beyond it; the sender's SYN seen after its FIN) or never matched it
 * (a FIN on a SYN), the tracker keeps it in the rare block, and
 * acknowledging the FIN still means acknowledging that number. */
static void test_fin_seq_kept(void **state)
{
    (void)state;
    struct harness *h = h_new(NULL);
    /* client FIN at seq 1, then 10 bytes beyond it; the server acknowledges
     * the FIN only (ack 2) */
    const struct sb_step after[] = {HANDSHAKE(F_A), C(MS(30), FA, 1, 1, 0),
                                    C(MS(40), PA, 2, 1, 10), S(MS(50), A, 1, 2, 0)};
    h_run(h, after, sizeof after / sizeof after[0]);
    /* a plain close: nothing kept */
    const struct sb_step plain[] = {CLEAN_STEPS(F_B)};
    h_run(h, plain, sizeof plain / sizeof plain[0]);
    /* picked up at the server's FIN (seq 100), then the server's SYN-ACK
     * (its first SYN: snd_nxt goes back to its ISN + 1) */
    const struct sb_step late_syn[] = {SF(F_C, MS(55), FA, 100, 1, 0), SF(F_C, MS(56), SA, 0, 1, 0),
                                       CF(F_C, MS(57), A, 1, 101, 0)};
    h_run(h, late_syn, sizeof late_syn / sizeof late_syn[0]);
    /* a SYN carrying a FIN (seq 0: the FIN is 1), answered by a SYN-ACK
     * acknowledging the SYN only, then the FIN */
    const struct sb_step synfin[] = {CF(F_22, MS(60), SYN | TCP_FIN, 0, 0, 0),
                                     SF(F_22, MS(61), SA, 0, 1, 0)};
    h_run(h, synfin, sizeof synfin / sizeof synfin[0]);
    tracker_finish(&h->t);
    assert_int_equal(h->n_out, 4);
    for (size_t i = 0; i < h->n_out; i++) {
        const struct conn *c = &h->out[i].c;
        const struct endpoint *cl = &c->ep[SIDE_CLIENT];
        if (conn_port(c, SIDE_CLIENT) == 51002) {
            const struct endpoint *sv = &c->ep[SIDE_SERVER];
            assert_true(sv->flags & EP_FIN_KEPT);
            assert_int_equal(ep_fin_seq(c, sv) - sv->isn, 100);
            assert_int_equal(sv->snd_nxt - sv->isn, 1);
            continue;
        }
        assert_true(cl->flags & EP_FIN);
        if (conn_port(c, SIDE_SERVER) == 22) {
            assert_true(cl->flags & EP_FIN_KEPT);
            assert_int_equal(ep_fin_seq(c, cl) - cl->isn, 1);
            assert_false(cl->flags & EP_FIN_ACKED); /* ack 1: the SYN only */
        } else if (cl->snd_nxt - cl->isn == 12) {
            assert_true(cl->flags & EP_FIN_KEPT);
            assert_int_equal(ep_fin_seq(c, cl) - cl->isn, 1);
            assert_true(cl->flags & EP_FIN_ACKED); /* ack 2, below snd_nxt 12 */
        } else {
            assert_false(cl->flags & EP_FIN_KEPT);
            assert_int_equal(ep_fin_seq(c, cl) - cl->isn, 101);
            assert_true(cl->flags & EP_FIN_ACKED);
        }
    }
    h_free(h);
}

/* Compact evidence (conn.h): a connection whose frames and times outgrow the
 * 32-bit offsets becomes wide in its middle and keeps every value exact; a
 * short one next to it stays compact. Microsecond units: 71.6 minutes. */
static void test_compact_widens(void **state)
{
    (void)state;
    struct tracker_config cfg;
    tracker_config_default(&cfg);
    cfg.time_unit = 3;
    struct harness *h = h_new(&cfg);
    const struct sb_step short_conn[] = {CLEAN_STEPS(F_B)}; /* frames 1-9 */
    h_run(h, short_conn, sizeof short_conn / sizeof short_conn[0]);
    const struct sb_step start[] = {HANDSHAKE(F_A), C(MS(30), PA, 1, 1, 100),
                                    S(MS(40), A, 1, 101, 0)}; /* frames 10-14 */
    h_run(h, start, sizeof start / sizeof start[0]);
    assert_int_equal(h->t.table.wide, 0);
    /* 2^32 frames later (the connection's own offsets run out), and two hours
     * of silence (past the 71.6 minutes of microsecond offsets) */
    const int64_t later = 2LL * 3600 * 1000000;
    h->frame_no += UINT64_C(1) << 32;
    const struct sb_step end[] = {C(later, FA, 101, 1, 0), S(later + MS(10), FA, 1, 102, 0),
                                  C(later + MS(20), A, 102, 2, 0)};
    h_run(h, end, sizeof end / sizeof end[0]);
    assert_int_equal(h->t.table.wide, 1);
    assert_int_equal(h->t.table.widen_failed, 0);
    tracker_finish(&h->t);
    assert_int_equal(h->n_out, 2);

    const struct conn *b = &h->out[0].c, *a = &h->out[1].c;
    assert_false(b->flags & CONN_WIDE);
    assert_int_equal(conn_frame(b, &b->ep[SIDE_SERVER].frame_fin), 8);
    assert_int_equal(conn_time(b, &b->ep[SIDE_SERVER].ts_fin), SB_T0_NS + SB_MS(70));

    const uint64_t big = (UINT64_C(1) << 32) + 15; /* frame 15, 2^32 on */
    assert_true(a->flags & CONN_WIDE);
    assert_int_equal(conn_first_frame(a), 10);
    assert_int_equal(conn_frame(a, &a->ep[SIDE_CLIENT].frame_syn), 10);
    assert_int_equal(conn_frame(a, &a->ep[SIDE_SERVER].frame_syn), 11);
    assert_int_equal(conn_frame(a, &a->frame_established), 12);
    assert_int_equal(conn_frame(a, &a->ep[SIDE_CLIENT].frame_fin), big);
    assert_int_equal(conn_frame(a, &a->ep[SIDE_SERVER].frame_fin), big + 1);
    assert_int_equal(conn_frame(a, &a->last_frame), big + 2);
    assert_int_equal(conn_time(a, &a->ep[SIDE_CLIENT].ts_syn), SB_T0_NS);
    assert_int_equal(conn_time(a, &a->established), SB_T0_NS + SB_MS(20));
    assert_int_equal(conn_time(a, &a->ep[SIDE_CLIENT].ts_fin), SB_T0_NS + later * 1000);
    assert_int_equal(conn_time(a, &a->ep[SIDE_SERVER].ts_fin), SB_T0_NS + (later + MS(10)) * 1000);
    assert_int_equal(conn_dur(a, &a->max_idle), (later - MS(40)) * 1000);
    assert_int_equal(conn_dur(a, &a->long_gap), (later - MS(40)) * 1000);
    assert_int_equal(conn_time(a, &a->long_gap_end), SB_T0_NS + later * 1000);
    assert_int_equal(h->out[1].v.verdict, VERDICT_CLOSED);
    assert_int_equal(h->out[1].v.verdict_frame, big + 1);
    assert_int_equal(h->t.table.bytes, 0); /* the wide block counted out too */
    h_free(h);
}

/* A connection of a table, alone on its tuple, with microsecond units. */
static struct conn *edge_conn(struct flow_table *t, uint16_t port)
{
    struct flow_key k;
    memset(&k, 0, sizeof k);
    k.ip_version = 4;
    k.port_lo = port;
    k.port_hi = 80;
    struct conn *c = flow_table_add(t, &k);
    assert_non_null(c);
    c->tunit = 3;
    c->start_ns = SB_T0_NS;
    conn_set_first_frame(c, 100);
    return c;
}

/* Compact values at the edges of their range, finer units, and the switch
 * to wide, by hand on connections of a table. */
static void test_compact_edges(void **state)
{
    (void)state;
    struct flow_table t;
    flow_table_init(&t);

    /* The last values that fit stay compact and read back exactly. */
    struct conn *a = edge_conn(&t, 1);
    const int64_t top = SB_T0_NS + (int64_t)(UINT32_MAX - 1) * 1000;
    conn_set_time(&t, a, &a->established, top);
    conn_set_dur(&t, a, &a->max_idle, (int64_t)UINT32_MAX * 1000);
    conn_set_frame(&t, a, &a->last_frame, 100 + (uint64_t)UINT32_MAX - 1);
    conn_set_time(&t, a, &a->long_gap_end, SB_T0_NS);
    conn_set_frame(&t, a, &a->frame_established, 0);
    assert_false(a->flags & CONN_WIDE);
    assert_int_equal(conn_time(a, &a->established), top);
    assert_int_equal(conn_dur(a, &a->max_idle), (int64_t)UINT32_MAX * 1000);
    assert_int_equal(conn_frame(a, &a->last_frame), 100 + (uint64_t)UINT32_MAX - 1);
    assert_int_equal(conn_time(a, &a->long_gap_end), SB_T0_NS);
    assert_int_equal(conn_frame(a, &a->frame_established), 0);
    /* one unit more: wide, and everything still exact */
    conn_set_time(&t, a, &a->ep[SIDE_CLIENT].ts_fin, top + 1000);
    assert_true(a->flags & CONN_WIDE);
    assert_int_equal(conn_time(a, &a->ep[SIDE_CLIENT].ts_fin), top + 1000);
    assert_int_equal(conn_time(a, &a->established), top);
    assert_int_equal(conn_dur(a, &a->max_idle), (int64_t)UINT32_MAX * 1000);
    assert_int_equal(conn_frame(a, &a->last_frame), 100 + (uint64_t)UINT32_MAX - 1);
    assert_int_equal(conn_time(a, &a->long_gap_end), SB_T0_NS);
    conn_set_time(&t, a, &a->ep[SIDE_CLIENT].ts_fin, 0); /* none, when wide too */
    assert_int_equal(conn_time(a, &a->ep[SIDE_CLIENT].ts_fin), 0);

    /* The first values that do not fit, each on its own connection. */
    struct conn *b = edge_conn(&t, 2);
    conn_set_dur(&t, b, &b->max_idle, ((int64_t)UINT32_MAX + 1) * 1000);
    assert_true(b->flags & CONN_WIDE);
    assert_int_equal(conn_dur(b, &b->max_idle), ((int64_t)UINT32_MAX + 1) * 1000);
    struct conn *c = edge_conn(&t, 3);
    conn_set_frame(&t, c, &c->last_frame, 100 + (uint64_t)UINT32_MAX);
    assert_true(c->flags & CONN_WIDE);
    assert_int_equal(conn_frame(c, &c->last_frame), 100 + (uint64_t)UINT32_MAX);
    struct conn *d = edge_conn(&t, 4);
    conn_set_frame(&t, d, &d->last_frame, 99); /* before its first frame */
    assert_true(d->flags & CONN_WIDE);
    assert_int_equal(conn_frame(d, &d->last_frame), 99);
    struct conn *e = edge_conn(&t, 5);
    conn_set_time(&t, e, &e->established, SB_T0_NS - 1000); /* before its start */
    assert_true(e->flags & CONN_WIDE);
    assert_int_equal(conn_time(e, &e->established), SB_T0_NS - 1000);
    conn_set_dur(&t, e, &e->long_gap, -1000);
    assert_int_equal(conn_dur(e, &e->long_gap), -1000);

    /* Not a whole number of units: finer units, the values so far converted. */
    struct conn *f = edge_conn(&t, 6);
    conn_set_time(&t, f, &f->established, SB_T0_NS + SB_MS(20));
    conn_set_dur(&t, f, &f->max_idle, SB_MS(15));
    conn_set_time(&t, f, &f->long_gap_end, SB_T0_NS + 1500); /* 100 ns units suffice */
    assert_false(f->flags & CONN_WIDE);
    assert_int_equal(f->tunit, 2);
    conn_set_dur(&t, f, &f->long_gap, 7); /* nanoseconds */
    assert_false(f->flags & CONN_WIDE);
    assert_int_equal(f->tunit, 0);
    assert_int_equal(conn_time(f, &f->established), SB_T0_NS + SB_MS(20));
    assert_int_equal(conn_dur(f, &f->max_idle), SB_MS(15));
    assert_int_equal(conn_time(f, &f->long_gap_end), SB_T0_NS + 1500);
    assert_int_equal(conn_dur(f, &f->long_gap), 7);
    /* ... until the range of nanoseconds (4.3 s) is not enough */
    conn_set_time(&t, f, &f->ep[SIDE_SERVER].ts_fin, SB_T0_NS + SB_SEC(5));
    assert_true(f->flags & CONN_WIDE);
    assert_int_equal(conn_time(f, &f->ep[SIDE_SERVER].ts_fin), SB_T0_NS + SB_SEC(5));
    assert_int_equal(conn_time(f, &f->long_gap_end), SB_T0_NS + 1500);
    /* a finer unit that would not hold the values so far: wide instead */
    struct conn *g = edge_conn(&t, 7);
    conn_set_time(&t, g, &g->established, SB_T0_NS + SB_SEC(60));
    conn_set_time(&t, g, &g->long_gap_end, SB_T0_NS + 1);
    assert_true(g->flags & CONN_WIDE);
    assert_int_equal(g->tunit, 3);
    assert_int_equal(conn_time(g, &g->established), SB_T0_NS + SB_SEC(60));
    assert_int_equal(conn_time(g, &g->long_gap_end), SB_T0_NS + 1);
    assert_int_equal(t.wide, 7);
    assert_int_equal(t.refined, 2);

    struct conn *all[] = {a, b, c, d, e, f, g};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        flow_table_remove(&t, all[i]);
        flow_table_free_conn(&t, all[i]);
    }
    assert_int_equal(t.bytes, 0); /* wide and rare blocks counted out */
    flow_table_destroy(&t);

    /* Without a table to allocate from (records built by hand), a value that
     * does not fit saturates. */
    struct conn h;
    memset(&h, 0, sizeof h);
    h.tunit = 3;
    h.start_ns = SB_T0_NS;
    conn_set_time(NULL, &h, &h.established, SB_T0_NS + SB_SEC(5000));
    assert_false(h.flags & CONN_WIDE);
    assert_int_equal(h.established.v, UINT32_MAX);
}

static void test_icmp_unmatched(void **state)
{
    (void)state;
    struct harness *h = h_new(NULL);
    const struct sb_step st = ICMP_CF(F_A, 0, PA, 1);
    h_step(h, &st);
    tracker_finish(&h->t);
    assert_int_equal(h->n_out, 0);
    assert_int_equal(h->t.cnt.icmp_unmatched, 1);
    assert_int_equal(h->t.cnt.connections, 0);
    h_free(h);
}

/* tracker.h: tracker_advance() "fire[s] timers (timed_out events)";
 * docs/output.md lists timed_out among the live events. */
static void test_timed_out_event_on_advance(void **state)
{
    (void)state;
    struct harness *h = h_new(NULL);
    syn_at(h, F_A, 0);
    tracker_advance(&h->t, SB_T0_NS + SB_MS(2999));
    assert_int_equal(h_count_events(h, TEV_TIMED_OUT), 0);
    tracker_advance(&h->t, SB_T0_NS + SB_SEC(3));
    assert_int_equal(h_count_events(h, TEV_TIMED_OUT), 1);
    assert_int_equal(h_first_event(h, TEV_TIMED_OUT)->id, 1);
    tracker_advance(&h->t, SB_T0_NS + SB_SEC(10));
    assert_int_equal(h_count_events(h, TEV_TIMED_OUT), 1); /* once */
    tracker_finish(&h->t);
    h_free(h);
}

/* A timer already due fires at the connection's next frame, whatever that
 * frame is: an out-of-window RST (ignored) or an ICMP error about it as well
 * as an ordinary segment. Those frames move it to the tail of its list too,
 * where the timer walk does not look until min_wait / 4 later; before they
 * fired timers themselves, the half_closed event below came 250 ms late. */
static void test_due_event_fires_on_any_frame(void **state)
{
    (void)state;
    for (int icmp = 0; icmp < 2; icmp++) {
        struct harness *h = h_new(NULL);
        /* the client's FIN at 30 ms, acknowledged; the server's never comes:
         * half_closed is due at 1,030 ms (stall threshold 1 s) */
        const struct sb_step steps[] = {HANDSHAKE(F_A), C(MS(30), FA, 1, 1, 0),
                                        S(MS(40), A, 1, 2, 0)};
        const struct sb_step late[] = {S(MS(1500), RA, 1000001, 2, 0),
                                       ICMP_CF(F_A, MS(1500), A, 2)};
        h_run(h, steps, sizeof steps / sizeof steps[0]);
        h_step(h, &late[icmp]);
        tracker_advance(&h->t, SB_T0_NS + SB_US(MS(1500)));
        assert_int_equal(h_count_events(h, TEV_HALF_CLOSED), 1);
        assert_int_equal(h_first_event(h, TEV_HALF_CLOSED)->now_ns, SB_T0_NS + SB_US(MS(1500)));
        assert_int_equal(h_first_event(h, TEV_HALF_CLOSED)->frame, 6); /* at that frame */
        tracker_finish(&h->t);
        assert_int_equal(h->n_out, 1);
        assert_int_equal(h->out[0].v.verdict, VERDICT_HALF_CLOSED); /* nothing else changed */
        h_free(h);
    }
}

/* docs/output.md lists stall_start among the live events ("a stall reached
 * the threshold"). */
static void test_stall_start_event(void **state)
{
    (void)state;
    struct harness *h = h_new(NULL);
    const struct sb_step steps[] = {
        HANDSHAKE(F_A),
        C(MS(30), PA, 1, 1, 1000),
        C(MS(230), PA, 1, 1, 1000),
        C(MS(630), PA, 1, 1, 1000),
        C(MS(1430), PA, 1, 1, 1000),
    };
    h_run(h, steps, sizeof steps / sizeof steps[0]);
    tracker_advance(&h->t, SB_T0_NS + SB_MS(3030));
    assert_int_equal(h_count_events(h, TEV_STALL_START), 1);
    tracker_finish(&h->t);
    h_free(h);
}

/* The live timers' walk (tracker_advance()) visits a connection silent for
 * longer than every timer (max_wait) once, not on every tick: the walk
 * marks where the run of such connections ends. New connections after the
 * mark, and a marked one that gets a frame again, still get their events. */
struct walk_log {
    size_t emitted;
    size_t events[TEV__COUNT];
};

static void walk_emit(void *ctx, const struct conn *c, enum conn_end why, int64_t now_ns)
{
    (void)c, (void)why, (void)now_ns;
    ((struct walk_log *)ctx)->emitted++;
}

static void walk_event(void *ctx, const struct conn *c, enum tracker_event ev, int64_t now_ns)
{
    (void)c, (void)now_ns;
    ((struct walk_log *)ctx)->events[ev]++;
}

static void walk_seg(struct tracker *t, uint64_t *frame, int64_t ts, uint16_t cport, bool c2s,
                     uint8_t flags, uint32_t seq, uint32_t ack, uint32_t len)
{
    struct ip_addr cli = sb_ip4(10, 1, (uint8_t)(cport >> 8), (uint8_t)cport);
    struct ip_addr srv = sb_ip4(10, 9, 0, 1);
    struct decoded d = c2s ? sb_tcp(&cli, cport, &srv, 80, 4, flags, seq, ack, len, 1000)
                           : sb_tcp(&srv, 80, &cli, cport, 4, flags, seq, ack, len, 1000);
    struct frame f = sb_frame(SB_T0_NS + ts, ++*frame);
    tracker_packet(t, &d, &f);
}

static void test_timer_walk_skips_settled(void **state)
{
    (void)state;
    enum { N = 2000 };
    struct walk_log log = {0};
    struct tracker_config cfg;
    tracker_config_default(&cfg); /* timers: 3 s (SYN), 1 s (stall, FIN) */
    struct tracker *t = calloc(1, sizeof *t);
    assert_non_null(t);
    tracker_init(t, &cfg, walk_emit, walk_event, &log);
    uint64_t frame = 0;
    for (uint16_t i = 0; i < N; i++) { /* N established connections, nothing in flight */
        uint16_t port = (uint16_t)(20000 + i);
        walk_seg(t, &frame, SB_US(i), port, true, TCP_SYN, 1000u + i, 0, 0);
        walk_seg(t, &frame, SB_US(i) + 10, port, false, TCP_SYN | TCP_ACK, 5000u + i, 1001u + i, 0);
        walk_seg(t, &frame, SB_US(i) + 20, port, true, TCP_ACK, 1001u + i, 5001u + i, 0);
    }
    assert_int_equal(t->table.active.count, N);

    tracker_advance(t, SB_T0_NS + SB_SEC(10)); /* all silent for ~10 s: one visit each */
    assert_int_equal(t->timer_visits, N);
    for (int k = 1; k <= 50; k++) /* 5 s of 100 ms ticks: the last one marked, no more */
        tracker_advance(t, SB_T0_NS + SB_SEC(10) + SB_MS(100) * k);
    assert_true(t->timer_visits <= N + 50);

    /* A new attempt S (in the handshake list, walked from its head) and a
     * new established connection E after the mark; then the marked
     * connection L (the last of the N) sends data it has to retransmit,
     * which moves it behind E: the mark must move on to E, so that S still
     * times out and L's stall is announced, both by the walk. */
    walk_seg(t, &frame, SB_SEC(16), 60000, true, TCP_SYN, 7, 0, 0);
    walk_seg(t, &frame, SB_SEC(16) + SB_MS(1), 60001, true, TCP_SYN, 9, 0, 0);
    walk_seg(t, &frame, SB_SEC(16) + SB_MS(2), 60001, false, TCP_SYN | TCP_ACK, 900, 10, 0);
    walk_seg(t, &frame, SB_SEC(16) + SB_MS(3), 60001, true, TCP_ACK, 10, 901, 0);
    assert_int_equal(t->table.handshake.count, 1);
    uint16_t last = (uint16_t)(20000 + N - 1);
    assert_int_equal(conn_port(flow_table_walk_start(&t->table, &t->table.active), SIDE_CLIENT),
                     last);
    uint32_t seq = 1001u + N - 1, ack = 5001u + N - 1;
    walk_seg(t, &frame, SB_SEC(16) + SB_MS(500), last, true, TCP_PSH | TCP_ACK, seq, ack, 1000);
    assert_int_equal(conn_port(flow_table_walk_start(&t->table, &t->table.active), SIDE_CLIENT),
                     60001); /* the mark moved on to E */
    walk_seg(t, &frame, SB_SEC(16) + SB_MS(700), last, true, TCP_PSH | TCP_ACK, seq, ack, 1000);
    assert_int_equal(log.events[TEV_STALL_START], 0);
    uint64_t before = t->timer_visits;
    for (int k = 1; k <= 35; k++)
        tracker_advance(t, SB_T0_NS + SB_SEC(16) + SB_MS(100) * k);
    assert_int_equal(log.events[TEV_TIMED_OUT], 1);
    assert_int_equal(log.events[TEV_STALL_START], 1);
    assert_true(t->timer_visits - before <= 3 * 35); /* S, E and L */

    /* Everything is settled again; the mark is on the last connection, L.
     * L closes (both FINs, acknowledged): it leaves the active list as its
     * tail, and the mark must step back, not return to the head. */
    for (int k = 1; k <= 60; k++)
        tracker_advance(t, SB_T0_NS + SB_SEC(20) + SB_MS(100) * k);
    int64_t tc = SB_SEC(27);
    walk_seg(t, &frame, tc, last, false, TCP_ACK, ack, seq + 1000, 0);
    walk_seg(t, &frame, tc + 10, last, true, TCP_FIN | TCP_ACK, seq + 1000, ack, 0);
    walk_seg(t, &frame, tc + 20, last, false, TCP_FIN | TCP_ACK, ack, seq + 1001, 0);
    walk_seg(t, &frame, tc + 30, last, true, TCP_ACK, seq + 1001, ack + 1, 0);
    assert_int_equal(t->table.active.count, N); /* L went; E came */
    assert_int_equal(t->table.handshake.count, 1); /* S, timed out, in its own list */
    before = t->timer_visits;
    for (int k = 1; k <= 20; k++)
        tracker_advance(t, SB_T0_NS + tc + SB_MS(100) * k);
    assert_true(t->timer_visits - before <= 2 * 20);

    assert_int_equal(log.emitted, 0); /* (L lingers 4 s) */
    tracker_finish(t);
    assert_int_equal(log.emitted, N + 2);
    tracker_destroy(t);
    free(t);
}

static void test_config_default(void **state)
{
    (void)state;
    struct tracker_config cfg;
    memset(&cfg, 0xff, sizeof cfg);
    tracker_config_default(&cfg);
    assert_int_equal(cfg.attempt_timeout_ns, SB_SEC(3));
    assert_int_equal(cfg.stall_threshold_ns, SB_SEC(1));
    assert_int_equal(cfg.linger_ns, SB_SEC(4));
    assert_int_equal(cfg.max_connections, 1000000);
    assert_int_equal(cfg.max_handshakes, 100000);
}

static void test_sender_side(void **state)
{
    (void)state;
    struct harness *h = h_new(NULL);
    syn_at(h, F_LOOP, 0);
    struct flow_key k;
    bool lo;
    struct decoded d = sb_step_decoded(&flows[F_LOOP], &(struct sb_step)CF(F_LOOP, 0, A, 1, 1, 0));
    flow_key_make(&k, &d.tcp, &lo);
    const struct conn *c = flow_table_find(&h->t.table, &k);
    assert_non_null(c);
    assert_int_equal(tracker_sender_side(c, &d.tcp), SIDE_CLIENT);
    struct decoded r =
        sb_step_decoded(&flows[F_LOOP], &(struct sb_step)SF(F_LOOP, 0, A, 1, 1, 0));
    assert_int_equal(tracker_sender_side(c, &r.tcp), SIDE_SERVER);
    tracker_finish(&h->t);
    h_free(h);
}

/* ---------------------------------------------------------------------------
 * Names
 */

/* Every value in [0, n) has a distinct, non-"unknown" name; n has "unknown". */
#define CHECK_NAMES(fn, type, n)                                                        \
    do {                                                                                \
        for (unsigned i_ = 0; i_ < (n); i_++) {                                         \
            const char *a_ = fn((type)i_);                                              \
            assert_non_null(a_);                                                        \
            assert_true(a_[0] != '\0');                                                 \
            if (strcasecmp(a_, "unknown") == 0)                                         \
                fail_msg("%s(%u) is \"%s\"", #fn, i_, a_);                              \
            for (unsigned j_ = 0; j_ < i_; j_++)                                        \
                if (strcmp(a_, fn((type)j_)) == 0)                                      \
                    fail_msg("%s(%u) and %s(%u) are both \"%s\"", #fn, i_, #fn, j_, a_); \
        }                                                                               \
        assert_int_equal(strcasecmp(fn((type)(n)), "unknown"), 0);                      \
        assert_int_equal(strcasecmp(fn((type)200), "unknown"), 0);                      \
    } while (0)

static void test_names(void **state)
{
    (void)state;
    CHECK_NAMES(tcp_state_name, enum tcp_state, TCP_STATE__COUNT);
    CHECK_NAMES(stall_kind_name, enum stall_kind, STALL_WINDOW_FULL + 1);
    CHECK_NAMES(handshake_name, enum handshake_seen, HS_COMPLETE + 1);
    CHECK_NAMES(reset_phase_name, enum reset_phase, PHASE_CLOSED + 1);
    CHECK_NAMES(conn_end_name, enum conn_end, END_CAPTURE_END + 1);
    CHECK_NAMES(tracker_event_name, enum tracker_event, TEV__COUNT);
    CHECK_NAMES(side_name, enum side, SIDE_SERVER + 1);

    /* the exact names are a contract (docs/output.md) */
    static const char *const states[TCP_STATE__COUNT] = {
        "CLOSED",     "LISTEN",     "SYN_SENT", "SYN_RECEIVED", "ESTABLISHED", "FIN_WAIT_1",
        "FIN_WAIT_2", "CLOSING",    "TIME_WAIT", "CLOSE_WAIT",  "LAST_ACK",
    };
    for (unsigned i = 0; i < TCP_STATE__COUNT; i++)
        assert_string_equal(tcp_state_name((enum tcp_state)i), states[i]);
    assert_string_equal(stall_kind_name(STALL_NONE), "none");
    assert_string_equal(stall_kind_name(STALL_ZERO_WINDOW), "zero_window");
    assert_string_equal(stall_kind_name(STALL_UNACKED_DATA), "unacked_data");
    assert_string_equal(stall_kind_name(STALL_WINDOW_FULL), "window_full");
    assert_string_equal(handshake_name(HS_MISSING), "missing");
    assert_string_equal(handshake_name(HS_PARTIAL), "partial");
    assert_string_equal(handshake_name(HS_COMPLETE), "complete");
    assert_string_equal(reset_phase_name(PHASE_HANDSHAKE), "handshake");
    assert_string_equal(reset_phase_name(PHASE_ESTABLISHED), "established");
    assert_string_equal(reset_phase_name(PHASE_CLOSING), "closing");
    assert_string_equal(reset_phase_name(PHASE_CLOSED), "closed");
    assert_string_equal(conn_end_name(END_FINISHED), "finished");
    assert_string_equal(conn_end_name(END_REPLACED), "replaced");
    assert_string_equal(conn_end_name(END_EVICTED), "evicted");
    assert_string_equal(conn_end_name(END_CAPTURE_END), "capture_end");
    static const char *const events[TEV__COUNT] = {
        "refused",     "reset",      "half_open", "half_closed",
        "closed",      "stall_start", "stall_end", "timed_out",
    };
    for (unsigned i = 0; i < TEV__COUNT; i++)
        assert_string_equal(tracker_event_name((enum tracker_event)i), events[i]);
    assert_string_equal(side_name(SIDE_CLIENT), "client");
    assert_string_equal(side_name(SIDE_SERVER), "server");
}

int main(void)
{
    flows_init();
    static const struct CMUnitTest fixed[] = {
        cmocka_unit_test_teardown(test_eviction_least_recently_active, h_teardown),
        cmocka_unit_test_teardown(test_evicted_tuple_resumes, h_teardown),
        cmocka_unit_test_teardown(test_eviction_takes_lingering_first, h_teardown),
        cmocka_unit_test_teardown(test_handshake_cap_spares_established, h_teardown),
        cmocka_unit_test_teardown(test_eviction_lru_across_lists, h_teardown),
        cmocka_unit_test_teardown(test_linger, h_teardown),
        cmocka_unit_test_teardown(test_linger_absorbs_trailing_segments, h_teardown),
        cmocka_unit_test_teardown(test_icmp_unmatched, h_teardown),
        cmocka_unit_test_teardown(test_timed_out_event_on_advance, h_teardown),
        cmocka_unit_test_teardown(test_due_event_fires_on_any_frame, h_teardown),
        cmocka_unit_test_teardown(test_stall_start_event, h_teardown),
        cmocka_unit_test(test_timer_walk_skips_settled),
        cmocka_unit_test(test_fin_seq_kept),
        cmocka_unit_test(test_u48_fields),
        cmocka_unit_test(test_compact_widens),
        cmocka_unit_test(test_compact_edges),
        cmocka_unit_test_teardown(test_config_default, h_teardown),
        cmocka_unit_test_teardown(test_sender_side, h_teardown),
        cmocka_unit_test_teardown(test_names, h_teardown),
    };
    size_t n_fixed = sizeof fixed / sizeof fixed[0];
    struct CMUnitTest tests[N_SCENARIOS + sizeof fixed / sizeof fixed[0]];
    for (size_t i = 0; i < N_SCENARIOS; i++) {
        memset(&tests[i], 0, sizeof tests[i]);
        tests[i].name = scenarios[i].name;
        tests[i].test_func = run_scenario;
        tests[i].initial_state = &scenarios[i];
        tests[i].teardown_func = h_teardown;
    }
    for (size_t i = 0; i < n_fixed; i++)
        tests[N_SCENARIOS + i] = fixed[i];
    return _cmocka_run_group_tests("tracker", tests, N_SCENARIOS + n_fixed, NULL, NULL);
}
