/* scatter_copy.c — copy a file 4 KB page by 4 KB page in a shuffled order.
 *
 * The page cache takes a new file's pages in the order they are written, so
 * the copy sits in 4 KB pages that lie physically scattered, the way a file
 * read back in small pieces on a busy machine does.  A plain `cp` would not
 * show that: written in large runs, the copy is cached physically contiguous
 * even when it is mapped by 4 KB entries.  bench/pagecache_ab.sh decodes from
 * both beside a copy in 2 MB pages.
 *   scatter_copy IN OUT */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/rng.h"

#define PAGE 4096

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: scatter_copy IN OUT\n");
        return 2;
    }
    g2r_map in;
    g2r_error err = {0};
    if (g2r_map_file(argv[1], &in, &err)) {
        fprintf(stderr, "scatter_copy: %s\n", err.msg);
        return 1;
    }
    size_t n = (in.size + PAGE - 1) / PAGE;
    size_t *order = malloc((n ? n : 1) * sizeof *order);
    int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int ok = order && fd >= 0;
    if (ok) {
        for (size_t i = 0; i < n; i++) order[i] = i;
        g2r_rng r = {42};
        for (size_t i = n; i > 1; i--) { /* Fisher-Yates */
            size_t j = (size_t)(g2r_rng_u64(&r) % i), t = order[i - 1];
            order[i - 1] = order[j];
            order[j] = t;
        }
    }
    for (size_t i = 0; ok && i < n; i++) {
        size_t off = order[i] * PAGE, len = in.size - off < PAGE ? in.size - off : PAGE;
        ok = pwrite(fd, (const char *)in.data + off, len, (off_t)off) == (ssize_t)len;
    }
    if (ok) ok = fsync(fd) == 0;
    if (fd >= 0 && close(fd) != 0) ok = 0;
    if (!ok) {
        fprintf(stderr, "scatter_copy: %s: cannot write it\n", argv[2]);
        if (fd >= 0) unlink(argv[2]); /* no partial copy left */
    }
    free(order);
    g2r_unmap(&in);
    return ok ? 0 : 1;
}
