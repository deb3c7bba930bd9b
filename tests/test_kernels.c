/* test_kernels.c — every SIMD kernel against the scalar reference.
 *
 * Shapes include sizes that are not multiples of any vector width, every
 * weight dtype and both Q8 scale layouts.  Tolerances:
 *   matmul, matmul_nt: |simd - scalar| <= 2 (K+2) 2^-24 S, S = sum_k |x_k w_k| + |bias|
 *                      (the worst-case rounding of two length-K sums; FMA vs mul+add);
 *   GELU:              within 1e-6 relative (+1e-37) of GELU in double;
 *   layernorm:         1e-5 (|ref| + 1);   attend: 2e-6 (max |v| = 1);   row: exact.
 * And the determinism contract, bitwise: a column (or logit) is the same
 * whether computed in one call or in pieces, and whatever the batch size T. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/half.h"
#include "common/rng.h"
#include "kernels/kernels.h"
#include "kernels/q8.h"
#include "tests/harness.h"

/* ---------------------------------------------------------------- helpers */

typedef struct {
    g2r_matrix m;
    void *data;
    float *scale;
} test_matrix;

static float *rand_floats(g2r_rng *r, size_t n, float amp) {
    float *p = malloc(n * sizeof *p);
    for (size_t i = 0; i < n; i++) p[i] = amp * (2.0f * g2r_rng_f32(r) - 1.0f);
    return p;
}

/* Largest of 32, 16, ..., 1 that divides n (so groups of several sizes get used). */
static int group_for(int n, int prefer) {
    for (int g = prefer; g > 1; g /= 2)
        if (n % g == 0) return g;
    return 1;
}

static test_matrix make_matrix(g2r_rng *r, g2r_dtype dt, int rows, int cols, g2r_q8_layout lay, int group) {
    test_matrix t = {0};
    size_t n = (size_t)rows * cols;
    t.m.dtype = dt;
    t.m.rows = rows;
    t.m.cols = cols;
    if (dt == G2R_DT_F32) {
        t.data = rand_floats(r, n, 1.0f);
    } else if (dt == G2R_DT_F16 || dt == G2R_DT_BF16) {
        uint16_t *h = malloc(n * sizeof *h);
        for (size_t i = 0; i < n; i++) {
            float v = 2.0f * g2r_rng_f32(r) - 1.0f;
            h[i] = dt == G2R_DT_F16 ? g2r_f32_to_f16(v) : g2r_f32_to_bf16(v);
        }
        t.data = h;
    } else {
        int8_t *q = malloc(n);
        for (size_t i = 0; i < n; i++) q[i] = (int8_t)((int)(g2r_rng_u64(r) % 255) - 127);
        size_t ns = lay == G2R_Q8_GROUP_ROWS ? (size_t)(rows / group) * cols : (size_t)rows * (cols / group);
        t.scale = malloc(ns * sizeof *t.scale);
        for (size_t i = 0; i < ns; i++) t.scale[i] = (0.5f + g2r_rng_f32(r)) / 127.0f;
        t.data = q;
        t.m.scale = t.scale;
        t.m.group = group;
        t.m.q8_layout = lay;
    }
    t.m.data = t.data;
    return t;
}

static void free_matrix(test_matrix *t) {
    free(t->data);
    free(t->scale);
}

/* The table for kind, or NULL after marking the test skipped. */
static const g2r_kernels *simd(g2r_kernels_kind kind) {
    const g2r_kernels *k = g2r_kernels_get(kind);
    if (!k) t_skip("this CPU (or build) lacks the instruction set");
    return k;
}

static const g2r_dtype all_dtypes[] = {G2R_DT_F32, G2R_DT_F16, G2R_DT_BF16, G2R_DT_Q8};

/* --------------------------------------------------------------- matmul */

static const int Ts[] = {1, 2, 3, 4, 5, 17, 64};
static const int Ks[] = {1, 7, 16, 17, 33, 100, 768};
static const int Ns[] = {1, 7, 15, 16, 17, 33, 47, 48, 49, 100, 768};
#define LEN(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* Compares one SIMD matmul with the scalar one; returns the number of bad outputs. */
static int check_matmul(const g2r_kernels *k, g2r_rng *r, g2r_dtype dt, g2r_q8_layout lay, int T, int K, int N, int gelu) {
    const g2r_kernels *ref = g2r_kernels_scalar();
    int group = lay == G2R_Q8_GROUP_ROWS ? group_for(K, 32) : group_for(N, 16);
    test_matrix w = make_matrix(r, dt, K, N, lay, group);
    float *in = rand_floats(r, (size_t)T * K, 1.0f);
    float *bias = (g2r_rng_u64(r) & 1) ? rand_floats(r, (size_t)N, 1.0f) : NULL;
    int ldo = N + 3;
    float *got = calloc((size_t)T * ldo, sizeof *got), *want = calloc((size_t)T * ldo, sizeof *want);
    float *wf = malloc((size_t)K * N * sizeof *wf);
    for (int kk = 0; kk < K; kk++) ref->row(wf + (size_t)kk * N, &w.m, kk);
    k->matmul(got, ldo, in, &w.m, bias, T, 0, N, gelu);
    ref->matmul(want, ldo, in, &w.m, bias, T, 0, N, gelu);
    int bad = 0;
    for (int t = 0; t < T; t++)
        for (int n = 0; n < N; n++) {
            double s = bias ? fabs(bias[n]) : 0.0;
            for (int kk = 0; kk < K; kk++) s += fabs((double)in[(size_t)t * K + kk] * wf[(size_t)kk * N + n]);
            double tol = 2.0 * (K + 2) * 0x1p-24 * s * (gelu ? 1.2 : 1.0) + 1e-6 * fabs(want[(size_t)t * ldo + n]) + 1e-30;
            double d = fabs((double)got[(size_t)t * ldo + n] - want[(size_t)t * ldo + n]);
            if (!(d <= tol) && bad++ < 3)
                t_fail(__FILE__, __LINE__, "%s %s%s T=%d K=%d N=%d out[%d][%d] = %.9g, scalar %.9g (tol %g)", k->name,
                       g2r_dtype_name(dt), dt == G2R_DT_Q8 ? (lay == G2R_Q8_GROUP_ROWS ? "/rows" : "/cols") : "", T, K,
                       N, t, n, got[(size_t)t * ldo + n], want[(size_t)t * ldo + n], tol);
        }
    free(in);
    free(bias);
    free(got);
    free(want);
    free(wf);
    free_matrix(&w);
    return bad;
}

static void matmul_matches_scalar(g2r_kernels_kind kind) {
    const g2r_kernels *k = simd(kind);
    if (!k) return;
    g2r_rng r = {42};
    int cases = 0;
    for (int d = 0; d < LEN(all_dtypes); d++)
        for (int lay = 0; lay < (all_dtypes[d] == G2R_DT_Q8 ? 2 : 1); lay++)
            for (int a = 0; a < LEN(Ts); a++)
                for (int b = 0; b < LEN(Ks); b++)
                    for (int c = 0; c < LEN(Ns); c++) {
                        long work = (long)Ts[a] * Ks[b] * Ns[c];
                        if (work > 300000 && !(Ts[a] == 17 && Ks[b] == 768 && Ns[c] == 100)) continue;
                        check_matmul(k, &r, all_dtypes[d], (g2r_q8_layout)lay, Ts[a], Ks[b], Ns[c], (a + b + c) & 1);
                        cases++;
                    }
    CHECK(cases > 500);
}

TEST(kernels_avx512_matmul_matches_scalar) { matmul_matches_scalar(G2R_KERNELS_AVX512); }
TEST(kernels_avx2_matmul_matches_scalar) { matmul_matches_scalar(G2R_KERNELS_AVX2); }

/* Bitwise: one call over [0, N) == calls over random pieces; and T rows at once == one row at a time. */
static void matmul_split_invariant(g2r_kernels_kind kind) {
    const g2r_kernels *k = kind == G2R_KERNELS_SCALAR ? g2r_kernels_scalar() : simd(kind);
    if (!k) return;
    g2r_rng r = {7};
    const int shapes[][3] = {{1, 768, 768}, {3, 100, 200}, {5, 64, 130}, {17, 33, 97}, {64, 128, 100}};
    for (int d = 0; d < LEN(all_dtypes); d++)
        for (int s = 0; s < LEN(shapes); s++) {
            int T = shapes[s][0], K = shapes[s][1], N = shapes[s][2];
            test_matrix w = make_matrix(&r, all_dtypes[d], K, N, G2R_Q8_GROUP_ROWS, group_for(K, 32));
            float *in = rand_floats(&r, (size_t)T * K, 1.0f), *bias = rand_floats(&r, (size_t)N, 1.0f);
            size_t sz = (size_t)T * N * sizeof(float);
            float *whole = malloc(sz), *pieces = malloc(sz), *rows = malloc(sz);
            k->matmul(whole, N, in, &w.m, bias, T, 0, N, 1);
            for (int n0 = 0; n0 < N;) {
                int n1 = n0 + 1 + (int)(g2r_rng_u64(&r) % 40);
                if (n1 > N) n1 = N;
                k->matmul(pieces, N, in, &w.m, bias, T, n0, n1, 1);
                n0 = n1;
            }
            for (int t = 0; t < T; t++) k->matmul(rows + (size_t)t * N, N, in + (size_t)t * K, &w.m, bias, 1, 0, N, 1);
            if (memcmp(whole, pieces, sz) || memcmp(whole, rows, sz))
                t_fail(__FILE__, __LINE__, "%s %s T=%d K=%d N=%d: split or per-row result differs from one call",
                       k->name, g2r_dtype_name(all_dtypes[d]), T, K, N);
            free(in);
            free(bias);
            free(whole);
            free(pieces);
            free(rows);
            free_matrix(&w);
        }
}

TEST(kernels_scalar_matmul_split_invariant) { matmul_split_invariant(G2R_KERNELS_SCALAR); }
TEST(kernels_avx512_matmul_split_invariant) { matmul_split_invariant(G2R_KERNELS_AVX512); }
TEST(kernels_avx2_matmul_split_invariant) { matmul_split_invariant(G2R_KERNELS_AVX2); }

/* Bitwise: matmul_slices over any runs of slices, then matmul_sum, == one
 * matmul call (how decode splits K over threads), K a multiple of the slice
 * or not, for every dtype and both Q8 layouts. */
static void matmul_slices_equal_matmul(g2r_kernels_kind kind) {
    const g2r_kernels *k = kind == G2R_KERNELS_SCALAR ? g2r_kernels_scalar() : simd(kind);
    if (!k) return;
    g2r_rng r = {11};
    const int shapes[][3] = {{1, 768, 200}, {2, 300, 70}, {3, 1024, 33}, {1, 100, 50}, {5, 260, 40}, {1, 513, 17}};
    for (int d = 0; d < LEN(all_dtypes); d++)
        for (int lay = 0; lay < (all_dtypes[d] == G2R_DT_Q8 ? 2 : 1); lay++)
            for (int s = 0; s < LEN(shapes); s++) {
                int T = shapes[s][0], K = shapes[s][1], N = shapes[s][2];
                int group = lay == G2R_Q8_GROUP_ROWS ? group_for(K, 64) : group_for(N, 8);
                test_matrix w = make_matrix(&r, all_dtypes[d], K, N, (g2r_q8_layout)lay, group);
                float *in = rand_floats(&r, (size_t)T * K, 1.0f), *bias = rand_floats(&r, (size_t)N, 1.0f);
                int S = g2r_kslices(&w.m);
                size_t stride = (size_t)T * N + 3; /* any stride */
                float *whole = malloc((size_t)T * N * 4), *sum = malloc((size_t)T * N * 4);
                float *part = malloc(stride * (size_t)S * 4);
                k->matmul(whole, N, in, &w.m, bias, T, 0, N, 1);
                for (int s0 = 0; s0 < S;) { /* runs of 1 to 3 slices, columns in two pieces */
                    int s1 = s0 + 1 + (int)(g2r_rng_u64(&r) % 3), nh = N / 3;
                    if (s1 > S) s1 = S;
                    k->matmul_slices(part + (size_t)s0 * stride, N, stride, in, &w.m, T, 0, nh, s0, s1);
                    k->matmul_slices(part + (size_t)s0 * stride, N, stride, in, &w.m, T, nh, N, s0, s1);
                    s0 = s1;
                }
                k->matmul_sum(sum, N, part, stride, S, bias, T, 0, N, 1);
                if (memcmp(whole, sum, (size_t)T * N * 4))
                    t_fail(__FILE__, __LINE__, "%s %s layout %d T=%d K=%d N=%d (%d slices): slices + sum differ from matmul",
                           k->name, g2r_dtype_name(all_dtypes[d]), lay, T, K, N, S);
                free(in);
                free(bias);
                free(whole);
                free(sum);
                free(part);
                free_matrix(&w);
            }
}

TEST(kernels_scalar_matmul_slices_equal_matmul) { matmul_slices_equal_matmul(G2R_KERNELS_SCALAR); }
TEST(kernels_avx512_matmul_slices_equal_matmul) { matmul_slices_equal_matmul(G2R_KERNELS_AVX512); }
TEST(kernels_avx2_matmul_slices_equal_matmul) { matmul_slices_equal_matmul(G2R_KERNELS_AVX2); }

/* GELU through the matmul epilogue: K = 1, x = 0, so out[n] = gelu(bias[n]). */
static void gelu_accurate(g2r_kernels_kind kind) {
    const g2r_kernels *k = simd(kind);
    if (!k) return;
    enum { N = 4001 };
    float *bias = malloc(N * sizeof *bias), *out = malloc(N * sizeof *out), zero[4] = {0};
    for (int n = 0; n < N; n++) bias[n] = -20.0f + 40.0f * (float)n / (N - 1);
    bias[0] = 0.0f; /* and some points near 0 */
    bias[1] = 1e-6f;
    bias[2] = -3e-4f;
    g2r_matrix w = {.dtype = G2R_DT_F32, .rows = 1, .cols = N, .data = bias};
    int bad = 0;
    k->matmul(out, N, zero, &w, bias, 1, 0, N, 1);
    /* out[n] = gelu(0 * w[n] + bias[n]) */
    for (int n = 0; n < N; n++) {
        double x = bias[n];
        /* 0.5 x (1 + tanh(u)) = x / (1 + e^(-2u)): the form that keeps its precision in double for x << 0 */
        double u2 = 2.0 * 0.7978845608028654 * (x + 0.044715 * x * x * x);
        double want = x / (1.0 + exp(-u2));
        /* 1e-6 relative where GELU is well conditioned; for x << 0 even rounding u to float moves
         * e^(-2u) by |2u| 2^-24, so allow for that; e^x is clamped near FLT_MIN */
        double tol = 1e-6 * fabs(want) * (1.0 + fabs(u2) / 8.0) + 1e-37;
        if (!(fabs(out[n] - want) <= tol) && bad++ < 3)
            t_fail(__FILE__, __LINE__, "%s gelu(%.9g) = %.9g, want %.9g", k->name, x, out[n], want);
        /* and against the scalar reference, whose tanhf form loses precision when tanh(u) ~ -1 */
        double s = g2r_gelu(bias[n]);
        if (!(fabs(out[n] - s) <= 1e-6 * fabs(s) + 2e-7 * fabs(x) + 1e-37) && bad++ < 3)
            t_fail(__FILE__, __LINE__, "%s gelu(%.9g) = %.9g, scalar %.9g", k->name, x, out[n], s);
    }
    free(bias);
    free(out);
}

TEST(kernels_avx512_gelu_accurate) { gelu_accurate(G2R_KERNELS_AVX512); }
TEST(kernels_avx2_gelu_accurate) { gelu_accurate(G2R_KERNELS_AVX2); }

/* ------------------------------------------------------------ matmul_nt */

static void matmul_nt_matches_scalar(g2r_kernels_kind kind) {
    const g2r_kernels *k = simd(kind);
    if (!k) return;
    const g2r_kernels *ref = g2r_kernels_scalar();
    g2r_rng r = {99};
    const int Vs[] = {1, 3, 4, 7, 8, 9, 17, 100};
    for (int d = 0; d < LEN(all_dtypes); d++)
        for (int lay = 0; lay < (all_dtypes[d] == G2R_DT_Q8 ? 2 : 1); lay++)
            for (int a = 0; a < LEN(Ts); a++)
                for (int b = 0; b < LEN(Ks); b++)
                    for (int c = 0; c < LEN(Vs); c++) {
                        int T = Ts[a], K = Ks[b], V = Vs[c];
                        int group = lay == G2R_Q8_GROUP_COLS ? group_for(K, 32) : group_for(V, 4);
                        /* GROUP_COLS groups of 32 and of sizes that split a 16-lane chunk (K=100: 4) */
                        test_matrix w = make_matrix(&r, all_dtypes[d], V, K, (g2r_q8_layout)lay, group);
                        float *in = rand_floats(&r, (size_t)T * K, 1.0f);
                        int ldo = V + 1;
                        float *got = calloc((size_t)T * ldo, 4), *want = calloc((size_t)T * ldo, 4);
                        float *rowbuf = malloc((size_t)K * 4);
                        k->matmul_nt(got, ldo, in, &w.m, T, 0, V);
                        ref->matmul_nt(want, ldo, in, &w.m, T, 0, V);
                        int bad = 0;
                        for (int v = 0; v < V; v++) {
                            ref->row(rowbuf, &w.m, v);
                            for (int t = 0; t < T; t++) {
                                double s = 0;
                                for (int kk = 0; kk < K; kk++) s += fabs((double)in[(size_t)t * K + kk] * rowbuf[kk]);
                                double tol = 2.0 * (K + 2) * 0x1p-24 * s + 1e-30;
                                float g = got[(size_t)t * ldo + v], wnt = want[(size_t)t * ldo + v];
                                if (!(fabs((double)g - wnt) <= tol) && bad++ < 3)
                                    t_fail(__FILE__, __LINE__, "%s %s T=%d K=%d V=%d out[%d][%d] = %.9g, scalar %.9g",
                                           k->name, g2r_dtype_name(all_dtypes[d]), T, K, V, t, v, g, wnt);
                            }
                        }
                        free(in);
                        free(got);
                        free(want);
                        free(rowbuf);
                        free_matrix(&w);
                    }
}

TEST(kernels_avx512_matmul_nt_matches_scalar) { matmul_nt_matches_scalar(G2R_KERNELS_AVX512); }
TEST(kernels_avx2_matmul_nt_matches_scalar) { matmul_nt_matches_scalar(G2R_KERNELS_AVX2); }

static void matmul_nt_split_invariant(g2r_kernels_kind kind) {
    const g2r_kernels *k = kind == G2R_KERNELS_SCALAR ? g2r_kernels_scalar() : simd(kind);
    if (!k) return;
    g2r_rng r = {5};
    const int shapes[][3] = {{1, 768, 300}, {3, 100, 50}, {9, 64, 37}, {70, 33, 21}};
    for (int d = 0; d < LEN(all_dtypes); d++)
        for (int s = 0; s < LEN(shapes); s++) {
            int T = shapes[s][0], K = shapes[s][1], V = shapes[s][2];
            test_matrix w = make_matrix(&r, all_dtypes[d], V, K, G2R_Q8_GROUP_COLS, group_for(K, 32));
            float *in = rand_floats(&r, (size_t)T * K, 1.0f);
            size_t sz = (size_t)T * V * sizeof(float);
            float *whole = malloc(sz), *pieces = malloc(sz), *rows = malloc(sz);
            k->matmul_nt(whole, V, in, &w.m, T, 0, V);
            for (int v0 = 0; v0 < V;) {
                int v1 = v0 + 1 + (int)(g2r_rng_u64(&r) % 13);
                if (v1 > V) v1 = V;
                k->matmul_nt(pieces, V, in, &w.m, T, v0, v1);
                v0 = v1;
            }
            for (int t = 0; t < T; t++) k->matmul_nt(rows + (size_t)t * V, V, in + (size_t)t * K, &w.m, 1, 0, V);
            if (memcmp(whole, pieces, sz) || memcmp(whole, rows, sz))
                t_fail(__FILE__, __LINE__, "%s %s T=%d K=%d V=%d: split or per-row logits differ from one call",
                       k->name, g2r_dtype_name(all_dtypes[d]), T, K, V);
            free(in);
            free(whole);
            free(pieces);
            free(rows);
            free_matrix(&w);
        }
}

TEST(kernels_scalar_matmul_nt_split_invariant) { matmul_nt_split_invariant(G2R_KERNELS_SCALAR); }
TEST(kernels_avx512_matmul_nt_split_invariant) { matmul_nt_split_invariant(G2R_KERNELS_AVX512); }
TEST(kernels_avx2_matmul_nt_split_invariant) { matmul_nt_split_invariant(G2R_KERNELS_AVX2); }

/* ------------------------------------------------------ layernorm, row */

static void layernorm_matches_scalar(g2r_kernels_kind kind) {
    const g2r_kernels *k = simd(kind);
    if (!k) return;
    g2r_rng r = {3};
    const int Cs[] = {1, 2, 7, 15, 16, 17, 33, 100, 768, 1600};
    for (int c = 0; c < LEN(Cs); c++)
        for (int T = 1; T <= 5; T += 2) {
            int C = Cs[c];
            float *x = rand_floats(&r, (size_t)T * C, 3.0f), *g = rand_floats(&r, C, 2.0f), *b = rand_floats(&r, C, 1.0f);
            for (int i = 0; i < T * C; i++) x[i] += 5.0f; /* a mean far from 0 */
            float *got = malloc((size_t)T * C * 4), *want = malloc((size_t)T * C * 4);
            k->layernorm(got, x, g, b, T, C);
            g2r_kernels_scalar()->layernorm(want, x, g, b, T, C);
            int bad = 0;
            for (int i = 0; i < T * C; i++)
                if (!(fabs(got[i] - want[i]) <= 1e-5 * (fabs(want[i]) + 1.0)) && bad++ < 3)
                    t_fail(__FILE__, __LINE__, "%s layernorm C=%d [%d] = %.9g, scalar %.9g", k->name, C, i, got[i], want[i]);
            /* in place gives the same */
            k->layernorm(x, x, g, b, T, C);
            CHECK(!memcmp(x, got, (size_t)T * C * 4));
            free(x);
            free(g);
            free(b);
            free(got);
            free(want);
        }
}

TEST(kernels_avx512_layernorm_matches_scalar) { layernorm_matches_scalar(G2R_KERNELS_AVX512); }
TEST(kernels_avx2_layernorm_matches_scalar) { layernorm_matches_scalar(G2R_KERNELS_AVX2); }

static void row_exact(g2r_kernels_kind kind) {
    const g2r_kernels *k = simd(kind);
    if (!k) return;
    g2r_rng r = {11};
    const int Cs[] = {1, 7, 16, 17, 33, 64, 100};
    for (int d = 0; d < LEN(all_dtypes); d++)
        for (int lay = 0; lay < 2; lay++)
            for (int c = 0; c < LEN(Cs); c++) {
                int C = Cs[c], R = 6;
                test_matrix w = make_matrix(&r, all_dtypes[d], R, C, (g2r_q8_layout)lay,
                                            lay == G2R_Q8_GROUP_ROWS ? 3 : group_for(C, 32));
                float *got = malloc((size_t)C * 4), *want = malloc((size_t)C * 4);
                for (int i = 0; i < R; i++) {
                    k->row(got, &w.m, i);
                    g2r_kernels_scalar()->row(want, &w.m, i);
                    if (memcmp(got, want, (size_t)C * 4))
                        t_fail(__FILE__, __LINE__, "%s row %d of %s [%d x %d] differs", k->name, i,
                               g2r_dtype_name(all_dtypes[d]), R, C);
                }
                free(got);
                free(want);
                free_matrix(&w);
            }
}

TEST(kernels_avx512_row_exact) { row_exact(G2R_KERNELS_AVX512); }
TEST(kernels_avx2_row_exact) { row_exact(G2R_KERNELS_AVX2); }

/* Special values widen exactly: F16 subnormals, infinities; BF16 likewise. */
TEST(kernels_row_widens_special_halves) {
    uint16_t h[8] = {0x0001, 0x03ff, 0x8001, 0x7c00, 0xfc00, 0x3c00, 0x0000, 0x8000};
    float want[8], got[8];
    g2r_matrix w = {.dtype = G2R_DT_F16, .rows = 1, .cols = 8, .data = h};
    g2r_kernels_scalar()->row(want, &w, 0);
    CHECK_NEAR(want[0], 0x1p-24, 0);
    CHECK(isinf(want[3]) && want[3] > 0);
    const g2r_kernels_kind kinds[] = {G2R_KERNELS_AVX2, G2R_KERNELS_AVX512};
    for (int i = 0; i < 2; i++) {
        const g2r_kernels *k = g2r_kernels_get(kinds[i]);
        if (!k) continue;
        k->row(got, &w, 0);
        CHECK(!memcmp(got, want, sizeof got));
    }
}

/* -------------------------------------------------------------- attend */

static void attend_matches_scalar(g2r_kernels_kind kind) {
    const g2r_kernels *k = simd(kind);
    if (!k) return;
    g2r_rng r = {17};
    const int hds[] = {1, 7, 16, 17, 33, 64, 80, 128};
    enum { MAX_KV = 300 };
    for (int h = 0; h < LEN(hds); h++) {
        int hd = hds[h];
        size_t stride = (size_t)hd * 3 + 5;
        float *kv = rand_floats(&r, stride * MAX_KV * 2, 1.0f);
        float *q = rand_floats(&r, hd, hd == 64 ? 6.0f : 1.0f); /* large scores: a peaked softmax */
        float *got = malloc((size_t)hd * 4), *want = malloc((size_t)hd * 4), *scratch = malloc(MAX_KV * 4);
        int bad = 0;
        for (int n = 1; n <= MAX_KV; n += (hd == 64 ? 1 : 7)) {
            k->attend(got, q, kv, kv + hd + 2, n, hd, stride, scratch);
            g2r_kernels_scalar()->attend(want, q, kv, kv + hd + 2, n, hd, stride, scratch);
            for (int d = 0; d < hd; d++)
                if (!(fabs(got[d] - want[d]) <= 2e-6) && bad++ < 3)
                    t_fail(__FILE__, __LINE__, "%s attend hd=%d n_kv=%d out[%d] = %.9g, scalar %.9g", k->name, hd, n, d,
                           got[d], want[d]);
        }
        free(kv);
        free(q);
        free(got);
        free(want);
        free(scratch);
    }
}

TEST(kernels_avx512_attend_matches_scalar) { attend_matches_scalar(G2R_KERNELS_AVX512); }
TEST(kernels_avx2_attend_matches_scalar) { attend_matches_scalar(G2R_KERNELS_AVX2); }

/* attend2 over two runs (copied apart) gives attend's bits over the joined run, at every split. */
static void attend2_equals_attend(g2r_kernels_kind kind) {
    const g2r_kernels *k = kind == G2R_KERNELS_SCALAR ? g2r_kernels_scalar() : simd(kind);
    if (!k) return;
    g2r_rng r = {23};
    const int hds[] = {7, 64, 80};
    enum { N = 70 };
    for (int h = 0; h < LEN(hds); h++) {
        int hd = hds[h];
        size_t stride = (size_t)hd * 2 + 3, sz = stride * N * 2;
        float *kv = rand_floats(&r, sz, 1.0f), *kv2 = malloc(sz * sizeof *kv2), *q = rand_floats(&r, hd, 3.0f);
        float *one = malloc((size_t)hd * 4), *two = malloc((size_t)hd * 4), *scratch = malloc(N * 4);
        const float *v = kv + hd + 1;
        for (int n = 1; n <= N; n += 3) {
            k->attend(one, q, kv, v, n, hd, stride, scratch);
            for (int s = 0; s <= n; s += 1 + s / 4) {
                /* positions s.. live in another buffer, as a sequence's own cache after a shared prefix */
                memcpy(kv2, kv + s * stride, (size_t)(n - s) * stride * sizeof *kv2);
                k->attend2(two, q, kv, v, s, kv2, kv2 + hd + 1, n - s, hd, stride, scratch);
                if (memcmp(one, two, (size_t)hd * 4))
                    t_fail(__FILE__, __LINE__, "%s attend2 hd=%d n=%d split at %d differs from attend", k->name, hd,
                           n, s);
            }
        }
        free(kv);
        free(kv2);
        free(q);
        free(one);
        free(two);
        free(scratch);
    }
}

TEST(kernels_scalar_attend2_equals_attend) { attend2_equals_attend(G2R_KERNELS_SCALAR); }
TEST(kernels_avx512_attend2_equals_attend) { attend2_equals_attend(G2R_KERNELS_AVX512); }
TEST(kernels_avx2_attend2_equals_attend) { attend2_equals_attend(G2R_KERNELS_AVX2); }

/* ------------------------------------------------------------ dispatch */

TEST(kernels_dispatch_picks_a_table) {
    const g2r_kernels *a = g2r_kernels_get(G2R_KERNELS_AUTO);
    REQUIRE(a != NULL);
    CHECK(a->matmul && a->matmul_slices && a->matmul_sum && a->matmul_nt && a->layernorm && a->attend && a->attend2 && a->row);
    CHECK(g2r_kernels_get(G2R_KERNELS_SCALAR) == g2r_kernels_scalar());
    const g2r_kernels *x = g2r_kernels_get(G2R_KERNELS_AVX512);
    if (x) CHECK(a == x);
    if (x) CHECK(x->kind == G2R_KERNELS_AVX512);
    const g2r_kernels *y = g2r_kernels_get(G2R_KERNELS_AVX2);
    if (y) CHECK(y->kind == G2R_KERNELS_AVX2 && !strcmp(y->name, "avx2"));
}

/* ----------------------------------------------- Q8 int8 products, bitwise */

/* Q8 matmul (rows layout) and matmul_nt (cols layout) quantise their input and
 * sum each group exactly in integers, so every table gives scalar's bits
 * (without GELU, whose SIMD form differs in the last bits), on odd shapes and
 * group sizes, including groups of all-zero inputs. */
static int q8_case(const g2r_kernels *k, g2r_rng *r, int nt, int T, int K, int N, int group) {
    const g2r_kernels *ref = g2r_kernels_scalar();
    test_matrix w = nt ? make_matrix(r, G2R_DT_Q8, N, K, G2R_Q8_GROUP_COLS, group)
                       : make_matrix(r, G2R_DT_Q8, K, N, G2R_Q8_GROUP_ROWS, group);
    float *in = rand_floats(r, (size_t)T * K, 3.0f);
    if (K > group) memset(in + group, 0, (size_t)group * sizeof *in); /* row 0's second group: all zero */
    float *bias = rand_floats(r, (size_t)N, 1.0f);
    int ldo = N + 5, n0 = N > 2 ? 1 : 0;
    float *got = calloc((size_t)T * ldo, 4), *want = calloc((size_t)T * ldo, 4);
    if (nt) {
        k->matmul_nt(got, ldo, in, &w.m, T, n0, N);
        ref->matmul_nt(want, ldo, in, &w.m, T, n0, N);
    } else {
        k->matmul(got, ldo, in, &w.m, bias, T, n0, N, 0);
        ref->matmul(want, ldo, in, &w.m, bias, T, n0, N, 0);
    }
    int bad = memcmp(got, want, (size_t)T * ldo * 4) != 0;
    if (bad) {
        for (int i = 0; i < T * ldo; i++)
            if (memcmp(got + i, want + i, 4)) {
                t_fail(__FILE__, __LINE__, "%s Q8 %s T=%d K=%d N=%d group=%d: out[%d][%d] = %.9g, scalar %.9g", k->name,
                       nt ? "matmul_nt" : "matmul", T, K, N, group, i / ldo, i % ldo, got[i], want[i]);
                break;
            }
    }
    free(in);
    free(bias);
    free(got);
    free(want);
    free_matrix(&w);
    return bad;
}

static void q8_products_exact(g2r_kernels_kind kind) {
    const g2r_kernels *k = simd(kind);
    if (!k) return;
    g2r_rng r = {2027};
    const int Tq[] = {1, 2, 3, 4, 5, 9};
    const int Nq[] = {1, 2, 15, 17, 63, 64, 65, 130, 200};
    const int rows_g[][2] = {{4, 8}, {8, 24}, {12, 36}, {64, 128}, {6, 12}, {1, 3}}; /* group, K */
    const int cols_g[][2] = {{64, 64}, {64, 192}, {64, 256}, {64, 320}, {128, 256}, {32, 96}, {4, 12}};
    int cases = 0, bad = 0;
    for (int force = 0; force < 2; force++) {
        g2r_q8_avx512_force_madd(force);
        for (int a = 0; a < LEN(Tq); a++)
            for (int c = 0; c < LEN(Nq); c++) {
                for (int g = 0; g < LEN(rows_g); g++, cases++)
                    bad += q8_case(k, &r, 0, Tq[a], rows_g[g][1], Nq[c], rows_g[g][0]);
                for (int g = 0; g < LEN(cols_g); g++, cases++)
                    bad += q8_case(k, &r, 1, Tq[a], cols_g[g][1], Nq[c], cols_g[g][0]);
            }
    }
    g2r_q8_avx512_force_madd(0);
    CHECK(cases > 500);
    CHECK(bad == 0);
}

TEST(kernels_avx512_q8_products_exact) { q8_products_exact(G2R_KERNELS_AVX512); }
TEST(kernels_avx2_q8_products_exact) { q8_products_exact(G2R_KERNELS_AVX2); }
