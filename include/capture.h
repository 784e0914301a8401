/* SPDX-License-Identifier: MIT */
/*
 * capture.h - where frames come from. The only module that sees libpcap.
 *
 * Opens a capture file (classic pcap or pcapng; gzip-compressed or not; "-"
 * for standard input) or a live interface, applies a tcpdump-style BPF
 * filter, maps the libpcap link type onto enum link_type, and hands out
 * frames numbered from 1 with nanosecond timestamps.
 *
 * A file that ends in the middle of a record, or holds a record that cannot
 * be right (a length past the format's maximum), is "damaged": capture_next()
 * returns CAPTURE_DAMAGED after the last good frame, with a one-line
 * description in capture_damage().
 *
 * A regular classic-pcap file is read directly, in large pread() chunks,
 * instead of through libpcap's read loop (same frames, same damage messages,
 * reading several times faster: docs/performance.md);
 * TCPTRIAGE_LIBPCAP_ONLY=1 in the environment forces the libpcap path.
 */
#ifndef TCPTRIAGE_CAPTURE_H
#define TCPTRIAGE_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "decode.h"

struct capture;

enum capture_status {
    CAPTURE_FRAME = 0, /* *f holds the next frame */
    CAPTURE_END,       /* no more frames: end of file, count reached, or stopped */
    CAPTURE_DAMAGED,   /* the rest of the input is unreadable */
    CAPTURE_TIMEOUT,   /* live: no frame within the poll interval */
};

struct capture_live_options {
    const char *iface;
    int snaplen;          /* 0: the default (262144) */
    bool promiscuous;
    int timeout_ms;       /* how long capture_next() waits for a frame */
    const char *save_path; /* -w: also save raw packets here (NULL: no) */
};

/* Open a file ("-" is standard input). filter may be NULL. On failure
 * returns NULL and writes a one-line message to err. */
struct capture *capture_open_file(const char *path, const char *filter, char *err, size_t errlen);
/* Open a capture from an already open stdio stream (a pipe, fmemopen(),
 * fopencookie(), ...), read as it is (no gzip). name is what messages call
 * it. Takes ownership of fp: it is closed by capture_close(), or before
 * returning NULL on failure (with a one-line message in err). */
struct capture *capture_open_fp(FILE *fp, const char *name, const char *filter, char *err,
                                size_t errlen);
/* Open a live interface. On failure returns NULL with a message in err. */
struct capture *capture_open_live(const struct capture_live_options *o, const char *filter,
                                  char *err, size_t errlen);

/* Next frame. f->bytes stays valid until the next call. */
enum capture_status capture_next(struct capture *cap, struct frame *f);

enum link_type capture_link(const struct capture *cap);
const char *capture_link_name(const struct capture *cap); /* libpcap's DLT name */
int capture_ts_digits(const struct capture *cap);       /* 6 or 9 */
/* How frames are read: "direct" (classic pcap file), "libpcap" or "live". */
const char *capture_reader(const struct capture *cap);
const char *capture_damage(const struct capture *cap);  /* valid after CAPTURE_DAMAGED */
/* Live: packets dropped by the kernel / the interface so far. */
void capture_drops(struct capture *cap, uint64_t *dropped, uint64_t *if_dropped);
/* Live: make capture_next() return CAPTURE_END (safe from a signal handler). */
void capture_break(struct capture *cap);
/* Live: file descriptor to wait on, or -1. */
int capture_fd(const struct capture *cap);
void capture_close(struct capture *cap);

/* Maps a libpcap DLT value to our link type; false when unsupported. */
bool capture_map_dlt(int dlt, enum link_type *out);

#endif
