/* dot_avx2.c — kernels/dot.h with AVX2 + FMA + F16C: 8 float lanes, 32 int8 lanes.
 *
 * Same blocking as dot_avx512.c within 16 registers: 4 rows x 2 queries.  One
 * accumulator per (query, row) pair, reduced in a fixed order, then the tail
 * elements added one by one: blocking never changes a score.  q8 rows meet
 * int8 queries: VPSIGNB moves q's sign onto x, VPMADDUBSW + VPMADDWD sum
 * |q| * x exactly in int32. */
#include "kernels/dot.h"

#if defined(__x86_64__) && defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>

#include "common/half.h"

#define INLINE static inline __attribute__((always_inline))

/* Each block of rows asks for its own size in lines PREFETCH_AHEAD bytes
 * past its start: the hardware prefetcher alone keeps too few lines in flight
 * for four row streams (q8 nq = 1 ran at half the read bandwidth without it),
 * and a lead of a few KB was best for every dtype (farther, lines leave L1
 * before use).  A prefetch never faults, so the last blocks may point past
 * the rows. */
#define PREFETCH_AHEAD 6144

INLINE void prefetch_rows(const char *p, size_t bytes) {
    for (size_t o = 0; o < bytes; o += 64) _mm_prefetch(p + o, _MM_HINT_T0);
}

INLINE __m256 load_row(g2r_vec_dtype dt, const void *p) {
    if (dt == G2R_VEC_F32) return _mm256_loadu_ps(p);
    return _mm256_cvtph_ps(_mm_loadu_si128(p));
}

INLINE float elem(g2r_vec_dtype dt, const void *row, int d) {
    if (dt == G2R_VEC_F32) return ((const float *)row)[d];
    return g2r_f16_to_f32(((const uint16_t *)row)[d]);
}

INLINE float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

INLINE int32_t hsum_i32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

INLINE void block(g2r_vec_dtype dt, int R, int Q, float *scores, int nq, const float *q, const char *x,
                  size_t row_bytes, const float *scale, int dim) {
    __m256 acc[4][2];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 2
        for (int j = 0; j < Q; j++) acc[r][j] = _mm256_setzero_ps();
    const size_t es = dt == G2R_VEC_F32 ? 4 : 2;
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

INLINE void block_q8(int R, int Q, float *scores, const g2r_dot_queries *qs, int j0, const char *x, size_t row_bytes,
                     const float *scale) {
    const int dim = qs->dim, nq = qs->nq;
    const int8_t *q = qs->i8 + (size_t)j0 * dim;
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i acc[4][2];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 2
        for (int j = 0; j < Q; j++) acc[r][j] = _mm256_setzero_si256();
    const int dv = dim & ~31;
    for (int d = 0; d < dv; d += 32) {
        __m256i xv[4];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) xv[r] = _mm256_loadu_si256((const __m256i *)(x + r * row_bytes + d));
#pragma GCC unroll 2
        for (int j = 0; j < Q; j++) {
            __m256i qv = _mm256_loadu_si256((const __m256i *)(q + (size_t)j * dim + d));
            __m256i qabs = _mm256_abs_epi8(qv);
#pragma GCC unroll 4
            for (int r = 0; r < R; r++) {
                __m256i pairs = _mm256_maddubs_epi16(qabs, _mm256_sign_epi8(xv[r], qv));
                acc[r][j] = _mm256_add_epi32(acc[r][j], _mm256_madd_epi16(pairs, ones));
            }
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 2
        for (int j = 0; j < Q; j++) {
            int32_t s = hsum_i32(acc[r][j]);
            for (int d = dv; d < dim; d++) s += q[(size_t)j * dim + d] * ((const int8_t *)x)[r * row_bytes + (size_t)d];
            scores[(size_t)r * nq + j0 + j] = (float)s * qs->i8_scale[j0 + j] * (scale ? scale[r] : 1.0f);
        }
}

INLINE void rows(g2r_vec_dtype dt, int R, float *scores, const g2r_dot_queries *q, const char *x, size_t row_bytes,
                 const float *scale) {
    for (int j = 0; j < q->nq; j += 2) {
        int two = q->nq - j > 1;
        if (dt == G2R_VEC_Q8) {
            if (two) block_q8(R, 2, scores, q, j, x, row_bytes, scale);
            else block_q8(R, 1, scores, q, j, x, row_bytes, scale);
        } else if (two) {
            block(dt, R, 2, scores + j, q->nq, q->f + (size_t)j * q->dim, x, row_bytes, scale, q->dim);
        } else {
            block(dt, R, 1, scores + j, q->nq, q->f + (size_t)j * q->dim, x, row_bytes, scale, q->dim);
        }
    }
}

INLINE void dots(g2r_vec_dtype dt, float *scores, const g2r_dot_queries *q, const void *x, size_t stride,
                 const float *scale, int n_rows) {
    const size_t row_bytes = stride * (dt == G2R_VEC_F32 ? 4 : dt == G2R_VEC_F16 ? 2 : 1);
    const char *xb = x;
    int r = 0;
    for (; r + 4 <= n_rows; r += 4) {
        prefetch_rows(xb + (size_t)r * row_bytes + PREFETCH_AHEAD, 4 * row_bytes);
        rows(dt, 4, scores + (size_t)r * q->nq, q, xb + r * row_bytes, row_bytes, scale ? scale + r : NULL);
    }
    for (; r < n_rows; r++)
        rows(dt, 1, scores + (size_t)r * q->nq, q, xb + r * row_bytes, row_bytes, scale ? scale + r : NULL);
}

static void dots_f32(float *s, const g2r_dot_queries *q, const void *x, size_t st, const float *sc, int n) {
    dots(G2R_VEC_F32, s, q, x, st, sc, n);
}
static void dots_f16(float *s, const g2r_dot_queries *q, const void *x, size_t st, const float *sc, int n) {
    dots(G2R_VEC_F16, s, q, x, st, sc, n);
}
static void dots_q8(float *s, const g2r_dot_queries *q, const void *x, size_t st, const float *sc, int n) {
    dots(G2R_VEC_Q8, s, q, x, st, sc, n);
}

static const g2r_dot_kernels table = {"avx2", {dots_f32, dots_f16, dots_q8}};

const g2r_dot_kernels *g2r_dot_avx2(void) { return &table; }

#else
const g2r_dot_kernels *g2r_dot_avx2(void) { return NULL; }
#endif
