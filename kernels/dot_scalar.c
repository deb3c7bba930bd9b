/* dot_scalar.c — the portable reference for kernels/dot.h, and the run-time choice. */
#include "kernels/dot.h"

#include <math.h>

#include "common/half.h"

static float scale_of(const float *scale, int r) { return scale ? scale[r] : 1.0f; }

void g2r_dot_quantize(const float *q, int dim, int8_t *out, float *s) {
    float amax = 0;
    for (int d = 0; d < dim; d++) amax = fabsf(q[d]) > amax ? fabsf(q[d]) : amax;
    *s = amax / 127.0f;
    float inv = amax > 0 ? 127.0f / amax : 0.0f;
    for (int d = 0; d < dim; d++) {
        long v = lrintf(q[d] * inv);
        out[d] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
    }
}

static void dots_f32(float *scores, const g2r_dot_queries *q, const void *x, size_t stride, const float *scale,
                     int n_rows) {
    const int nq = q->nq, dim = q->dim;
    for (int r = 0; r < n_rows; r++) {
        const float *row = (const float *)x + (size_t)r * stride;
        for (int j = 0; j < nq; j++) {
            const float *qj = q->f + (size_t)j * dim;
            float s = 0;
            for (int d = 0; d < dim; d++) s += qj[d] * row[d];
            scores[(size_t)r * nq + j] = s * scale_of(scale, r);
        }
    }
}

static void dots_f16(float *scores, const g2r_dot_queries *q, const void *x, size_t stride, const float *scale,
                     int n_rows) {
    const int nq = q->nq, dim = q->dim;
    for (int r = 0; r < n_rows; r++) {
        const uint16_t *row = (const uint16_t *)x + (size_t)r * stride;
        for (int j = 0; j < nq; j++) {
            const float *qj = q->f + (size_t)j * dim;
            float s = 0;
            for (int d = 0; d < dim; d++) s += qj[d] * g2r_f16_to_f32(row[d]);
            scores[(size_t)r * nq + j] = s * scale_of(scale, r);
        }
    }
}

static void dots_q8(float *scores, const g2r_dot_queries *q, const void *x, size_t stride, const float *scale,
                    int n_rows) {
    const int nq = q->nq, dim = q->dim;
    for (int r = 0; r < n_rows; r++) {
        const int8_t *row = (const int8_t *)x + (size_t)r * stride;
        for (int j = 0; j < nq; j++) {
            const int8_t *qj = q->i8 + (size_t)j * dim;
            int32_t s = 0;
            for (int d = 0; d < dim; d++) s += qj[d] * row[d];
            scores[(size_t)r * nq + j] = (float)s * q->i8_scale[j] * scale_of(scale, r);
        }
    }
}

static const g2r_dot_kernels table = {"scalar", {dots_f32, dots_f16, dots_q8}};

const g2r_dot_kernels *g2r_dot_scalar(void) { return &table; }

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
/* F16C from cpuid (leaf 1, ECX bit 29): clang's __builtin_cpu_supports has no "f16c". */
static int has_f16c(void) {
    unsigned a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C);
}
#endif

static int cpu_has(g2r_kernels_kind kind) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    if (kind == G2R_KERNELS_AVX2)
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && has_f16c();
    if (kind == G2R_KERNELS_AVX512)
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl");
#endif
    (void)kind;
    return 0;
}

const g2r_dot_kernels *g2r_dot_kernels_get(g2r_kernels_kind kind) {
    switch (kind) {
    case G2R_KERNELS_SCALAR: return g2r_dot_scalar();
    case G2R_KERNELS_AVX2: return cpu_has(kind) ? g2r_dot_avx2() : NULL;
    case G2R_KERNELS_AVX512: return cpu_has(kind) ? g2r_dot_avx512() : NULL;
    case G2R_KERNELS_NEON: return NULL;
    case G2R_KERNELS_AUTO: break;
    }
    const g2r_dot_kernels *k = NULL;
    if (cpu_has(G2R_KERNELS_AVX512)) k = g2r_dot_avx512();
    if (!k && cpu_has(G2R_KERNELS_AVX2)) k = g2r_dot_avx2();
    return k ? k : g2r_dot_scalar();
}
