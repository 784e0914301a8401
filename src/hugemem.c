/* SPDX-License-Identifier: MIT */
/*
 * hugemem.c - large tables in transparent huge pages (hugemem.h).
 */
#include "hugemem.h"

#include <stdint.h>
#include <sys/mman.h>

static size_t huge_round(size_t bytes)
{
    if (bytes > SIZE_MAX - HUGE_UNIT)
        return 0;
    return (bytes + HUGE_UNIT - 1) & ~(HUGE_UNIT - 1);
}

/* len bytes of address space, HUGE_UNIT-aligned, with protection prot. */
static void *map_aligned(size_t len, int prot, int flags)
{
    if (!len || len > SIZE_MAX - HUGE_UNIT)
        return NULL;
    /* Map one unit more, then trim the ends so what is left is aligned. */
    char *raw = mmap(NULL, len + HUGE_UNIT, prot, MAP_PRIVATE | MAP_ANONYMOUS | flags, -1, 0);
    if (raw == MAP_FAILED)
        return NULL;
    uintptr_t start = ((uintptr_t)raw + HUGE_UNIT - 1) & ~(uintptr_t)(HUGE_UNIT - 1);
    size_t head = (size_t)(start - (uintptr_t)raw), tail = HUGE_UNIT - head;
    if (head)
        munmap(raw, head);
    if (tail)
        munmap((char *)start + len, tail);
    return (void *)start;
}

void *huge_alloc(size_t bytes)
{
    size_t len = huge_round(bytes);
    char *start = map_aligned(len, PROT_READ | PROT_WRITE, 0);
    if (!start)
        return NULL;
#ifdef MADV_HUGEPAGE
    (void)madvise((void *)start, len, MADV_HUGEPAGE); /* advice: no error if refused */
#endif
    return (void *)start;
}

void *huge_reserve(size_t bytes)
{
    return map_aligned(huge_round(bytes), PROT_NONE, MAP_NORESERVE);
}

bool huge_commit(void *p, size_t bytes, bool huge)
{
    if (mprotect(p, bytes, PROT_READ | PROT_WRITE) != 0)
        return false;
#ifdef MADV_HUGEPAGE
    if (huge)
        (void)madvise(p, bytes, MADV_HUGEPAGE); /* advice: no error if refused */
#else
    (void)huge;
#endif
    return true;
}

void huge_free(void *p, size_t bytes)
{
    if (p)
        munmap(p, huge_round(bytes));
}
