/* SPDX-License-Identifier: MIT */
/*
 * replay.c - a plain main() for a fuzz target: runs LLVMFuzzerTestOneInput
 * on every file named on the command line, and on every regular file in
 * each directory named (sorted by name, not recursive; files ending in .md
 * are notes, not inputs). Built always, without libFuzzer, so that `meson
 * test --suite fuzz` replays the committed corpora and captures/regress/ in
 * the plain, the sanitizer and the valgrind builds.
 *
 * Exit status: 0 when every input ran (a failed invariant aborts), 1 when an
 * argument cannot be read. The slowest input is reported, to spot inputs
 * that are slow without timing out.
 */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "fuzz_target.h"

struct replay_stats {
    unsigned long files;
    double slowest_s;
    char slowest[4096];
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int run_file(const char *path, struct replay_stats *st)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t cap = 65536, len = 0;
    uint8_t *buf = malloc(cap);
    for (;;) {
        if (!buf) {
            fclose(f);
            fprintf(stderr, "replay: %s: out of memory\n", path);
            return -1;
        }
        len += fread(buf + len, 1, cap - len, f);
        if (len < cap)
            break;
        uint8_t *bigger = realloc(buf, cap * 2);
        if (!bigger)
            free(buf);
        buf = bigger;
        cap *= 2;
    }
    bool bad = ferror(f) != 0;
    fclose(f);
    if (bad) {
        fprintf(stderr, "replay: %s: read error\n", path);
        free(buf);
        return -1;
    }
    /* An exact-size copy, as libFuzzer gives, so ASan sees overreads. */
    uint8_t *exact = malloc(len ? len : 1);
    if (!exact) {
        free(buf);
        return -1;
    }
    memcpy(exact, buf, len);
    free(buf);
    double t0 = now_s();
    LLVMFuzzerTestOneInput(exact, len);
    double dt = now_s() - t0;
    free(exact);
    st->files++;
    if (dt > st->slowest_s) {
        st->slowest_s = dt;
        snprintf(st->slowest, sizeof st->slowest, "%s", path);
    }
    return 0;
}

static bool is_note(const char *name)
{
    size_t n = strlen(name);
    return n >= 3 && strcmp(name + n - 3, ".md") == 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int run_dir(const char *dir, struct replay_stats *st)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || is_note(e->d_name))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            char **bigger = realloc(names, cap * sizeof *names);
            if (!bigger) {
                rc = -1;
                break;
            }
            names = bigger;
        }
        names[n] = strdup(e->d_name);
        if (!names[n]) {
            rc = -1;
            break;
        }
        n++;
    }
    closedir(d);
    if (n > 1)
        qsort(names, n, sizeof *names, cmp_names);
    for (size_t i = 0; i < n && rc == 0; i++) {
        char path[4096];
        struct stat sb;
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode))
            rc = run_file(path, st);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

int main(int argc, char **argv)
{
    struct replay_stats st = {0};
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
        return 1;
    }
    for (int i = 1; i < argc; i++) {
        struct stat sb;
        if (stat(argv[i], &sb) != 0) {
            fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
            return 1;
        }
        int rc = S_ISDIR(sb.st_mode) ? run_dir(argv[i], &st) : run_file(argv[i], &st);
        if (rc != 0)
            return 1;
    }
    printf("replayed %lu inputs", st.files);
    if (st.files)
        printf("; slowest %.3f s: %s", st.slowest_s, st.slowest);
    printf("\n");
    return 0;
}
