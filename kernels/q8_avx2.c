/* q8_avx2.c — Q8 weights times int8 inputs with AVX2: q8_avx512.c's design in
 * 256-bit registers (see there), with the integer sums from vpmaddwd on bytes
 * widened to 16 bits.  The same bits as scalar.c's matmul_q8 / matmul_nt_q8. */
#include "kernels/q8.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kernels/prefetch.h"

#define ALWAYS_INLINE inline __attribute__((always_inline))

#define Q8_MAX_K 8192 /* longest group (rows) or row (cols) quantised here */
#define MR 4          /* input rows that share each load of weights */
#define CHUNK 1024    /* columns per pass: the sums of MR rows stay in L1 */
#define PF_BYTES 16384 /* prefetch distance, as q8_avx512.c */

static _Thread_local int8_t xq[MR][Q8_MAX_K] __attribute__((aligned(32)));
static _Thread_local int32_t isum[MR][CHUNK] __attribute__((aligned(32)));

static const int32_t mask_table[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

/* Loads and stores of the first cnt floats (0 <= cnt <= 8; the rest read as 0). */
static ALWAYS_INLINE __m256 ld(const float *p, int cnt) {
    return cnt >= 8 ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, _mm256_loadu_si256((const __m256i *)(mask_table + 8 - cnt)));
}
static ALWAYS_INLINE void st(float *p, int cnt, __m256 v) {
    if (cnt >= 8) _mm256_storeu_ps(p, v);
    else _mm256_maskstore_ps(p, _mm256_loadu_si256((const __m256i *)(mask_table + 8 - cnt)), v);
}

/* 32 bytes from p, of which the first n (bytes past them read as 0). */
static ALWAYS_INLINE __m256i ld_bytes(const int8_t *p, int n) {
    if (n >= 32) return _mm256_loadu_si256((const __m256i *)p);
    int8_t b[32] = {0};
    memcpy(b, p, (size_t)n);
    return _mm256_loadu_si256((const __m256i *)b);
}

static ALWAYS_INLINE int32_t hadd8(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

/* acc + 4-byte dot products of a (unsigned) and b (signed), lane by lane. */
static ALWAYS_INLINE __m256i dp4(__m256i acc, __m256i a, __m256i b) {
    __m256i a_even = _mm256_and_si256(a, _mm256_set1_epi16(0x00ff)), a_odd = _mm256_srli_epi16(a, 8);
    __m256i b_even = _mm256_srai_epi16(_mm256_slli_epi16(b, 8), 8), b_odd = _mm256_srai_epi16(b, 8);
    acc = _mm256_add_epi32(acc, _mm256_madd_epi16(a_even, b_even));
    return _mm256_add_epi32(acc, _mm256_madd_epi16(a_odd, b_odd));
}

/* scalar.c's act_q for one value */
static ALWAYS_INLINE int act_q(float x, float inv) { return (int)rintf(fminf(fmaxf(x * inv, -127.0f), 127.0f)); }

/* Quantises x[0, n) into q as scalar.c does; returns the scale, *sum = sum of q. */
static float quantise(int8_t *q, const float *x, int n, int32_t *sum) {
    __m256 amax = _mm256_setzero_ps(), absm = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    int i = 0;
    for (; i + 8 <= n; i += 8) amax = _mm256_max_ps(_mm256_and_ps(_mm256_loadu_ps(x + i), absm), amax);
    float lanes[8], m = 0.0f;
    _mm256_storeu_ps(lanes, amax);
    for (int l = 0; l < 8; l++) m = fmaxf(m, lanes[l]);
    for (; i < n; i++) m = fmaxf(m, fabsf(x[i]));
    float inv = m > 0.0f ? 127.0f / m : 0.0f;
    __m256 vinv = _mm256_set1_ps(inv), lo = _mm256_set1_ps(-127.0f), hi = _mm256_set1_ps(127.0f);
    __m256i s = _mm256_setzero_si256();
    for (i = 0; i + 8 <= n; i += 8) {
        __m256 v = _mm256_min_ps(_mm256_max_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), vinv), lo), hi);
        __m256i iv = _mm256_cvtps_epi32(v); /* round to nearest even, as rintf */
        s = _mm256_add_epi32(s, iv);
        __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(iv), _mm256_extracti128_si256(iv, 1));
        _mm_storel_epi64((__m128i *)(q + i), _mm_packs_epi16(w, w));
    }
    int32_t total = hadd8(s);
    for (; i < n; i++) {
        q[i] = (int8_t)act_q(x[i], inv);
        total += q[i];
    }
    *sum = total;
    return m / 127.0f;
}

/* ------------------------------------------------------- rows layout: W[K][N]
 *
 * A step loads 4 rows of 32 columns: 4 interleaved streams, prefetched as
 * one in memory order (prefetch.h), PF_BYTES and at least 4 rows ahead. */

/* Four rows of 32 columns as (k..k+3) quads: lane 4L+i of e[m] = column 16L + 4m + i. */
static ALWAYS_INLINE void interleave4(__m256i r0, __m256i r1, __m256i r2, __m256i r3, __m256i e[4]) {
    __m256i a = _mm256_unpacklo_epi8(r0, r1), b = _mm256_unpackhi_epi8(r0, r1);
    __m256i c = _mm256_unpacklo_epi8(r2, r3), d = _mm256_unpackhi_epi8(r2, r3);
    e[0] = _mm256_unpacklo_epi16(a, c);
    e[1] = _mm256_unpackhi_epi16(a, c);
    e[2] = _mm256_unpacklo_epi16(b, d);
    e[3] = _mm256_unpackhi_epi16(b, d);
}

/* interleave4's lane order back to columns: c[i] = columns 8i..8i+7. */
static ALWAYS_INLINE void columns(const __m256i a[4], __m256i c[4]) {
    c[0] = _mm256_permute2x128_si256(a[0], a[1], 0x20);
    c[1] = _mm256_permute2x128_si256(a[2], a[3], 0x20);
    c[2] = _mm256_permute2x128_si256(a[0], a[1], 0x31);
    c[3] = _mm256_permute2x128_si256(a[2], a[3], 0x31);
}

/* isum[r][c, c+32) += rows k..k+3 (at q, N apart) times R rows' int8 inputs at
 * k; the 4 lines of each 64 columns are prefetched at the first 32. */
static ALWAYS_INLINE void rows_step(int R, const int8_t *q, size_t N, g2r_pf_cursor *pc, int k, int c, int nc) {
    __m256i off = _mm256_set1_epi8((char)0x80), w[4], e[4];
    if (c % 64 == 0)
        for (int i = 0; i < 4; i++) g2r_pf_next(pc);
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) w[i] = _mm256_xor_si256(ld_bytes(q + (size_t)i * N, nc), off);
    interleave4(w[0], w[1], w[2], w[3], e);
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
        int32_t x4;
        memcpy(&x4, xq[r] + k, 4);
        __m256i b = _mm256_set1_epi32(x4);
        __m256i *acc = (__m256i *)(isum[r] + c);
#pragma GCC unroll 4
        for (int m = 0; m < 4; m++) acc[m] = dp4(acc[m], e[m], b);
    }
}

/* out[r][0, nc) += the group's sums in isum[r], scaled (xs * ws). */
static ALWAYS_INLINE void rows_flush(int R, float *out, int ldo, const float *ws, const float *xs,
                                     const int32_t *corr, int nc) {
    for (int r = 0; r < R; r++) {
        __m256 vxs = _mm256_set1_ps(xs[r]);
        __m256i vcorr = _mm256_set1_epi32(corr[r]);
        for (int c0 = 0; c0 < nc; c0 += 32) {
            __m256i c[4];
            columns((const __m256i *)(isum[r] + c0), c);
            for (int i = 0; i < 4 && c0 + 8 * i < nc; i++) {
                int cnt = nc - c0 - 8 * i;
                __m256 s = _mm256_mul_ps(vxs, ld(ws + c0 + 8 * i, cnt));
                __m256 prod = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(c[i], vcorr)), s);
                float *o = out + (size_t)r * ldo + c0 + 8 * i;
                st(o, cnt, _mm256_add_ps(ld(o, cnt), prod));
            }
        }
    }
}

/* R input rows, groups [g0, g1), columns [n0, n0 + nc): all added into out
 * (gstride 0), or group g0 + j alone into out + j * gstride (its slice's sums). */
static ALWAYS_INLINE void rows_block(int R, float *out, int ldo, size_t gstride, const float *in, const g2r_matrix *w,
                                     int n0, int nc, int g0, int g1) {
    int K = w->rows, N = w->cols, g = w->group;
    int ahead = PF_BYTES / nc < 4 ? 4 : PF_BYTES / nc; /* rows */
    g2r_pf_cursor pc = {(const char *)w->data + (size_t)(g0 * g + ahead) * N + n0, (size_t)N, 0, (nc + 63) & ~63};
    for (int j = 0; j < (gstride ? g1 - g0 : 1); j++)
        for (int r = 0; r < R; r++)
            for (int n = 0; n < nc; n += 8) st(out + j * gstride + (size_t)r * ldo + n0 + n, nc - n, _mm256_setzero_ps());
    for (int k0 = g0 * g; k0 < g1 * g; k0 += g) {
        float xs[MR];
        int32_t corr[MR];
        for (int r = 0; r < R; r++) {
            int32_t sum;
            xs[r] = quantise(xq[r], in + (size_t)r * K + k0, g, &sum);
            corr[r] = 128 * sum;
            memset(isum[r], 0, (size_t)((nc + 31) & ~31) * sizeof(int32_t));
        }
        const int8_t *q = (const int8_t *)w->data + (size_t)k0 * N + n0;
        for (int k = 0; k < g; k += 4)
            for (int c = 0; c < nc; c += 32) rows_step(R, q + (size_t)k * N + c, (size_t)N, &pc, k, c, nc - c);
        float *dst = out + (size_t)(k0 / g - g0) * gstride + n0;
        rows_flush(R, dst, ldo, w->scale + (size_t)(k0 / g) * N + n0, xs, corr, nc);
    }
}

static void rows_all(float *out, int ldo, size_t gstride, const float *in, const g2r_matrix *w, int T, int n0, int n1,
                     int g0, int g1) {
    int K = w->rows;
    int pieces = (n1 - n0 + CHUNK - 1) / CHUNK, width = ((n1 - n0 + pieces - 1) / pieces + 31) & ~31;
    for (int n = n0; n < n1; n += width) {
        int nc = n1 - n < width ? n1 - n : width, t = 0;
        for (; t + 4 <= T; t += 4) rows_block(4, out + (size_t)t * ldo, ldo, gstride, in + (size_t)t * K, w, n, nc, g0, g1);
        float *o = out + (size_t)t * ldo;
        const float *x = in + (size_t)t * K;
        switch (T - t) {
        case 3: rows_block(3, o, ldo, gstride, x, w, n, nc, g0, g1); break;
        case 2: rows_block(2, o, ldo, gstride, x, w, n, nc, g0, g1); break;
        case 1: rows_block(1, o, ldo, gstride, x, w, n, nc, g0, g1); break;
        }
    }
}

static int rows_ok(const g2r_matrix *w) {
    return w->q8_layout == G2R_Q8_GROUP_ROWS && w->group % 4 == 0 && w->group <= Q8_MAX_K;
}

int g2r_q8_matmul_avx2(float *out, int ldo, const float *in, const g2r_matrix *w, const float *bias, int T, int n0,
                       int n1, int gelu) {
    (void)bias, (void)gelu; /* the caller's epilogue */
    if (!rows_ok(w)) return 0;
    rows_all(out, ldo, 0, in, w, T, n0, n1, 0, w->rows / w->group);
    return 1;
}

int g2r_q8_slices_avx2(float *part, int ldo, size_t stride, const float *in, const g2r_matrix *w, int T, int n0,
                       int n1, int s0, int s1) {
    if (!rows_ok(w)) return 0;
    rows_all(part, ldo, stride, in, w, T, n0, n1, s0, s1);
    return 1;
}

/* ------------------------------------------------------- cols layout: W[V][K] */

/* lane i = sum of the 8 lanes of a[i] (integer adds: exact in any order). */
static ALWAYS_INLINE __m256i sum8(const __m256i a[8]) {
    __m256i b[2];
#pragma GCC unroll 2
    for (int i = 0; i < 2; i++) {
        const __m256i *v = a + 4 * i;
        __m256i s01 = _mm256_add_epi32(_mm256_unpacklo_epi32(v[0], v[1]), _mm256_unpackhi_epi32(v[0], v[1]));
        __m256i s23 = _mm256_add_epi32(_mm256_unpacklo_epi32(v[2], v[3]), _mm256_unpackhi_epi32(v[2], v[3]));
        b[i] = _mm256_add_epi32(_mm256_unpacklo_epi64(s01, s23), _mm256_unpackhi_epi64(s01, s23));
    }
    return _mm256_add_epi32(_mm256_permute2x128_si256(b[0], b[1], 0x20), _mm256_permute2x128_si256(b[0], b[1], 0x31));
}

/* out[v, v+nv) for one quantised input row, 8 weight rows from v (rows past nv
 * repeat the last one, not stored). */
static void cols_block(float *out, const g2r_matrix *w, int v, int nv, const float *xs, const int32_t *corr) {
    int K = w->cols, g = w->group, G = K / g;
    const int8_t *rows[8];
    for (int i = 0; i < 8; i++) rows[i] = (const int8_t *)w->data + (size_t)(v + (i < nv ? i : nv - 1)) * K;
    const float *scale = w->scale + (size_t)v * G;
    __m256i idx = _mm256_mullo_epi32(_mm256_min_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(nv - 1)),
                                     _mm256_set1_epi32(G));
    __m256i off = _mm256_set1_epi8((char)0x80);
    __m256 acc = _mm256_setzero_ps();
    for (int j = 0; j < G; j++) {
        __m256i a[8];
#pragma GCC unroll 8
        for (int i = 0; i < 8; i++) a[i] = _mm256_setzero_si256();
        for (int k = j * g; k < (j + 1) * g; k += 32) {
            __m256i x = _mm256_load_si256((const __m256i *)(xq[0] + k));
#pragma GCC unroll 8
            for (int i = 0; i < 8; i++) {
                _mm_prefetch((const char *)(rows[i] + k + 8 * (size_t)K), _MM_HINT_T0);
                a[i] = dp4(a[i], _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(rows[i] + k)), off), x);
            }
        }
        __m256i isum8 = _mm256_sub_epi32(sum8(a), _mm256_set1_epi32(corr[j]));
        __m256 ws = _mm256_i32gather_ps(scale, _mm256_add_epi32(idx, _mm256_set1_epi32(j)), 4);
        acc = _mm256_add_ps(acc, _mm256_mul_ps(_mm256_cvtepi32_ps(isum8), _mm256_mul_ps(_mm256_set1_ps(xs[j]), ws)));
    }
    st(out + v, nv, acc);
}

int g2r_q8_matmul_nt_avx2(float *out, int ldo, const float *in, const g2r_matrix *w, int T, int v0, int v1) {
    int K = w->cols, g = w->group;
    if (w->q8_layout != G2R_Q8_GROUP_COLS || g % 32 || K > Q8_MAX_K) return 0;
    int G = K / g;
    float xs[Q8_MAX_K / 32];
    int32_t corr[Q8_MAX_K / 32];
    for (int t = 0; t < T; t++) {
        for (int j = 0; j < G; j++) {
            int32_t sum;
            xs[j] = quantise(xq[0] + j * g, in + (size_t)t * K + j * g, g, &sum);
            corr[j] = 128 * sum;
        }
        for (int v = v0; v < v1; v += 8) cols_block(out + (size_t)t * ldo, w, v, v1 - v < 8 ? v1 - v : 8, xs, corr);
    }
    return 1;
}

#else
int g2r_q8_matmul_avx2(float *out, int ldo, const float *in, const g2r_matrix *w, const float *bias, int T, int n0,
                       int n1, int gelu) {
    (void)out, (void)ldo, (void)in, (void)w, (void)bias, (void)T, (void)n0, (void)n1, (void)gelu;
    return 0;
}
int g2r_q8_slices_avx2(float *part, int ldo, size_t stride, const float *in, const g2r_matrix *w, int T, int n0,
                       int n1, int s0, int s1) {
    (void)part, (void)ldo, (void)stride, (void)in, (void)w, (void)T, (void)n0, (void)n1, (void)s0, (void)s1;
    return 0;
}
int g2r_q8_matmul_nt_avx2(float *out, int ldo, const float *in, const g2r_matrix *w, int T, int v0, int v1) {
    (void)out, (void)ldo, (void)in, (void)w, (void)T, (void)v0, (void)v1;
    return 0;
}
#endif
