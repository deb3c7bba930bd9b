/* q8_avx512.c — Q8 weights times int8 inputs with AVX-512 (VNNI when present).
 *
 * scalar.c's matmul_q8 defines the arithmetic: the input is quantised per
 * group of `group` inputs, each group is one exact integer sum, and the sums
 * are scaled and added in group order.  Here the integer sums come from
 * vpdpbusd, which multiplies 4 adjacent unsigned bytes by 4 signed bytes and
 * adds them to an int32 lane.  Weights are the unsigned side, offset by 128
 * (q ^ 0x80 = q + 128), and the offset comes back out once per group:
 *   sum (q + 128) xq = sum q xq + 128 sum xq.
 * Without VNNI the same sums come from vpmaddwd on the bytes widened to 16
 * bits (exact: 255 * 127 * 2 fits).  Integer sums are exact in any order, so
 * the result is scalar.c's, bit for bit, on every path.
 *
 * Weights are read where they lie (the mmap'd file), never repacked. */
#include "kernels/q8.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VNNI__)
#include <immintrin.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kernels/prefetch.h"

#define ALWAYS_INLINE inline __attribute__((always_inline))

/* The longest group (rows layout) or row (cols layout) quantised here; the
 * scalar reference takes longer ones. */
#define Q8_MAX_K 8192
#define MR 4 /* input rows that share each load of weights */

static _Thread_local int8_t xq[MR][Q8_MAX_K] __attribute__((aligned(64)));

static int force_madd; /* tests: take the path for CPUs without VNNI */

void g2r_q8_avx512_force_madd(int on) { force_madd = on; }

/* cpuid once; threads may race to store the same value (atomic, so that is fine). */
static int have_vnni(void) {
    static atomic_int v = -1;
    if (force_madd) return 0;
    int have = atomic_load_explicit(&v, memory_order_relaxed);
    if (have < 0) {
        __builtin_cpu_init();
        have = __builtin_cpu_supports("avx512vnni") ? 1 : 0;
        atomic_store_explicit(&v, have, memory_order_relaxed);
    }
    return have;
}

static ALWAYS_INLINE __mmask16 lanes16(int n) {
    if (n <= 0) return 0;
    return n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1u);
}
static ALWAYS_INLINE __mmask64 lanes64(int n) {
    if (n <= 0) return 0;
    return n >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << n) - 1);
}

/* acc + 4-byte dot products of a (unsigned) and b (signed), lane by lane. */
static ALWAYS_INLINE __m512i dp4(int vnni, __m512i acc, __m512i a, __m512i b) {
    if (vnni) return _mm512_dpbusd_epi32(acc, a, b);
    __m512i lo8 = _mm512_set1_epi16(0x00ff);
    __m512i a_even = _mm512_and_si512(a, lo8), a_odd = _mm512_srli_epi16(a, 8);
    __m512i b_even = _mm512_srai_epi16(_mm512_slli_epi16(b, 8), 8), b_odd = _mm512_srai_epi16(b, 8);
    acc = _mm512_add_epi32(acc, _mm512_madd_epi16(a_even, b_even));
    return _mm512_add_epi32(acc, _mm512_madd_epi16(a_odd, b_odd));
}

/* Quantises x[0, n) into q (scalar.c's act_scale and act_q, vectorised: the
 * max is exact in any order, the rest is lane by lane); returns the scale and
 * sets *sum to the sum of the int8 values. */
static float quantise(int8_t *q, const float *x, int n, int32_t *sum) {
    __m512 amax = _mm512_setzero_ps();
    for (int i = 0; i < n; i += 16) {
        __m512 v = _mm512_abs_ps(_mm512_maskz_loadu_ps(lanes16(n - i), x + i));
        amax = _mm512_max_ps(v, amax); /* a NaN input is skipped, as fmaxf does */
    }
    float m = _mm512_reduce_max_ps(amax);
    float inv = m > 0.0f ? 127.0f / m : 0.0f;
    __m512 vinv = _mm512_set1_ps(inv), lo = _mm512_set1_ps(-127.0f), hi = _mm512_set1_ps(127.0f);
    __m512i s = _mm512_setzero_si512();
    for (int i = 0; i < n; i += 16) {
        __mmask16 k = lanes16(n - i);
        __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, x + i), vinv);
        v = _mm512_min_ps(_mm512_max_ps(v, lo), hi);
        __m512i iv = _mm512_maskz_mov_epi32(k, _mm512_cvtps_epi32(v)); /* round to nearest even, as rintf */
        s = _mm512_add_epi32(s, iv);
        _mm512_mask_cvtepi32_storeu_epi8(q + i, k, iv);
    }
    *sum = _mm512_reduce_add_epi32(s);
    return m / 127.0f;
}

/* ------------------------------------------------------- rows layout: W[K][N]
 *
 * Like the float kernels for few rows, the weights stream row after row over
 * the columns [n0, n1) (once per MR input rows), 8 rows a step (4 for one
 * input row: rows_block); each 4 rows of 64 columns are 4 loads, then two
 * rounds of byte and word interleaves make 4 vectors of (k..k+3) quads,
 * one int32 lane per column, lane 4L+i of vector m = column 16L + 4m + i.
 * A group's integer sums wait in a small buffer (L1) in that order; at the
 * group's end they are put back in column order, scaled and added to out
 * (while the next group's first rows load).
 *
 * The rows of a step are that many interleaved streams: the weights are
 * prefetched as one (prefetch.h), PF_BYTES and at least one step's rows ahead
 * (Q8 decode's matmuls +17%). */

#define CHUNK 1024     /* columns per pass of MR rows: their sums stay in L1 */
#define PF_BYTES 16384 /* prefetch distance (measured: 16 KB or more) */

static _Thread_local int32_t isum[MR * CHUNK] __attribute__((aligned(64)));

/* Row r's sums when R rows share isum: fewer rows, longer passes (decode's
 * one row reads whole weight rows of up to MR * CHUNK columns). */
static ALWAYS_INLINE int32_t *isum_row(int R, int r) { return isum + (size_t)r * (MR / R) * CHUNK; }

static ALWAYS_INLINE void interleave4(__m512i r0, __m512i r1, __m512i r2, __m512i r3, __m512i e[4]) {
    __m512i a = _mm512_unpacklo_epi8(r0, r1), b = _mm512_unpackhi_epi8(r0, r1);
    __m512i c = _mm512_unpacklo_epi8(r2, r3), d = _mm512_unpackhi_epi8(r2, r3);
    e[0] = _mm512_unpacklo_epi16(a, c);
    e[1] = _mm512_unpackhi_epi16(a, c);
    e[2] = _mm512_unpacklo_epi16(b, d);
    e[3] = _mm512_unpackhi_epi16(b, d);
}

/* interleave4's lane order back to columns: c[i] = columns 16i..16i+15. */
static ALWAYS_INLINE void columns(const __m512i a[4], __m512i c[4]) {
    __m512i t0 = _mm512_shuffle_i32x4(a[0], a[1], _MM_SHUFFLE(1, 0, 1, 0));
    __m512i t1 = _mm512_shuffle_i32x4(a[2], a[3], _MM_SHUFFLE(1, 0, 1, 0));
    __m512i t2 = _mm512_shuffle_i32x4(a[0], a[1], _MM_SHUFFLE(3, 2, 3, 2));
    __m512i t3 = _mm512_shuffle_i32x4(a[2], a[3], _MM_SHUFFLE(3, 2, 3, 2));
    c[0] = _mm512_shuffle_i32x4(t0, t1, _MM_SHUFFLE(2, 0, 2, 0));
    c[1] = _mm512_shuffle_i32x4(t0, t1, _MM_SHUFFLE(3, 1, 3, 1));
    c[2] = _mm512_shuffle_i32x4(t2, t3, _MM_SHUFFLE(2, 0, 2, 0));
    c[3] = _mm512_shuffle_i32x4(t2, t3, _MM_SHUFFLE(3, 1, 3, 1));
}

/* A group's scales: its input scale and offset correction per input row, and
 * where its weight scales for the block's columns start. */
typedef struct {
    float xs[MR];
    int32_t corr[MR]; /* 128 * sum of the group's int8 inputs */
    const float *ws;
    float *dst; /* where its products are added: out, or its own slice's sums */
} group_q;

/* out[r][c, c+64) += group gq's sums in isum[r][c, c+64), scaled (xs * ws), for
 * R rows; nc columns left from c. */
static ALWAYS_INLINE void rows_flush(int R, float *out, int ldo, const group_q *gq, int c, int nc) {
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
        __m512 xs = _mm512_set1_ps(gq->xs[r]);
        __m512i corr = _mm512_set1_epi32(gq->corr[r]), v[4];
        columns((const __m512i *)(isum_row(R, r) + c), v);
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++) {
            __mmask16 m = lanes16(nc - 16 * i);
            if (!m) break;
            __m512 s = _mm512_mul_ps(xs, _mm512_maskz_loadu_ps(m, gq->ws + c + 16 * i));
            __m512 prod = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(v[i], corr)), s);
            float *o = out + (size_t)r * ldo + c + 16 * i;
            _mm512_mask_storeu_ps(o, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, o), prod));
        }
    }
}

/* isum[r][c, c+64) (+)= rows k..k+4S-1 (at q, N apart) times the int8 inputs of
 * R rows at k, for the nc <= 64 columns left (the rest are neither read nor
 * used).  first: the group's first rows, so the sums start from 0, after the
 * previous group's sums here (prev, if any) are flushed to out: that work
 * overlaps the loads of this step instead of stalling between groups. */
static ALWAYS_INLINE void rows_step(int vnni, int R, int S, const int8_t *q, size_t N, g2r_pf_cursor *pc, int k, int c,
                                    int nc, int first, const group_q *prev, int ldo) {
    __mmask64 lm = lanes64(nc);
    __m512i off = _mm512_set1_epi8((char)0x80), e[2][4];
#pragma GCC unroll 2
    for (int h = 0; h < S; h++) {
        __m512i w[4];
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++) {
            const int8_t *p = q + (size_t)(4 * h + i) * N;
            __m512i v = nc >= 64 ? _mm512_loadu_si512(p) : _mm512_maskz_loadu_epi8(lm, p);
            w[i] = _mm512_xor_si512(v, off);
        }
        interleave4(w[0], w[1], w[2], w[3], e[h]);
    }
    for (int i = 0; i < 4 * S; i++) g2r_pf_next(pc);
    if (first && prev) rows_flush(R, prev->dst, ldo, prev, c, nc);
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
        __m512i *acc = (__m512i *)(isum_row(R, r) + c), a[4];
#pragma GCC unroll 4
        for (int m = 0; m < 4; m++) a[m] = first ? _mm512_setzero_si512() : acc[m];
#pragma GCC unroll 2
        for (int h = 0; h < S; h++) {
            int32_t x4;
            memcpy(&x4, xq[r] + k + 4 * h, 4);
            __m512i b = _mm512_set1_epi32(x4);
#pragma GCC unroll 4
            for (int m = 0; m < 4; m++) a[m] = dp4(vnni, a[m], e[h][m], b);
        }
#pragma GCC unroll 4
        for (int m = 0; m < 4; m++) acc[m] = a[m];
    }
}

/* R input rows from in (row stride K), groups [g0, g1), columns [n0, n0 + nc),
 * nc <= CHUNK: all added into out (gstride 0), or group g0 + j alone into
 * out + j * gstride (its slice's sums, for matmul_slices). */
static ALWAYS_INLINE void rows_block(int vnni, int R, float *out, int ldo, size_t gstride, const float *in,
                                     const g2r_matrix *w, int n0, int nc, int g0, int g1) {
    int K = w->rows, N = w->cols, g = w->group;
    int band = R == 1 ? 4 : 8, ahead = PF_BYTES / nc < band ? band : PF_BYTES / nc; /* rows */
    g2r_pf_cursor pc = {(const char *)w->data + (size_t)(g0 * g + ahead) * N + n0, (size_t)N, 0, nc};
    out += n0;
    for (int j = 0; j < (gstride ? g1 - g0 : 1); j++)
        for (int r = 0; r < R; r++)
            for (int n = 0; n < nc; n += 16)
                _mm512_mask_storeu_ps(out + j * gstride + (size_t)r * ldo + n, lanes16(nc - n), _mm512_setzero_ps());
    group_q gq[2];
    for (int k0 = g0 * g, j = 0; k0 < g1 * g; k0 += g, j ^= 1) {
        group_q *cur = &gq[j], *prev = k0 > g0 * g ? &gq[j ^ 1] : NULL;
        cur->dst = out + (size_t)(k0 / g - g0) * gstride;
        for (int r = 0; r < R; r++) {
            int32_t sum;
            cur->xs[r] = quantise(xq[r], in + (size_t)r * K + k0, g, &sum);
            cur->corr[r] = 128 * sum;
        }
        cur->ws = w->scale + (size_t)(k0 / g) * N + n0;
        for (int c = 0; c < nc; c += 16) _mm_prefetch((const char *)(cur->ws + c), _MM_HINT_T0);
        const int8_t *q = (const int8_t *)w->data + (size_t)k0 * N + n0;
        int k = 0;
        /* One input row (decode): whole 64-column blocks take a copy of the
         * step inlined with the constant 64, so its loads drop the masks and
         * the per-step choice (weights in L2, one thread: 1.05x, median of 10
         * pairs; whole Q8 decode 1.007x and 1.019x, 145 and 129 pairs).  More
         * rows keep one copy: with a second, Q8 prefill 16 x 64 read 0.94x.
         * It also steps 4 rows, not 8: the step's band of rows and the
         * prefetched rows ahead of it then take 27 KB, not 48, for c_fc (L1
         * is 48 KB).  Layer matmuls, 2 threads: 0.67 -> 0.72 of the read probe
         * with memory fast; whole decode 1.037x fast / 1.012x slow (64 / 221
         * pairs, medians). */
        if (R == 1)
            for (; k + 4 <= g; k += 4)
                for (int c = 0; c < nc; c += 64) {
                    if (nc - c >= 64)
                        rows_step(vnni, R, 1, q + (size_t)k * N + c, (size_t)N, &pc, k, c, 64, k == 0, prev, ldo);
                    else
                        rows_step(vnni, R, 1, q + (size_t)k * N + c, (size_t)N, &pc, k, c, nc - c, k == 0, prev, ldo);
                }
        for (; k + 8 <= g; k += 8)
            for (int c = 0; c < nc; c += 64)
                rows_step(vnni, R, 2, q + (size_t)k * N + c, (size_t)N, &pc, k, c, nc - c, k == 0, prev, ldo);
        for (; k < g; k += 4)
            for (int c = 0; c < nc; c += 64)
                rows_step(vnni, R, 1, q + (size_t)k * N + c, (size_t)N, &pc, k, c, nc - c, k == 0, prev, ldo);
    }
    const group_q *last = &gq[(g1 - g0 - 1) & 1];
    for (int c = 0; c < nc; c += 64) rows_flush(R, last->dst, ldo, last, c, nc - c);
}

static ALWAYS_INLINE void rows_all(int vnni, float *out, int ldo, size_t gstride, const float *in,
                                   const g2r_matrix *w, int T, int n0, int n1, int g0, int g1) {
    int K = w->rows, most = (MR / (T < MR ? T : MR)) * CHUNK; /* columns per pass: isum_row */
    int pieces = (n1 - n0 + most - 1) / most, width = ((n1 - n0 + pieces - 1) / pieces + 63) & ~63;
    for (int n = n0; n < n1; n += width) {
        int nc = n1 - n < width ? n1 - n : width, t = 0;
        for (; t + 4 <= T; t += 4)
            rows_block(vnni, 4, out + (size_t)t * ldo, ldo, gstride, in + (size_t)t * K, w, n, nc, g0, g1);
        float *o = out + (size_t)t * ldo;
        const float *x = in + (size_t)t * K;
        switch (T - t) {
        case 3: rows_block(vnni, 3, o, ldo, gstride, x, w, n, nc, g0, g1); break;
        case 2: rows_block(vnni, 2, o, ldo, gstride, x, w, n, nc, g0, g1); break;
        case 1: rows_block(vnni, 1, o, ldo, gstride, x, w, n, nc, g0, g1); break;
        }
    }
}

static void rows_vnni(float *out, int ldo, size_t gstride, const float *in, const g2r_matrix *w, int T, int n0,
                      int n1, int g0, int g1) {
    rows_all(1, out, ldo, gstride, in, w, T, n0, n1, g0, g1);
}
static void rows_madd(float *out, int ldo, size_t gstride, const float *in, const g2r_matrix *w, int T, int n0,
                      int n1, int g0, int g1) {
    rows_all(0, out, ldo, gstride, in, w, T, n0, n1, g0, g1);
}

static int rows_ok(const g2r_matrix *w) {
    return w->q8_layout == G2R_Q8_GROUP_ROWS && w->group % 4 == 0 && w->group <= Q8_MAX_K;
}

int g2r_q8_matmul_avx512(float *out, int ldo, const float *in, const g2r_matrix *w, const float *bias, int T, int n0,
                         int n1, int gelu) {
    (void)bias, (void)gelu; /* the caller's epilogue */
    if (!rows_ok(w)) return 0;
    if (have_vnni()) rows_vnni(out, ldo, 0, in, w, T, n0, n1, 0, w->rows / w->group);
    else rows_madd(out, ldo, 0, in, w, T, n0, n1, 0, w->rows / w->group);
    return 1;
}

int g2r_q8_slices_avx512(float *part, int ldo, size_t stride, const float *in, const g2r_matrix *w, int T, int n0,
                         int n1, int s0, int s1) {
    if (!rows_ok(w)) return 0;
    if (have_vnni()) rows_vnni(part, ldo, stride, in, w, T, n0, n1, s0, s1);
    else rows_madd(part, ldo, stride, in, w, T, n0, n1, s0, s1);
    return 1;
}

/* ------------------------------------------------------- cols layout: W[V][K]
 *
 * Rows of W run along k, so 64 bytes of a row are 16 quads as they lie.
 * One input row (decode: the logits, and the layer matrices of a cols-layout
 * file): COLS_ROWS rows at a time, the weights ahead prefetched as one
 * stream, each keeping one vector of partial sums per group; one reduction
 * turns them into one vector of sums (lane = row).  Rows read side by side
 * are that many interleaved runs: 4 stream better than 8 (whole Q8 decode
 * 1.088x with memory slow, 1.001x fast; 83 / 38 pairs), 8 better than 16
 * (1.07x) and 4 better than 2 (1.14x slow, 1.69x fast).  Filling the
 * reduction's idle lanes with more groups (4 rows x 4 groups) did less work
 * and read slower (0.976x slow, 0.932x fast).  Four input rows (prefill,
 * scoring): 4 weight rows x 4 input rows fill the 16 lanes (cols_block4). */

#define COLS_ROWS 4

/* lane i = sum of the 16 lanes of a[i] (integer adds: exact in any order). */
static ALWAYS_INLINE __m512i sum16(const __m512i a[16]) {
    __m512i b[4];
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
        const __m512i *v = a + 4 * i;
        __m512i s01 = _mm512_add_epi32(_mm512_unpacklo_epi32(v[0], v[1]), _mm512_unpackhi_epi32(v[0], v[1]));
        __m512i s23 = _mm512_add_epi32(_mm512_unpacklo_epi32(v[2], v[3]), _mm512_unpackhi_epi32(v[2], v[3]));
        /* per 128-bit block: the block's sum for rows 4i..4i+3 */
        b[i] = _mm512_add_epi32(_mm512_unpacklo_epi64(s01, s23), _mm512_unpackhi_epi64(s01, s23));
    }
    __m512i c01 = _mm512_add_epi32(_mm512_shuffle_i32x4(b[0], b[1], _MM_SHUFFLE(2, 0, 2, 0)),
                                   _mm512_shuffle_i32x4(b[0], b[1], _MM_SHUFFLE(3, 1, 3, 1)));
    __m512i c23 = _mm512_add_epi32(_mm512_shuffle_i32x4(b[2], b[3], _MM_SHUFFLE(2, 0, 2, 0)),
                                   _mm512_shuffle_i32x4(b[2], b[3], _MM_SHUFFLE(3, 1, 3, 1)));
    return _mm512_add_epi32(_mm512_shuffle_i32x4(c01, c23, _MM_SHUFFLE(2, 0, 2, 0)),
                            _mm512_shuffle_i32x4(c01, c23, _MM_SHUFFLE(3, 1, 3, 1)));
}

/* out[v, v+nv) for one input row (quantised: xq[0], per-group xs and corr),
 * COLS_ROWS weight rows from v (rows past nv repeat the last one, not stored;
 * lanes past COLS_ROWS of the reduction are 0, not stored). */
static ALWAYS_INLINE void cols_block(int vnni, float *out, const g2r_matrix *w, int v, int nv, const float *xs,
                                     const int32_t *corr) {
    int K = w->cols, g = w->group, G = K / g;
    const int8_t *rows[COLS_ROWS];
    for (int i = 0; i < COLS_ROWS; i++) rows[i] = (const int8_t *)w->data + (size_t)(v + (i < nv ? i : nv - 1)) * K;
    __m512i idx = _mm512_mullo_epi32(_mm512_min_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13,
                                                                        14, 15),
                                                      _mm512_set1_epi32(nv - 1)),
                                     _mm512_set1_epi32(G));
    const float *scale = w->scale + (size_t)v * G;
    /* The gather below waits on these scales (2.4 MB of wte's, read once a
     * token): fetch those of the block after next (Q8 decode ~3% faster). */
    if (v + 3 * COLS_ROWS <= w->rows)
        for (int b = 0; b < COLS_ROWS * G; b += 16) _mm_prefetch((const char *)(scale + 2 * COLS_ROWS * G + b), _MM_HINT_T0);
    /* the weights PF_BYTES ahead, as one stream (prefetch.h: Q8 logits +21%) */
    const int8_t *pf = (const int8_t *)w->data + (size_t)v * K + PF_BYTES;
    __m512i off = _mm512_set1_epi8((char)0x80);
    __m512 acc = _mm512_setzero_ps();
    for (int j = 0; j < G; j++) {
        __m512i a[16];
#pragma GCC unroll 16
        for (int i = 0; i < 16; i++) a[i] = _mm512_setzero_si512();
        for (int k = j * g; k < (j + 1) * g; k += 64) {
            __m512i x = _mm512_load_si512(xq[0] + k);
#pragma GCC unroll 16
            for (int i = 0; i < COLS_ROWS; i++) {
                _mm_prefetch((const char *)pf, _MM_HINT_T0);
                pf += 64;
                a[i] = dp4(vnni, a[i], _mm512_xor_si512(_mm512_loadu_si512(rows[i] + k), off), x);
            }
        }
        __m512i isum = _mm512_sub_epi32(sum16(a), _mm512_set1_epi32(corr[j]));
        __m512 s = _mm512_mul_ps(_mm512_set1_ps(xs[j]), _mm512_i32gather_ps(_mm512_add_epi32(idx, _mm512_set1_epi32(j)), scale, 4));
        acc = _mm512_add_ps(acc, _mm512_mul_ps(_mm512_cvtepi32_ps(isum), s));
    }
    _mm512_mask_storeu_ps(out + v, lanes16(nv), acc);
}

#define Q8_MAX_G (Q8_MAX_K / 64)

/* Four input rows at once (prefill, scoring): out[t][v, v+nv) for t < 4 and
 * 4 weight rows from v, so each 64 bytes of a weight row loaded feed 4
 * products, not 1, and each reduction serves 16 sums, not 8.  Accumulator
 * 4t + i (input t, weight row i) becomes lane 4t + i of the reduction;
 * xsv[j] and corrv[j] hold group j's input scale and offset correction in
 * that lane order.  Rows past nv repeat the last one and are not stored.  The
 * same operations per (t, v) as cols_block: its bits.  Q8 matmul_nt, 64 rows,
 * 2 threads: 201 -> 341 GFLOP/s (median of 6 alternated runs); Q8 re-rank
 * scoring (32 candidates x 8 tokens) 1.15x (16 pairs). */
static ALWAYS_INLINE void cols_block4(int vnni, float *out, int ldo, const g2r_matrix *w, int v, int nv,
                                      const __m512 *xsv, const __m512i *corrv) {
    int K = w->cols, g = w->group, G = K / g;
    const int8_t *rows[4];
    /* the 4 rows' scales, group by group: one 4-lane load per group, not a gather */
    float ws[Q8_MAX_G][4] __attribute__((aligned(16)));
    for (int i = 0; i < 4; i++) {
        size_t r = (size_t)v + (size_t)(i < nv ? i : nv - 1);
        rows[i] = (const int8_t *)w->data + r * K;
        for (int j = 0; j < G; j++) ws[j][i] = w->scale[r * G + j];
    }
    const int8_t *pf = rows[0] + PF_BYTES;
    __m512i off = _mm512_set1_epi8((char)0x80);
    __m512 acc = _mm512_setzero_ps();
    for (int j = 0; j < G; j++) {
        __m512i a[16];
#pragma GCC unroll 16
        for (int i = 0; i < 16; i++) a[i] = _mm512_setzero_si512();
        for (int k = j * g; k < (j + 1) * g; k += 64) {
            __m512i wv[4];
#pragma GCC unroll 4
            for (int i = 0; i < 4; i++) {
                _mm_prefetch((const char *)pf, _MM_HINT_T0);
                pf += 64;
                wv[i] = _mm512_xor_si512(_mm512_loadu_si512(rows[i] + k), off);
            }
#pragma GCC unroll 4
            for (int t = 0; t < 4; t++) {
                __m512i x = _mm512_load_si512(xq[t] + k);
#pragma GCC unroll 4
                for (int i = 0; i < 4; i++) a[4 * t + i] = dp4(vnni, a[4 * t + i], wv[i], x);
            }
        }
        __m512i isum = _mm512_sub_epi32(sum16(a), corrv[j]);
        __m512 s = _mm512_mul_ps(xsv[j], _mm512_broadcast_f32x4(_mm_load_ps(ws[j])));
        acc = _mm512_add_ps(acc, _mm512_mul_ps(_mm512_cvtepi32_ps(isum), s));
    }
    float o[16] __attribute__((aligned(64)));
    _mm512_store_ps(o, acc);
    for (int t = 0; t < 4; t++) memcpy(out + (size_t)t * ldo + v, o + 4 * t, (size_t)nv * sizeof(float));
}

static ALWAYS_INLINE void cols_all(int vnni, float *out, int ldo, const float *in, const g2r_matrix *w, int T, int v0,
                                   int v1) {
    int K = w->cols, g = w->group, G = K / g;
    float xs[Q8_MAX_G];
    int32_t corr[Q8_MAX_G];
    __m512 xsv[Q8_MAX_G];
    __m512i corrv[Q8_MAX_G];
    for (; T >= 4; T -= 4, in += (size_t)4 * K, out += (size_t)4 * ldo) {
        float x4[4][Q8_MAX_G];
        int32_t c4[4][Q8_MAX_G];
        for (int t = 0; t < 4; t++)
            for (int j = 0; j < G; j++) {
                int32_t sum;
                x4[t][j] = quantise(xq[t] + j * g, in + (size_t)t * K + j * g, g, &sum);
                c4[t][j] = 128 * sum;
            }
        for (int j = 0; j < G; j++) {
            xsv[j] = _mm512_setr_ps(x4[0][j], x4[0][j], x4[0][j], x4[0][j], x4[1][j], x4[1][j], x4[1][j], x4[1][j],
                                    x4[2][j], x4[2][j], x4[2][j], x4[2][j], x4[3][j], x4[3][j], x4[3][j], x4[3][j]);
            corrv[j] = _mm512_setr_epi32(c4[0][j], c4[0][j], c4[0][j], c4[0][j], c4[1][j], c4[1][j], c4[1][j],
                                         c4[1][j], c4[2][j], c4[2][j], c4[2][j], c4[2][j], c4[3][j], c4[3][j],
                                         c4[3][j], c4[3][j]);
        }
        for (int v = v0; v < v1; v += 4) cols_block4(vnni, out, ldo, w, v, v1 - v < 4 ? v1 - v : 4, xsv, corrv);
    }
    for (int t = 0; t < T; t++) {
        for (int j = 0; j < G; j++) {
            int32_t sum;
            xs[j] = quantise(xq[0] + j * g, in + (size_t)t * K + j * g, g, &sum);
            corr[j] = 128 * sum;
        }
        for (int v = v0; v < v1; v += COLS_ROWS)
            cols_block(vnni, out + (size_t)t * ldo, w, v, v1 - v < COLS_ROWS ? v1 - v : COLS_ROWS, xs, corr);
    }
}

static void cols_vnni(float *out, int ldo, const float *in, const g2r_matrix *w, int T, int v0, int v1) {
    cols_all(1, out, ldo, in, w, T, v0, v1);
}
static void cols_madd(float *out, int ldo, const float *in, const g2r_matrix *w, int T, int v0, int v1) {
    cols_all(0, out, ldo, in, w, T, v0, v1);
}

int g2r_q8_matmul_nt_avx512(float *out, int ldo, const float *in, const g2r_matrix *w, int T, int v0, int v1) {
    if (w->q8_layout != G2R_Q8_GROUP_COLS || w->group % 64 || w->cols > Q8_MAX_K) return 0;
    if (have_vnni()) cols_vnni(out, ldo, in, w, T, v0, v1);
    else cols_madd(out, ldo, in, w, T, v0, v1);
    return 1;
}

#else
void g2r_q8_avx512_force_madd(int on) { (void)on; }
int g2r_q8_matmul_avx512(float *out, int ldo, const float *in, const g2r_matrix *w, const float *bias, int T, int n0,
                         int n1, int gelu) {
    (void)out, (void)ldo, (void)in, (void)w, (void)bias, (void)T, (void)n0, (void)n1, (void)gelu;
    return 0;
}
int g2r_q8_slices_avx512(float *part, int ldo, size_t stride, const float *in, const g2r_matrix *w, int T, int n0,
                         int n1, int s0, int s1) {
    (void)part, (void)ldo, (void)stride, (void)in, (void)w, (void)T, (void)n0, (void)n1, (void)s0, (void)s1;
    return 0;
}
int g2r_q8_matmul_nt_avx512(float *out, int ldo, const float *in, const g2r_matrix *w, int T, int v0, int v1) {
    (void)out, (void)ldo, (void)in, (void)w, (void)T, (void)v0, (void)v1;
    return 0;
}
#endif
