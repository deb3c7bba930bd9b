/* pagecache.c — 2 MB or 4 KB: how a mapped file sits in the page cache.
 *
 * Decode reads every weight once per token from the page cache; mapped by
 * 2 MB pages the same bytes fault in and stream faster (see fileio.c).  The
 * kernel fills a 2 MB-aligned MADV_HUGEPAGE mapping from disk with 2 MB
 * folios, but a file that is already cached stays in the pages it was
 * cached in: one just written (convert, mkmodel, a download) or read by
 * plain read() sits in small folios until evicted.  g2r_cache_huge evicts it
 * and reads it again. */
#include "common/pagecache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/error.h"
#include "common/fileio.h"

void g2r_populate(const void *p, size_t n) {
#ifdef MADV_POPULATE_READ
    if (madvise((void *)p, n, MADV_POPULATE_READ) == 0) return;
#endif
    volatile unsigned char sink = 0; /* older kernels: touch one byte per page */
    for (size_t i = 0; i < n; i += 4096) sink ^= ((const unsigned char *)p)[i];
    (void)sink;
}

long g2r_smaps_kb(FILE *smaps, uintptr_t start, const char *field) {
    char line[512];
    size_t flen = strlen(field);
    int in_block = 0, at_start = 1; /* a header with a long path comes in pieces: only a line's start counts */
    while (fgets(line, sizeof line, smaps)) {
        int starts = at_start;
        at_start = strchr(line, '\n') != NULL;
        if (!starts) continue;
        char *end;
        unsigned long long a = strtoull(line, &end, 16);
        if (end != line && *end == '-') { /* "start-end perms ..." opens a mapping's block */
            if (in_block) return -1;      /* the block ended without the field */
            in_block = a == (unsigned long long)start;
        } else if (in_block && !strncmp(line, field, flen) && line[flen] == ':') {
            return strtol(line + flen + 1, NULL, 10);
        }
    }
    return -1;
}

/* The share of m's whole 2 MB blocks that this process maps by 2 MB pages,
 * 0..1 (1 for a file with no whole block); 0 where there is no procfs.
 * Counts only pages already mapped: populate first. */
static double map_huge_share(const g2r_map *m) {
    size_t blocks = m->size / G2R_HUGE_PAGE;
    if (blocks == 0) return 1;
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f) return 0;
    long kb = g2r_smaps_kb(f, (uintptr_t)m->data, "FilePmdMapped");
    fclose(f);
    if (kb <= 0) return 0;
    double share = (double)kb * 1024 / ((double)blocks * G2R_HUGE_PAGE);
    return share > 1 ? 1 : share;
}

/* Maps path, fills its page tables and measures its share of 2 MB pages. */
static g2r_status map_share(const char *path, double *share, g2r_error *err) {
    g2r_map m;
    g2r_status st = g2r_map_file(path, &m, err);
    if (st) return st;
    if (m.data) g2r_populate(m.data, m.size);
    *share = map_huge_share(&m);
    g2r_unmap(&m);
    return G2R_OK;
}

g2r_status g2r_cache_huge(const char *path, int evict, double *before, double *after, g2r_error *err) {
    double b, a;
    g2r_status st = map_share(path, &b, err);
    if (st) return st;
    a = b;
    if (evict && b < 1) {
        /* Drops the file's cached pages (none is mapped now: ours is gone);
         * the next mapping reads it from disk in 2 MB folios.  Only clean
         * pages can be dropped, so a file just written is flushed first. */
#ifdef POSIX_FADV_DONTNEED
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) return g2r_fail(err, G2R_EIO, "%s: cannot open: %s", path, strerror(errno));
        int e = fdatasync(fd) ? errno : posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        close(fd);
        if (e) return g2r_fail(err, G2R_EIO, "%s: cannot evict from the page cache: %s", path, strerror(e));
        if ((st = map_share(path, &a, err))) return st;
#else
        return g2r_fail(err, G2R_EIO, "%s: cannot evict from the page cache on this system", path);
#endif
    }
    if (before) *before = b;
    if (after) *after = a;
    return G2R_OK;
}
