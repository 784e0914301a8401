/* SPDX-License-Identifier: MIT */
/*
 * capture.c - frames from libpcap: files (pcap, pcapng, gzip, stdin) and
 * live interfaces. The only file that includes <pcap.h>.
 *
 * gzip: libpcap reads from a stdio FILE, so a gzip file (or standard input,
 * which may or may not be gzip) is wrapped in a FILE whose reads go through
 * zlib (fopencookie). zlib passes data that is not gzip through unchanged.
 *
 * Timestamps are always requested in nanoseconds; ts_digits says whether
 * the file itself had nanosecond resolution (classic pcap magic 0xa1b23c4d),
 * so reports do not print digits the capture never had.
 *
 * Damage: pcap_next_ex() failing in the middle of a file means a truncated
 * or corrupt record; everything read before stays valid.
 */
#include "capture.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
    volatile sig_atomic_t stop;
    uint64_t next_number;
    int timeout_ms;
    char damage[256];
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
        snprintf(err, errlen, "%s: unsupported link type %s (%d)%s%s", what,
                 name ? name : "unknown", cap->dlt, name ? ": " : "",
                 name ? pcap_datalink_val_to_description(cap->dlt) : "");
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
    return open_stream(fp, gzc, magic, is_stdin ? "standard input" : path, filter, err, errlen);
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
    if (pcap_set_tstamp_precision(cap->pcap, PCAP_TSTAMP_PRECISION_NANO) == 0)
        cap->ts_digits = 9;
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

static void fill_frame(struct capture *cap, const struct pcap_pkthdr *h, const uint8_t *data,
                       struct frame *f)
{
    f->ts_ns = (int64_t)h->ts.tv_sec * 1000000000LL + (int64_t)h->ts.tv_usec;
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
    free(cap);
}
