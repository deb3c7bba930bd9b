/* dot_avx512.c — kernels/dot.h with AVX-512: 16 float lanes, 64 int8 lanes, masked tails.
 *
 * A block of R rows x Q queries keeps R*Q accumulators in registers: each
 * slice of a row is loaded (and widened) once and used by Q queries, each
 * query slice once by R rows.  One accumulator per (query, row) pair, slices
 * in order, one final reduction: a pair's score does not depend on how rows
 * and queries were blocked.  q8 rows meet int8 queries, summed exactly in
 * int32 (VPDPBUSD when the CPU has VNNI, else VPMADDUBSW + VPMADDWD). */
#include "kernels/dot.h"

#if defined(__x86_64__) && defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
#include <immintrin.h>

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

/* ---- f32 and f16 rows, float queries */

INLINE __m512 load_row(g2r_vec_dtype dt, const void *p, __mmask16 m) {
    if (dt == G2R_VEC_F32) return _mm512_maskz_loadu_ps(m, p);
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
}

/* acc[r][j] += q_j[d..d+16) * row_r[d..d+16) (lanes outside m are zero) */
INLINE void step(g2r_vec_dtype dt, int R, int Q, __m512 acc[4][4], const float *q, const char *x, size_t row_bytes,
                 int d, int dim, __mmask16 m) {
    const size_t es = dt == G2R_VEC_F32 ? 4 : 2;
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

INLINE void block(g2r_vec_dtype dt, int R, int Q, float *scores, int nq, const float *q, const char *x,
                  size_t row_bytes, const float *scale, int dim) {
    __m512 acc[4][4];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int j = 0; j < Q; j++) acc[r][j] = _mm512_setzero_ps();
    int d = 0;
    for (; d + 16 <= dim; d += 16) step(dt, R, Q, acc, q, x, row_bytes, d, dim, (__mmask16)0xffff);
    if (d < dim) step(dt, R, Q, acc, q, x, row_bytes, d, dim, (__mmask16)((1u << (dim - d)) - 1));
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int j = 0; j < Q; j++)
            scores[(size_t)r * nq + j] = _mm512_reduce_add_ps(acc[r][j]) * (scale ? scale[r] : 1.0f);
}

/* ---- q8 rows, int8 queries
 *
 * VPDPBUSD multiplies unsigned bytes by signed bytes.  With VNNI the row takes
 * the unsigned side as x ^ 0x80 = x + 128, shared by every query of the
 * block, and 128 * sum(q) comes off once per (query, row) at the end: one
 * instruction per 64 products.  Without VNNI, VPMADDUBSW would saturate on
 * (x + 128) * q pairs, so |q| takes the unsigned side and q's sign moves onto
 * x for each (query, row) pair. */

INLINE __m512i dot_i8(int vnni, __m512i acc, __m512i qv, __m512i xv) {
#ifdef __AVX512VNNI__
    if (vnni) return _mm512_dpbusd_epi32(acc, xv, qv); /* xv: x + 128 */
#endif
    (void)vnni;
    __mmask64 neg = _mm512_movepi8_mask(qv);
    __m512i xs = _mm512_mask_sub_epi8(xv, neg, _mm512_setzero_si512(), xv);
    __m512i pairs = _mm512_maddubs_epi16(_mm512_abs_epi8(qv), xs); /* |q| <= 127: no saturation */
    return _mm512_add_epi32(acc, _mm512_madd_epi16(pairs, _mm512_set1_epi16(1)));
}

INLINE void step_q8(int vnni, int R, int Q, __m512i acc[4][4], const int8_t *q, const char *x, size_t row_bytes,
                    int d, int dim, __mmask64 m) {
    __m512i xv[4];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
        xv[r] = _mm512_maskz_loadu_epi8(m, x + r * row_bytes + d);
        if (vnni) xv[r] = _mm512_xor_si512(xv[r], _mm512_set1_epi8((char)0x80));
    }
#pragma GCC unroll 4
    for (int j = 0; j < Q; j++) {
        __m512i qv = _mm512_maskz_loadu_epi8(m, q + (size_t)j * dim + d);
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) acc[r][j] = dot_i8(vnni, acc[r][j], qv, xv[r]);
    }
}

/* qoff[j]: what the +128 offset added to query j's sums (0 without VNNI). */
INLINE void block_q8(int vnni, int R, int Q, float *scores, const g2r_dot_queries *qs, int j0, const int32_t *qoff,
                     const char *x, size_t row_bytes, const float *scale) {
    const int dim = qs->dim, nq = qs->nq;
    const int8_t *q = qs->i8 + (size_t)j0 * dim;
    __m512i acc[4][4];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int j = 0; j < Q; j++) acc[r][j] = _mm512_setzero_si512();
    int d = 0;
    for (; d + 64 <= dim; d += 64) step_q8(vnni, R, Q, acc, q, x, row_bytes, d, dim, ~(__mmask64)0);
    if (d < dim) step_q8(vnni, R, Q, acc, q, x, row_bytes, d, dim, ((__mmask64)1 << (dim - d)) - 1);
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int j = 0; j < Q; j++) {
            int32_t s = _mm512_reduce_add_epi32(acc[r][j]) - qoff[j0 + j];
            scores[(size_t)r * nq + j0 + j] = (float)s * qs->i8_scale[j0 + j] * (scale ? scale[r] : 1.0f);
        }
}

/* 128 * sum(q) per query for the VNNI offset (0 without VNNI). */
INLINE void q8_offsets(int vnni, const g2r_dot_queries *qs, int32_t *qoff) {
    for (int j = 0; j < qs->nq; j++) {
        qoff[j] = 0;
        if (!vnni) continue;
        __m512i acc = _mm512_setzero_si512();
        for (int d = 0; d < qs->dim; d += 64) {
            __mmask64 m = qs->dim - d >= 64 ? ~(__mmask64)0 : ((__mmask64)1 << (qs->dim - d)) - 1;
            __m512i qv = _mm512_maskz_loadu_epi8(m, qs->i8 + (size_t)j * qs->dim + d);
            acc = dot_i8(vnni, acc, qv, _mm512_set1_epi8(1)); /* 1 * q, summed exactly */
        }
        qoff[j] = 128 * _mm512_reduce_add_epi32(acc);
    }
}

/* R rows against all queries in groups of up to 4, R and Q made constants. */
INLINE void rows(g2r_vec_dtype dt, int vnni, int R, float *scores, const g2r_dot_queries *q, const int32_t *qoff,
                 const char *x, size_t row_bytes, const float *scale) {
    for (int j = 0; j < q->nq; j += 4) {
        int left = q->nq - j;
        if (dt == G2R_VEC_Q8) {
            switch (left) {
            case 1: block_q8(vnni, R, 1, scores, q, j, qoff, x, row_bytes, scale); break;
            case 2: block_q8(vnni, R, 2, scores, q, j, qoff, x, row_bytes, scale); break;
            case 3: block_q8(vnni, R, 3, scores, q, j, qoff, x, row_bytes, scale); break;
            default: block_q8(vnni, R, 4, scores, q, j, qoff, x, row_bytes, scale); break;
            }
            continue;
        }
        const float *qj = q->f + (size_t)j * q->dim;
        float *s = scores + j;
        switch (left) {
        case 1: block(dt, R, 1, s, q->nq, qj, x, row_bytes, scale, q->dim); break;
        case 2: block(dt, R, 2, s, q->nq, qj, x, row_bytes, scale, q->dim); break;
        case 3: block(dt, R, 3, s, q->nq, qj, x, row_bytes, scale, q->dim); break;
        default: block(dt, R, 4, s, q->nq, qj, x, row_bytes, scale, q->dim); break;
        }
    }
}

INLINE void dots(g2r_vec_dtype dt, int vnni, float *scores, const g2r_dot_queries *q, const void *x, size_t stride,
                 const float *scale, int n_rows) {
    const size_t row_bytes = stride * (dt == G2R_VEC_F32 ? 4 : dt == G2R_VEC_F16 ? 2 : 1);
    const char *xb = x;
    int32_t qoff[G2R_DOT_MAX_Q];
    if (dt == G2R_VEC_Q8) q8_offsets(vnni, q, qoff);
    int r = 0;
    for (; r + 4 <= n_rows; r += 4) {
        prefetch_rows(xb + (size_t)r * row_bytes + PREFETCH_AHEAD, 4 * row_bytes);
        rows(dt, vnni, 4, scores + (size_t)r * q->nq, q, qoff, xb + r * row_bytes, row_bytes, scale ? scale + r : NULL);
    }
    for (; r < n_rows; r++)
        rows(dt, vnni, 1, scores + (size_t)r * q->nq, q, qoff, xb + r * row_bytes, row_bytes, scale ? scale + r : NULL);
}

static void dots_f32(float *s, const g2r_dot_queries *q, const void *x, size_t st, const float *sc, int n) {
    dots(G2R_VEC_F32, 0, s, q, x, st, sc, n);
}
static void dots_f16(float *s, const g2r_dot_queries *q, const void *x, size_t st, const float *sc, int n) {
    dots(G2R_VEC_F16, 0, s, q, x, st, sc, n);
}
static void dots_q8(float *s, const g2r_dot_queries *q, const void *x, size_t st, const float *sc, int n) {
    dots(G2R_VEC_Q8, 0, s, q, x, st, sc, n);
}
#ifdef __AVX512VNNI__
static void dots_q8_vnni(float *s, const g2r_dot_queries *q, const void *x, size_t st, const float *sc, int n) {
    dots(G2R_VEC_Q8, 1, s, q, x, st, sc, n);
}
#endif

static const g2r_dot_kernels table = {"avx512", {dots_f32, dots_f16, dots_q8}};

const g2r_dot_kernels *g2r_dot_avx512_bw(void) { return &table; }

const g2r_dot_kernels *g2r_dot_avx512(void) {
#ifdef __AVX512VNNI__
    static const g2r_dot_kernels vnni = {"avx512-vnni", {dots_f32, dots_f16, dots_q8_vnni}};
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512vnni")) return &vnni;
#endif
    return &table;
}

#else
const g2r_dot_kernels *g2r_dot_avx512(void) { return NULL; }
const g2r_dot_kernels *g2r_dot_avx512_bw(void) { return NULL; }
#endif
