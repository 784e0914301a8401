/* SPDX-License-Identifier: MIT */
/*
 * fuzz_pipeline.c - fuzz target: the whole pipeline on raw capture-file bytes.
 *
 * The input is a capture file (pcap or pcapng, or gzip of one). It is opened
 * from memory with capture_open_fp(fmemopen()) (libpcap's reader) -- or,
 * when it starts with the gzip magic, from a memfd through
 * capture_open_file(), the only way into the zlib path -- and every frame
 * goes through the analyzer (decoder, tracker, classifier) to BOTH
 * reporters at once (a small tee reporter forwards every call to the JSON
 * reporter, writing to memory, and the text reporter, writing to /dev/null).
 *
 * Differential check: a classic pcap is also opened as a file (a memfd, by
 * path, as main does), which takes capture.c's own direct reader. Both readers
 * must agree exactly: same open result, same frames, same damage, and the
 * same JSON output byte for byte.
 *
 * The last byte of the input also picks settings, so mutations explore them
 * too: checksum verification, a tiny flow table (evictions), no linger,
 * live-style events (with the clock ticking 1.5 s past every fourth frame,
 * as main ticks it in live mode), a 1 ms stall threshold, and a BPF filter.
 *
 * Checks beyond "no crash, no UB, no leak": a capture that fails to open
 * says why in one line, and so does damage; frames are bounded by the input
 * size (no loop); the summary counts every frame exactly once (one decoder
 * outcome each); every connection created is reported exactly once, with
 * one verdict; nothing is left in the flow table.
 */
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "analyzer.h"
#include "capture.h"
#include "fuzz_target.h"
#include "report.h"

/* ---- a reporter that forwards to two others ---------------------------- */

struct tee_reporter {
    struct reporter base;
    struct reporter *a, *b;
    uint64_t connections, events;
    bool ended;
    /* ids reported as evicted (a bit each, grown as needed), and the
     * connections reported as continuing one */
    uint8_t *evicted_ids;
    size_t evicted_bytes;
    uint64_t resuming;
};

static bool tee_was_evicted(const struct tee_reporter *t, uint64_t id)
{
    return id / 8 < t->evicted_bytes && (t->evicted_ids[id / 8] & (1u << (id % 8)));
}

static void tee_connection(struct reporter *r, const struct conn *c, const struct verdict_info *v,
                           enum conn_end why)
{
    struct tee_reporter *t = (struct tee_reporter *)r;
    FUZZ_CHECK(!t->ended);
    FUZZ_CHECK((unsigned)v->verdict < VERDICT__COUNT);
    FUZZ_CHECK(strlen(v->reason) > 0);
    t->connections++;
    /* a continuation continues a connection evicted before it */
    uint64_t id = conn_id(c), resumes = conn_rare(c)->resumes;
    if (resumes) {
        FUZZ_CHECK(resumes < id && tee_was_evicted(t, resumes));
        t->resuming++;
    }
    if (why == END_EVICTED) {
        FUZZ_CHECK(c->flags & CONN_EVICTED);
        if (id / 8 >= t->evicted_bytes) {
            size_t n = (size_t)(id / 8 + 1) * 2;
            uint8_t *m = realloc(t->evicted_ids, n);
            FUZZ_CHECK(m != NULL);
            memset(m + t->evicted_bytes, 0, n - t->evicted_bytes);
            t->evicted_ids = m;
            t->evicted_bytes = n;
        }
        t->evicted_ids[id / 8] = (uint8_t)(t->evicted_ids[id / 8] | (1u << (id % 8)));
    }
    t->a->ops->connection(t->a, c, v, why);
    t->b->ops->connection(t->b, c, v, why);
}

static void tee_event(struct reporter *r, const struct conn *c, enum tracker_event ev,
                      int64_t now_ns, const char *detail)
{
    struct tee_reporter *t = (struct tee_reporter *)r;
    t->events++;
    t->a->ops->event(t->a, c, ev, now_ns, detail);
    t->b->ops->event(t->b, c, ev, now_ns, detail);
}

static void tee_end(struct reporter *r, const struct report_summary *s)
{
    struct tee_reporter *t = (struct tee_reporter *)r;
    t->ended = true;
    t->a->ops->end(t->a, s);
    t->b->ops->end(t->b, s);
}

static void tee_destroy(struct reporter *r)
{
    (void)r; /* the tee lives on the stack; its two reporters are destroyed by the caller */
}

static const struct reporter_ops tee_ops = {
    .name = "tee",
    .create = NULL,
    .connection = tee_connection,
    .event = tee_event,
    .end = tee_end,
    .destroy = tee_destroy,
};

/* ---- opening --------------------------------------------------------------- */

/* The bytes as a regular file (a memfd), opened by path: the way main opens
 * files, so classic pcap takes the direct reader and gzip the zlib path. */
static struct capture *open_as_file(const uint8_t *data, size_t size, const char *filter,
                                    char *err, size_t errlen)
{
    int fd = memfd_create("fuzz-input", MFD_CLOEXEC);
    FUZZ_CHECK(fd >= 0);
    size_t done = 0;
    while (done < size) {
        ssize_t w = write(fd, data + done, size - done);
        FUZZ_CHECK(w > 0);
        done += (size_t)w;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    struct capture *cap = capture_open_file(path, filter, err, errlen);
    close(fd); /* the capture holds its own descriptor or mapping */
    return cap;
}

static struct capture *open_from_memory(uint8_t *copy, size_t size, const char *filter,
                                        char *err, size_t errlen)
{
    FILE *fp = fmemopen(copy, size, "rb");
    FUZZ_CHECK(fp != NULL);
    return capture_open_fp(fp, "fuzz-input", filter, err, errlen);
}

static uint64_t decoder_outcomes(const struct decode_counters *c)
{
    uint64_t n = c->tcp_segments + c->icmp_errors;
    for (unsigned i = 0; i < DR__COUNT; i++)
        n += c->by_reason[i];
    return n;
}

/* What one run produced. */
struct outcome {
    bool opened;
    bool damaged;
    uint64_t frames;
    char *json; /* the JSON output (open_memstream) */
    size_t json_len;
};

/* Everything after the open: the pipeline to both reporters, and the
 * invariants that hold for any input. Closes cap. */
static void run_pipeline(struct capture *cap, const struct analyzer_config *cfg, size_t size,
                         bool gzip, bool small_table, struct outcome *o)
{
    static FILE *devnull;
    if (!devnull) {
        devnull = fopen("/dev/null", "w");
        FUZZ_CHECK(devnull != NULL);
    }
    o->opened = true;
    FILE *json_out = open_memstream(&o->json, &o->json_len);
    FUZZ_CHECK(json_out != NULL);
    struct reporter_config rc = {
        .out = json_out,
        .ts_digits = capture_ts_digits(cap),
        .max_problem_lines = small_table ? 2 : 10000,
        .live = cfg->events,
    };
    FUZZ_CHECK(rc.ts_digits == 6 || rc.ts_digits == 9);
    struct reporter *json = report_json_ops.create(&rc);
    rc.out = devnull;
    struct reporter *text = report_text_ops.create(&rc);
    FUZZ_CHECK(json && text);
    struct tee_reporter tee = {.base = {.ops = &tee_ops, .cfg = rc}, .a = json, .b = text};

    static struct analyzer a;
    analyzer_init(&a, cfg, &tee.base);
    const char *damage = NULL;
    struct frame f;
    for (;;) {
        enum capture_status st = capture_next(cap, &f);
        if (st == CAPTURE_FRAME) {
            o->frames++;
            /* Every record takes at least 16 bytes (gzip inflates at
             * most 1032:1): a frame count above that is a loop. */
            FUZZ_CHECK(o->frames <= (uint64_t)size * (gzip ? 1100u : 1u) / 16u + 1u);
            FUZZ_CHECK(f.number == o->frames);
            FUZZ_CHECK(f.link == capture_link(cap));
            analyzer_frame(&a, &f);
            /* The table's lists hold what it holds, within both caps (the
             * pipeline may hold a few frames back: counts, not identities). */
            const struct flow_table *tb = &a.tracker.table;
            FUZZ_CHECK(tb->handshake.count + tb->active.count + tb->linger.count == tb->count);
            FUZZ_CHECK(tb->count <= a.tracker.cfg.max_connections);
            FUZZ_CHECK(tb->handshake.count <= a.tracker.cfg.max_handshakes);
            /* Live mode: the clock also moves between frames (main ticks
             * the analyzer with the wall clock when no frame comes). */
            if (cfg->events && o->frames % 4 == 0)
                analyzer_tick(&a, f.ts_ns + 1500000000LL);
        } else if (st == CAPTURE_DAMAGED) {
            damage = capture_damage(cap);
            FUZZ_CHECK(damage && damage[0] != '\0' && strchr(damage, '\n') == NULL);
            o->damaged = true;
            break;
        } else {
            FUZZ_CHECK(st == CAPTURE_END);
            break;
        }
    }
    analyzer_finish(&a, "fuzz-input", capture_link_name(cap), damage);

    const struct report_summary *s = &a.summary;
    FUZZ_CHECK(tee.ended);
    FUZZ_CHECK(s->frames == o->frames);
    FUZZ_CHECK(decoder_outcomes(&s->decode) == o->frames);
    FUZZ_CHECK(s->connections == tee.connections);
    FUZZ_CHECK(s->connections == s->tracker.connections);
    uint64_t by_verdict = 0;
    for (unsigned i = 0; i < VERDICT__COUNT; i++)
        by_verdict += s->verdicts[i];
    FUZZ_CHECK(by_verdict == s->connections);
    FUZZ_CHECK(s->damaged == (damage != NULL));
    FUZZ_CHECK(a.tracker.table.count == 0);
    FUZZ_CHECK(s->tracker.evicted_handshakes <= s->tracker.evicted);
    FUZZ_CHECK(s->tracker.resumed == tee.resuming && s->tracker.resumed <= s->tracker.evicted);
    free(tee.evicted_ids);

    analyzer_destroy(&a);
    json->ops->destroy(json);
    text->ops->destroy(text);
    capture_close(cap);
    FUZZ_CHECK(fclose(json_out) == 0);
}

static bool classic_pcap(const uint8_t *d, size_t size)
{
    if (size < 24)
        return false;
    uint32_t m = (uint32_t)d[0] << 24 | (uint32_t)d[1] << 16 | (uint32_t)d[2] << 8 | d[3];
    return m == 0xa1b2c3d4u || m == 0xd4c3b2a1u || m == 0xa1b23c4du || m == 0x4d3cb2a1u;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;

    /* Settings from the last byte. */
    uint8_t knob = data[size - 1];
    struct analyzer_config cfg;
    analyzer_config_default(&cfg);
    cfg.decode.verify_checksums = (knob & 0x01) == 0;
    bool small_table = (knob & 0x02) != 0;
    if (small_table)
        cfg.tracker.max_connections = 1u + ((knob >> 4) & 3u);
    if (knob & 0x04)
        cfg.tracker.linger_ns = 0;
    cfg.events = (knob & 0x08) != 0;
    if ((knob & 0x30) == 0x30)
        cfg.tracker.stall_threshold_ns = 1000000;
    const char *filter = (knob & 0xc0) == 0xc0 ? "tcp or icmp or icmp6" : NULL;
    /* The compact times' unit (conn.h) from the byte before: most inputs'
     * times are not whole units of it, so connections get finer units or go
     * wide. */
    cfg.tracker.time_unit = (uint8_t)(size >= 2 ? data[size - 2] % 10 : 0);
    /* With a small table, the half-open connections' cap from the same
     * byte: 1-4, so both caps and both lists' evictions are reached. */
    if (small_table && size >= 2)
        cfg.tracker.max_handshakes = 1u + (data[size - 2] / 10u) % 4u;
    /* Every other value of that byte (by its 40s) turns the fast paths off:
     * both the tracker's and the general path get fuzzed. */
    if (size >= 2 && (data[size - 2] / 40u) % 2u) {
        cfg.tracker.fast_paths = false;
        cfg.findings.pair_filter = false;
    }
    bool gzip = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;

    /* An exact-size heap copy: fmemopen wants a writable buffer, and ASan
     * then sees any read past the end. */
    uint8_t *copy = malloc(size);
    FUZZ_CHECK(copy != NULL);
    memcpy(copy, data, size);

    /* 1: gzip through a file (zlib), anything else from memory (libpcap). */
    char err[512] = "";
    struct capture *cap = gzip ? open_as_file(copy, size, filter, err, sizeof err)
                               : open_from_memory(copy, size, filter, err, sizeof err);
    struct outcome lib = {0};
    if (cap)
        run_pipeline(cap, &cfg, size, gzip, small_table, &lib);
    else
        FUZZ_CHECK(err[0] != '\0' && strchr(err, '\n') == NULL);

    /* 2: a classic pcap again as a file, through the direct reader: it must
     * agree with libpcap byte for byte (frames, damage, the whole JSON). */
    if (classic_pcap(copy, size)) {
        char err2[512] = "";
        struct capture *cap2 = open_as_file(copy, size, filter, err2, sizeof err2);
        struct outcome mm = {0};
        if (cap2)
            run_pipeline(cap2, &cfg, size, false, small_table, &mm);
        else
            FUZZ_CHECK(err2[0] != '\0' && strchr(err2, '\n') == NULL);
        FUZZ_CHECK(mm.opened == lib.opened);
        FUZZ_CHECK(mm.frames == lib.frames);
        FUZZ_CHECK(mm.damaged == lib.damaged);
        FUZZ_CHECK(mm.json_len == lib.json_len);
        FUZZ_CHECK(mm.json_len == 0 || memcmp(mm.json, lib.json, mm.json_len) == 0);
        free(mm.json);
    }
    free(lib.json);
    free(copy);
    return 0;
}
