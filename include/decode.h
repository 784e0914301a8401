/* SPDX-License-Identifier: MIT */
/*
 * decode.h - turn one captured frame into a decoded TCP segment (or an ICMP
 * error that quotes one).
 *
 * The decoder knows link layers (Ethernet with 802.1Q/802.1ad/MPLS, Linux SLL
 * and SLL2, BSD NULL/LOOP, raw IP), IPv4 (RFC 791), IPv6 with its extension
 * header chain (RFC 8200), TCP with its options (RFC 9293, RFC 7323, RFC 2018)
 * and ICMP/ICMPv6 destination-unreachable messages (RFC 792, RFC 4443).
 * It does not keep any state between frames and never allocates: the caller
 * owns both the frame bytes and the output structure.
 *
 * Every read of packet bytes is bounds-checked. A frame cut short by the
 * snaplen is normal: as long as the TCP fixed header (20 bytes) is present the
 * segment is decoded, and lengths are taken from the IP header, not from the
 * captured length. A malformed frame is never an error of the program: it is
 * counted under a named reason and skipped.
 */
#ifndef TCPTRIAGE_DECODE_H
#define TCPTRIAGE_DECODE_H

#include <stdbool.h>
#include <stdint.h>

/* Our own link-layer enum; capture.c maps libpcap DLT_* values onto it at one
 * boundary (names there, never numbers). */
enum link_type {
    LINK_ETHERNET = 0, /* DLT_EN10MB, with 802.1Q / 802.1ad / QinQ tags and MPLS */
    LINK_LINUX_SLL,    /* DLT_LINUX_SLL: 16-byte header, protocol in the last 2 bytes */
    LINK_LINUX_SLL2,   /* DLT_LINUX_SLL2: 20-byte header, protocol in the first 2 bytes */
    LINK_NULL,         /* DLT_NULL: 4-byte family in the *capturing host's* byte order */
    LINK_LOOP,         /* DLT_LOOP: 4-byte family in network byte order */
    LINK_RAW,          /* DLT_RAW / LINKTYPE_RAW: IPv4 or IPv6, told by the version nibble */
    LINK_IPV4,         /* LINKTYPE_IPV4: IPv4 only */
    LINK_IPV6,         /* LINKTYPE_IPV6: IPv6 only */
    LINK__COUNT
};

/* Stable lower-case name for a link type ("ethernet", "linux_sll2", ...). */
const char *link_type_name(enum link_type link);

/* One captured frame, as handed out by capture.c (or a test / fuzzer). */
struct frame {
    int64_t ts_ns;         /* capture timestamp, nanoseconds since the epoch */
    uint64_t number;       /* frame number, from 1, as Wireshark shows it */
    uint32_t caplen;       /* bytes present at .bytes */
    uint32_t wirelen;      /* bytes the frame had on the wire (>= caplen normally) */
    enum link_type link;   /* how to read .bytes */
    const uint8_t *bytes;  /* borrowed; valid only during the call */
};

/* Limits on nesting; anything deeper is counted as malformed and skipped. */
#define DECODE_MAX_VLAN_TAGS 4   /* stacked 802.1Q/802.1ad tags */
#define DECODE_MAX_MPLS_LABELS 8 /* MPLS label stack entries */
#define DECODE_MAX_IPV6_EXT 8    /* IPv6 extension headers before the upper layer */
#define DECODE_MAX_SACK 4        /* SACK blocks kept from one segment */

/* TCP flag bits, as on the wire (byte 13 of the TCP header). */
#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define TCP_URG 0x20
#define TCP_ECE 0x40
#define TCP_CWR 0x80

/* An IP address. IPv4 uses bytes [0..3]; bytes [4..15] are then zero, so the
 * structure can be compared and hashed bytewise. */
struct ip_addr {
    uint8_t b[16];
};

/* What a decoded segment carries. For an ICMP error the fields describe the
 * *quoted* (original) segment: src/dst/ports as the original sender wrote
 * them; only sport, dport and seq are guaranteed (an ICMP quote may hold just
 * 8 bytes of TCP), see .quote_has_flags. */
struct tcp_segment {
    struct ip_addr src;      /* IP source address */
    struct ip_addr dst;      /* IP destination address */
    uint16_t sport;          /* TCP source port */
    uint16_t dport;          /* TCP destination port */
    uint32_t seq;            /* sequence number */
    uint32_t ack;            /* acknowledgment number (meaningful if TCP_ACK) */
    uint32_t payload_bytes;  /* TCP payload length from the IP lengths (not caplen), never
                              * more than the wire length allows */
    uint16_t window;         /* raw (unscaled) window field */
    uint8_t flags;           /* TCP_* bits */
    uint8_t ip_version;      /* 4 or 6 */
    uint8_t ttl;             /* IPv4 TTL or IPv6 hop limit */
    /* options (RFC 9293 section 3.2, RFC 7323, RFC 2018) */
    uint8_t wscale;          /* window scale shift, valid if has_wscale (clamped to 14) */
    uint8_t sack_count;      /* SACK blocks stored in sack[] */
    bool has_mss;
    bool has_wscale;
    bool sack_permitted;
    bool has_timestamps;
    bool options_cut;        /* options were cut by the snaplen (not an error) */
    bool quote_has_flags;    /* ICMP only: the quote included the TCP flags byte */
    uint16_t mss;            /* valid if has_mss */
    uint32_t ts_val;         /* valid if has_timestamps */
    uint32_t ts_ecr;
    struct {
        uint32_t left, right;
    } sack[DECODE_MAX_SACK]; /* entries past sack_count are unspecified */
};

/* Kinds of ICMP error we attribute to a TCP connection. */
enum icmp_kind {
    ICMP_KIND_NONE = 0,
    ICMP_KIND_UNREACH,  /* ICMPv4 type 3 / ICMPv6 type 1 */
};

struct decoded {
    struct tcp_segment tcp;  /* the segment (or the quoted one, for ICMP) */
    enum icmp_kind icmp;     /* ICMP_KIND_NONE for a plain TCP segment */
    uint8_t icmp_type;       /* ICMP type and code as on the wire */
    uint8_t icmp_code;
    uint8_t icmp_ttl;        /* TTL / hop limit of the ICMP packet itself */
    struct ip_addr icmp_src; /* who sent the ICMP error */
    bool checksum_bad;       /* TCP checksum verified and wrong (only when fully captured) */
};

/* Result of decoding one frame. */
enum decode_status {
    DECODE_TCP = 0,   /* a TCP segment: out->icmp == ICMP_KIND_NONE */
    DECODE_ICMP,      /* an ICMP unreachable quoting TCP: out->icmp != NONE */
    DECODE_SKIPPED,   /* well-formed but not for us (ARP, UDP, non-first fragment, ...) */
    DECODE_MALFORMED, /* counted under a reason in struct decode_counters */
};

/* Why a frame was skipped or found malformed. Each frame is counted under
 * exactly one reason (the first problem found), plus checksum counters. */
enum decode_reason {
    /* skipped: not malformed */
    DR_NOT_IP = 0,         /* link payload is not IPv4/IPv6 (ARP, LLDP, ...) */
    DR_NOT_TCP,            /* IP payload is not TCP (UDP, other ICMP, ...) */
    DR_IP_FRAGMENT,        /* non-first IPv4/IPv6 fragment (no TCP header) */
    DR_HEADERS_CUT,        /* snaplen cut the frame before the end of the TCP fixed header
                            * (or of an ICMP error's TCP ports/seq); the wire had them */
    DR__SKIP_LAST = DR_HEADERS_CUT,
    /* malformed */
    DR_ZERO_LENGTH,        /* caplen == 0 */
    DR_LINK_SHORT,         /* link header longer than the frame (on the wire) */
    DR_LINK_BAD,           /* struct frame .link is not a known enum link_type */
    DR_VLAN_DEPTH,         /* more than DECODE_MAX_VLAN_TAGS tags */
    DR_MPLS_DEPTH,         /* more than DECODE_MAX_MPLS_LABELS labels */
    DR_IP_VERSION,         /* version nibble is not what the link layer said */
    DR_IP_SHORT,           /* frame ends (on the wire) inside the IPv4/IPv6 fixed header */
    DR_IPV4_HEADER_LENGTH, /* IHL < 5, or IHL*4 longer than the frame (on the wire) */
    DR_IPV4_TOTAL_LENGTH,  /* total length < header length (0 is TSO, not an error) */
    DR_IPV6_EXT_CHAIN,     /* extension header chain too long, looping or overrunning */
    DR_TCP_DATA_OFFSET,    /* data offset < 5, or past the IP payload */
    DR_TCP_OPTIONS,        /* an option length of 0/1 or running past the header */
    DR_ICMP_SHORT,         /* ICMP error too short to quote a TCP header's ports */
    DR__COUNT
};

/* Stable snake_case name for a reason ("ipv4_header_length", ...). */
const char *decode_reason_name(enum decode_reason reason);
/* True when the reason is a malformation (as opposed to a frame merely skipped). */
bool decode_reason_is_malformed(enum decode_reason reason);

struct decode_counters {
    uint64_t by_reason[DR__COUNT];  /* frames per reason */
    uint64_t tcp_segments;          /* frames that decoded to TCP */
    uint64_t icmp_errors;           /* frames that decoded to ICMP quoting TCP */
    uint64_t checksum_bad;          /* TCP checksums verified and wrong */
    uint64_t checksum_unverified;   /* not fully captured, so not checked */
    uint64_t options_cut;           /* TCP options cut by the snaplen */
    uint64_t ipv4_options;          /* IPv4 headers carrying options (informational) */
    uint64_t caplen_gt_wirelen;     /* caplen > wirelen: decoded with wirelen = caplen */
};

/* Decoder settings. */
struct decode_config {
    bool verify_checksums; /* compute TCP checksums of fully captured segments */
};

/*
 * Decode one frame.
 *   f    : the frame (bytes borrowed).
 *   cfg  : settings (may be NULL: defaults, checksums verified).
 *   out  : filled on DECODE_TCP / DECODE_ICMP; unspecified otherwise.
 *   cnt  : counters, incremented (never NULL).
 * Returns the status; on DECODE_SKIPPED / DECODE_MALFORMED one reason counter
 * was incremented. Never reads outside f->bytes[0 .. f->caplen).
 */
enum decode_status decode_frame(const struct frame *f, const struct decode_config *cfg,
                                struct decoded *out, struct decode_counters *cnt);

/* Text form of an address: dotted quad, or RFC 5952 for IPv6. buf must hold
 * at least 46 bytes. Returns buf. */
char *ip_addr_format(const struct ip_addr *a, int ip_version, char *buf, unsigned long len);

#endif
