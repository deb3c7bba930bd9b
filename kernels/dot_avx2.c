/* dot_avx2.c — kernels/dot.h with AVX2 + FMA + F16C: 8 lanes, scalar tails.
 *
 * Same blocking as dot_avx512.c with 16 registers: blocks of 4 rows x 2
 * queries.  One accumulator per (query, row) pair, reduced in a fixed order,
 * then the tail elements added one by one: blocking never changes a score. */
#include "kernels/dot.h"

#if defined(__x86_64__) && defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>

#include "common/half.h"

#define INLINE static inline __attribute__((always_inline))

INLINE __m256 load_row(g2r_vec_dtype dt, const void *p) {
    if (dt == G2R_VEC_F32) return _mm256_loadu_ps(p);
    if (dt == G2R_VEC_F16) return _mm256_cvtph_ps(_mm_loadu_si128(p));
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(p)));
}

INLINE float elem(g2r_vec_dtype dt, const void *row, int d) {
    if (dt == G2R_VEC_F32) return ((const float *)row)[d];
    if (dt == G2R_VEC_F16) return g2r_f16_to_f32(((const uint16_t *)row)[d]);
    return (float)((const int8_t *)row)[d];
}

INLINE size_t elem_size(g2r_vec_dtype dt) { return dt == G2R_VEC_F32 ? 4 : dt == G2R_VEC_F16 ? 2 : 1; }

INLINE float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

INLINE void block(g2r_vec_dtype dt, int R, int Q, float *scores, int nq, const float *q, const char *x,
                  size_t row_bytes, const float *scale, int dim) {
    __m256 acc[4][2];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 2
        for (int j = 0; j < Q; j++) acc[r][j] = _mm256_setzero_ps();
    const size_t es = elem_size(dt);
    const int dv = dim & ~7;
    for (int d = 0; d < dv; d += 8) {
        __m256 xv[4];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) xv[r] = load_row(dt, x + r * row_bytes + (size_t)d * es);
#pragma GCC unroll 2
        for (int j = 0; j < Q; j++) {
            __m256 qv = _mm256_loadu_ps(q + (size_t)j * dim + d);
#pragma GCC unroll 4
            for (int r = 0; r < R; r++) acc[r][j] = _mm256_fmadd_ps(qv, xv[r], acc[r][j]);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 2
        for (int j = 0; j < Q; j++) {
            float s = hsum(acc[r][j]);
            for (int d = dv; d < dim; d++) s += q[(size_t)j * dim + d] * elem(dt, x + r * row_bytes, d);
            scores[(size_t)r * nq + j] = s * (scale ? scale[r] : 1.0f);
        }
}

INLINE void rows(g2r_vec_dtype dt, int R, float *scores, const float *q, int nq, const char *x, size_t row_bytes,
                 const float *scale, int dim) {
    for (int j = 0; j < nq; j += 2) {
        if (nq - j == 1) block(dt, R, 1, scores + j, nq, q + (size_t)j * dim, x, row_bytes, scale, dim);
        else block(dt, R, 2, scores + j, nq, q + (size_t)j * dim, x, row_bytes, scale, dim);
    }
}

INLINE void dots(g2r_vec_dtype dt, float *scores, const float *q, int nq, const void *x, size_t stride,
                 const float *scale, int n_rows, int dim) {
    const size_t row_bytes = stride * elem_size(dt);
    const char *xb = x;
    int r = 0;
    for (; r + 4 <= n_rows; r += 4)
        rows(dt, 4, scores + (size_t)r * nq, q, nq, xb + r * row_bytes, row_bytes, scale ? scale + r : NULL, dim);
    for (; r < n_rows; r++)
        rows(dt, 1, scores + (size_t)r * nq, q, nq, xb + r * row_bytes, row_bytes, scale ? scale + r : NULL, dim);
}

static void dots_f32(float *s, const float *q, int nq, const void *x, size_t st, const float *sc, int n, int dim) {
    dots(G2R_VEC_F32, s, q, nq, x, st, sc, n, dim);
}
static void dots_f16(float *s, const float *q, int nq, const void *x, size_t st, const float *sc, int n, int dim) {
    dots(G2R_VEC_F16, s, q, nq, x, st, sc, n, dim);
}
static void dots_q8(float *s, const float *q, int nq, const void *x, size_t st, const float *sc, int n, int dim) {
    dots(G2R_VEC_Q8, s, q, nq, x, st, sc, n, dim);
}

static const g2r_dot_kernels table = {"avx2", {dots_f32, dots_f16, dots_q8}};

const g2r_dot_kernels *g2r_dot_avx2(void) { return &table; }

#else
const g2r_dot_kernels *g2r_dot_avx2(void) { return NULL; }
#endif
