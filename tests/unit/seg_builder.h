/* SPDX-License-Identifier: MIT */
/*
 * seg_builder.h - build decoded TCP segments and byte-less frames for the
 * unit tests of the tracker, the classifier and the reporters.
 *
 * The tracker never looks at frame bytes: it takes a struct decoded (what
 * decode.c would have produced) and a struct frame for the time and the
 * frame number. These helpers fill both without assembling any packet, so
 * a test can describe a connection as a list of steps ("the client sends
 * 100 bytes at 30 ms") with sequence and acknowledgment numbers relative to
 * each side's initial sequence number.
 *
 * Everything here is static inline: each test file includes it on its own.
 */
#ifndef TCPTRIAGE_TESTS_SEG_BUILDER_H
#define TCPTRIAGE_TESTS_SEG_BUILDER_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <arpa/inet.h>

#include "conn.h"
#include "decode.h"
#include "flow_table.h"

/* A capture time well inside the 2020s, so times look like real ones. */
#define SB_T0_NS 1700000000000000000LL
#define SB_MS(x) ((int64_t)(x) * 1000000LL)
#define SB_US(x) ((int64_t)(x) * 1000LL)
#define SB_SEC(x) ((int64_t)(x) * 1000000000LL)

#define SB_TTL 64

static inline struct ip_addr sb_ip4(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
    struct ip_addr ip;
    memset(&ip, 0, sizeof ip);
    ip.b[0] = a;
    ip.b[1] = b;
    ip.b[2] = c;
    ip.b[3] = d;
    return ip;
}

/* Parses an IPv6 literal; an invalid one gives the unspecified address. */
static inline struct ip_addr sb_ip6(const char *text)
{
    struct ip_addr ip;
    memset(&ip, 0, sizeof ip);
    if (inet_pton(AF_INET6, text, ip.b) != 1)
        memset(&ip, 0, sizeof ip);
    return ip;
}

/* A frame without bytes: only the time and the number matter to the tracker. */
static inline struct frame sb_frame(int64_t ts_ns, uint64_t number)
{
    struct frame f;
    memset(&f, 0, sizeof f);
    f.ts_ns = ts_ns;
    f.number = number;
    f.link = LINK_RAW;
    f.bytes = NULL;
    return f;
}

/* A plain TCP segment with absolute sequence numbers. */
static inline struct decoded sb_tcp(const struct ip_addr *src, uint16_t sport,
                                    const struct ip_addr *dst, uint16_t dport, uint8_t ip_version,
                                    uint8_t flags, uint32_t seq, uint32_t ack,
                                    uint32_t payload_bytes, uint16_t window)
{
    struct decoded d;
    memset(&d, 0, sizeof d);
    d.icmp = ICMP_KIND_NONE;
    d.tcp.src = *src;
    d.tcp.dst = *dst;
    d.tcp.sport = sport;
    d.tcp.dport = dport;
    d.tcp.seq = seq;
    d.tcp.ack = ack;
    d.tcp.payload_bytes = payload_bytes;
    d.tcp.window = window;
    d.tcp.flags = flags;
    d.tcp.ip_version = ip_version;
    d.tcp.ttl = SB_TTL;
    return d;
}

/* An ICMP destination unreachable quoting `quoted` (whose src/dst are those
 * of the original segment), sent by `from`. */
static inline struct decoded sb_icmp_unreach(const struct decoded *quoted,
                                             const struct ip_addr *from, uint8_t type,
                                             uint8_t code, uint8_t ttl)
{
    struct decoded d = *quoted;
    d.icmp = ICMP_KIND_UNREACH;
    d.icmp_type = type;
    d.icmp_code = code;
    d.icmp_ttl = ttl;
    d.icmp_src = *from;
    d.tcp.quote_has_flags = true;
    d.tcp.payload_bytes = 0;
    return d;
}

/* ---- connection-relative description ----------------------------------- */

/* Both ends of one TCP 4-tuple and the ISNs they use. "cli" and "srv" are
 * what the test means; the tracker must work them out by itself. */
struct sb_flow {
    struct ip_addr cli, srv;
    uint16_t cport, sport;
    uint8_t ip_version;
    uint32_t cisn, sisn;
};

enum sb_dir { SB_C2S = 0, SB_S2C = 1 };

/* One step of a scenario. seq is relative to the sender's ISN, ack to the
 * receiver's (so the client's first data byte is seq 1 after its SYN).
 * With .icmp set, the step is an ICMP unreachable quoting that segment. */
struct sb_step {
    int64_t t_us;    /* since the scenario's start */
    uint8_t flow;    /* index into the scenario's flow table */
    uint8_t dir;     /* enum sb_dir: who sends the (quoted) segment */
    uint8_t flags;   /* TCP_* */
    uint32_t seq;    /* relative to the sender's ISN */
    uint32_t ack;    /* relative to the receiver's ISN */
    uint32_t len;    /* payload bytes */
    uint16_t win;    /* raw window */
    bool icmp;       /* an ICMP unreachable quoting the segment */
};

static inline struct decoded sb_step_decoded(const struct sb_flow *fl, const struct sb_step *st)
{
    bool c2s = st->dir == SB_C2S;
    const struct ip_addr *src = c2s ? &fl->cli : &fl->srv;
    const struct ip_addr *dst = c2s ? &fl->srv : &fl->cli;
    uint16_t sp = c2s ? fl->cport : fl->sport;
    uint16_t dp = c2s ? fl->sport : fl->cport;
    uint32_t sisn = c2s ? fl->cisn : fl->sisn;
    uint32_t risn = c2s ? fl->sisn : fl->cisn;
    struct decoded d = sb_tcp(src, sp, dst, dp, fl->ip_version, st->flags, sisn + st->seq,
                              (st->flags & TCP_ACK) ? risn + st->ack : 0, st->len, st->win);
    if (st->icmp) {
        struct ip_addr router = fl->ip_version == 6 ? sb_ip6("2001:db8:ffff::1")
                                                    : sb_ip4(192, 0, 2, 254);
        d = sb_icmp_unreach(&d, &router, fl->ip_version == 6 ? 1 : 3,
                            fl->ip_version == 6 ? 1 : 13, 61);
    }
    return d;
}

/* The rare block of a connection built by hand (writable). Test
 * connections live on the stack, so the blocks come from a small static
 * ring rather than the heap: nothing to free. */
static inline struct conn_rare *sb_rare(struct conn *c)
{
    static struct conn_rare ring[8];
    static unsigned next;
    if (!c->rare) {
        c->rare = &ring[next++ % 8];
        memset(c->rare, 0, sizeof *c->rare);
    }
    return c->rare;
}

/* Sets the key of a connection built by hand from a segment it carries
 * (flow_key_make(): *src_is_lo says whether the segment's source is the
 * key's "lo" side); IPv6 addresses go to a small static ring, as sb_rare(). */
static inline void sb_conn_key(struct conn *c, const struct tcp_segment *seg, bool *src_is_lo)
{
    static struct ip_pair ring[8];
    static unsigned next;
    struct flow_key k;
    flow_key_make(&k, seg, src_is_lo);
    conn_key_set(&c->key, &k, &ring[next++ % 8]);
}

#endif
