/* SPDX-License-Identifier: MIT */
/*
 * test_malformed.c - malformed and hostile packets through the whole
 * pipeline, in-process (pcap bytes -> capture_open_fp -> analyzer -> JSON).
 *
 * Each malformed case is a capture holding two clean connections (IPv4 and
 * IPv6: handshake, data both ways, FIN, FIN, ACK) with three garbage frames
 * interleaved. The garbage uses the clean connections' own addresses and
 * ports and carries RST (in window): had any of it reached the tracker, the
 * connection would be reset. Each case checks, in the JSON summary, that the
 * frames were counted under the one expected reason (malformed_by_reason or
 * skipped), that every other reason stayed at zero, and that both clean
 * connections are still `closed` with their exact packet and byte counts.
 * One more capture holds every case at once.
 *
 * Then the limits: caplen > wire length, timestamps going backwards, 32-bit
 * sequence wraparound, a connection carrying more than 4 GiB (exact byte
 * counter), a million retransmissions of one segment, SACK blocks covering
 * the whole sequence space, every link type (and SLL2 with odd fields) on a
 * clean connection. The big ones only assert that they complete, with exact
 * counters: no timing assertions.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rb_support.h"

#define T0 1700000000000000000LL
#define MS 1000000LL
#define CPORT4 40000
#define CPORT6 40001
#define GARBAGE_COPIES 3

static const struct rb_link eth = {.kind = RB_ETH};

/* ---- garbage frames ------------------------------------------------------------ */

/* A RST|ACK on the clean flow (in window): harmful if it were decoded. */
static struct rb_tcp garbage_base(const struct rb_flow *fl)
{
    return rb_seg(fl, false, TCP_RST | TCP_ACK, fl->sisn + 1, fl->cisn + 1, 0);
}

/* Writes a frame of exactly len bytes on the wire (a packet that really is
 * that short; 0: its natural length), after patch() changed its bytes. */
static void put_patched(struct rb_buf *p, int64_t ts, const struct rb_link *l,
                        const struct rb_tcp *t, uint32_t len,
                        void (*patch)(uint8_t *frame, uint32_t n))
{
    uint8_t f[2048];
    memset(f, 0, sizeof f);
    uint32_t n = rb_frame_bytes(f, sizeof f, l, t);
    if (n > sizeof f)
        n = sizeof f;
    if (patch)
        patch(f, n);
    if (len)
        n = len;
    rb_pcap_record(p, ts, f, n, n);
}

struct mcase {
    const char *name;
    const char *path; /* "malformed_by_reason.X" or "skipped.X" */
    void (*put)(struct rb_buf *p, int64_t ts, const struct rb_flow *v4, const struct rb_flow *v6);
};

static void g_ihl_short(struct rb_buf *p, int64_t ts, const struct rb_flow *v4,
                        const struct rb_flow *v6)
{
    (void)v6;
    struct rb_tcp t = garbage_base(v4);
    t.ihl = 4;
    rb_put_frame(p, ts, &eth, &t, 0);
}

static void g_ihl_past(struct rb_buf *p, int64_t ts, const struct rb_flow *v4,
                       const struct rb_flow *v6)
{
    (void)v6;
    struct rb_tcp t = garbage_base(v4);
    t.ihl = 15; /* 60 bytes of header in a 40-byte packet */
    put_patched(p, ts, &eth, &t, 14 + 40, NULL);
}

static void g_total_short(struct rb_buf *p, int64_t ts, const struct rb_flow *v4,
                          const struct rb_flow *v6)
{
    (void)v6;
    struct rb_tcp t = garbage_base(v4);
    t.ip_len = 12;
    rb_put_frame(p, ts, &eth, &t, 0);
}

static void g_doff_short(struct rb_buf *p, int64_t ts, const struct rb_flow *v4,
                         const struct rb_flow *v6)
{
    (void)v4;
    struct rb_tcp t = garbage_base(v6);
    t.doff = 4;
    rb_put_frame(p, ts, &eth, &t, 0);
}

static void g_doff_past(struct rb_buf *p, int64_t ts, const struct rb_flow *v4,
                        const struct rb_flow *v6)
{
    (void)v6;
    struct rb_tcp t = garbage_base(v4);
    t.doff = 15; /* 60 bytes of TCP header, 20 in the packet */
    rb_put_frame(p, ts, &eth, &t, 0);
}

static void put_opts(struct rb_buf *p, int64_t ts, const struct rb_flow *fl, const uint8_t *o,
                     unsigned n)
{
    struct rb_tcp t = garbage_base(fl);
    t.opts = o;
    t.opts_len = n;
    rb_put_frame(p, ts, &eth, &t, 0);
}

static void g_opt_len0(struct rb_buf *p, int64_t ts, const struct rb_flow *v4,
                       const struct rb_flow *v6)
{
    (void)v6;
    static const uint8_t o[] = {2, 0, 0, 0};
    put_opts(p, ts, v4, o, sizeof o);
}

static void g_opt_len1(struct rb_buf *p, int64_t ts, const struct rb_flow *v4,
                       const struct rb_flow *v6)
{
    (void)v4;
    static const uint8_t o[] = {1, 3, 1, 0};
    put_opts(p, ts, v6, o, sizeof o);
}

static void g_opt_overrun(struct rb_buf *p, int64_t ts, const struct rb_flow *v4,
                          const struct rb_flow *v6)
{
    (void)v6;
    static const uint8_t o[] = {1, 1, 8, 10, 0, 0, 0, 0}; /* timestamps needs 10, 6 left */
    put_opts(p, ts, v4, o, sizeof o);
}

static void g_opt_no_len(struct rb_buf *p, int64_t ts, const struct rb_flow *v4,
                         const struct rb_flow *v6)
{
    (void)v6;
    static const uint8_t o[] = {1, 1, 1, 5}; /* SACK kind with no room for its length */
    put_opts(p, ts, v4, o, sizeof o);
}

#define NH_HOPOPTS 0
#define NH_DSTOPTS 60
#define NH_TCP 6

static void g_ext_loop(struct rb_buf *p, int64_t ts, const struct rb_flow *v4,
                       const struct rb_flow *v6)
{
    (void)v4;
    /* Nine destination-options headers, each naming the next: one more
     * than DECODE_MAX_IPV6_EXT, as a looping chain would look. */
    uint8_t ext[9 * 8];
    memset(ext, 0, sizeof ext);
    for (unsigned i = 0; i < 9; i++)
        ext[i * 8] = i + 1 < 9 ? NH_DSTOPTS : NH_TCP;
    struct rb_tcp t = garbage_base(v6);
    t.ext = ext;
    t.ext_len = sizeof ext;
    t.ext_first = NH_DSTOPTS;
    rb_put_frame(p, ts, &eth, &t, 0);
}

static void g_ext_overlong(struct rb_buf *p, int64_t ts, const struct rb_flow *v4,
                           const struct rb_flow *v6)
{
    (void)v4;
    uint8_t ext[8] = {NH_TCP, 255, 0, 0, 0, 0, 0, 0}; /* (255 + 1) * 8 bytes declared */
    struct rb_tcp t = garbage_base(v6);
    t.ext = ext;
    t.ext_len = sizeof ext;
    t.ext_first = NH_HOPOPTS;
    rb_put_frame(p, ts, &eth, &t, 0);
}

static void g_ext_past_plen(struct rb_buf *p, int64_t ts, const struct rb_flow *v4,
                            const struct rb_flow *v6)
{
    (void)v4;
    uint8_t ext[16] = {NH_TCP, 1}; /* 16 bytes, but the payload length says 8 */
    struct rb_tcp t = garbage_base(v6);
    t.ext = ext;
    t.ext_len = sizeof ext;
    t.ext_first = NH_DSTOPTS;
    t.ip_len = 8;
    rb_put_frame(p, ts, &eth, &t, 0);
}

static void g_vlan_deep(struct rb_buf *p, int64_t ts, const struct rb_flow *v4,
                        const struct rb_flow *v6)
{
    (void)v6;
    struct rb_link l = {.kind = RB_ETH, .vlans = DECODE_MAX_VLAN_TAGS + 1};
    struct rb_tcp t = garbage_base(v4);
    rb_put_frame(p, ts, &l, &t, 0);
}

static void g_mpls_deep(struct rb_buf *p, int64_t ts, const struct rb_flow *v4,
                        const struct rb_flow *v6)
{
    (void)v4;
    struct rb_link l = {.kind = RB_ETH, .mpls = DECODE_MAX_MPLS_LABELS + 1};
    struct rb_tcp t = garbage_base(v6);
    rb_put_frame(p, ts, &l, &t, 0);
}

static void g_zero_length(struct rb_buf *p, int64_t ts, const struct rb_flow *v4,
                          const struct rb_flow *v6)
{
    (void)v4;
    (void)v6;
    static const uint8_t none[1];
    rb_pcap_record(p, ts, none, 0, (ts / MS) % 2 ? 60 : 0);
}

static void g_link_short(struct rb_buf *p, int64_t ts, const struct rb_flow *v4,
                         const struct rb_flow *v6)
{
    (void)v6;
    struct rb_tcp t = garbage_base(v4);
    put_patched(p, ts, &eth, &t, 10, NULL);
}

static void patch_version6(uint8_t *f, uint32_t n)
{
    (void)n;
    f[14] = 0x65; /* EtherType IPv4, version nibble 6 */
}

static void g_ip_version(struct rb_buf *p, int64_t ts, const struct rb_flow *v4,
                         const struct rb_flow *v6)
{
    (void)v6;
    struct rb_tcp t = garbage_base(v4);
    put_patched(p, ts, &eth, &t, 0, patch_version6);
}

static void g_ip_short(struct rb_buf *p, int64_t ts, const struct rb_flow *v4,
                       const struct rb_flow *v6)
{
    (void)v4;
    struct rb_tcp t = garbage_base(v6);
    put_patched(p, ts, &eth, &t, 14 + 30, NULL); /* 30 of the 40 bytes of IPv6 header */
}

static void patch_icmp_short(uint8_t *f, uint32_t n)
{
    (void)n;
    f[14 + 9] = 1;       /* protocol: ICMP */
    f[14 + 20] = 3;      /* destination unreachable */
    f[14 + 20 + 1] = 3;  /* port unreachable */
    f[14 + 2] = 0;       /* total length: 26, the ICMP header cut after 6 bytes */
    f[14 + 3] = 26;
}

static void g_icmp_short(struct rb_buf *p, int64_t ts, const struct rb_flow *v4,
                         const struct rb_flow *v6)
{
    (void)v6;
    struct rb_tcp t = garbage_base(v4);
    put_patched(p, ts, &eth, &t, 14 + 26, patch_icmp_short);
}

static void g_headers_cut(struct rb_buf *p, int64_t ts, const struct rb_flow *v4,
                          const struct rb_flow *v6)
{
    (void)v6;
    struct rb_tcp t = garbage_base(v4);
    rb_put_frame(p, ts, &eth, &t, 14 + 20 + 10); /* snaplen inside the TCP header */
}

static void g_not_ip(struct rb_buf *p, int64_t ts, const struct rb_flow *v4,
                     const struct rb_flow *v6)
{
    (void)v4;
    (void)v6;
    uint8_t arp[60] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 0x0a, 0x08, 0x06,
                       0, 1, 0x08, 0, 6, 4, 0, 1};
    rb_pcap_record(p, ts, arp, sizeof arp, sizeof arp);
}

static void patch_udp(uint8_t *f, uint32_t n)
{
    (void)n;
    f[14 + 9] = 17;
}

static void g_not_tcp(struct rb_buf *p, int64_t ts, const struct rb_flow *v4,
                      const struct rb_flow *v6)
{
    (void)v6;
    struct rb_tcp t = garbage_base(v4);
    put_patched(p, ts, &eth, &t, 0, patch_udp);
}

static void patch_fragment(uint8_t *f, uint32_t n)
{
    (void)n;
    f[14 + 6] = 0x00; /* fragment offset 185 * 8 */
    f[14 + 7] = 185;
}

static void g_fragment(struct rb_buf *p, int64_t ts, const struct rb_flow *v4,
                       const struct rb_flow *v6)
{
    (void)v6;
    struct rb_tcp t = garbage_base(v4);
    put_patched(p, ts, &eth, &t, 0, patch_fragment);
}

static const struct mcase cases[] = {
    {"ipv4 IHL < 5", "malformed_by_reason.ipv4_header_length", g_ihl_short},
    {"ipv4 IHL past the packet", "malformed_by_reason.ipv4_header_length", g_ihl_past},
    {"ipv4 total length < header", "malformed_by_reason.ipv4_total_length", g_total_short},
    {"tcp data offset < 5", "malformed_by_reason.tcp_data_offset", g_doff_short},
    {"tcp data offset past the packet", "malformed_by_reason.tcp_data_offset", g_doff_past},
    {"tcp option length 0", "malformed_by_reason.tcp_options", g_opt_len0},
    {"tcp option length 1", "malformed_by_reason.tcp_options", g_opt_len1},
    {"tcp option overrunning", "malformed_by_reason.tcp_options", g_opt_overrun},
    {"tcp option without length", "malformed_by_reason.tcp_options", g_opt_no_len},
    {"ipv6 extension loop", "malformed_by_reason.ipv6_ext_chain", g_ext_loop},
    {"ipv6 extension overlong", "malformed_by_reason.ipv6_ext_chain", g_ext_overlong},
    {"ipv6 extension past payload length", "malformed_by_reason.ipv6_ext_chain",
     g_ext_past_plen},
    {"vlan stack deeper than the cap", "malformed_by_reason.vlan_depth", g_vlan_deep},
    {"mpls stack deeper than the cap", "malformed_by_reason.mpls_depth", g_mpls_deep},
    {"zero-length frame", "malformed_by_reason.zero_length", g_zero_length},
    {"ethernet header cut", "malformed_by_reason.link_short", g_link_short},
    {"ip version mismatch", "malformed_by_reason.ip_version", g_ip_version},
    {"ipv6 header cut", "malformed_by_reason.ip_short", g_ip_short},
    {"icmp error too short", "malformed_by_reason.icmp_short", g_icmp_short},
    {"snaplen inside tcp header", "skipped.headers_cut", g_headers_cut},
    {"arp", "skipped.not_ip", g_not_ip},
    {"udp", "skipped.not_tcp", g_not_tcp},
    {"non-first fragment", "skipped.ip_fragment", g_fragment},
};
#define N_CASES (sizeof cases / sizeof cases[0])

static const char *const malformed_reasons[] = {
    "zero_length", "link_short",  "link_bad",       "vlan_depth",    "mpls_depth",
    "ip_version",  "ip_short",    "ipv4_header_length", "ipv4_total_length", "ipv6_ext_chain",
    "tcp_data_offset", "tcp_options", "icmp_short"};
static const char *const skipped_reasons[] = {"not_ip", "not_tcp", "ip_fragment", "headers_cut"};

/* ---- checks ----------------------------------------------------------------------- */

static void expect_clean_conn(const struct rb_result *r, uint16_t cport, const char *what)
{
    const struct rb_conn *c = rb_find_conn(r, cport);
    if (!c)
        fail_msg("%s: the clean connection from port %u was not reported", what, cport);
    if (c->verdict != VERDICT_CLOSED || c->pkts[SIDE_CLIENT] != RB_CLEAN_CLIENT_PKTS ||
        c->pkts[SIDE_SERVER] != RB_CLEAN_SERVER_PKTS ||
        c->bytes[SIDE_CLIENT] != RB_CLEAN_CLIENT_BYTES ||
        c->bytes[SIDE_SERVER] != RB_CLEAN_SERVER_BYTES || c->retransmits[0] || c->retransmits[1])
        fail_msg("%s: clean connection from port %u: verdict %s, packets %u/%u, bytes "
                 "%llu/%llu, retransmits %u/%u",
                 what, cport, verdict_name(c->verdict), c->pkts[0], c->pkts[1],
                 (unsigned long long)c->bytes[0], (unsigned long long)c->bytes[1],
                 c->retransmits[0], c->retransmits[1]);
}

/* Every reason of the summary: expected[path] or 0. */
static void expect_reasons(const char *summary, const char *what, const char *const *paths,
                           const uint64_t *counts, size_t n)
{
    char path[96];
    uint64_t malformed = 0;
    for (int group = 0; group < 2; group++) {
        const char *const *names = group ? skipped_reasons : malformed_reasons;
        size_t count = group ? sizeof skipped_reasons / sizeof skipped_reasons[0]
                             : sizeof malformed_reasons / sizeof malformed_reasons[0];
        for (size_t i = 0; i < count; i++) {
            snprintf(path, sizeof path, "%s.%s", group ? "skipped" : "malformed_by_reason",
                     names[i]);
            uint64_t want = 0;
            for (size_t j = 0; j < n; j++)
                if (strcmp(paths[j], path) == 0)
                    want += counts[j];
            uint64_t got = rb_json_u64(summary, path);
            if (got != want)
                fail_msg("%s: %s is %llu, expected %llu", what, path, (unsigned long long)got,
                         (unsigned long long)want);
            if (!group)
                malformed += want;
        }
    }
    if (rb_json_u64(summary, "malformed") != malformed)
        fail_msg("%s: malformed total %llu, expected %llu", what,
                 (unsigned long long)rb_json_u64(summary, "malformed"),
                 (unsigned long long)malformed);
}

/* Two clean connections, each case's garbage after the steps listed. */
static void build_case_pcap(struct rb_buf *p, const struct mcase *const *which, size_t n)
{
    struct rb_flow v4 = rb_flow4(CPORT4, 80, 1000, 5000);
    struct rb_flow v6 = rb_flow6(CPORT6, 443, 7000, 9000);
    rb_pcap_header(p, RB_LINKTYPE_ETHERNET, 262144);
    int64_t ts = T0;
    for (unsigned i = 0; i < RB_CLEAN_STEPS; i++) {
        struct rb_tcp a = rb_clean_step(&v4, i), b = rb_clean_step(&v6, i);
        rb_put_frame(p, ts += MS, &eth, &a, 0);
        rb_put_frame(p, ts += MS, &eth, &b, 0);
        /* Garbage after steps 2, 5 and 7: established, mid-data, mid-close. */
        if (i == 2 || i == 5 || i == 7)
            for (size_t c = 0; c < n; c++)
                which[c]->put(p, ts += MS, &v4, &v6);
    }
}

static void run_cases(const struct mcase *const *which, size_t n, const char *what)
{
    struct rb_buf p = {0};
    build_case_pcap(&p, which, n);
    struct rb_result r;
    struct rb_opts o = {.json = true, .text = true};
    rb_run(p.data, p.len, &o, &r);
    assert_true(r.opened);
    assert_false(r.damaged);
    const char *s = rb_json_summary(r.json);
    assert_non_null(s);
    uint64_t frames = 2 * RB_CLEAN_STEPS + GARBAGE_COPIES * n;
    if (rb_json_u64(s, "frames") != frames || r.frames != frames)
        fail_msg("%s: %llu frames in the summary, %llu expected", what,
                 (unsigned long long)rb_json_u64(s, "frames"), (unsigned long long)frames);
    assert_int_equal(rb_json_u64(s, "tcp_segments"), 2 * RB_CLEAN_STEPS);
    assert_int_equal(rb_json_u64(s, "connections"), 2);
    assert_int_equal(rb_json_u64(s, "verdicts.closed"), 2);
    const char *paths[N_CASES];
    uint64_t counts[N_CASES];
    for (size_t i = 0; i < n; i++) {
        paths[i] = which[i]->path;
        counts[i] = GARBAGE_COPIES;
    }
    expect_reasons(s, what, paths, counts, n);
    assert_int_equal(rb_json_u64(s, "timestamps_backwards"), 0);
    assert_int_equal(rb_json_u64(s, "caplen_gt_wirelen"), 0);
    assert_int_equal(rb_json_u64(s, "unhandled_state_events"), 0);
    expect_clean_conn(&r, CPORT4, what);
    expect_clean_conn(&r, CPORT6, what);
    /* The text report counts them too. */
    assert_non_null(strstr(r.text, "verdicts: closed 2"));
    rb_result_free(&r);
    rb_buf_free(&p);
}

static void test_each_case(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_CASES; i++) {
        const struct mcase *one = &cases[i];
        print_message("# case: %s -> %s\n", one->name, one->path);
        run_cases(&one, 1, one->name);
    }
}

/* The premise: the same garbage, unbroken, does end the clean connection. */
static void g_valid_rst(struct rb_buf *p, int64_t ts, const struct rb_flow *v4,
                        const struct rb_flow *v6)
{
    (void)v6;
    struct rb_tcp t = garbage_base(v4);
    rb_put_frame(p, ts, &eth, &t, 0);
}

static void test_garbage_premise(void **state)
{
    (void)state;
    const struct mcase valid = {"valid rst", NULL, g_valid_rst};
    const struct mcase *one = &valid;
    struct rb_buf p = {0};
    build_case_pcap(&p, &one, 1);
    struct rb_result r;
    rb_run(p.data, p.len, NULL, &r);
    assert_true(r.opened);
    const struct rb_conn *c = rb_find_conn(&r, CPORT4);
    assert_non_null(c);
    assert_int_equal(c->verdict, VERDICT_RESET);
    rb_result_free(&r);
    rb_buf_free(&p);
}

static void test_all_cases_together(void **state)
{
    (void)state;
    const struct mcase *all[N_CASES];
    for (size_t i = 0; i < N_CASES; i++)
        all[i] = &cases[i];
    run_cases(all, N_CASES, "all cases in one capture");
}

/* ---- limits ------------------------------------------------------------------------- */

static void run_json(const struct rb_buf *p, struct rb_result *r)
{
    struct rb_opts o = {.json = true, .text = true};
    rb_run(p->data, p->len, &o, r);
    assert_true(r->opened);
    assert_false(r->damaged);
    assert_non_null(rb_json_summary(r->json));
}

/* The JSON line of the connection from client_port (NUL-terminated copy). */
static char *conn_line(const struct rb_result *r, uint16_t cport, char *buf, size_t len)
{
    char needle[32];
    snprintf(needle, sizeof needle, "\"client_port\":%u,", cport);
    for (const char *p = r->json; p && *p;) {
        const char *e = strchr(p, '\n');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (strncmp(p, "{\"type\":\"connection\"", 20) == 0) {
            const char *hit = strstr(p, needle);
            if (hit && hit < p + n) {
                if (n >= len)
                    n = len - 1;
                memcpy(buf, p, n);
                buf[n] = '\0';
                return buf;
            }
        }
        p = e ? e + 1 : NULL;
    }
    fail_msg("no JSON line for the connection from port %u", cport);
    return NULL;
}

static void test_caplen_gt_wirelen(void **state)
{
    (void)state;
    struct rb_flow v4 = rb_flow4(CPORT4, 80, 1000, 5000);
    struct rb_buf p = {0};
    rb_pcap_header(&p, RB_LINKTYPE_ETHERNET, 262144);
    for (unsigned i = 0; i < RB_CLEAN_STEPS; i++) {
        uint8_t f[2048];
        memset(f, 0xee, sizeof f);
        struct rb_tcp t = rb_clean_step(&v4, i);
        uint32_t n = rb_frame_bytes(f, sizeof f, &eth, &t);
        /* Four bytes more captured than the wire had (a broken capturer). */
        rb_pcap_record(&p, T0 + i * MS, f, n + 4, n);
    }
    struct rb_result r;
    run_json(&p, &r);
    const char *s = rb_json_summary(r.json);
    assert_int_equal(rb_json_u64(s, "caplen_gt_wirelen"), RB_CLEAN_STEPS);
    assert_int_equal(rb_json_u64(s, "malformed"), 0);
    expect_clean_conn(&r, CPORT4, "caplen > wire length");
    rb_result_free(&r);
    rb_buf_free(&p);
}

static void test_timestamps_backwards(void **state)
{
    (void)state;
    struct rb_flow v4 = rb_flow4(CPORT4, 80, 1000, 5000);
    struct rb_flow v6 = rb_flow6(CPORT6, 443, 7000, 9000);
    struct rb_buf p = {0};
    rb_pcap_header(&p, RB_LINKTYPE_ETHERNET, 262144);
    /* v4 frames 5 and 6 are stamped an hour and a second before the rest. */
    int64_t back[RB_CLEAN_STEPS] = {0, 0, 0, 0, 0, -3600000 * MS, -1000 * MS, 0, 0, 0};
    for (unsigned i = 0; i < RB_CLEAN_STEPS; i++) {
        struct rb_tcp a = rb_clean_step(&v4, i), b = rb_clean_step(&v6, i);
        rb_put_frame(&p, T0 + (2 * i) * MS + back[i], &eth, &a, 0);
        rb_put_frame(&p, T0 + (2 * i + 1) * MS, &eth, &b, 0);
    }
    struct rb_result r;
    run_json(&p, &r);
    const char *s = rb_json_summary(r.json);
    assert_int_equal(rb_json_u64(s, "timestamps_backwards"), 2);
    expect_clean_conn(&r, CPORT4, "timestamps backwards");
    expect_clean_conn(&r, CPORT6, "timestamps backwards");
    char line[4096];
    conn_line(&r, CPORT4, line, sizeof line);
    assert_null(strstr(line, "\"duration\":-"));
    assert_null(strstr(line, "\"max_idle\":-"));
    assert_null(strstr(line, "\"handshake_rtt\":-"));
    rb_result_free(&r);
    rb_buf_free(&p);
}

static void test_sequence_wraparound(void **state)
{
    (void)state;
    /* Both sides' data crosses 2^32. */
    struct rb_flow v4 = rb_flow4(CPORT4, 80, 0xffffffc0u, 0xffffff80u);
    struct rb_flow v6 = rb_flow6(CPORT6, 443, 0xffffffffu, 0xfffffff0u);
    struct rb_buf p = {0};
    rb_pcap_header(&p, RB_LINKTYPE_ETHERNET, 262144);
    for (unsigned i = 0; i < RB_CLEAN_STEPS; i++) {
        struct rb_tcp a = rb_clean_step(&v4, i), b = rb_clean_step(&v6, i);
        rb_put_frame(&p, T0 + (2 * i) * MS, &eth, &a, 0);
        rb_put_frame(&p, T0 + (2 * i + 1) * MS, &eth, &b, 0);
    }
    struct rb_result r;
    run_json(&p, &r);
    expect_clean_conn(&r, CPORT4, "sequence wraparound");
    expect_clean_conn(&r, CPORT6, "sequence wraparound");
    rb_result_free(&r);
    rb_buf_free(&p);
}

static const struct rb_link raw = {.kind = RB_RAW};

/* More than 4 GiB in one connection: each segment declares 65495 bytes of
 * payload (IP total length 65535) and is captured up to the TCP header. The
 * client's sequence numbers wrap around 2^32 on the way. */
static void test_over_4gib(void **state)
{
    (void)state;
    const uint32_t seg = 65535 - 40, n = 65600;
    struct rb_flow fl = rb_flow4(CPORT4, 80, 0x80000000u, 1);
    struct rb_buf p = {0};
    rb_pcap_header(&p, RB_LINKTYPE_RAW, 262144);
    int64_t ts = T0;
    const uint32_t c = fl.cisn, s = fl.sisn;
    struct rb_tcp t = rb_seg(&fl, true, TCP_SYN, c, 0, 0);
    rb_put_frame(&p, ts += 1000, &raw, &t, 0);
    t = rb_seg(&fl, false, TCP_SYN | TCP_ACK, s, c + 1, 0);
    rb_put_frame(&p, ts += 1000, &raw, &t, 0);
    t = rb_seg(&fl, true, TCP_ACK, c + 1, s + 1, 0);
    rb_put_frame(&p, ts += 1000, &raw, &t, 0);
    uint32_t seq = c + 1;
    for (uint32_t i = 0; i < n; i++) {
        t = rb_seg(&fl, true, TCP_ACK, seq, s + 1, seg);
        rb_put_frame(&p, ts += 1000, &raw, &t, 40);
        seq += seg;
        t = rb_seg(&fl, false, TCP_ACK, s + 1, seq, 0);
        rb_put_frame(&p, ts += 1000, &raw, &t, 0);
    }
    t = rb_seg(&fl, true, TCP_FIN | TCP_ACK, seq, s + 1, 0);
    rb_put_frame(&p, ts += 1000, &raw, &t, 0);
    t = rb_seg(&fl, false, TCP_FIN | TCP_ACK, s + 1, seq + 1, 0);
    rb_put_frame(&p, ts += 1000, &raw, &t, 0);
    t = rb_seg(&fl, true, TCP_ACK, seq + 1, s + 2, 0);
    rb_put_frame(&p, ts += 1000, &raw, &t, 0);

    struct rb_result r;
    run_json(&p, &r);
    const uint64_t want = (uint64_t)seg * n;
    assert_true(want > UINT32_MAX);
    const struct rb_conn *x = rb_find_conn(&r, CPORT4);
    assert_non_null(x);
    assert_int_equal(r.n_conns, 1);
    if (x->bytes[SIDE_CLIENT] != want || x->verdict != VERDICT_CLOSED)
        fail_msg("over 4 GiB: %llu bytes counted, %llu sent; verdict %s",
                 (unsigned long long)x->bytes[SIDE_CLIENT], (unsigned long long)want,
                 verdict_name(x->verdict));
    assert_int_equal(x->pkts[SIDE_CLIENT], n + 4);
    assert_int_equal(x->pkts[SIDE_SERVER], n + 2);
    assert_int_equal(x->retransmits[SIDE_CLIENT], 0);
    char line[4096], expect[64];
    conn_line(&r, CPORT4, line, sizeof line);
    snprintf(expect, sizeof expect, "\"bytes\":{\"client\":%llu,\"server\":0}",
             (unsigned long long)want);
    if (!strstr(line, expect))
        fail_msg("over 4 GiB: JSON line lacks %s: %s", expect, line);
    rb_result_free(&r);
    rb_buf_free(&p);
}

/* One data segment retransmitted a million times (same timestamp: no
 * stall), then acknowledged and closed. Must stay linear and count exactly. */
static void test_million_retransmissions(void **state)
{
    (void)state;
    const uint32_t copies = 1000000;
    struct rb_flow fl = rb_flow4(CPORT4, 80, 100, 200);
    struct rb_buf p = {0};
    rb_pcap_header(&p, RB_LINKTYPE_RAW, 262144);
    const uint32_t c = fl.cisn, s = fl.sisn;
    int64_t ts = T0;
    struct rb_tcp t = rb_seg(&fl, true, TCP_SYN, c, 0, 0);
    rb_put_frame(&p, ts += 1000, &raw, &t, 0);
    t = rb_seg(&fl, false, TCP_SYN | TCP_ACK, s, c + 1, 0);
    rb_put_frame(&p, ts += 1000, &raw, &t, 0);
    t = rb_seg(&fl, true, TCP_ACK, c + 1, s + 1, 0);
    rb_put_frame(&p, ts += 1000, &raw, &t, 0);
    /* The record is the same every time: build it once. */
    uint8_t frame[2048];
    t = rb_seg(&fl, true, TCP_PSH | TCP_ACK, c + 1, s + 1, 1000);
    uint32_t wire = rb_frame_bytes(frame, sizeof frame, &raw, &t);
    ts += 1000;
    for (uint32_t i = 0; i < copies; i++)
        rb_pcap_record(&p, ts, frame, 40, wire);
    t = rb_seg(&fl, false, TCP_ACK, s + 1, c + 1001, 0);
    rb_put_frame(&p, ts += 1000, &raw, &t, 0);
    t = rb_seg(&fl, true, TCP_FIN | TCP_ACK, c + 1001, s + 1, 0);
    rb_put_frame(&p, ts += 1000, &raw, &t, 0);
    t = rb_seg(&fl, false, TCP_FIN | TCP_ACK, s + 1, c + 1002, 0);
    rb_put_frame(&p, ts += 1000, &raw, &t, 0);
    t = rb_seg(&fl, true, TCP_ACK, c + 1002, s + 2, 0);
    rb_put_frame(&p, ts += 1000, &raw, &t, 0);

    struct rb_result r;
    struct rb_opts o = {.json = true};
    rb_run(p.data, p.len, &o, &r);
    assert_true(r.opened && !r.damaged);
    assert_int_equal(r.frames, copies + 7);
    const struct rb_conn *x = rb_find_conn(&r, CPORT4);
    assert_non_null(x);
    assert_int_equal(x->pkts[SIDE_CLIENT], copies + 4);
    assert_int_equal(x->pkts[SIDE_SERVER], 3);
    assert_int_equal(x->retransmits[SIDE_CLIENT], copies - 1);
    assert_int_equal(x->bytes[SIDE_CLIENT], (uint64_t)copies * 1000);
    assert_int_equal(x->verdict, VERDICT_CLOSED);
    rb_result_free(&r);
    rb_buf_free(&p);
}

/* 100 000 data segments, each answered by a duplicate ACK whose SACK blocks
 * cover everything (the whole space, reversed blocks, the 2^31 edge), then
 * the first segment retransmitted as often. Linear, exact counts. */
static void test_sack_everything(void **state)
{
    (void)state;
    const uint32_t n = 100000;
    struct rb_flow fl = rb_flow6(CPORT6, 443, 0xfffff000u, 77);
    struct rb_buf p = {0};
    rb_pcap_header(&p, RB_LINKTYPE_RAW, 262144);
    const uint32_t c = fl.cisn, s = fl.sisn;
    int64_t ts = T0;
    static const uint8_t sack_ok[] = {2, 4, 0x05, 0xa0, 4, 2, 1, 1};
    struct rb_tcp t = rb_seg(&fl, true, TCP_SYN, c, 0, 0);
    t.opts = sack_ok;
    t.opts_len = sizeof sack_ok;
    rb_put_frame(&p, ts += 1000, &raw, &t, 0);
    t = rb_seg(&fl, false, TCP_SYN | TCP_ACK, s, c + 1, 0);
    t.opts = sack_ok;
    t.opts_len = sizeof sack_ok;
    rb_put_frame(&p, ts += 1000, &raw, &t, 0);
    t = rb_seg(&fl, true, TCP_ACK, c + 1, s + 1, 0);
    rb_put_frame(&p, ts += 1000, &raw, &t, 0);
    uint8_t sack[36] = {1, 1, 5, 34};
    uint32_t blocks[8] = {c + 1, c, 0, 0xffffffffu, 0x80000000u, 0x7fffffffu, c + 1001, c + 1};
    for (int i = 0; i < 8; i++) {
        sack[4 + 4 * i] = (uint8_t)(blocks[i] >> 24);
        sack[5 + 4 * i] = (uint8_t)(blocks[i] >> 16);
        sack[6 + 4 * i] = (uint8_t)(blocks[i] >> 8);
        sack[7 + 4 * i] = (uint8_t)blocks[i];
    }
    for (uint32_t i = 0; i < n; i++) {
        t = rb_seg(&fl, true, TCP_ACK, c + 1 + i * 100, s + 1, 100);
        rb_put_frame(&p, ts, &raw, &t, 0);
        t = rb_seg(&fl, false, TCP_ACK, s + 1, c + 1, 0);
        t.opts = sack;
        t.opts_len = sizeof sack;
        rb_put_frame(&p, ts, &raw, &t, 0);
    }
    for (uint32_t i = 0; i < n; i++) {
        t = rb_seg(&fl, true, TCP_ACK, c + 1, s + 1, 100);
        rb_put_frame(&p, ts, &raw, &t, 0);
    }
    uint32_t end = c + 1 + n * 100;
    t = rb_seg(&fl, false, TCP_ACK, s + 1, end, 0);
    rb_put_frame(&p, ts += 1000, &raw, &t, 0);
    t = rb_seg(&fl, true, TCP_FIN | TCP_ACK, end, s + 1, 0);
    rb_put_frame(&p, ts += 1000, &raw, &t, 0);
    t = rb_seg(&fl, false, TCP_FIN | TCP_ACK, s + 1, end + 1, 0);
    rb_put_frame(&p, ts += 1000, &raw, &t, 0);
    t = rb_seg(&fl, true, TCP_ACK, end + 1, s + 2, 0);
    rb_put_frame(&p, ts += 1000, &raw, &t, 0);

    struct rb_result r;
    run_json(&p, &r);
    assert_int_equal(r.frames, 3 * (uint64_t)n + 7);
    const char *sm = rb_json_summary(r.json);
    assert_int_equal(rb_json_u64(sm, "malformed"), 0);
    assert_int_equal(rb_json_u64(sm, "checksum_bad"), 0);
    const struct rb_conn *x = rb_find_conn(&r, CPORT6);
    assert_non_null(x);
    assert_int_equal(x->pkts[SIDE_CLIENT], 2 * n + 4);
    assert_int_equal(x->pkts[SIDE_SERVER], n + 3);
    assert_int_equal(x->retransmits[SIDE_CLIENT], n);
    assert_int_equal(x->bytes[SIDE_CLIENT], 2 * (uint64_t)n * 100);
    assert_int_equal(x->verdict, VERDICT_CLOSED);
    rb_result_free(&r);
    rb_buf_free(&p);
}

/* The clean pair on every link type (and stacks at the cap) still decodes:
 * the premise of the cases above. SLL2 with odd informational fields too. */
static void test_link_types(void **state)
{
    (void)state;
    struct {
        const char *name;
        uint32_t linktype;
        struct rb_link link;
    } links[] = {
        {"ethernet", RB_LINKTYPE_ETHERNET, {.kind = RB_ETH}},
        {"ethernet, 4 vlan tags", RB_LINKTYPE_ETHERNET,
         {.kind = RB_ETH, .vlans = DECODE_MAX_VLAN_TAGS}},
        {"ethernet, 8 mpls labels", RB_LINKTYPE_ETHERNET,
         {.kind = RB_ETH, .mpls = DECODE_MAX_MPLS_LABELS}},
        {"ethernet, vlan + mpls", RB_LINKTYPE_ETHERNET, {.kind = RB_ETH, .vlans = 2, .mpls = 3}},
        {"linux sll", RB_LINKTYPE_LINUX_SLL, {.kind = RB_SLL}},
        {"linux sll2", RB_LINKTYPE_LINUX_SLL2, {.kind = RB_SLL2}},
        {"linux sll2, odd fields", RB_LINKTYPE_LINUX_SLL2, {.kind = RB_SLL2, .sll2_odd = true}},
        {"raw", RB_LINKTYPE_RAW, {.kind = RB_RAW}},
        {"null", RB_LINKTYPE_NULL, {.kind = RB_NULL}},
        {"loop", RB_LINKTYPE_LOOP, {.kind = RB_LOOP}},
    };
    struct rb_flow v4 = rb_flow4(CPORT4, 80, 1000, 5000);
    struct rb_flow v6 = rb_flow6(CPORT6, 443, 7000, 9000);
    for (size_t k = 0; k < sizeof links / sizeof links[0]; k++) {
        struct rb_buf p = {0};
        rb_pcap_header(&p, links[k].linktype, 262144);
        for (unsigned i = 0; i < RB_CLEAN_STEPS; i++) {
            struct rb_tcp a = rb_clean_step(&v4, i), b = rb_clean_step(&v6, i);
            rb_put_frame(&p, T0 + (2 * i) * MS, &links[k].link, &a, 0);
            rb_put_frame(&p, T0 + (2 * i + 1) * MS, &links[k].link, &b, 0);
        }
        /* A frame shorter than the link header, in this link type. */
        static const uint8_t tiny[3] = {0x45, 0, 0};
        bool has_link_header = links[k].link.kind != RB_RAW;
        rb_pcap_record(&p, T0 + 100 * MS, tiny, 3, 3);
        struct rb_result r;
        run_json(&p, &r);
        const char *s = rb_json_summary(r.json);
        if (rb_json_u64(s, "tcp_segments") != 2 * RB_CLEAN_STEPS ||
            rb_json_u64(s, "checksum_bad") != 0)
            fail_msg("%s: %llu TCP segments, %llu bad checksums", links[k].name,
                     (unsigned long long)rb_json_u64(s, "tcp_segments"),
                     (unsigned long long)rb_json_u64(s, "checksum_bad"));
        assert_int_equal(rb_json_u64(s, "malformed"), 1);
        assert_int_equal(rb_json_u64(s, has_link_header ? "malformed_by_reason.link_short"
                                                        : "malformed_by_reason.ip_short"),
                         1);
        expect_clean_conn(&r, CPORT4, links[k].name);
        expect_clean_conn(&r, CPORT6, links[k].name);
        rb_result_free(&r);
        rb_buf_free(&p);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_garbage_premise),
        cmocka_unit_test(test_each_case),
        cmocka_unit_test(test_all_cases_together),
        cmocka_unit_test(test_caplen_gt_wirelen),
        cmocka_unit_test(test_timestamps_backwards),
        cmocka_unit_test(test_sequence_wraparound),
        cmocka_unit_test(test_link_types),
        cmocka_unit_test(test_over_4gib),
        cmocka_unit_test(test_sack_everything),
        cmocka_unit_test(test_million_retransmissions),
    };
    return cmocka_run_group_tests_name("malformed", tests, NULL, NULL);
}
