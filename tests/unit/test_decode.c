/* SPDX-License-Identifier: MIT */
/*
 * test_decode.c - unit tests for the frame decoder (src/decode.c).
 *
 * Frames are assembled byte by byte from a small description (struct spec):
 * a link layer (Ethernet with tags / MPLS, SLL, SLL2, NULL, LOOP, raw), an
 * IPv4 or IPv6 header with options or extension headers, and a TCP header
 * with options and payload, optionally wrapped into an ICMP unreachable that
 * quotes it. The TCP checksum is computed here with a plain byte-wise
 * RFC 1071 sum, independent of the decoder's.
 *
 * Every decode goes through decode_bytes(), which hands the decoder an exact
 * heap copy of the frame (so ASan sees any read past caplen) and checks that
 * exactly one counter moved: one reason for SKIPPED / MALFORMED, tcp_segments
 * or icmp_errors otherwise. The table cases are then also cut at every length
 * and randomly mutated.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"

/* ---------------------------------------------------------------------------
 * Frame assembly
 */
#define FRAME_MAX 2048

struct buf {
    uint8_t b[FRAME_MAX];
    uint32_t n;
};

static void put8(struct buf *p, unsigned v)
{
    assert_true(p->n < FRAME_MAX);
    p->b[p->n++] = (uint8_t)v;
}

static void put16(struct buf *p, unsigned v)
{
    put8(p, (v >> 8) & 0xffu);
    put8(p, v & 0xffu);
}

static void put32(struct buf *p, uint32_t v)
{
    put16(p, v >> 16);
    put16(p, v & 0xffffu);
}

static void putn(struct buf *p, const uint8_t *s, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        put8(p, s[i]);
    }
}

static void set16(struct buf *p, uint32_t at, unsigned v)
{
    p->b[at] = (uint8_t)(v >> 8);
    p->b[at + 1] = (uint8_t)v;
}

static const uint8_t SRC4[4] = {192, 0, 2, 1};
static const uint8_t DST4[4] = {198, 51, 100, 2};
static const uint8_t RTR4[4] = {203, 0, 113, 9};
static const uint8_t SRC6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
static const uint8_t DST6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
static const uint8_t RTR6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x99};

#define SPORT     40000
#define DPORT     443
#define SEQ       0x01020304u
#define ACK       0x0a0b0c0du
#define WINDOW    64240
#define ICMP_TTL  250
#define LEN_ZERO  0x10000u /* spec.ip_len: write 0 as the IP length */
#define VNIBBLE_0 0x10u    /* spec.vnibble: write a version nibble of 0 */

/* ICMP types used here */
#define ICMP4_UNREACH 3
#define ICMP4_ECHO    8
#define ICMP6_UNREACH 1
#define ICMP6_ECHO    128

/* Options used by several tests. */
static const uint8_t OPTS_SYN[20] = {
    2, 4,  0x05, 0xb4,                         /* MSS 1460 */
    1, 3,  3,    7,                            /* NOP, window scale 7 */
    4, 2,                                      /* SACK permitted */
    8, 10, 0,    0,    0x12, 0x34, 0, 0, 0, 0, /* TS val 0x1234, ecr 0 */
};
static const uint8_t OPTS_SACK[40] = {
    1, 1, 5, 26, /* NOP NOP SACK, 3 blocks */
    0, 0, 0, 100, 0, 0, 0, 200, 0,  0,    1,    0,    0,    0,    2,    0,    0,    0, 3,
    0, 0, 0, 4,   0, 1, 1, 8,   10, 0xaa, 0xbb, 0xcc, 0xdd, 0x11, 0x22, 0x33, 0x44, /* NOP NOP TS */
};
static const uint8_t OPTS_SACK4[36] = {
    5, 34, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4,
    0, 0,  0, 5, 0, 0, 0, 6, 0, 0, 0, 7, 0, 0, 0, 8, 1, 0,
};
static const uint8_t OPTS_WS15[4] = {1, 3, 3, 15};
static const uint8_t OPTS_LEN0[4] = {2, 0, 0, 0};
static const uint8_t OPTS_LEN1[4] = {1, 1, 3, 1};
static const uint8_t OPTS_OVERRUN[4] = {1, 8, 10, 0};             /* TS claims 10 bytes, 3 left */
static const uint8_t OPTS_NO_LEN_BYTE[4] = {1, 1, 1, 2};          /* MSS kind as the last byte */
static const uint8_t OPTS_UNKNOWN[8] = {30, 6, 1, 2, 3, 4, 1, 0}; /* kind 30 skipped */
static const uint8_t OPTS_MSS_BAD_LEN[4] = {2, 3, 0, 1};          /* MSS of length 3: ignored */
static const uint8_t OPTS_MSS_EOL[8] = {2, 4, 0x05, 0x78, 0, 0xee, 0xee, 0xee};
static const uint8_t OPTS_MSS_ONLY[4] = {2, 4, 0x05, 0xb4};         /* a scanner's SYN */
static const uint8_t OPTS_MSS_NOP[8] = {2, 4, 0x05, 0xb4, 1, 1, 1, 1}; /* the same, then NOPs */

/* What to build. Zero values mean "the usual". */
struct spec {
    enum link_type link;
    /* link layer */
    uint32_t af;        /* NULL / LOOP family (0: 2 or 30) */
    bool af_little;     /* NULL: little-endian capturing host */
    uint16_t ethertype; /* 0: by IP version */
    uint8_t ntags;      /* VLAN tags */
    uint16_t tpid[6];   /* their TPIDs (0: 0x8100) */
    uint8_t nlabels;    /* MPLS labels (after the tags) */
    uint8_t halen;      /* SLL / SLL2 address length (0: 6) */
    uint16_t pad;       /* bytes after the IP packet (padding, FCS) */
    /* IP */
    uint8_t ipver;      /* 4 or 6 (0: 4) */
    uint8_t vnibble;    /* version nibble written (0: ipver, VNIBBLE_0: 0) */
    uint8_t proto;      /* upper layer (0: TCP) */
    uint8_t ihl;        /* IPv4 IHL (0: from v4_optlen) */
    uint8_t v4_optlen;  /* IPv4 option bytes (NOPs) */
    uint16_t frag;      /* IPv4 flags/offset field, or the IPv6 fragment header's */
    uint32_t ip_len;    /* IPv4 total / IPv6 payload length written (0: right, LEN_ZERO: 0) */
    int32_t len_adjust; /* added to the right length */
    uint8_t nexts;      /* IPv6 extension headers */
    uint8_t ext[12];
    uint8_t last_ext_len; /* length byte of the last extension header (0: usual) */
    uint8_t segleft;      /* routing header segments left */
    /* TCP */
    const uint8_t *opts;
    uint8_t optlen;
    uint8_t doff;      /* 0: 5 + optlen / 4 */
    uint8_t flags;     /* 0: ACK */
    uint8_t tcp_bytes; /* write only this much of the TCP header (0: all) */
    uint16_t payload;
    bool bad_csum;
    /* ICMP: the packet above is the quoted one */
    bool icmp;
    uint8_t icmp_type; /* 0: unreachable */
    uint8_t icmp_code;
    uint8_t quote_tcp; /* TCP bytes quoted (0: 8) */
};

static unsigned spec_ipver(const struct spec *s)
{
    return s->ipver ? s->ipver : 4;
}

/* Byte-wise RFC 1071 reference checksum. */
static uint16_t ref_csum(const uint8_t *pseudo, uint32_t plen, const uint8_t *seg, uint32_t slen)
{
    uint32_t sum = 0;
    for (uint32_t i = 0; i < plen; i += 2) {
        sum += (uint32_t)pseudo[i] << 8 | pseudo[i + 1];
    }
    for (uint32_t i = 0; i < slen; i++) {
        sum += (i & 1) ? seg[i] : (uint32_t)seg[i] << 8;
    }
    while (sum >> 16) {
        sum = (sum & 0xffffu) + (sum >> 16);
    }
    return (uint16_t)~sum;
}

static void put_ext(struct buf *p, const struct spec *s, unsigned type, unsigned next, bool last)
{
    switch (type) {
    case 44: /* fragment */
        put8(p, next);
        put8(p, 0);
        put16(p, s->frag);
        put32(p, 0xdeadbeef);
        return;
    case 51: /* AH: (1 + 2) * 4 = 12 bytes */
        put8(p, next);
        put8(p, last && s->last_ext_len ? s->last_ext_len : 1);
        put16(p, 0);
        put32(p, 0x100);
        put32(p, 1);
        return;
    case 43: /* routing, 8 bytes */
        put8(p, next);
        put8(p, last && s->last_ext_len ? s->last_ext_len : 0);
        put8(p, 4);
        put8(p, s->segleft);
        put32(p, 0);
        return;
    default: /* hop-by-hop, destination options, mobility: 8 bytes, PadN */
        put8(p, next);
        put8(p, last && s->last_ext_len ? s->last_ext_len : 0);
        put8(p, 1);
        put8(p, 4);
        put32(p, 0);
        return;
    }
}

/* IP header(s) + TCP (or 8 filler bytes for another protocol) + payload.
 * Returns the offset of the TCP header in p. */
static uint32_t build_ip(const struct spec *s, struct buf *p)
{
    unsigned ver = spec_ipver(s);
    unsigned vnib = s->vnibble ? s->vnibble & 0x0fu : ver;
    unsigned l4 = s->proto ? s->proto : 6;
    uint32_t ip0 = p->n, lenpos;
    const uint8_t *src = ver == 4 ? SRC4 : SRC6, *dst = ver == 4 ? DST4 : DST6;
    uint32_t alen = ver == 4 ? 4 : 16;

    if (ver == 4) {
        unsigned ihl = s->ihl ? s->ihl : 5u + s->v4_optlen / 4u;
        put8(p, vnib << 4 | (ihl & 0x0fu));
        put8(p, 0);
        lenpos = p->n;
        put16(p, 0);
        put16(p, 0x1234);
        put16(p, s->frag);
        put8(p, 64);
        put8(p, l4);
        put16(p, 0);
        putn(p, src, 4);
        putn(p, dst, 4);
        for (unsigned i = 0; i < s->v4_optlen; i++) {
            put8(p, 1);
        }
    } else {
        put32(p, (uint32_t)vnib << 28 | 0x12345u);
        lenpos = p->n;
        put16(p, 0);
        put8(p, s->nexts ? s->ext[0] : l4);
        put8(p, 64);
        putn(p, src, 16);
        putn(p, dst, 16);
        for (unsigned i = 0; i < s->nexts; i++) {
            bool last = i + 1u == s->nexts;
            put_ext(p, s, s->ext[i], last ? l4 : s->ext[i + 1], last);
        }
    }
    uint32_t tcp0 = p->n;
    if (l4 == 6) {
        struct buf t = {.n = 0};
        unsigned doff = s->doff ? s->doff : 5u + s->optlen / 4u;
        put16(&t, SPORT);
        put16(&t, DPORT);
        put32(&t, SEQ);
        put32(&t, ACK);
        put8(&t, (doff & 0x0fu) << 4);
        put8(&t, s->flags ? s->flags : TCP_ACK);
        put16(&t, WINDOW);
        put16(&t, 0);
        put16(&t, 0);
        putn(&t, s->opts, s->optlen);
        if (s->tcp_bytes) {
            t.n = s->tcp_bytes;
        }
        for (unsigned i = 0; i < s->payload; i++) {
            put8(&t, i * 7u + 3u);
        }
        uint8_t pseudo[40];
        uint32_t plen;
        memcpy(pseudo, src, alen);
        memcpy(pseudo + alen, dst, alen);
        if (ver == 4) {
            const uint8_t tail[4] = {0, 6, (uint8_t)(t.n >> 8), (uint8_t)t.n};
            memcpy(pseudo + 8, tail, 4);
            plen = 12;
        } else {
            const uint8_t tail[8] = {0, 0, (uint8_t)(t.n >> 8), (uint8_t)t.n, 0, 0, 0, 6};
            memcpy(pseudo + 32, tail, 8);
            plen = 40;
        }
        if (t.n >= 18) {
            set16(&t, 16, ref_csum(pseudo, plen, t.b, t.n) ^ (s->bad_csum ? 0x5555u : 0u));
        }
        putn(p, t.b, t.n);
    } else {
        put32(p, (uint32_t)SPORT << 16 | DPORT); /* UDP-like filler */
        put32(p, 8u + s->payload);
        for (unsigned i = 0; i < s->payload; i++) {
            put8(p, i);
        }
    }
    int64_t len = (int64_t)(p->n - ip0) - (ver == 4 ? 0 : 40) + s->len_adjust;
    if (s->ip_len == LEN_ZERO) {
        len = 0;
    } else if (s->ip_len) {
        len = s->ip_len;
    }
    set16(p, lenpos, (unsigned)len);
    return tcp0;
}

/* An ICMP unreachable from the router to the original sender, quoting the
 * packet s describes. */
static void build_icmp(const struct spec *s, struct buf *p)
{
    struct buf inner = {.n = 0};
    uint32_t tcp0 = build_ip(s, &inner);
    uint32_t qlen = tcp0 + (s->quote_tcp ? s->quote_tcp : 8u);
    if (qlen > inner.n) {
        qlen = inner.n;
    }
    uint32_t ip0 = p->n, lenpos;
    if (spec_ipver(s) == 4) {
        put8(p, 0x45);
        put8(p, 0);
        lenpos = p->n;
        put16(p, 0);
        put32(p, 0);
        put8(p, ICMP_TTL);
        put8(p, 1);
        put16(p, 0);
        putn(p, RTR4, 4);
        putn(p, SRC4, 4);
        put8(p, s->icmp_type ? s->icmp_type : ICMP4_UNREACH);
    } else {
        put32(p, 0x60000000u);
        lenpos = p->n;
        put16(p, 0);
        put8(p, 58);
        put8(p, ICMP_TTL);
        putn(p, RTR6, 16);
        putn(p, SRC6, 16);
        put8(p, s->icmp_type ? s->icmp_type : ICMP6_UNREACH);
    }
    put8(p, s->icmp_code);
    put16(p, 0);
    put32(p, 0);
    putn(p, inner.b, qlen);
    set16(p, lenpos, p->n - ip0 - (spec_ipver(s) == 4 ? 0u : 40u));
}

/* After the link header's protocol field: VLAN tags, then MPLS labels. */
static void put_tags_labels(struct buf *p, const struct spec *s, unsigned ip_type)
{
    for (unsigned i = 0; i < s->ntags; i++) {
        put16(p, 100 + i); /* TCI */
        if (i + 1u < s->ntags) {
            put16(p, s->tpid[i + 1] ? s->tpid[i + 1] : 0x8100u);
        } else {
            put16(p, s->nlabels ? 0x8847u : ip_type);
        }
    }
    for (unsigned i = 0; i < s->nlabels; i++) {
        bool bos = i + 1u == s->nlabels;
        put32(p, (16u + i) << 12 | (bos ? 0x100u : 0u) | 64u);
    }
}

static void build(const struct spec *s, struct buf *p)
{
    unsigned ver = spec_ipver(s);
    unsigned ip_type = s->ethertype ? s->ethertype : ver == 4 ? 0x0800u : 0x86ddu;
    unsigned first = s->ntags     ? (s->tpid[0] ? s->tpid[0] : 0x8100u)
                     : s->nlabels ? 0x8847u
                                  : ip_type;
    unsigned halen = s->halen ? s->halen : 6u;
    uint32_t af = s->af ? s->af : ver == 4 ? 2u : 30u;

    p->n = 0;
    switch (s->link) {
    case LINK_ETHERNET:
        for (unsigned i = 0; i < 12; i++) {
            put8(p, i < 6 ? 0x02 : 0x04);
        }
        put16(p, first);
        put_tags_labels(p, s, ip_type);
        break;
    case LINK_LINUX_SLL:
        put16(p, 0);
        put16(p, 1);
        put16(p, halen);
        put32(p, 0x02aabbcc);
        put32(p, 0xddee0000u);
        put16(p, first);
        put_tags_labels(p, s, ip_type);
        break;
    case LINK_LINUX_SLL2:
        put16(p, first);
        put16(p, 0);
        put32(p, 3);
        put16(p, 1);
        put8(p, 4);
        put8(p, halen);
        put32(p, 0x02aabbcc);
        put32(p, 0xddee0000u);
        put_tags_labels(p, s, ip_type);
        break;
    case LINK_NULL:
        if (s->af_little) {
            put32(p, (af & 0xffu) << 24 | (af & 0xff00u) << 8 | (af >> 8 & 0xff00u) | af >> 24);
        } else {
            put32(p, af);
        }
        break;
    case LINK_LOOP:
        put32(p, af);
        break;
    default:
        break;
    }
    if (s->icmp) {
        build_icmp(s, p);
    } else {
        (void)build_ip(s, p);
    }
    for (unsigned i = 0; i < s->pad; i++) {
        put8(p, 0);
    }
}

/* ---------------------------------------------------------------------------
 * Decoding with invariant checks
 */
struct result {
    enum decode_status st;
    enum decode_reason why; /* the reason counted, for SKIPPED / MALFORMED */
};

static uint64_t sum_reasons(const struct decode_counters *c)
{
    uint64_t s = 0;
    for (unsigned r = 0; r < DR__COUNT; r++) {
        s += c->by_reason[r];
    }
    return s;
}

static struct result decode_bytes(const uint8_t *bytes, uint32_t caplen, uint32_t wirelen,
                                  enum link_type link, const struct decode_config *cfg,
                                  struct decoded *out, struct decode_counters *cnt)
{
    uint8_t *copy = NULL;
    if (caplen) {
        copy = malloc(caplen); /* exact size: ASan catches any read past caplen */
        assert_non_null(copy);
        memcpy(copy, bytes, caplen);
    }
    const struct decode_counters before = *cnt;
    const struct frame f = {
        .ts_ns = 1, .number = 1, .caplen = caplen, .wirelen = wirelen, .link = link, .bytes = copy};
    struct result r = {.st = decode_frame(&f, cfg, out, cnt), .why = DR__COUNT};
    free(copy);

    uint64_t reasons = sum_reasons(cnt) - sum_reasons(&before);
    uint64_t tcp = cnt->tcp_segments - before.tcp_segments;
    uint64_t icmp = cnt->icmp_errors - before.icmp_errors;
    for (unsigned i = 0; i < DR__COUNT; i++) {
        if (cnt->by_reason[i] != before.by_reason[i]) {
            r.why = (enum decode_reason)i;
        }
    }
    switch (r.st) {
    case DECODE_TCP:
    case DECODE_ICMP:
        assert_int_equal(reasons, 0);
        assert_int_equal(tcp, r.st == DECODE_TCP ? 1 : 0);
        assert_int_equal(icmp, r.st == DECODE_ICMP ? 1 : 0);
        assert_true(out->tcp.ip_version == 4 || out->tcp.ip_version == 6);
        assert_true((r.st == DECODE_ICMP) == (out->icmp == ICMP_KIND_UNREACH));
        assert_true(out->tcp.sack_count <= DECODE_MAX_SACK);
        assert_true(out->tcp.wscale <= 14);
        if (out->tcp.ip_version == 4) {
            for (unsigned i = 4; i < 16; i++) {
                assert_int_equal(out->tcp.src.b[i], 0);
                assert_int_equal(out->tcp.dst.b[i], 0);
            }
        }
        break;
    case DECODE_SKIPPED:
    case DECODE_MALFORMED:
        assert_int_equal(reasons, 1);
        assert_int_equal(tcp + icmp, 0);
        assert_true(r.why < DR__COUNT);
        assert_int_equal(decode_reason_is_malformed(r.why), r.st == DECODE_MALFORMED);
        assert_int_equal(cnt->checksum_bad, before.checksum_bad);
        assert_int_equal(cnt->checksum_unverified, before.checksum_unverified);
        break;
    default:
        fail_msg("status %d out of range", (int)r.st);
    }
    return r;
}

static struct result decode_buf(const struct buf *p, enum link_type link, struct decoded *out,
                                struct decode_counters *cnt)
{
    return decode_bytes(p->b, p->n, p->n, link, NULL, out, cnt);
}

/* ---------------------------------------------------------------------------
 * The table
 */
#define X_OPTS_CUT   0x01u /* options_cut set and counted */
#define X_UNVERIFIED 0x02u /* checksum not verified */
#define X_V4_OPTIONS 0x04u /* ipv4_options counted */
#define X_CSUM_BAD   0x08u /* checksum verified and wrong */
#define X_NO_FLAGS   0x10u /* ICMP: the quote stops before the flags */

struct tcase {
    const char *name;
    struct spec s;
    enum decode_status st;
    enum decode_reason why; /* SKIPPED / MALFORMED */
    uint32_t payload;       /* DECODE_TCP: payload_bytes */
    unsigned x;             /* X_* */
};

#define TCP_OK(n, pl, ...)                                                                         \
    {                                                                                              \
        .name = n, .s = {__VA_ARGS__}, .st = DECODE_TCP, .payload = pl                             \
    }
#define TCP_X(n, pl, xx, ...)                                                                      \
    {                                                                                              \
        .name = n, .s = {__VA_ARGS__}, .st = DECODE_TCP, .payload = pl, .x = xx                    \
    }
#define ICMP_OK(n, xx, ...)                                                                        \
    {                                                                                              \
        .name = n, .s = {__VA_ARGS__}, .st = DECODE_ICMP, .x = xx                                  \
    }
#define SKIP(n, r, ...)                                                                            \
    {                                                                                              \
        .name = n, .s = {__VA_ARGS__}, .st = DECODE_SKIPPED, .why = r                              \
    }
#define BAD(n, r, ...)                                                                             \
    {                                                                                              \
        .name = n, .s = {__VA_ARGS__}, .st = DECODE_MALFORMED, .why = r                            \
    }

static const struct tcase cases[] = {
    /* link layers */
    TCP_OK("ethernet_v4", 100, .link = LINK_ETHERNET, .payload = 100),
    TCP_OK("ethernet_v6", 100, .link = LINK_ETHERNET, .ipver = 6, .payload = 100),
    TCP_OK("sll_v4", 10, .link = LINK_LINUX_SLL, .payload = 10),
    TCP_OK("sll_v6", 10, .link = LINK_LINUX_SLL, .ipver = 6, .payload = 10),
    TCP_OK("sll_vlan", 10, .link = LINK_LINUX_SLL, .ntags = 1, .payload = 10),
    TCP_OK("sll_long_halen", 0, .link = LINK_LINUX_SLL, .halen = 20),
    TCP_OK("sll2_v4", 10, .link = LINK_LINUX_SLL2, .payload = 10),
    TCP_OK("sll2_v6", 10, .link = LINK_LINUX_SLL2, .ipver = 6, .payload = 10),
    TCP_OK("sll2_vlan", 10, .link = LINK_LINUX_SLL2, .ntags = 1, .ipver = 6, .payload = 10),
    TCP_OK("sll2_long_halen", 0, .link = LINK_LINUX_SLL2, .halen = 255),
    SKIP("sll_arp", DR_NOT_IP, .link = LINK_LINUX_SLL, .ethertype = 0x0806),
    TCP_OK("null_v4_be", 5, .link = LINK_NULL, .af = 2, .payload = 5),
    TCP_OK("null_v4_le", 5, .link = LINK_NULL, .af = 2, .af_little = true, .payload = 5),
    TCP_OK("null_v6_24_be", 5, .link = LINK_NULL, .ipver = 6, .af = 24, .payload = 5),
    TCP_OK("null_v6_24_le", 5, .link = LINK_NULL, .ipver = 6, .af = 24, .af_little = true,
           .payload = 5),
    TCP_OK("null_v6_28_be", 5, .link = LINK_NULL, .ipver = 6, .af = 28, .payload = 5),
    TCP_OK("null_v6_28_le", 5, .link = LINK_NULL, .ipver = 6, .af = 28, .af_little = true,
           .payload = 5),
    TCP_OK("null_v6_30_be", 5, .link = LINK_NULL, .ipver = 6, .af = 30, .payload = 5),
    TCP_OK("null_v6_30_le", 5, .link = LINK_NULL, .ipver = 6, .af = 30, .af_little = true,
           .payload = 5),
    SKIP("null_af_other", DR_NOT_IP, .link = LINK_NULL, .af = 7),
    BAD("null_af_v4_carries_v6", DR_IP_VERSION, .link = LINK_NULL, .af = 2, .ipver = 6),
    TCP_OK("loop_v4", 1, .link = LINK_LOOP, .payload = 1),
    TCP_OK("loop_v6_24", 1, .link = LINK_LOOP, .ipver = 6, .af = 24, .payload = 1),
    TCP_OK("loop_v6_28", 1, .link = LINK_LOOP, .ipver = 6, .af = 28, .payload = 1),
    TCP_OK("loop_v6_30", 1, .link = LINK_LOOP, .ipver = 6, .af = 30, .payload = 1),
    SKIP("loop_little_endian", DR_NOT_IP, .link = LINK_LOOP, .af = 0x02000000),
    TCP_OK("raw_v4", 3, .link = LINK_RAW, .payload = 3),
    TCP_OK("raw_v6", 3, .link = LINK_RAW, .ipver = 6, .payload = 3),
    BAD("raw_version_5", DR_IP_VERSION, .link = LINK_RAW, .vnibble = 5),
    TCP_OK("linktype_ipv4", 3, .link = LINK_IPV4, .payload = 3),
    TCP_OK("linktype_ipv6", 3, .link = LINK_IPV6, .ipver = 6, .payload = 3),
    BAD("linktype_ipv4_carries_v6", DR_IP_VERSION, .link = LINK_IPV4, .ipver = 6),
    BAD("linktype_ipv6_carries_v4", DR_IP_VERSION, .link = LINK_IPV6, .ipver = 4),
    BAD("ethertype_v4_carries_v6", DR_IP_VERSION, .link = LINK_ETHERNET, .ipver = 6,
        .ethertype = 0x0800),
    SKIP("ethernet_arp", DR_NOT_IP, .link = LINK_ETHERNET, .ethertype = 0x0806),
    SKIP("ethernet_8023_length", DR_NOT_IP, .link = LINK_ETHERNET, .ethertype = 0x05dc),
    /* VLAN */
    TCP_OK("vlan_8021q", 20, .link = LINK_ETHERNET, .ntags = 1, .payload = 20),
    TCP_OK("qinq_88a8", 20, .link = LINK_ETHERNET, .ntags = 2, .tpid = {0x88a8, 0x8100},
           .payload = 20),
    TCP_OK("qinq_9100", 20, .link = LINK_ETHERNET, .ntags = 2, .tpid = {0x9100, 0x8100}, .ipver = 6,
           .payload = 20),
    TCP_OK("vlan_4_tags", 20, .link = LINK_ETHERNET, .ntags = 4, .payload = 20),
    BAD("vlan_5_tags", DR_VLAN_DEPTH, .link = LINK_ETHERNET, .ntags = 5, .payload = 20),
    SKIP("vlan_arp", DR_NOT_IP, .link = LINK_ETHERNET, .ntags = 1, .ethertype = 0x0806),
    /* MPLS */
    TCP_OK("mpls_2_v4", 20, .link = LINK_ETHERNET, .nlabels = 2, .payload = 20),
    TCP_OK("mpls_1_v6", 20, .link = LINK_ETHERNET, .nlabels = 1, .ipver = 6, .payload = 20),
    TCP_OK("vlan_mpls", 20, .link = LINK_ETHERNET, .ntags = 1, .nlabels = 3, .payload = 20),
    TCP_OK("mpls_8", 20, .link = LINK_ETHERNET, .nlabels = 8, .payload = 20),
    BAD("mpls_9", DR_MPLS_DEPTH, .link = LINK_ETHERNET, .nlabels = 9, .payload = 20),
    SKIP("mpls_not_ip", DR_NOT_IP, .link = LINK_ETHERNET, .nlabels = 1, .vnibble = VNIBBLE_0),
    /* IPv4 */
    TCP_X("v4_options", 30, X_V4_OPTIONS, .link = LINK_ETHERNET, .v4_optlen = 12, .payload = 30),
    TCP_OK("v4_eth_padding", 0, .link = LINK_ETHERNET, .pad = 6),
    TCP_OK("v4_eth_padding_fcs", 2, .link = LINK_ETHERNET, .payload = 2, .pad = 10),
    TCP_OK("v6_trailer", 7, .link = LINK_ETHERNET, .ipver = 6, .payload = 7, .pad = 4),
    TCP_OK("v4_odd_payload", 101, .link = LINK_RAW, .payload = 101),
    TCP_OK("v4_df", 9, .link = LINK_RAW, .frag = 0x4000, .payload = 9),
    TCP_X("v4_first_fragment", 9, X_UNVERIFIED, .link = LINK_RAW, .frag = 0x2000, .payload = 9),
    SKIP("v4_later_fragment", DR_IP_FRAGMENT, .link = LINK_RAW, .frag = 0x0010, .payload = 9),
    SKIP("v4_udp", DR_NOT_TCP, .link = LINK_ETHERNET, .proto = 17, .payload = 9),
    BAD("v4_ihl_4", DR_IPV4_HEADER_LENGTH, .link = LINK_RAW, .ihl = 4),
    BAD("v4_ihl_0", DR_IPV4_HEADER_LENGTH, .link = LINK_RAW, .ihl = 0x10),
    BAD("v4_ihl_past_frame", DR_IPV4_HEADER_LENGTH, .link = LINK_RAW, .ihl = 15),
    BAD("v4_total_lt_ihl", DR_IPV4_TOTAL_LENGTH, .link = LINK_RAW, .v4_optlen = 4, .ip_len = 20),
    TCP_X("v4_tso_total_0", 1000, X_UNVERIFIED, .link = LINK_ETHERNET, .ip_len = LEN_ZERO,
          .payload = 1000),
    TCP_X("v4_total_past_wire", 50, X_UNVERIFIED, .link = LINK_ETHERNET, .len_adjust = 100,
          .payload = 50),
    /* IPv6 */
    TCP_OK("v6_hbh_dstopts", 11, .link = LINK_ETHERNET, .ipver = 6, .nexts = 2, .ext = {0, 60},
           .payload = 11),
    TCP_OK("v6_all_ext", 11, .link = LINK_RAW, .ipver = 6, .nexts = 6,
           .ext = {0, 43, 44, 51, 60, 135}, .payload = 11),
    TCP_X("v6_routing_segleft", 11, X_UNVERIFIED, .link = LINK_RAW, .ipver = 6, .nexts = 1,
          .ext = {43}, .segleft = 2, .payload = 11),
    TCP_OK("v6_8_ext", 11, .link = LINK_RAW, .ipver = 6, .nexts = 8,
           .ext = {0, 60, 60, 60, 60, 60, 60, 60}, .payload = 11),
    BAD("v6_9_ext", DR_IPV6_EXT_CHAIN, .link = LINK_RAW, .ipver = 6, .nexts = 9,
        .ext = {0, 60, 60, 60, 60, 60, 60, 60, 60}, .payload = 11),
    BAD("v6_ext_overrun", DR_IPV6_EXT_CHAIN, .link = LINK_RAW, .ipver = 6, .nexts = 2,
        .ext = {0, 60}, .last_ext_len = 200, .payload = 11),
    BAD("v6_ah_overrun", DR_IPV6_EXT_CHAIN, .link = LINK_RAW, .ipver = 6, .nexts = 1, .ext = {51},
        .last_ext_len = 100),
    TCP_X("v6_first_fragment", 11, X_UNVERIFIED, .link = LINK_RAW, .ipver = 6, .nexts = 1,
          .ext = {44}, .frag = 0x0001, .payload = 11),
    TCP_OK("v6_atomic_fragment", 11, .link = LINK_RAW, .ipver = 6, .nexts = 1, .ext = {44},
           .payload = 11),
    SKIP("v6_later_fragment", DR_IP_FRAGMENT, .link = LINK_RAW, .ipver = 6, .nexts = 1, .ext = {44},
         .frag = 0x0008, .payload = 11),
    SKIP("v6_esp", DR_NOT_TCP, .link = LINK_RAW, .ipver = 6, .proto = 50, .payload = 11),
    SKIP("v6_no_next", DR_NOT_TCP, .link = LINK_RAW, .ipver = 6, .nexts = 1, .ext = {0},
         .proto = 59),
    SKIP("v6_udp", DR_NOT_TCP, .link = LINK_RAW, .ipver = 6, .proto = 17),
    TCP_X("v6_jumbo", 1200, X_UNVERIFIED, .link = LINK_RAW, .ipver = 6, .nexts = 1, .ext = {0},
          .ip_len = LEN_ZERO, .payload = 1200),
    TCP_X("v6_plen_past_wire", 40, X_UNVERIFIED, .link = LINK_RAW, .ipver = 6, .len_adjust = 1000,
          .payload = 40),
    /* TCP */
    TCP_OK("tcp_syn_options", 0, .link = LINK_ETHERNET, .opts = OPTS_SYN, .optlen = 20,
           .flags = TCP_SYN),
    TCP_OK("tcp_sack_ts", 100, .link = LINK_ETHERNET, .ipver = 6, .opts = OPTS_SACK, .optlen = 40,
           .payload = 100),
    TCP_OK("tcp_sack_4_blocks", 0, .link = LINK_RAW, .opts = OPTS_SACK4, .optlen = 36),
    TCP_OK("tcp_unknown_option", 0, .link = LINK_RAW, .opts = OPTS_UNKNOWN, .optlen = 8),
    TCP_OK("tcp_mss_bad_len", 0, .link = LINK_RAW, .opts = OPTS_MSS_BAD_LEN, .optlen = 4),
    BAD("tcp_opt_len_0", DR_TCP_OPTIONS, .link = LINK_ETHERNET, .opts = OPTS_LEN0, .optlen = 4),
    BAD("tcp_opt_len_1", DR_TCP_OPTIONS, .link = LINK_ETHERNET, .opts = OPTS_LEN1, .optlen = 4),
    BAD("tcp_opt_overrun", DR_TCP_OPTIONS, .link = LINK_ETHERNET, .opts = OPTS_OVERRUN,
        .optlen = 4),
    BAD("tcp_opt_no_len_byte", DR_TCP_OPTIONS, .link = LINK_RAW, .opts = OPTS_NO_LEN_BYTE,
        .optlen = 4),
    BAD("tcp_doff_4", DR_TCP_DATA_OFFSET, .link = LINK_ETHERNET, .doff = 4, .payload = 10),
    BAD("tcp_doff_past_payload", DR_TCP_DATA_OFFSET, .link = LINK_ETHERNET, .doff = 15,
        .payload = 10),
    BAD("tcp_header_past_ip", DR_TCP_DATA_OFFSET, .link = LINK_RAW, .tcp_bytes = 12),
    /* checksums */
    TCP_X("tcp_checksum_bad", 10, X_CSUM_BAD, .link = LINK_ETHERNET, .payload = 10,
          .bad_csum = true),
    TCP_X("tcp_checksum_bad_v6", 11, X_CSUM_BAD, .link = LINK_RAW, .ipver = 6, .payload = 11,
          .bad_csum = true),
    /* ICMP errors quoting TCP */
    ICMP_OK("icmp4_syn_8", X_NO_FLAGS, .link = LINK_ETHERNET, .icmp = true, .flags = TCP_SYN),
    ICMP_OK("icmp4_syn_20", 0, .link = LINK_ETHERNET, .icmp = true, .flags = TCP_SYN,
            .quote_tcp = 20, .payload = 500, .icmp_code = 4),
    ICMP_OK("icmp4_quote_options", 0, .link = LINK_RAW, .icmp = true, .v4_optlen = 8,
            .quote_tcp = 14, .flags = TCP_SYN),
    ICMP_OK("icmp4_vlan", X_NO_FLAGS, .link = LINK_ETHERNET, .ntags = 2, .icmp = true,
            .flags = TCP_SYN, .quote_tcp = 13),
    ICMP_OK("icmp6_syn", 0, .link = LINK_ETHERNET, .ipver = 6, .icmp = true, .flags = TCP_SYN,
            .quote_tcp = 20, .payload = 1000),
    ICMP_OK("icmp6_ext_8", X_NO_FLAGS, .link = LINK_LINUX_SLL2, .ipver = 6, .icmp = true,
            .nexts = 2, .ext = {0, 44}, .flags = TCP_SYN, .icmp_code = 1),
    BAD("icmp4_short_quote", DR_ICMP_SHORT, .link = LINK_ETHERNET, .icmp = true, .quote_tcp = 4),
    BAD("icmp6_short_quote", DR_ICMP_SHORT, .link = LINK_RAW, .ipver = 6, .icmp = true,
        .quote_tcp = 7),
    BAD("icmp4_quote_ihl_past_quote", DR_ICMP_SHORT, .link = LINK_RAW, .icmp = true, .ihl = 15),
    SKIP("icmp4_quotes_udp", DR_NOT_TCP, .link = LINK_ETHERNET, .icmp = true, .proto = 17),
    SKIP("icmp6_quotes_udp", DR_NOT_TCP, .link = LINK_RAW, .ipver = 6, .icmp = true, .proto = 17),
    SKIP("icmp4_echo", DR_NOT_TCP, .link = LINK_ETHERNET, .icmp = true, .icmp_type = ICMP4_ECHO),
    SKIP("icmp6_echo", DR_NOT_TCP, .link = LINK_RAW, .ipver = 6, .icmp = true,
         .icmp_type = ICMP6_ECHO),
    SKIP("icmp4_quotes_later_fragment", DR_IP_FRAGMENT, .link = LINK_RAW, .icmp = true,
         .frag = 0x0020),
};

#define N_CASES (sizeof cases / sizeof cases[0])

/* ---------------------------------------------------------------------------
 * Tests
 */
#define CHECK(tc, cond)                                                                            \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fail_msg("%s: %s", (tc)->name, #cond);                                                 \
        }                                                                                          \
    } while (0)

static bool addr_is(const struct ip_addr *a, unsigned ver, const uint8_t *v4, const uint8_t *v6)
{
    struct ip_addr want;
    memset(&want, 0, sizeof want);
    memcpy(want.b, ver == 4 ? v4 : v6, ver == 4 ? 4 : 16);
    return memcmp(a->b, want.b, sizeof want.b) == 0;
}

static void check_case(const struct tcase *tc, const struct result *r, const struct decoded *out,
                       const struct decode_counters *cnt)
{
    const struct spec *s = &tc->s;
    unsigned ver = spec_ipver(s);
    const struct tcp_segment *t = &out->tcp;

    if (r->st != tc->st) {
        fail_msg("%s: status %d, want %d (reason %s)", tc->name, (int)r->st, (int)tc->st,
                 decode_reason_name(r->why));
    }
    if (tc->st == DECODE_SKIPPED || tc->st == DECODE_MALFORMED) {
        if (r->why != tc->why) {
            fail_msg("%s: reason %s, want %s", tc->name, decode_reason_name(r->why),
                     decode_reason_name(tc->why));
        }
        return;
    }
    CHECK(tc, t->ip_version == ver);
    CHECK(tc, addr_is(&t->src, ver, SRC4, SRC6));
    CHECK(tc, addr_is(&t->dst, ver, DST4, DST6));
    CHECK(tc, t->sport == SPORT && t->dport == DPORT && t->seq == SEQ);
    CHECK(tc, t->ttl == 64);
    CHECK(tc, cnt->ipv4_options == ((tc->x & X_V4_OPTIONS) ? 1u : 0u));
    if (tc->st == DECODE_ICMP) {
        bool flags = !(tc->x & X_NO_FLAGS);
        CHECK(tc, out->icmp == ICMP_KIND_UNREACH);
        CHECK(tc, out->icmp_type == (ver == 4 ? ICMP4_UNREACH : ICMP6_UNREACH));
        CHECK(tc, out->icmp_code == s->icmp_code);
        CHECK(tc, out->icmp_ttl == ICMP_TTL);
        CHECK(tc, addr_is(&out->icmp_src, ver, RTR4, RTR6));
        CHECK(tc, t->quote_has_flags == flags);
        CHECK(tc, !flags || (t->flags == s->flags && t->ack == ACK));
        CHECK(tc, flags || t->flags == 0);
        CHECK(tc, cnt->checksum_bad == 0 && cnt->checksum_unverified == 0);
        CHECK(tc, cnt->icmp_errors == 1 && cnt->tcp_segments == 0);
        return;
    }
    CHECK(tc, out->icmp == ICMP_KIND_NONE);
    CHECK(tc, t->ack == ACK && t->window == WINDOW);
    CHECK(tc, t->flags == (s->flags ? s->flags : TCP_ACK));
    if (t->payload_bytes != tc->payload) {
        fail_msg("%s: payload_bytes %u, want %u", tc->name, t->payload_bytes, tc->payload);
    }
    CHECK(tc, t->options_cut == ((tc->x & X_OPTS_CUT) != 0));
    CHECK(tc, cnt->options_cut == ((tc->x & X_OPTS_CUT) ? 1u : 0u));
    CHECK(tc, out->checksum_bad == ((tc->x & X_CSUM_BAD) != 0));
    CHECK(tc, cnt->checksum_bad == ((tc->x & X_CSUM_BAD) ? 1u : 0u));
    CHECK(tc, cnt->checksum_unverified == ((tc->x & X_UNVERIFIED) ? 1u : 0u));
    CHECK(tc, cnt->tcp_segments == 1 && cnt->icmp_errors == 0);
    CHECK(tc, cnt->caplen_gt_wirelen == 0);
}

static void test_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_CASES; i++) {
        struct buf p;
        struct decoded out;
        struct decode_counters cnt = {0};
        build(&cases[i].s, &p);
        struct result r = decode_buf(&p, cases[i].s.link, &out, &cnt);
        check_case(&cases[i], &r, &out, &cnt);
    }
}

/* Every table frame cut at every length. With the original wirelen (a snaplen
 * cut) a frame that decodes whole must decode or be skipped as headers_cut,
 * never be called malformed, and keep the payload length of its IP header.
 * With wirelen = caplen (a frame really that short) any status is fine, as
 * long as nothing is read past the end (ASan) and exactly one counter moves. */
static void test_every_cut(void **state)
{
    (void)state;
    struct decoded out;
    for (size_t i = 0; i < N_CASES; i++) {
        const struct tcase *tc = &cases[i];
        struct buf p;
        build(&tc->s, &p);
        for (uint32_t n = 0; n <= p.n; n++) {
            struct decode_counters cnt = {0};
            struct result r = decode_bytes(p.b, n, p.n, tc->s.link, NULL, &out, &cnt);
            if (n == 0) {
                CHECK(tc, r.st == DECODE_MALFORMED && r.why == DR_ZERO_LENGTH);
            } else if (tc->st == DECODE_TCP || tc->st == DECODE_ICMP) {
                if (!(r.st == tc->st || (r.st == DECODE_SKIPPED && r.why == DR_HEADERS_CUT))) {
                    fail_msg("%s cut at %u: status %d reason %s", tc->name, n, (int)r.st,
                             decode_reason_name(r.why));
                }
                if (r.st == DECODE_TCP) {
                    CHECK(tc, out.tcp.payload_bytes == tc->payload);
                    CHECK(tc, out.tcp.sport == SPORT && out.tcp.seq == SEQ);
                    CHECK(tc, cnt.checksum_bad == ((tc->x & X_CSUM_BAD) && n == p.n ? 1u : 0u));
                }
                if (r.st == DECODE_ICMP) {
                    CHECK(tc, out.tcp.sport == SPORT && out.tcp.seq == SEQ);
                }
            }
            memset(&cnt, 0, sizeof cnt);
            (void)decode_bytes(p.b, n, n, tc->s.link, NULL, &out, &cnt);
        }
    }
}

static uint32_t xorshift32(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

/* Random byte mutations and cuts of every table frame: no crash, no read out
 * of bounds, exactly one counter per frame. */
static void test_mutations(void **state)
{
    (void)state;
    uint32_t rng = 0x9e3779b9u;
    struct decoded out;
    struct decode_counters cnt = {0};
    for (size_t i = 0; i < N_CASES; i++) {
        struct buf orig;
        build(&cases[i].s, &orig);
        for (unsigned iter = 0; iter < 400; iter++) {
            struct buf p = orig;
            unsigned flips = 1 + xorshift32(&rng) % 4;
            for (unsigned k = 0; k < flips; k++) {
                p.b[xorshift32(&rng) % p.n] = (uint8_t)xorshift32(&rng);
            }
            uint32_t caplen = xorshift32(&rng) % 4 ? p.n : xorshift32(&rng) % (p.n + 1);
            uint32_t wirelen;
            switch (xorshift32(&rng) % 3) {
            case 0:
                wirelen = p.n;
                break;
            case 1:
                wirelen = caplen;
                break;
            default:
                wirelen = caplen / 2;
                break;
            }
            enum link_type link = xorshift32(&rng) % 8
                                      ? cases[i].s.link
                                      : (enum link_type)(xorshift32(&rng) % LINK__COUNT);
            (void)decode_bytes(p.b, caplen, wirelen, link, NULL, &out, &cnt);
        }
    }
}

static const struct spec *find_spec(const char *name)
{
    for (size_t i = 0; i < N_CASES; i++) {
        if (strcmp(cases[i].name, name) == 0) {
            return &cases[i].s;
        }
    }
    fail_msg("no case %s", name);
    return NULL;
}

static struct result decode_spec(const char *name, struct decoded *out, struct decode_counters *cnt)
{
    const struct spec *s = find_spec(name);
    struct buf p;
    assert_non_null(s);
    if (!s)
        abort();
    build(s, &p);
    return decode_buf(&p, s->link, out, cnt);
}

static void test_tcp_options_values(void **state)
{
    (void)state;
    struct decoded out;
    struct decode_counters cnt = {0};

    assert_int_equal(decode_spec("tcp_syn_options", &out, &cnt).st, DECODE_TCP);
    assert_true(out.tcp.has_mss);
    assert_int_equal(out.tcp.mss, 1460);
    assert_true(out.tcp.has_wscale);
    assert_int_equal(out.tcp.wscale, 7);
    assert_true(out.tcp.sack_permitted);
    assert_true(out.tcp.has_timestamps);
    assert_int_equal(out.tcp.ts_val, 0x1234);
    assert_int_equal(out.tcp.ts_ecr, 0);
    assert_int_equal(out.tcp.sack_count, 0);
    assert_false(out.tcp.options_cut);

    assert_int_equal(decode_spec("tcp_sack_ts", &out, &cnt).st, DECODE_TCP);
    assert_false(out.tcp.has_mss);
    assert_false(out.tcp.has_wscale);
    assert_false(out.tcp.sack_permitted);
    assert_int_equal(out.tcp.sack_count, 3);
    assert_int_equal(out.tcp.sack[0].left, 100);
    assert_int_equal(out.tcp.sack[0].right, 200);
    assert_int_equal(out.tcp.sack[1].left, 256);
    assert_int_equal(out.tcp.sack[1].right, 512);
    assert_int_equal(out.tcp.sack[2].left, 768);
    assert_int_equal(out.tcp.sack[2].right, 1024);
    assert_true(out.tcp.has_timestamps);
    assert_int_equal(out.tcp.ts_val, 0xaabbccddu);
    assert_int_equal(out.tcp.ts_ecr, 0x11223344u);

    assert_int_equal(decode_spec("tcp_sack_4_blocks", &out, &cnt).st, DECODE_TCP);
    assert_int_equal(out.tcp.sack_count, 4);
    for (unsigned i = 0; i < 4; i++) {
        assert_int_equal(out.tcp.sack[i].left, 2 * i + 1);
        assert_int_equal(out.tcp.sack[i].right, 2 * i + 2);
    }

    assert_int_equal(decode_spec("tcp_unknown_option", &out, &cnt).st, DECODE_TCP);
    assert_false(out.tcp.has_mss || out.tcp.has_wscale || out.tcp.has_timestamps);
    assert_int_equal(decode_spec("tcp_mss_bad_len", &out, &cnt).st, DECODE_TCP);
    assert_false(out.tcp.has_mss);

    /* window scale above 14 is read as 14 (RFC 7323 2.3) */
    const struct spec ws = {.link = LINK_RAW, .opts = OPTS_WS15, .optlen = 4, .flags = TCP_SYN};
    struct buf p;
    build(&ws, &p);
    assert_int_equal(decode_buf(&p, ws.link, &out, &cnt).st, DECODE_TCP);
    assert_true(out.tcp.has_wscale);
    assert_int_equal(out.tcp.wscale, 14);
}

/* An MSS alone in 4 bytes of option space is read by decode_tcp_rest()
 * itself (the SYNs of scans and floods): the same fields as the walk finds,
 * on both decoders' paths (Ethernet: the fast path; raw IP: the general
 * one), and not when the bytes are not exactly that option. */
static void test_tcp_mss_only(void **state)
{
    (void)state;
    const enum link_type links[] = {LINK_ETHERNET, LINK_RAW};
    for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
        for (int v6 = 0; v6 < 2; v6++) {
            const struct spec syn = {.link = links[i], .ipver = v6 ? 6 : 0, .opts = OPTS_MSS_ONLY,
                                     .optlen = 4, .flags = TCP_SYN};
            struct buf p;
            struct decoded out;
            struct decode_counters cnt = {0};
            build(&syn, &p);
            assert_int_equal(decode_buf(&p, syn.link, &out, &cnt).st, DECODE_TCP);
            assert_true(out.tcp.has_mss);
            assert_int_equal(out.tcp.mss, 1460);
            assert_false(out.tcp.has_wscale || out.tcp.sack_permitted ||
                         out.tcp.has_timestamps || out.tcp.options_cut);
            assert_int_equal(out.tcp.sack_count, 0);
            assert_int_equal(out.tcp.payload_bytes, 0);
            assert_int_equal(cnt.checksum_bad, 0);
            assert_int_equal(cnt.checksum_unverified, 0);

            /* the last byte not captured: cut, the MSS not read */
            memset(&cnt, 0, sizeof cnt);
            assert_int_equal(decode_bytes(p.b, p.n - 1, p.n, syn.link, NULL, &out, &cnt).st,
                             DECODE_TCP);
            assert_true(out.tcp.options_cut);
            assert_false(out.tcp.has_mss);
        }
    }
    /* MSS then NOPs (8 bytes): the walk, same values */
    const struct spec nop = {.link = LINK_ETHERNET, .opts = OPTS_MSS_NOP, .optlen = 8,
                             .flags = TCP_SYN};
    struct buf p;
    struct decoded out;
    struct decode_counters cnt = {0};
    build(&nop, &p);
    assert_int_equal(decode_buf(&p, nop.link, &out, &cnt).st, DECODE_TCP);
    assert_true(out.tcp.has_mss);
    assert_int_equal(out.tcp.mss, 1460);
    /* kind 2 with length 3 in those 4 bytes: ignored, as the walk does */
    assert_int_equal(decode_spec("tcp_mss_bad_len", &out, &cnt).st, DECODE_TCP);
    assert_false(out.tcp.has_mss);
}

static void test_options_cut(void **state)
{
    (void)state;
    const struct spec syn = {.link = LINK_RAW, .opts = OPTS_SYN, .optlen = 20, .flags = TCP_SYN};
    const uint32_t opt0 = 20 + 20; /* IPv4 + TCP fixed header */
    struct buf p;
    struct decoded out;
    build(&syn, &p);

    static const struct {
        uint32_t cut; /* option bytes captured */
        bool mss, ws, sackp;
    } cuts[] = {
        {0, false, false, false}, {1, false, false, false}, {3, false, false, false},
        {4, true, false, false},  {5, true, false, false},  {7, true, false, false},
        {8, true, true, false},   {10, true, true, true},   {19, true, true, true},
    };
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        struct decode_counters cnt = {0};
        struct result r = decode_bytes(p.b, opt0 + cuts[i].cut, p.n, syn.link, NULL, &out, &cnt);
        assert_int_equal(r.st, DECODE_TCP);
        assert_true(out.tcp.options_cut);
        assert_int_equal(cnt.options_cut, 1);
        assert_int_equal(out.tcp.has_mss, cuts[i].mss);
        assert_int_equal(out.tcp.has_wscale, cuts[i].ws);
        assert_int_equal(out.tcp.sack_permitted, cuts[i].sackp);
        assert_false(out.tcp.has_timestamps);
        assert_int_equal(out.tcp.flags, TCP_SYN);
        assert_int_equal(cnt.checksum_unverified, 1);
    }

    /* Cut after the end-of-list option: nothing was lost. */
    const struct spec eol = {.link = LINK_RAW, .opts = OPTS_MSS_EOL, .optlen = 8};
    build(&eol, &p);
    struct decode_counters cnt = {0};
    assert_int_equal(decode_bytes(p.b, opt0 + 5, p.n, eol.link, NULL, &out, &cnt).st, DECODE_TCP);
    assert_false(out.tcp.options_cut);
    assert_int_equal(cnt.options_cut, 0);
    assert_true(out.tcp.has_mss);
    assert_int_equal(out.tcp.mss, 1400);

    /* Framing errors inside the captured part are still malformed. */
    const struct spec bad = {.link = LINK_RAW, .opts = OPTS_LEN0, .optlen = 4};
    build(&bad, &p);
    struct result r = decode_bytes(p.b, opt0 + 2, p.n, bad.link, NULL, &out, &cnt);
    assert_int_equal(r.st, DECODE_MALFORMED);
    assert_int_equal(r.why, DR_TCP_OPTIONS);
}

/* A snaplen cut before the end of the TCP fixed header is skipped; the same
 * frame really ending there (wirelen == caplen) is malformed. */
static void test_headers_cut(void **state)
{
    (void)state;
    static const struct {
        struct spec s;
        uint32_t cut;
        enum decode_reason short_reason;
    } rows[] = {
        {{.link = LINK_ETHERNET, .payload = 100}, 10, DR_LINK_SHORT},
        {{.link = LINK_ETHERNET, .ntags = 2, .payload = 100}, 16, DR_LINK_SHORT},
        {{.link = LINK_ETHERNET, .nlabels = 2, .payload = 100}, 20, DR_LINK_SHORT},
        {{.link = LINK_LINUX_SLL, .payload = 100}, 15, DR_LINK_SHORT},
        {{.link = LINK_LINUX_SLL2, .payload = 100}, 19, DR_LINK_SHORT},
        {{.link = LINK_NULL, .payload = 100}, 3, DR_LINK_SHORT},
        {{.link = LINK_ETHERNET, .payload = 100}, 14 + 19, DR_IP_SHORT},
        {{.link = LINK_ETHERNET, .ipver = 6, .payload = 100}, 14 + 39, DR_IP_SHORT},
        {{.link = LINK_RAW, .v4_optlen = 8, .payload = 100}, 24, DR_IPV4_HEADER_LENGTH},
        {{.link = LINK_RAW, .ipver = 6, .nexts = 2, .ext = {0, 60}, .payload = 100},
         41,
         DR_IPV6_EXT_CHAIN},
        {{.link = LINK_RAW, .ipver = 6, .nexts = 2, .ext = {0, 60}, .payload = 100},
         50,
         DR_IPV6_EXT_CHAIN},
        {{.link = LINK_ETHERNET, .payload = 100}, 14 + 20 + 19, DR_TCP_DATA_OFFSET},
        {{.link = LINK_RAW, .ipver = 6, .payload = 100}, 40 + 1, DR_TCP_DATA_OFFSET},
        {{.link = LINK_RAW, .icmp = true, .quote_tcp = 20}, 20 + 8 + 10, DR_ICMP_SHORT},
        {{.link = LINK_RAW, .icmp = true, .quote_tcp = 20}, 20 + 8 + 20 + 7, DR_ICMP_SHORT},
        {{.link = LINK_RAW, .icmp = true}, 20 + 4, DR_ICMP_SHORT},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        struct buf p;
        struct decoded out;
        struct decode_counters cnt = {0};
        build(&rows[i].s, &p);
        assert_true(rows[i].cut < p.n);
        struct result r = decode_bytes(p.b, rows[i].cut, p.n, rows[i].s.link, NULL, &out, &cnt);
        if (r.st != DECODE_SKIPPED || r.why != DR_HEADERS_CUT) {
            fail_msg("row %zu: snaplen cut gave %s", i, decode_reason_name(r.why));
        }
        r = decode_bytes(p.b, rows[i].cut, rows[i].cut, rows[i].s.link, NULL, &out, &cnt);
        if (r.st != DECODE_MALFORMED || r.why != rows[i].short_reason) {
            fail_msg("row %zu: short frame gave %s, want %s", i, decode_reason_name(r.why),
                     decode_reason_name(rows[i].short_reason));
        }
    }

    /* The fixed header complete, the payload cut: decoded from the IP lengths. */
    const struct spec s = {.link = LINK_ETHERNET, .payload = 100};
    struct buf p;
    struct decoded out;
    struct decode_counters cnt = {0};
    build(&s, &p);
    assert_int_equal(decode_bytes(p.b, 14 + 40, p.n, s.link, NULL, &out, &cnt).st, DECODE_TCP);
    assert_int_equal(out.tcp.payload_bytes, 100);
    assert_int_equal(cnt.checksum_unverified, 1);
    assert_int_equal(cnt.checksum_bad, 0);
}

static void test_icmp_unreach_syn(void **state)
{
    (void)state;
    char buf[64];
    struct decoded out;
    struct decode_counters cnt = {0};

    assert_int_equal(decode_spec("icmp4_syn_20", &out, &cnt).st, DECODE_ICMP);
    assert_int_equal(out.icmp, ICMP_KIND_UNREACH);
    assert_int_equal(out.icmp_type, 3);
    assert_int_equal(out.icmp_code, 4);
    assert_int_equal(out.icmp_ttl, ICMP_TTL);
    assert_string_equal(ip_addr_format(&out.icmp_src, 4, buf, sizeof buf), "203.0.113.9");
    assert_string_equal(ip_addr_format(&out.tcp.src, 4, buf, sizeof buf), "192.0.2.1");
    assert_string_equal(ip_addr_format(&out.tcp.dst, 4, buf, sizeof buf), "198.51.100.2");
    assert_int_equal(out.tcp.ip_version, 4);
    assert_int_equal(out.tcp.sport, SPORT);
    assert_int_equal(out.tcp.dport, DPORT);
    assert_int_equal(out.tcp.seq, SEQ);
    assert_true(out.tcp.quote_has_flags);
    assert_int_equal(out.tcp.flags, TCP_SYN);
    assert_int_equal(cnt.icmp_errors, 1);

    assert_int_equal(decode_spec("icmp6_syn", &out, &cnt).st, DECODE_ICMP);
    assert_int_equal(out.icmp_type, 1);
    assert_string_equal(ip_addr_format(&out.icmp_src, 6, buf, sizeof buf), "2001:db8::99");
    assert_string_equal(ip_addr_format(&out.tcp.src, 6, buf, sizeof buf), "2001:db8::1");
    assert_string_equal(ip_addr_format(&out.tcp.dst, 6, buf, sizeof buf), "2001:db8::2");
    assert_int_equal(out.tcp.ip_version, 6);
    assert_int_equal(out.tcp.flags, TCP_SYN);
    assert_int_equal(cnt.icmp_errors, 2);
    assert_int_equal(cnt.tcp_segments, 0);

    struct result r = decode_spec("icmp4_short_quote", &out, &cnt);
    assert_int_equal(r.st, DECODE_MALFORMED);
    assert_int_equal(r.why, DR_ICMP_SHORT);
    assert_int_equal(cnt.by_reason[DR_ICMP_SHORT], 1);
    assert_int_equal(cnt.icmp_errors, 2);
}

static void test_checksum(void **state)
{
    (void)state;
    const struct decode_config on = {.verify_checksums = true};
    const struct decode_config off = {.verify_checksums = false};
    const struct spec good = {.link = LINK_ETHERNET, .payload = 333};
    const struct spec bad = {.link = LINK_ETHERNET, .payload = 333, .bad_csum = true};
    const struct spec *specs[2] = {&good, &bad};
    const struct decode_config *cfgs[3] = {NULL, &on, &off};
    struct buf p;
    struct decoded out;

    for (unsigned s = 0; s < 2; s++) {
        build(specs[s], &p);
        for (unsigned c = 0; c < 3; c++) {
            struct decode_counters cnt = {0};
            bool verify = cfgs[c] != &off;
            struct result r = decode_bytes(p.b, p.n, p.n, LINK_ETHERNET, cfgs[c], &out, &cnt);
            assert_int_equal(r.st, DECODE_TCP);
            assert_int_equal(out.checksum_bad, verify && s == 1);
            assert_int_equal(cnt.checksum_bad, verify && s == 1 ? 1 : 0);
            assert_int_equal(cnt.checksum_unverified, 0);
            /* cut: unverified when verifying, nothing otherwise */
            memset(&cnt, 0, sizeof cnt);
            r = decode_bytes(p.b, p.n - 1, p.n, LINK_ETHERNET, cfgs[c], &out, &cnt);
            assert_int_equal(r.st, DECODE_TCP);
            assert_false(out.checksum_bad);
            assert_int_equal(cnt.checksum_bad, 0);
            assert_int_equal(cnt.checksum_unverified, verify ? 1 : 0);
        }
    }

    /* Every payload length 0..64 in both IP versions: odd tails, 8-byte loop. */
    for (unsigned ver = 4; ver <= 6; ver += 2) {
        for (uint16_t len = 0; len <= 64; len++) {
            const struct spec s = {.link = LINK_RAW, .ipver = (uint8_t)ver, .payload = len};
            struct decode_counters cnt = {0};
            build(&s, &p);
            assert_int_equal(decode_buf(&p, s.link, &out, &cnt).st, DECODE_TCP);
            assert_int_equal(cnt.checksum_bad, 0);
            assert_int_equal(cnt.checksum_unverified, 0);
            p.b[p.n - 1 - len / 2] ^= 0x01; /* one flipped bit anywhere is caught */
            assert_int_equal(decode_buf(&p, s.link, &out, &cnt).st, DECODE_TCP);
            assert_int_equal(cnt.checksum_bad, 1);
        }
    }
}

static void test_zero_length(void **state)
{
    (void)state;
    struct decoded out;
    struct decode_counters cnt = {0};
    struct result r = decode_bytes(NULL, 0, 60, LINK_ETHERNET, NULL, &out, &cnt);
    assert_int_equal(r.st, DECODE_MALFORMED);
    assert_int_equal(r.why, DR_ZERO_LENGTH);
    assert_int_equal(cnt.by_reason[DR_ZERO_LENGTH], 1);
}

static void test_caplen_gt_wirelen(void **state)
{
    (void)state;
    const struct spec s = {.link = LINK_ETHERNET, .payload = 10};
    struct buf p;
    struct decoded out;
    struct decode_counters cnt = {0};
    build(&s, &p);
    struct result r = decode_bytes(p.b, p.n, 40, s.link, NULL, &out, &cnt);
    assert_int_equal(r.st, DECODE_TCP);
    assert_int_equal(out.tcp.payload_bytes, 10);
    assert_int_equal(cnt.caplen_gt_wirelen, 1);
    assert_int_equal(cnt.checksum_bad, 0);
    assert_int_equal(cnt.checksum_unverified, 0);
    assert_int_equal(sum_reasons(&cnt), 0);
}

static void test_bad_link_type(void **state)
{
    (void)state;
    const uint8_t bytes[4] = {0x45, 0, 0, 20};
    struct decoded out;
    struct decode_counters cnt = {0};
    struct result r = decode_bytes(bytes, 4, 4, LINK__COUNT, NULL, &out, &cnt);
    assert_int_equal(r.st, DECODE_MALFORMED);
    assert_int_equal(r.why, DR_LINK_BAD);
}

static void test_names(void **state)
{
    (void)state;
    for (unsigned i = 0; i < DR__COUNT; i++) {
        const char *n = decode_reason_name((enum decode_reason)i);
        assert_non_null(n);
        assert_string_not_equal(n, "unknown");
        assert_int_equal(strspn(n, "abcdefghijklmnopqrstuvwxyz0123456789_"), strlen(n));
        for (unsigned j = 0; j < i; j++) {
            assert_string_not_equal(n, decode_reason_name((enum decode_reason)j));
        }
        assert_int_equal(decode_reason_is_malformed((enum decode_reason)i), i > DR__SKIP_LAST);
    }
    assert_string_equal(decode_reason_name(DR_IPV4_HEADER_LENGTH), "ipv4_header_length");
    assert_string_equal(decode_reason_name(DR_NOT_IP), "not_ip");
    assert_string_equal(decode_reason_name(DR_HEADERS_CUT), "headers_cut");
    assert_string_equal(decode_reason_name(DR_ICMP_SHORT), "icmp_short");
    assert_string_equal(decode_reason_name(DR__COUNT), "unknown");
    assert_false(decode_reason_is_malformed(DR_HEADERS_CUT));
    assert_true(decode_reason_is_malformed(DR_ZERO_LENGTH));
    assert_false(decode_reason_is_malformed(DR__COUNT));

    static const char *const links[LINK__COUNT] = {
        "ethernet", "linux_sll", "linux_sll2", "null", "loop", "raw", "ipv4", "ipv6",
    };
    for (unsigned i = 0; i < LINK__COUNT; i++) {
        assert_string_equal(link_type_name((enum link_type)i), links[i]);
    }
    assert_string_equal(link_type_name(LINK__COUNT), "unknown");
}

static void test_ip_addr_format(void **state)
{
    (void)state;
    char buf[46];
    struct ip_addr a;
    memset(&a, 0, sizeof a);
    memcpy(a.b, SRC4, 4);
    assert_string_equal(ip_addr_format(&a, 4, buf, sizeof buf), "192.0.2.1");
    memcpy(a.b, SRC6, 16);
    assert_string_equal(ip_addr_format(&a, 6, buf, sizeof buf), "2001:db8::1");
    assert_string_equal(ip_addr_format(&a, 5, buf, sizeof buf), "");
    assert_string_equal(ip_addr_format(&a, 6, buf, 4), ""); /* too small: empty, not cut */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_every_cut),
        cmocka_unit_test(test_mutations),
        cmocka_unit_test(test_tcp_options_values),
        cmocka_unit_test(test_tcp_mss_only),
        cmocka_unit_test(test_options_cut),
        cmocka_unit_test(test_headers_cut),
        cmocka_unit_test(test_icmp_unreach_syn),
        cmocka_unit_test(test_checksum),
        cmocka_unit_test(test_zero_length),
        cmocka_unit_test(test_caplen_gt_wirelen),
        cmocka_unit_test(test_bad_link_type),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_ip_addr_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
