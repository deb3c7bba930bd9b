/* avx2.c — AVX2 + FMA + F16C kernels: 8 floats per register.
 *
 * The same design as avx512.c, with 16 registers instead of 32: every output
 * column is one FMA chain over k in order (then + bias, then GELU) whatever
 * the tile, range or batch size, and every dot product one 8-lane chain
 * reduced by one fixed tree (hsum), so results do not depend on how the
 * engine splits the work.  A partial vector is described by its lane count
 * (1..8); partial loads of 16- and 8-bit weights go through a small buffer
 * because AVX2 has no masked load for them. */
#include "kernels/kernels.h"
#include "kernels/q8.h"
#include "kernels/wrow.h"

/* Built with this ISA's flags (the Makefile gives them to files named for it);
 * elsewhere the table is absent and the dispatcher falls back. */
#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kernels/prefetch.h"

#define ALWAYS_INLINE inline __attribute__((always_inline))

static const int32_t mask_table[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

/* Lane mask for the first cnt lanes (0 <= cnt <= 8). */
static ALWAYS_INLINE __m256i lane_mask(int cnt) { return _mm256_loadu_si256((const __m256i *)(mask_table + 8 - cnt)); }

static ALWAYS_INLINE int clamp8(int n) { return n < 0 ? 0 : n > 8 ? 8 : n; }

/* Loads and stores of the first cnt lanes (the rest read as 0). */
static ALWAYS_INLINE __m256 ld(const float *p, int cnt) {
    return cnt == 8 ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, lane_mask(cnt));
}
static ALWAYS_INLINE void st(float *p, int cnt, __m256 v) {
    if (cnt == 8) _mm256_storeu_ps(p, v);
    else _mm256_maskstore_ps(p, lane_mask(cnt), v);
}

/* The one reduction tree for 8 lanes: 256 -> 128, then (b0+b2)+(b1+b3). */
static ALWAYS_INLINE __m128 fold128(__m256 v) {
    return _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
}

static ALWAYS_INLINE float hsum(__m256 v) {
    __m128 b = fold128(v);
    __m128 c = _mm_add_ps(b, _mm_movehl_ps(b, b));
    return _mm_cvtss_f32(_mm_add_ss(c, _mm_shuffle_ps(c, c, 1)));
}

/* Four hsum()s at once, lane i = hsum(vi), bit-for-bit. */
static ALWAYS_INLINE __m128 hsum4(__m256 v0, __m256 v1, __m256 v2, __m256 v3) {
    __m128 r0 = fold128(v0), r1 = fold128(v1), r2 = fold128(v2), r3 = fold128(v3);
    _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
    return _mm_add_ps(_mm_add_ps(r0, r2), _mm_add_ps(r1, r3));
}

/* e^x as in avx512.c (Cephes polynomial, about 2 ulp, clamped to normal results). */
static ALWAYS_INLINE __m256 exp8(__m256 x) {
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.33654f)), _mm256_set1_ps(88.3762626647949f));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r);
    p = _mm256_add_ps(p, _mm256_set1_ps(1.0f));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

/* GELU, tanh form, as x / (1 + e^(-2u)) (see avx512.c). */
static ALWAYS_INLINE __m256 gelu8(__m256 x) {
    __m256 x2 = _mm256_mul_ps(x, x);
    __m256 u = _mm256_mul_ps(_mm256_mul_ps(x, _mm256_set1_ps(0.7978845608028654f)),
                             _mm256_fmadd_ps(x2, _mm256_set1_ps(0.044715f), _mm256_set1_ps(1.0f)));
    __m256 e = exp8(_mm256_mul_ps(u, _mm256_set1_ps(-2.0f)));
    return _mm256_div_ps(x, _mm256_add_ps(e, _mm256_set1_ps(1.0f)));
}

/* ------------------------------------------------------------ weight loads */


static __attribute__((noinline)) __m256 q8_scales_split(const float *s, int g, int c, int cnt) {
    float v[8] = {0};
    for (int i = 0; i < cnt; i++) v[i] = s[(c + i) / g];
    return _mm256_loadu_ps(v);
}

static ALWAYS_INLINE __m256 q8_scales(const g2r_matrix *w, wrow row, int c, int cnt) {
    if (w->q8_layout == G2R_Q8_GROUP_ROWS) return ld(row.scale + c, cnt);
    int g = w->group;
    if (!cnt) return _mm256_setzero_ps(); /* c may be past the row */
    if (c / g == (c + 7) / g) return _mm256_set1_ps(row.scale[c / g]);
    return q8_scales_split(row.scale, g, c, cnt);
}

/* cnt * size bytes at p, zero-padded to 16. */
static ALWAYS_INLINE __m128i ld128(const void *p, int cnt, int size) {
    if (cnt == 8) return size == 2 ? _mm_loadu_si128((const __m128i *)p) : _mm_loadl_epi64((const __m128i *)p);
    uint8_t b[16] = {0};
    memcpy(b, p, (size_t)cnt * (size_t)size);
    return _mm_loadu_si128((const __m128i *)b);
}

/* Elements [c, c+8) of a row as floats, exactly as scalar.c's elem() gives them. */
static ALWAYS_INLINE __m256 w_load(const g2r_matrix *w, g2r_dtype dt, wrow row, int c, int cnt) {
    switch (dt) {
    case G2R_DT_F32: return ld((const float *)row.q + c, cnt);
    case G2R_DT_F16: return _mm256_cvtph_ps(ld128((const uint16_t *)row.q + c, cnt, 2));
    case G2R_DT_BF16: {
        __m256i h = _mm256_cvtepu16_epi32(ld128((const uint16_t *)row.q + c, cnt, 2));
        return _mm256_castsi256_ps(_mm256_slli_epi32(h, 16));
    }
    case G2R_DT_Q8: {
        __m256i q = _mm256_cvtepi8_epi32(ld128((const int8_t *)row.q + c, cnt, 1));
        return _mm256_mul_ps(_mm256_cvtepi32_ps(q), q8_scales(w, row, c, cnt));
    }
    }
    return _mm256_setzero_ps();
}

static ALWAYS_INLINE __m256 finish(__m256 acc, const float *bias, int n, int cnt, int gelu) {
    __m256 b = bias ? ld(bias + n, cnt) : _mm256_setzero_ps();
    __m256 v = _mm256_add_ps(acc, b);
    return gelu ? gelu8(v) : v;
}

/* ------------------------------------------------------------------ matmul */

/* Few rows (decode): stream the weights once, 4 rows at a time, accumulating
 * in out (column n at out[n - n0]).  As in avx512.c, the 4 rows' 16-bit (and
 * Q8) weights are prefetched as one stream in memory order (prefetch.h),
 * PF_BYTES and at least 4 rows ahead; F32 does without. */
#define PF_BYTES 16384

static ALWAYS_INLINE void stream_vec(g2r_dtype dt, int T, int R, float *out, int ldo, const g2r_matrix *w,
                                     const wrow *rows, int n, int n0, int cnt, const float x[3][4], g2r_pf_cursor *pc) {
    __m256 wv[4];
    size_t es = g2r_dtype_size(dt);
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
        if (dt != G2R_DT_F32 && ((size_t)n * es) % 64 == 0) g2r_pf_next(pc);
        wv[r] = w_load(w, dt, rows[r], n, cnt);
    }
#pragma GCC unroll 3
    for (int t = 0; t < T; t++) {
        float *o = out + (size_t)t * ldo + (n - n0);
        __m256 acc = ld(o, cnt);
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) acc = _mm256_fmadd_ps(_mm256_set1_ps(x[t][r]), wv[r], acc);
        st(o, cnt, acc);
    }
}

static ALWAYS_INLINE void stream_rows(g2r_dtype dt, int T, int R, float *out, int ldo, const float *in,
                                      const g2r_matrix *w, int k, int n0, int n1, int ahead) {
    int K = w->rows, nf = n0 + ((n1 - n0) & ~7);
    size_t es = g2r_dtype_size(dt), stride = (size_t)w->cols * es;
    g2r_pf_cursor pc = {(const char *)w->data + (size_t)(k + ahead) * stride + (size_t)n0 * es, stride, 0,
                        (int)(((size_t)(n1 - n0) * es + 63) & ~(size_t)63)};
    wrow rows[4];
    float x[3][4];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
        rows[r] = w_row(w, dt, k + r);
#pragma GCC unroll 3
        for (int t = 0; t < T; t++) x[t][r] = in[(size_t)t * K + k + r];
    }
    for (int n = n0; n < nf; n += 8) stream_vec(dt, T, R, out, ldo, w, rows, n, n0, 8, x, &pc);
    if (nf < n1) stream_vec(dt, T, R, out, ldo, w, rows, nf, n0, n1 - nf, x, &pc);
}

/* out[t*ldo + n - n0] = the sum over rows [k0, k1), from zero in k order, for T <= 3 input rows. */
static ALWAYS_INLINE void stream_slice_t(g2r_dtype dt, int T, float *out, int ldo, const float *in,
                                         const g2r_matrix *w, int k0, int k1, int n0, int n1) {
    for (int t = 0; t < T; t++)
        for (int n = 0; n < n1 - n0; n += 8) st(out + (size_t)t * ldo + n, clamp8(n1 - n0 - n), _mm256_setzero_ps());
    int run = (int)((size_t)(n1 - n0) * g2r_dtype_size(dt)), ahead = (PF_BYTES / run + 3) & ~3; /* rows */
    if (ahead < 4) ahead = 4;
    int k = k0;
    for (; k + 4 <= k1; k += 4) stream_rows(dt, T, 4, out, ldo, in, w, k, n0, n1, ahead);
    for (; k < k1; k++) stream_rows(dt, T, 1, out, ldo, in, w, k, n0, n1, ahead);
}

static ALWAYS_INLINE void stream_slice(g2r_dtype dt, float *out, int ldo, const float *in, const g2r_matrix *w,
                                       int T, int k0, int k1, int n0, int n1) {
    int K = w->rows;
    for (; T >= 3; T -= 3, out += (size_t)3 * ldo, in += (size_t)3 * K)
        stream_slice_t(dt, 3, out, ldo, in, w, k0, k1, n0, n1);
    if (T == 2) stream_slice_t(dt, 2, out, ldo, in, w, k0, k1, n0, n1);
    if (T == 1) stream_slice_t(dt, 1, out, ldo, in, w, k0, k1, n0, n1);
}

/* out = act(((S_0 + S_1) + ...) + bias) over n_part sums stride apart. */
static ALWAYS_INLINE void sum_parts(float *out, int ldo, const float *part, size_t stride, int n_part,
                                    const float *bias, int T, int n0, int n1, int gelu) {
    for (int t = 0; t < T; t++)
        for (int n = n0; n < n1; n += 8) {
            int cnt = clamp8(n1 - n);
            const float *p = part + (size_t)t * ldo + n;
            __m256 acc = ld(p, cnt);
            for (int s = 1; s < n_part; s++) acc = _mm256_add_ps(acc, ld(p + (size_t)s * stride, cnt));
            st(out + (size_t)t * ldo + n, cnt, finish(acc, bias, n, cnt, gelu));
        }
}

/* Few rows in one call: slice 0 into out, each later slice into tmp and
 * added, CHUNK columns at a time so tmp stays small. */
#define CHUNK 1024
static _Thread_local float tmp[3 * CHUNK] __attribute__((aligned(32)));

static ALWAYS_INLINE void mm_stream(g2r_dtype dt, float *out, int ldo, const float *in, const g2r_matrix *w,
                                    const float *bias, int T, int n0, int n1, int gelu) {
    int K = w->rows;
    for (int c0 = n0; c0 < n1; c0 += CHUNK) {
        int c1 = n1 - c0 < CHUNK ? n1 : c0 + CHUNK;
        stream_slice(dt, out + c0, ldo, in, w, T, 0, K < G2R_KSLICE ? K : G2R_KSLICE, c0, c1);
        for (int k0 = G2R_KSLICE; k0 < K; k0 += G2R_KSLICE) {
            stream_slice(dt, tmp, CHUNK, in, w, T, k0, K - k0 < G2R_KSLICE ? K : k0 + G2R_KSLICE, c0, c1);
            for (int t = 0; t < T; t++)
                for (int n = c0; n < c1; n += 8) {
                    int cnt = clamp8(c1 - n);
                    float *o = out + (size_t)t * ldo + n;
                    st(o, cnt, _mm256_add_ps(ld(o, cnt), ld(tmp + (size_t)t * CHUNK + (n - c0), cnt)));
                }
        }
        sum_parts(out, ldo, out, 0, 1, bias, T, c0, c1, gelu); /* one part: bias and act */
    }
}

/* Many rows (prefill): MR x NR = 6 x 16 accumulators (12 of the 16 registers)
 * over a KC x NR tile of widened weights kept in L1. */
#define MR 6
#define NR 16
#define KC G2R_KSLICE /* one k block is one slice of the sum */

static _Thread_local float tile[KC * NR] __attribute__((aligned(64)));

static ALWAYS_INLINE void pack_tile(g2r_dtype dt, const g2r_matrix *w, int k0, int kc, int n, const int cnt[2]) {
    for (int k = 0; k < kc; k++) {
        wrow row = w_row(w, dt, k0 + k);
        float *t = tile + k * NR;
        if (cnt[1] == 8) {
            _mm256_store_ps(t, w_load(w, dt, row, n, 8));
            _mm256_store_ps(t + 8, w_load(w, dt, row, n + 8, 8));
        } else {
            _mm256_store_ps(t, w_load(w, dt, row, n, cnt[0]));
            _mm256_store_ps(t + 8, cnt[1] ? w_load(w, dt, row, n + 8, cnt[1]) : _mm256_setzero_ps());
        }
    }
}

/* One slice: out[m rows][NR] = (add ? out : 0) + in[m rows][kc] * tile, the
 * slice's sum from zero in registers; last: then bias + GELU. */
static ALWAYS_INLINE void micro(int m, float *out, int ldo, const float *a, int lda, int kc, const int cnt[2],
                                int add, int last, const float *bias, int n, int gelu) {
    __m256 acc[MR][2];
#pragma GCC unroll 6
    for (int i = 0; i < m; i++)
#pragma GCC unroll 2
        for (int j = 0; j < 2; j++) acc[i][j] = _mm256_setzero_ps();
    for (int k = 0; k < kc; k++) {
        __m256 b0 = _mm256_load_ps(tile + k * NR), b1 = _mm256_load_ps(tile + k * NR + 8);
#pragma GCC unroll 6
        for (int i = 0; i < m; i++) {
            __m256 x = _mm256_broadcast_ss(a + (size_t)i * lda + k);
            acc[i][0] = _mm256_fmadd_ps(x, b0, acc[i][0]);
            acc[i][1] = _mm256_fmadd_ps(x, b1, acc[i][1]);
        }
    }
#pragma GCC unroll 6
    for (int i = 0; i < m; i++)
#pragma GCC unroll 2
        for (int j = 0; j < 2; j++) {
            if (!cnt[j]) continue;
            float *o = out + (size_t)i * ldo + 8 * j;
            __m256 v = add ? _mm256_add_ps(ld(o, cnt[j]), acc[i][j]) : acc[i][j];
            st(o, cnt[j], last ? finish(v, bias, n + 8 * j, cnt[j], gelu) : v);
        }
}

static void micro_m(int m, float *out, int ldo, const float *a, int lda, int kc, const int cnt[2], int add, int last,
                    const float *bias, int n, int gelu) {
    switch (m) {
    case 6: micro(6, out, ldo, a, lda, kc, cnt, add, last, bias, n, gelu); break;
    case 5: micro(5, out, ldo, a, lda, kc, cnt, add, last, bias, n, gelu); break;
    case 4: micro(4, out, ldo, a, lda, kc, cnt, add, last, bias, n, gelu); break;
    case 3: micro(3, out, ldo, a, lda, kc, cnt, add, last, bias, n, gelu); break;
    case 2: micro(2, out, ldo, a, lda, kc, cnt, add, last, bias, n, gelu); break;
    default: micro(1, out, ldo, a, lda, kc, cnt, add, last, bias, n, gelu); break;
    }
}

static ALWAYS_INLINE void mm_tiled(g2r_dtype dt, float *out, int ldo, const float *in, const g2r_matrix *w,
                                   const float *bias, int T, int n0, int n1, int gelu) {
    int K = w->rows;
    for (int n = n0; n < n1; n += NR) {
        int cnt[2] = {clamp8(n1 - n), clamp8(n1 - n - 8)};
        for (int k0 = 0; k0 < K; k0 += KC) {
            int kc = K - k0 < KC ? K - k0 : KC;
            pack_tile(dt, w, k0, kc, n, cnt);
            for (int t = 0; t < T; t += MR)
                micro_m(T - t < MR ? T - t : MR, out + (size_t)t * ldo + n, ldo, in + (size_t)t * K + k0, K, kc, cnt,
                        k0 > 0, k0 + kc == K, bias, n, gelu);
        }
    }
}

static ALWAYS_INLINE void mm(g2r_dtype dt, float *out, int ldo, const float *in, const g2r_matrix *w, const float *bias,
                             int T, int n0, int n1, int gelu) {
    /* Both paths compute each column identically, so this choice never changes the result. */
    if (T >= 4) mm_tiled(dt, out, ldo, in, w, bias, T, n0, n1, gelu);
    else mm_stream(dt, out, ldo, in, w, bias, T, n0, n1, gelu);
}

static void mm_f32(float *o, int ldo, const float *in, const g2r_matrix *w, const float *b, int T, int n0, int n1, int g) {
    mm(G2R_DT_F32, o, ldo, in, w, b, T, n0, n1, g);
}
static void mm_f16(float *o, int ldo, const float *in, const g2r_matrix *w, const float *b, int T, int n0, int n1, int g) {
    mm(G2R_DT_F16, o, ldo, in, w, b, T, n0, n1, g);
}
static void mm_bf16(float *o, int ldo, const float *in, const g2r_matrix *w, const float *b, int T, int n0, int n1, int g) {
    mm(G2R_DT_BF16, o, ldo, in, w, b, T, n0, n1, g);
}
static void mm_q8(float *o, int ldo, const float *in, const g2r_matrix *w, const float *b, int T, int n0, int n1, int g) {
    mm(G2R_DT_Q8, o, ldo, in, w, b, T, n0, n1, g);
}

/* Q8 in the rows layout: int8 products (q8_avx2.c), then the shared epilogue;
 * shapes q8_avx2.c does not cover take their sums from the scalar reference
 * (same bits), and this table's epilogue, as matmul_sum does. */
static void mm_q8_int(float *out, int ldo, const float *in, const g2r_matrix *w, const float *bias, int T, int n0,
                      int n1, int gelu) {
    if (!g2r_q8_matmul_avx2(out, ldo, in, w, bias, T, n0, n1, gelu))
        g2r_kernels_scalar()->matmul(out, ldo, in, w, NULL, T, n0, n1, 0); /* the sums; the epilogue is ours */
    for (int t = 0; t < T; t++)
        for (int n = n0; n < n1; n += 8) {
            int c = clamp8(n1 - n);
            float *o = out + (size_t)t * ldo + n;
            st(o, c, finish(ld(o, c), bias, n, c, gelu));
        }
}

static void matmul(float *out, int ldo, const float *in, const g2r_matrix *w, const float *bias, int T, int n0, int n1,
                   int gelu) {
    if (T <= 0 || n1 <= n0) return;
    if (w->dtype == G2R_DT_Q8 && w->q8_layout == G2R_Q8_GROUP_ROWS) {
        mm_q8_int(out, ldo, in, w, bias, T, n0, n1, gelu);
        return;
    }
    switch (w->dtype) {
    case G2R_DT_F32: mm_f32(out, ldo, in, w, bias, T, n0, n1, gelu); break;
    case G2R_DT_F16: mm_f16(out, ldo, in, w, bias, T, n0, n1, gelu); break;
    case G2R_DT_BF16: mm_bf16(out, ldo, in, w, bias, T, n0, n1, gelu); break;
    case G2R_DT_Q8: mm_q8(out, ldo, in, w, bias, T, n0, n1, gelu); break;
    }
}

/* Slice s of a float-widened matrix: rows [s*KSLICE, ...) streamed once. */
static void slice_dt(g2r_dtype dt, float *part, int ldo, const float *in, const g2r_matrix *w, int T, int n0, int n1,
                     int s) {
    int k0 = s * G2R_KSLICE, k1 = w->rows - k0 < G2R_KSLICE ? w->rows : k0 + G2R_KSLICE;
    switch (dt) { /* one inlined copy per dtype */
    case G2R_DT_F32: stream_slice(G2R_DT_F32, part, ldo, in, w, T, k0, k1, n0, n1); break;
    case G2R_DT_F16: stream_slice(G2R_DT_F16, part, ldo, in, w, T, k0, k1, n0, n1); break;
    case G2R_DT_BF16: stream_slice(G2R_DT_BF16, part, ldo, in, w, T, k0, k1, n0, n1); break;
    case G2R_DT_Q8: stream_slice(G2R_DT_Q8, part, ldo, in, w, T, k0, k1, n0, n1); break;
    }
}

static void matmul_slices(float *part, int ldo, size_t stride, const float *in, const g2r_matrix *w, int T, int n0,
                          int n1, int s0, int s1) {
    if (T <= 0 || n1 <= n0 || s1 <= s0) return;
    if (w->dtype == G2R_DT_Q8 && w->q8_layout == G2R_Q8_GROUP_ROWS) {
        if (!g2r_q8_slices_avx2(part, ldo, stride, in, w, T, n0, n1, s0, s1))
            g2r_kernels_scalar()->matmul_slices(part, ldo, stride, in, w, T, n0, n1, s0, s1);
        return;
    }
    for (int s = s0; s < s1; s++) slice_dt(w->dtype, part + (size_t)(s - s0) * stride + n0, ldo, in, w, T, n0, n1, s);
}

static void matmul_sum(float *out, int ldo, const float *part, size_t stride, int n_part, const float *bias, int T,
                       int n0, int n1, int gelu) {
    if (T <= 0 || n1 <= n0 || n_part <= 0) return;
    sum_parts(out, ldo, part, stride, n_part, bias, T, n0, n1, gelu);
}

/* --------------------------------------------------------------- matmul_nt */

#define NT_ROWS 64 /* input rows per pass over the weights: keeps them in L2 */

static ALWAYS_INLINE void nt_step(g2r_dtype dt, int NT, int NV, __m256 acc[2][8], const g2r_matrix *w,
                                  const wrow *rows, const float *const *x, int k, int cnt) {
    __m256 xv[2];
#pragma GCC unroll 2
    for (int j = 0; j < NT; j++) xv[j] = ld(x[j] + k, cnt);
#pragma GCC unroll 8
    for (int i = 0; i < NV; i++) {
        __m256 wv = w_load(w, dt, rows[i], k, cnt);
#pragma GCC unroll 2
        for (int j = 0; j < NT; j++) acc[j][i] = _mm256_fmadd_ps(xv[j], wv, acc[j][i]);
    }
}

/* NT input rows x NV weight rows of dot products; rows past the end are clamped (computed, not stored). */
static ALWAYS_INLINE void nt_block(g2r_dtype dt, int NT, int NV, float *out, int ldo, const float *in,
                                   const g2r_matrix *w, int t, int nt, int v, int nv) {
    int K = w->cols;
    wrow rows[8];
    const float *x[2];
#pragma GCC unroll 8
    for (int i = 0; i < NV; i++) rows[i] = w_row(w, dt, v + (i < nv ? i : nv - 1));
#pragma GCC unroll 2
    for (int j = 0; j < NT; j++) x[j] = in + (size_t)(t + (j < nt ? j : nt - 1)) * K;
    __m256 acc[2][8];
#pragma GCC unroll 2
    for (int j = 0; j < NT; j++)
#pragma GCC unroll 8
        for (int i = 0; i < NV; i++) acc[j][i] = _mm256_setzero_ps();
    int k = 0;
    for (; k + 8 <= K; k += 8) nt_step(dt, NT, NV, acc, w, rows, x, k, 8);
    if (k < K) nt_step(dt, NT, NV, acc, w, rows, x, k, K - k);
#pragma GCC unroll 2
    for (int j = 0; j < NT && j < nt; j++)
#pragma GCC unroll 2
        for (int i = 0; i < NV; i += 4) {
            float s[4];
            _mm_storeu_ps(s, hsum4(acc[j][i], acc[j][i + 1], acc[j][i + 2], acc[j][i + 3]));
            for (int l = 0; l < 4 && i + l < nv; l++) out[(size_t)(t + j) * ldo + v + i + l] = s[l];
        }
}

static ALWAYS_INLINE void nt(g2r_dtype dt, float *out, int ldo, const float *in, const g2r_matrix *w, int T, int v0,
                             int v1) {
    if (T == 1) { /* decode: one input row against 8 weight rows at a time */
        for (int v = v0; v < v1; v += 8) nt_block(dt, 1, 8, out, 0, in, w, 0, 1, v, v1 - v < 8 ? v1 - v : 8);
        return;
    }
    for (int tc = 0; tc < T; tc += NT_ROWS) {
        int tn = T - tc < NT_ROWS ? T - tc : NT_ROWS;
        for (int v = v0; v < v1; v += 4) {
            int nv = v1 - v < 4 ? v1 - v : 4;
            int t = tc;
            for (; t + 2 <= tc + tn; t += 2) nt_block(dt, 2, 4, out, ldo, in, w, t, 2, v, nv);
            for (; t < tc + tn; t++) nt_block(dt, 1, 4, out, ldo, in, w, t, 1, v, nv);
        }
    }
}

static void nt_f32(float *o, int ldo, const float *in, const g2r_matrix *w, int T, int v0, int v1) {
    nt(G2R_DT_F32, o, ldo, in, w, T, v0, v1);
}
static void nt_f16(float *o, int ldo, const float *in, const g2r_matrix *w, int T, int v0, int v1) {
    nt(G2R_DT_F16, o, ldo, in, w, T, v0, v1);
}
static void nt_bf16(float *o, int ldo, const float *in, const g2r_matrix *w, int T, int v0, int v1) {
    nt(G2R_DT_BF16, o, ldo, in, w, T, v0, v1);
}
static void nt_q8(float *o, int ldo, const float *in, const g2r_matrix *w, int T, int v0, int v1) {
    nt(G2R_DT_Q8, o, ldo, in, w, T, v0, v1);
}

static void matmul_nt(float *out, int ldo, const float *in, const g2r_matrix *w, int T, int v0, int v1) {
    if (T <= 0 || v1 <= v0) return;
    if (w->dtype == G2R_DT_Q8 && w->q8_layout == G2R_Q8_GROUP_COLS) {
        /* int8 products (q8_avx2.c), or the scalar reference's same bits */
        if (!g2r_q8_matmul_nt_avx2(out, ldo, in, w, T, v0, v1)) g2r_kernels_scalar()->matmul_nt(out, ldo, in, w, T, v0, v1);
        return;
    }
    switch (w->dtype) {
    case G2R_DT_F32: nt_f32(out, ldo, in, w, T, v0, v1); break;
    case G2R_DT_F16: nt_f16(out, ldo, in, w, T, v0, v1); break;
    case G2R_DT_BF16: nt_bf16(out, ldo, in, w, T, v0, v1); break;
    case G2R_DT_Q8: nt_q8(out, ldo, in, w, T, v0, v1); break;
    }
}

/* ------------------------------------------------------------- the others */

static void layernorm(float *out, const float *in, const float *g, const float *b, int T, int C) {
    for (int t = 0; t < T; t++) {
        const float *x = in + (size_t)t * C;
        float *o = out + (size_t)t * C;
        __m256 s = _mm256_setzero_ps();
        for (int i = 0; i < C; i += 8) s = _mm256_add_ps(s, ld(x + i, clamp8(C - i)));
        __m256 mean = _mm256_set1_ps(hsum(s) / (float)C);
        __m256 v = _mm256_setzero_ps();
        for (int i = 0; i < C; i += 8) {
            int cnt = clamp8(C - i);
            __m256 d = _mm256_and_ps(_mm256_sub_ps(ld(x + i, cnt), mean), _mm256_castsi256_ps(lane_mask(cnt)));
            v = _mm256_fmadd_ps(d, d, v);
        }
        __m256 rstd = _mm256_set1_ps(1.0f / sqrtf(hsum(v) / (float)C + 1e-5f));
        for (int i = 0; i < C; i += 8) {
            int cnt = clamp8(C - i);
            __m256 d = _mm256_mul_ps(_mm256_sub_ps(ld(x + i, cnt), mean), rstd);
            st(o + i, cnt, _mm256_fmadd_ps(d, ld(g + i, cnt), ld(b + i, cnt)));
        }
    }
}

/* Keys and values in two runs: positions [0, n1) at k1/v1, then [n1, n) at k2/v2
 * (a shared prefix, then a sequence's own positions), stride floats apart. */
typedef struct {
    const float *k1, *v1, *k2, *v2;
    int n1;
    size_t stride;
} kv_runs;

static ALWAYS_INLINE const float *key_at(const kv_runs *r, int j) {
    return j < r->n1 ? r->k1 + (size_t)j * r->stride : r->k2 + (size_t)(j - r->n1) * r->stride;
}
static ALWAYS_INLINE const float *val_at(const kv_runs *r, int j) {
    return j < r->n1 ? r->v1 + (size_t)j * r->stride : r->v2 + (size_t)(j - r->n1) * r->stride;
}

static ALWAYS_INLINE __m256 dot_chain(const float *q, const float *k, int hd) {
    __m256 acc = _mm256_setzero_ps();
    int d = 0;
#pragma GCC unroll 8
    for (; d + 8 <= hd; d += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(q + d), _mm256_loadu_ps(k + d), acc);
    if (d < hd) acc = _mm256_fmadd_ps(ld(q + d, hd - d), ld(k + d, hd - d), acc);
    return acc;
}

/* out = sum_j p[j] v_j for hd <= 8*NV, accumulators in registers. */
static ALWAYS_INLINE void pv_regs(int NV, float *out, const float *p, const kv_runs *r, int n_kv, int hd) {
    __m256 a[8];
    int cnt[8];
#pragma GCC unroll 8
    for (int i = 0; i < NV; i++) {
        a[i] = _mm256_setzero_ps();
        cnt[i] = clamp8(hd - 8 * i);
    }
    for (int j = 0; j < n_kv; j++) {
        const float *vj = val_at(r, j);
        __m256 pj = _mm256_set1_ps(p[j]);
#pragma GCC unroll 8
        for (int i = 0; i < NV; i++) a[i] = _mm256_fmadd_ps(pj, ld(vj + 8 * i, cnt[i]), a[i]);
    }
#pragma GCC unroll 8
    for (int i = 0; i < NV; i++) st(out + 8 * i, cnt[i], a[i]);
}

static ALWAYS_INLINE void attend_impl(float *out, const float *q, const float *k1, const float *v1, int n1,
                                     const float *k2, const float *v2, int n2, int hd, size_t stride, float *scratch) {
    kv_runs runs = {k1, v1, k2, v2, n1, stride};
    const kv_runs *r = &runs;
    int n_kv = n1 + n2;
    float scale = 1.0f / sqrtf((float)hd);
    int j = 0;
    for (; j + 4 <= n_kv; j += 4) {
        __m128 s = hsum4(dot_chain(q, key_at(r, j), hd), dot_chain(q, key_at(r, j + 1), hd),
                         dot_chain(q, key_at(r, j + 2), hd), dot_chain(q, key_at(r, j + 3), hd));
        _mm_storeu_ps(scratch + j, _mm_mul_ps(s, _mm_set1_ps(scale)));
    }
    for (; j < n_kv; j++) scratch[j] = hsum(dot_chain(q, key_at(r, j), hd)) * scale;
    /* softmax; lanes past n_kv count as -inf for the max and 0 for the sum */
    __m256 ninf = _mm256_set1_ps(-INFINITY), mx = ninf;
    for (j = 0; j < n_kv; j += 8) {
        int cnt = clamp8(n_kv - j);
        mx = _mm256_max_ps(mx, _mm256_blendv_ps(ninf, ld(scratch + j, cnt), _mm256_castsi256_ps(lane_mask(cnt))));
    }
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    __m256 vmax = _mm256_set1_ps(_mm_cvtss_f32(_mm_max_ss(m4, _mm_shuffle_ps(m4, m4, 1))));
    __m256 sum = _mm256_setzero_ps();
    for (j = 0; j < n_kv; j += 8) {
        int cnt = clamp8(n_kv - j);
        __m256 e = _mm256_and_ps(exp8(_mm256_sub_ps(ld(scratch + j, cnt), vmax)), _mm256_castsi256_ps(lane_mask(cnt)));
        st(scratch + j, cnt, e);
        sum = _mm256_add_ps(sum, e);
    }
    __m256 inv = _mm256_set1_ps(1.0f / hsum(sum));
    for (j = 0; j < n_kv; j += 8) {
        int cnt = clamp8(n_kv - j);
        st(scratch + j, cnt, _mm256_mul_ps(ld(scratch + j, cnt), inv));
    }
    if (hd <= 16) pv_regs(2, out, scratch, r, n_kv, hd);
    else if (hd <= 32) pv_regs(4, out, scratch, r, n_kv, hd);
    else if (hd <= 64) pv_regs(8, out, scratch, r, n_kv, hd);
    else {
        for (int d = 0; d < hd; d += 8) st(out + d, clamp8(hd - d), _mm256_setzero_ps());
        for (j = 0; j < n_kv; j++) {
            const float *vj = val_at(r, j);
            __m256 p = _mm256_set1_ps(scratch[j]);
            for (int d = 0; d < hd; d += 8) {
                int cnt = clamp8(hd - d);
                st(out + d, cnt, _mm256_fmadd_ps(p, ld(vj + d, cnt), ld(out + d, cnt)));
            }
        }
    }
}

/* GPT-2's heads are all 64 wide: a copy of the code for that width, unrolled, without masks. */
static void attend2(float *out, const float *q, const float *k1, const float *v1, int n1, const float *k2,
                    const float *v2, int n2, int hd, size_t stride, float *scratch) {
    if (hd == 64) attend_impl(out, q, k1, v1, n1, k2, v2, n2, 64, stride, scratch);
    else attend_impl(out, q, k1, v1, n1, k2, v2, n2, hd, stride, scratch);
}

/* One run: the same arithmetic as attend2 with n2 = 0. */
static void attend(float *out, const float *q, const float *k, const float *v, int n_kv, int hd, size_t stride,
                   float *scratch) {
    attend2(out, q, k, v, n_kv, k, v, 0, hd, stride, scratch);
}

static void row(float *out, const g2r_matrix *w, int r) {
    wrow rw = w_row(w, w->dtype, r);
    for (int c = 0; c < w->cols; c += 8) {
        int cnt = clamp8(w->cols - c);
        st(out + c, cnt, w_load(w, w->dtype, rw, c, cnt));
    }
}

static const g2r_kernels table = {
    .name = "avx2",
    .kind = G2R_KERNELS_AVX2,
    .matmul = matmul,
    .matmul_slices = matmul_slices,
    .matmul_sum = matmul_sum,
    .matmul_nt = matmul_nt,
    .layernorm = layernorm,
    .attend = attend,
    .attend2 = attend2,
    .row = row,
    .pack = NULL,
};

const g2r_kernels *g2r_kernels_avx2(void) { return &table; }

#else
const g2r_kernels *g2r_kernels_avx2(void) { return NULL; }
#endif
