/* dot_scalar.c — the portable reference for kernels/dot.h, and the run-time choice. */
#include "kernels/dot.h"

#include "common/half.h"

static float scale_of(const float *scale, int r) { return scale ? scale[r] : 1.0f; }

static void dots_f32(float *scores, const float *q, int nq, const void *x, size_t stride, const float *scale,
                     int n_rows, int dim) {
    for (int r = 0; r < n_rows; r++) {
        const float *row = (const float *)x + (size_t)r * stride;
        for (int j = 0; j < nq; j++) {
            const float *qj = q + (size_t)j * dim;
            float s = 0;
            for (int d = 0; d < dim; d++) s += qj[d] * row[d];
            scores[(size_t)r * nq + j] = s * scale_of(scale, r);
        }
    }
}

static void dots_f16(float *scores, const float *q, int nq, const void *x, size_t stride, const float *scale,
                     int n_rows, int dim) {
    for (int r = 0; r < n_rows; r++) {
        const uint16_t *row = (const uint16_t *)x + (size_t)r * stride;
        for (int j = 0; j < nq; j++) {
            const float *qj = q + (size_t)j * dim;
            float s = 0;
            for (int d = 0; d < dim; d++) s += qj[d] * g2r_f16_to_f32(row[d]);
            scores[(size_t)r * nq + j] = s * scale_of(scale, r);
        }
    }
}

static void dots_q8(float *scores, const float *q, int nq, const void *x, size_t stride, const float *scale,
                    int n_rows, int dim) {
    for (int r = 0; r < n_rows; r++) {
        const int8_t *row = (const int8_t *)x + (size_t)r * stride;
        for (int j = 0; j < nq; j++) {
            const float *qj = q + (size_t)j * dim;
            float s = 0;
            for (int d = 0; d < dim; d++) s += qj[d] * (float)row[d];
            scores[(size_t)r * nq + j] = s * scale_of(scale, r);
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
