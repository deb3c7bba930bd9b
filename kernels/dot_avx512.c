/* dot_avx512.c — kernels/dot.h with AVX-512: 16 lanes, masked tails.
 *
 * A block of R rows x Q queries keeps R*Q accumulators in registers: each
 * 16-wide slice of a row is loaded and widened to float once and multiplied
 * into Q queries, each query slice once into R rows.  One accumulator per
 * (query, row) pair, slices in order, one final reduction: the pair's score
 * does not depend on how rows and queries were blocked. */
#include "kernels/dot.h"

#if defined(__x86_64__) && defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
#include <immintrin.h>

#define INLINE static inline __attribute__((always_inline))

/* 16 elements of a row starting at p, widened to float; m masks the tail. */
INLINE __m512 load_row(g2r_vec_dtype dt, const void *p, __mmask16 m) {
    if (dt == G2R_VEC_F32) return _mm512_maskz_loadu_ps(m, p);
    if (dt == G2R_VEC_F16) return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
    return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, p)));
}

INLINE size_t elem_size(g2r_vec_dtype dt) { return dt == G2R_VEC_F32 ? 4 : dt == G2R_VEC_F16 ? 2 : 1; }

INLINE void block(g2r_vec_dtype dt, int R, int Q, float *scores, int nq, const float *q, const char *x,
                  size_t row_bytes, const float *scale, int dim) {
    __m512 acc[4][4];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int j = 0; j < Q; j++) acc[r][j] = _mm512_setzero_ps();
    const size_t es = elem_size(dt);
    for (int d = 0; d < dim; d += 16) {
        __mmask16 m = dim - d >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (dim - d)) - 1);
        __m512 xv[4];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) xv[r] = load_row(dt, x + r * row_bytes + (size_t)d * es, m);
#pragma GCC unroll 4
        for (int j = 0; j < Q; j++) {
            __m512 qv = _mm512_maskz_loadu_ps(m, q + (size_t)j * dim + d);
#pragma GCC unroll 4
            for (int r = 0; r < R; r++) acc[r][j] = _mm512_fmadd_ps(qv, xv[r], acc[r][j]);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int j = 0; j < Q; j++)
            scores[(size_t)r * nq + j] = _mm512_reduce_add_ps(acc[r][j]) * (scale ? scale[r] : 1.0f);
}

/* R rows against queries j0.. in groups of up to 4, R and Q made constants. */
INLINE void rows(g2r_vec_dtype dt, int R, float *scores, const float *q, int nq, const char *x, size_t row_bytes,
                 const float *scale, int dim) {
    for (int j = 0; j < nq; j += 4) {
        const float *qj = q + (size_t)j * dim;
        float *s = scores + j;
        switch (nq - j) {
        case 1: block(dt, R, 1, s, nq, qj, x, row_bytes, scale, dim); break;
        case 2: block(dt, R, 2, s, nq, qj, x, row_bytes, scale, dim); break;
        case 3: block(dt, R, 3, s, nq, qj, x, row_bytes, scale, dim); break;
        default: block(dt, R, 4, s, nq, qj, x, row_bytes, scale, dim); break;
        }
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

static const g2r_dot_kernels table = {"avx512", {dots_f32, dots_f16, dots_q8}};

const g2r_dot_kernels *g2r_dot_avx512(void) { return &table; }

#else
const g2r_dot_kernels *g2r_dot_avx512(void) { return NULL; }
#endif
