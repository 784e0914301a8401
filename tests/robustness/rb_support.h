/* SPDX-License-Identifier: MIT */
/*
 * rb_support.h - helpers for the robustness tests (test_damaged.c,
 * test_malformed.c): a tiny pcap / pcapng writer, a packet crafter that
 * can break any length field on purpose, an independent walker of pcap and
 * pcapng records, an in-process run of the whole pipeline (capture_open_fp
 * on the bytes, analyzer, both reporters), and a small reader for the
 * fields of the JSON summary line.
 *
 * Nothing here uses the decoder: packets are assembled byte by byte and the
 * record walker reads the file format on its own, so the tests compare the
 * program against an independent account of the input.
 */
#ifndef TCPTRIAGE_TESTS_RB_SUPPORT_H
#define TCPTRIAGE_TESTS_RB_SUPPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "analyzer.h"
#include "capture.h"
#include "classify.h"
#include "report.h"

/* ---- growable byte buffer ------------------------------------------------ */

struct rb_buf {
    uint8_t *data;
    size_t len, cap;
};

void rb_buf_put(struct rb_buf *b, const void *p, size_t n);
void rb_buf_free(struct rb_buf *b);
/* Reads a whole file; false when it cannot. */
bool rb_read_file(const char *path, struct rb_buf *out);

/* ---- capture files --------------------------------------------------------- */

/* Link-layer type numbers as written in capture files (tcpdump.org/linktypes). */
#define RB_LINKTYPE_NULL 0
#define RB_LINKTYPE_ETHERNET 1
#define RB_LINKTYPE_RAW 101
#define RB_LINKTYPE_LOOP 108
#define RB_LINKTYPE_LINUX_SLL 113
#define RB_LINKTYPE_IPV4 228
#define RB_LINKTYPE_IPV6 229
#define RB_LINKTYPE_LINUX_SLL2 276

/* Classic pcap, little-endian, microsecond timestamps. */
void rb_pcap_header(struct rb_buf *b, uint32_t linktype, uint32_t snaplen);
void rb_pcap_record(struct rb_buf *b, int64_t ts_ns, const uint8_t *bytes, uint32_t caplen,
                    uint32_t wirelen);

/* One record of a pcap or pcapng file as found by rb_walk(). */
struct rb_record {
    size_t start, end;  /* [start, end): the whole record / block */
    size_t data_start;  /* first byte of the packet data (pcapng: after the fixed fields) */
    size_t data_end;    /* end of the packet data (without pcapng padding and options) */
    bool is_packet;     /* a frame libpcap hands out (pcapng: EPB, SPB, PB) */
};

/* Walks a well-formed pcap or pcapng file (either byte order). *header_end:
 * where the first record starts (pcap: 24; pcapng: after the SHB). Returns
 * the number of records (blocks, for pcapng) written to out (up to max),
 * or -1 if the file is not one the walker knows. */
long rb_walk(const uint8_t *b, size_t len, size_t *header_end, struct rb_record *out, size_t max);

/* Converts a classic pcap into pcapng (SHB, one IDB with if_tsresol 9 when
 * nano, one EPB per record). */
void rb_pcap_to_pcapng(const uint8_t *pcap, size_t len, bool nano, struct rb_buf *out);
/* Rewrites a classic pcap big-endian with nanosecond timestamps. */
void rb_pcap_to_be_nano(const uint8_t *pcap, size_t len, struct rb_buf *out);

/* ---- packets ------------------------------------------------------------- */

enum rb_link_kind { RB_ETH = 0, RB_SLL, RB_SLL2, RB_RAW, RB_NULL, RB_LOOP };

struct rb_link {
    enum rb_link_kind kind;
    unsigned vlans;     /* Ethernet: 802.1Q tags */
    unsigned mpls;      /* Ethernet: MPLS labels */
    bool sll2_odd;      /* SLL2: reserved field set, odd ifindex, type, address length */
};

struct rb_tcp {
    int ip_version;         /* 4 or 6 */
    uint8_t src[16], dst[16];
    uint16_t sport, dport;
    uint32_t seq, ack;
    uint8_t flags;
    uint16_t win;
    const uint8_t *opts;    /* raw TCP option bytes (padded with zeros to 4) */
    unsigned opts_len;
    int doff;               /* data offset in 32-bit words; 0: from the options */
    uint32_t payload;       /* payload bytes the IP header declares */
    int ihl;                /* IPv4 IHL in words; 0: 5 */
    long ip_len;            /* IPv4 total length / IPv6 payload length; -1: computed */
    const uint8_t *ext;     /* IPv6 extension headers, raw */
    unsigned ext_len;
    uint8_t ext_first;      /* next-header value that starts the chain */
    uint8_t ttl;
};

/* Assembles link + IP + TCP into out (at most cap bytes; payload bytes are
 * zero). Returns the frame's full length (its wire length); bytes past cap
 * are not written. The TCP checksum is right when the segment is whole. */
uint32_t rb_frame_bytes(uint8_t *out, uint32_t cap, const struct rb_link *l,
                        const struct rb_tcp *t);
/* Assembles the frame and writes it as one record, captured up to snap bytes
 * (0: whole, but at most 2048). */
void rb_put_frame(struct rb_buf *pcap, int64_t ts_ns, const struct rb_link *l,
                  const struct rb_tcp *t, uint32_t snap);

/* A clean connection: handshake, 100 bytes from the client, 200 from the
 * server, FIN, FIN, ACK. Client sends 6 segments, the server 4. */
#define RB_CLEAN_STEPS 10
#define RB_CLEAN_CLIENT_PKTS 6
#define RB_CLEAN_SERVER_PKTS 4
#define RB_CLEAN_CLIENT_BYTES 100
#define RB_CLEAN_SERVER_BYTES 200

struct rb_flow {
    int ip_version;
    uint8_t cli[16], srv[16];
    uint16_t cport, sport;
    uint32_t cisn, sisn;
};

struct rb_flow rb_flow4(uint16_t cport, uint16_t sport, uint32_t cisn, uint32_t sisn);
struct rb_flow rb_flow6(uint16_t cport, uint16_t sport, uint32_t cisn, uint32_t sisn);
/* A TCP segment of flow fl, client to server (c2s) or back; seq and ack are
 * absolute. */
struct rb_tcp rb_seg(const struct rb_flow *fl, bool c2s, uint8_t flags, uint32_t seq, uint32_t ack,
                     uint32_t payload);
/* Step i (0..RB_CLEAN_STEPS-1) of the clean connection on fl. */
struct rb_tcp rb_clean_step(const struct rb_flow *fl, unsigned i);

/* ---- running the pipeline -------------------------------------------------- */

struct rb_conn {
    uint64_t id;
    enum verdict verdict;
    uint8_t ip_version;
    uint16_t client_port, server_port;
    uint32_t pkts[2], retransmits[2];
    uint64_t bytes[2];
    uint64_t first_frame, last_frame, verdict_frame;
    bool evicted;
};

struct rb_opts {
    const struct analyzer_config *cfg; /* NULL: defaults */
    const char *filter;                /* NULL: none */
    bool json;                         /* keep the JSON output */
    bool text;                         /* keep the text output */
    bool via_file;                     /* open a memfd by path with capture_open_file(), as
                                        * main does (classic pcap: the direct reader), instead
                                        * of capture_open_fp(fmemopen()) (libpcap's reader) */
};

struct rb_result {
    bool opened;
    char err[512];          /* why it did not open */
    bool damaged;
    char damage[256];
    uint64_t frames;        /* CAPTURE_FRAME results */
    struct report_summary summary;
    struct rb_conn *conns;  /* in the order reported */
    size_t n_conns;
    uint64_t conn_hash;     /* a hash of everything recorded per connection, reason too */
    char *json, *text;      /* outputs, when asked for (NUL-terminated) */
    size_t json_len, text_len;
};

/* Runs capture_open_fp(fmemopen(bytes)) (or capture_open_file(), see
 * via_file) -> analyzer -> reporters. Never fails the test by itself; the
 * caller checks the result. */
void rb_run(const uint8_t *bytes, size_t len, const struct rb_opts *o, struct rb_result *r);
void rb_result_free(struct rb_result *r);
const struct rb_conn *rb_find_conn(const struct rb_result *r, uint16_t client_port);
/* Frames the decoder accounted for (one outcome each). */
uint64_t rb_decoder_outcomes(const struct decode_counters *c);

/* ---- the JSON summary ------------------------------------------------------ */

/* The summary line (the last line) of an NDJSON output, or NULL. */
const char *rb_json_summary(const char *json);
/* A field of a JSON object line: "frames", or "malformed_by_reason.tcp_options"
 * (one level of nesting). Copies the raw value text (number, true, "string")
 * into out. False when the field is absent. */
bool rb_json_field(const char *line, const char *path, char *out, size_t outlen);
/* The same for a number; returns UINT64_MAX when absent or not a number. */
uint64_t rb_json_u64(const char *line, const char *path);

/* ---- misc ------------------------------------------------------------------- */

/* xorshift64*: a fixed-seed generator for reproducible mutations. */
uint64_t rb_rand(uint64_t *state);
/* True when running under valgrind (tests then use a stride). */
bool rb_under_valgrind(void);

#endif
