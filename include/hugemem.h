/* SPDX-License-Identifier: MIT */
/*
 * hugemem.h - large tables in transparent huge pages.
 *
 * The connection table is read at random, one or two lines a packet, over
 * tens of megabytes: with 4 KiB pages most of those reads also miss the TLB.
 * Memory from huge_alloc() is mapped 2 MiB-aligned, in whole 2 MiB units,
 * and advised MADV_HUGEPAGE, so the kernel can back it with huge pages where
 * transparent huge pages are enabled ("always" or "madvise"); elsewhere it is
 * ordinary anonymous memory. Measured: 5-7% of a whole run with ~40 k
 * connections held, 14-24% with ~140 k (docs/performance.md).
 */
#ifndef TCPTRIAGE_HUGEMEM_H
#define TCPTRIAGE_HUGEMEM_H

#include <stdbool.h>
#include <stddef.h>

#define HUGE_UNIT ((size_t)2 << 20) /* 2 MiB: an x86-64 huge page */

/* Zeroed memory of at least `bytes` (rounded up to HUGE_UNIT), 2 MiB-aligned;
 * NULL when out of memory. */
void *huge_alloc(size_t bytes);
/* Returns memory from huge_alloc(p, bytes) with the same `bytes`. */
void huge_free(void *p, size_t bytes);

/* Address space for `bytes` (rounded up to HUGE_UNIT), 2 MiB-aligned, not
 * yet usable: no memory behind it, nothing counted against the commit
 * limit. NULL when the address space is not there. Freed with huge_free(). */
void *huge_reserve(size_t bytes);
/* Makes [p, p + bytes) of a reservation usable (zeroed), advised
 * MADV_HUGEPAGE when huge is true; false when the system refuses. p and
 * bytes are multiples of HUGE_UNIT. */
bool huge_commit(void *p, size_t bytes, bool huge);

#endif
