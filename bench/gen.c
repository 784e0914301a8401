// SPDX-License-Identifier: MIT
/*
 * bench/gen.c - deterministic synthetic TCP capture generator for the
 * tcptriage benchmarks.  Standalone C11, libc only.
 *
 *   gen -o FILE [--packets N] [--concurrent N] [--seed S] [--snaplen N]
 *               [--nsec] [--flood N] [--quiet]
 *
 * Writes a classic pcap (DLT_EN10MB, microsecond magic, or nanosecond magic
 * with --nsec).  Numbers accept k/M/G suffixes (10M = 10000000).
 *
 * Model: a pool of --concurrent connection "slots".  Each slot runs one
 * connection whose packets are scripted up front (a list of events with time
 * offsets, direction, flags, relative seq/ack, window, payload length).  All
 * slots are merged in time order with a min-heap, so timestamps never go
 * backwards while every connection keeps realistic intra-connection timing
 * (handshake RTTs of ms, SYN retransmissions at +1 s / +3 s, zero-window
 * probes backing off from 200 ms).  When a connection's script is exhausted a
 * new connection starts in that slot a few ms later.  Generation stops after
 * exactly --packets frames; the connections still in their slots at that
 * point are left open / half-way through, as in any real capture.
 *
 * The vantage point is a tap next to the clients: client->server frames are
 * seen as sent, server->client frames as received (RTT after the request,
 * padded to the 60-byte Ethernet minimum).
 *
 * Connection kinds (per mille): complete 880, refused 20, SYN timeout 20,
 * reset mid-stream 20 (server or client), zero-window stall 10, data
 * retransmission 10 (request RTO or response tail loss), half-closed 10
 * (client FIN, server never FINs), left open 10 (no close at all).
 * Orthogonally: ~10% IPv6, ~5% 802.1Q tagged (per connection), ~85% with
 * TCP timestamps, ~90% window scaling, ~90% SACK-permitted.
 *
 * Payload bytes come from a fixed pattern indexed by stream offset, so a
 * retransmission carries the same bytes as the original; the TCP checksum
 * over the (possibly not captured) payload is computed from prefix sums, so
 * every frame carries a correct IPv4 header checksum and a correct TCP
 * checksum whatever the snaplen.
 *
 * --flood N: instead writes N SYNs from N distinct spoofed IPv4 sources
 * (sequential over 10.0.0.0/8, then 172.16.0.0/12, 192.168.0.0/16,
 * 100.64.0.0/10) with random source ports to one server (198.51.100.10:80),
 * none ever answered.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------- PRNG */

typedef struct {
    uint64_t s;
} rng_t;

static uint64_t rnext(rng_t *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* uniform in [0, n) */
static uint32_t rbelow(rng_t *r, uint32_t n)
{
    return (uint32_t)(((rnext(r) >> 32) * (uint64_t)n) >> 32);
}

/* uniform in [lo, hi] */
static uint64_t rrange(rng_t *r, uint64_t lo, uint64_t hi)
{
    return lo + rnext(r) % (hi - lo + 1);
}

/* true with probability permille/1000 */
static int rchance(rng_t *r, uint32_t permille)
{
    return rbelow(r, 1000) < permille;
}

/* ---------------------------------------------------------------- time */

#define US  1000ULL
#define MS  1000000ULL
#define SEC 1000000000ULL

/* ---------------------------------------------------------------- output */

typedef struct {
    FILE *f;
    uint8_t *buf;
    size_t len, cap;
    uint32_t snaplen; /* 0 = full */
    int nsec;
    uint64_t packets, bytes_cap, bytes_wire;
} out_t;

static void die(const char *msg)
{
    fprintf(stderr, "gen: %s\n", msg);
    exit(1);
}

static void out_flush(out_t *o)
{
    if (o->len && fwrite(o->buf, 1, o->len, o->f) != o->len) {
        fprintf(stderr, "gen: write failed: %s\n", strerror(errno));
        exit(1);
    }
    o->len = 0;
}

static void put_u32le(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4); /* classic pcap: host byte order, magic tells */
}

static void out_header(out_t *o)
{
    uint8_t h[24];
    put_u32le(h, o->nsec ? 0xa1b23c4dU : 0xa1b2c3d4U);
    uint16_t vmaj = 2, vmin = 4;
    memcpy(h + 4, &vmaj, 2);
    memcpy(h + 6, &vmin, 2);
    put_u32le(h + 8, 0);
    put_u32le(h + 12, 0);
    put_u32le(h + 16, o->snaplen ? o->snaplen : 262144U);
    put_u32le(h + 20, 1); /* LINKTYPE_ETHERNET */
    memcpy(o->buf + o->len, h, sizeof h);
    o->len += sizeof h;
}

/*
 * Append one record: hdr[0..hlen) then plen payload bytes from pay then pad
 * zero bytes; truncated to the snaplen.
 */
static void out_record(out_t *o, uint64_t tns, const uint8_t *hdr, uint32_t hlen,
                       const uint8_t *pay, uint32_t plen, uint32_t pad)
{
    uint32_t wire = hlen + plen + pad;
    uint32_t cap = (o->snaplen && o->snaplen < wire) ? o->snaplen : wire;
    if (o->cap - o->len < 16 + (size_t)cap)
        out_flush(o);
    uint8_t *p = o->buf + o->len;
    uint32_t sec = (uint32_t)(tns / SEC);
    uint32_t frac = (uint32_t)(o->nsec ? tns % SEC : (tns % SEC) / US);
    put_u32le(p, sec);
    put_u32le(p + 4, frac);
    put_u32le(p + 8, cap);
    put_u32le(p + 12, wire);
    p += 16;
    uint32_t left = cap;
    uint32_t n = hlen < left ? hlen : left;
    memcpy(p, hdr, n);
    p += n;
    left -= n;
    n = plen < left ? plen : left;
    if (n) {
        memcpy(p, pay, n);
        p += n;
        left -= n;
    }
    if (left)
        memset(p, 0, left);
    o->len += 16 + (size_t)cap;
    o->packets++;
    o->bytes_cap += cap;
    o->bytes_wire += wire;
}

/* ---------------------------------------------------------------- checksums */

static uint32_t fold(uint64_t s)
{
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint32_t)s;
}

/* plain integer sum of big-endian 16-bit words (len even) */
static uint64_t sum16(const uint8_t *p, size_t len)
{
    uint64_t s = 0;
    for (size_t i = 0; i + 1 < len; i += 2)
        s += (uint64_t)((uint32_t)p[i] << 8 | p[i + 1]);
    if (len & 1)
        s += (uint64_t)p[len - 1] << 8;
    return s;
}

/*
 * Payload pattern: PAT_LEN bytes of printable text, stored doubled so any
 * window [off, off+len) with off < PAT_LEN and len <= PAT_LEN is contiguous.
 * psum_e[i] = sum of pat[k] weighted 256 at even k, 1 at odd k, for k < i;
 * psum_o the other way round.  The checksum word-sum of pat[off..off+len)
 * is (off even ? psum_e : psum_o)[off+len] - [off].
 */
#define PAT_LEN 8192
static uint8_t pat[2 * PAT_LEN];
static uint64_t psum_e[2 * PAT_LEN + 1], psum_o[2 * PAT_LEN + 1];

static void pat_init(void)
{
    static const char words[] =
        "GET /api/v1/items?id=42 HTTP/1.1\r\nHost: example.test\r\nAccept: */*\r\n"
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1448\r\n"
        "{\"id\":42,\"name\":\"widget\",\"tags\":[\"alpha\",\"beta\",\"gamma\"],\"ok\":true}\n"
        "SELECT id, name, price FROM products WHERE category = $1 ORDER BY id;\n";
    rng_t r = {0x5eed5eed5eedULL};
    size_t wl = sizeof words - 1;
    for (size_t i = 0; i < PAT_LEN;) {
        size_t start = rbelow(&r, (uint32_t)wl);
        size_t n = 16 + rbelow(&r, 64);
        for (size_t k = 0; k < n && i < PAT_LEN; k++, i++)
            pat[i] = (uint8_t)words[(start + k) % wl];
    }
    memcpy(pat + PAT_LEN, pat, PAT_LEN);
    psum_e[0] = psum_o[0] = 0;
    for (size_t k = 0; k < 2 * PAT_LEN; k++) {
        psum_e[k + 1] = psum_e[k] + (uint64_t)pat[k] * ((k & 1) ? 1 : 256);
        psum_o[k + 1] = psum_o[k] + (uint64_t)pat[k] * ((k & 1) ? 256 : 1);
    }
}

static uint64_t pat_sum(uint32_t off, uint32_t len)
{
    const uint64_t *ps = (off & 1) ? psum_o : psum_e;
    return ps[off + len] - ps[off];
}

/* ---------------------------------------------------------------- byte helpers */

static void be16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* ---------------------------------------------------------------- connections */

enum { C = 0, S = 1 }; /* direction: client->server, server->client */

enum { F_FIN = 0x01, F_SYN = 0x02, F_RST = 0x04, F_PSH = 0x08, F_ACK = 0x10 };

enum {
    K_COMPLETE,
    K_REFUSED,
    K_TIMEOUT,
    K_RESET_SRV,
    K_RESET_CLI,
    K_STALL,
    K_RETRANS,
    K_HALFCLOSED,
    K_OPEN,
    K_NKINDS
};

static const char *const kind_name[K_NKINDS] = {
    "complete",
    "refused (SYN -> RST)",
    "SYN timeout",
    "reset by server",
    "reset by client",
    "zero-window stall",
    "data retransmission",
    "half-closed",
    "left open (no close)",
};

typedef struct {
    uint64_t t;   /* ns offset from connection start */
    uint32_t seq; /* relative to the sender's ISN */
    uint32_t ack; /* relative to the receiver's ISN (used when F_ACK) */
    uint16_t win; /* window field as sent */
    uint16_t len; /* payload bytes */
    uint8_t dir;
    uint8_t flags;
} ev_t;

typedef struct {
    uint64_t start; /* absolute ns of offset 0 */
    ev_t *ev;
    uint32_t n, cap, pos;
    uint8_t kind, v6, vlan_on, ts_on, ws_on, sack_on;
    uint8_t ttl[2];
    uint8_t wscale[2];
    uint16_t vlan, port[2];
    uint16_t mss[2];
    uint16_t ipid[2];
    uint32_t isn[2], tsbase[2], lastts[2], flow[2], patoff[2];
    uint8_t addr[2][16];
    uint8_t mac[2][6];
} conn_t;

/* script builder state */
typedef struct {
    conn_t *c;
    rng_t *r;
    uint64_t t;
    uint32_t nxt[2]; /* next relative seq each side will send */
    uint32_t rcv[2]; /* relative ack each side currently sends */
    uint16_t winf[2];
    uint64_t rtt;
    uint32_t seg; /* payload per full-sized segment */
} bld_t;

static void push(bld_t *b, uint64_t dt, int dir, uint8_t flags, uint32_t seq, uint32_t len,
                 uint32_t ack)
{
    conn_t *c = b->c;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 64;
        c->ev = realloc(c->ev, c->cap * sizeof *c->ev);
        if (!c->ev)
            die("out of memory");
    }
    b->t += dt;
    ev_t *e = &c->ev[c->n++];
    e->t = b->t;
    e->seq = seq;
    e->ack = ack;
    e->win = b->winf[dir];
    e->len = (uint16_t)len;
    e->dir = (uint8_t)dir;
    e->flags = flags;
}

/* send with the side's current ack */
static void add(bld_t *b, uint64_t dt, int dir, uint8_t flags, uint32_t len)
{
    push(b, dt, dir, flags, b->nxt[dir], len, b->rcv[dir]);
    b->nxt[dir] += len + ((flags & (F_SYN | F_FIN)) ? 1u : 0u);
}

/* send acknowledging everything the peer has sent */
static void addfull(bld_t *b, uint64_t dt, int dir, uint8_t flags, uint32_t len)
{
    b->rcv[dir] = b->nxt[!dir];
    add(b, dt, dir, flags, len);
}

/* back-to-back gap between frames of one burst */
static uint64_t gap_b2b(bld_t *b)
{
    return rrange(b->r, 2 * US, 40 * US);
}

/* host turnaround (kernel ACK, app reaction) */
static uint64_t gap_small(bld_t *b)
{
    return rrange(b->r, 20 * US, 400 * US);
}

/* idle time between requests on a kept-alive connection, 1 ms .. 4 s */
static uint64_t gap_idle(bld_t *b)
{
    uint32_t x = rbelow(b->r, 100);
    if (x < 50)
        return rrange(b->r, 1 * MS, 100 * MS);
    if (x < 85)
        return rrange(b->r, 100 * MS, 1000 * MS);
    return rrange(b->r, 1 * SEC, 4 * SEC);
}

/* server think time */
static uint64_t gap_think(bld_t *b)
{
    uint32_t x = rbelow(b->r, 100);
    if (x < 70)
        return rrange(b->r, 50 * US, 5 * MS);
    if (x < 95)
        return rrange(b->r, 5 * MS, 60 * MS);
    return rrange(b->r, 60 * MS, 600 * MS);
}

static uint32_t size_request(bld_t *b)
{
    uint32_t x = rbelow(b->r, 100);
    if (x < 80)
        return (uint32_t)rrange(b->r, 80, 700);
    if (x < 95)
        return (uint32_t)rrange(b->r, 700, 1448);
    return (uint32_t)rrange(b->r, 2000, 40000); /* upload */
}

static uint32_t size_response(bld_t *b)
{
    uint32_t x = rbelow(b->r, 100);
    if (x < 60)
        return (uint32_t)rrange(b->r, 60, 1400);
    if (x < 88)
        return (uint32_t)rrange(b->r, 1400, 9000);
    if (x < 98)
        return (uint32_t)rrange(b->r, 9000, 40000);
    return (uint32_t)rrange(b->r, 40000, 150000);
}

static void handshake(bld_t *b, uint16_t win_c, uint16_t win_s)
{
    add(b, 0, C, F_SYN, 0);
    addfull(b, b->rtt, S, F_SYN | F_ACK, 0);
    b->winf[C] = win_c;
    b->winf[S] = win_s;
    addfull(b, gap_small(b), C, F_ACK, 0);
}

/*
 * Move `bytes` from side s to the other in slow-start flights (initial cwnd
 * 10, doubling).  Server->client: the client (next to the tap) ACKs every
 * second segment as it arrives.  Client->server: the server's ACKs arrive
 * one RTT after each flight, except for the last flight, which the caller's
 * next packet acknowledges.  Returns how many received segments are still
 * unacknowledged (server->client only).
 */
static uint32_t transfer(bld_t *b, int s, uint32_t bytes, uint64_t dt_first)
{
    uint32_t left = bytes, cwnd = 10, pend = 0;
    int first = 1;
    if (s == C) /* the client has received everything the server sent */
        b->rcv[C] = b->nxt[S];
    while (left) {
        uint32_t nseg = (left + b->seg - 1) / b->seg;
        if (nseg > cwnd)
            nseg = cwnd;
        uint32_t flight_start = b->nxt[s];
        for (uint32_t i = 0; i < nseg; i++) {
            uint32_t len = left < b->seg ? left : b->seg;
            left -= len;
            uint64_t dt = first ? dt_first : (i == 0 && s == S) ? b->rtt : gap_b2b(b);
            first = 0;
            add(b, dt, s, (uint8_t)(F_ACK | (left == 0 || i + 1 == nseg ? F_PSH : 0)), len);
            if (s == S && ++pend == 2) {
                b->rcv[C] = b->nxt[S];
                add(b, gap_b2b(b), C, F_ACK, 0);
                pend = 0;
            }
        }
        if (s == C && left) {
            /* server ACKs every 2 segments of the flight, one RTT later */
            uint32_t end = b->nxt[C];
            uint32_t a = flight_start;
            int firstack = 1;
            while (a < end) {
                a += 2 * b->seg;
                if (a > end)
                    a = end;
                b->rcv[S] = a;
                add(b, firstack ? b->rtt : gap_b2b(b), S, F_ACK, 0);
                firstack = 0;
            }
        }
        if (cwnd < 64)
            cwnd *= 2;
    }
    return pend;
}

/*
 * Returns the dt to use for the next packet after an idle `gap`; when the
 * client owes a delayed ACK and the gap is longer than 40 ms, emits it.
 */
static uint64_t settle(bld_t *b, uint32_t *pend, uint64_t gap)
{
    if (*pend && gap > 40 * MS) {
        addfull(b, 40 * MS, C, F_ACK, 0);
        gap -= 40 * MS;
    }
    *pend = 0;
    return gap;
}

/* request + response; returns unacked segments at the client */
static uint32_t exchange(bld_t *b, uint64_t gap)
{
    transfer(b, C, size_request(b), gap);
    uint64_t think = gap_think(b);
    uint64_t dt = b->rtt + think;
    if (think > 40 * MS) { /* server's delayed ACK goes out before the response */
        addfull(b, b->rtt + 40 * MS, S, F_ACK, 0);
        dt = think - 40 * MS;
    }
    b->rcv[S] = b->nxt[C];
    return transfer(b, S, size_response(b), dt);
}

static void close_conn(bld_t *b, int closer, uint64_t dt)
{
    int peer = !closer;
    /* capture is at the client: server frames show up one RTT after what
     * the client sent, client frames right after what it received */
    uint64_t peer_dt = closer == C ? b->rtt : gap_small(b);
    uint64_t last_dt = closer == C ? gap_small(b) : b->rtt;
    addfull(b, dt, closer, F_FIN | F_ACK, 0);
    if (rchance(b->r, 600)) {
        addfull(b, peer_dt, peer, F_FIN | F_ACK, 0);
    } else {
        addfull(b, peer_dt, peer, F_ACK, 0);
        addfull(b, rrange(b->r, 100 * US, 5 * MS), peer, F_FIN | F_ACK, 0);
        if (closer == S)
            last_dt = b->rtt;
    }
    addfull(b, last_dt, closer, F_ACK, 0);
}

static uint32_t n_exchanges(bld_t *b)
{
    uint32_t x = rbelow(b->r, 100);
    if (x < 60)
        return 1;
    if (x < 85)
        return 2;
    return 3 + rbelow(b->r, 3);
}

static uint64_t rto(bld_t *b)
{
    return 200 * MS + b->rtt + rrange(b->r, 0, 10 * MS);
}

static void script(conn_t *c, rng_t *r)
{
    bld_t bb, *b = &bb;
    memset(b, 0, sizeof bb);
    b->c = c;
    b->r = r;
    c->n = 0;
    c->pos = 0;

    uint32_t x = rbelow(r, 100);
    if (x < 40)
        b->rtt = rrange(r, 200 * US, 2 * MS);
    else if (x < 80)
        b->rtt = rrange(r, 2 * MS, 40 * MS);
    else
        b->rtt = rrange(r, 40 * MS, 200 * MS);
    b->seg = (uint32_t)c->mss[S] - (c->ts_on ? 12u : 0u);

    /* SYN windows are never scaled */
    b->winf[C] = 64240;
    b->winf[S] = (uint16_t)(c->v6 ? 64800 : 65160);
    uint16_t wc, ws;
    if (c->ws_on) {
        wc = (uint16_t)rrange(r, 502, 4000); /* << 7: 64 KiB .. 512 KiB */
        ws = (uint16_t)rrange(r, 500, 1000);
    } else {
        wc = 64240;
        ws = 65160;
    }

    uint32_t pend = 0;
    switch (c->kind) {
    case K_REFUSED:
        c->isn[S] = 0;
        add(b, 0, C, F_SYN, 0);
        b->winf[S] = 0;
        b->rcv[S] = b->nxt[C];
        push(b, b->rtt, S, F_RST | F_ACK, 0, 0, b->rcv[S]);
        return;
    case K_TIMEOUT:
        add(b, 0, C, F_SYN, 0);
        push(b, 1 * SEC, C, F_SYN, 0, 0, 0);
        push(b, 2 * SEC, C, F_SYN, 0, 0, 0);
        return;
    case K_COMPLETE:
    case K_RETRANS:
    case K_OPEN: {
        handshake(b, wc, ws);
        uint32_t nex = c->kind == K_OPEN ? 1 + rbelow(r, 2) : n_exchanges(b);
        uint32_t bad = c->kind == K_RETRANS ? rbelow(r, nex) : UINT32_MAX;
        for (uint32_t k = 0; k < nex; k++) {
            uint64_t gap = k == 0 ? rrange(r, 50 * US, 2 * MS) : gap_idle(b);
            gap = settle(b, &pend, gap);
            if (k != bad) {
                pend = exchange(b, gap);
                continue;
            }
            if (rchance(r, 500)) {
                /* request lost after the tap: retransmitted after the RTO */
                uint32_t q = (uint32_t)rrange(r, 80, 700);
                addfull(b, gap, C, F_ACK | F_PSH, q);
                push(b, rto(b), C, F_ACK | F_PSH, b->nxt[C] - q, q, b->rcv[C]);
                b->rcv[S] = b->nxt[C];
                pend = transfer(b, S, size_response(b), b->rtt + gap_think(b));
            } else {
                /* tail segment of the response lost after the tap */
                transfer(b, C, size_request(b), gap);
                b->rcv[S] = b->nxt[C];
                uint32_t rl = (uint32_t)rrange(r, 2 * b->seg + 1, 12 * b->seg);
                uint32_t last = rl % b->seg ? rl % b->seg : b->seg;
                pend = transfer(b, S, rl - last, b->rtt + gap_think(b));
                add(b, gap_b2b(b), S, F_ACK | F_PSH, last); /* seen, then lost */
                if (pend) {
                    b->rcv[C] = b->nxt[S] - last;
                    add(b, gap_b2b(b), C, F_ACK, 0);
                }
                push(b, rto(b), S, F_ACK | F_PSH, b->nxt[S] - last, last, b->rcv[S]);
                addfull(b, gap_b2b(b), C, F_ACK, 0);
                pend = 0;
            }
        }
        if (c->kind == K_OPEN) {
            if (pend)
                addfull(b, 40 * MS, C, F_ACK, 0);
            return;
        }
        /* close: right away, after some idle time, or by the server when
         * its keep-alive timer expires */
        uint32_t y = rbelow(r, 100);
        uint64_t gap = y < 40   ? rrange(r, 100 * US, 5 * MS)
                       : y < 70 ? gap_idle(b)
                                : rrange(r, 5 * SEC, 15 * SEC);
        gap = settle(b, &pend, gap);
        close_conn(b, y < 70 ? (rchance(r, 800) ? C : S) : S, gap);
        return;
    }
    case K_RESET_SRV:
    case K_RESET_CLI: {
        handshake(b, wc, ws);
        transfer(b, C, size_request(b), rrange(r, 50 * US, 2 * MS));
        b->rcv[S] = b->nxt[C];
        uint32_t part = (uint32_t)rrange(r, 1, 16) * b->seg;
        transfer(b, S, part, b->rtt + gap_think(b));
        if (c->kind == K_RESET_SRV) {
            add(b, gap_b2b(b), S, F_RST | F_ACK, 0);
            return;
        }
        /* client aborts; segments already in flight draw bare RSTs */
        addfull(b, gap_small(b), C, F_RST | F_ACK, 0);
        uint32_t late = rbelow(r, 3);
        for (uint32_t i = 0; i < late; i++) {
            add(b, gap_b2b(b), S, F_ACK, b->seg);
            push(b, gap_b2b(b), C, F_RST, b->nxt[C], 0, 0);
        }
        return;
    }
    case K_HALFCLOSED: {
        handshake(b, wc, ws);
        transfer(b, C, size_request(b), rrange(r, 50 * US, 2 * MS));
        addfull(b, gap_b2b(b), C, F_FIN | F_ACK, 0);
        b->rcv[S] = b->nxt[C];
        pend = transfer(b, S, size_response(b), b->rtt + gap_think(b));
        if (pend)
            addfull(b, gap_b2b(b), C, F_ACK, 0);
        return;
    }
    case K_STALL: {
        /* the client stops reading: its window fills up and closes */
        uint32_t wscale = c->ws_on ? c->wscale[C] : 0;
        uint32_t nseg = (uint32_t)rrange(r, 12, 44);
        uint32_t wbytes = nseg * b->seg;
        if (!c->ws_on && wbytes > 65535) {
            nseg = 65535 / b->seg;
            wbytes = nseg * b->seg;
        }
        handshake(b, (uint16_t)(wbytes >> wscale), ws);
        transfer(b, C, size_request(b), rrange(r, 50 * US, 2 * MS));
        b->rcv[S] = b->nxt[C];
        uint32_t base = b->nxt[S];
        uint32_t sent = 0, cwnd = 10, pend2 = 0;
        int first = 1;
        while (sent < wbytes) {
            for (uint32_t i = 0; i < cwnd && sent < wbytes; i++) {
                uint64_t dt = first ? b->rtt + gap_think(b) : i == 0 ? b->rtt : gap_b2b(b);
                first = 0;
                add(b, dt, S, F_ACK, b->seg);
                sent += b->seg;
                if (++pend2 == 2 || sent >= wbytes) {
                    pend2 = 0;
                    b->rcv[C] = b->nxt[S];
                    b->winf[C] = (uint16_t)((wbytes - (b->nxt[S] - base)) >> wscale);
                    add(b, gap_b2b(b), C, F_ACK, 0);
                }
            }
            if (cwnd < 64)
                cwnd *= 2;
        }
        /* zero-window probes, backing off from 200 ms */
        uint32_t nprobe = (uint32_t)rrange(r, 3, 6);
        uint64_t iv = 200 * MS + b->rtt;
        for (uint32_t i = 0; i < nprobe; i++) {
            push(b, iv, S, F_ACK, b->nxt[S] - 1, 0, b->rcv[S]);
            add(b, gap_b2b(b), C, F_ACK, 0);
            iv *= 2;
        }
        if (rchance(r, 500)) {
            /* the application reads again: window update, transfer ends */
            b->winf[C] = wc;
            add(b, rrange(r, 10 * MS, iv / 2), C, F_ACK, 0);
            pend = transfer(b, S, (uint32_t)rrange(r, 1, 20) * b->seg, b->rtt);
            close_conn(b, C, settle(b, &pend, rrange(r, 1 * MS, 50 * MS)));
        } else {
            /* the server gives up */
            add(b, iv, S, F_RST | F_ACK, 0);
        }
        return;
    }
    default:
        die("bad kind");
    }
}

/* ---------------------------------------------------------------- address pools */

#define NCLIENT4 200000u
#define NCLIENT6 20000u
#define NSERVER4 300u
#define NSERVER6 40u

static uint16_t cport4[NCLIENT4], cport6[NCLIENT6];

static const uint16_t srv_ports[20] = {443, 443, 443, 443,  443,  443,  443,  443,  80, 80,
                                       80,  80,  80,  5432, 5432, 3306, 6379, 8080, 22, 25};

static uint16_t next_port(uint16_t *slot, uint32_t idx)
{
    /* ephemeral range 32768..60999, starting per client at a hashed point and
     * walking upwards: a client would need 28k concurrent connections for a
     * 4-tuple to repeat while still open */
    if (*slot == 0)
        *slot = (uint16_t)(32768 + (idx * 2654435761u) % 28232);
    uint16_t p = *slot;
    *slot = (uint16_t)(p >= 60999 ? 32768 : p + 1);
    return p;
}

static void conn_new(conn_t *c, rng_t *r)
{
    static const uint32_t cum[K_NKINDS] = {880, 900, 920, 930, 940, 950, 960, 970, 980};
    uint32_t x = rbelow(r, 980);
    uint8_t k = 0;
    while (x >= cum[k])
        k++;
    c->kind = k;
    c->v6 = rchance(r, 100) ? 1 : 0;
    c->ts_on = rchance(r, 850) ? 1 : 0;
    c->ws_on = rchance(r, 900) ? 1 : 0;
    c->sack_on = rchance(r, 900) ? 1 : 0;

    uint32_t sidx = rbelow(r, 1 + rbelow(r, c->v6 ? NSERVER6 : NSERVER4)); /* skewed */
    c->vlan_on = rchance(r, 50) ? 1 : 0;
    c->vlan = (uint16_t)(100 + sidx % 50);
    c->port[S] = srv_ports[(sidx * 7u) % 20];
    memset(c->addr, 0, sizeof c->addr);
    if (!c->v6) {
        uint32_t ci = rbelow(r, NCLIENT4);
        uint32_t a = (10u << 24) + (1u << 16) + ci; /* 10.1.0.0 .. */
        be32(c->addr[C], a);
        be32(c->addr[S], (172u << 24) | (16u << 16) | ((sidx / 250) << 8) | (sidx % 250 + 1));
        c->port[C] = next_port(&cport4[ci], ci);
        c->mss[C] = c->mss[S] = 1460;
    } else {
        uint32_t ci = rbelow(r, NCLIENT6);
        static const uint8_t cpre[8] = {0xfd, 0x00, 0x12, 0x34, 0x56, 0x78, 0x00, 0x01};
        static const uint8_t spre[8] = {0x20, 0x01, 0x0d, 0xb8, 0x00, 0x80, 0x00, 0x00};
        memcpy(c->addr[C], cpre, 8);
        be32(c->addr[C] + 12, ci + 1);
        c->addr[C][8] = 0x02;
        memcpy(c->addr[S], spre, 8);
        be32(c->addr[S] + 12, sidx + 1);
        c->port[C] = next_port(&cport6[ci], ci + NCLIENT4);
        c->mss[C] = c->mss[S] = 1440;
    }
    /* MACs: client NIC derived from its address; server side = the router */
    static const uint8_t router[6] = {0x00, 0x1b, 0x21, 0x0a, 0x0b, 0x0c};
    c->mac[C][0] = 0x02;
    c->mac[C][1] = 0x42;
    memcpy(c->mac[C] + 2, c->addr[C] + (c->v6 ? 12 : 0), 4);
    memcpy(c->mac[S], router, 6);

    c->ttl[C] = 64;
    c->ttl[S] = (uint8_t)(64 - 2 - sidx % 20);
    c->wscale[C] = 7;
    c->wscale[S] = (uint8_t)(sidx % 3 == 0 ? 9 : 7);
    for (int d = 0; d < 2; d++) {
        uint64_t v = rnext(r);
        c->isn[d] = (uint32_t)v;
        c->tsbase[d] = (uint32_t)(v >> 32);
        c->lastts[d] = 0;
        c->ipid[d] = (uint16_t)rnext(r);
        c->flow[d] = (uint32_t)rnext(r) & 0xfffff;
        c->patoff[d] = rbelow(r, PAT_LEN);
    }
    script(c, r);
}

/* ---------------------------------------------------------------- frame builder */

static void emit(out_t *o, conn_t *c, const ev_t *e, uint64_t tns)
{
    uint8_t h[128];
    uint32_t p = 0;
    int d = e->dir;
    memcpy(h, c->mac[!d], 6);
    memcpy(h + 6, c->mac[d], 6);
    p = 12;
    if (c->vlan_on) {
        be16(h + p, 0x8100);
        be16(h + p + 2, c->vlan);
        p += 4;
    }
    be16(h + p, c->v6 ? 0x86dd : 0x0800);
    p += 2;
    uint32_t ip = p;
    p += c->v6 ? 40u : 20u;
    uint32_t th = p;

    /* TCP options */
    uint8_t opt[40];
    uint32_t ol = 0;
    int syn = (e->flags & F_SYN) != 0;
    /* no timestamps on a refusal RST or on a bare RST */
    int ts = c->ts_on && !(c->kind == K_REFUSED && d == S) &&
             !((e->flags & F_RST) && !(e->flags & F_ACK));
    uint32_t tsval = 0;
    if (ts) {
        tsval = c->tsbase[d] + (uint32_t)((tns - c->start) / MS);
    }
    if (syn) {
        opt[ol++] = 2; /* MSS */
        opt[ol++] = 4;
        be16(opt + ol, c->mss[d]);
        ol += 2;
        if (c->sack_on) {
            opt[ol++] = 4;
            opt[ol++] = 2;
        } else if (ts) {
            opt[ol++] = 1;
            opt[ol++] = 1;
        }
        if (ts) {
            opt[ol++] = 8;
            opt[ol++] = 10;
            be32(opt + ol, tsval);
            be32(opt + ol + 4, (e->flags & F_ACK) ? c->lastts[!d] : 0);
            ol += 8;
        } else if (c->sack_on) {
            opt[ol++] = 1;
            opt[ol++] = 1;
        }
        if (c->ws_on) {
            opt[ol++] = 1;
            opt[ol++] = 3;
            opt[ol++] = 3;
            opt[ol++] = c->wscale[d];
        }
    } else if (ts) {
        opt[ol++] = 1;
        opt[ol++] = 1;
        opt[ol++] = 8;
        opt[ol++] = 10;
        be32(opt + ol, tsval);
        be32(opt + ol + 4, c->lastts[!d]);
        ol += 8;
    }
    while (ol & 3)
        opt[ol++] = 0;
    if (ts)
        c->lastts[d] = tsval;

    uint32_t thl = 20 + ol;
    uint32_t tcplen = thl + e->len;
    uint32_t seq = c->isn[d] + e->seq;
    uint32_t ack = (e->flags & F_ACK) ? c->isn[!d] + e->ack : 0;
    be16(h + th, c->port[d]);
    be16(h + th + 2, c->port[!d]);
    be32(h + th + 4, seq);
    be32(h + th + 8, ack);
    h[th + 12] = (uint8_t)((thl / 4) << 4);
    h[th + 13] = e->flags;
    be16(h + th + 14, e->win);
    be16(h + th + 16, 0);
    be16(h + th + 18, 0);
    memcpy(h + th + 20, opt, ol);

    uint64_t sum;
    if (!c->v6) {
        uint8_t *iph = h + ip;
        iph[0] = 0x45;
        iph[1] = 0;
        be16(iph + 2, 20 + tcplen);
        be16(iph + 4, c->ipid[d]++);
        be16(iph + 6, 0x4000); /* DF */
        iph[8] = c->ttl[d];
        iph[9] = 6;
        be16(iph + 10, 0);
        memcpy(iph + 12, c->addr[d], 4);
        memcpy(iph + 16, c->addr[!d], 4);
        be16(iph + 10, ~fold(sum16(iph, 20)) & 0xffff);
        sum = sum16(c->addr[d], 4) + sum16(c->addr[!d], 4) + 6 + tcplen;
    } else {
        uint8_t *iph = h + ip;
        be32(iph, 0x60000000u | c->flow[d]);
        be16(iph + 4, tcplen);
        iph[6] = 6;
        iph[7] = c->ttl[d];
        memcpy(iph + 8, c->addr[d], 16);
        memcpy(iph + 24, c->addr[!d], 16);
        sum = sum16(c->addr[d], 16) + sum16(c->addr[!d], 16) + 6 + tcplen;
    }
    uint32_t poff = (c->patoff[d] + e->seq - 1) % PAT_LEN;
    sum += sum16(h + th, thl);
    if (e->len)
        sum += pat_sum(poff, e->len);
    be16(h + th + 16, ~fold(sum) & 0xffff);

    uint32_t hlen = th + thl;
    uint32_t wire = hlen + e->len;
    /* frames received at the tap host are padded to the Ethernet minimum */
    uint32_t pad = (d == S && wire < 60) ? 60 - wire : 0;
    out_record(o, tns, h, hlen, pat + poff, e->len, pad);
}

/* ---------------------------------------------------------------- heap */

typedef struct {
    uint64_t t;
    uint32_t slot;
} hent_t;

static int hless(const hent_t *a, const hent_t *b)
{
    return a->t < b->t || (a->t == b->t && a->slot < b->slot);
}

static void sift_down(hent_t *h, uint32_t n, uint32_t i)
{
    hent_t x = h[i];
    for (;;) {
        uint32_t l = 2 * i + 1;
        if (l >= n)
            break;
        uint32_t m = (l + 1 < n && hless(&h[l + 1], &h[l])) ? l + 1 : l;
        if (!hless(&h[m], &x))
            break;
        h[i] = h[m];
        i = m;
    }
    h[i] = x;
}

/* ---------------------------------------------------------------- modes */

#define T0 (1700000000ULL * SEC) /* 2023-11-14T22:13:20Z */

typedef struct {
    uint64_t started[K_NKINDS], pkts[K_NKINDS];
    uint64_t finished, v6, vlan, conns, dur_sum;
    uint64_t t_end;
} stats_t;

static void run_mix(out_t *o, uint64_t npackets, uint32_t nslots, uint64_t seed, stats_t *st,
                    int quiet)
{
    rng_t r = {seed};
    conn_t *slots = calloc(nslots, sizeof *slots);
    hent_t *heap = malloc(nslots * sizeof *heap);
    if (!slots || !heap)
        die("out of memory");
    for (uint32_t i = 0; i < nslots; i++) {
        conn_t *c = &slots[i];
        /* staggered start over the first 100 ms */
        c->start = T0 + rrange(&r, 0, 100 * MS);
        conn_new(c, &r);
        st->started[c->kind]++;
        st->conns++;
        st->v6 += c->v6;
        st->vlan += c->vlan_on;
        heap[i].t = c->start + c->ev[0].t;
        heap[i].slot = i;
    }
    for (uint32_t i = nslots / 2; i-- > 0;)
        sift_down(heap, nslots, i);

    uint64_t last = 0;
    uint64_t report = isatty(2) ? 1000000 : UINT64_MAX;
    while (o->packets < npackets) {
        conn_t *c = &slots[heap[0].slot];
        uint64_t t = heap[0].t;
        if (t <= last) /* strictly increasing timestamps */
            t = last + 1;
        last = t;
        const ev_t *e = &c->ev[c->pos++];
        emit(o, c, e, t);
        st->pkts[c->kind]++;
        if (c->pos == c->n) {
            st->finished++;
            st->dur_sum += c->ev[c->n - 1].t;
            c->start = t + rrange(&r, 100 * US, 20 * MS);
            conn_new(c, &r);
            st->started[c->kind]++;
            st->conns++;
            st->v6 += c->v6;
            st->vlan += c->vlan_on;
            heap[0].t = c->start + c->ev[0].t;
        } else {
            heap[0].t = c->start + c->ev[c->pos].t;
        }
        sift_down(heap, nslots, 0);
        if (!quiet && o->packets >= report) {
            fprintf(stderr, "\rgen: %llu packets", (unsigned long long)o->packets);
            report += 1000000;
        }
    }
    if (!quiet && npackets >= 1000000 && isatty(2))
        fputc('\n', stderr);
    st->t_end = last;
    for (uint32_t i = 0; i < nslots; i++)
        free(slots[i].ev);
    free(slots);
    free(heap);
}

static uint32_t flood_addr(uint64_t i)
{
    static const struct {
        uint32_t base, size;
    } ranges[] = {
        {(10u << 24), 1u << 24},
        {(172u << 24) | (16u << 16), 1u << 20},
        {(192u << 24) | (168u << 16), 1u << 16},
        {(100u << 24) | (64u << 16), 1u << 22},
    };
    for (size_t k = 0; k < sizeof ranges / sizeof ranges[0]; k++) {
        uint32_t usable = ranges[k].size - 2; /* skip network and broadcast */
        if (i < usable)
            return ranges[k].base + 1 + (uint32_t)i;
        i -= usable;
    }
    die("--flood: more sources than the spoofed ranges hold (max ~22.9M)");
    return 0;
}

static void run_flood(out_t *o, uint64_t n, uint64_t seed)
{
    rng_t r = {seed ^ 0xf100df100dULL};
    conn_t c;
    memset(&c, 0, sizeof c);
    c.kind = K_TIMEOUT;
    c.mss[C] = 1460;
    c.ttl[C] = 0;
    c.mac[C][0] = 0x02;
    c.mac[C][1] = 0x66;
    static const uint8_t router[6] = {0x00, 0x1b, 0x21, 0x0a, 0x0b, 0x0c};
    memcpy(c.mac[S], router, 6);
    be32(c.addr[S], (198u << 24) | (51u << 16) | (100u << 8) | 10u);
    c.port[S] = 80;
    ev_t e = {0, 0, 0, 0, 0, C, F_SYN};
    uint64_t t = T0;
    for (uint64_t i = 0; i < n; i++) {
        be32(c.addr[C], flood_addr(i));
        memcpy(c.mac[C] + 2, c.addr[C], 4);
        uint64_t v = rnext(&r);
        c.port[C] = (uint16_t)(1024 + (v & 0xffff) % 64512);
        c.isn[C] = (uint32_t)(v >> 16);
        c.ipid[C] = (uint16_t)(v >> 48);
        c.ttl[C] = (uint8_t)(40 + (v >> 8) % 200);
        e.win = (uint16_t)(1024u << ((v >> 56) % 6));
        c.start = t;
        emit(o, &c, &e, t);
        t += 1 * US + (v >> 40) % (2 * US);
    }
}

/* ---------------------------------------------------------------- main */

static uint64_t parse_num(const char *opt, const char *s)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || end == s)
        goto bad;
    switch (*end) {
    case 'k':
    case 'K':
        v *= 1000ULL;
        end++;
        break;
    case 'm':
    case 'M':
        v *= 1000000ULL;
        end++;
        break;
    case 'g':
    case 'G':
        v *= 1000000000ULL;
        end++;
        break;
    default:
        break;
    }
    if (*end)
        goto bad;
    return v;
bad:
    fprintf(stderr, "gen: bad number for %s: '%s'\n", opt, s);
    exit(2);
}

static void usage(FILE *f)
{
    fputs("usage: gen -o FILE [--packets N] [--concurrent N] [--seed S] [--snaplen N]\n"
          "           [--nsec] [--flood N] [--quiet]\n"
          "  --packets N     frames to write (default 10000000; k/M/G suffixes)\n"
          "  --concurrent N  connections open at once (default 10000)\n"
          "  --seed S        PRNG seed (default 1); same seed, same bytes\n"
          "  --snaplen N     capture length per frame (default 96; 0 = full payload)\n"
          "  --nsec          nanosecond pcap magic (default microsecond)\n"
          "  --flood N       instead: N unanswered SYNs from N distinct spoofed sources\n"
          "  --quiet         no progress or summary on stderr\n",
          f);
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    uint64_t npackets = 10000000, nconc = 10000, seed = 1, snaplen = 96, flood = 0;
    int nsec = 0, quiet = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEEDV                                                                                      \
    do {                                                                                           \
        if (!v) {                                                                                  \
            fprintf(stderr, "gen: %s needs a value\n", a);                                         \
            return 2;                                                                              \
        }                                                                                          \
        i++;                                                                                       \
    } while (0)
        if (!strcmp(a, "-o")) {
            NEEDV;
            path = v;
        } else if (!strcmp(a, "--packets")) {
            NEEDV;
            npackets = parse_num(a, v);
        } else if (!strcmp(a, "--concurrent")) {
            NEEDV;
            nconc = parse_num(a, v);
        } else if (!strcmp(a, "--seed")) {
            NEEDV;
            seed = parse_num(a, v);
        } else if (!strcmp(a, "--snaplen")) {
            NEEDV;
            snaplen = parse_num(a, v);
        } else if (!strcmp(a, "--flood")) {
            NEEDV;
            flood = parse_num(a, v);
        } else if (!strcmp(a, "--nsec")) {
            nsec = 1;
        } else if (!strcmp(a, "--quiet")) {
            quiet = 1;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "gen: unknown argument '%s'\n", a);
            usage(stderr);
            return 2;
        }
#undef NEEDV
    }
    if (!path) {
        usage(stderr);
        return 2;
    }
    if (nconc < 1 || nconc > 10000000)
        die("--concurrent must be 1..10000000");
    if (snaplen != 0 && (snaplen < 54 || snaplen > 262144))
        die("--snaplen must be 0 or 54..262144");

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pat_init();
    out_t o;
    memset(&o, 0, sizeof o);
    o.f = strcmp(path, "-") ? fopen(path, "wb") : stdout;
    if (!o.f) {
        fprintf(stderr, "gen: %s: %s\n", path, strerror(errno));
        return 1;
    }
    o.cap = 8u << 20;
    o.buf = malloc(o.cap);
    if (!o.buf)
        die("out of memory");
    o.snaplen = (uint32_t)snaplen;
    o.nsec = nsec;
    out_header(&o);

    stats_t st;
    memset(&st, 0, sizeof st);
    if (flood)
        run_flood(&o, flood, seed);
    else
        run_mix(&o, npackets, (uint32_t)nconc, seed, &st, quiet);
    out_flush(&o);
    free(o.buf);
    if (o.f != stdout && fclose(o.f)) {
        fprintf(stderr, "gen: %s: %s\n", path, strerror(errno));
        return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double el = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    if (quiet)
        return 0;

    fprintf(stderr,
            "gen: wrote %s: %llu packets, %.1f MiB captured (%.1f MiB on the wire) in %.2f s\n",
            path, (unsigned long long)o.packets, (double)o.bytes_cap / 1048576.0,
            (double)o.bytes_wire / 1048576.0, el);
    if (flood) {
        fprintf(stderr,
                "gen: SYN flood: %llu distinct sources -> 198.51.100.10:80, none answered\n",
                (unsigned long long)flood);
        return 0;
    }
    fprintf(stderr,
            "gen: %llu connections (%llu finished, %llu still in progress at the end), "
            "%.1f packets/connection, %.1f s of traffic, mean duration %.2f s\n",
            (unsigned long long)st.conns, (unsigned long long)st.finished,
            (unsigned long long)(st.conns - st.finished),
            (double)o.packets / (double)(st.conns ? st.conns : 1), (double)(st.t_end - T0) / 1e9,
            (double)st.dur_sum / 1e9 / (double)(st.finished ? st.finished : 1));
    fprintf(stderr, "gen: IPv6 %llu (%.1f%%), 802.1Q %llu (%.1f%%)\n", (unsigned long long)st.v6,
            100.0 * (double)st.v6 / (double)st.conns, (unsigned long long)st.vlan,
            100.0 * (double)st.vlan / (double)st.conns);
    for (int k = 0; k < K_NKINDS; k++)
        fprintf(stderr, "gen:   %-22s %9llu conns (%5.2f%%) %10llu packets\n", kind_name[k],
                (unsigned long long)st.started[k], 100.0 * (double)st.started[k] / (double)st.conns,
                (unsigned long long)st.pkts[k]);
    return 0;
}
