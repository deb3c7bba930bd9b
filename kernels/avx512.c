/* avx512.c — AVX-512 kernels: 16 floats per register.
 *
 * Same functions as scalar.c.  Two rules make the results independent of how
 * the engine splits the work:
 *   - every output column is one FMA chain over k = 0..K-1 in order, started
 *     from 0, then + bias, then GELU — whatever tile, range or batch size it
 *     is computed in (so a column gives the same bits for any [n0, n1), any T
 *     and any thread count);
 *   - dot products (matmul_nt, attention scores) keep one 16-lane chain per
 *     output and reduce it with one fixed tree (hsum).
 * Weights are read where they lie (the mmap'd file): F16, BF16 and Q8 are
 * widened 16 at a time, in registers or into a small per-thread tile. */
#include "kernels/kernels.h"
#include "kernels/q8.h"
#include "kernels/wrow.h"

/* Built with this ISA's flags (the Makefile gives them to files named for it);
 * elsewhere the table is absent and the dispatcher falls back. */
#if defined(__AVX512F__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels/prefetch.h"

#define ALWAYS_INLINE inline __attribute__((always_inline))

/* Lanes [0, n) of 16 (n may be <= 0 or >= 16). */
static ALWAYS_INLINE __mmask16 lanes(int n) {
    if (n <= 0) return 0;
    return n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1u);
}

/* Loads and stores of lanes m: plain instructions when m is all 16 (masked
 * stores are slow on some CPUs and block store-to-load forwarding). */
static ALWAYS_INLINE __m512 ld(const float *p, __mmask16 m) {
    return m == 0xffff ? _mm512_loadu_ps(p) : _mm512_maskz_loadu_ps(m, p);
}
static ALWAYS_INLINE void st(float *p, __mmask16 m, __m512 v) {
    if (m == 0xffff) _mm512_storeu_ps(p, v);
    else _mm512_mask_storeu_ps(p, m, v);
}

/* The one reduction tree for 16 lanes: 512 -> 256 -> 128, then (b0+b2)+(b1+b3). */
static ALWAYS_INLINE __m128 fold128(__m512 v) {
    __m256 a = _mm256_add_ps(_mm512_castps512_ps256(v), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
    return _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
}

static ALWAYS_INLINE float hsum(__m512 v) {
    __m128 b = fold128(v);
    __m128 c = _mm_add_ps(b, _mm_movehl_ps(b, b));
    return _mm_cvtss_f32(_mm_add_ss(c, _mm_shuffle_ps(c, c, 1)));
}

/* Four hsum()s at once, lane i = hsum(vi), bit-for-bit. */
static ALWAYS_INLINE __m128 hsum4(__m512 v0, __m512 v1, __m512 v2, __m512 v3) {
    __m128 r0 = fold128(v0), r1 = fold128(v1), r2 = fold128(v2), r3 = fold128(v3);
    _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
    return _mm_add_ps(_mm_add_ps(r0, r2), _mm_add_ps(r1, r3));
}

/* e^x, Cephes' polynomial on [-ln2/2, ln2/2]; about 2 ulp.  x is clamped so
 * the result stays a normal float (e^-87.3 ~ 1.2e-38, e^88.4 ~ 2.4e38). */
static ALWAYS_INLINE __m512 exp16(__m512 x) {
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.33654f)), _mm512_set1_ps(88.3762626647949f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r);
    p = _mm512_add_ps(p, _mm512_set1_ps(1.0f));
    __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
    return _mm512_mul_ps(p, _mm512_castsi512_ps(e));
}

/* GELU, tanh form: 0.5 x (1 + tanh(u)) = x / (1 + e^(-2u)), u = sqrt(2/pi) (x + 0.044715 x^3).
 * The sigmoid form has no cancellation, so it is as accurate as exp16. */
static ALWAYS_INLINE __m512 gelu16(__m512 x) {
    __m512 x2 = _mm512_mul_ps(x, x);
    __m512 u = _mm512_mul_ps(_mm512_mul_ps(x, _mm512_set1_ps(0.7978845608028654f)),
                             _mm512_fmadd_ps(x2, _mm512_set1_ps(0.044715f), _mm512_set1_ps(1.0f)));
    __m512 e = exp16(_mm512_mul_ps(u, _mm512_set1_ps(-2.0f)));
    return _mm512_div_ps(x, _mm512_add_ps(e, _mm512_set1_ps(1.0f)));
}

/* ------------------------------------------------------------ weight loads */

/* Cols layout with groups that split a 16-lane chunk: one scale per lane. */
static __attribute__((noinline)) __m512 q8_scales_split(const float *s, int g, int c, __mmask16 m) {
    float v[16];
    for (int i = 0; i < 16; i++) v[i] = (m >> i) & 1 ? s[(c + i) / g] : 0.0f;
    return _mm512_loadu_ps(v);
}

/* Scales of columns [c, c+16) of a Q8 row (lanes outside m: 0). */
static ALWAYS_INLINE __m512 q8_scales(const g2r_matrix *w, wrow row, int c, __mmask16 m) {
    if (w->q8_layout == G2R_Q8_GROUP_ROWS) return ld(row.scale + c, m);
    int g = w->group;
    if (!m) return _mm512_setzero_ps(); /* c may be past the row */
    if (c / g == (c + 15) / g) return _mm512_set1_ps(row.scale[c / g]);
    return q8_scales_split(row.scale, g, c, m);
}

/* 16 halves (F16 or BF16 bits) from element c. */
static ALWAYS_INLINE __m256i half16(const void *q, int c, __mmask16 m) {
    const uint16_t *p = (const uint16_t *)q + c;
    return m == 0xffff ? _mm256_loadu_si256((const __m256i *)p) : _mm256_maskz_loadu_epi16(m, p);
}

/* Elements [c, c+16) of a row as floats, exactly as scalar.c's elem() gives them
 * (lanes outside m read as 0 and touch no memory). */
static ALWAYS_INLINE __m512 w_load(const g2r_matrix *w, g2r_dtype dt, wrow row, int c, __mmask16 m) {
    switch (dt) {
    case G2R_DT_F32: return ld((const float *)row.q + c, m);
    case G2R_DT_F16: return _mm512_cvtph_ps(half16(row.q, c, m));
    case G2R_DT_BF16: return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(half16(row.q, c, m)), 16));
    case G2R_DT_Q8: {
        const int8_t *p = (const int8_t *)row.q + c;
        __m128i b = m == 0xffff ? _mm_loadu_si128((const __m128i *)p) : _mm_maskz_loadu_epi8(m, p);
        __m512i q = _mm512_cvtepi8_epi32(b);
        return _mm512_mul_ps(_mm512_cvtepi32_ps(q), q8_scales(w, row, c, m));
    }
    }
    return _mm512_setzero_ps();
}

/* bias[n..n+16) + acc, then GELU if asked: the epilogue every matmul path shares. */
static ALWAYS_INLINE __m512 finish(__m512 acc, const float *bias, int n, __mmask16 m, int gelu) {
    __m512 b = bias ? ld(bias + n, m) : _mm512_setzero_ps();
    __m512 v = _mm512_add_ps(acc, b);
    return gelu ? gelu16(v) : v;
}

/* ------------------------------------------------------------------ matmul */

/* Few rows (decode): stream the weights once, accumulating in out itself (it
 * stays in L1); T <= 3 input rows share each load.
 *
 * F32 (and Q8 widened here) takes R = 4 rows a step: a quarter of the trips
 * through out (F32 one row a step measured slower, with or without
 * prefetches).  16-bit weights for one input row take one row a step, read
 * as one stream and prefetched PF_BYTES ahead (prefetch.h): 4 rows side by
 * side are 4 interleaved streams, and in this VM's fast memory state they
 * read ~12% slower (F16 and BF16 decode, ~20 runs each way; the same in the
 * slow state).  2-3 input rows keep 4 rows a step: one row a step would cost
 * each weight row T trips through out (not measured: the bench decodes one
 * sequence). */
#define PF_BYTES 16384

static ALWAYS_INLINE void stream_vec(g2r_dtype dt, int T, int R, float *out, int ldo, const g2r_matrix *w,
                                     const wrow *rows, int n, int n0, __mmask16 m, __m512 x[3][4], g2r_pf_cursor *pc) {
    __m512 wv[4];
    size_t es = g2r_dtype_size(dt);
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
        if (dt != G2R_DT_F32 && ((size_t)n * es) % 64 == 0) g2r_pf_next(pc);
        wv[r] = w_load(w, dt, rows[r], n, m);
    }
#pragma GCC unroll 3
    for (int t = 0; t < T; t++) {
        float *o = out + (size_t)t * ldo + (n - n0);
        __m512 acc = ld(o, m);
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) acc = _mm512_fmadd_ps(x[t][r], wv[r], acc);
        st(o, m, acc);
    }
}

static ALWAYS_INLINE void stream_rows(g2r_dtype dt, int T, int R, float *out, int ldo, const float *in,
                                      const g2r_matrix *w, int k, int n0, int n1, int ahead) {
    int K = w->rows, nf = n0 + ((n1 - n0) & ~15); /* [n0, nf): whole vectors */
    size_t es = g2r_dtype_size(dt), stride = (size_t)w->cols * es;
    g2r_pf_cursor pc = {(const char *)w->data + (size_t)(k + ahead) * stride + (size_t)n0 * es, stride, 0,
                    (int)(((size_t)(n1 - n0) * es + 63) & ~(size_t)63)};
    wrow rows[4];
    __m512 x[3][4];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
        rows[r] = w_row(w, dt, k + r);
#pragma GCC unroll 3
        for (int t = 0; t < T; t++) x[t][r] = _mm512_set1_ps(in[(size_t)t * K + k + r]);
    }
    for (int n = n0; n < nf; n += 16) stream_vec(dt, T, R, out, ldo, w, rows, n, n0, 0xffff, x, &pc);
    if (nf < n1) stream_vec(dt, T, R, out, ldo, w, rows, nf, n0, lanes(n1 - nf), x, &pc);
}

/* out[t*ldo + n - n0] = the sum over rows [k0, k1), from zero in k order, for T <= 3 input rows. */
static ALWAYS_INLINE void stream_slice_t(g2r_dtype dt, int T, float *out, int ldo, const float *in,
                                         const g2r_matrix *w, int k0, int k1, int n0, int n1) {
    for (int t = 0; t < T; t++)
        for (int n = 0; n < n1 - n0; n += 16) st(out + (size_t)t * ldo + n, lanes(n1 - n0 - n), _mm512_setzero_ps());
    int run = (int)((size_t)(n1 - n0) * g2r_dtype_size(dt)), ahead = (PF_BYTES / run + 3) & ~3; /* rows */
    if (ahead < 4) ahead = 4;
    int k = k0;
    int one_row = T == 1 && (dt == G2R_DT_F16 || dt == G2R_DT_BF16);
    if (!one_row)
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
        for (int n = n0; n < n1; n += 16) {
            __mmask16 m = lanes(n1 - n);
            const float *p = part + (size_t)t * ldo + n;
            __m512 acc = ld(p, m);
            for (int s = 1; s < n_part; s++) acc = _mm512_add_ps(acc, ld(p + (size_t)s * stride, m));
            st(out + (size_t)t * ldo + n, m, finish(acc, bias, n, m, gelu));
        }
}

/* Few rows (decode) in one call: slice 0 into out, each later slice into
 * tmp and added, CHUNK columns at a time so tmp stays small. */
#define CHUNK 1024
static _Thread_local float tmp[3 * CHUNK] __attribute__((aligned(64)));

static ALWAYS_INLINE void mm_stream(g2r_dtype dt, float *out, int ldo, const float *in, const g2r_matrix *w,
                                    const float *bias, int T, int n0, int n1, int gelu) {
    int K = w->rows;
    for (int c0 = n0; c0 < n1; c0 += CHUNK) {
        int c1 = n1 - c0 < CHUNK ? n1 : c0 + CHUNK;
        stream_slice(dt, out + c0, ldo, in, w, T, 0, K < G2R_KSLICE ? K : G2R_KSLICE, c0, c1);
        for (int k0 = G2R_KSLICE; k0 < K; k0 += G2R_KSLICE) {
            stream_slice(dt, tmp, CHUNK, in, w, T, k0, K - k0 < G2R_KSLICE ? K : k0 + G2R_KSLICE, c0, c1);
            for (int t = 0; t < T; t++)
                for (int n = c0; n < c1; n += 16) {
                    __mmask16 m = lanes(c1 - n);
                    float *o = out + (size_t)t * ldo + n;
                    st(o, m, _mm512_add_ps(ld(o, m), ld(tmp + (size_t)t * CHUNK + (n - c0), m)));
                }
        }
        sum_parts(out, ldo, out, 0, 1, bias, T, c0, c1, gelu); /* one part: bias and act */
    }
}

/* Many rows (prefill): a register-tiled micro-kernel.  A tile of KC x NR weights
 * is widened into a per-thread buffer (stays in L1), then every MR-row block of
 * the input runs over it with MR x NR accumulators in registers: 6 x 64 = 24
 * of the 32 registers; each k step is 4 loads and 6 broadcasts for 24 FMAs.
 * NR = 64 matches the engine's column blocks. */
#define MR 6
#define NR 64
#define TV (NR / 16) /* vectors per tile row */
#define KC G2R_KSLICE /* one k block is one slice of the sum */

static _Thread_local float tile[KC * NR] __attribute__((aligned(64)));

static ALWAYS_INLINE void pack_tile(g2r_dtype dt, const g2r_matrix *w, int k0, int kc, int n, const __mmask16 mk[TV]) {
    int full = mk[TV - 1] == 0xffff;
    for (int k = 0; k < kc; k++) {
        wrow row = w_row(w, dt, k0 + k);
        float *t = tile + k * NR;
        if (full) {
#pragma GCC unroll 4
            for (int j = 0; j < TV; j++) _mm512_store_ps(t + 16 * j, w_load(w, dt, row, n + 16 * j, 0xffff));
        } else {
            for (int j = 0; j < TV; j++) _mm512_store_ps(t + 16 * j, w_load(w, dt, row, n + 16 * j, mk[j]));
        }
    }
}

/* One slice: out[m rows][NR] = (add ? out : 0) + in[m rows][kc] * tile, the
 * slice's sum from zero in registers; last: then bias + GELU. */
static ALWAYS_INLINE void micro(int m, float *out, int ldo, const float *a, int lda, int kc, const __mmask16 mk[TV],
                                int add, int last, const float *bias, int n, int gelu) {
    __m512 acc[MR][TV];
#pragma GCC unroll 6
    for (int i = 0; i < m; i++)
#pragma GCC unroll 4
        for (int j = 0; j < TV; j++) acc[i][j] = _mm512_setzero_ps();
    for (int k = 0; k < kc; k++) {
        __m512 b[TV];
#pragma GCC unroll 4
        for (int j = 0; j < TV; j++) b[j] = _mm512_load_ps(tile + k * NR + 16 * j);
#pragma GCC unroll 6
        for (int i = 0; i < m; i++) {
            __m512 x = _mm512_set1_ps(a[(size_t)i * lda + k]);
#pragma GCC unroll 4
            for (int j = 0; j < TV; j++) acc[i][j] = _mm512_fmadd_ps(x, b[j], acc[i][j]);
        }
    }
#pragma GCC unroll 6
    for (int i = 0; i < m; i++)
#pragma GCC unroll 4
        for (int j = 0; j < TV; j++) {
            if (!mk[j]) continue;
            float *o = out + (size_t)i * ldo + 16 * j;
            __m512 v = add ? _mm512_add_ps(ld(o, mk[j]), acc[i][j]) : acc[i][j];
            st(o, mk[j], last ? finish(v, bias, n + 16 * j, mk[j], gelu) : v);
        }
}

/* One micro() per row count, so each has its accumulators in registers. */
static void micro_m(int m, float *out, int ldo, const float *a, int lda, int kc, const __mmask16 mk[TV], int add,
                    int last, const float *bias, int n, int gelu) {
    switch (m) {
    case 6: micro(6, out, ldo, a, lda, kc, mk, add, last, bias, n, gelu); break;
    case 5: micro(5, out, ldo, a, lda, kc, mk, add, last, bias, n, gelu); break;
    case 4: micro(4, out, ldo, a, lda, kc, mk, add, last, bias, n, gelu); break;
    case 3: micro(3, out, ldo, a, lda, kc, mk, add, last, bias, n, gelu); break;
    case 2: micro(2, out, ldo, a, lda, kc, mk, add, last, bias, n, gelu); break;
    default: micro(1, out, ldo, a, lda, kc, mk, add, last, bias, n, gelu); break;
    }
}

static ALWAYS_INLINE void mm_tiled(g2r_dtype dt, float *out, int ldo, const float *in, const g2r_matrix *w,
                                   const float *bias, int T, int n0, int n1, int gelu) {
    int K = w->rows;
    for (int n = n0; n < n1; n += NR) {
        __mmask16 mk[TV];
        for (int j = 0; j < TV; j++) mk[j] = lanes(n1 - n - 16 * j);
        for (int k0 = 0; k0 < K; k0 += KC) {
            int kc = K - k0 < KC ? K - k0 : KC;
            pack_tile(dt, w, k0, kc, n, mk);
            for (int t = 0; t < T; t += MR)
                micro_m(T - t < MR ? T - t : MR, out + (size_t)t * ldo + n, ldo, in + (size_t)t * K + k0, K, kc, mk,
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

/* Q8 in the rows layout: int8 products (q8_avx512.c), then the shared epilogue;
 * shapes q8_avx512.c does not cover take their sums from the scalar reference
 * (same bits), and this table's epilogue, as matmul_sum does. */
static void mm_q8_int(float *out, int ldo, const float *in, const g2r_matrix *w, const float *bias, int T, int n0,
                      int n1, int gelu) {
    if (!g2r_q8_matmul_avx512(out, ldo, in, w, bias, T, n0, n1, gelu))
        g2r_kernels_scalar()->matmul(out, ldo, in, w, NULL, T, n0, n1, 0); /* the sums; the epilogue is ours */
    for (int t = 0; t < T; t++)
        for (int n = n0; n < n1; n += 16) {
            __mmask16 m = lanes(n1 - n);
            float *o = out + (size_t)t * ldo + n;
            st(o, m, finish(ld(o, m), bias, n, m, gelu));
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
        if (!g2r_q8_slices_avx512(part, ldo, stride, in, w, T, n0, n1, s0, s1))
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

/* NT input rows x NV weight rows of dot products, one 16-lane chain each.
 * Rows past the end are clamped to the last one (computed, not stored). */
#define NT_ROWS 64 /* input rows per pass over the weights: keeps them in L2 */

static ALWAYS_INLINE void nt_step(g2r_dtype dt, int NT, int NV, __m512 acc[4][8], const g2r_matrix *w,
                                  const wrow *rows, const float *const *x, int k, __mmask16 m, const char **pf) {
    __m512 wv[8];
    size_t es = g2r_dtype_size(dt);
#pragma GCC unroll 8
    for (int i = 0; i < NV; i++) {
        if (pf && ((size_t)k * es) % 64 == 0) {
            _mm_prefetch(*pf, _MM_HINT_T0);
            *pf += 64;
        }
        wv[i] = w_load(w, dt, rows[i], k, m);
    }
#pragma GCC unroll 4
    for (int j = 0; j < NT; j++) {
        __m512 xv = ld(x[j] + k, m);
#pragma GCC unroll 8
        for (int i = 0; i < NV; i++) acc[j][i] = _mm512_fmadd_ps(xv, wv[i], acc[j][i]);
    }
}

static ALWAYS_INLINE void nt_block(g2r_dtype dt, int NT, int NV, float *out, int ldo, const float *in,
                                   const g2r_matrix *w, int t, int nt, int v, int nv, const char **pf) {
    int K = w->cols;
    wrow rows[8];
    const float *x[4];
#pragma GCC unroll 8
    for (int i = 0; i < NV; i++) rows[i] = w_row(w, dt, v + (i < nv ? i : nv - 1));
#pragma GCC unroll 4
    for (int j = 0; j < NT; j++) x[j] = in + (size_t)(t + (j < nt ? j : nt - 1)) * K;
    __m512 acc[4][8];
#pragma GCC unroll 4
    for (int j = 0; j < NT; j++)
#pragma GCC unroll 8
        for (int i = 0; i < NV; i++) acc[j][i] = _mm512_setzero_ps();
    int k = 0;
    for (; k + 16 <= K; k += 16) nt_step(dt, NT, NV, acc, w, rows, x, k, 0xffff, pf);
    if (k < K) nt_step(dt, NT, NV, acc, w, rows, x, k, lanes(K - k), pf);
#pragma GCC unroll 4
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
    for (int tc = 0; tc < T; tc += NT_ROWS) {
        int tn = T - tc < NT_ROWS ? T - tc : NT_ROWS;
        for (int v = v0; v < v1; v += 4) {
            int nv = v1 - v < 4 ? v1 - v : 4;
            int t = tc;
            for (; t + 4 <= tc + tn; t += 4) nt_block(dt, 4, 4, out, ldo, in, w, t, 4, v, nv, NULL);
            for (; t < tc + tn; t++) nt_block(dt, 1, 4, out, ldo, in, w, t, 1, v, nv, NULL);
        }
    }
}

/* Decode: one input row against 4 weight rows at a time (4 interleaved runs
 * stream better than 8); the hardware prefetcher alone falls behind on
 * interleaved runs, so the rows are prefetched PF_BYTES ahead as one stream,
 * one line for each line loaded (BF16 decode +5%; F32 logits on one thread
 * 73% -> 86% of a one-thread read, whole decode unchanged with memory slow). */
static ALWAYS_INLINE void nt1(g2r_dtype dt, float *out, const float *in, const g2r_matrix *w, int v0, int v1) {
    size_t row = (size_t)w->cols * g2r_dtype_size(dt);
    for (int v = v0; v < v1; v += 4) {
        const char *pf = (const char *)w->data + (size_t)v * row + PF_BYTES;
        nt_block(dt, 1, 4, out, 0, in, w, 0, 1, v, v1 - v < 4 ? v1 - v : 4, &pf);
    }
}

static void nt_f32(float *o, int ldo, const float *in, const g2r_matrix *w, int T, int v0, int v1) {
    if (T == 1) nt1(G2R_DT_F32, o, in, w, v0, v1); else nt(G2R_DT_F32, o, ldo, in, w, T, v0, v1);
}
static void nt_f16(float *o, int ldo, const float *in, const g2r_matrix *w, int T, int v0, int v1) {
    if (T == 1) nt1(G2R_DT_F16, o, in, w, v0, v1); else nt(G2R_DT_F16, o, ldo, in, w, T, v0, v1);
}
static void nt_bf16(float *o, int ldo, const float *in, const g2r_matrix *w, int T, int v0, int v1) {
    if (T == 1) nt1(G2R_DT_BF16, o, in, w, v0, v1); else nt(G2R_DT_BF16, o, ldo, in, w, T, v0, v1);
}
static void nt_q8(float *o, int ldo, const float *in, const g2r_matrix *w, int T, int v0, int v1) {
    if (T == 1) nt1(G2R_DT_Q8, o, in, w, v0, v1); else nt(G2R_DT_Q8, o, ldo, in, w, T, v0, v1);
}

static void matmul_nt(float *out, int ldo, const float *in, const g2r_matrix *w, int T, int v0, int v1) {
    if (T <= 0 || v1 <= v0) return;
    if (w->dtype == G2R_DT_Q8 && w->q8_layout == G2R_Q8_GROUP_COLS) {
        /* int8 products (q8_avx512.c; groups of 32: q8_avx2.c), or the scalar reference's same bits */
        if (!g2r_q8_matmul_nt_avx512(out, ldo, in, w, T, v0, v1) && !g2r_q8_matmul_nt_avx2(out, ldo, in, w, T, v0, v1))
            g2r_kernels_scalar()->matmul_nt(out, ldo, in, w, T, v0, v1);
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
        __m512 s = _mm512_setzero_ps();
        for (int i = 0; i < C; i += 16) s = _mm512_add_ps(s, ld(x + i, lanes(C - i)));
        __m512 mean = _mm512_set1_ps(hsum(s) / (float)C);
        __m512 v = _mm512_setzero_ps();
        for (int i = 0; i < C; i += 16) {
            __mmask16 m = lanes(C - i);
            __m512 d = _mm512_maskz_sub_ps(m, ld(x + i, m), mean);
            v = _mm512_fmadd_ps(d, d, v);
        }
        __m512 rstd = _mm512_set1_ps(1.0f / sqrtf(hsum(v) / (float)C + 1e-5f));
        for (int i = 0; i < C; i += 16) {
            __mmask16 m = lanes(C - i);
            __m512 d = _mm512_mul_ps(_mm512_sub_ps(ld(x + i, m), mean), rstd);
            __m512 r = _mm512_fmadd_ps(d, ld(g + i, m), ld(b + i, m));
            st(o + i, m, r);
        }
    }
}

/* q . k for one key, the chain and tree every score uses. */
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

static ALWAYS_INLINE __m512 dot_chain(const float *q, const float *k, int hd) {
    __m512 acc = _mm512_setzero_ps();
#pragma GCC unroll 4
    for (int d = 0; d < hd; d += 16) {
        __mmask16 m = lanes(hd - d);
        acc = _mm512_fmadd_ps(ld(q + d, m), ld(k + d, m), acc);
    }
    return acc;
}

/* out (+)= sum_j p[j] v_j for hd <= 16*NV, two chains (even, odd j) kept in registers. */
static ALWAYS_INLINE void pv_regs(int NV, float *out, const float *p, const kv_runs *r, int n_kv, int hd) {
    __m512 a[4], b[4];
    __mmask16 m[4];
#pragma GCC unroll 4
    for (int i = 0; i < NV; i++) {
        a[i] = b[i] = _mm512_setzero_ps();
        m[i] = lanes(hd - 16 * i);
    }
    int j = 0;
    for (; j + 2 <= n_kv; j += 2) {
        const float *v0 = val_at(r, j), *v1 = val_at(r, j + 1);
        __m512 p0 = _mm512_set1_ps(p[j]), p1 = _mm512_set1_ps(p[j + 1]);
#pragma GCC unroll 4
        for (int i = 0; i < NV; i++) {
            a[i] = _mm512_fmadd_ps(p0, ld(v0 + 16 * i, m[i]), a[i]);
            b[i] = _mm512_fmadd_ps(p1, ld(v1 + 16 * i, m[i]), b[i]);
        }
    }
    if (j < n_kv) {
        const float *v0 = val_at(r, j);
        __m512 p0 = _mm512_set1_ps(p[j]);
#pragma GCC unroll 4
        for (int i = 0; i < NV; i++) a[i] = _mm512_fmadd_ps(p0, ld(v0 + 16 * i, m[i]), a[i]);
    }
#pragma GCC unroll 4
    for (int i = 0; i < NV; i++) st(out + 16 * i, m[i], _mm512_add_ps(a[i], b[i]));
}

static ALWAYS_INLINE void attend_impl(float *out, const float *q, const float *k1, const float *v1, int n1,
                                     const float *k2, const float *v2, int n2, int hd, size_t stride, float *scratch) {
    kv_runs runs = {k1, v1, k2, v2, n1, stride};
    const kv_runs *r = &runs;
    int n_kv = n1 + n2;
    float scale = 1.0f / sqrtf((float)hd);
    /* scores, four keys per reduction */
    int j = 0;
    for (; j + 4 <= n_kv; j += 4) {
        __m128 s = hsum4(dot_chain(q, key_at(r, j), hd), dot_chain(q, key_at(r, j + 1), hd),
                         dot_chain(q, key_at(r, j + 2), hd), dot_chain(q, key_at(r, j + 3), hd));
        _mm_storeu_ps(scratch + j, _mm_mul_ps(s, _mm_set1_ps(scale)));
    }
    for (; j < n_kv; j++) scratch[j] = hsum(dot_chain(q, key_at(r, j), hd)) * scale;
    /* softmax */
    __m512 mx = _mm512_set1_ps(-INFINITY);
    for (j = 0; j < n_kv; j += 16) {
        __mmask16 m = lanes(n_kv - j);
        mx = _mm512_mask_max_ps(mx, m, mx, ld(scratch + j, m));
    }
    __m512 vmax = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
    __m512 sum = _mm512_setzero_ps();
    for (j = 0; j < n_kv; j += 16) {
        __mmask16 m = lanes(n_kv - j);
        __m512 e = _mm512_maskz_mov_ps(m, exp16(_mm512_sub_ps(ld(scratch + j, m), vmax)));
        st(scratch + j, m, e);
        sum = _mm512_add_ps(sum, e);
    }
    __m512 inv = _mm512_set1_ps(1.0f / hsum(sum));
    for (j = 0; j < n_kv; j += 16) {
        __mmask16 m = lanes(n_kv - j);
        st(scratch + j, m, _mm512_mul_ps(ld(scratch + j, m), inv));
    }
    /* weighted sum of values */
    if (hd <= 16) pv_regs(1, out, scratch, r, n_kv, hd);
    else if (hd <= 32) pv_regs(2, out, scratch, r, n_kv, hd);
    else if (hd <= 48) pv_regs(3, out, scratch, r, n_kv, hd);
    else if (hd <= 64) pv_regs(4, out, scratch, r, n_kv, hd);
    else {
        for (int d = 0; d < hd; d += 16) st(out + d, lanes(hd - d), _mm512_setzero_ps());
        for (j = 0; j < n_kv; j++) {
            const float *vj = val_at(r, j);
            __m512 p = _mm512_set1_ps(scratch[j]);
            for (int d = 0; d < hd; d += 16) {
                __mmask16 m = lanes(hd - d);
                st(out + d, m, _mm512_fmadd_ps(p, ld(vj + d, m), ld(out + d, m)));
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
    for (int c = 0; c < w->cols; c += 16) {
        __mmask16 m = lanes(w->cols - c);
        st(out + c, m, w_load(w, w->dtype, rw, c, m));
    }
}

static const g2r_kernels table = {
    .name = "avx512",
    .kind = G2R_KERNELS_AVX512,
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

const g2r_kernels *g2r_kernels_avx512(void) { return &table; }

#else
const g2r_kernels *g2r_kernels_avx512(void) { return NULL; }
#endif
