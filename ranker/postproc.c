/* postproc.c — catalog mean and principal directions by power iteration. */
#include "ranker/postproc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/rng.h"

#define MAX_FIT_ROWS 20000
#define POWER_ITERS 200

void g2r_l2_normalize(float *v, int dim) {
    double ss = 0;
    for (int d = 0; d < dim; d++) ss += (double)v[d] * v[d];
    if (ss <= 0) return;
    float inv = (float)(1.0 / sqrt(ss));
    for (int d = 0; d < dim; d++) v[d] *= inv;
}

void g2r_postproc_apply(float *v, int dim, const float *mean, const float *pcs, int n_pc) {
    if (mean)
        for (int d = 0; d < dim; d++) v[d] -= mean[d];
    for (int p = 0; p < n_pc; p++) {
        const float *u = pcs + (size_t)p * dim;
        double dot = 0;
        for (int d = 0; d < dim; d++) dot += (double)u[d] * v[d];
        for (int d = 0; d < dim; d++) v[d] -= (float)dot * u[d];
    }
    g2r_l2_normalize(v, dim);
}

g2r_status g2r_postproc_fit(const float *x, size_t n, int dim, int center, int n_pc, float *mean, float *pcs,
                            g2r_error *err) {
    if (n_pc < 0 || n_pc >= dim) return g2r_fail(err, G2R_EARG, "drop-pc: %d directions, dim is %d", n_pc, dim);
    if (n_pc > 0 && n < 2) return g2r_fail(err, G2R_EARG, "drop-pc: needs at least 2 items to fit, got %zu", n);
    size_t step = n > MAX_FIT_ROWS ? (n + MAX_FIT_ROWS - 1) / MAX_FIT_ROWS : 1;
    double *m = calloc((size_t)dim, sizeof(double));
    if (!m) return g2r_fail(err, G2R_ENOMEM, "postprocess: out of memory");
    size_t used = 0;
    for (size_t i = 0; i < n; i += step, used++)
        for (int d = 0; d < dim; d++) m[d] += x[i * dim + d];
    for (int d = 0; d < dim; d++) mean[d] = center && used ? (float)(m[d] / (double)used) : 0.0f;
    free(m);
    if (n_pc == 0) return G2R_OK;

    /* covariance (upper triangle accumulated, then mirrored) */
    double *c = calloc((size_t)dim * dim, sizeof(double));
    double *row = malloc(sizeof(double) * (size_t)dim), *u = malloc(sizeof(double) * (size_t)dim);
    double *w = malloc(sizeof(double) * (size_t)dim);
    if (!c || !row || !u || !w) {
        free(c), free(row), free(u), free(w);
        return g2r_fail(err, G2R_ENOMEM, "postprocess: out of memory for a %dx%d covariance", dim, dim);
    }
    for (size_t i = 0; i < n; i += step) {
        for (int d = 0; d < dim; d++) row[d] = (double)x[i * dim + d] - mean[d];
        for (int a = 0; a < dim; a++) {
            double ra = row[a];
            double *ca = c + (size_t)a * dim;
            for (int b = a; b < dim; b++) ca[b] += ra * row[b];
        }
    }
    for (int a = 0; a < dim; a++)
        for (int b = 0; b < a; b++) c[(size_t)a * dim + b] = c[(size_t)b * dim + a];

    g2r_rng rng = {12345};
    for (int p = 0; p < n_pc; p++) {
        for (int d = 0; d < dim; d++) u[d] = g2r_rng_normal(&rng);
        for (int it = 0; it < POWER_ITERS; it++) {
            /* deflate: keep u orthogonal to the directions already found */
            for (int q = 0; q < p; q++) {
                const float *e = pcs + (size_t)q * dim;
                double dot = 0;
                for (int d = 0; d < dim; d++) dot += e[d] * u[d];
                for (int d = 0; d < dim; d++) u[d] -= dot * e[d];
            }
            double ss = 0;
            for (int d = 0; d < dim; d++) ss += u[d] * u[d];
            if (ss <= 0) break;
            for (int d = 0; d < dim; d++) u[d] /= sqrt(ss);
            if (it == POWER_ITERS - 1) break;
            for (int a = 0; a < dim; a++) {
                double s = 0;
                const double *ca = c + (size_t)a * dim;
                for (int b = 0; b < dim; b++) s += ca[b] * u[b];
                w[a] = s;
            }
            memcpy(u, w, sizeof(double) * (size_t)dim);
        }
        for (int d = 0; d < dim; d++) pcs[(size_t)p * dim + d] = (float)u[d];
    }
    free(c), free(row), free(u), free(w);
    return G2R_OK;
}
