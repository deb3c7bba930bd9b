/* rawvec.c — raw float32 matrix files for `topk`: map, validate, row norms. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/fileio.h"
#include "gpt2rank.h"

struct g2r_f32_file {
    g2r_map map;
    g2r_vectors v;
    float *inv_norm;
};

g2r_status g2r_f32_file_open(const char *path, int dim, g2r_f32_file **out, g2r_error *err) {
    *out = NULL;
    if (dim < 1) return g2r_fail(err, G2R_EARG, "%s: dim must be at least 1, got %d", path, dim);
    g2r_f32_file *f = calloc(1, sizeof *f);
    if (!f) return g2r_fail(err, G2R_ENOMEM, "%s: out of memory", path);
    g2r_status st = g2r_map_file(path, &f->map, err);
    if (st) {
        free(f);
        return st;
    }
    size_t row_bytes = (size_t)dim * sizeof(float);
    if (f->map.size % row_bytes) {
        st = g2r_fail(err, G2R_EFORMAT, "%s: size %zu bytes is not a multiple of dim %d x 4 bytes", path,
                      f->map.size, dim);
        goto fail;
    }
    size_t count = f->map.size / row_bytes;
    const float *x = f->map.data;
    f->inv_norm = malloc(sizeof(float) * (count ? count : 1));
    if (!f->inv_norm) {
        st = g2r_fail(err, G2R_ENOMEM, "%s: out of memory for %zu rows", path, count);
        goto fail;
    }
    for (size_t r = 0; r < count; r++) {
        double ss = 0;
        for (int d = 0; d < dim; d++) {
            float v = x[r * dim + d];
            if (!isfinite(v)) {
                st = g2r_fail(err, G2R_EFORMAT, "%s: row %zu, column %d is %s", path, r, d, isnan(v) ? "NaN" : "Inf");
                goto fail;
            }
            ss += (double)v * v;
        }
        f->inv_norm[r] = ss > 0 ? (float)(1.0 / sqrt(ss)) : 0.0f;
    }
    f->v = (g2r_vectors){G2R_VEC_F32, dim, count, (size_t)dim, x, f->inv_norm, NULL};
    *out = f;
    return G2R_OK;
fail:
    g2r_f32_file_close(f);
    return st;
}

void g2r_f32_file_close(g2r_f32_file *f) {
    if (!f) return;
    g2r_unmap(&f->map);
    free(f->inv_norm);
    free(f);
}

const g2r_vectors *g2r_f32_file_vectors(const g2r_f32_file *f) { return &f->v; }

void g2r_f32_file_unit_row(const g2r_f32_file *f, size_t i, float *out) {
    const float *x = (const float *)f->v.data + i * f->v.stride;
    for (int d = 0; d < f->v.dim; d++) out[d] = x[d] * f->inv_norm[i];
}
