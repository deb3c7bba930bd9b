/* fileio.c — mmap, whole-file reads and atomic (temp + fsync + rename) writes. */
#include "common/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"

static g2r_status open_regular(const char *path, int *fd, size_t *size, g2r_error *err) {
    *fd = open(path, O_RDONLY | O_CLOEXEC);
    if (*fd < 0) return g2r_fail(err, G2R_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(*fd, &st) != 0) {
        int e = errno;
        close(*fd);
        return g2r_fail(err, G2R_EIO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (S_ISDIR(st.st_mode)) {
        close(*fd);
        return g2r_fail(err, G2R_EIO, "%s: is a directory, expected a file", path);
    }
    if (!S_ISREG(st.st_mode)) {
        close(*fd);
        return g2r_fail(err, G2R_EIO, "%s: not a regular file", path);
    }
    *size = (size_t)st.st_size;
    return G2R_OK;
}

/* a hint: refused where THP is off, which is fine */
static void advise_huge(void *p, size_t bytes) {
#ifdef MADV_HUGEPAGE
    madvise(p, bytes, MADV_HUGEPAGE);
#else
    (void)p, (void)bytes;
#endif
}

void *g2r_map_aligned(size_t bytes, int prot) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE), len = bytes + G2R_HUGE_PAGE;
    unsigned char *r = mmap(NULL, len, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (r == MAP_FAILED) return MAP_FAILED;
    unsigned char *a = (unsigned char *)(((uintptr_t)r + G2R_HUGE_PAGE - 1) & ~(uintptr_t)(G2R_HUGE_PAGE - 1));
    unsigned char *r_end = r + (len + page - 1) / page * page, *a_end = a + (bytes + page - 1) / page * page;
    if (a > r) munmap(r, (size_t)(a - r)); /* give back what lies around it */
    if (r_end > a_end) munmap(a_end, (size_t)(r_end - a_end));
    advise_huge(a, bytes);
    return a;
}

/* Weights are streamed from the page cache once per token, and the first
 * token faults the whole file in.  Mapped by 2 MB pages both cost less (512x
 * fewer page-table entries, far fewer TLB misses: first token 1.3-2x, decode
 * up to ~8% faster, make bench-pagecache).  The kernel maps a cached 2 MB folio
 * with one entry only at a 2 MB-aligned address, and fills a MADV_HUGEPAGE
 * mapping from disk with 2 MB folios where the filesystem can (see
 * pagecache.c).  So a large file is mapped over a 2 MB-aligned reservation. */
static void *map_file_aligned(int fd, size_t size) {
    if (size < G2R_HUGE_PAGE) return mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    void *r = g2r_map_aligned(size, PROT_NONE);
    if (r == MAP_FAILED) return MAP_FAILED;
    void *p = mmap(r, size, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 0);
    if (p == MAP_FAILED) {
        int e = errno;
        munmap(r, size);
        errno = e;
        return MAP_FAILED;
    }
    advise_huge(p, size); /* the file's mapping replaced the reservation and its advice */
    return p;
}

g2r_status g2r_map_file(const char *path, g2r_map *m, g2r_error *err) {
    m->data = NULL;
    m->size = 0;
    int fd;
    size_t size;
    g2r_status s = open_regular(path, &fd, &size, err);
    if (s) return s;
    if (size > 0) {
        void *p = map_file_aligned(fd, size);
        if (p == MAP_FAILED) {
            int e = errno;
            close(fd);
            return g2r_fail(err, G2R_EIO, "%s: mmap failed: %s", path, strerror(e));
        }
        m->data = p;
    }
    close(fd);
    m->size = size;
    return G2R_OK;
}

void g2r_unmap(g2r_map *m) {
    if (m->data) munmap((void *)m->data, m->size);
    m->data = NULL;
    m->size = 0;
}

g2r_status g2r_read_file(const char *path, size_t max_bytes, char **out, size_t *size, g2r_error *err) {
    *out = NULL;
    *size = 0;
    int fd;
    size_t n;
    g2r_status s = open_regular(path, &fd, &n, err);
    if (s) return s;
    if (n > max_bytes) {
        close(fd);
        return g2r_fail(err, G2R_ERANGE, "%s: file is %zu bytes, limit is %zu", path, n, max_bytes);
    }
    char *buf = malloc(n + 1);
    if (!buf) {
        close(fd);
        return g2r_fail(err, G2R_ENOMEM, "%s: cannot allocate %zu bytes", path, n + 1);
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            int e = errno;
            free(buf);
            close(fd);
            return g2r_fail(err, G2R_EIO, "%s: read failed: %s", path, r == 0 ? "file shrank" : strerror(e));
        }
        got += (size_t)r;
    }
    close(fd);
    buf[n] = 0;
    *out = buf;
    *size = n;
    return G2R_OK;
}

g2r_status g2r_atomic_open(g2r_atomic *a, const char *path, g2r_error *err) {
    memset(a, 0, sizeof *a);
    /* A device or FIFO (-o /dev/null, /dev/stdout) is written in place: renaming
     * a temporary over it would replace the device with a regular file. */
    struct stat st;
    int exists = stat(path, &st) == 0;
    if (exists && S_ISDIR(st.st_mode)) return g2r_fail(err, G2R_EIO, "%s: is a directory, expected a file", path);
    int direct = exists && !S_ISREG(st.st_mode);
    size_t n = strlen(path) + 32;
    a->path = strdup(path);
    a->tmp = direct ? NULL : malloc(n);
    if (!a->path || (!direct && !a->tmp)) {
        free(a->path);
        free(a->tmp);
        return g2r_fail(err, G2R_ENOMEM, "%s: out of memory", path);
    }
    if (!direct) snprintf(a->tmp, n, "%s.tmp.%ld", path, (long)getpid());
    a->f = fopen(direct ? path : a->tmp, "wb");
    if (!a->f) {
        g2r_status s = g2r_fail(err, G2R_EIO, "%s: cannot create %s: %s", path, direct ? path : a->tmp, strerror(errno));
        free(a->path);
        free(a->tmp);
        memset(a, 0, sizeof *a);
        return s;
    }
    return G2R_OK;
}

g2r_status g2r_atomic_write(g2r_atomic *a, const void *buf, size_t n, g2r_error *err) {
    if (a->failed) return g2r_fail(err, G2R_EIO, "%s: earlier write failed", a->path);
    if (n && fwrite(buf, 1, n, a->f) != n) {
        a->failed = 1;
        return g2r_fail(err, G2R_EIO, "%s: write failed: %s", a->path, strerror(errno));
    }
    return G2R_OK;
}

static void atomic_release(g2r_atomic *a) {
    free(a->path);
    free(a->tmp);
    memset(a, 0, sizeof *a);
}

g2r_status g2r_atomic_commit(g2r_atomic *a, g2r_error *err) {
    g2r_status s = G2R_OK;
    if (a->failed) s = g2r_fail(err, G2R_EIO, "%s: earlier write failed", a->path);
    if (!s && fflush(a->f) != 0) s = g2r_fail(err, G2R_EIO, "%s: write failed: %s", a->path, strerror(errno));
    if (!s && a->tmp && fsync(fileno(a->f)) != 0) s = g2r_fail(err, G2R_EIO, "%s: fsync failed: %s", a->path, strerror(errno));
    if (fclose(a->f) != 0 && !s) s = g2r_fail(err, G2R_EIO, "%s: close failed: %s", a->path, strerror(errno));
    a->f = NULL;
    if (!s && a->tmp && rename(a->tmp, a->path) != 0)
        s = g2r_fail(err, G2R_EIO, "%s: rename failed: %s", a->path, strerror(errno));
    if (s && a->tmp) unlink(a->tmp);
    atomic_release(a);
    return s;
}

void g2r_atomic_abort(g2r_atomic *a) {
    if (a->f) fclose(a->f);
    if (a->tmp) unlink(a->tmp);
    atomic_release(a);
}
