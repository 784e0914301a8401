/* SPDX-License-Identifier: MIT */
/*
 * capture.c - frames from libpcap: files (pcap, pcapng, gzip, stdin) and
 * live interfaces. The only file that includes <pcap.h>.
 *
 * gzip: libpcap reads from a stdio FILE, so a gzip file (or standard input,
 * which may or may not be gzip) is wrapped in a FILE whose reads go through
 * zlib (fopencookie). zlib passes data that is not gzip through unchanged.
 *
 * Files: timestamps are requested in nanoseconds; ts_digits says whether
 * the file itself had nanosecond resolution (classic pcap magic 0xa1b23c4d),
 * so reports do not print digits the capture never had. Live: microseconds,
 * as tcpdump records them (capture_open_live()).
 *
 * Damage: pcap_next_ex() failing in the middle of a file means a truncated
 * or corrupt record; everything read before stays valid.
 *
 * The direct reader (docs/performance.md): a regular file in classic pcap
 * format (version 2.4, micro- or nanosecond magic, either byte order) whose
 * link type we support is read in large pread() chunks into one buffer and
 * its records walked here, frames pointing into the buffer (no per-packet
 * copy, no stdio). libpcap still parses the 24-byte file header (from a
 * copy, through fmemopen), so link type, snapshot length and the BPF
 * filter's compilation are libpcap's own; the record checks below follow
 * libpcap 1.10's sf-pcap.c pcap_next_packet() condition for condition and
 * message for message. Anything else (pcapng, gzip, stdin, another
 * version, the Kuznetzov magic, an unsupported link type, a short header)
 * takes the libpcap path. TCPTRIAGE_LIBPCAP_ONLY=1 forces the libpcap path.
 *
 * A file can change while it is read: a capture still being written grows,
 * log rotation (copytruncate) shrinks it. Like libpcap's fread(), pread()
 * simply meets the end of the file where it is at that moment. (An earlier
 * version mapped the file instead; a file cut under a mapping raises SIGBUS,
 * and the mapped pages counted in the process's RSS.)
 */
#include "capture.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pcap/pcap.h>
#include <zlib.h>

struct capture {
    pcap_t *pcap;
    FILE *fp;              /* the stream libpcap reads (owned by libpcap once opened) */
    pcap_dumper_t *dump;   /* -w */
    enum link_type link;
    int dlt;
    int ts_digits;
    bool live;
    bool usec_ts;           /* live: libpcap delivers microseconds (as asked) */
    volatile sig_atomic_t stop;
    uint64_t next_number;
    int timeout_ms;
    char damage[256];
    /* direct reader (buf != NULL); pcap is then a handle on the file header only */
    uint8_t *buf;           /* a window of the file: bytes [buf_pos, buf_pos + buf_len) */
    size_t buf_len;
    size_t buf_cap;         /* its size: DIRECT_BUF, or less for a small file (grown on need) */
    uint64_t buf_pos;       /* file offset of buf[0] */
    int fd;
    uint64_t off;           /* file offset of the next record header */
    bool oom;               /* the window could not grow: reading ends as damaged */
    bool dr_done;           /* end or damage seen: nothing more */
    bool swapped;           /* file written in the other byte order */
    bool nano;              /* nanosecond magic */
    uint32_t snapshot;      /* libpcap's snapshot length for the file (> 0) */
    struct bpf_program fcode;
    bool have_fcode;
    unsigned char file_header[24]; /* what the header handle reads */
};

/* ---- gzip through stdio ----------------------------------------------- */

struct gz_cookie {
    gzFile gz;
    unsigned char magic[4];
    size_t seen;
};

static ssize_t gz_read(void *cookie, char *buf, size_t size)
{
    struct gz_cookie *g = cookie;
    if (size > (size_t)INT32_MAX)
        size = (size_t)INT32_MAX;
    int n = gzread(g->gz, buf, (unsigned)size);
    if (n < 0) {
        errno = EIO;
        return -1;
    }
    for (size_t i = 0; g->seen < sizeof g->magic && i < (size_t)n; i++)
        g->magic[g->seen++] = (unsigned char)buf[i];
    return n;
}

static int gz_close(void *cookie)
{
    struct gz_cookie *g = cookie;
    int r = gzclose(g->gz);
    free(g);
    return r == Z_OK ? 0 : -1;
}

static FILE *gz_wrap(gzFile gz, struct gz_cookie **out)
{
    struct gz_cookie *g = calloc(1, sizeof *g);
    if (!g) {
        gzclose(gz);
        return NULL;
    }
    g->gz = gz;
    gzbuffer(gz, 256 * 1024);
    cookie_io_functions_t io = {.read = gz_read, .write = NULL, .seek = NULL, .close = gz_close};
    FILE *fp = fopencookie(g, "r", io);
    if (!fp) {
        gzclose(gz);
        free(g);
        return NULL;
    }
    *out = g;
    return fp;
}

/* ---- link types ---------------------------------------------------------- */

bool capture_map_dlt(int dlt, enum link_type *out)
{
    switch (dlt) {
    case DLT_EN10MB:
        *out = LINK_ETHERNET;
        return true;
    case DLT_LINUX_SLL:
        *out = LINK_LINUX_SLL;
        return true;
#ifdef DLT_LINUX_SLL2
    case DLT_LINUX_SLL2:
        *out = LINK_LINUX_SLL2;
        return true;
#endif
    case DLT_NULL:
        *out = LINK_NULL;
        return true;
    case DLT_LOOP:
        *out = LINK_LOOP;
        return true;
    case DLT_RAW:
        *out = LINK_RAW;
        return true;
#ifdef DLT_IPV4
    case DLT_IPV4:
        *out = LINK_IPV4;
        return true;
#endif
#ifdef DLT_IPV6
    case DLT_IPV6:
        *out = LINK_IPV6;
        return true;
#endif
    default:
        return false;
    }
}

static bool magic_is_nano(const unsigned char m[4])
{
    return (m[0] == 0xa1 && m[1] == 0xb2 && m[2] == 0x3c && m[3] == 0x4d) ||
           (m[0] == 0x4d && m[1] == 0x3c && m[2] == 0xb2 && m[3] == 0xa1);
}

static int finish_open(struct capture *cap, const char *filter, char *err, size_t errlen,
                       const char *what)
{
    cap->dlt = pcap_datalink(cap->pcap);
    if (!capture_map_dlt(cap->dlt, &cap->link)) {
        const char *name = pcap_datalink_val_to_name(cap->dlt);
        if (name)
            snprintf(err, errlen,
                     "%s: unsupported link type %s (%d): %s; tcptriage reads Ethernet, Linux "
                     "cooked (SLL, SLL2), BSD loopback and raw IP",
                     what, name, cap->dlt, pcap_datalink_val_to_description(cap->dlt));
        else
            snprintf(err, errlen,
                     "%s: unsupported link type %d (not one libpcap knows); tcptriage reads "
                     "Ethernet, Linux cooked (SLL, SLL2), BSD loopback and raw IP",
                     what, cap->dlt);
        return -1;
    }
    if (filter && *filter) {
        struct bpf_program prog;
        if (pcap_compile(cap->pcap, &prog, filter, 1, PCAP_NETMASK_UNKNOWN) != 0) {
            snprintf(err, errlen, "bad filter '%s': %s", filter, pcap_geterr(cap->pcap));
            return -1;
        }
        int r = pcap_setfilter(cap->pcap, &prog);
        pcap_freecode(&prog);
        if (r != 0) {
            snprintf(err, errlen, "cannot set filter: %s", pcap_geterr(cap->pcap));
            return -1;
        }
    }
    cap->next_number = 1;
    return 0;
}

/* Hands fp to libpcap and finishes opening. magic: the first four bytes of
 * the stream as libpcap will see them (for the timestamp resolution); gzc:
 * the gzip cookie when fp reads through zlib (its magic is known only once
 * libpcap has read the header). Takes ownership of fp, also on failure. */
static struct capture *open_stream(FILE *fp, struct gz_cookie *gzc, const unsigned char *magic,
                                   const char *name, const char *filter, char *err,
                                   size_t errlen)
{
    char perr[PCAP_ERRBUF_SIZE] = "";
    struct capture *cap = calloc(1, sizeof *cap);
    if (!cap) {
        fclose(fp);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    cap->ts_digits = 6;
    /* Nothing at all (an empty pipe, /dev/null, `-r - < /dev/null`): say so,
     * rather than libpcap's "truncated dump file ... only got 0". */
    errno = 0;
    int first = getc(fp);
    if (first == EOF || ungetc(first, fp) == EOF) {
        if (ferror(fp)) /* a read error (a directory on stdin, a corrupt gzip stream) */
            snprintf(err, errlen, "%s: not a readable pcap or pcapng capture (%s)", name,
                     strerror(errno ? errno : EIO));
        else
            snprintf(err, errlen, "%s: empty input, not a capture", name);
        fclose(fp);
        free(cap);
        return NULL;
    }
    cap->pcap = pcap_fopen_offline_with_tstamp_precision(fp, PCAP_TSTAMP_PRECISION_NANO, perr);
    if (!cap->pcap) {
        fclose(fp);
        snprintf(err, errlen, "%s: not a readable pcap or pcapng capture (%s)", name, perr);
        free(cap);
        return NULL;
    }
    cap->fp = fp; /* closed by pcap_close */
    if (magic_is_nano(gzc ? gzc->magic : magic))
        cap->ts_digits = 9;
    if (finish_open(cap, filter, err, errlen, name) != 0) {
        capture_close(cap);
        return NULL;
    }
    return cap;
}

/* ---- a stream that cannot seek back: replay the bytes already read ------ */

struct replay_cookie {
    FILE *fp;               /* the stream (owned) */
    unsigned char head[4];  /* bytes read from fp to look at the magic */
    size_t head_len, head_off;
};

static ssize_t replay_read(void *cookie, char *buf, size_t size)
{
    struct replay_cookie *r = cookie;
    size_t n = 0;
    while (n < size && r->head_off < r->head_len)
        buf[n++] = (char)r->head[r->head_off++];
    if (n < size) {
        size_t got = fread(buf + n, 1, size - n, r->fp);
        if (got == 0 && n == 0 && ferror(r->fp)) {
            errno = EIO;
            return -1;
        }
        n += got;
    }
    return (ssize_t)n;
}

static int replay_close(void *cookie)
{
    struct replay_cookie *r = cookie;
    int rc = fclose(r->fp);
    free(r);
    return rc;
}

struct capture *capture_open_fp(FILE *fp, const char *name, const char *filter, char *err,
                                size_t errlen)
{
    unsigned char magic[4] = {0};
    if (!name)
        name = "stream";
    if (!fp) {
        snprintf(err, errlen, "%s: cannot read", name);
        return NULL;
    }
    size_t got = fread(magic, 1, sizeof magic, fp);
    if (got == 0) {
        snprintf(err, errlen, "%s: %s", name,
                 ferror(fp) ? "read error" : "empty input, not a capture");
        fclose(fp);
        return NULL;
    }
    if (fseek(fp, -(long)got, SEEK_CUR) != 0) {
        /* A pipe or a cookie stream: put the bytes back in front of it. */
        struct replay_cookie *r = calloc(1, sizeof *r);
        cookie_io_functions_t io = {
            .read = replay_read, .write = NULL, .seek = NULL, .close = replay_close};
        FILE *wrapped = r ? fopencookie(r, "r", io) : NULL;
        if (!wrapped) {
            free(r);
            fclose(fp);
            snprintf(err, errlen, "out of memory");
            return NULL;
        }
        r->fp = fp;
        memcpy(r->head, magic, got);
        r->head_len = got;
        fp = wrapped;
    }
    return open_stream(fp, NULL, magic, name, filter, err, errlen);
}

/* ---- the direct reader for classic pcap files ------------------------------ */

#define PCAP_FILE_HDR 24u
#define PCAP_REC_HDR 16u
/* libpcap's MAXIMUM_SNAPLEN: max_snaplen_for_dlt() for every link type that
 * capture_map_dlt() supports (only D-Bus, EBHSCR and USBPcap differ). The
 * file's snapshot length may be larger (libpcap only replaces one <= 0). */
#define PCAP_MAX_CAPLEN 262144u
/* The read window: more than the largest record (PCAP_REC_HDR +
 * PCAP_MAX_CAPLEN), large enough that pread() costs nothing per packet, and
 * small enough that the bytes pread() copies are still in the L2 cache when
 * they are decoded (512 KiB reads bench-10m 12% faster than 1 MiB here). A
 * file smaller than that gets a window of its size (plus room to see the end
 * of the file), grown to DIRECT_BUF if the file grows past it while read. */
#define DIRECT_BUF (512u * 1024u)
#define DIRECT_BUF_MIN (16u * 1024u)
_Static_assert(DIRECT_BUF >= PCAP_REC_HDR + PCAP_MAX_CAPLEN + DIRECT_BUF_MIN,
               "the read window holds the largest record");

static bool direct_disabled(void)
{
    const char *v = getenv("TCPTRIAGE_LIBPCAP_ONLY");
    return v && *v && strcmp(v, "0") != 0;
}

static uint32_t rd32(const uint8_t *p, bool swapped)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return swapped ? __builtin_bswap32(v) : v;
}

static uint16_t rd16(const uint8_t *p, bool swapped)
{
    uint16_t v;
    memcpy(&v, p, sizeof v);
    return swapped ? __builtin_bswap16(v) : v;
}

/* The direct reader for a regular file, or NULL to take the libpcap path (which
 * also reports any error: the same ones, with the same words). */
static struct capture *open_direct(const char *path, const char *filter)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < (off_t)PCAP_FILE_HDR ||
        (uintmax_t)st.st_size > (uintmax_t)SIZE_MAX) {
        close(fd);
        return NULL;
    }
    unsigned char h[PCAP_FILE_HDR];
    ssize_t got = pread(fd, h, sizeof h, 0);
    if (got != (ssize_t)sizeof h) {
        close(fd);
        return NULL;
    }
    uint32_t magic;
    memcpy(&magic, h, sizeof magic);
    bool swapped;
    if (magic == 0xa1b2c3d4u || magic == 0xa1b23c4du)
        swapped = false;
    else if (magic == 0xd4c3b2a1u || magic == 0x4d3cb2a1u)
        swapped = true;
    else {
        close(fd);
        return NULL;
    }
    /* 2.4 only: older versions may have caplen and len the other way round. */
    if (rd16(h + 4, swapped) != 2 || rd16(h + 6, swapped) != 4) {
        close(fd);
        return NULL;
    }
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    struct capture *cap = calloc(1, sizeof *cap);
    size_t buf_cap = DIRECT_BUF;
    if ((uintmax_t)st.st_size < DIRECT_BUF - DIRECT_BUF_MIN)
        buf_cap = (size_t)st.st_size + DIRECT_BUF_MIN;
    uint8_t *buf = malloc(buf_cap);
    if (!cap || !buf) {
        free(cap);
        free(buf);
        close(fd);
        return NULL;
    }
    cap->buf = buf;
    cap->buf_cap = buf_cap;
    cap->fd = fd;
    cap->buf_pos = PCAP_FILE_HDR;
    cap->off = PCAP_FILE_HDR;
    cap->swapped = swapped;
    cap->nano = magic_is_nano(h);
    cap->ts_digits = cap->nano ? 9 : 6;
    cap->next_number = 1;
    /* libpcap reads the header: its link type mapping, its snapshot length. */
    memcpy(cap->file_header, h, sizeof h);
    FILE *hf = fmemopen(cap->file_header, sizeof cap->file_header, "rb");
    char perr[PCAP_ERRBUF_SIZE] = "";
    cap->pcap = hf ? pcap_fopen_offline_with_tstamp_precision(hf, PCAP_TSTAMP_PRECISION_NANO, perr)
                   : NULL;
    if (!cap->pcap) {
        if (hf)
            fclose(hf);
        capture_close(cap);
        return NULL;
    }
    cap->dlt = pcap_datalink(cap->pcap);
    int snap = pcap_snapshot(cap->pcap);
    /* libpcap byte-swaps SocketCAN headers inside Linux cooked frames of a
     * swapped file (swap_pseudo_headers()): leave those files to it. */
    bool pseudo_swap = swapped && (cap->dlt == DLT_LINUX_SLL
#ifdef DLT_LINUX_SLL2
                                   || cap->dlt == DLT_LINUX_SLL2
#endif
                                  );
    if (!capture_map_dlt(cap->dlt, &cap->link) || pseudo_swap || snap <= 0) {
        capture_close(cap);
        return NULL;
    }
    cap->snapshot = (uint32_t)snap;
    if (filter && *filter) {
        if (pcap_compile(cap->pcap, &cap->fcode, filter, 1, PCAP_NETMASK_UNKNOWN) != 0) {
            capture_close(cap);
            return NULL;
        }
        cap->have_fcode = true;
    }
    return cap;
}

static enum capture_status direct_damaged(struct capture *cap)
{
    cap->dr_done = true;
    if (cap->oom)
        snprintf(cap->damage, sizeof cap->damage, "out of memory for the read window");
    return CAPTURE_DAMAGED;
}

/* Bytes readable from the current record on, reading more of the file when
 * need of them are not in the window yet. Meeting the end of the file while
 * reading ahead is not the end of reading: a capture still being written
 * grows, so a record not yet in the window is looked for again (libpcap's
 * stdio reader meets the end only when it needs the record too). */
static size_t direct_avail(struct capture *cap, size_t need)
{
    uint64_t have = cap->buf_pos + cap->buf_len - cap->off;
    if (have >= need || cap->oom)
        return (size_t)have;
    /* Slide what is left of the window to its start and fill the rest. */
    size_t keep = (size_t)have, from = (size_t)(cap->off - cap->buf_pos);
    if (keep && from)
        memmove(cap->buf, cap->buf + from, keep);
    cap->buf_pos = cap->off;
    cap->buf_len = keep;
    while (cap->buf_len < DIRECT_BUF) {
        if (cap->buf_len == cap->buf_cap) { /* a small window, full: the file grew */
            uint8_t *grown = realloc(cap->buf, DIRECT_BUF);
            if (!grown) {
                if (cap->buf_len < need) /* the record does not fit: reading ends */
                    cap->oom = true;
                break; /* else read on in the small window */
            }
            cap->buf = grown;
            cap->buf_cap = DIRECT_BUF;
        }
        ssize_t got = pread(cap->fd, cap->buf + cap->buf_len, cap->buf_cap - cap->buf_len,
                            (off_t)(cap->buf_pos + cap->buf_len));
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break; /* the end of the file for now (or a read error, which ends it as
                      stdio does: direct_next() then ends or reports the cut record) */
        cap->buf_len += (size_t)got;
        /* Enough read ahead -- unless a small window came back full: the
         * file has grown past it, so grow the window (next turn). */
        if (cap->buf_len >= need + (cap->buf_cap / 2) &&
            !(cap->buf_len == cap->buf_cap && cap->buf_cap < DIRECT_BUF))
            break;
    }
    return cap->buf_len;
}

/* libpcap 1.10 sf-pcap.c pcap_next_packet() on a 2.4 file, without the
 * copy; then the filter, as pcap_offline_read() applies it. */
static enum capture_status direct_next(struct capture *cap, struct frame *f)
{
    for (;;) {
        if (cap->stop)
            return CAPTURE_END;
        if (cap->dr_done)
            return CAPTURE_END;
        /* The common record: header and data already in the window, caplen
         * within the snapshot length, no filter. Everything else takes the
         * checked path below (same results, one condition at a time). */
        uint64_t have = cap->buf_pos + cap->buf_len - cap->off;
        if (have >= PCAP_REC_HDR && !cap->have_fcode) {
            const uint8_t *rec = cap->buf + (cap->off - cap->buf_pos);
            uint32_t caplen = rd32(rec + 8, cap->swapped);
            if (caplen <= cap->snapshot && caplen <= PCAP_MAX_CAPLEN &&
                have - PCAP_REC_HDR >= caplen) {
                uint32_t sec_u = rd32(rec, cap->swapped), frac_u = rd32(rec + 4, cap->swapped);
                int64_t sec = cap->swapped ? (int64_t)sec_u : (int64_t)(int32_t)sec_u;
                int64_t frac = cap->swapped ? (int64_t)frac_u : (int64_t)(int32_t)frac_u;
                cap->off += PCAP_REC_HDR + (size_t)caplen;
                f->ts_ns = sec * 1000000000LL + (cap->nano ? frac : frac * 1000);
                f->number = cap->next_number++;
                f->caplen = caplen;
                f->wirelen = rd32(rec + 12, cap->swapped);
                f->link = cap->link;
                f->bytes = rec + PCAP_REC_HDR;
                return CAPTURE_FRAME;
            }
        }
        size_t left = direct_avail(cap, PCAP_REC_HDR);
        if (left == 0) {
            cap->dr_done = true; /* stdio's end of file is sticky too */
            return CAPTURE_END;
        }
        if (left < PCAP_REC_HDR) {
            snprintf(cap->damage, sizeof cap->damage,
                     "truncated dump file; tried to read %zu header bytes, only got %zu",
                     (size_t)PCAP_REC_HDR, left);
            return direct_damaged(cap);
        }
        const uint8_t *rec = cap->buf + (cap->off - cap->buf_pos);
        /* libpcap 1.10 reads tv_sec and tv_usec as signed 32-bit fields,
         * but its byte swap yields unsigned values: keep both quirks */
        uint32_t sec_u = rd32(rec, cap->swapped), frac_u = rd32(rec + 4, cap->swapped);
        int64_t sec = cap->swapped ? (int64_t)sec_u : (int64_t)(int32_t)sec_u;
        int64_t frac = cap->swapped ? (int64_t)frac_u : (int64_t)(int32_t)frac_u;
        uint32_t caplen = rd32(rec + 8, cap->swapped);
        uint32_t wirelen = rd32(rec + 12, cap->swapped);
        uint32_t keep = caplen;
        if (caplen > PCAP_MAX_CAPLEN) {
            if (caplen > cap->snapshot)
                snprintf(cap->damage, sizeof cap->damage,
                         "invalid packet capture length %u, bigger than snaplen of %d", caplen,
                         (int)cap->snapshot);
            else
                snprintf(cap->damage, sizeof cap->damage,
                         "invalid packet capture length %u, bigger than maximum of %u", caplen,
                         PCAP_MAX_CAPLEN);
            return direct_damaged(cap);
        }
        left = direct_avail(cap, PCAP_REC_HDR + (size_t)caplen); /* may slide the window */
        rec = cap->buf + (cap->off - cap->buf_pos);
        left = left > PCAP_REC_HDR ? left - PCAP_REC_HDR : 0;
        if (caplen > cap->snapshot) {
            /* libpcap reads the first snapshot bytes, skips the rest and
             * reports the snapshot length as the captured length */
            if (left < cap->snapshot) {
                snprintf(cap->damage, sizeof cap->damage,
                         "truncated dump file; tried to read %u captured bytes, only got %zu",
                         cap->snapshot, left);
                return direct_damaged(cap);
            }
            keep = cap->snapshot;
        }
        if (left < caplen) {
            snprintf(cap->damage, sizeof cap->damage,
                     "truncated dump file; tried to read %u captured bytes, only got %zu",
                     caplen, left);
            return direct_damaged(cap);
        }
        const uint8_t *data = rec + PCAP_REC_HDR;
        cap->off += PCAP_REC_HDR + (size_t)caplen;
        if (cap->have_fcode) {
            struct pcap_pkthdr ph;
            memset(&ph, 0, sizeof ph);
            ph.caplen = keep;
            ph.len = wirelen;
            if (!pcap_offline_filter(&cap->fcode, &ph, data))
                continue;
        }
        f->ts_ns = sec * 1000000000LL + (cap->nano ? frac : frac * 1000);
        f->number = cap->next_number++;
        f->caplen = keep;
        f->wirelen = wirelen;
        f->link = cap->link;
        f->bytes = data;
        return CAPTURE_FRAME;
    }
}

const char *capture_reader(const struct capture *cap)
{
    return cap->buf ? "direct" : cap->live ? "live" : "libpcap";
}

/* TCPTRIAGE_DEBUG_CAPTURE=1: say which reader a file got (tests/capture_paths.py). */
static void debug_reader(const struct capture *cap, const char *path)
{
    const char *v = getenv("TCPTRIAGE_DEBUG_CAPTURE");
    if (v && *v && strcmp(v, "0") != 0)
        fprintf(stderr, "tcptriage: debug: %s: %s reader\n", path, capture_reader(cap));
}

struct capture *capture_open_file(const char *path, const char *filter, char *err, size_t errlen)
{
    struct gz_cookie *gzc = NULL;
    bool is_stdin = strcmp(path, "-") == 0;
    FILE *fp = NULL;
    unsigned char magic[4] = {0};

    if (is_stdin) {
        int fd = dup(STDIN_FILENO);
        gzFile gz = fd >= 0 ? gzdopen(fd, "rb") : NULL;
        if (!gz) {
            if (fd >= 0)
                close(fd);
            snprintf(err, errlen, "cannot read standard input");
            return NULL;
        }
        fp = gz_wrap(gz, &gzc);
    } else {
        struct stat st;
        if (stat(path, &st) != 0) {
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
            return NULL;
        }
        if (S_ISDIR(st.st_mode)) {
            snprintf(err, errlen, "%s: is a directory, not a capture file", path);
            return NULL;
        }
        if (S_ISREG(st.st_mode) && st.st_size == 0) {
            snprintf(err, errlen, "%s: empty file, not a capture", path);
            return NULL;
        }
        if (S_ISREG(st.st_mode) && !direct_disabled()) {
            struct capture *cap = open_direct(path, filter);
            if (cap) {
                debug_reader(cap, path);
                return cap;
            }
        }
        if (!S_ISREG(st.st_mode)) {
            /* A pipe, FIFO or device (e.g. -r <(zcat x.pcap.gz)): it cannot
             * seek back, so read it like standard input, through zlib. */
            int fd = open(path, O_RDONLY | O_CLOEXEC);
            gzFile gz = fd >= 0 ? gzdopen(fd, "rb") : NULL;
            if (!gz) {
                snprintf(err, errlen, "%s: %s", path, strerror(fd >= 0 ? EIO : errno));
                if (fd >= 0)
                    close(fd);
                return NULL;
            }
            fp = gz_wrap(gz, &gzc);
            if (!fp) {
                snprintf(err, errlen, "out of memory");
                return NULL;
            }
            struct capture *cap = open_stream(fp, gzc, magic, path, filter, err, errlen);
            if (cap)
                debug_reader(cap, path);
            return cap;
        }
        fp = fopen(path, "rb");
        if (!fp) {
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
            return NULL;
        }
        size_t got = fread(magic, 1, sizeof magic, fp);
        if (got >= 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
            fclose(fp);
            gzFile gz = gzopen(path, "rb");
            fp = gz ? gz_wrap(gz, &gzc) : NULL;
        } else if (fseek(fp, 0, SEEK_SET) != 0) {
            fclose(fp);
            fp = NULL;
        }
        if (!fp) {
            snprintf(err, errlen, "%s: cannot open", path);
            return NULL;
        }
    }
    if (!fp) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    struct capture *cap =
        open_stream(fp, gzc, magic, is_stdin ? "standard input" : path, filter, err, errlen);
    if (cap)
        debug_reader(cap, path);
    return cap;
}

struct capture *capture_open_live(const struct capture_live_options *o, const char *filter,
                                  char *err, size_t errlen)
{
    char perr[PCAP_ERRBUF_SIZE] = "";
    struct capture *cap = calloc(1, sizeof *cap);
    if (!cap) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    cap->live = true;
    cap->ts_digits = 6;
    cap->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 100;
    cap->pcap = pcap_create(o->iface, perr);
    if (!cap->pcap) {
        snprintf(err, errlen, "%s: %s", o->iface, perr);
        free(cap);
        return NULL;
    }
    pcap_set_snaplen(cap->pcap, o->snaplen > 0 ? o->snaplen : 262144);
    pcap_set_promisc(cap->pcap, o->promiscuous ? 1 : 0);
    pcap_set_immediate_mode(cap->pcap, 1);
    pcap_set_timeout(cap->pcap, cap->timeout_ms);
    /* Microseconds, as tcpdump records by default: a connection's times are
     * kept as 32-bit offsets in the capture's units (conn.h, "Compact
     * evidence"), 71 minutes of them in microseconds, 4.3 s in nanoseconds;
     * a live run meets connections that last longer than that. */
    pcap_set_tstamp_precision(cap->pcap, PCAP_TSTAMP_PRECISION_MICRO);
    int r = pcap_activate(cap->pcap);
    if (r < 0) {
        const char *why = pcap_geterr(cap->pcap);
        if (r == PCAP_ERROR_NO_SUCH_DEVICE)
            snprintf(err, errlen, "%s: no such interface (%s)", o->iface, why);
        else if (r == PCAP_ERROR_PERM_DENIED)
            snprintf(err, errlen,
                     "%s: permission denied: capturing needs root or the CAP_NET_RAW and "
                     "CAP_NET_ADMIN capabilities (%s)",
                     o->iface, why);
        else
            snprintf(err, errlen, "%s: cannot capture: %s", o->iface,
                     why && *why ? why : pcap_statustostr(r));
        capture_close(cap);
        return NULL;
    }
    cap->ts_digits = pcap_get_tstamp_precision(cap->pcap) == PCAP_TSTAMP_PRECISION_NANO ? 9 : 6;
    cap->usec_ts = cap->ts_digits == 6;
    if (finish_open(cap, filter, err, errlen, o->iface) != 0) {
        capture_close(cap);
        return NULL;
    }
    if (pcap_setnonblock(cap->pcap, 1, perr) != 0) {
        snprintf(err, errlen, "%s: %s", o->iface, perr);
        capture_close(cap);
        return NULL;
    }
    if (o->save_path) {
        cap->dump = pcap_dump_open(cap->pcap, o->save_path);
        if (!cap->dump) {
            snprintf(err, errlen, "%s: %s", o->save_path, pcap_geterr(cap->pcap));
            capture_close(cap);
            return NULL;
        }
    }
    return cap;
}

/* pcapng timestamps are 64-bit (and scaled by if_tsresol): seconds * 10^9
 * can overflow int64. Saturate at +-INT64_MAX / 2 ns (years 1823 to 2116),
 * a range no classic pcap leaves, so that the difference of any two frame
 * times still fits in an int64_t. */
#define TS_NS_LIMIT (INT64_MAX / 2)

static int64_t ts_to_ns(int64_t sec, int64_t frac_ns)
{
    const int64_t max_sec = TS_NS_LIMIT / 1000000000LL - 1;
    if (sec > max_sec)
        return TS_NS_LIMIT;
    if (sec < -max_sec)
        return -TS_NS_LIMIT;
    return sec * 1000000000LL + frac_ns;
}

static void fill_frame(struct capture *cap, const struct pcap_pkthdr *h, const uint8_t *data,
                       struct frame *f)
{
    int64_t frac = (int64_t)h->ts.tv_usec; /* nanoseconds for a file, as requested at open */
    if (cap->usec_ts)
        frac *= 1000; /* live: microseconds */
    f->ts_ns = ts_to_ns((int64_t)h->ts.tv_sec, frac);
    f->number = cap->next_number++;
    f->caplen = h->caplen;
    f->wirelen = h->len;
    f->link = cap->link;
    f->bytes = data;
}

enum capture_status capture_next(struct capture *cap, struct frame *f)
{
    struct pcap_pkthdr *h;
    const u_char *data;
    if (cap->buf)
        return direct_next(cap, f);
    for (;;) {
        if (cap->stop)
            return CAPTURE_END;
        int r = pcap_next_ex(cap->pcap, &h, &data);
        if (r == 1) {
            if (cap->dump)
                pcap_dump((u_char *)cap->dump, h, data);
            fill_frame(cap, h, data, f);
            return CAPTURE_FRAME;
        }
        if (r == PCAP_ERROR_BREAK)
            return CAPTURE_END;
        if (r == PCAP_ERROR) {
            if (cap->stop)
                return CAPTURE_END;
            snprintf(cap->damage, sizeof cap->damage, "%s", pcap_geterr(cap->pcap));
            return CAPTURE_DAMAGED;
        }
        /* r == 0: live, nothing yet */
        if (!cap->live)
            return CAPTURE_END;
        struct pollfd pfd = {.fd = pcap_get_selectable_fd(cap->pcap), .events = POLLIN};
        if (pfd.fd < 0)
            return CAPTURE_TIMEOUT;
        int pr = poll(&pfd, 1, cap->timeout_ms);
        if (pr == 0)
            return CAPTURE_TIMEOUT;
        if (pr < 0 && errno == EINTR)
            return CAPTURE_TIMEOUT;
    }
}

enum link_type capture_link(const struct capture *cap)
{
    return cap->link;
}

const char *capture_link_name(const struct capture *cap)
{
    const char *n = pcap_datalink_val_to_name(cap->dlt);
    return n ? n : "unknown";
}

int capture_ts_digits(const struct capture *cap)
{
    return cap->ts_digits;
}

const char *capture_damage(const struct capture *cap)
{
    return cap->damage;
}

void capture_drops(struct capture *cap, uint64_t *dropped, uint64_t *if_dropped)
{
    struct pcap_stat st;
    *dropped = *if_dropped = 0;
    if (cap->live && pcap_stats(cap->pcap, &st) == 0) {
        *dropped = st.ps_drop;
        *if_dropped = st.ps_ifdrop;
    }
}

void capture_break(struct capture *cap)
{
    cap->stop = 1;
    pcap_breakloop(cap->pcap);
}

int capture_fd(const struct capture *cap)
{
    return cap->live ? pcap_get_selectable_fd(cap->pcap) : -1;
}

void capture_close(struct capture *cap)
{
    if (!cap)
        return;
    if (cap->dump)
        pcap_dump_close(cap->dump);
    if (cap->pcap)
        pcap_close(cap->pcap);
    if (cap->have_fcode)
        pcap_freecode(&cap->fcode);
    if (cap->buf) {
        free(cap->buf);
        close(cap->fd);
    }
    free(cap);
}
