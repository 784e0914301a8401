/* SPDX-License-Identifier: MIT */
/*
 * test_classify.c - unit tests for the verdict rules (src/classify.c).
 *
 * classify_connection() is a pure function of a connection record, the
 * thresholds and "now", so these tests build records by hand, without the
 * tracker: each case is a set of ingredients (client SYNs, SYN-ACK,
 * handshake completed, RST from one side in some phase, ICMP unreachable,
 * FINs, a stall going on or recorded, ...) plus the time "now", and states
 * the verdict, the verdict frame and whether the connection is clean. The
 * table walks the precedence order of docs/verdicts.md pair by pair
 * (refused > timed_out > unanswered > half_open > reset > closed > stalled >
 * half_closed > open), and the remaining tests check the thresholds, the
 * ongoing-stall helper, the reason sentences and the verdict names. Every
 * case is also classified in two steps (classify_verdict(), then
 * classify_reason()), which must agree with classify_connection().
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "classify.h"
#include "conn.h"
#include "flow_table.h"
#include "seg_builder.h"

/* ---------------------------------------------------------------------------
 * Building records
 *
 * Frame numbers used by the ingredients (the verdict frames below refer to
 * them): client SYNs 1 (and 2, 3 when retransmitted), SYN-ACK 4, handshake
 * ACK 5, the start of a stall 6, client FIN 10, server FIN 11, RST 12,
 * ICMP 13. last_frame is the highest frame used, at least LAST_FRAME.
 */
#define LAST_FRAME 20
#define F_SYNACK 4
#define F_EST 5
#define F_STALL 6
#define F_FIN_C 10
#define F_FIN_S 11
#define F_RST 12
#define F_ICMP 13

enum ingredient {
    I_SYN = 1u << 0,           /* one client SYN at 0 */
    I_SYN3 = 1u << 1,          /* three client SYNs at 0, 1 s, 3 s */
    I_SYNACK = 1u << 2,        /* the server's SYN-ACK */
    I_EST = 1u << 3,           /* handshake completed at 20 ms */
    I_RST_S = 1u << 4,         /* RST from the server */
    I_RST_C = 1u << 5,         /* RST from the client */
    I_ICMP_SYN = 1u << 6,      /* ICMP unreachable quoting the client's SYN */
    I_FIN_C = 1u << 7,         /* client FIN */
    I_FIN_S = 1u << 8,         /* server FIN */
    I_STALL_NOW = 1u << 9,     /* client data unacked and retransmitted since 100 ms */
    I_STALL_PAST = 1u << 10,   /* a recorded (finished) zero-window episode of 2 s */
    I_DONE = 1u << 11,         /* finished (lingering) */
    I_MIDSTREAM = 1u << 12,    /* established without any SYN (roles guessed) */
};

static void conn_init(struct conn *c)
{
    memset(c, 0, sizeof *c);
    struct ip_addr cli = sb_ip4(10, 0, 0, 1), srv = sb_ip4(10, 0, 0, 2);
    struct decoded d = sb_tcp(&cli, 51000, &srv, 80, 4, TCP_SYN, 1000, 0, 0, 64240);
    bool lo;
    sb_conn_key(c, &d.tcp, &lo);
    if (lo)
        c->flags |= CONN_CLIENT_IS_LO;
    conn_set_id(c, 1);
    c->tunit = 3; /* microseconds, as in a classic pcap */
    conn_set_first_frame(c, 1);
    c->start_ns = SB_T0_NS;
    conn_set_frame(NULL, c, &c->last_frame, 1);
    c->last_ns = SB_T0_NS;
}

static void touch(struct conn *c, uint64_t frame, int64_t ns)
{
    if (frame > conn_frame(c, &c->last_frame))
        conn_set_frame(NULL, c, &c->last_frame, frame);
    if (ns > c->last_ns)
        c->last_ns = ns;
}

/* The phase a RST gets from the FINs and the handshake, as the tracker sets it. */
static enum reset_phase phase_of(unsigned ing)
{
    int fins = ((ing & I_FIN_C) != 0) + ((ing & I_FIN_S) != 0);
    if (fins == 2)
        return PHASE_CLOSED;
    if (fins == 1)
        return PHASE_CLOSING;
    return (ing & (I_EST | I_MIDSTREAM)) ? PHASE_ESTABLISHED : PHASE_HANDSHAKE;
}

static void build(struct conn *c, unsigned ing)
{
    struct endpoint *cl = &c->ep[SIDE_CLIENT], *sv = &c->ep[SIDE_SERVER];
    conn_init(c);
    c->handshake = HS_MISSING;
    if (ing & (I_SYN | I_SYN3)) {
        cl->flags |= EP_SEEN | EP_SYN | EP_SEQ_KNOWN;
        cl->isn = 1000;
        cl->snd_nxt = 1001;
        cl->syns = 1;
        conn_set_frame(NULL, c, &cl->frame_syn, 1);
        conn_set_time(NULL, c, &cl->ts_syn, SB_T0_NS);
        cl->pkts = 1;
        cl->state = TCP_SYN_SENT;
        c->handshake = HS_PARTIAL;
    }
    if (ing & I_SYN3) {
        cl->syns = 3;
        cl->pkts = 3;
        sb_rare(c)->syn_times_us[0] = 1000000;
        sb_rare(c)->syn_times_us[1] = 3000000;
        sb_rare(c)->syn_last_ns = SB_T0_NS + SB_SEC(3);
        touch(c, 3, SB_T0_NS + SB_SEC(3));
    }
    if (ing & I_SYNACK) {
        sv->flags |= EP_SEEN | EP_SYN | EP_SEQ_KNOWN | EP_ACK_KNOWN;
        sv->syns = 1;
        conn_set_frame(NULL, c, &sv->frame_syn, F_SYNACK);
        sv->state = TCP_SYN_RECEIVED;
        touch(c, F_SYNACK, SB_T0_NS + SB_MS(10));
    }
    if (ing & I_EST) {
        c->flags |= CONN_ESTABLISHED;
        conn_set_frame(NULL, c, &c->frame_established, F_EST);
        conn_set_time(NULL, c, &c->established, SB_T0_NS + SB_MS(20));
        c->handshake = HS_COMPLETE;
        cl->state = sv->state = TCP_ESTABLISHED;
        touch(c, F_EST, SB_T0_NS + SB_MS(20));
    }
    if (ing & I_MIDSTREAM) {
        c->flags |= CONN_ESTABLISHED | CONN_ROLES_GUESSED;
        cl->state = sv->state = TCP_ESTABLISHED;
        cl->flags |= EP_SEEN;
        sv->flags |= EP_SEEN;
    }
    if (ing & I_STALL_NOW) {
        cl->stall.inflight = 1;
        cl->stall.retransmitted = 1;
        conn_set_time(NULL, c, &cl->stall_since, SB_T0_NS + SB_MS(100));
        conn_set_frame(NULL, c, &cl->stall_frame, F_STALL);
        cl->retransmits = 2;
        touch(c, F_STALL, SB_T0_NS + SB_MS(100));
    }
    if (ing & I_STALL_PAST) {
        sb_rare(c)->stall_episodes = 1;
        sb_rare(c)->stall_longest.kind = STALL_ZERO_WINDOW;
        sb_rare(c)->stall_longest.blamed = SIDE_SERVER;
        sb_rare(c)->stall_longest.start_ns = SB_T0_NS + SB_MS(100);
        sb_rare(c)->stall_longest.start_frame = F_STALL;
        sb_rare(c)->stall_longest.seconds_ns = SB_SEC(2);
        touch(c, F_STALL, SB_T0_NS + SB_MS(100));
    }
    if (ing & I_FIN_C) {
        cl->flags |= EP_FIN;
        conn_set_frame(NULL, c, &cl->frame_fin, F_FIN_C);
        conn_set_time(NULL, c, &cl->ts_fin, SB_T0_NS + SB_SEC(5));
        touch(c, F_FIN_C, conn_time(c, &cl->ts_fin));
    }
    if (ing & I_FIN_S) {
        sv->flags |= EP_FIN;
        conn_set_frame(NULL, c, &sv->frame_fin, F_FIN_S);
        conn_set_time(NULL, c, &sv->ts_fin, SB_T0_NS + SB_MS(5010));
        touch(c, F_FIN_S, conn_time(c, &sv->ts_fin));
    }
    if (ing & (I_RST_S | I_RST_C)) {
        enum side s = (ing & I_RST_S) ? SIDE_SERVER : SIDE_CLIENT;
        c->flags |= CONN_RST;
        c->rst_side = s == SIDE_SERVER ? 1u : 0u;
        c->rst_phase = phase_of(ing) & 7u;
        sb_rare(c)->frame_rst = F_RST;
        sb_rare(c)->rst_ns = SB_T0_NS + SB_SEC(6);
        sb_rare(c)->idle_before_rst_ns = SB_MS(990);
        c->ep[s].flags |= EP_RST;
        sb_rare(c)->ep[s].frame_rst = F_RST;
        sb_rare(c)->ep[s].rst_ttl = 64;
        cl->state = sv->state = TCP_CLOSED;
        touch(c, F_RST, sb_rare(c)->rst_ns);
    }
    if (ing & I_ICMP_SYN) {
        c->flags |= CONN_ICMP | CONN_ICMP_SYN;
        sb_rare(c)->frame_icmp = F_ICMP;
        sb_rare(c)->icmp_src = sb_ip4(192, 0, 2, 254);
        sb_rare(c)->icmp_type = 3;
        sb_rare(c)->icmp_code = 13;
        sb_rare(c)->icmp_ttl = 61;
        touch(c, F_ICMP, SB_T0_NS + SB_MS(2));
    }
    if (ing & I_DONE)
        c->flags |= CONN_DONE;
    touch(c, LAST_FRAME, c->last_ns);
}

static const struct classify_config cfg_default = {
    .attempt_timeout_ns = 3000000000LL,
    .stall_threshold_ns = 1000000000LL,
};

static void classify_at(const struct conn *c, int64_t now_ns, struct verdict_info *v)
{
    memset(v, 0xa5, sizeof *v); /* the classifier must set every field */
    classify_connection(c, &cfg_default, now_ns, v);
}

static void assert_reason_has(const struct verdict_info *v, const char *needle)
{
    if (!strstr(v->reason, needle))
        fail_msg("reason \"%s\" does not contain \"%s\"", v->reason, needle);
}

/* One plain sentence: non-empty, one line, ends with a full stop. */
static void assert_sentence(const struct verdict_info *v)
{
    size_t n = strnlen(v->reason, sizeof v->reason);
    assert_true(n > 0 && n < sizeof v->reason);
    assert_null(strchr(v->reason, '\n'));
    assert_int_equal(v->reason[n - 1], '.');
}

/* ---------------------------------------------------------------------------
 * The precedence table
 */
struct rule_case {
    const char *name;
    unsigned ing;
    int64_t now_ns;     /* relative to the start; 0: the last frame's time */
    enum verdict verdict;
    uint64_t verdict_frame;
    bool clean;
    const char *reason_has; /* NULL: no check */
};

static const struct rule_case rule_cases[] = {
    {"refused_by_rst", I_SYN | I_RST_S, 0, VERDICT_REFUSED, F_RST, false, "RST from 10.0.0.2"},
    {"refused_by_icmp", I_SYN | I_ICMP_SYN, 0, VERDICT_REFUSED, F_ICMP, false,
     "ICMP unreachable (type 3 code 13) from 192.0.2.254 (TTL 61)"},
    {"refused_icmp_without_syn_seen", I_ICMP_SYN, 0, VERDICT_REFUSED, F_ICMP, false, "port 80"},
    {"refused_beats_timed_out", I_SYN3 | I_RST_S, 0, VERDICT_REFUSED, F_RST, false, NULL},
    /* the client's own RST at 6 s is no answer: the attempt timed out */
    {"client_rst_on_attempt_is_not_refused", I_SYN | I_RST_C, 0, VERDICT_TIMED_OUT, LAST_FRAME,
     false, "not answered within 6.0 s"},
    {"timed_out_after_retries", I_SYN3, 0, VERDICT_TIMED_OUT, LAST_FRAME, false,
     "retries after 1.0 s, 2.0 s"},
    {"timed_out_single_syn_at_timeout", I_SYN, SB_SEC(3), VERDICT_TIMED_OUT, LAST_FRAME, false,
     "within 3.0 s"},
    {"unanswered_just_before_timeout", I_SYN, SB_SEC(3) - 1, VERDICT_UNANSWERED, LAST_FRAME,
     false, "too soon"},
    {"half_open", I_SYN | I_SYNACK, SB_SEC(10), VERDICT_HALF_OPEN, LAST_FRAME, false,
     "SYN_RECEIVED"},
    {"icmp_after_synack_is_not_refused", I_SYN | I_SYNACK | I_ICMP_SYN, 0, VERDICT_HALF_OPEN,
     LAST_FRAME, false, NULL},
    {"rst_after_synack_is_reset", I_SYN | I_SYNACK | I_RST_S, 0, VERDICT_RESET, F_RST, false,
     "during the handshake"},
    {"reset_by_server_established", I_SYN | I_SYNACK | I_EST | I_RST_S, 0, VERDICT_RESET, F_RST,
     false, "The server reset the connection while established, after 990 ms of silence"},
    {"reset_by_client_established", I_SYN | I_SYNACK | I_EST | I_RST_C, 0, VERDICT_RESET, F_RST,
     false, "The client reset"},
    {"reset_beats_half_closed", I_SYN | I_SYNACK | I_EST | I_FIN_C | I_RST_S, 0, VERDICT_RESET,
     F_RST, false, "while closing"},
    {"reset_beats_stalled", I_SYN | I_SYNACK | I_EST | I_STALL_NOW | I_RST_S | I_DONE, 0,
     VERDICT_RESET, F_RST, false, NULL},
    {"rst_after_both_fins_is_closed", I_SYN | I_SYNACK | I_EST | I_FIN_C | I_FIN_S | I_RST_C, 0,
     VERDICT_CLOSED, F_FIN_S, true, "a RST followed the FINs"},
    {"closed", I_SYN | I_SYNACK | I_EST | I_FIN_C | I_FIN_S | I_DONE, 0, VERDICT_CLOSED,
     F_FIN_S, true, "the client first"},
    {"closed_after_recovered_stall", I_SYN | I_SYNACK | I_EST | I_STALL_PAST | I_FIN_C | I_FIN_S,
     0, VERDICT_CLOSED, F_FIN_S, false, "stall"},
    /* the stall still shows (not clean), the verdict is closed */
    {"closed_beats_stalled", I_SYN | I_SYNACK | I_EST | I_STALL_NOW | I_FIN_C | I_FIN_S, 0,
     VERDICT_CLOSED, F_FIN_S, false, "stall"},
    {"stalled", I_SYN | I_SYNACK | I_EST | I_STALL_NOW, SB_SEC(4), VERDICT_STALLED, F_STALL,
     false, "The client has retransmitted data the server never acknowledged for 3.9 s"},
    {"stalled_beats_half_closed", I_SYN | I_SYNACK | I_EST | I_STALL_NOW | I_FIN_S, SB_SEC(7),
     VERDICT_STALLED, F_STALL, false, NULL},
    {"stall_below_threshold_is_open", I_SYN | I_SYNACK | I_EST | I_STALL_NOW,
     SB_MS(1100) - 1, VERDICT_OPEN, LAST_FRAME, true, NULL},
    {"half_closed_by_client", I_SYN | I_SYNACK | I_EST | I_FIN_C, SB_SEC(8), VERDICT_HALF_CLOSED,
     F_FIN_C, false, "server may leak connections in CLOSE_WAIT"},
    {"half_closed_by_server", I_SYN | I_SYNACK | I_EST | I_FIN_S, SB_SEC(8), VERDICT_HALF_CLOSED,
     F_FIN_S, false, "client may leak connections in CLOSE_WAIT"},
    {"open", I_SYN | I_SYNACK | I_EST, SB_SEC(1), VERDICT_OPEN, LAST_FRAME, true,
     "Established and still open"},
    {"open_after_recovered_stall", I_SYN | I_SYNACK | I_EST | I_STALL_PAST, 0, VERDICT_OPEN,
     LAST_FRAME, false, "stall"},
    {"open_midstream", I_MIDSTREAM, 0, VERDICT_OPEN, LAST_FRAME, true, "not fully seen"},
};

#define N_RULE_CASES (sizeof rule_cases / sizeof rule_cases[0])

static void run_rule_case(void **state)
{
    const struct rule_case *rc = *state;
    struct conn c;
    struct verdict_info v;
    build(&c, rc->ing);
    int64_t now = rc->now_ns ? SB_T0_NS + rc->now_ns : c.last_ns;
    classify_at(&c, now, &v);
    if (v.verdict != rc->verdict)
        fail_msg("verdict %s, expected %s (reason: %s)", verdict_name(v.verdict),
                 verdict_name(rc->verdict), v.reason);
    assert_int_equal(v.verdict_frame, rc->verdict_frame);
    assert_int_equal(v.clean, rc->clean);
    assert_sentence(&v);
    if (rc->reason_has)
        assert_reason_has(&v, rc->reason_has);

    /* In two steps: the same verdict and evidence without the sentence,
     * then the same sentence on demand. */
    struct verdict_info v2;
    char buf[VERDICT_REASON_MAX], small[12];
    memset(&v2, 0x5a, sizeof v2);
    classify_verdict(&c, &cfg_default, now, &v2);
    assert_int_equal(v2.verdict, v.verdict);
    assert_int_equal(v2.verdict_frame, v.verdict_frame);
    assert_int_equal(v2.clean, v.clean);
    assert_int_equal(v2.now_ns, v.now_ns);
    assert_memory_equal(&v2.stall, &v.stall, sizeof v.stall);
    assert_string_equal(v2.reason, "");
    assert_string_equal(classify_reason(&c, &v2, buf, sizeof buf), v.reason);
    assert_string_equal(verdict_reason(&c, &v2, buf, sizeof buf), v.reason);
    assert_ptr_equal(verdict_reason(&c, &v, buf, sizeof buf), v.reason);
    classify_reason(&c, &v2, small, sizeof small); /* cut as snprintf cuts */
    assert_int_equal(strlen(small), sizeof small - 1);
    assert_memory_equal(small, v.reason, sizeof small - 1);
}

/* ---------------------------------------------------------------------------
 * Other rules
 */

static void test_pure_function(void **state)
{
    (void)state;
    struct conn c, copy;
    struct verdict_info v1, v2;
    build(&c, I_SYN | I_SYNACK | I_EST | I_STALL_NOW);
    copy = c;
    classify_at(&c, SB_T0_NS + SB_SEC(5), &v1);
    classify_at(&c, SB_T0_NS + SB_SEC(5), &v2);
    assert_memory_equal(&c, &copy, sizeof c);
    assert_int_equal(v1.verdict, v2.verdict);
    assert_int_equal(v1.verdict_frame, v2.verdict_frame);
    assert_string_equal(v1.reason, v2.reason);
    assert_memory_equal(&v1.stall, &v2.stall, sizeof v1.stall);
}

static void test_stall_episode_fields(void **state)
{
    (void)state;
    struct conn c;
    struct verdict_info v;
    build(&c, I_SYN | I_SYNACK | I_EST | I_STALL_NOW);
    classify_at(&c, SB_T0_NS + SB_SEC(4), &v);
    assert_int_equal(v.verdict, VERDICT_STALLED);
    assert_int_equal(v.stall.kind, STALL_UNACKED_DATA);
    assert_int_equal(v.stall.blamed, SIDE_SERVER);
    assert_int_equal(v.stall.ongoing, 1);
    assert_int_equal(v.stall.start_ns, SB_T0_NS + SB_MS(100));
    assert_int_equal(v.stall.start_frame, F_STALL);
    assert_int_equal(v.stall.seconds_ns, SB_MS(3900));
}

static void test_longest_stall_wins(void **state)
{
    (void)state;
    struct conn c;
    struct verdict_info v;
    /* recorded: 2 s zero window; ongoing: 1.5 s unacked. An ongoing stall,
     * even if shorter than the recorded one, is what makes the connection
     * stalled "at now", and then `stall` describes that ongoing episode. */
    build(&c, I_SYN | I_SYNACK | I_EST | I_STALL_PAST | I_STALL_NOW);
    classify_at(&c, SB_T0_NS + SB_MS(1600), &v);
    assert_int_equal(v.verdict, VERDICT_STALLED);
    assert_int_equal(v.stall.kind, STALL_UNACKED_DATA);
    assert_int_equal(v.stall.ongoing, 1);
    assert_int_equal(sb_rare(&c)->stall_longest.kind, STALL_ZERO_WINDOW);
    assert_int_equal(sb_rare(&c)->stall_longest.seconds_ns, SB_SEC(2));
    /* later the ongoing one is longer */
    classify_at(&c, SB_T0_NS + SB_SEC(5), &v);
    assert_int_equal(v.stall.kind, STALL_UNACKED_DATA);
    assert_int_equal(v.stall.ongoing, 1);
    assert_int_equal(v.verdict, VERDICT_STALLED);
}

static void test_ongoing_stall_helper(void **state)
{
    (void)state;
    struct conn c;
    struct stall_episode ep;
    const int64_t thr = SB_SEC(1);
    build(&c, I_SYN | I_SYNACK | I_EST);

    /* nothing tracked */
    ep = classify_ongoing_stall(&c, SIDE_CLIENT, SB_T0_NS + SB_SEC(9), thr);
    assert_int_equal(ep.kind, STALL_NONE);

    /* data in flight, no retransmission, no window limit: not a stall */
    c.ep[SIDE_CLIENT].stall.inflight = 1;
    conn_set_time(NULL, &c, &c.ep[SIDE_CLIENT].stall_since, SB_T0_NS);
    conn_set_frame(NULL, &c, &c.ep[SIDE_CLIENT].stall_frame, 7);
    ep = classify_ongoing_stall(&c, SIDE_CLIENT, SB_T0_NS + SB_SEC(9), thr);
    assert_int_equal(ep.kind, STALL_NONE);

    /* window full: a stall from the threshold on, exactly */
    c.ep[SIDE_CLIENT].stall.window_full = 1;
    ep = classify_ongoing_stall(&c, SIDE_CLIENT, SB_T0_NS + thr - 1, thr);
    assert_int_equal(ep.kind, STALL_NONE);
    ep = classify_ongoing_stall(&c, SIDE_CLIENT, SB_T0_NS + thr, thr);
    assert_int_equal(ep.kind, STALL_WINDOW_FULL);
    assert_int_equal(ep.blamed, SIDE_SERVER);
    assert_int_equal(ep.seconds_ns, thr);
    assert_int_equal(ep.start_frame, 7);
    assert_int_equal(ep.ongoing, 1);

    /* zero window with probes, on the server's data: blames the client */
    c.ep[SIDE_SERVER].stall.zero = 1;
    c.ep[SIDE_SERVER].stall.probed = 1;
    sb_rare(&c)->ep[SIDE_SERVER].zero_since_ns = SB_T0_NS + SB_MS(500);
    sb_rare(&c)->ep[SIDE_SERVER].zero_frame = 9;
    ep = classify_ongoing_stall(&c, SIDE_SERVER, SB_T0_NS + SB_SEC(2), thr);
    assert_int_equal(ep.kind, STALL_ZERO_WINDOW);
    assert_int_equal(ep.blamed, SIDE_CLIENT);
    assert_int_equal(ep.start_ns, SB_T0_NS + SB_MS(500));
    assert_int_equal(ep.start_frame, 9);
    assert_int_equal(ep.seconds_ns, SB_MS(1500));

    /* a finished connection has no ongoing stall */
    c.flags |= CONN_DONE;
    ep = classify_ongoing_stall(&c, SIDE_SERVER, SB_T0_NS + SB_SEC(2), thr);
    assert_int_equal(ep.kind, STALL_NONE);
}

/* The stall kinds' order of precedence and start (conn.c helpers). */
static void test_stall_track_kind(void **state)
{
    (void)state;
    struct conn c;
    memset(&c, 0, sizeof c);
    struct stall_track *st = &c.ep[SIDE_CLIENT].stall;
    uint64_t frame = 0;
    assert_int_equal(stall_track_kind(st), STALL_NONE);
    st->inflight = 1;
    conn_set_time(NULL, &c, &c.ep[SIDE_CLIENT].stall_since, 100);
    conn_set_frame(NULL, &c, &c.ep[SIDE_CLIENT].stall_frame, 3);
    assert_int_equal(stall_track_kind(st), STALL_NONE);
    st->window_full = 1;
    assert_int_equal(stall_track_kind(st), STALL_WINDOW_FULL);
    st->retransmitted = 1;
    assert_int_equal(stall_track_kind(st), STALL_UNACKED_DATA);
    st->zero = 1;
    sb_rare(&c)->ep[SIDE_CLIENT].zero_since_ns = 50;
    sb_rare(&c)->ep[SIDE_CLIENT].zero_frame = 2;
    assert_int_equal(stall_track_kind(st), STALL_UNACKED_DATA);
    st->probed = 1;
    assert_int_equal(stall_track_kind(st), STALL_ZERO_WINDOW);
    /* the earlier of the two starts, and its frame */
    assert_int_equal(stall_track_start(&c, SIDE_CLIENT, &frame), 50);
    assert_int_equal(frame, 2);
    sb_rare(&c)->ep[SIDE_CLIENT].zero_since_ns = 150;
    assert_int_equal(stall_track_start(&c, SIDE_CLIENT, &frame), 100);
    assert_int_equal(frame, 3);
    /* zero window with data in flight but no probe yet */
    memset(st, 0, sizeof *st);
    st->zero = 1;
    st->inflight = 1;
    assert_int_equal(stall_track_kind(st), STALL_ZERO_WINDOW);
}

static void test_now_before_last_frame(void **state)
{
    (void)state;
    struct conn c;
    struct verdict_info v;
    build(&c, I_SYN | I_SYNACK | I_EST | I_STALL_NOW);
    c.last_ns = SB_T0_NS + SB_SEC(3);
    /* "now" earlier than the last frame is taken as the last frame's time */
    classify_at(&c, SB_T0_NS, &v);
    assert_int_equal(v.verdict, VERDICT_STALLED);
    assert_int_equal(v.stall.seconds_ns, SB_MS(2900));
}

static void test_attempt_timeout_is_configurable(void **state)
{
    (void)state;
    struct conn c;
    struct verdict_info v;
    struct classify_config cfg = {.attempt_timeout_ns = SB_MS(500),
                                  .stall_threshold_ns = SB_SEC(1)};
    build(&c, I_SYN);
    classify_connection(&c, &cfg, SB_T0_NS + SB_MS(499), &v);
    assert_int_equal(v.verdict, VERDICT_UNANSWERED);
    classify_connection(&c, &cfg, SB_T0_NS + SB_MS(500), &v);
    assert_int_equal(v.verdict, VERDICT_TIMED_OUT);
    assert_reason_has(&v, "500 ms");
}

static void test_reset_reason_ttl_mismatch(void **state)
{
    (void)state;
    struct conn c;
    struct verdict_info v;
    build(&c, I_SYN | I_SYNACK | I_EST | I_RST_S);
    c.ep[SIDE_SERVER].ttl = 52;
    sb_rare(&c)->ep[SIDE_SERVER].rst_ttl = 250;
    classify_at(&c, c.last_ns, &v);
    assert_int_equal(v.verdict, VERDICT_RESET);
    assert_reason_has(&v, "TTL (250)");
    assert_reason_has(&v, "(52)");
    assert_reason_has(&v, "middlebox");
    assert_sentence(&v);
    /* same TTL: no such remark */
    sb_rare(&c)->ep[SIDE_SERVER].rst_ttl = 52;
    classify_at(&c, c.last_ns, &v);
    assert_null(strstr(v.reason, "middlebox"));
}

static void test_refused_icmpv6_reason(void **state)
{
    (void)state;
    struct conn c;
    struct verdict_info v;
    memset(&c, 0, sizeof c);
    struct ip_addr cli = sb_ip6("2001:db8::1"), srv = sb_ip6("2001:db8::2");
    struct decoded d = sb_tcp(&cli, 40000, &srv, 443, 6, TCP_SYN, 1, 0, 0, 1000);
    bool lo;
    sb_conn_key(&c, &d.tcp, &lo);
    if (lo)
        c.flags |= CONN_CLIENT_IS_LO;
    c.ep[SIDE_CLIENT].flags = EP_SEEN | EP_SYN;
    c.ep[SIDE_CLIENT].syns = 1;
    c.flags |= CONN_ICMP | CONN_ICMP_SYN;
    sb_rare(&c)->icmp_src = sb_ip6("2001:db8:ffff::1");
    sb_rare(&c)->icmp_type = 1;
    sb_rare(&c)->icmp_code = 4;
    sb_rare(&c)->icmp_ttl = 60;
    sb_rare(&c)->frame_icmp = 2;
    conn_set_frame(NULL, &c, &c.last_frame, 2);
    classify_at(&c, 0, &v);
    assert_int_equal(v.verdict, VERDICT_REFUSED);
    assert_int_equal(v.verdict_frame, 2);
    assert_reason_has(&v, "port 443");
    assert_reason_has(&v, "ICMPv6 unreachable (type 1 code 4) from 2001:db8:ffff::1 (hop limit 60)");
}

/* ---------------------------------------------------------------------------
 * Names
 */
static void test_verdict_names(void **state)
{
    (void)state;
    static const char *const names[VERDICT__COUNT] = {
        "refused", "timed_out",   "unanswered", "half_open", "reset",
        "closed",  "stalled",     "half_closed", "open",
    };
    for (unsigned i = 0; i < VERDICT__COUNT; i++) {
        assert_string_equal(verdict_name((enum verdict)i), names[i]);
        for (unsigned j = 0; j < i; j++)
            assert_string_not_equal(verdict_name((enum verdict)i), verdict_name((enum verdict)j));
    }
    assert_string_equal(verdict_name(VERDICT__COUNT), "unknown");
    assert_string_equal(verdict_name((enum verdict)77), "unknown");
}

static void test_verdict_from_name(void **state)
{
    (void)state;
    for (unsigned i = 0; i < VERDICT__COUNT; i++) {
        enum verdict v = VERDICT__COUNT;
        assert_true(verdict_from_name(verdict_name((enum verdict)i), &v));
        assert_int_equal(v, i);
    }
    static const char *const bad[] = {"", "unknown", "bogus", "refuse", "refusedx", "refused ",
                                      " refused", "half-open", "timedout", "open,closed"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        enum verdict v = VERDICT_OPEN;
        if (verdict_from_name(bad[i], &v))
            fail_msg("verdict_from_name accepted \"%s\"", bad[i]);
        assert_int_equal(v, VERDICT_OPEN); /* untouched */
    }
}

int main(void)
{
    static const struct CMUnitTest fixed[] = {
        cmocka_unit_test(test_pure_function),
        cmocka_unit_test(test_stall_episode_fields),
        cmocka_unit_test(test_longest_stall_wins),
        cmocka_unit_test(test_ongoing_stall_helper),
        cmocka_unit_test(test_stall_track_kind),
        cmocka_unit_test(test_now_before_last_frame),
        cmocka_unit_test(test_attempt_timeout_is_configurable),
        cmocka_unit_test(test_reset_reason_ttl_mismatch),
        cmocka_unit_test(test_refused_icmpv6_reason),
        cmocka_unit_test(test_verdict_names),
        cmocka_unit_test(test_verdict_from_name),
    };
    const size_t n_fixed = sizeof fixed / sizeof fixed[0];
    struct CMUnitTest tests[N_RULE_CASES + sizeof fixed / sizeof fixed[0]];
    for (size_t i = 0; i < N_RULE_CASES; i++) {
        memset(&tests[i], 0, sizeof tests[i]);
        tests[i].name = rule_cases[i].name;
        tests[i].test_func = run_rule_case;
        tests[i].initial_state = (void *)(uintptr_t)&rule_cases[i];
    }
    for (size_t i = 0; i < n_fixed; i++)
        tests[N_RULE_CASES + i] = fixed[i];
    return _cmocka_run_group_tests("classify", tests, N_RULE_CASES + n_fixed, NULL, NULL);
}
