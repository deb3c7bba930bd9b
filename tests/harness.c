/* harness.c — the test runner: runs every registered test (or those whose name
 * contains argv[1]) and ends with "N passed, N failed". */
#include "tests/harness.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_TESTS 4096

typedef struct {
    const char *name, *file;
    t_fn fn;
    int order;
} test_entry;

static test_entry tests[MAX_TESTS];
static int n_tests;
static int current_failed;
static const char *current_skip;
static char tmp_root[256];
static char tmp_dir[512];
static int tmp_seq;

void t_register(const char *name, const char *file, t_fn fn) {
    if (n_tests == MAX_TESTS) {
        fprintf(stderr, "harness: too many tests\n");
        abort();
    }
    tests[n_tests] = (test_entry){name, file, fn, n_tests};
    n_tests++;
}

void t_fail(const char *file, int line, const char *fmt, ...) {
    current_failed = 1;
    fprintf(stderr, "  %s:%d: ", file, line);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int t_failed(void) { return current_failed; }

void t_skip(const char *reason) { current_skip = reason; }

const char *t_data_dir(void) {
    const char *d = getenv("G2R_TEST_DATA");
    return d ? d : "tests/data";
}

const char *t_bin(void) {
    const char *b = getenv("G2R_BIN");
    return b ? b : "./gpt2rank";
}

const char *t_tmpdir(void) {
    if (!tmp_root[0]) {
        snprintf(tmp_root, sizeof tmp_root, "/tmp/g2r-test-%ld", (long)getpid());
        mkdir(tmp_root, 0700);
    }
    snprintf(tmp_dir, sizeof tmp_dir, "%s/%d", tmp_root, ++tmp_seq);
    mkdir(tmp_dir, 0700);
    return tmp_dir;
}

static void cleanup_tmp(void) {
    if (!tmp_root[0] || getenv("G2R_KEEP_TMP")) return;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_root);
    if (system(cmd) != 0) fprintf(stderr, "harness: could not remove %s\n", tmp_root);
}

static int by_file_then_order(const void *a, const void *b) {
    const test_entry *x = a, *y = b;
    int c = strcmp(x->file, y->file);
    if (c) return c;
    return x->order - y->order;
}

int main(int argc, char **argv) {
    const char *filter = argc > 1 ? argv[1] : NULL;
    qsort(tests, (size_t)n_tests, sizeof tests[0], by_file_then_order);
    int passed = 0, failed = 0, skipped = 0;
    for (int i = 0; i < n_tests; i++) {
        if (filter && !strstr(tests[i].name, filter) && !strstr(tests[i].file, filter)) continue;
        current_failed = 0;
        current_skip = NULL;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        tests[i].fn();
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
        if (current_skip && !current_failed) {
            printf("skip %s: %s\n", tests[i].name, current_skip);
            skipped++;
            continue;
        }
        printf("%s %s (%.0f ms)\n", current_failed ? "FAIL" : "ok  ", tests[i].name, ms);
        fflush(stdout);
        if (current_failed) failed++;
        else passed++;
    }
    cleanup_tmp();
    if (skipped) printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    else printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
