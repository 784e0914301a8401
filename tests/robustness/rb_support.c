/* SPDX-License-Identifier: MIT */
/*
 * rb_support.c - see rb_support.h: pcap / pcapng writing and walking, packet
 * crafting, the in-process pipeline run, and the JSON summary reader used by
 * the robustness tests.
 */
#include "rb_support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifdef HAVE_VALGRIND_H
#include <valgrind/valgrind.h>
#endif

/* ---- buffer -------------------------------------------------------------- */

void rb_buf_put(struct rb_buf *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        uint8_t *d = realloc(b->data, cap);
        if (!d) {
            fprintf(stderr, "rb_buf_put: out of memory\n");
            abort();
        }
        b->data = d;
        b->cap = cap;
    }
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
}

void rb_buf_free(struct rb_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

bool rb_read_file(const char *path, struct rb_buf *out)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    uint8_t chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        rb_buf_put(out, chunk, n);
    bool ok = !ferror(f);
    fclose(f);
    return ok;
}

/* ---- byte order helpers ----------------------------------------------------- */

static void put_le16(struct rb_buf *b, uint32_t v)
{
    uint8_t x[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    rb_buf_put(b, x, 2);
}

static void put_le32(struct rb_buf *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    rb_buf_put(b, x, 4);
}

static void put_be32(struct rb_buf *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    rb_buf_put(b, x, 4);
}

static uint32_t get32(const uint8_t *p, bool big)
{
    if (big)
        return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

/* ---- capture files --------------------------------------------------------- */

void rb_pcap_header(struct rb_buf *b, uint32_t linktype, uint32_t snaplen)
{
    put_le32(b, 0xa1b2c3d4u);
    put_le16(b, 2);
    put_le16(b, 4);
    put_le32(b, 0);
    put_le32(b, 0);
    put_le32(b, snaplen);
    put_le32(b, linktype);
}

void rb_pcap_record(struct rb_buf *b, int64_t ts_ns, const uint8_t *bytes, uint32_t caplen,
                    uint32_t wirelen)
{
    put_le32(b, (uint32_t)(ts_ns / 1000000000LL));
    put_le32(b, (uint32_t)((ts_ns % 1000000000LL) / 1000));
    put_le32(b, caplen);
    put_le32(b, wirelen);
    rb_buf_put(b, bytes, caplen);
}

#define PCAPNG_SHB 0x0a0d0d0au
#define PCAPNG_IDB 1u
#define PCAPNG_PB 2u
#define PCAPNG_SPB 3u
#define PCAPNG_EPB 6u
#define PCAPNG_BOM 0x1a2b3c4du

long rb_walk(const uint8_t *b, size_t len, size_t *header_end, struct rb_record *out, size_t max)
{
    if (len < 4)
        return -1;
    uint32_t le = get32(b, false), be = get32(b, true);
    long n = 0;
    if (le == 0xa1b2c3d4u || le == 0xa1b23c4du || be == 0xa1b2c3d4u || be == 0xa1b23c4du) {
        bool big = !(le == 0xa1b2c3d4u || le == 0xa1b23c4du);
        size_t off = 24;
        *header_end = off;
        while (off + 16 <= len) {
            uint32_t caplen = get32(b + off + 8, big);
            if ((uint64_t)off + 16 + caplen > len)
                break;
            if ((size_t)n < max) {
                out[n].start = off;
                out[n].data_start = off + 16;
                out[n].end = out[n].data_end = off + 16 + caplen;
                out[n].is_packet = true;
            }
            n++;
            off += 16 + (size_t)caplen;
        }
        return n;
    }
    if (le != PCAPNG_SHB || len < 12)
        return -1;
    bool big = get32(b + 8, true) == PCAPNG_BOM;
    size_t off = 0;
    bool first = true;
    while (off + 12 <= len) {
        uint32_t type = get32(b + off, big), total = get32(b + off + 4, big);
        if (total < 12 || total % 4 || (uint64_t)off + total > len)
            break;
        if (first) {
            *header_end = off + total;
            first = false;
        } else {
            if ((size_t)n < max) {
                struct rb_record *r = &out[n];
                r->start = off;
                r->end = off + total;
                r->is_packet = type == PCAPNG_EPB || type == PCAPNG_SPB || type == PCAPNG_PB;
                r->data_start = r->data_end = off + 8;
                if ((type == PCAPNG_EPB || type == PCAPNG_PB) && total >= 32) {
                    r->data_start = off + 28;
                    r->data_end = r->data_start + get32(b + off + 20, big);
                } else if (type == PCAPNG_SPB && total >= 16) {
                    r->data_start = off + 12;
                    r->data_end = r->data_start + get32(b + off + 8, big);
                }
                if (r->data_end > r->end - 4)
                    r->data_end = r->end - 4;
            }
            n++;
        }
        off += total;
    }
    if (first)
        return -1;
    return n;
}

void rb_pcap_to_pcapng(const uint8_t *pcap, size_t len, bool nano, struct rb_buf *out)
{
    size_t hdr;
    long n = rb_walk(pcap, len, &hdr, NULL, 0);
    bool big = get32(pcap, false) != 0xa1b2c3d4u && get32(pcap, false) != 0xa1b23c4du;
    bool src_nano = get32(pcap, big) == 0xa1b23c4du;
    /* SHB */
    put_le32(out, PCAPNG_SHB);
    put_le32(out, 28);
    put_le32(out, PCAPNG_BOM);
    put_le16(out, 1);
    put_le16(out, 0);
    put_le32(out, 0xffffffffu);
    put_le32(out, 0xffffffffu);
    put_le32(out, 28);
    /* IDB */
    uint32_t idb_len = nano ? 32 : 20;
    put_le32(out, PCAPNG_IDB);
    put_le32(out, idb_len);
    put_le16(out, get32(pcap + 20, big));
    put_le16(out, 0);
    put_le32(out, get32(pcap + 16, big));
    if (nano) {
        put_le16(out, 9); /* if_tsresol */
        put_le16(out, 1);
        put_le32(out, 9); /* 10^-9, then 3 bytes of padding */
        put_le32(out, 0); /* opt_endofopt */
    }
    put_le32(out, idb_len);
    /* EPBs */
    size_t off = hdr;
    for (long i = 0; i < n; i++) {
        uint32_t sec = get32(pcap + off, big), frac = get32(pcap + off + 4, big);
        uint32_t caplen = get32(pcap + off + 8, big), wire = get32(pcap + off + 12, big);
        uint64_t ns = (uint64_t)sec * 1000000000u + (src_nano ? frac : (uint64_t)frac * 1000u);
        uint64_t ts = nano ? ns : ns / 1000u;
        uint32_t pad = (4 - caplen % 4) % 4;
        uint32_t total = 32 + caplen + pad;
        put_le32(out, PCAPNG_EPB);
        put_le32(out, total);
        put_le32(out, 0);
        put_le32(out, (uint32_t)(ts >> 32));
        put_le32(out, (uint32_t)ts);
        put_le32(out, caplen);
        put_le32(out, wire);
        rb_buf_put(out, pcap + off + 16, caplen);
        static const uint8_t zeros[4];
        rb_buf_put(out, zeros, pad);
        put_le32(out, total);
        off += 16 + caplen;
    }
}

void rb_pcap_to_be_nano(const uint8_t *pcap, size_t len, struct rb_buf *out)
{
    size_t hdr;
    long n = rb_walk(pcap, len, &hdr, NULL, 0);
    bool big = get32(pcap, false) != 0xa1b2c3d4u && get32(pcap, false) != 0xa1b23c4du;
    bool src_nano = get32(pcap, big) == 0xa1b23c4du;
    put_be32(out, 0xa1b23c4du);
    uint8_t ver[4] = {0, 2, 0, 4};
    rb_buf_put(out, ver, 4);
    put_be32(out, 0);
    put_be32(out, 0);
    put_be32(out, get32(pcap + 16, big));
    put_be32(out, get32(pcap + 20, big));
    size_t off = hdr;
    for (long i = 0; i < n; i++) {
        uint32_t frac = get32(pcap + off + 4, big), caplen = get32(pcap + off + 8, big);
        put_be32(out, get32(pcap + off, big));
        put_be32(out, src_nano ? frac : frac * 1000u);
        put_be32(out, caplen);
        put_be32(out, get32(pcap + off + 12, big));
        rb_buf_put(out, pcap + off + 16, caplen);
        off += 16 + caplen;
    }
}

/* ---- packets ------------------------------------------------------------- */

struct wbuf {
    uint8_t *p;
    uint32_t cap, n; /* n counts every byte, written or not */
};

static void w8(struct wbuf *w, unsigned v)
{
    if (w->n < w->cap)
        w->p[w->n] = (uint8_t)v;
    w->n++;
}

static void w16(struct wbuf *w, unsigned v)
{
    w8(w, (v >> 8) & 0xffu);
    w8(w, v & 0xffu);
}

static void w32(struct wbuf *w, uint32_t v)
{
    w16(w, v >> 16);
    w16(w, v & 0xffffu);
}

static void wn(struct wbuf *w, const uint8_t *s, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        w8(w, s ? s[i] : 0);
}

/* Overwrite 2 bytes at off (if written). */
static void w16_at(struct wbuf *w, uint32_t off, unsigned v)
{
    if (off + 1 < w->cap) {
        w->p[off] = (uint8_t)(v >> 8);
        w->p[off + 1] = (uint8_t)v;
    }
}

/* RFC 1071, byte by byte, independent of the decoder's. */
static uint32_t sum16(uint32_t acc, const uint8_t *p, uint32_t n)
{
    for (uint32_t i = 0; i + 1 < n; i += 2)
        acc += (uint32_t)p[i] << 8 | p[i + 1];
    if (n & 1)
        acc += (uint32_t)p[n - 1] << 8;
    return acc;
}

static uint16_t fold(uint32_t acc)
{
    while (acc >> 16)
        acc = (acc & 0xffffu) + (acc >> 16);
    return (uint16_t)~acc;
}

#define ETHERTYPE_IPV4 0x0800u
#define ETHERTYPE_IPV6 0x86ddu
#define ETHERTYPE_VLAN 0x8100u
#define ETHERTYPE_MPLS 0x8847u

static void write_link(struct wbuf *w, const struct rb_link *l, int ip_version)
{
    unsigned type = ip_version == 6 ? ETHERTYPE_IPV6 : ETHERTYPE_IPV4;
    static const uint8_t mac_a[6] = {0x02, 0, 0, 0, 0, 0x0a};
    static const uint8_t mac_b[6] = {0x02, 0, 0, 0, 0, 0x0b};
    switch (l->kind) {
    case RB_ETH: {
        wn(w, mac_a, 6);
        wn(w, mac_b, 6);
        unsigned inner = l->mpls ? ETHERTYPE_MPLS : type;
        for (unsigned i = 0; i < l->vlans; i++) { /* TPID, TCI per tag, then the type */
            w16(w, ETHERTYPE_VLAN);
            w16(w, 100 + i);
        }
        w16(w, inner);
        for (unsigned i = 0; i < l->mpls; i++)
            w32(w, (uint32_t)(16 + i) << 12 | (i + 1 == l->mpls ? 0x100u : 0u) | 64u);
        break;
    }
    case RB_SLL:
        w16(w, 0);
        w16(w, 1);
        w16(w, 6);
        wn(w, mac_a, 6);
        w16(w, 0);
        w16(w, type);
        break;
    case RB_SLL2:
        w16(w, type);
        w16(w, l->sll2_odd ? 0xbeefu : 0);
        w32(w, l->sll2_odd ? 0xffffffffu : 2);
        w16(w, l->sll2_odd ? 0xffffu : 1);
        w8(w, l->sll2_odd ? 0xffu : 0);
        w8(w, l->sll2_odd ? 0xffu : 6);
        wn(w, mac_a, 6);
        w16(w, 0);
        break;
    case RB_RAW:
        break;
    case RB_NULL: /* host byte order: little-endian here */
        w8(w, ip_version == 6 ? 24 : 2);
        w8(w, 0);
        w8(w, 0);
        w8(w, 0);
        break;
    case RB_LOOP:
        w32(w, ip_version == 6 ? 24 : 2);
        break;
    }
}

uint32_t rb_frame_bytes(uint8_t *out, uint32_t cap, const struct rb_link *l,
                        const struct rb_tcp *t)
{
    struct wbuf w = {.p = out, .cap = cap, .n = 0};
    write_link(&w, l, t->ip_version);

    uint32_t opts_padded = (t->opts_len + 3u) & ~3u;
    uint32_t tcp_hlen = 20 + opts_padded;
    uint32_t tcp_len = tcp_hlen + t->payload;
    uint32_t ip_at = w.n;
    uint8_t ttl = t->ttl ? t->ttl : 64;
    uint32_t pseudo = 0;
    if (t->ip_version == 4) {
        unsigned ihl = t->ihl ? (unsigned)t->ihl : 5u;
        uint32_t hdr_bytes = ihl >= 5 ? ihl * 4 : 20;
        uint32_t total = t->ip_len >= 0 ? (uint32_t)t->ip_len : hdr_bytes + tcp_len;
        if (total > 0xffffu)
            total = 0xffffu;
        w8(&w, 0x40u | (ihl & 0xfu));
        w8(&w, 0);
        w16(&w, total);
        w16(&w, 0x1234);
        w16(&w, 0x4000); /* DF */
        w8(&w, ttl);
        w8(&w, 6);
        uint32_t csum_at = w.n;
        w16(&w, 0);
        wn(&w, t->src, 4);
        wn(&w, t->dst, 4);
        for (uint32_t i = 20; i < hdr_bytes; i++)
            w8(&w, 1); /* NOP options */
        if (ip_at + hdr_bytes <= cap)
            w16_at(&w, csum_at, fold(sum16(0, out + ip_at, hdr_bytes)));
        pseudo = sum16(pseudo, t->src, 4);
        pseudo = sum16(pseudo, t->dst, 4);
        pseudo += 6 + tcp_len;
    } else {
        uint32_t plen = t->ip_len >= 0 ? (uint32_t)t->ip_len : t->ext_len + tcp_len;
        w32(&w, 0x60000000u);
        w16(&w, plen & 0xffffu);
        w8(&w, t->ext_len ? t->ext_first : 6);
        w8(&w, ttl);
        wn(&w, t->src, 16);
        wn(&w, t->dst, 16);
        wn(&w, t->ext, t->ext_len);
        pseudo = sum16(pseudo, t->src, 16);
        pseudo = sum16(pseudo, t->dst, 16);
        pseudo += (tcp_len >> 16) + (tcp_len & 0xffffu) + 6;
    }
    uint32_t tcp_at = w.n;
    unsigned doff = t->doff ? (unsigned)t->doff : tcp_hlen / 4;
    w16(&w, t->sport);
    w16(&w, t->dport);
    w32(&w, t->seq);
    w32(&w, t->ack);
    w8(&w, (doff & 0xfu) << 4);
    w8(&w, t->flags);
    w16(&w, t->win);
    uint32_t csum_at = w.n;
    w16(&w, 0);
    w16(&w, 0);
    wn(&w, t->opts, t->opts_len);
    for (uint32_t i = t->opts_len; i < opts_padded; i++)
        w8(&w, 0);
    /* The payload is zeros: it adds nothing to the sum, so the checksum is
     * right for the declared length even when the payload is not written. */
    if (tcp_at + tcp_hlen <= cap)
        w16_at(&w, csum_at, fold(sum16(pseudo, out + tcp_at, tcp_hlen)));
    for (uint32_t i = 0; i < t->payload && w.n < cap; i++)
        w8(&w, 0);
    return tcp_at + tcp_hlen + t->payload;
}

#define RB_FRAME_MAX 2048

void rb_put_frame(struct rb_buf *pcap, int64_t ts_ns, const struct rb_link *l,
                  const struct rb_tcp *t, uint32_t snap)
{
    uint8_t frame[RB_FRAME_MAX];
    memset(frame, 0, sizeof frame);
    uint32_t wire = rb_frame_bytes(frame, sizeof frame, l, t);
    uint32_t caplen = wire < RB_FRAME_MAX ? wire : RB_FRAME_MAX;
    if (snap && snap < caplen)
        caplen = snap;
    rb_pcap_record(pcap, ts_ns, frame, caplen, wire);
}

struct rb_flow rb_flow4(uint16_t cport, uint16_t sport, uint32_t cisn, uint32_t sisn)
{
    struct rb_flow f;
    memset(&f, 0, sizeof f);
    f.ip_version = 4;
    const uint8_t c[4] = {10, 1, 0, 1}, s[4] = {10, 2, 0, 2};
    memcpy(f.cli, c, 4);
    memcpy(f.srv, s, 4);
    f.cport = cport;
    f.sport = sport;
    f.cisn = cisn;
    f.sisn = sisn;
    return f;
}

struct rb_flow rb_flow6(uint16_t cport, uint16_t sport, uint32_t cisn, uint32_t sisn)
{
    struct rb_flow f;
    memset(&f, 0, sizeof f);
    f.ip_version = 6;
    f.cli[0] = f.srv[0] = 0xfd;
    f.cli[15] = 1;
    f.srv[15] = 2;
    f.cport = cport;
    f.sport = sport;
    f.cisn = cisn;
    f.sisn = sisn;
    return f;
}

struct rb_tcp rb_seg(const struct rb_flow *fl, bool c2s, uint8_t flags, uint32_t seq, uint32_t ack,
                     uint32_t payload)
{
    struct rb_tcp t;
    memset(&t, 0, sizeof t);
    t.ip_version = fl->ip_version;
    memcpy(t.src, c2s ? fl->cli : fl->srv, 16);
    memcpy(t.dst, c2s ? fl->srv : fl->cli, 16);
    t.sport = c2s ? fl->cport : fl->sport;
    t.dport = c2s ? fl->sport : fl->cport;
    t.seq = seq;
    t.ack = ack;
    t.flags = flags;
    t.win = 65535;
    t.payload = payload;
    t.ip_len = -1;
    t.ttl = c2s ? 64 : 63;
    return t;
}

struct rb_tcp rb_clean_step(const struct rb_flow *fl, unsigned i)
{
    uint32_t c = fl->cisn, s = fl->sisn;
    const uint8_t A = TCP_ACK, PA = TCP_PSH | TCP_ACK, FA = TCP_FIN | TCP_ACK;
    switch (i) {
    case 0:
        return rb_seg(fl, true, TCP_SYN, c, 0, 0);
    case 1:
        return rb_seg(fl, false, TCP_SYN | TCP_ACK, s, c + 1, 0);
    case 2:
        return rb_seg(fl, true, A, c + 1, s + 1, 0);
    case 3:
        return rb_seg(fl, true, PA, c + 1, s + 1, RB_CLEAN_CLIENT_BYTES);
    case 4:
        return rb_seg(fl, false, A, s + 1, c + 101, 0);
    case 5:
        return rb_seg(fl, false, PA, s + 1, c + 101, RB_CLEAN_SERVER_BYTES);
    case 6:
        return rb_seg(fl, true, A, c + 101, s + 201, 0);
    case 7:
        return rb_seg(fl, true, FA, c + 101, s + 201, 0);
    case 8:
        return rb_seg(fl, false, FA, s + 201, c + 102, 0);
    default:
        return rb_seg(fl, true, A, c + 102, s + 202, 0);
    }
}

/* ---- running the pipeline -------------------------------------------------- */

struct rec_reporter {
    struct reporter base;
    struct reporter *json, *text;
    struct rb_result *r;
    size_t cap;
};

/* A 64-bit hash, eight bytes at a time (FNV-1a for the tail). */
static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (; n >= 8; n -= 8, b += 8) {
        uint64_t w;
        memcpy(&w, b, sizeof w);
        h = (h ^ w) * 0x9e3779b97f4a7c15ull;
        h ^= h >> 29;
    }
    for (; n > 0; n--, b++) {
        h ^= *b;
        h *= 0x100000001b3ull;
    }
    return h;
}

static void rec_connection(struct reporter *base, const struct conn *c,
                           const struct verdict_info *v, enum conn_end why)
{
    struct rec_reporter *rr = (struct rec_reporter *)base;
    struct rb_result *r = rr->r;
    if (r->n_conns == rr->cap) {
        rr->cap = rr->cap ? rr->cap * 2 : 64;
        struct rb_conn *bigger = realloc(r->conns, rr->cap * sizeof *bigger);
        if (!bigger)
            abort();
        r->conns = bigger;
    }
    struct rb_conn *x = &r->conns[r->n_conns++];
    memset(x, 0, sizeof *x);
    x->id = conn_id(c);
    x->verdict = v->verdict;
    x->ip_version = c->key.ip_version;
    x->client_port = conn_port(c, SIDE_CLIENT);
    x->server_port = conn_port(c, SIDE_SERVER);
    for (int s = 0; s < 2; s++) {
        x->pkts[s] = c->ep[s].pkts;
        x->bytes[s] = conn_bytes(c, (enum side)s);
        x->retransmits[s] = c->ep[s].retransmits;
    }
    x->first_frame = conn_first_frame(c);
    x->last_frame = conn_frame(c, &c->last_frame);
    x->verdict_frame = v->verdict_frame;
    x->evicted = (c->flags & CONN_EVICTED) != 0;
    r->conn_hash = fnv(r->conn_hash, x, sizeof *x);
    r->conn_hash = fnv(r->conn_hash, v->reason, strlen(v->reason));
    if (rr->json)
        rr->json->ops->connection(rr->json, c, v, why);
    if (rr->text)
        rr->text->ops->connection(rr->text, c, v, why);
}

static void rec_event(struct reporter *base, const struct conn *c, enum tracker_event ev,
                      int64_t now_ns, const char *detail)
{
    struct rec_reporter *rr = (struct rec_reporter *)base;
    if (rr->json)
        rr->json->ops->event(rr->json, c, ev, now_ns, detail);
    if (rr->text)
        rr->text->ops->event(rr->text, c, ev, now_ns, detail);
}

static void rec_end(struct reporter *base, const struct report_summary *s)
{
    struct rec_reporter *rr = (struct rec_reporter *)base;
    rr->r->summary = *s;
    if (rr->json)
        rr->json->ops->end(rr->json, s);
    if (rr->text)
        rr->text->ops->end(rr->text, s);
}

static void rec_destroy(struct reporter *base)
{
    (void)base;
}

static const struct reporter_ops rec_ops = {
    .name = "record",
    .create = NULL,
    .connection = rec_connection,
    .event = rec_event,
    .end = rec_end,
    .destroy = rec_destroy,
};

void rb_run(const uint8_t *bytes, size_t len, const struct rb_opts *o, struct rb_result *r)
{
    memset(r, 0, sizeof *r);
    r->conn_hash = 0xcbf29ce484222325ull;
    /* An exact-size copy: fmemopen wants a writable buffer, ASan sees overreads. */
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        abort();
    if (len)
        memcpy(copy, bytes, len);
    struct capture *cap;
    if (o && o->via_file) {
        int fd = memfd_create("rb-input", MFD_CLOEXEC);
        if (fd < 0 || (len && write(fd, copy, len) != (ssize_t)len))
            abort();
        char path[64];
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        cap = capture_open_file(path, o->filter, r->err, sizeof r->err);
        close(fd);
    } else {
        FILE *fp = len ? fmemopen(copy, len, "rb") : NULL;
        cap = capture_open_fp(fp, "input", o ? o->filter : NULL, r->err, sizeof r->err);
    }
    if (!cap) {
        free(copy);
        return;
    }
    r->opened = true;

    FILE *json_out = NULL, *text_out = NULL;
    if (o && o->json)
        json_out = open_memstream(&r->json, &r->json_len);
    if (o && o->text)
        text_out = open_memstream(&r->text, &r->text_len);
    struct reporter_config rc = {.out = json_out, .ts_digits = capture_ts_digits(cap),
                                 .max_problem_lines = 10000, .live = false};
    struct rec_reporter rr = {.base = {.ops = &rec_ops, .cfg = rc}, .r = r};
    if (json_out)
        rr.json = report_json_ops.create(&rc);
    if (text_out) {
        rc.out = text_out;
        rr.text = report_text_ops.create(&rc);
    }

    struct analyzer_config cfg;
    if (o && o->cfg)
        cfg = *o->cfg;
    else
        analyzer_config_default(&cfg);
    struct analyzer *a = malloc(sizeof *a);
    if (!a)
        abort();
    analyzer_init(a, &cfg, &rr.base);
    const char *damage = NULL;
    uint64_t bound = len / 16 + 1; /* no record is shorter: more frames is a loop */
    struct frame f;
    for (;;) {
        enum capture_status st = capture_next(cap, &f);
        if (st == CAPTURE_FRAME) {
            if (++r->frames > bound)
                break;
            analyzer_frame(a, &f);
        } else if (st == CAPTURE_DAMAGED) {
            damage = capture_damage(cap);
            r->damaged = true;
            snprintf(r->damage, sizeof r->damage, "%s", damage);
            break;
        } else {
            break;
        }
    }
    analyzer_finish(a, "input", capture_link_name(cap), damage);
    analyzer_destroy(a);
    free(a);
    if (rr.json)
        rr.json->ops->destroy(rr.json);
    if (rr.text)
        rr.text->ops->destroy(rr.text);
    if (json_out)
        fclose(json_out);
    if (text_out)
        fclose(text_out);
    /* The summary's strings point into the capture (link name) and here. */
    r->summary.source = "input";
    r->summary.link = "";
    capture_close(cap);
    free(copy);
}

void rb_result_free(struct rb_result *r)
{
    free(r->conns);
    free(r->json);
    free(r->text);
    memset(r, 0, sizeof *r);
}

const struct rb_conn *rb_find_conn(const struct rb_result *r, uint16_t client_port)
{
    for (size_t i = 0; i < r->n_conns; i++)
        if (r->conns[i].client_port == client_port)
            return &r->conns[i];
    return NULL;
}

uint64_t rb_decoder_outcomes(const struct decode_counters *c)
{
    uint64_t n = c->tcp_segments + c->icmp_errors;
    for (unsigned i = 0; i < DR__COUNT; i++)
        n += c->by_reason[i];
    return n;
}

/* ---- the JSON summary ------------------------------------------------------ */

const char *rb_json_summary(const char *json)
{
    if (!json)
        return NULL;
    const char *found = NULL;
    for (const char *p = json; p && *p;) {
        if (strncmp(p, "{\"type\":\"summary\"", 17) == 0)
            found = p;
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return found;
}

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* Past one JSON value (string, object, array, literal); NULL if malformed. */
static const char *skip_value(const char *p)
{
    p = skip_ws(p);
    if (*p == '"') {
        for (p++; *p && *p != '"'; p++)
            if (*p == '\\' && p[1])
                p++;
        return *p == '"' ? p + 1 : NULL;
    }
    if (*p == '{' || *p == '[') {
        char close = *p == '{' ? '}' : ']';
        p = skip_ws(p + 1);
        if (*p == close)
            return p + 1;
        for (;;) {
            if (close == '}') {
                p = skip_value(p); /* key */
                if (!p)
                    return NULL;
                p = skip_ws(p);
                if (*p != ':')
                    return NULL;
                p++;
            }
            p = skip_value(p);
            if (!p)
                return NULL;
            p = skip_ws(p);
            if (*p == ',') {
                p++;
                continue;
            }
            return *p == close ? p + 1 : NULL;
        }
    }
    const char *start = p;
    while (*p && *p != ',' && *p != '}' && *p != ']' && *p != '\n')
        p++;
    return p > start ? p : NULL;
}

/* The value of key in the object at p, or NULL. */
static const char *find_key(const char *p, const char *key, size_t key_len)
{
    p = skip_ws(p);
    if (*p != '{')
        return NULL;
    p = skip_ws(p + 1);
    while (*p == '"') {
        const char *k = p + 1;
        const char *end = skip_value(p);
        if (!end)
            return NULL;
        size_t klen = (size_t)(end - 1 - k);
        p = skip_ws(end);
        if (*p != ':')
            return NULL;
        p = skip_ws(p + 1);
        if (klen == key_len && strncmp(k, key, klen) == 0)
            return p;
        p = skip_value(p);
        if (!p)
            return NULL;
        p = skip_ws(p);
        if (*p != ',')
            return NULL;
        p = skip_ws(p + 1);
    }
    return NULL;
}

bool rb_json_field(const char *line, const char *path, char *out, size_t outlen)
{
    if (!line)
        return false;
    const char *dot = strchr(path, '.');
    const char *v = find_key(line, path, dot ? (size_t)(dot - path) : strlen(path));
    if (v && dot)
        v = find_key(v, dot + 1, strlen(dot + 1));
    if (!v)
        return false;
    const char *end = skip_value(v);
    if (!end)
        return false;
    size_t n = (size_t)(end - v);
    if (n >= outlen)
        n = outlen - 1;
    memcpy(out, v, n);
    out[n] = '\0';
    return true;
}

uint64_t rb_json_u64(const char *line, const char *path)
{
    char v[64];
    if (!rb_json_field(line, path, v, sizeof v) || v[0] < '0' || v[0] > '9')
        return UINT64_MAX;
    char *end;
    unsigned long long x = strtoull(v, &end, 10);
    return *end == '\0' ? (uint64_t)x : UINT64_MAX;
}

/* ---- misc ------------------------------------------------------------------- */

uint64_t rb_rand(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545f4914f6cdd1dull;
}

bool rb_under_valgrind(void)
{
#ifdef HAVE_VALGRIND_H
    if (RUNNING_ON_VALGRIND)
        return true;
#endif
    const char *p = getenv("LD_PRELOAD");
    return p && strstr(p, "vgpreload") != NULL;
}
