/* fuzz_index.c — the .g2ri index reader (ranker/index.c) on arbitrary bytes.
 *
 * Anyone can compute an XXH64, so the checksum is no defence: when the input
 * starts with the magic, its checksum and file size fields are set to match
 * before opening, and the fuzzer goes straight at the layout checks behind
 * them.  A refused file gets EFORMAT naming it; an opened one must answer for
 * every row (item, id lookup, vector) and rank with them. */
#include <math.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ranker/hash.h"
#include "tests/fuzz/fuzz.h"

static void fuzz_index_put64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* Header bytes 104 (file size) and 120 (checksum: XXH64 of bytes [128, end)
 * seeded with XXH64 of bytes [0, 120)), as ranker/index.c writes them. */
static void fuzz_index_fix(uint8_t *f, size_t size) {
    if (size < 128 || memcmp(f, "G2RINDEX", 8)) return;
    fuzz_index_put64(f + 104, size);
    fuzz_index_put64(f + 120, g2r_xxh64(f + 128, size - 128, g2r_xxh64(f, 120, 0)));
}

static g2r_status fuzz_index(const uint8_t *data, size_t size) {
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) return G2R_ENOMEM;
    memcpy(copy, data, size);
    fuzz_index_fix(copy, size);
    int fd = memfd_create("fuzz-index", MFD_CLOEXEC);
    if (fd < 0 || write(fd, copy, size) != (ssize_t)size) {
        free(copy);
        if (fd >= 0) close(fd);
        return G2R_EIO;
    }
    free(copy);
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    g2r_index_options opt = {.n_threads = 1};
    g2r_index *ix = NULL;
    g2r_error err = {0};
    g2r_status s = g2r_index_open(path, &opt, &ix, &err);
    if (s) {
        FUZZ_CHECK(ix == NULL);
        FUZZ_CHECK(s == G2R_EFORMAT && fuzz_clean_error(s, &err, path));
        close(fd);
        return s;
    }
    g2r_index_info info;
    g2r_index_info_get(ix, &info);
    FUZZ_CHECK(info.dim >= 1 && info.file_bytes == size);
    float *v = malloc((size_t)info.dim * sizeof *v), *q = calloc((size_t)info.dim, sizeof *q);
    g2r_hit *hits = malloc((info.count + 1) * sizeof *hits);
    if (v && q && hits) {
        int finite = 1;
        for (size_t r = 0; r < info.count; r++) {
            g2r_item it = g2r_index_item(ix, r);
            FUZZ_CHECK(it.id_len > 0);
            FUZZ_CHECK(g2r_index_find(ix, it.id, it.id_len) == (int64_t)r);
            g2r_index_vector(ix, r, v);
            for (int d = 0; d < info.dim; d++) finite &= isfinite(v[d]) != 0;
        }
        q[0] = 1;
        g2r_index_postprocess(ix, q);
        int n = -1;
        FUZZ_CHECK(g2r_index_topk(ix, q, 1, (int)info.count + 1, NULL, 0, hits, &n, &err) == G2R_OK);
        FUZZ_CHECK(n == (int)info.count);
        for (int i = 0; i < n; i++) FUZZ_CHECK(hits[i].index >= 0 && hits[i].index < (int64_t)info.count);
        if (finite)
            for (int i = 1; i < n; i++) FUZZ_CHECK(!(hits[i].score > hits[i - 1].score));
    }
    free(v);
    free(q);
    free(hits);
    g2r_index_close(ix);
    close(fd);
    return G2R_OK;
}

FUZZ_MAIN(fuzz_index)
