/* fileio.h — reading files whole or by mmap, and writing them atomically. */
#ifndef G2R_FILEIO_H
#define G2R_FILEIO_H

#include <stddef.h>
#include <stdio.h>

#include "gpt2rank.h"

/* A read-only mapping of a whole file.  An empty file maps to data == NULL. */
typedef struct {
    const void *data;
    size_t size;
} g2r_map;

/* 2 MB: the huge page of x86-64 (and of most aarch64 Linux kernels). */
#define G2R_HUGE_PAGE ((size_t)2 << 20)

/* An anonymous private mapping of bytes, zero-filled, starting at a 2 MB
 * boundary (prot as mmap's) and marked MADV_HUGEPAGE, so the kernel can back
 * it with 2 MB pages (THP 'always' or 'madvise').  munmap(p, bytes) frees it;
 * MAP_FAILED (errno set) if mmap fails. */
void *g2r_map_aligned(size_t bytes, int prot);

/* Maps path read-only; one of 2 MB or more at a 2 MB boundary, marked
 * MADV_HUGEPAGE (see fileio.c).  Refuses directories and non-regular files
 * by name. */
g2r_status g2r_map_file(const char *path, g2r_map *m, g2r_error *err);
void g2r_unmap(g2r_map *m);

/* Reads a whole regular file into a malloc'd, NUL-terminated buffer of
 * *size bytes (+1).  Refuses files larger than max_bytes. */
g2r_status g2r_read_file(const char *path, size_t max_bytes, char **out, size_t *size, g2r_error *err);

/* Atomic writer: bytes go to "<path>.tmp.<pid>", which commit() fsyncs and
 * renames over path; abort() (or a failed commit) removes it, leaving any old
 * file at path untouched.  A path that is a device or FIFO (/dev/null,
 * /dev/stdout) is written in place; a directory is refused at open. */
typedef struct {
    FILE *f;
    char *path;
    char *tmp;  /* NULL when writing a device or FIFO in place */
    int failed; /* a write failed: commit will refuse */
} g2r_atomic;

g2r_status g2r_atomic_open(g2r_atomic *a, const char *path, g2r_error *err);
g2r_status g2r_atomic_write(g2r_atomic *a, const void *buf, size_t n, g2r_error *err);
g2r_status g2r_atomic_commit(g2r_atomic *a, g2r_error *err);
void g2r_atomic_abort(g2r_atomic *a);

#endif
