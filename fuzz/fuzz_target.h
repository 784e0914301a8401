/* SPDX-License-Identifier: MIT */
/*
 * fuzz_target.h - what every fuzz target defines: the libFuzzer entry point,
 * and a check that fails loudly.
 *
 * Each target (fuzz_decode.c, fuzz_pipeline.c) is built twice: linked with
 * libFuzzer (-Dfuzz=true, clang) to search for inputs, and always linked with
 * replay.c, a plain main() that runs the same entry point on saved inputs so
 * the corpora and the regression files are replayed by `meson test --suite
 * fuzz` in every build (plain, ASan + UBSan, valgrind).
 */
#ifndef TCPTRIAGE_FUZZ_TARGET_H
#define TCPTRIAGE_FUZZ_TARGET_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An invariant of the program that the input broke: abort, so libFuzzer
 * saves the input and the replay driver fails. */
#define FUZZ_CHECK(cond)                                                                         \
    do {                                                                                         \
        if (!(cond)) {                                                                           \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);       \
            abort();                                                                             \
        }                                                                                        \
    } while (0)

#endif
