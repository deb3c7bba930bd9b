/* test_hostile_util.h — running the CLI under hostile conditions, for the
 * limits and atomic-write tests. */
#ifndef G2R_TEST_HOSTILE_UTIL_H
#define G2R_TEST_HOSTILE_UTIL_H

#include <stddef.h>

/* Runs `gpt2rank ARGS` through /bin/sh, stdout to /dev/null, stderr into
 * err[cap]; with fsize > 0 no file it writes may pass fsize bytes
 * (RLIMIT_FSIZE, SIGXFSZ ignored so write() fails with EFBIG instead of the
 * process dying).  Returns the exit status, or -1 if it did not exit. */
int hostile_run(const char *args, long fsize, char *err, size_t cap);

/* Number of entries of dir whose name contains ".tmp." (the atomic writer's
 * temporaries). */
int hostile_temporaries(const char *dir);

/* 1 if the files a and b exist and hold the same bytes. */
int hostile_same_file(const char *a, const char *b);

/* Size of path in bytes, -1 if it does not exist. */
long hostile_size(const char *path);

#endif
