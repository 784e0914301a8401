// SPDX-License-Identifier: MIT
/*
 * bench/floor.c - the libpcap floor: how fast can anything built on
 * libpcap's offline reader go through a capture?  Opens FILE with
 * pcap_open_offline() and runs pcap_loop() with a callback that only counts
 * packets and bytes.
 *
 *   floor FILE
 *
 * Prints one line on stdout:
 *   packets N caplen_bytes N wire_bytes N elapsed_s S packets_per_s N
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* u_char in <pcap/pcap.h>, clock_gettime */
#endif
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

struct counts {
    uint64_t packets, caplen, wirelen;
};

static void on_packet(u_char *user, const struct pcap_pkthdr *h, const u_char *bytes)
{
    struct counts *c = (struct counts *)(void *)user;
    (void)bytes;
    c->packets++;
    c->caplen += h->caplen;
    c->wirelen += h->len;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: floor FILE\n");
        return 2;
    }
    char err[PCAP_ERRBUF_SIZE];
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pcap_t *p = pcap_open_offline(argv[1], err);
    if (!p) {
        fprintf(stderr, "floor: %s\n", err);
        return 1;
    }
    struct counts c = {0, 0, 0};
    int rc = pcap_loop(p, -1, on_packet, (u_char *)(void *)&c);
    if (rc == PCAP_ERROR) {
        fprintf(stderr, "floor: %s\n", pcap_geterr(p));
        pcap_close(p);
        return 1;
    }
    pcap_close(p);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double el = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("packets %llu caplen_bytes %llu wire_bytes %llu elapsed_s %.3f packets_per_s %.0f\n",
           (unsigned long long)c.packets, (unsigned long long)c.caplen,
           (unsigned long long)c.wirelen, el, el > 0 ? (double)c.packets / el : 0.0);
    return 0;
}
