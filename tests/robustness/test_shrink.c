/* SPDX-License-Identifier: MIT */
/*
 * test_shrink.c - a capture file that shrinks while it is being read.
 *
 * Log rotation with copytruncate, a ring of capture files being rewritten,
 * or a user truncating a capture by hand: the file gets shorter while
 * tcptriage reads it. That must end like any other damaged input -- the
 * frames read so far analysed and reported, CAPTURE_DAMAGED (exit 3) -- not
 * kill the process (an earlier capture.c mapped regular classic-pcap files,
 * and touching a mapped page past the new end of the file raised SIGBUS;
 * it now reads them with pread()).
 *
 * The test writes a capture of a few hundred kilobytes, opens it with
 * capture_open_file() as main does, reads ten frames, truncates the file --
 * 100 KB in, inside a record; 8 KB in, a few pages ahead of the reader; or
 * to zero bytes, as logrotate's copytruncate does -- and reads on:
 * every frame handed out must be a real record of the file, and the read
 * must end with CAPTURE_DAMAGED -- or, when the reader had read ahead past
 * the cut before it happened, with the whole file.
 * Both readers are checked: the default (direct for this file) and libpcap's
 * (TCPTRIAGE_LIBPCAP_ONLY=1), which reads through stdio and already ends with
 * "truncated dump file".
 *
 * The other way round, a capture still being written: the direct reader
 * sizes its window to a small file and must grow it when the file grows past
 * it -- including for a record larger than the whole first window.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rb_support.h"

#define CONNS 300

static void write_capture(struct rb_buf *p)
{
    rb_pcap_header(p, RB_LINKTYPE_ETHERNET, 262144);
    const struct rb_link eth = {.kind = RB_ETH};
    int64_t ts = 1700000000000000000LL;
    for (unsigned c = 0; c < CONNS; c++) {
        struct rb_flow fl = rb_flow4((uint16_t)(30000 + c), 80, 1000 + c, 9000 + c);
        for (unsigned i = 0; i < RB_CLEAN_STEPS; i++) {
            struct rb_tcp t = rb_clean_step(&fl, i);
            rb_put_frame(p, ts += 1000000, &eth, &t, 0);
        }
    }
}

/* Which reader capture_open_file() picks: NULL for the default, "1" for
 * libpcap's. */
static void use_reader(const char *reader_env)
{
    if (reader_env)
        setenv("TCPTRIAGE_LIBPCAP_ONLY", reader_env, 1);
    else
        unsetenv("TCPTRIAGE_LIBPCAP_ONLY");
}

/* The records of p, which must number n (the caller frees them). */
static struct rb_record *records_of(const struct rb_buf *p, long n)
{
    size_t hdr;
    assert_int_equal(rb_walk(p->data, p->len, &hdr, NULL, 0), n);
    struct rb_record *recs = calloc((size_t)n, sizeof *recs);
    assert_non_null(recs);
    rb_walk(p->data, p->len, &hdr, recs, (size_t)n);
    return recs;
}

/* Frame number frames + 1 must be record number frames + 1 of p. */
static void assert_record(const struct frame *f, uint64_t frames, const struct rb_record *recs,
                          long n, const struct rb_buf *p)
{
    assert_true(frames < (uint64_t)n);
    const struct rb_record *r = &recs[frames];
    if (f->caplen != r->data_end - r->data_start ||
        memcmp(f->bytes, p->data + r->data_start, f->caplen) != 0)
        fail_msg("frame %llu (caplen %u) is not record %llu of the file (caplen %zu)",
                 (unsigned long long)frames + 1, f->caplen, (unsigned long long)frames + 1,
                 r->data_end - r->data_start);
}

static void read_while_shrinking(const char *reader_env, size_t cut)
{
    use_reader(reader_env);
    struct rb_buf p = {0};
    write_capture(&p);
    const long n = CONNS * RB_CLEAN_STEPS;
    struct rb_record *recs = records_of(&p, n);

    char path[] = "/tmp/tcptriage-shrink-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, p.data, p.len), (ssize_t)p.len);
    char err[512] = "";
    struct capture *cap = capture_open_file(path, NULL, err, sizeof err);
    assert_non_null(cap);
    print_message("# reader: %s\n", capture_reader(cap));

    struct frame f;
    uint64_t frames = 0;
    while (frames < 10 && capture_next(cap, &f) == CAPTURE_FRAME) {
        assert_memory_equal(f.bytes, p.data + recs[frames].data_start, f.caplen);
        frames++;
    }
    assert_int_equal(frames, 10);
    /* Cut the file: pages past the new end are gone. */
    assert_int_equal(ftruncate(fd, (off_t)cut), 0);
    enum capture_status st;
    while ((st = capture_next(cap, &f)) == CAPTURE_FRAME) {
        /* Only real records: not the zeros a mapping shows past the end. */
        assert_record(&f, frames, recs, n, &p);
        frames++;
    }
    print_message("# %llu frames, then %s: %s\n", (unsigned long long)frames,
                  st == CAPTURE_DAMAGED ? "damaged" : "end",
                  st == CAPTURE_DAMAGED ? capture_damage(cap) : "");
    /* The end of the file is now inside a record (or before the frames
     * already read): damaged, like any cut -- unless the reader had already
     * read the bytes before the cut (the direct reader reads ahead in large
     * chunks), in which case it must have handed out the whole file. */
    if (st == CAPTURE_END)
        assert_int_equal(frames, (uint64_t)n);
    else
        assert_int_equal(st, CAPTURE_DAMAGED);
    assert_true(frames >= 10 && frames <= (uint64_t)n);
    capture_close(cap);
    close(fd);
    unlink(path);
    free(recs);
    rb_buf_free(&p);
}

/* Opened at 2 KB, then grown by whole records to ~400 KB (one record of
 * 200 KB among them) after read_before frames were read (0: before the
 * first read; 10: after the reader had met the end of the file once, as
 * when following a capture still being written): every record is handed
 * out, in order, and the read ends cleanly. */
static void read_while_growing(const char *reader_env, uint64_t read_before)
{
    use_reader(reader_env);
    struct rb_buf p = {0};
    write_capture(&p);
    static uint8_t big[200 * 1024];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)(i * 7u);
    rb_pcap_record(&p, 1700000999000000000LL, big, sizeof big, sizeof big);
    const long n = CONNS * RB_CLEAN_STEPS + 1;
    struct rb_record *recs = records_of(&p, n);
    size_t first = recs[20].start; /* the header and 20 records */

    char path[] = "/tmp/tcptriage-grow-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, p.data, first), (ssize_t)first);
    char err[512] = "";
    struct capture *cap = capture_open_file(path, NULL, err, sizeof err);
    assert_non_null(cap);
    print_message("# reader: %s\n", capture_reader(cap));
    struct frame f;
    uint64_t frames = 0;
    while (frames < read_before && capture_next(cap, &f) == CAPTURE_FRAME) {
        assert_record(&f, frames, recs, n, &p);
        frames++;
    }
    assert_int_equal(frames, read_before);
    assert_int_equal(write(fd, p.data + first, p.len - first), (ssize_t)(p.len - first));

    enum capture_status st;
    while ((st = capture_next(cap, &f)) == CAPTURE_FRAME) {
        assert_record(&f, frames, recs, n, &p);
        frames++;
    }
    assert_int_equal(st, CAPTURE_END);
    assert_int_equal(frames, (uint64_t)n);
    capture_close(cap);
    close(fd);
    unlink(path);
    free(recs);
    rb_buf_free(&p);
}

/* One case: a reader (NULL: the default, "1": libpcap's) and either a cut
 * (shrink) or the frames read before the file grows. */
struct file_case {
    const char *reader;
    bool grow;
    size_t cut;            /* shrink: the new size */
    uint64_t read_before;  /* grow: frames read before it grows */
};

static void test_file_case(void **state)
{
    const struct file_case *fc = *state;
    if (fc->grow)
        read_while_growing(fc->reader, fc->read_before);
    else
        read_while_shrinking(fc->reader, fc->cut);
}

#define FILE_CASE(name, ...)                                                                   \
    {name, test_file_case, NULL, NULL, &(struct file_case){__VA_ARGS__}}

int main(void)
{
    const struct CMUnitTest tests[] = {
        /* 100 KB in, inside a record, well ahead of the reader */
        FILE_CASE("cut_ahead_libpcap_reader", "1", false, 100 * 1024 + 7, 0),
        FILE_CASE("cut_ahead_default_reader", NULL, false, 100 * 1024 + 7, 0),
        /* to zero bytes, as logrotate's copytruncate does */
        FILE_CASE("cut_to_zero_libpcap_reader", "1", false, 0, 0),
        /* 8 KB in: a few pages ahead of the reader */
        FILE_CASE("cut_near_default_reader", NULL, false, 8 * 1024 + 7, 0),
        FILE_CASE("cut_to_zero_default_reader", NULL, false, 0, 0),
        /* grown before the first read, and after ten frames */
        FILE_CASE("grow_default_reader", NULL, true, 0, 0),
        FILE_CASE("grow_libpcap_reader", "1", true, 0, 0),
        FILE_CASE("grow_while_read_default_reader", NULL, true, 0, 10),
        FILE_CASE("grow_while_read_libpcap_reader", "1", true, 0, 10),
    };
    return cmocka_run_group_tests_name("shrink", tests, NULL, NULL);
}
