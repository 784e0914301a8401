/* SPDX-License-Identifier: MIT */
/*
 * fuzz_decode.c - fuzz target: the frame decoder (src/decode.c) on raw bytes.
 *
 * Input layout (4 bytes of settings, then the frame):
 *   byte 0   link type: value % (LINK__COUNT + 1); LINK__COUNT itself is an
 *            invalid link type, which must be counted as link_bad
 *   byte 1   bit 0: verify TCP checksums; bits 1-2: how the wire length
 *            relates to the captured length (0: equal; 1: caplen + N, a
 *            snaplen cut; 2: N, possibly below caplen; 3: caplen + N * 65536)
 *   byte 2-3 N, big-endian
 *   rest     the frame bytes (caplen = size - 4; libFuzzer hands us a buffer
 *            of exactly that size, so ASan sees any read past it)
 *
 * Besides "no crash, no UB", it checks the decoder's contract: exactly one
 * counter moves per frame (one reason when skipped or malformed, the TCP or
 * ICMP count otherwise), the status agrees with the kind of reason, and a
 * decoded segment has sane fields (IP version, SACK count, window scale,
 * payload no longer than the frame was on the wire).
 */
#include <string.h>

#include "decode.h"
#include "fuzz_target.h"

#define SETTINGS_LEN 4

static uint64_t sum_counters(const struct decode_counters *c)
{
    uint64_t n = c->tcp_segments + c->icmp_errors;
    for (unsigned i = 0; i < DR__COUNT; i++)
        n += c->by_reason[i];
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < SETTINGS_LEN || size - SETTINGS_LEN > UINT32_MAX)
        return 0;
    struct frame f;
    memset(&f, 0, sizeof f);
    f.ts_ns = 1700000000000000000LL;
    f.number = 1;
    f.link = (enum link_type)(data[0] % (LINK__COUNT + 1));
    f.bytes = data + SETTINGS_LEN;
    f.caplen = (uint32_t)(size - SETTINGS_LEN);
    uint32_t n = (uint32_t)data[2] << 8 | data[3];
    switch ((data[1] >> 1) & 3) {
    case 0:
        f.wirelen = f.caplen;
        break;
    case 1:
        f.wirelen = f.caplen + n;
        break;
    case 2:
        f.wirelen = n;
        break;
    default:
        f.wirelen = f.caplen + (n << 16); /* up to 4 GiB: TSO, jumbograms */
        if (f.wirelen < f.caplen)
            f.wirelen = UINT32_MAX;
        break;
    }
    struct decode_config cfg = {.verify_checksums = (data[1] & 1) != 0};
    struct decode_counters cnt;
    memset(&cnt, 0, sizeof cnt);
    struct decoded d;
    memset(&d, 0xa5, sizeof d); /* decode_frame must set what it reports */

    enum decode_status st = decode_frame(&f, &cfg, &d, &cnt);

    FUZZ_CHECK(sum_counters(&cnt) == 1);
    FUZZ_CHECK(cnt.checksum_bad <= 1 && cnt.checksum_unverified <= 1 && cnt.options_cut <= 1);
    FUZZ_CHECK(cnt.caplen_gt_wirelen == (f.caplen > f.wirelen ? 1u : 0u));
    uint32_t wire = f.caplen > f.wirelen ? f.caplen : f.wirelen;
    switch (st) {
    case DECODE_TCP:
    case DECODE_ICMP:
        FUZZ_CHECK(cnt.tcp_segments == (st == DECODE_TCP ? 1u : 0u));
        FUZZ_CHECK(cnt.icmp_errors == (st == DECODE_ICMP ? 1u : 0u));
        FUZZ_CHECK((d.icmp == ICMP_KIND_NONE) == (st == DECODE_TCP));
        FUZZ_CHECK(d.tcp.ip_version == 4 || d.tcp.ip_version == 6);
        FUZZ_CHECK(d.tcp.sack_count <= DECODE_MAX_SACK);
        FUZZ_CHECK(!d.tcp.has_wscale || d.tcp.wscale <= 14);
        FUZZ_CHECK(d.tcp.payload_bytes <= wire);
        FUZZ_CHECK(!d.checksum_bad || (st == DECODE_TCP && cfg.verify_checksums));
        FUZZ_CHECK(cfg.verify_checksums || cnt.checksum_bad + cnt.checksum_unverified == 0);
        if (d.tcp.ip_version == 4) {
            /* IPv4 addresses leave bytes 4..15 zero (bytewise hashing). */
            static const uint8_t zero[12];
            FUZZ_CHECK(memcmp(d.tcp.src.b + 4, zero, sizeof zero) == 0);
            FUZZ_CHECK(memcmp(d.tcp.dst.b + 4, zero, sizeof zero) == 0);
        }
        char a[64], b[64];
        ip_addr_format(&d.tcp.src, d.tcp.ip_version, a, sizeof a);
        ip_addr_format(&d.tcp.dst, d.tcp.ip_version, b, sizeof b);
        FUZZ_CHECK(strlen(a) > 0 && strlen(b) > 0);
        break;
    case DECODE_SKIPPED:
    case DECODE_MALFORMED: {
        unsigned hit = DR__COUNT;
        for (unsigned i = 0; i < DR__COUNT; i++)
            if (cnt.by_reason[i])
                hit = i;
        FUZZ_CHECK(hit < DR__COUNT);
        FUZZ_CHECK(decode_reason_is_malformed((enum decode_reason)hit) ==
                   (st == DECODE_MALFORMED));
        FUZZ_CHECK(strcmp(decode_reason_name((enum decode_reason)hit), "unknown") != 0);
        FUZZ_CHECK((f.caplen == 0) == (hit == DR_ZERO_LENGTH));
        FUZZ_CHECK((f.link == LINK__COUNT && f.caplen > 0) == (hit == DR_LINK_BAD));
        break;
    }
    default:
        FUZZ_CHECK(st == DECODE_TCP); /* an unknown status: always fails */
    }
    return 0;
}
