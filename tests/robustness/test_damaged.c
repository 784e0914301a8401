/* SPDX-License-Identifier: MIT */
/*
 * test_damaged.c - damaged capture files: cut at every byte offset, bytes
 * flipped at random (fixed seed), in-process through the whole pipeline.
 *
 * Every run goes through both file readers of capture.c: libpcap's (the
 * bytes through capture_open_fp(fmemopen())) and the direct reader that main
 * uses for a classic pcap file (the bytes in a memfd, opened by path with
 * capture_open_file()). They must agree exactly: frames, damage message,
 * connections.
 *
 * For every capture in the directory given as argv[1] (captures/):
 *   - cuts: the file is cut at every offset (files over 100 KB: every offset
 *     of the first 512 and the last 256 bytes, a stride of a thousandth of
 *     the file in between, and both sides of every 256th record boundary;
 *     see cut_all()). Inside the file header the open
 *     must fail with a one-line message (what main maps to exit 2). After it,
 *     the capture must open and read to the end without a crash or a loop;
 *     the frames analysed must equal the complete records before the cut,
 *     counted here by walking the record headers independently; the input is
 *     damaged (CAPTURE_DAMAGED, exit 3 in main) exactly when the cut falls
 *     inside a record; and the connections reported must be exactly those
 *     reported for the file cut at the last record boundary (same number,
 *     same verdicts, counters and frame numbers), which, when any TCP was
 *     seen, is at least one;
 *   - flips: 200 variants with 1 to 4 bytes XORed at random positions. Half
 *     hit only packet bytes: nothing may be lost (every record read, not
 *     damaged). Half hit the file and record headers: whatever happens, the
 *     run finishes and its counters add up.
 * The same cuts run on pcapng and big-endian nanosecond conversions of a few
 * captures, and for some captures the whole JSON output of cuts inside a
 * record is compared byte for byte with that of the previous boundary (only
 * the summary's "damaged" part may differ).
 *
 * Under valgrind the cuts take a stride and there are fewer flips (20).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rb_support.h"

#define BIG_FILE (100u * 1024u)
#define FLIP_VARIANTS 200u

static const char *g_dir;

struct capture_file {
    char name[256];
    struct rb_buf bytes;
};

/* Boundary results, cached per number of complete records. */
struct boundary {
    bool done;
    uint64_t frames, conns, hash;
};

struct cut_ctx {
    const char *name;
    const uint8_t *b;
    size_t len;
    struct rb_record *recs;
    long n_recs;
    size_t open_min;        /* cuts below this cannot open */
    struct boundary *cache; /* [n_recs + 1] */
};

static bool one_line(const char *s)
{
    return s[0] != '\0' && strchr(s, '\n') == NULL;
}

static void check_consistent(const char *what, size_t at, const struct rb_result *r)
{
    const struct report_summary *s = &r->summary;
    if (s->frames != r->frames || rb_decoder_outcomes(&s->decode) != r->frames)
        fail_msg("%s @%zu: frames read %llu, summary %llu, decoder outcomes %llu", what, at,
                 (unsigned long long)r->frames, (unsigned long long)s->frames,
                 (unsigned long long)rb_decoder_outcomes(&s->decode));
    uint64_t by_verdict = 0;
    for (unsigned i = 0; i < VERDICT__COUNT; i++)
        by_verdict += s->verdicts[i];
    if (r->n_conns != s->connections || s->connections != s->tracker.connections ||
        by_verdict != s->connections)
        fail_msg("%s @%zu: %zu connections reported, summary %llu, created %llu, verdicts %llu",
                 what, at, r->n_conns, (unsigned long long)s->connections,
                 (unsigned long long)s->tracker.connections, (unsigned long long)by_verdict);
    if (r->damaged != s->damaged || (r->damaged && !one_line(r->damage)))
        fail_msg("%s @%zu: damage flag or message wrong ('%s')", what, at, r->damage);
    if (r->frames > r->summary.frames || r->frames > 0xffffffffu)
        fail_msg("%s @%zu: frame count runaway", what, at);
}

/* Complete records before cut, the packets among them, and the boundary. */
static long records_before(const struct cut_ctx *x, size_t cut, uint64_t *packets,
                           size_t *boundary)
{
    long k = 0;
    *packets = 0;
    *boundary = x->n_recs > 0 ? x->recs[0].start : x->len;
    while (k < x->n_recs && x->recs[k].end <= cut) {
        if (x->recs[k].is_packet)
            (*packets)++;
        *boundary = x->recs[k].end;
        k++;
    }
    return k;
}

static const struct boundary *boundary_result(struct cut_ctx *x, long k, size_t boundary,
                                              uint64_t packets)
{
    struct boundary *bd = &x->cache[k];
    if (bd->done)
        return bd;
    struct rb_result r;
    rb_run(x->b, boundary, NULL, &r);
    if (!r.opened)
        fail_msg("%s cut at record boundary %zu: does not open: %s", x->name, boundary, r.err);
    check_consistent(x->name, boundary, &r);
    if (r.damaged || r.frames != packets)
        fail_msg("%s cut at record boundary %zu: damaged=%d frames=%llu, expected clean with %llu",
                 x->name, boundary, r.damaged, (unsigned long long)r.frames,
                 (unsigned long long)packets);
    if (r.summary.decode.tcp_segments > 0 && r.n_conns == 0)
        fail_msg("%s cut at %zu: TCP was seen but no connection was reported", x->name, boundary);
    bd->done = true;
    bd->frames = r.frames;
    bd->conns = r.n_conns;
    bd->hash = r.conn_hash;
    rb_result_free(&r);
    return bd;
}

/* Both readers must give the same result for the same bytes. */
static void check_same(const struct cut_ctx *x, size_t cut, const struct rb_result *lib,
                       const struct rb_result *file)
{
    if (lib->opened != file->opened || lib->frames != file->frames ||
        lib->damaged != file->damaged || strcmp(lib->damage, file->damage) != 0 ||
        lib->n_conns != file->n_conns || lib->conn_hash != file->conn_hash)
        fail_msg("%s cut at %zu: the readers disagree: libpcap opened=%d frames=%llu "
                 "damage='%s'; file (direct) opened=%d frames=%llu damage='%s'",
                 x->name, cut, lib->opened, (unsigned long long)lib->frames, lib->damage,
                 file->opened, (unsigned long long)file->frames, file->damage);
}

static void check_cut(struct cut_ctx *x, size_t cut)
{
    static const struct rb_opts as_file = {.via_file = true};
    struct rb_result r, rf;
    if (cut < x->open_min) {
        rb_run(x->b, cut, NULL, &r);
        rb_run(x->b, cut, &as_file, &rf);
        if (r.opened || rf.opened)
            fail_msg("%s cut at %zu (inside the file header, %zu bytes): opened", x->name, cut,
                     x->open_min);
        if (!one_line(r.err) || !one_line(rf.err))
            fail_msg("%s cut at %zu: the open error is not one line: '%s' / '%s'", x->name, cut,
                     r.err, rf.err);
        rb_result_free(&r);
        rb_result_free(&rf);
        return;
    }
    uint64_t packets;
    size_t boundary;
    long k = records_before(x, cut, &packets, &boundary);
    const struct boundary *bd = boundary_result(x, k, boundary, packets);
    rb_run(x->b, cut, NULL, &r);
    rb_run(x->b, cut, &as_file, &rf);
    check_same(x, cut, &r, &rf);
    if (cut == boundary) {
        rb_result_free(&r);
        rb_result_free(&rf);
        return; /* the run boundary_result() checked */
    }
    if (!r.opened)
        fail_msg("%s cut at %zu: does not open: %s", x->name, cut, r.err);
    check_consistent(x->name, cut, &r);
    if (!r.damaged)
        fail_msg("%s cut at %zu (inside a record, last boundary %zu): damage not detected",
                 x->name, cut, boundary);
    if (r.frames != packets)
        fail_msg("%s cut at %zu: %llu frames analysed, %llu complete records before the cut",
                 x->name, cut, (unsigned long long)r.frames, (unsigned long long)packets);
    if (r.n_conns != bd->conns || r.conn_hash != bd->hash)
        fail_msg("%s cut at %zu: connections differ from the cut at boundary %zu (%zu vs %llu)",
                 x->name, cut, boundary, r.n_conns, (unsigned long long)bd->conns);
    rb_result_free(&r);
    rb_result_free(&rf);
}

static void cut_ctx_init(struct cut_ctx *x, const char *name, const uint8_t *b, size_t len)
{
    memset(x, 0, sizeof *x);
    x->name = name;
    x->b = b;
    x->len = len;
    size_t hdr;
    long n = rb_walk(b, len, &hdr, NULL, 0);
    assert_true(n >= 0);
    x->recs = calloc((size_t)n + 1, sizeof *x->recs);
    assert_non_null(x->recs);
    x->n_recs = rb_walk(b, len, &hdr, x->recs, (size_t)n);
    assert_int_equal(x->n_recs, n);
    /* Every byte of the file belongs to the header or to one record. */
    if (n > 0)
        assert_int_equal(x->recs[n - 1].end, len);
    x->open_min = hdr;
    bool pcapng = b[0] == 0x0a;
    if (pcapng) {
        /* libpcap reads up to the first interface description at open. */
        assert_true(n > 0 && !x->recs[0].is_packet);
        x->open_min = x->recs[0].end;
    }
    x->cache = calloc((size_t)n + 1, sizeof *x->cache);
    assert_non_null(x->cache);
}

static void cut_ctx_free(struct cut_ctx *x)
{
    free(x->recs);
    free(x->cache);
}

/* Which cuts to make. Every offset of a small file; for a file over 100 KB
 * (each cut reads its whole prefix) the first 512 and last 256 offsets and a
 * stride of a thousandth of the file. Under valgrind a stride of 29 for the
 * small files and a fortieth for the big ones. Both sides of some record
 * boundaries are added whenever a stride is used. */
static void cut_all(const char *name, const uint8_t *b, size_t len)
{
    struct cut_ctx x;
    cut_ctx_init(&x, name, b, len);
    bool big = len > BIG_FILE, vg = rb_under_valgrind();
    size_t stride = big ? (len / (vg ? 40 : 1000)) | 1 : vg ? 29 : 1;
    size_t head = big ? (vg ? 64 : 512) : 64, tail = big ? (vg ? 16 : 256) : 0;
    unsigned long cuts = 0;
    for (size_t cut = 0; cut < len; cut++) {
        if (stride == 1 || cut < head || cut + tail >= len || cut % stride == 0) {
            check_cut(&x, cut);
            cuts++;
        }
    }
    if (stride > 1) {
        long every = big ? (vg ? 4096 : 256) : 64;
        for (long k = 0; k < x.n_recs; k += every) {
            size_t e = x.recs[k].end;
            check_cut(&x, e - 1);
            if (e + 1 < len)
                check_cut(&x, e + 1);
            cuts += 2;
        }
    }
    print_message("# %s: %lu cuts, %ld records\n", name, cuts, x.n_recs);
    cut_ctx_free(&x);
}

/* ---- tests ------------------------------------------------------------------ */

static void test_cuts(void **state)
{
    const struct capture_file *cf = *state;
    cut_all(cf->name, cf->bytes.data, cf->bytes.len);
}

static bool in_packet_data(const struct rb_record *recs, long n, size_t pos)
{
    /* Binary search: records are in file order. */
    long lo = 0, hi = n - 1;
    while (lo <= hi) {
        long mid = (lo + hi) / 2;
        if (pos < recs[mid].start)
            hi = mid - 1;
        else if (pos >= recs[mid].end)
            lo = mid + 1;
        else
            return recs[mid].is_packet && pos >= recs[mid].data_start && pos < recs[mid].data_end;
    }
    return false;
}

static void test_flips(void **state)
{
    const struct capture_file *cf = *state;
    const uint8_t *b = cf->bytes.data;
    size_t len = cf->bytes.len;
    size_t hdr;
    long n = rb_walk(b, len, &hdr, NULL, 0);
    assert_true(n > 0);
    struct rb_record *recs = calloc((size_t)n, sizeof *recs);
    assert_non_null(recs);
    assert_int_equal(rb_walk(b, len, &hdr, recs, (size_t)n), n);

    uint64_t seed = 0x9e3779b97f4a7c15ull;
    for (const char *p = cf->name; *p; p++)
        seed = (seed ^ (uint8_t)*p) * 0x100000001b3ull;
    unsigned variants = rb_under_valgrind() ? 20 : FLIP_VARIANTS;
    uint8_t *m = malloc(len);
    assert_non_null(m);
    unsigned data_only = 0;
    for (unsigned v = 0; v < variants; v++) {
        memcpy(m, b, len);
        unsigned flips = 1 + (unsigned)(rb_rand(&seed) % 4);
        bool headers = v % 2 == 1;
        bool all_data = true;
        size_t where[4];
        for (unsigned i = 0; i < flips; i++) {
            size_t pos;
            if (headers) {
                /* The file header, or a record header. */
                uint64_t r = rb_rand(&seed);
                if (r % 5 == 0) {
                    pos = (size_t)(rb_rand(&seed) % hdr);
                } else {
                    const struct rb_record *rec = &recs[rb_rand(&seed) % (uint64_t)n];
                    pos = rec->start + (size_t)(rb_rand(&seed) % (rec->data_start - rec->start));
                }
            } else {
                pos = (size_t)(rb_rand(&seed) % len);
            }
            m[pos] ^= (uint8_t)(1 + rb_rand(&seed) % 255);
            where[i] = pos;
            if (!in_packet_data(recs, n, pos))
                all_data = false;
        }
        struct rb_result r, rf;
        static const struct rb_opts as_file = {.via_file = true};
        rb_run(m, len, NULL, &r);
        rb_run(m, len, &as_file, &rf);
        if (r.opened != rf.opened || r.frames != rf.frames || r.damaged != rf.damaged ||
            strcmp(r.damage, rf.damage) != 0 || r.conn_hash != rf.conn_hash)
            fail_msg("%s flip variant %u: the readers disagree: libpcap frames=%llu damage='%s' "
                     "(%s); file frames=%llu damage='%s' (%s)",
                     cf->name, v, (unsigned long long)r.frames, r.damage, r.err,
                     (unsigned long long)rf.frames, rf.damage, rf.err);
        rb_result_free(&rf);
        if (!r.opened) {
            if (!one_line(r.err))
                fail_msg("%s flip variant %u: open error not one line: '%s'", cf->name, v, r.err);
            if (all_data)
                fail_msg("%s flip variant %u: only packet bytes changed but it does not open: %s",
                         cf->name, v, r.err);
            rb_result_free(&r);
            continue;
        }
        check_consistent(cf->name, where[0], &r);
        if (r.frames > len / 16)
            fail_msg("%s flip variant %u: %llu frames from %zu bytes", cf->name, v,
                     (unsigned long long)r.frames, len);
        if (all_data) {
            data_only++;
            if (r.damaged || r.frames != (uint64_t)n - (b[0] == 0x0a ? 1u : 0u))
                fail_msg("%s flip variant %u (packet bytes only, first at %zu): damaged=%d, "
                         "%llu frames of %ld",
                         cf->name, v, where[0], r.damaged, (unsigned long long)r.frames, n);
        }
        rb_result_free(&r);
    }
    print_message("# %s: %u flip variants, %u touching packet bytes only\n", cf->name, variants,
                  data_only);
    free(m);
    free(recs);
}

/* The JSON output of a cut inside record k+1 equals that of the cut at the
 * end of record k, except for the summary's damage fields. */
static void test_json_before_damage(void **state)
{
    const struct capture_file *cf = *state;
    const uint8_t *b = cf->bytes.data;
    size_t len = cf->bytes.len, hdr;
    long n = rb_walk(b, len, &hdr, NULL, 0);
    assert_true(n > 0);
    struct rb_record *recs = calloc((size_t)n, sizeof *recs);
    assert_non_null(recs);
    rb_walk(b, len, &hdr, recs, (size_t)n);
    struct rb_opts o = {.json = true, .text = true};
    long step = rb_under_valgrind() ? 16 : 1;
    unsigned compared = 0;
    for (long k = 0; k + 1 < n; k += step) {
        size_t boundary = recs[k].end;
        struct rb_result clean;
        rb_run(b, boundary, &o, &clean);
        assert_true(clean.opened && !clean.damaged);
        const char *cs = rb_json_summary(clean.json);
        assert_non_null(cs);
        assert_int_equal(rb_json_u64(cs, "frames"), (uint64_t)k + 1);
        char v[16];
        assert_true(rb_json_field(cs, "damaged", v, sizeof v));
        assert_string_equal(v, "false");
        size_t inside[2] = {boundary + 1, recs[k + 1].data_start + 1};
        for (int i = 0; i < 2; i++) {
            if (inside[i] >= recs[k + 1].end)
                continue;
            struct rb_result cut;
            rb_run(b, inside[i], &o, &cut);
            assert_true(cut.opened);
            const char *ds = rb_json_summary(cut.json);
            assert_non_null(ds);
            assert_true(rb_json_field(ds, "damaged", v, sizeof v));
            if (strcmp(v, "true") != 0)
                fail_msg("%s cut at %zu: JSON summary says damaged %s", cf->name, inside[i], v);
            char msg[300];
            assert_true(rb_json_field(ds, "damage", msg, sizeof msg));
            assert_true(strlen(msg) > 2);
            /* Connection lines identical, summary identical up to "damaged". */
            size_t before = (size_t)(cs - clean.json);
            const char *cd = strstr(cs, ",\"damaged\":");
            const char *dd = strstr(ds, ",\"damaged\":");
            assert_non_null(cd);
            assert_non_null(dd);
            if ((size_t)(ds - cut.json) != before || memcmp(clean.json, cut.json, before) != 0 ||
                cd - cs != dd - ds || memcmp(cs, ds, (size_t)(cd - cs)) != 0)
                fail_msg("%s cut at %zu: JSON differs from the cut at boundary %zu", cf->name,
                         inside[i], boundary);
            /* The text report says it too, and keeps the same problem lines. */
            assert_non_null(cut.text);
            assert_non_null(strstr(cut.text, "INPUT DAMAGED"));
            rb_result_free(&cut);
            compared++;
        }
        rb_result_free(&clean);
    }
    print_message("# %s: %u damaged JSON outputs compared\n", cf->name, compared);
    free(recs);
}

/* pcapng (microsecond and nanosecond) and big-endian nanosecond pcap. */
static void test_converted_cuts(void **state)
{
    const struct capture_file *cf = *state;
    struct rb_buf ng = {0}, ngn = {0}, be = {0};
    rb_pcap_to_pcapng(cf->bytes.data, cf->bytes.len, false, &ng);
    rb_pcap_to_pcapng(cf->bytes.data, cf->bytes.len, true, &ngn);
    rb_pcap_to_be_nano(cf->bytes.data, cf->bytes.len, &be);
    char name[300];

    /* Same frames, same connections as the original. */
    struct rb_result orig, r;
    rb_run(cf->bytes.data, cf->bytes.len, NULL, &orig);
    assert_true(orig.opened && !orig.damaged);
    const struct rb_buf *conv[3] = {&ng, &ngn, &be};
    for (int i = 0; i < 3; i++) {
        rb_run(conv[i]->data, conv[i]->len, NULL, &r);
        if (!r.opened || r.damaged || r.frames != orig.frames || r.conn_hash != orig.conn_hash)
            fail_msg("%s conversion %d: opened=%d damaged=%d frames %llu/%llu (%s)", cf->name, i,
                     r.opened, r.damaged, (unsigned long long)r.frames,
                     (unsigned long long)orig.frames, r.err);
        rb_result_free(&r);
    }
    rb_result_free(&orig);

    snprintf(name, sizeof name, "%s (pcapng)", cf->name);
    cut_all(name, ng.data, ng.len);
    snprintf(name, sizeof name, "%s (pcapng, ns)", cf->name);
    cut_all(name, ngn.data, ngn.len);
    snprintf(name, sizeof name, "%s (big-endian, ns)", cf->name);
    cut_all(name, be.data, be.len);
    rb_buf_free(&ng);
    rb_buf_free(&ngn);
    rb_buf_free(&be);
}

/* ---- main --------------------------------------------------------------------- */

static int cmp_files(const void *a, const void *b)
{
    return strcmp(((const struct capture_file *)a)->name, ((const struct capture_file *)b)->name);
}

static bool small_converted(const char *name)
{
    static const char *const which[] = {"clean.pcap", "ipv6_clean.pcap", "sll2_any.pcap",
                                        "refused_fw_icmp6.pcap", "zero_window.pcap"};
    for (size_t i = 0; i < sizeof which / sizeof which[0]; i++)
        if (strcmp(name, which[i]) == 0)
            return true;
    return false;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s CAPTURES_DIR\n", argv[0]);
        return 2;
    }
    g_dir = argv[1];
    DIR *d = opendir(g_dir);
    if (!d) {
        fprintf(stderr, "%s: cannot open\n", g_dir);
        return 2;
    }
    struct capture_file *files = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        if (l < 6 || strcmp(e->d_name + l - 5, ".pcap") != 0)
            continue;
        struct capture_file *bigger = realloc(files, (n + 1) * sizeof *files);
        if (!bigger)
            return 2;
        files = bigger;
        memset(&files[n], 0, sizeof files[n]);
        snprintf(files[n].name, sizeof files[n].name, "%s", e->d_name);
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", g_dir, e->d_name);
        if (!rb_read_file(path, &files[n].bytes) || files[n].bytes.len < 24) {
            fprintf(stderr, "%s: cannot read\n", path);
            return 2;
        }
        n++;
    }
    closedir(d);
    if (n == 0) {
        fprintf(stderr, "%s: no captures\n", g_dir);
        return 2;
    }
    qsort(files, n, sizeof *files, cmp_files);

    struct CMUnitTest *tests = calloc(4 * n, sizeof *tests);
    char (*names)[320] = calloc(4 * n, sizeof *names);
    if (!tests || !names)
        return 2;
    size_t t = 0;
    for (size_t i = 0; i < n; i++) {
        snprintf(names[t], sizeof names[t], "cuts %s", files[i].name);
        tests[t] = (struct CMUnitTest){names[t], test_cuts, NULL, NULL, &files[i]};
        t++;
        snprintf(names[t], sizeof names[t], "flips %s", files[i].name);
        tests[t] = (struct CMUnitTest){names[t], test_flips, NULL, NULL, &files[i]};
        t++;
        if (files[i].bytes.len <= 25000) {
            snprintf(names[t], sizeof names[t], "json before damage %s", files[i].name);
            tests[t] = (struct CMUnitTest){names[t], test_json_before_damage, NULL, NULL, &files[i]};
        t++;
        }
        if (small_converted(files[i].name)) {
            snprintf(names[t], sizeof names[t], "converted cuts %s", files[i].name);
            tests[t] = (struct CMUnitTest){names[t], test_converted_cuts, NULL, NULL, &files[i]};
        t++;
        }
    }
    int rc = _cmocka_run_group_tests("damaged", tests, t, NULL, NULL);
    for (size_t i = 0; i < n; i++)
        rb_buf_free(&files[i].bytes);
    free(files);
    free(tests);
    free(names);
    return rc;
}
