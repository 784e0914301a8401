/* SPDX-License-Identifier: MIT */
/*
 * decode.c - one captured frame in, one TCP segment (or one ICMP error quoting
 * a TCP segment) out.
 *
 * The decoder walks the link layer (Ethernet II with 802.1Q / 802.1ad / QinQ
 * tags and MPLS label stacks, Linux SLL and SLL2, BSD NULL and LOOP, raw IP),
 * then IPv4 (RFC 791) or IPv6 with its extension header chain (RFC 8200,
 * RFC 4302 for AH, RFC 6275 for mobility), then TCP and its options (RFC 9293,
 * RFC 7323 window scale and timestamps, RFC 2018 SACK), verifying the TCP
 * checksum (RFC 9293 section 3.1, RFC 8200 section 8.1) when the whole segment
 * was captured. ICMPv4 destination unreachable (RFC 792, RFC 1812 4.3.2.3) and
 * ICMPv6 destination unreachable (RFC 4443 3.1) are decoded down to the ports
 * and sequence number of the TCP segment they quote.
 *
 * It does not reassemble IP fragments (a first fragment is decoded from what it
 * carries, later ones are skipped), does not look into tunnels (GRE, VXLAN,
 * IP-in-IP, MPLS pseudowires), does not verify IP or ICMP checksums, and keeps
 * no state between frames. It never allocates.
 *
 * Every packet byte is read through struct cursor, whose readers check bounds
 * and fail without reading; the one exception is the fast path at the end
 * (Ethernet / SLL, one tag at most, IPv4 without options or IPv6 without
 * extension headers, TCP), which checks the length of all fixed headers at
 * once, loads the fields directly, and leaves every other frame to the
 * cursor-based decoders before it has changed anything.
 *
 * A cursor knows two lengths: the bytes captured (.len) and the bytes the same
 * region had on the wire (.wire). When a header is incomplete, the two tell a
 * snaplen cut (the wire had the bytes: the frame is skipped as
 * DR_HEADERS_CUT) from a frame that really was too short (malformed, under the
 * layer's own reason). Each frame is counted under exactly one reason, by
 * drop(), when it is skipped or malformed.
 *
 * Lengths come from the IP header, never from the captured length, but are
 * never allowed to exceed what the wire length says the frame carried: an IP
 * total length beyond the end of the frame is clamped to the frame (the
 * segment is then not "fully captured" and its checksum is not verified).
 * An IPv4 total length of 0 or an IPv6 payload length of 0 is read as "take the
 * length from the wire": that is what Linux writes for TSO / BIG TCP segments
 * captured on the sending host (and what an RFC 2675 jumbogram has), and no
 * real TCP segment can be that short.
 */
#include "decode.h"

#include <arpa/inet.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>

/* The fast path (decode_frame, decode_fast, decode_tcp_rest and the checksum)
 * must compile into one function: a call costs more than most of what the
 * callee does. The general path and the option walks are kept out of it, so
 * that their registers and stack are not paid for on every frame. */
#if defined(__GNUC__) || defined(__clang__)
#define ALWAYS_INLINE inline __attribute__((always_inline))
#define NOINLINE __attribute__((noinline))
#else
#define ALWAYS_INLINE inline
#define NOINLINE
#endif

/* ---------------------------------------------------------------------------
 * Bounded cursor.
 *
 * Invariant: off <= len <= wire. .ptr points at the first byte of the current
 * layer once cur_rebase() was called, so offsets in the field tables below are
 * offsets from the cursor's start.
 */
struct cursor {
    const uint8_t *ptr; /* first byte of the region */
    uint32_t len;       /* bytes captured from ptr */
    uint32_t wire;      /* bytes the region had on the wire (>= len) */
    uint32_t off;       /* read position */
};

static inline bool cur_has(const struct cursor *c, uint32_t n)
{
    return n <= c->len - c->off;
}

static inline bool cur_skip(struct cursor *c, uint32_t n)
{
    if (!cur_has(c, n)) {
        return false;
    }
    c->off += n;
    return true;
}

static inline bool rd_u8(struct cursor *c, uint8_t *v)
{
    if (!cur_has(c, 1)) {
        return false;
    }
    *v = c->ptr[c->off];
    c->off += 1;
    return true;
}

static inline bool rd_be16(struct cursor *c, uint16_t *v)
{
    if (!cur_has(c, 2)) {
        return false;
    }
    const uint8_t *p = c->ptr + c->off;
    *v = (uint16_t)((unsigned)p[0] << 8 | (unsigned)p[1]);
    c->off += 2;
    return true;
}

static inline bool rd_be32(struct cursor *c, uint32_t *v)
{
    if (!cur_has(c, 4)) {
        return false;
    }
    const uint8_t *p = c->ptr + c->off;
    *v = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
    c->off += 4;
    return true;
}

static inline bool rd_bytes(struct cursor *c, uint8_t *dst, uint32_t n)
{
    if (!cur_has(c, n)) {
        return false;
    }
    memcpy(dst, c->ptr + c->off, n);
    c->off += n;
    return true;
}

/* Look at the next byte without consuming it. */
static inline bool peek_u8(const struct cursor *c, uint8_t *v)
{
    if (!cur_has(c, 1)) {
        return false;
    }
    *v = c->ptr[c->off];
    return true;
}

/* Make the read position the start of the region (entering a new layer). */
static inline void cur_rebase(struct cursor *c)
{
    c->ptr += c->off;
    c->len -= c->off;
    c->wire -= c->off;
    c->off = 0;
}

/* End the region n bytes after its start (an IP length trims padding and
 * trailers). Never grows it; the caller guarantees n >= off. */
static inline void cur_limit(struct cursor *c, uint32_t n)
{
    if (n < c->wire) {
        c->wire = n;
    }
    if (c->len > c->wire) {
        c->len = c->wire;
    }
}

/* The n bytes at [from, from + n) of the region are not all captured. If the
 * wire had them the snaplen cut the frame (skip it); otherwise the frame is
 * really that short and malformed under the layer's reason. */
static inline enum decode_reason missing(const struct cursor *c, uint32_t from, uint32_t n,
                                         enum decode_reason short_reason)
{
    return (uint64_t)from + n <= c->wire ? DR_HEADERS_CUT : short_reason;
}

/* Direct big-endian loads, for bytes a single length check has already shown
 * to be captured (the fast path, options captured whole). memcpy makes the
 * unaligned load legal; the compiler turns it and the byte swap into one or
 * two instructions. */
static inline uint16_t ld_be16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, sizeof v);
    return ntohs(v);
}

/* The same, left in network byte order (to test bits against htons()). */
static inline uint16_t ld_u16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline uint32_t ld_be32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return ntohl(v);
}

/* ---------------------------------------------------------------------------
 * Decoder state for one frame. Every layer decoder has the signature
 *     static enum decode_status decode_<layer>(struct dctx *d, struct cursor *c)
 * and is entered with the cursor at the first byte of its layer.
 */
struct dctx {
    const struct decode_config *cfg;
    struct decoded *out;
    struct decode_counters *cnt;
    uint16_t ethertype; /* set by the link layer for decode_ethertype() */
    bool in_quote;      /* decoding the packet quoted by an ICMP error */
    bool verifiable;    /* the TCP checksum can be checked (see decode_tcp) */
    uint32_t l4_len;    /* TCP length declared by the IP header, if verifiable */
};

/* Count the frame under one reason and return its status. */
static enum decode_status drop(struct dctx *d, enum decode_reason reason)
{
    d->cnt->by_reason[reason]++;
    return reason > DR__SKIP_LAST ? DECODE_MALFORMED : DECODE_SKIPPED;
}

static enum decode_status decode_ethernet(struct dctx *d, struct cursor *c);
static enum decode_status decode_sll(struct dctx *d, struct cursor *c);
static enum decode_status decode_sll2(struct dctx *d, struct cursor *c);
static enum decode_status decode_null(struct dctx *d, struct cursor *c);
static enum decode_status decode_loop(struct dctx *d, struct cursor *c);
static enum decode_status decode_raw(struct dctx *d, struct cursor *c);
static enum decode_status decode_ethertype(struct dctx *d, struct cursor *c);
static enum decode_status decode_mpls(struct dctx *d, struct cursor *c);
static enum decode_status decode_ipv4(struct dctx *d, struct cursor *c);
static enum decode_status decode_ipv6(struct dctx *d, struct cursor *c);
static enum decode_status decode_tcp(struct dctx *d, struct cursor *c);
static enum decode_status decode_icmp(struct dctx *d, struct cursor *c);
static enum decode_status decode_quoted_tcp(struct dctx *d, struct cursor *c);

/* ---------------------------------------------------------------------------
 * Ethernet II (IEEE 802.3 clause 3.2.6, RFC 894)
 *
 *   offset size field
 *        0    6 destination MAC
 *        6    6 source MAC
 *       12    2 EtherType (>= 0x0600), or an 802.3 length (<= 1500: LLC, not IP)
 *       14      payload, then padding to 60 bytes and maybe the FCS: both are
 *               trimmed by the IP length
 */
#define ETH_HLEN           14
#define ETHERTYPE_MIN      0x0600 /* below: 802.3 length field */
#define ETHERTYPE_IPV4     0x0800
#define ETHERTYPE_IPV6     0x86dd
#define ETHERTYPE_VLAN     0x8100 /* 802.1Q C-tag */
#define ETHERTYPE_QINQ     0x88a8 /* 802.1ad S-tag */
#define ETHERTYPE_QINQ_OLD 0x9100 /* pre-standard QinQ S-tag */
#define ETHERTYPE_MPLS_UC  0x8847 /* RFC 3032 */
#define ETHERTYPE_MPLS_MC  0x8848

static enum decode_status decode_ethernet(struct dctx *d, struct cursor *c)
{
    if (!(cur_skip(c, ETH_HLEN - 2) && rd_be16(c, &d->ethertype))) {
        return drop(d, missing(c, 0, ETH_HLEN, DR_LINK_SHORT));
    }
    return decode_ethertype(d, c);
}

/* ---------------------------------------------------------------------------
 * What follows an EtherType (Ethernet, SLL, SLL2).
 *
 * 802.1Q / 802.1ad tag (IEEE 802.1Q-2018 9.6). The TPID (0x8100, 0x88a8 or
 * 0x9100) was the EtherType just read; the tag's remaining 4 bytes are
 *   offset size field
 *        0    2 TCI: PCP (3 bits) | DEI (1) | VLAN ID (12)
 *        2    2 next EtherType (or TPID of the next tag)
 * Up to DECODE_MAX_VLAN_TAGS tags are accepted.
 */
#define VLAN_TAG_LEN 4

static enum decode_status decode_ethertype(struct dctx *d, struct cursor *c)
{
    uint16_t type = d->ethertype;
    unsigned tags = 0;

    while (type == ETHERTYPE_VLAN || type == ETHERTYPE_QINQ || type == ETHERTYPE_QINQ_OLD) {
        if (++tags > DECODE_MAX_VLAN_TAGS) {
            return drop(d, DR_VLAN_DEPTH);
        }
        uint32_t at = c->off;
        if (!(cur_skip(c, 2) && rd_be16(c, &type))) {
            return drop(d, missing(c, at, VLAN_TAG_LEN, DR_LINK_SHORT));
        }
    }
    switch (type) {
    case ETHERTYPE_IPV4:
        return decode_ipv4(d, c);
    case ETHERTYPE_IPV6:
        return decode_ipv6(d, c);
    case ETHERTYPE_MPLS_UC:
    case ETHERTYPE_MPLS_MC:
        return decode_mpls(d, c);
    default: /* ARP, LLDP, ..., and 802.3 lengths (< ETHERTYPE_MIN) */
        return drop(d, DR_NOT_IP);
    }
}

/* ---------------------------------------------------------------------------
 * MPLS label stack entry (RFC 3032 2.1)
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                Label                  | TC  |S|      TTL      |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * The stack ends at the entry with S (bottom of stack) set. MPLS does not say
 * what it carries; like every analyzer we guess from the first nibble after
 * the stack (4: IPv4, 6: IPv6). Anything else (a pseudowire control word,
 * Ethernet over MPLS) is not IP for us.
 */
#define MPLS_LSE_LEN         4
#define MPLS_BOTTOM_OF_STACK 0x00000100u

static enum decode_status decode_mpls(struct dctx *d, struct cursor *c)
{
    for (unsigned labels = 1;; labels++) {
        if (labels > DECODE_MAX_MPLS_LABELS) {
            return drop(d, DR_MPLS_DEPTH);
        }
        uint32_t at = c->off;
        uint32_t lse;
        if (!rd_be32(c, &lse)) {
            return drop(d, missing(c, at, MPLS_LSE_LEN, DR_LINK_SHORT));
        }
        if (lse & MPLS_BOTTOM_OF_STACK) {
            break;
        }
    }
    uint8_t first;
    if (!peek_u8(c, &first)) {
        return drop(d, missing(c, c->off, 1, DR_NOT_IP));
    }
    switch (first >> 4) {
    case 4:
        return decode_ipv4(d, c);
    case 6:
        return decode_ipv6(d, c);
    default:
        return drop(d, DR_NOT_IP);
    }
}

/* ---------------------------------------------------------------------------
 * Linux "cooked" capture v1, LINKTYPE_LINUX_SLL (tcpdump.org/linktypes)
 *
 *   offset size field
 *        0    2 packet type (to us, broadcast, outgoing, ...)
 *        2    2 ARPHRD_ type of the device
 *        4    2 link-layer address length
 *        6    8 link-layer address (first 8 bytes)
 *       14    2 protocol: an EtherType (0x0800, 0x86dd, 0x8100, ...)
 *
 * Only the protocol matters to us. An address length above 8 is odd (the
 * address is truncated) but does not stop the frame from being decoded, so it
 * is deliberately not counted as DR_LINK_BAD; neither is any other value of the
 * informational fields. The same holds for SLL2.
 */
#define SLL_HLEN            16
#define SLL_PROTOCOL_OFFSET 14

static enum decode_status decode_sll(struct dctx *d, struct cursor *c)
{
    if (!(cur_skip(c, SLL_PROTOCOL_OFFSET) && rd_be16(c, &d->ethertype))) {
        return drop(d, missing(c, 0, SLL_HLEN, DR_LINK_SHORT));
    }
    return decode_ethertype(d, c);
}

/* ---------------------------------------------------------------------------
 * Linux "cooked" capture v2, LINKTYPE_LINUX_SLL2 (tcpdump.org/linktypes)
 *
 *   offset size field
 *        0    2 protocol: an EtherType
 *        2    2 reserved (must be zero)
 *        4    4 interface index
 *        8    2 ARPHRD_ type of the device
 *       10    1 packet type
 *       11    1 link-layer address length
 *       12    8 link-layer address (first 8 bytes)
 */
#define SLL2_HLEN            20
#define SLL2_PROTOCOL_OFFSET 0

static enum decode_status decode_sll2(struct dctx *d, struct cursor *c)
{
    if (!(rd_be16(c, &d->ethertype) && cur_skip(c, SLL2_HLEN - 2))) {
        return drop(d, missing(c, 0, SLL2_HLEN, DR_LINK_SHORT));
    }
    return decode_ethertype(d, c);
}

/* ---------------------------------------------------------------------------
 * BSD loopback, LINKTYPE_NULL and LINKTYPE_LOOP (tcpdump.org/linktypes)
 *
 *   offset size field
 *        0    4 address family: NULL in the byte order of the capturing host,
 *               LOOP in network byte order
 *
 * AF_INET is 2 everywhere; AF_INET6 is 24 (NetBSD, OpenBSD, ...), 28 (FreeBSD,
 * DragonFly) or 30 (macOS, iOS). A value that is none of them in either byte
 * order is some other family (not IP).
 */
#define NULL_HLEN            4
#define BSD_AF_INET          2
#define BSD_AF_INET6_BSD     24
#define BSD_AF_INET6_FREEBSD 28
#define BSD_AF_INET6_DARWIN  30

static unsigned bsd_af_version(uint32_t af)
{
    switch (af) {
    case BSD_AF_INET:
        return 4;
    case BSD_AF_INET6_BSD:
    case BSD_AF_INET6_FREEBSD:
    case BSD_AF_INET6_DARWIN:
        return 6;
    default:
        return 0;
    }
}

static uint32_t bswap32(uint32_t v)
{
    return (v >> 24) | ((v >> 8) & 0x0000ff00u) | ((v << 8) & 0x00ff0000u) | (v << 24);
}

static enum decode_status decode_loopback_af(struct dctx *d, struct cursor *c, bool either_order)
{
    uint32_t af;
    if (!rd_be32(c, &af)) {
        return drop(d, missing(c, 0, NULL_HLEN, DR_LINK_SHORT));
    }
    unsigned version = bsd_af_version(af);
    if (version == 0 && either_order) {
        version = bsd_af_version(bswap32(af));
    }
    switch (version) {
    case 4:
        return decode_ipv4(d, c);
    case 6:
        return decode_ipv6(d, c);
    default:
        return drop(d, DR_NOT_IP);
    }
}

static enum decode_status decode_null(struct dctx *d, struct cursor *c)
{
    return decode_loopback_af(d, c, true);
}

static enum decode_status decode_loop(struct dctx *d, struct cursor *c)
{
    return decode_loopback_af(d, c, false);
}

/* ---------------------------------------------------------------------------
 * Raw IP, LINKTYPE_RAW: no link header; the version nibble tells IPv4 from
 * IPv6. (LINKTYPE_IPV4 / LINKTYPE_IPV6 go straight to their decoder, which
 * rejects the other version as DR_IP_VERSION.)
 */
static enum decode_status decode_raw(struct dctx *d, struct cursor *c)
{
    uint8_t first;
    if (!peek_u8(c, &first)) {
        return drop(d, missing(c, 0, 1, DR_IP_SHORT));
    }
    switch (first >> 4) {
    case 4:
        return decode_ipv4(d, c);
    case 6:
        return decode_ipv6(d, c);
    default:
        return drop(d, DR_IP_VERSION);
    }
}

/* ---------------------------------------------------------------------------
 * IPv4 header (RFC 791 3.1)
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |Version|  IHL  |Type of Service|          Total Length         |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |         Identification        |Flags|      Fragment Offset    |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |  Time to Live |    Protocol   |         Header Checksum       |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                       Source Address                          |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                    Destination Address                        |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                    Options (IHL > 5)          |    Padding    |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Checks, in order: the 20-byte minimum header; IHL >= 5 and the IHL*4 bytes
 * present; total length >= IHL*4; then the region is trimmed to the total
 * length (Ethernet padding, FCS). Inside an ICMP quote the total length is not
 * checked: the quote is usually shorter than the datagram it describes.
 * Flags: bit 0x2000 MF, 0x4000 DF; the low 13 bits are the fragment offset.
 */
#define IPV4_MIN_HLEN         20
#define IPV4_FRAG_MF          0x2000u
#define IPV4_FRAG_OFFSET_MASK 0x1fffu
#define IP_PROTO_HOPOPTS      0
#define IP_PROTO_ICMP         1
#define IP_PROTO_TCP          6
#define IP_PROTO_ROUTING      43
#define IP_PROTO_FRAGMENT     44
#define IP_PROTO_ESP          50
#define IP_PROTO_AH           51
#define IP_PROTO_ICMPV6       58
#define IP_PROTO_NONE         59
#define IP_PROTO_DSTOPTS      60
#define IP_PROTO_MOBILITY     135

static enum decode_status decode_ipv4(struct dctx *d, struct cursor *c)
{
    struct tcp_segment *t = &d->out->tcp;
    uint8_t vihl, ttl, proto;
    uint16_t total, frag;

    cur_rebase(c);
    /* minimum header */
    if (!(rd_u8(c, &vihl) && cur_skip(c, 1) && rd_be16(c, &total) && cur_skip(c, 2) &&
          rd_be16(c, &frag) && rd_u8(c, &ttl) && rd_u8(c, &proto) && cur_skip(c, 2) &&
          rd_bytes(c, t->src.b, 4) && rd_bytes(c, t->dst.b, 4))) {
        return drop(d, missing(c, 0, IPV4_MIN_HLEN, d->in_quote ? DR_ICMP_SHORT : DR_IP_SHORT));
    }
    if ((vihl >> 4) != 4) {
        return drop(d, DR_IP_VERSION);
    }
    /* declared header length */
    uint32_t hlen = (uint32_t)(vihl & 0x0fu) * 4u;
    if (hlen < IPV4_MIN_HLEN) {
        return drop(d, DR_IPV4_HEADER_LENGTH);
    }
    if (!cur_skip(c, hlen - IPV4_MIN_HLEN)) {
        return drop(d, missing(c, 0, hlen, d->in_quote ? DR_ICMP_SHORT : DR_IPV4_HEADER_LENGTH));
    }
    if (!d->in_quote) {
        /* declared total length, then trim to it */
        if (total == 0) {
            d->verifiable = false; /* TSO / BIG TCP: length from the wire */
        } else if (total < hlen) {
            return drop(d, DR_IPV4_TOTAL_LENGTH);
        } else {
            cur_limit(c, total);
            d->l4_len = total - hlen;
        }
        if (hlen > IPV4_MIN_HLEN) {
            d->cnt->ipv4_options++;
        }
    }
    if (frag & IPV4_FRAG_OFFSET_MASK) {
        return drop(d, DR_IP_FRAGMENT);
    }
    if (frag & IPV4_FRAG_MF) {
        d->verifiable = false; /* the checksum covers the reassembled segment */
    }
    t->ip_version = 4;
    t->ttl = ttl;
    switch (proto) {
    case IP_PROTO_TCP:
        return d->in_quote ? decode_quoted_tcp(d, c) : decode_tcp(d, c);
    case IP_PROTO_ICMP:
        return d->in_quote ? drop(d, DR_NOT_TCP) : decode_icmp(d, c);
    default:
        return drop(d, DR_NOT_TCP);
    }
}

/* ---------------------------------------------------------------------------
 * IPv6 header (RFC 8200 3)
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |Version| Traffic Class |           Flow Label                  |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |         Payload Length        |  Next Header  |   Hop Limit   |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                  Source Address (16 bytes)                    |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |               Destination Address (16 bytes)                  |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Extension headers all start with the same two bytes:
 *   offset size field
 *        0    1 next header
 *        1    1 length: hop-by-hop (0), routing (43), destination options
 *               (60), mobility (135, RFC 6275 6.1): (len + 1) * 8 bytes;
 *               AH (51, RFC 4302 2.2): (len + 2) * 4 bytes;
 *               fragment (44, RFC 8200 4.5): reserved, always 8 bytes
 * Routing header (RFC 8200 4.4): offset 2 routing type, 3 segments left.
 * Fragment header: offset 2, 2 bytes: fragment offset (13 bits) | res | M.
 * ESP (50) encrypts what follows and 59 means "no next header": not TCP.
 *
 * Checks, in order: the 40-byte header; the payload length trims the region
 * (0: jumbogram or BIG TCP, length from the wire); each extension header's
 * two fixed bytes, then its declared length, within the trimmed region.
 */
#define IPV6_HLEN             40
#define IPV6_EXT_FIXED        2
#define IPV6_FRAG_HLEN        8
#define IPV6_FRAG_OFFSET_MASK 0xfff8u
#define IPV6_FRAG_M           0x0001u

static enum decode_status decode_ipv6(struct dctx *d, struct cursor *c)
{
    struct tcp_segment *t = &d->out->tcp;
    uint8_t vtc, nh, hlim;
    uint16_t plen;
    enum decode_reason ext_short = d->in_quote ? DR_ICMP_SHORT : DR_IPV6_EXT_CHAIN;

    cur_rebase(c);
    if (!(rd_u8(c, &vtc) && cur_skip(c, 3) && rd_be16(c, &plen) && rd_u8(c, &nh) &&
          rd_u8(c, &hlim) && rd_bytes(c, t->src.b, 16) && rd_bytes(c, t->dst.b, 16))) {
        return drop(d, missing(c, 0, IPV6_HLEN, d->in_quote ? DR_ICMP_SHORT : DR_IP_SHORT));
    }
    if ((vtc >> 4) != 6) {
        return drop(d, DR_IP_VERSION);
    }
    if (!d->in_quote) {
        if (plen == 0) {
            d->verifiable = false; /* jumbogram / BIG TCP: length from the wire */
        } else {
            cur_limit(c, IPV6_HLEN + (uint32_t)plen);
        }
    }
    t->ip_version = 6;
    t->ttl = hlim;

    for (unsigned n_ext = 0;; n_ext++) {
        switch (nh) {
        case IP_PROTO_TCP:
            d->l4_len = IPV6_HLEN + (uint32_t)plen - c->off; /* used only if verifiable */
            return d->in_quote ? decode_quoted_tcp(d, c) : decode_tcp(d, c);
        case IP_PROTO_ICMPV6:
            return d->in_quote ? drop(d, DR_NOT_TCP) : decode_icmp(d, c);
        case IP_PROTO_HOPOPTS:
        case IP_PROTO_ROUTING:
        case IP_PROTO_FRAGMENT:
        case IP_PROTO_DSTOPTS:
        case IP_PROTO_AH:
        case IP_PROTO_MOBILITY:
            break;
        default: /* UDP, ESP, no next header, ... */
            return drop(d, DR_NOT_TCP);
        }
        if (n_ext >= DECODE_MAX_IPV6_EXT) {
            return drop(d, DR_IPV6_EXT_CHAIN);
        }
        uint32_t at = c->off;
        uint8_t next, len_field;
        if (!(rd_u8(c, &next) && rd_u8(c, &len_field))) {
            return drop(d, missing(c, at, IPV6_EXT_FIXED, ext_short));
        }
        uint32_t ext_len;
        if (nh == IP_PROTO_FRAGMENT) {
            ext_len = IPV6_FRAG_HLEN;
        } else if (nh == IP_PROTO_AH) {
            ext_len = ((uint32_t)len_field + 2u) * 4u;
        } else {
            ext_len = ((uint32_t)len_field + 1u) * 8u;
        }
        if (!cur_has(c, ext_len - IPV6_EXT_FIXED)) {
            return drop(d, missing(c, at, ext_len, ext_short));
        }
        if (nh == IP_PROTO_FRAGMENT) {
            uint16_t fo;
            (void)rd_be16(c, &fo); /* present: checked above */
            if (fo & IPV6_FRAG_OFFSET_MASK) {
                return drop(d, DR_IP_FRAGMENT);
            }
            if (fo & IPV6_FRAG_M) {
                d->verifiable = false; /* the checksum covers the reassembled segment */
            }
        } else if (nh == IP_PROTO_ROUTING) {
            uint8_t type = 0, segments_left = 0;
            (void)rd_u8(c, &type);
            (void)rd_u8(c, &segments_left);
            if (segments_left != 0) {
                /* The pseudo header holds the final destination, which is
                 * inside the routing header, not in the IPv6 header yet. */
                d->verifiable = false;
            }
        }
        (void)cur_skip(c, ext_len - (c->off - at));
        nh = next;
    }
}

/* ---------------------------------------------------------------------------
 * TCP checksum (RFC 9293 3.1; pseudo headers: RFC 9293 3.1 for IPv4, RFC 8200
 * 8.1 for IPv6).
 *
 *   IPv4 pseudo header: source (4), destination (4), zero (1), protocol (1),
 *                       TCP length (2)
 *   IPv6 pseudo header: source (16), destination (16), TCP length (4),
 *                       zero (3), next header (1)
 *
 * RFC 1071: the one's complement sum of 16-bit words is the sum modulo 0xffff
 * (with 0xffff, not 0, for a nonzero multiple), and it does not depend on the
 * byte order. So the bytes are loaded eight at a time in host order and added
 * into a 64-bit accumulator with the carry out of bit 63 added back in
 * ("end-around carry"): since 2^16 = 1 (mod 0xffff), so is 2^64, and every
 * byte at an even offset counts 1, every byte at an odd offset 2^8, whatever
 * its place in the 64-bit word. A correct segment (checksum field included)
 * sums to a nonzero multiple of 0xffff; the accumulator starts nonzero (the
 * pseudo header's protocol) and an end-around-carry add never makes it zero,
 * so "multiple of 0xffff" is the whole test. RFC 1071 section 2 (B) and (C).
 */

/* acc + w, the carry out of bit 63 added back in (compiles to add + adc). */
static ALWAYS_INLINE uint64_t csum_adc(uint64_t acc, uint64_t w)
{
    acc += w;
    return acc + (acc < w);
}

static ALWAYS_INLINE uint64_t ld_u64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* The pseudo header's protocol and TCP length, the words not copied from the
 * IP header (its zero bytes add nothing). The 32-bit IPv6 length counts as its
 * two 16-bit halves, that is as itself modulo 0xffff. In a little-endian host's
 * sum a big-endian word x counts as its byte swap, which is x * 2^8 modulo
 * 0xffff. */
static ALWAYS_INLINE uint64_t csum_pseudo_tail(uint32_t len)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    return (uint64_t)len + IP_PROTO_TCP;
#else
    return ((uint64_t)len + IP_PROTO_TCP) << 8;
#endif
}

/* The n >= 16 bytes at p added to acc (a TCP segment has at least 20). */
static ALWAYS_INLINE uint64_t csum_add(uint64_t acc, const uint8_t *p, uint32_t n)
{
    const uint8_t *blocks_end = p + (n & ~15u); /* after the whole 16-byte blocks */
    uint64_t acc2 = 0; /* a second chain, so the adds do not wait on each other */

    do {
        acc = csum_adc(acc, ld_u64(p));
        acc2 = csum_adc(acc2, ld_u64(p + 8));
        p += 16;
    } while (p != blocks_end);
    if (n & 8) {
        acc = csum_adc(acc, ld_u64(p));
        p += 8;
    }
    n &= 7;
    if (n != 0) {
        /* 1 to 7 bytes left: load the eight bytes ending with them and shift
         * out the ones already summed. They start at a multiple of 8 from the
         * segment's start, so each keeps the parity of its offset, and the
         * zeros shifted in are the padding byte of an odd length. */
        uint64_t w = ld_u64(p + n - 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        w <<= 64 - 8 * n;
#else
        w >>= 64 - 8 * n;
#endif
        acc2 = csum_adc(acc2, w);
    }
    return csum_adc(acc, acc2);
}

/* acc % 0xffff == 0, without a division: times the inverse of 0xffff modulo
 * 2^64, a multiple of 0xffff gives its quotient, at most UINT64_MAX / 0xffff,
 * and anything else gives more (Granlund and Montgomery 1994, section 9; the
 * test compilers emit for "% constant == 0", but not every time). */
#define CSUM_INV_FFFF       0xfffefffefffeffffull /* 0xffff * this == 1 (mod 2^64) */
#define CSUM_MAX_QUOTIENT   0x0001000100010001ull /* UINT64_MAX / 0xffff */
static ALWAYS_INLINE bool csum_is_multiple(uint64_t acc)
{
    return acc * CSUM_INV_FFFF <= CSUM_MAX_QUOTIENT;
}

/* The TCP segment (len bytes at seg, len >= TCP_MIN_HLEN) checks against the
 * pseudo header whose addresses sum to addr_sum (see csum_add). */
static ALWAYS_INLINE bool tcp_checksum_ok(uint64_t addr_sum, const uint8_t *seg, uint32_t len)
{
    uint64_t acc = csum_adc(addr_sum, csum_pseudo_tail(len));
    return csum_is_multiple(csum_add(acc, seg, len));
}

/* ---------------------------------------------------------------------------
 * TCP header (RFC 9293 3.1)
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |          Source Port          |       Destination Port        |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                        Sequence Number                        |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                    Acknowledgment Number                      |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |  Data |       |C|E|U|A|P|R|S|F|                               |
 *   | Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |
 *   |       |       |R|E|G|K|H|T|N|N|                               |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |           Checksum            |         Urgent Pointer        |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                     Options (data offset > 5)                 |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Options (kind, length including kind and length bytes, value):
 *   kind len  option
 *      0   -  end of option list (stops parsing)            RFC 9293
 *      1   -  no-operation                                  RFC 9293
 *      2   4  MSS: 16-bit maximum segment size              RFC 9293
 *      3   3  window scale: shift count, > 14 read as 14    RFC 7323 2
 *      4   2  SACK permitted                                RFC 2018 2
 *      5 2+8n SACK: n blocks of left edge (32), right (32)  RFC 2018 3
 *      8  10  timestamps: TSval (32), TSecr (32)            RFC 7323 3
 * Other kinds are skipped by their length. A length of 0 or 1, or one running
 * past the data offset, breaks the option framing: the frame is malformed. A
 * known kind with an unexpected (but framed) length is skipped, not used.
 */
#define TCP_MIN_HLEN               20
#define TCP_OPT_EOL                0
#define TCP_OPT_NOP                1
#define TCP_OPT_MSS                2
#define TCP_OPT_WSCALE             3
#define TCP_OPT_SACK_PERMITTED     4
#define TCP_OPT_SACK               5
#define TCP_OPT_TIMESTAMPS         8
#define TCP_OPT_MSS_LEN            4
#define TCP_OPT_WSCALE_LEN         3
#define TCP_OPT_SACK_PERMITTED_LEN 2
#define TCP_OPT_SACK_BLOCK_LEN     8
#define TCP_OPT_TIMESTAMPS_LEN     10
#define TCP_MAX_WSCALE             14

enum opt_result { OPT_OK, OPT_CUT, OPT_BAD };

/* o: the option bytes; o->wire is the option space the data offset declares,
 * o->len what of it was captured. */
static enum opt_result parse_tcp_options(struct tcp_segment *t, struct cursor *o)
{
    while (o->off < o->wire) {
        uint32_t at = o->off;
        uint8_t kind, len;
        if (!rd_u8(o, &kind)) {
            return OPT_CUT;
        }
        if (kind == TCP_OPT_EOL) {
            return OPT_OK;
        }
        if (kind == TCP_OPT_NOP) {
            continue;
        }
        if (o->off >= o->wire) {
            return OPT_BAD; /* no room for the length byte */
        }
        if (!rd_u8(o, &len)) {
            return OPT_CUT;
        }
        if (len < 2 || len > o->wire - at) {
            return OPT_BAD;
        }
        if (!cur_has(o, (uint32_t)len - 2u)) {
            return OPT_CUT;
        }
        switch (kind) {
        case TCP_OPT_MSS:
            if (len == TCP_OPT_MSS_LEN) {
                t->has_mss = rd_be16(o, &t->mss);
            }
            break;
        case TCP_OPT_WSCALE:
            if (len == TCP_OPT_WSCALE_LEN && rd_u8(o, &t->wscale)) {
                t->has_wscale = true;
                if (t->wscale > TCP_MAX_WSCALE) {
                    t->wscale = TCP_MAX_WSCALE;
                }
            }
            break;
        case TCP_OPT_SACK_PERMITTED:
            if (len == TCP_OPT_SACK_PERMITTED_LEN) {
                t->sack_permitted = true;
            }
            break;
        case TCP_OPT_SACK:
            if (len > 2 && (len - 2) % TCP_OPT_SACK_BLOCK_LEN == 0) {
                t->sack_count = 0;
                for (unsigned i = 0; i < (len - 2u) / TCP_OPT_SACK_BLOCK_LEN; i++) {
                    uint32_t left, right;
                    if (rd_be32(o, &left) && rd_be32(o, &right) &&
                        t->sack_count < DECODE_MAX_SACK) {
                        t->sack[t->sack_count].left = left;
                        t->sack[t->sack_count].right = right;
                        t->sack_count++;
                    }
                }
            }
            break;
        case TCP_OPT_TIMESTAMPS:
            if (len == TCP_OPT_TIMESTAMPS_LEN) {
                t->has_timestamps = rd_be32(o, &t->ts_val) && rd_be32(o, &t->ts_ecr);
            }
            break;
        default:
            break;
        }
        (void)cur_skip(o, (uint32_t)len - (o->off - at)); /* present: checked above */
    }
    return OPT_OK;
}

/* NOP, NOP, timestamps (kind 8, length 10): the 12 option bytes nearly every
 * segment carries once timestamps are negotiated (RFC 7323 appendix A). */
#define TCP_OPT_NOP_NOP_TS     0x0101080au
#define TCP_OPT_NOP_NOP_TS_LEN 12
/* An MSS option alone (kind 2, length 4): the SYNs of port scans (nmap's
 * SYN scan sends one), of SYN-flood tools and of small embedded stacks. */
#define TCP_OPT_MSS_ONLY       0x0204u /* the first two bytes */
#define TCP_OPT_MSS_ONLY_LEN   4

/* The same walk as parse_tcp_options, for the usual case where the whole
 * option space (n bytes at p) was captured: no option can be cut, so only the
 * framing is checked and the values are loaded directly. The result (fields
 * set, OPT_OK or OPT_BAD) is the one parse_tcp_options gives for the same
 * bytes; keep the two in step. (The NOP, NOP, timestamps block is recognized
 * whole before this is called, see decode_tcp_rest.) */
static enum opt_result parse_tcp_options_captured(struct tcp_segment *t, const uint8_t *p,
                                                  uint32_t n)
{
    uint32_t at = 0;
    while (at < n) {
        uint8_t kind = p[at];
        if (kind == TCP_OPT_EOL) {
            return OPT_OK;
        }
        if (kind == TCP_OPT_NOP) {
            at++;
            continue;
        }
        if (n - at < 2) {
            return OPT_BAD; /* no room for the length byte */
        }
        uint32_t len = p[at + 1];
        if (len < 2 || len > n - at) {
            return OPT_BAD;
        }
        const uint8_t *v = p + at + 2; /* the value: len - 2 bytes */
        switch (kind) {
        case TCP_OPT_MSS:
            if (len == TCP_OPT_MSS_LEN) {
                t->has_mss = true;
                t->mss = ld_be16(v);
            }
            break;
        case TCP_OPT_WSCALE:
            if (len == TCP_OPT_WSCALE_LEN) {
                t->has_wscale = true;
                t->wscale = v[0] > TCP_MAX_WSCALE ? TCP_MAX_WSCALE : v[0];
            }
            break;
        case TCP_OPT_SACK_PERMITTED:
            if (len == TCP_OPT_SACK_PERMITTED_LEN) {
                t->sack_permitted = true;
            }
            break;
        case TCP_OPT_SACK:
            if (len > 2 && (len - 2) % TCP_OPT_SACK_BLOCK_LEN == 0) {
                uint32_t blocks = (len - 2) / TCP_OPT_SACK_BLOCK_LEN;
                t->sack_count = 0;
                for (uint32_t i = 0; i < blocks && i < DECODE_MAX_SACK; i++) {
                    t->sack[i].left = ld_be32(v + i * TCP_OPT_SACK_BLOCK_LEN);
                    t->sack[i].right = ld_be32(v + i * TCP_OPT_SACK_BLOCK_LEN + 4);
                    t->sack_count++;
                }
            }
            break;
        case TCP_OPT_TIMESTAMPS:
            if (len == TCP_OPT_TIMESTAMPS_LEN) {
                t->has_timestamps = true;
                t->ts_val = ld_be32(v);
                t->ts_ecr = ld_be32(v + 4);
            }
            break;
        default:
            break;
        }
        at += len;
    }
    return OPT_OK;
}

/* MSS, SACK permitted, timestamps and, in 20 bytes, NOP, window scale: the
 * options of a Linux SYN or SYN-ACK (and of the stacks that copy its layout).
 * The first 8 bytes as one big-endian word, with the MSS value masked out. */
#define TCP_OPT_MSS_SACKOK_TS      0x020400000402080aull
#define TCP_OPT_MSS_MASK           0xffff0000ffffffffull
#define TCP_OPT_NOP_WSCALE         0x01030300u /* the last 4 bytes, shift count masked out */
#define TCP_OPT_SYN_LEN            16          /* without NOP, window scale */
#define TCP_OPT_SYN_WSCALE_LEN     20          /* with them */

/* The options of a segment whose option space (space bytes at opt, cap of them
 * captured) is not the NOP, NOP, timestamps block decode_tcp_rest() looks for
 * itself. A Linux SYN's layout is recognized whole; anything else is walked. */
static NOINLINE enum opt_result tcp_options(struct tcp_segment *t, const uint8_t *opt, uint32_t cap,
                                            uint32_t space)
{
    if (cap < space) {
        struct cursor o = {.ptr = opt, .len = cap, .wire = space};
        return parse_tcp_options(t, &o);
    }
    if ((space == TCP_OPT_SYN_LEN ||
         (space == TCP_OPT_SYN_WSCALE_LEN &&
          (ld_be32(opt + TCP_OPT_SYN_LEN) & 0xffffff00u) == TCP_OPT_NOP_WSCALE)) &&
        (((uint64_t)ld_be32(opt) << 32 | ld_be32(opt + 4)) & TCP_OPT_MSS_MASK) ==
            TCP_OPT_MSS_SACKOK_TS) {
        /* what parse_tcp_options_captured would find in these bytes */
        t->has_mss = true;
        t->mss = ld_be16(opt + 2);
        t->sack_permitted = true;
        t->has_timestamps = true;
        t->ts_val = ld_be32(opt + 8);
        t->ts_ecr = ld_be32(opt + 12);
        if (space == TCP_OPT_SYN_WSCALE_LEN) {
            uint8_t shift = opt[TCP_OPT_SYN_WSCALE_LEN - 1];
            t->has_wscale = true;
            t->wscale = shift > TCP_MAX_WSCALE ? TCP_MAX_WSCALE : shift;
        }
        return OPT_OK;
    }
    return parse_tcp_options_captured(t, opt, space);
}

/* The pseudo header's addresses as a partial sum (see csum_add): 8 bytes (an
 * IPv4 header's source and destination) or 32 (an IPv6 header's, or the two
 * struct ip_addr of a segment, where an IPv4 address is padded with zeros that
 * add nothing). */
static ALWAYS_INLINE uint64_t csum_addrs(const uint8_t *a, uint32_t n)
{
    if (n == 8) {
        return ld_u64(a);
    }
    return csum_adc(csum_adc(ld_u64(a), ld_u64(a + 8)), csum_adc(ld_u64(a + 16), ld_u64(a + 24)));
}

/* The struct ip_addr pair of a segment as csum_addrs() reads it. */
#define SEG_ADDRS_LEN 32
_Static_assert(offsetof(struct tcp_segment, src) == 0 && offsetof(struct tcp_segment, dst) == 16 &&
                   sizeof(struct ip_addr) == 16,
               "struct tcp_segment starts with src then dst, 16 bytes each");

/* l4_len of a segment whose checksum cannot be checked (a first fragment, a
 * TSO / jumbo length taken from the wire, an IPv6 routing header with segments
 * left): larger than any captured length, so it reads as "not captured whole". */
#define L4_LEN_UNVERIFIABLE UINT32_MAX

/* What follows the options, shared by decode_tcp and the fast path: checksum
 * and counters. The fixed header's fields, the options and payload_bytes are in
 * out->tcp already, and out->checksum_bad is false. seg: the first byte of the
 * TCP header; len: the bytes of the segment captured; l4_len: the TCP length
 * the IP header declares, or L4_LEN_UNVERIFIABLE; addr, addr_len: the
 * addresses of the pseudo header, see csum_addrs(). The checksum is verified
 * (cfg NULL or cfg->verify_checksums) when all l4_len bytes were captured. */
static ALWAYS_INLINE enum decode_status tcp_finish(struct decoded *out,
                                                   struct decode_counters *cnt,
                                                   const struct decode_config *cfg,
                                                   const uint8_t *seg, uint32_t len,
                                                   uint32_t l4_len, const uint8_t *addr,
                                                   uint32_t addr_len)
{
    if (cfg == NULL || cfg->verify_checksums) {
        if (l4_len > len) {
            cnt->checksum_unverified++;
        } else if (!tcp_checksum_ok(csum_addrs(addr, addr_len), seg, l4_len)) {
            out->checksum_bad = true;
            cnt->checksum_bad++;
        }
    }
    cnt->tcp_segments++;
    return DECODE_TCP;
}

/* Options through tcp_options(), then tcp_finish(): a segment with options
 * other than NOP, NOP, timestamps, kept out of the fast path's code. Arguments
 * as for tcp_finish; few enough to be passed in registers and let the call be
 * a jump (the data offset is read again from seg, the addresses from the
 * output). payload_bytes is set, as the general path sets it after the
 * options. */
static NOINLINE enum decode_status tcp_options_finish(struct decoded *out,
                                                      struct decode_counters *cnt,
                                                      const struct decode_config *cfg,
                                                      const uint8_t *seg, uint32_t len,
                                                      uint32_t l4_len)
{
    uint32_t hlen = (uint32_t)(seg[12] >> 4) * 4u; /* checked by the caller */
    switch (tcp_options(&out->tcp, seg + TCP_MIN_HLEN, len - TCP_MIN_HLEN, hlen - TCP_MIN_HLEN)) {
    case OPT_OK:
        break;
    case OPT_CUT:
        out->tcp.options_cut = true;
        cnt->options_cut++;
        break;
    case OPT_BAD:
        out->tcp.payload_bytes = 0; /* a malformed segment leaves it unset */
        cnt->by_reason[DR_TCP_OPTIONS]++; /* as drop() does */
        return DECODE_MALFORMED;
    }
    return tcp_finish(out, cnt, cfg, seg, len, l4_len, out->tcp.src.b, SEG_ADDRS_LEN);
}

/* Both ports with one 32-bit store. flow_key_make_hashed() reads them (the
 * compiler merges the two reads into one): a processor forwards a load from
 * one store it covers, not from two stores of half its width each, and
 * waits for those to reach the cache instead (~3% of a run). */
_Static_assert(offsetof(struct tcp_segment, dport) == offsetof(struct tcp_segment, sport) + 2,
               "the two ports are one 32-bit word");
static ALWAYS_INLINE void set_ports(struct tcp_segment *t, uint16_t sport, uint16_t dport)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint32_t v = (uint32_t)sport | (uint32_t)dport << 16;
#else
    uint32_t v = (uint32_t)sport << 16 | (uint32_t)dport;
#endif
    memcpy(&t->sport, &v, sizeof v);
}

/* Everything after the fixed header, shared by decode_tcp and the fast path:
 * options, payload length, checksum, counters. seg: the first byte of the TCP
 * header; len / wire: the bytes of the segment captured / on the wire (len >=
 * TCP_MIN_HLEN, len <= wire); hlen: the data offset in bytes, already checked
 * to be within [TCP_MIN_HLEN, wire]; the rest as for tcp_finish(). The fixed
 * header's fields are in out->tcp already.
 *
 * No options, NOP, NOP, timestamps (the 12 bytes nearly every segment
 * carries once timestamps are negotiated) and an MSS alone (the SYNs of a
 * scan or a flood) are handled here; any other option space goes to
 * tcp_options_finish(). */
static ALWAYS_INLINE enum decode_status decode_tcp_rest(struct decoded *out,
                                                        struct decode_counters *cnt,
                                                        const struct decode_config *cfg,
                                                        const uint8_t *seg, uint32_t len,
                                                        uint32_t wire, uint32_t hlen,
                                                        uint32_t l4_len, const uint8_t *addr,
                                                        uint32_t addr_len)
{
    out->tcp.payload_bytes = wire - hlen;
    if (hlen > TCP_MIN_HLEN) {
        const uint8_t *opt = seg + TCP_MIN_HLEN;
        uint32_t space = hlen - TCP_MIN_HLEN;
        /* what the walk would find in these bytes */
        if (space == TCP_OPT_NOP_NOP_TS_LEN && len >= hlen && ld_be32(opt) == TCP_OPT_NOP_NOP_TS) {
            out->tcp.has_timestamps = true;
            out->tcp.ts_val = ld_be32(opt + 4);
            out->tcp.ts_ecr = ld_be32(opt + 8);
        } else if (space == TCP_OPT_MSS_ONLY_LEN && len >= hlen &&
                   ld_be16(opt) == TCP_OPT_MSS_ONLY) {
            out->tcp.has_mss = true;
            out->tcp.mss = ld_be16(opt + 2);
        } else {
            return tcp_options_finish(out, cnt, cfg, seg, len, l4_len);
        }
    }
    return tcp_finish(out, cnt, cfg, seg, len, l4_len, addr, addr_len);
}

/*
 * Checks, in order: the 20-byte fixed header (cut by the snaplen: skipped;
 * beyond the IP payload: DR_TCP_DATA_OFFSET); the data offset (>= 5, within
 * the IP payload); the options. payload_bytes is the IP payload (as clamped to
 * the wire) less the header.
 *
 * The checksum is verified (cfg NULL or cfg->verify_checksums) when the whole
 * segment the IP header declares was captured and nothing stands in the way:
 * a TSO / jumbo length taken from the wire, a first fragment, or an IPv6
 * routing header with segments left make the segment "unverified", like a
 * snaplen cut. IPv4 source-route options (obsolete, dropped by routers) are
 * not looked at. With verification off neither checksum counter moves.
 */
static enum decode_status decode_tcp(struct dctx *d, struct cursor *c)
{
    struct tcp_segment *t = &d->out->tcp;
    uint8_t doff;
    uint16_t sport, dport;

    cur_rebase(c);
    if (!(rd_be16(c, &sport) && rd_be16(c, &dport) && rd_be32(c, &t->seq) &&
          rd_be32(c, &t->ack) && rd_u8(c, &doff) && rd_u8(c, &t->flags) && rd_be16(c, &t->window) &&
          cur_skip(c, 4))) {
        return drop(d, missing(c, 0, TCP_MIN_HLEN, DR_TCP_DATA_OFFSET));
    }
    set_ports(t, sport, dport);
    uint32_t hlen = (uint32_t)(doff >> 4) * 4u;
    if (hlen < TCP_MIN_HLEN || hlen > c->wire) {
        return drop(d, DR_TCP_DATA_OFFSET);
    }
    return decode_tcp_rest(d->out, d->cnt, d->cfg, c->ptr, c->len, c->wire, hlen,
                           d->verifiable ? d->l4_len : L4_LEN_UNVERIFIABLE, t->src.b,
                           SEG_ADDRS_LEN);
}

/* ---------------------------------------------------------------------------
 * ICMP destination unreachable: ICMPv4 type 3 (RFC 792, RFC 1191 for code 4)
 * and ICMPv6 type 1 (RFC 4443 3.1), any code.
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |     Type      |     Code      |          Checksum             |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |             Unused (or next-hop MTU for v4 code 4)            |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |  Quote: the original IP header (+ IPv6 extension headers) and |
 *   |  at least 8 bytes of what followed (RFC 792); RFC 1812 and    |
 *   |  RFC 4443 routers quote more.                                 |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * The quote is decoded by the same IP decoders with d->in_quote set: its total
 * / payload length is not checked, a short quote is DR_ICMP_SHORT, and an ICMP
 * quoted inside is not followed.
 */
#define ICMP_HLEN          8
#define ICMP4_TYPE_UNREACH 3
#define ICMP6_TYPE_UNREACH 1
#define QUOTE_TCP_MIN      8  /* ports and sequence number */
#define QUOTE_TCP_FLAGS    14 /* ... through the flags byte */

static enum decode_status decode_icmp(struct dctx *d, struct cursor *c)
{
    struct decoded *out = d->out;
    uint8_t type, code;

    cur_rebase(c);
    if (!rd_u8(c, &type)) {
        return drop(d, missing(c, 0, 1, DR_ICMP_SHORT));
    }
    if (type != (out->tcp.ip_version == 4 ? ICMP4_TYPE_UNREACH : ICMP6_TYPE_UNREACH)) {
        return drop(d, DR_NOT_TCP);
    }
    if (!(rd_u8(c, &code) && cur_skip(c, ICMP_HLEN - 2))) {
        return drop(d, missing(c, 0, ICMP_HLEN, DR_ICMP_SHORT));
    }
    out->icmp = ICMP_KIND_UNREACH;
    out->icmp_type = type;
    out->icmp_code = code;
    out->icmp_ttl = out->tcp.ttl;
    out->icmp_src = out->tcp.src;
    memset(&out->tcp.src, 0, sizeof out->tcp.src); /* the quote's addresses go here */
    memset(&out->tcp.dst, 0, sizeof out->tcp.dst);
    d->in_quote = true;
    return out->tcp.ip_version == 4 ? decode_ipv4(d, c) : decode_ipv6(d, c);
}

/* The quoted TCP header: only the first 8 bytes (ports, sequence number) are
 * guaranteed; with 14 bytes the acknowledgment number and flags are there too
 * (see the TCP diagram above). */
static enum decode_status decode_quoted_tcp(struct dctx *d, struct cursor *c)
{
    struct tcp_segment *t = &d->out->tcp;

    cur_rebase(c);
    if (!(rd_be16(c, &t->sport) && rd_be16(c, &t->dport) && rd_be32(c, &t->seq))) {
        return drop(d, missing(c, 0, QUOTE_TCP_MIN, DR_ICMP_SHORT));
    }
    if (cur_has(c, QUOTE_TCP_FLAGS - QUOTE_TCP_MIN)) {
        (void)rd_be32(c, &t->ack);
        (void)cur_skip(c, 1); /* data offset */
        (void)rd_u8(c, &t->flags);
        t->quote_has_flags = true;
    }
    d->cnt->icmp_errors++;
    return DECODE_ICMP;
}

/* ---------------------------------------------------------------------------
 * Fast path: the frames nearly every capture is made of.
 *
 *   link header: Ethernet II (14 bytes), Linux SLL (16) or SLL2 (20)
 *   at most one 802.1Q / 802.1ad tag
 *   IPv4: version 4, IHL 5 (no options), not a fragment (MF clear, offset 0),
 *         total length >= 40, protocol TCP
 *     or IPv6: next header TCP (no extension headers), payload length >= 20
 *   TCP: data offset within [5, what the IP length leaves]
 *   caplen <= wirelen
 *
 * These are recognized with one length check for the link, IP and TCP fixed
 * headers and read with direct loads, instead of one bounds-checked cursor read
 * per field, and the output is written once, field by field, instead of being
 * cleared first. Options, payload length and checksum then go through
 * decode_tcp_rest(), like the general path.
 *
 * Anything else (a frame too short, other EtherTypes, stacked tags, MPLS, IPv4
 * options, fragments, a total / payload length of 0 or too small, extension
 * headers, ICMP, a bad data offset, caplen > wirelen) returns false *before*
 * anything is written to the output or a counter moves, and decode_general()
 * takes the frame from its first byte: it alone names the reasons. A frame
 * decoded here gives the same struct decoded (every byte of it but sack[], which
 * neither path clears) and the same counters as the general path would: the
 * lengths below are the general path's cur_limit() and cur_rebase()
 * arithmetic, written out.
 *
 * type_at: offset of the EtherType in the link header; link_hlen: the link
 * header's length.
 */
#define IPV4_VERSION_IHL5 0x45 /* first byte of an IPv4 header without options */

static ALWAYS_INLINE bool decode_fast(const struct frame *f, const struct decode_config *cfg,
                                      struct decoded *out, struct decode_counters *cnt,
                                      uint32_t type_at, uint32_t link_hlen,
                                      enum decode_status *status)
{
    const uint8_t *p = f->bytes;
    uint32_t caplen = f->caplen;
    uint32_t wirelen = f->wirelen;

    /* the link header, the smallest IP and TCP headers */
    if (caplen < link_hlen + IPV4_MIN_HLEN + TCP_MIN_HLEN || caplen > wirelen) {
        return false;
    }
    uint32_t ip_at = link_hlen; /* where the IP header starts */
    uint16_t type = ld_be16(p + type_at);
    if (type != ETHERTYPE_IPV4 && type != ETHERTYPE_IPV6) {
        if (!(type == ETHERTYPE_VLAN || type == ETHERTYPE_QINQ || type == ETHERTYPE_QINQ_OLD) ||
            caplen < link_hlen + VLAN_TAG_LEN + IPV4_MIN_HLEN + TCP_MIN_HLEN) {
            return false;
        }
        type = ld_be16(p + ip_at + 2); /* the tag's next EtherType */
        ip_at += VLAN_TAG_LEN;
    }
    const uint8_t *ip = p + ip_at;
    uint32_t ip_cap = caplen - ip_at;   /* >= 40, checked above */
    uint32_t ip_wire = wirelen - ip_at; /* >= ip_cap */
    uint32_t ip_hlen;                   /* IP header length */
    uint32_t ip_end;                    /* where the IP length ends the region */

    if (type == ETHERTYPE_IPV4) {
        /* (the fragment bits are tested as they are in the packet) */
        if (ip[0] != IPV4_VERSION_IHL5 || ip[9] != IP_PROTO_TCP ||
            (ld_u16(ip + 6) & htons(IPV4_FRAG_MF | IPV4_FRAG_OFFSET_MASK)) != 0) {
            return false;
        }
        ip_end = ld_be16(ip + 2); /* total length */
        if (ip_end < IPV4_MIN_HLEN + TCP_MIN_HLEN) {
            return false;
        }
        ip_hlen = IPV4_MIN_HLEN;
    } else if (type == ETHERTYPE_IPV6) {
        if (ip_cap < IPV6_HLEN + TCP_MIN_HLEN || (ip[0] >> 4) != 6 || ip[6] != IP_PROTO_TCP) {
            return false;
        }
        uint32_t plen = ld_be16(ip + 4);
        if (plen < TCP_MIN_HLEN) {
            return false;
        }
        ip_hlen = IPV6_HLEN;
        ip_end = IPV6_HLEN + plen;
    } else {
        return false;
    }
    /* Trim to the IP length (never grown), as cur_limit() does; both stay
     * >= ip_hlen + TCP_MIN_HLEN by the checks above. */
    if (ip_end < ip_wire) {
        ip_wire = ip_end;
    }
    if (ip_cap > ip_wire) {
        ip_cap = ip_wire;
    }
    const uint8_t *tcp = ip + ip_hlen;
    uint32_t tcp_cap = ip_cap - ip_hlen;   /* >= TCP_MIN_HLEN */
    uint32_t tcp_wire = ip_wire - ip_hlen; /* >= tcp_cap */
    uint32_t hlen = (uint32_t)(tcp[12] >> 4) * 4u;
    if (hlen < TCP_MIN_HLEN || hlen > tcp_wire) {
        return false;
    }

    /* Decided. Every byte of the output up to sack[] gets the value the general
     * path leaves there: what it decodes, zero elsewhere (it clears them all
     * first). decode_tcp_rest() then sets payload_bytes and may set option
     * fields and checksum_bad. */
    struct tcp_segment *t = &out->tcp;
    if (ip_hlen == IPV4_MIN_HLEN) {
        /* Each address as two 8-byte stores (the 4 bytes, zero-extended, then
         * zeros): the flow key reads them back as 8-byte words at once, and a
         * word written in pieces cannot be forwarded from the store buffer. */
        uint8_t a4[8] = {0};
        uint64_t w, zero = 0;
        memcpy(a4, ip + 12, 4);
        memcpy(&w, a4, sizeof w);
        memcpy(t->src.b, &w, sizeof w);
        memcpy(t->src.b + 8, &zero, sizeof zero);
        memcpy(a4, ip + 16, 4);
        memcpy(&w, a4, sizeof w);
        memcpy(t->dst.b, &w, sizeof w);
        memcpy(t->dst.b + 8, &zero, sizeof zero);
        t->ip_version = 4;
        t->ttl = ip[8];
    } else {
        memcpy(t->src.b, ip + 8, 16);
        memcpy(t->dst.b, ip + 24, 16);
        t->ip_version = 6;
        t->ttl = ip[7];
    }
    set_ports(t, ld_be16(tcp), ld_be16(tcp + 2));
    t->seq = ld_be32(tcp + 4);
    t->ack = ld_be32(tcp + 8);
    t->window = ld_be16(tcp + 14);
    t->flags = tcp[13];
    /* wscale through ts_ecr: the options, unset so far (and the padding byte
     * before mss, which the general path's memset clears too) */
    memset(&t->wscale, 0, offsetof(struct tcp_segment, sack) - offsetof(struct tcp_segment, wscale));
    /* the ICMP fields and checksum_bad, to the end of the structure */
    memset(&out->icmp, 0, sizeof *out - offsetof(struct decoded, icmp));

    /* the pseudo header's addresses: IPv4 source and destination (8 bytes from
     * offset 12), IPv6 (32 bytes from offset 8) */
    *status = decode_tcp_rest(out, cnt, cfg, tcp, tcp_cap, tcp_wire, hlen, ip_end - ip_hlen,
                              ip_hlen == IPV4_MIN_HLEN ? ip + 12 : ip + 8,
                              ip_hlen == IPV4_MIN_HLEN ? 8 : SEG_ADDRS_LEN);
    return true;
}

/* ---------------------------------------------------------------------------
 * Entry point and names.
 */

/* Every frame the fast path does not take, from its first byte. */
static NOINLINE enum decode_status decode_general(const struct frame *f, const struct decode_config *cfg,
                                         struct decoded *out, struct decode_counters *cnt)
{
    struct dctx d = {.cfg = cfg, .out = out, .cnt = cnt, .verifiable = true};

    /* Clear what a decode may leave unset; sack[] is meaningful only up to
     * sack_count and is not cleared. A plain memset of the whole structure
     * compiles to "rep stos", which costs more than the rest of a decode. */
    memset(&out->tcp, 0, offsetof(struct tcp_segment, sack));
    out->icmp = ICMP_KIND_NONE;
    out->icmp_type = 0;
    out->icmp_code = 0;
    out->icmp_ttl = 0;
    memset(&out->icmp_src, 0, sizeof out->icmp_src);
    out->checksum_bad = false;
    if (f->caplen == 0) {
        return drop(&d, DR_ZERO_LENGTH);
    }
    struct cursor c = {.ptr = f->bytes, .len = f->caplen, .wire = f->wirelen, .off = 0};
    if (f->caplen > f->wirelen) {
        cnt->caplen_gt_wirelen++;
        c.wire = f->caplen;
    }
    switch (f->link) {
    case LINK_ETHERNET:
        return decode_ethernet(&d, &c);
    case LINK_LINUX_SLL:
        return decode_sll(&d, &c);
    case LINK_LINUX_SLL2:
        return decode_sll2(&d, &c);
    case LINK_NULL:
        return decode_null(&d, &c);
    case LINK_LOOP:
        return decode_loop(&d, &c);
    case LINK_RAW:
        return decode_raw(&d, &c);
    case LINK_IPV4:
        return decode_ipv4(&d, &c);
    case LINK_IPV6:
        return decode_ipv6(&d, &c);
    case LINK__COUNT:
    default:
        return drop(&d, DR_LINK_BAD);
    }
}

enum decode_status decode_frame(const struct frame *f, const struct decode_config *cfg,
                                struct decoded *out, struct decode_counters *cnt)
{
    /* Ethernet and Linux cooked frames try the fast path first; it takes the
     * frame only if it can decode it whole (see decode_fast). Ethernet, by far
     * the most common, gets a copy with its offsets as constants. */
    enum decode_status st;
    switch (f->link) {
    case LINK_ETHERNET:
        if (decode_fast(f, cfg, out, cnt, ETH_HLEN - 2, ETH_HLEN, &st)) {
            return st;
        }
        break;
    case LINK_LINUX_SLL:
    case LINK_LINUX_SLL2: {
        bool v2 = f->link == LINK_LINUX_SLL2;
        if (decode_fast(f, cfg, out, cnt, v2 ? SLL2_PROTOCOL_OFFSET : SLL_PROTOCOL_OFFSET,
                        v2 ? SLL2_HLEN : SLL_HLEN, &st)) {
            return st;
        }
        break;
    }
    default:
        break;
    }
    return decode_general(f, cfg, out, cnt);
}

const char *link_type_name(enum link_type link)
{
    static const char *const names[LINK__COUNT] = {
        [LINK_ETHERNET] = "ethernet",
        [LINK_LINUX_SLL] = "linux_sll",
        [LINK_LINUX_SLL2] = "linux_sll2",
        [LINK_NULL] = "null",
        [LINK_LOOP] = "loop",
        [LINK_RAW] = "raw",
        [LINK_IPV4] = "ipv4",
        [LINK_IPV6] = "ipv6",
    };
    if ((unsigned)link >= LINK__COUNT || names[link] == NULL) {
        return "unknown";
    }
    return names[link];
}

const char *decode_reason_name(enum decode_reason reason)
{
    static const char *const names[DR__COUNT] = {
        [DR_NOT_IP] = "not_ip",
        [DR_NOT_TCP] = "not_tcp",
        [DR_IP_FRAGMENT] = "ip_fragment",
        [DR_HEADERS_CUT] = "headers_cut",
        [DR_ZERO_LENGTH] = "zero_length",
        [DR_LINK_SHORT] = "link_short",
        [DR_LINK_BAD] = "link_bad",
        [DR_VLAN_DEPTH] = "vlan_depth",
        [DR_MPLS_DEPTH] = "mpls_depth",
        [DR_IP_VERSION] = "ip_version",
        [DR_IP_SHORT] = "ip_short",
        [DR_IPV4_HEADER_LENGTH] = "ipv4_header_length",
        [DR_IPV4_TOTAL_LENGTH] = "ipv4_total_length",
        [DR_IPV6_EXT_CHAIN] = "ipv6_ext_chain",
        [DR_TCP_DATA_OFFSET] = "tcp_data_offset",
        [DR_TCP_OPTIONS] = "tcp_options",
        [DR_ICMP_SHORT] = "icmp_short",
    };
    if ((unsigned)reason >= DR__COUNT || names[reason] == NULL) {
        return "unknown";
    }
    return names[reason];
}

bool decode_reason_is_malformed(enum decode_reason reason)
{
    return (unsigned)reason > DR__SKIP_LAST && (unsigned)reason < DR__COUNT;
}

char *ip_addr_format(const struct ip_addr *a, int ip_version, char *buf, unsigned long len)
{
    if (buf == NULL || len == 0) {
        return buf;
    }
    int af = ip_version == 4 ? AF_INET : ip_version == 6 ? AF_INET6 : AF_UNSPEC;
    socklen_t size = len > 64 ? 64 : (socklen_t)len;
    if (af == AF_UNSPEC || inet_ntop(af, a->b, buf, size) == NULL) {
        buf[0] = '\0';
    }
    return buf;
}
