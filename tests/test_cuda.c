/* test_cuda.c — the GPU kernels and the device forward against the scalar CPU
 * reference (kernels/scalar.c), on random shapes.
 *
 * Tolerances are relative to the reference's norm, ||gpu - ref|| / ||ref||:
 *   F32 arithmetic (SIMT, GEMV, rows, attention, pooling):  1e-5
 *   tensor cores, F16 or BF16 operands:                     2e-3, against a
 *     reference fed the same 16-bit-rounded activations (so only the order
 *     and rounding of the F32 accumulation differ)
 *   whole forward, F32 weights: 1e-4; BF16 weights on the device, against
 *     the F32 CPU forward (activations rounded to 8-bit mantissas): 3e-2
 * Outputs are poisoned with NaN first, so an element the GPU never wrote fails.
 * Built without CUDA, or run without a device, every test says why and skips. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/harness.h"

#ifndef G2R_CUDA

TEST(cuda_kernels) { t_skip("built without CUDA (make CUDA=1 to build the GPU path)"); }

#else

#include "common/half.h"
#include "common/rng.h"
#include "engine/gpt2_cuda.h"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/kernels.h"
#include "tests/test_engine_util.h"
#include "weights/gpt2_convert.h"

static int have_gpu(void) {
    if (g2r_cuda_device_count() > 0) return 1;
    t_skip("no CUDA device");
    return 0;
}

static void fill(g2r_rng *r, float *x, size_t n, float scale) {
    for (size_t i = 0; i < n; i++) x[i] = (2.0f * g2r_rng_f32(r) - 1.0f) * scale;
}

/* ||a - b|| / ||b||; NaN anywhere gives NaN, which fails every `<= tol`. */
static double rel_err(const float *a, const float *b, size_t n) {
    double num = 0.0, den = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - (double)b[i];
        num += d * d;
        den += (double)b[i] * (double)b[i];
    }
    return sqrt(num) / (den > 0.0 ? sqrt(den) : 1.0);
}

#define CHECK_REL(a, b, n, tol)                                                                          \
    do {                                                                                                 \
        double e_ = rel_err((a), (b), (n));                                                              \
        if (!(e_ <= (tol))) t_fail(__FILE__, __LINE__, "relative error %.3g > %g (%s)", e_, (double)(tol), #a); \
    } while (0)

/* Device buffers, freed together at the end of a test. */
typedef struct {
    void *p[32];
    int n;
} dev_list;

static void *dev_put(dev_list *l, const void *src, size_t bytes) {
    void *d = NULL;
    g2r_error err = {0};
    if (g2r_cuda_malloc(&d, bytes, "test buffer", &err)) {
        t_fail(__FILE__, __LINE__, "%s", err.msg);
        return NULL;
    }
    l->p[l->n++] = d;
    if (src && g2r_cuda_upload(d, src, bytes, NULL, &err)) t_fail(__FILE__, __LINE__, "%s", err.msg);
    return d;
}

static void *dev_nan_as(dev_list *l, size_t n, g2r_dtype dt);
static float *dev_nan(dev_list *l, size_t n) { return dev_nan_as(l, n, G2R_DT_F32); }

static void dev_free(dev_list *l) {
    for (int i = 0; i < l->n; i++) g2r_cuda_free(l->p[i]);
    l->n = 0;
}

static void get(float *dst, const float *d, size_t n) {
    g2r_error err = {0};
    if (g2r_cuda_download(dst, d, n * sizeof(float), NULL, &err)) t_fail(__FILE__, __LINE__, "%s", err.msg);
}

/* A host matrix of dtype dt with the values of f (rounded for 16-bit types). */
static void *to_dtype(const float *f, size_t n, g2r_dtype dt) {
    if (dt == G2R_DT_F32) {
        float *o = malloc(n * 4);
        memcpy(o, f, n * 4);
        return o;
    }
    uint16_t *o = malloc(n * 2);
    for (size_t i = 0; i < n; i++) o[i] = dt == G2R_DT_BF16 ? g2r_f32_to_bf16(f[i]) : g2r_f32_to_f16(f[i]);
    return o;
}

static float round_to(float x, g2r_dtype dt) {
    if (dt == G2R_DT_BF16) return g2r_bf16_to_f32(g2r_f32_to_bf16(x));
    if (dt == G2R_DT_F16) return g2r_f16_to_f32(g2r_f32_to_f16(x));
    return x;
}

/* n device values of dtype dt, as floats. */
static void get_as_f32(float *dst, const void *d, size_t n, g2r_dtype dt) {
    if (dt == G2R_DT_F32) {
        get(dst, d, n);
        return;
    }
    uint16_t *h = malloc(n * 2);
    g2r_error err = {0};
    if (g2r_cuda_download(h, d, n * 2, NULL, &err)) t_fail(__FILE__, __LINE__, "%s", err.msg);
    for (size_t i = 0; i < n; i++) dst[i] = dt == G2R_DT_BF16 ? g2r_bf16_to_f32(h[i]) : g2r_f16_to_f32(h[i]);
    free(h);
}

/* n NaNs of dtype dt on the device: every element must be written. */
static void *dev_nan_as(dev_list *l, size_t n, g2r_dtype dt) {
    float *h = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) h[i] = NAN;
    void *hd = to_dtype(h, n, dt), *d = dev_put(l, hd, n * g2r_dtype_size(dt));
    free(h), free(hd);
    return d;
}

/* A 16-bit output against the F32 reference rounded the same way: only
 * elements whose F32 values straddle a rounding boundary may differ. */
#define OUT16_TOL 2e-3

TEST(cuda_init_reports_a_missing_device) {
    g2r_error err = {0};
    g2r_status st = g2r_cuda_init(&err);
    if (g2r_cuda_device_count() > 0) {
        CHECK(st == G2R_OK);
        return;
    }
    CHECK(st == G2R_EDEVICE);
    CHECK_CONTAINS(err.msg, "no CUDA device");
}

/* ------------------------------------------------------------- matmul */

/* One case: T x K times a K x N (or, nt, N x K) matrix of dtype dt through path. */
static void matmul_case(g2r_rng *r, int T, int K, int N, g2r_dtype dt, g2r_cuda_mm_path path, int nt, int gelu,
                        int accumulate, int ldo_pad) {
    const g2r_kernels *ref = g2r_kernels_scalar();
    int ldo = N + ldo_pad;
    size_t nw = (size_t)K * N, no = (size_t)T * ldo;
    float *in = malloc((size_t)T * K * 4), *wf = malloc(nw * 4), *bias = malloc((size_t)N * 4);
    float *old = malloc(no * 4), *want = malloc(no * 4), *got = malloc(no * 4);
    fill(r, in, (size_t)T * K, 1.0f);
    fill(r, wf, nw, 0.1f);
    fill(r, bias, (size_t)N, 0.5f);
    fill(r, old, no, 1.0f);
    void *wh = to_dtype(wf, nw, dt);
    g2r_matrix hm = {.dtype = dt, .rows = nt ? N : K, .cols = nt ? K : N, .data = wh};

    /* the reference sees what the tensor cores see: activations rounded to 16
     * bits (AUTO picks the tensor cores for 16-bit weights and T > 4) */
    int tensor = path == G2R_CUDA_MM_TENSOR || (path == G2R_CUDA_MM_AUTO && dt != G2R_DT_F32 && T > 4);
    float *in_ref = malloc((size_t)T * K * 4);
    for (size_t i = 0; i < (size_t)T * K; i++) in_ref[i] = tensor ? round_to(in[i], dt) : in[i];
    memcpy(want, old, no * 4);
    if (nt) ref->matmul_nt(want, ldo, in_ref, &hm, T, 0, N);
    else {
        float *tmp = malloc(no * 4);
        ref->matmul(tmp, ldo, in_ref, &hm, bias, T, 0, N, gelu);
        for (int t = 0; t < T; t++)
            for (int n = 0; n < N; n++) {
                size_t i = (size_t)t * ldo + n;
                want[i] = accumulate ? old[i] + tmp[i] : tmp[i];
            }
        free(tmp);
    }

    dev_list dl = {0};
    float *d_in = dev_put(&dl, in, (size_t)T * K * 4);
    void *d_w = dev_put(&dl, wh, nw * g2r_dtype_size(dt));
    float *d_bias = dev_put(&dl, bias, (size_t)N * 4);
    float *d_out = dev_put(&dl, old, no * 4);
    if (nt || !accumulate) { /* poison: every output must be written */
        float *h = malloc(no * 4);
        for (size_t i = 0; i < no; i++) h[i] = NAN;
        for (int t = 0; t < T; t++)
            for (int n = N; n < ldo; n++) h[(size_t)t * ldo + n] = old[(size_t)t * ldo + n];
        g2r_error e0 = {0};
        g2r_cuda_upload(d_out, h, no * 4, NULL, &e0);
        free(h);
    }
    g2r_cuda_matrix dm = {dt, hm.rows, hm.cols, d_w};
    g2r_error err = {0};
    g2r_status st = nt ? g2r_cuda_matmul_nt(d_out, ldo, d_in, &dm, T, path, NULL, &err)
                       : g2r_cuda_matmul(d_out, ldo, d_in, &dm, d_bias, T, gelu, accumulate, path, NULL, &err);
    if (st == G2R_OK) st = g2r_cuda_sync(NULL, &err);
    if (st) t_fail(__FILE__, __LINE__, "%s", err.msg);
    get(got, d_out, no);
    double tol = tensor ? 2e-3 : 1e-5;
    double e = rel_err(got, want, no);
    if (!(e <= tol))
        t_fail(__FILE__, __LINE__, "matmul T=%d K=%d N=%d %s path %d nt=%d gelu=%d acc=%d: relative error %.3g > %g", T,
               K, N, g2r_dtype_name(dt), (int)path, nt, gelu, accumulate, e, tol);
    /* padding columns past N are never touched */
    for (int t = 0; t < T && ldo_pad; t++)
        for (int n = N; n < ldo; n++)
            if (got[(size_t)t * ldo + n] != old[(size_t)t * ldo + n]) {
                t_fail(__FILE__, __LINE__, "matmul wrote past column N=%d (row %d, column %d)", N, t, n);
                t = T;
                break;
            }
    dev_free(&dl);
    free(in), free(in_ref), free(wf), free(bias), free(old), free(want), free(got), free(wh);
}

TEST(cuda_matmul_every_path_matches_scalar) {
    if (!have_gpu()) return;
    g2r_rng r = {42};
    static const int shapes[][3] = {{1, 64, 96}, {3, 40, 50}, {4, 768, 2304}, {37, 96, 130},
                                    {130, 256, 200}, {129, 33, 7}, {260, 768, 264}};
    const g2r_dtype dts[] = {G2R_DT_F32, G2R_DT_F16, G2R_DT_BF16};
    const g2r_cuda_mm_path paths[] = {G2R_CUDA_MM_SIMT, G2R_CUDA_MM_TENSOR, G2R_CUDA_MM_GEMV, G2R_CUDA_MM_AUTO};
    int c = 0;
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
        for (int d = 0; d < 3; d++)
            for (int p = 0; p < 4; p++) {
                if (paths[p] == G2R_CUDA_MM_TENSOR && dts[d] == G2R_DT_F32) continue;
                for (int nt = 0; nt < 2; nt++, c++)
                    matmul_case(&r, shapes[si][0], shapes[si][1], shapes[si][2], dts[d], paths[p], nt, c % 3 == 1,
                                c % 4 == 2, c % 5 == 0 ? 3 : 0);
            }
}

TEST(cuda_matmul_rejects_f32_on_tensor_cores) {
    if (!have_gpu()) return;
    g2r_cuda_matrix m = {G2R_DT_F32, 16, 16, NULL};
    g2r_error err = {0};
    CHECK(g2r_cuda_matmul(NULL, 16, NULL, &m, NULL, 16, 0, 0, G2R_CUDA_MM_TENSOR, NULL, &err) == G2R_EARG);
    CHECK_CONTAINS(err.msg, "F16 or BF16");
}

/* The 16-bit tensor-core path (g2r_cuda_matmul16): in is already 16-bit, so
 * the reference gets exactly the same operands; out is F32 or 16-bit. */
static void matmul16_case(g2r_rng *r, int T, int K, int N, g2r_dtype dt, int nt, int gelu, int accumulate, int out16,
                          int ldo_pad) {
    const g2r_kernels *ref = g2r_kernels_scalar();
    int ldo = N + ldo_pad;
    g2r_dtype od = out16 ? dt : G2R_DT_F32;
    size_t nw = (size_t)K * N, no = (size_t)T * ldo, ni = (size_t)T * K;
    float *in = malloc(ni * 4), *wf = malloc(nw * 4), *bias = malloc((size_t)N * 4);
    float *old = malloc(no * 4), *want = malloc(no * 4), *got = malloc(no * 4);
    fill(r, in, ni, 1.0f);
    fill(r, wf, nw, 0.1f);
    fill(r, bias, (size_t)N, 0.5f);
    fill(r, old, no, 1.0f);
    for (size_t i = 0; i < no; i++) old[i] = round_to(old[i], od); /* representable in the output */
    for (size_t i = 0; i < ni; i++) in[i] = round_to(in[i], dt);
    void *wh = to_dtype(wf, nw, dt), *inh = to_dtype(in, ni, dt);
    g2r_matrix hm = {.dtype = dt, .rows = nt ? N : K, .cols = nt ? K : N, .data = wh};
    float *tmp = malloc(no * 4);
    memcpy(tmp, old, no * 4);
    if (nt) ref->matmul_nt(tmp, ldo, in, &hm, T, 0, N);
    else ref->matmul(tmp, ldo, in, &hm, bias, T, 0, N, gelu);
    for (int t = 0; t < T; t++)
        for (int n = 0; n < ldo; n++) {
            size_t i = (size_t)t * ldo + n;
            want[i] = n >= N ? old[i] : round_to(accumulate ? old[i] + tmp[i] : tmp[i], od);
        }
    free(tmp);

    dev_list dl = {0};
    void *d_in = dev_put(&dl, inh, ni * g2r_dtype_size(dt));
    void *d_w = dev_put(&dl, wh, nw * g2r_dtype_size(dt));
    float *d_bias = dev_put(&dl, bias, (size_t)N * 4);
    /* the old output, poisoned inside N unless it is accumulated into */
    float *h = malloc(no * 4);
    for (size_t i = 0; i < no; i++) h[i] = accumulate || (int)(i % ldo) >= N ? old[i] : NAN;
    void *hh = to_dtype(h, no, od);
    void *d_out = dev_put(&dl, hh, no * g2r_dtype_size(od));
    g2r_cuda_matrix dm = {dt, hm.rows, hm.cols, d_w};
    g2r_error err = {0};
    g2r_status st = nt ? g2r_cuda_matmul16_nt(d_out, ldo, d_in, &dm, T, NULL, &err)
                       : g2r_cuda_matmul16(d_out, od, ldo, d_in, &dm, d_bias, T, gelu, accumulate, NULL, &err);
    if (st == G2R_OK) st = g2r_cuda_sync(NULL, &err);
    if (st) t_fail(__FILE__, __LINE__, "%s", err.msg);
    get_as_f32(got, d_out, no, od);
    double tol = out16 ? OUT16_TOL : 1e-5; /* the same operands: only the order of the F32 sums differs */
    double e = rel_err(got, want, no);
    if (!(e <= tol))
        t_fail(__FILE__, __LINE__, "matmul16 T=%d K=%d N=%d %s nt=%d gelu=%d acc=%d out16=%d pad=%d: relative error %.3g > %g",
               T, K, N, g2r_dtype_name(dt), nt, gelu, accumulate, out16, ldo_pad, e, tol);
    for (int t = 0; t < T && ldo_pad; t++) /* padding columns past N are never touched */
        for (int n = N; n < ldo; n++)
            if (got[(size_t)t * ldo + n] != old[(size_t)t * ldo + n]) {
                t_fail(__FILE__, __LINE__, "matmul16 wrote past column N=%d (row %d, column %d)", N, t, n);
                t = T;
                break;
            }
    dev_free(&dl);
    free(in), free(wf), free(bias), free(old), free(want), free(got), free(wh), free(inh), free(h), free(hh);
}

TEST(cuda_matmul16_matches_scalar) {
    if (!have_gpu()) return;
    g2r_rng r = {43};
    /* multiples of 8 (16-byte copies) and not (element loads), partial tiles,
     * one row, K over several pipeline stages */
    static const int shapes[][3] = {{1, 64, 96},   {5, 40, 50},    {37, 96, 130},  {130, 256, 200},
                                    {129, 33, 7},  {260, 768, 264}, {200, 72, 2304}, {64, 3072, 136}};
    const g2r_dtype dts[] = {G2R_DT_F16, G2R_DT_BF16};
    int c = 0;
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
        for (int d = 0; d < 2; d++)
            for (int nt = 0; nt < 2; nt++, c++) {
                int out16 = !nt && c % 3 != 0, acc = !nt && !out16 && c % 2;
                matmul16_case(&r, shapes[si][0], shapes[si][1], shapes[si][2], dts[d], nt, !nt && c % 4 == 1, acc,
                              out16, c % 5 == 0 ? 3 : 0);
            }
}

TEST(cuda_matmul16_rejects_bad_dtypes) {
    if (!have_gpu()) return;
    g2r_error err = {0};
    g2r_cuda_matrix f32 = {G2R_DT_F32, 16, 16, NULL}, bf = {G2R_DT_BF16, 16, 16, NULL};
    CHECK(g2r_cuda_matmul16(NULL, G2R_DT_F32, 16, NULL, &f32, NULL, 16, 0, 0, NULL, &err) == G2R_EARG);
    CHECK_CONTAINS(err.msg, "F16 or BF16");
    CHECK(g2r_cuda_matmul16(NULL, G2R_DT_F16, 16, NULL, &bf, NULL, 16, 0, 0, NULL, &err) == G2R_EARG);
    CHECK_CONTAINS(err.msg, "output must be F32 or BF16");
    CHECK(g2r_cuda_matmul16(NULL, G2R_DT_BF16, 16, NULL, &bf, NULL, 16, 0, 1, NULL, &err) == G2R_EARG);
    CHECK_CONTAINS(err.msg, "accumulated");
}

/* ------------------------------------------------------------- rows */

TEST(cuda_layernorm_matches_scalar) {
    if (!have_gpu()) return;
    g2r_rng r = {7};
    /* a block per row up to 256 rows, a warp per row past that */
    const int shapes[][2] = {{1, 64}, {7, 96}, {33, 768}, {5, 1600}, {300, 768}, {257, 100}};
    const g2r_dtype outs[] = {G2R_DT_F32, G2R_DT_F16, G2R_DT_BF16};
    for (int si = 0; si < 6; si++)
        for (int oi = 0; oi < 3; oi++) {
            int T = shapes[si][0], C = shapes[si][1];
            g2r_dtype od = outs[oi];
            size_t n = (size_t)T * C;
            float *x = malloc(n * 4), *g = malloc((size_t)C * 4), *b = malloc((size_t)C * 4), *want = malloc(n * 4),
                  *got = malloc(n * 4);
            fill(&r, x, n, 3.0f);
            for (size_t i = 0; i < n; i++) x[i] += 2.0f; /* a mean far from 0 */
            fill(&r, g, (size_t)C, 1.0f);
            fill(&r, b, (size_t)C, 0.5f);
            g2r_kernels_scalar()->layernorm(want, x, g, b, T, C);
            for (size_t i = 0; i < n; i++) want[i] = round_to(want[i], od);
            dev_list dl = {0};
            float *dx = dev_put(&dl, x, n * 4), *dg = dev_put(&dl, g, (size_t)C * 4),
                  *db = dev_put(&dl, b, (size_t)C * 4);
            void *dout = dev_nan_as(&dl, n, od);
            g2r_error err = {0};
            CHECK(g2r_cuda_layernorm(dout, od, dx, dg, db, T, C, NULL, &err) == G2R_OK);
            get_as_f32(got, dout, n, od);
            CHECK_REL(got, want, n, od == G2R_DT_F32 ? 1e-5 : OUT16_TOL);
            dev_free(&dl);
            free(x), free(g), free(b), free(want), free(got);
        }
}

TEST(cuda_embed_is_wte_row_plus_wpe) {
    if (!have_gpu()) return;
    g2r_rng r = {9};
    int V = 101, C = 72, P = 40, T = 19;
    float *wte = malloc((size_t)V * C * 4), *wpe = malloc((size_t)P * C * 4);
    fill(&r, wte, (size_t)V * C, 1.0f);
    fill(&r, wpe, (size_t)P * C, 1.0f);
    int ids[19], pos[19];
    for (int t = 0; t < T; t++) ids[t] = (int)(g2r_rng_u64(&r) % (uint64_t)V), pos[t] = (t * 7) % P;
    const g2r_dtype dts[] = {G2R_DT_F32, G2R_DT_F16, G2R_DT_BF16};
    for (int d = 0; d < 3; d++) {
        void *wh = to_dtype(wte, (size_t)V * C, dts[d]);
        g2r_matrix hm = {.dtype = dts[d], .rows = V, .cols = C, .data = wh};
        float *want = malloc((size_t)T * C * 4), *got = malloc((size_t)T * C * 4);
        for (int t = 0; t < T; t++) {
            g2r_kernels_scalar()->row(want + (size_t)t * C, &hm, ids[t]);
            for (int c = 0; c < C; c++) want[(size_t)t * C + c] += wpe[(size_t)pos[t] * C + c];
        }
        dev_list dl = {0};
        g2r_cuda_matrix dm = {dts[d], V, C, dev_put(&dl, wh, (size_t)V * C * g2r_dtype_size(dts[d]))};
        float *dwpe = dev_put(&dl, wpe, (size_t)P * C * 4), *dx = dev_nan(&dl, (size_t)T * C);
        int *dids = dev_put(&dl, ids, sizeof ids), *dpos = dev_put(&dl, pos, sizeof pos);
        g2r_error err = {0};
        CHECK(g2r_cuda_embed(dx, &dm, dwpe, dids, dpos, T, NULL, &err) == G2R_OK);
        get(got, dx, (size_t)T * C);
        CHECK_REL(got, want, (size_t)T * C, 0.0); /* conversions are exact */
        dev_free(&dl);
        free(wh), free(want), free(got);
    }
    free(wte), free(wpe);
}

TEST(cuda_pool_mean_and_last_are_normalised) {
    if (!have_gpu()) return;
    g2r_rng r = {11};
    int C = 96, n = 3, row0[3] = {0, 5, 6}, len[3] = {5, 1, 9}, rows = 15;
    float *h = malloc((size_t)rows * C * 4);
    fill(&r, h, (size_t)rows * C, 1.0f);
    for (int last = 0; last < 2; last++) {
        float want[3 * 96], got[3 * 96];
        for (int i = 0; i < n; i++) {
            double ss = 0.0;
            for (int c = 0; c < C; c++) {
                float a = 0.0f;
                if (last) a = h[(size_t)(row0[i] + len[i] - 1) * C + c];
                else {
                    for (int t = 0; t < len[i]; t++) a += h[(size_t)(row0[i] + t) * C + c];
                    a /= (float)len[i];
                }
                want[i * C + c] = a;
                ss += (double)a * a;
            }
            for (int c = 0; c < C; c++) want[i * C + c] = (float)(want[i * C + c] / sqrt(ss));
        }
        dev_list dl = {0};
        float *dh = dev_put(&dl, h, (size_t)rows * C * 4), *dout = dev_nan(&dl, (size_t)n * C);
        int *dr = dev_put(&dl, row0, sizeof row0), *dlen = dev_put(&dl, len, sizeof len);
        g2r_error err = {0};
        CHECK(g2r_cuda_pool(dout, dh, dr, dlen, n, C, last, NULL, &err) == G2R_OK);
        get(got, dout, (size_t)n * C);
        CHECK_REL(got, want, (size_t)n * C, 1e-5);
        dev_free(&dl);
    }
    free(h);
}

/* ------------------------------------------------------------- attention */

/* Sequences with cached pasts get new rows; the GPU stores K/V and attends;
 * the reference runs scalar attend() per row and head over the same cache. */
static void attention_case(int C, int n_head, int n, const int *past, const int *n_new, int decode,
                           g2r_dtype od, int kv_in_qkv, int tc) {
    const g2r_kernels *ref = g2r_kernels_scalar();
    g2r_rng r = {(uint64_t)(C * 131 + n_head * 7 + decode)};
    int max_tokens = 0, rows = 0, max_new = 0, hd = C / n_head;
    int row0[8], slot[8];
    for (int i = 0; i < n; i++) {
        if (past[i] + n_new[i] > max_tokens) max_tokens = past[i] + n_new[i];
        row0[i] = rows, rows += n_new[i], slot[i] = n - 1 - i; /* slots not in sequence order */
        if (n_new[i] > max_new) max_new = n_new[i];
    }
    size_t cache_n = (size_t)n * max_tokens * C;
    float *kc = malloc(cache_n * 4), *vc = malloc(cache_n * 4), *qkv = malloc((size_t)rows * 3 * C * 4);
    fill(&r, kc, cache_n, 1.0f);
    fill(&r, vc, cache_n, 1.0f);
    fill(&r, qkv, (size_t)rows * 3 * C, 1.0f);
    dev_list dl = {0};
    float *dk = dev_put(&dl, kc, cache_n * 4), *dv = dev_put(&dl, vc, cache_n * 4);
    float *dqkv = dev_put(&dl, qkv, (size_t)rows * 3 * C * 4);
    void *dout = dev_nan_as(&dl, (size_t)rows * C, od);
    int *dr = dev_put(&dl, row0, sizeof(int) * n), *dn = dev_put(&dl, n_new, sizeof(int) * n);
    int *dp = dev_put(&dl, past, sizeof(int) * n), *ds = dev_put(&dl, slot, sizeof(int) * n);
    g2r_cuda_kv kv = {dk, dv, max_tokens, C, n_head};
    g2r_cuda_batch b = {n, max_new, dr, dn, dp, ds, kv_in_qkv};
    g2r_error err = {0};
    if (!kv_in_qkv) CHECK(g2r_cuda_kv_store(&kv, dqkv, &b, NULL, &err) == G2R_OK); /* else the cache stays junk */
    g2r_status st = tc ? g2r_cuda_attention_tc(dout, od, dqkv, &kv, &b, NULL, &err)
                       : g2r_cuda_attention(dout, od, dqkv, &kv, &b, decode, NULL, &err);
    if (st) t_fail(__FILE__, __LINE__, "%s", err.msg);
    float *got = malloc((size_t)rows * C * 4), *want = malloc((size_t)rows * C * 4);
    get_as_f32(got, dout, (size_t)rows * C, od);
    /* the host cache after the store */
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n_new[i]; j++) {
            size_t at = ((size_t)slot[i] * max_tokens + past[i] + j) * C;
            memcpy(kc + at, qkv + (size_t)(row0[i] + j) * 3 * C + C, (size_t)C * 4);
            memcpy(vc + at, qkv + (size_t)(row0[i] + j) * 3 * C + 2 * C, (size_t)C * 4);
        }
    float *scratch = malloc((size_t)max_tokens * 4);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n_new[i]; j++)
            for (int h = 0; h < n_head; h++) {
                size_t base = (size_t)slot[i] * max_tokens * C + (size_t)h * hd;
                ref->attend(want + (size_t)(row0[i] + j) * C + h * hd, qkv + (size_t)(row0[i] + j) * 3 * C + h * hd,
                            kc + base, vc + base, past[i] + j + 1, hd, (size_t)C, scratch);
            }
    for (size_t i = 0; i < (size_t)rows * C; i++) want[i] = round_to(want[i], od);
    double e = rel_err(got, want, (size_t)rows * C);
    /* tensor cores: q, k, v and the softmax weights rounded to F16 */
    double tol = (od == G2R_DT_F32 ? 1e-5 : OUT16_TOL) + (tc ? 1e-3 : 0.0); /* measured 2.5e-4 */
    if (!(e <= tol))
        t_fail(__FILE__, __LINE__, "attention C=%d heads=%d decode=%d out %s tc=%d: relative error %.3g > %g", C,
               n_head, decode, g2r_dtype_name(od), tc, e, tol);
    b.kv_in_qkv = 0;
    CHECK(g2r_cuda_kv_store(&kv, dqkv, &b, NULL, &err) == G2R_OK);
    float *kgot = malloc(cache_n * 4);
    get(kgot, dk, cache_n);
    CHECK(memcmp(kgot, kc, cache_n * 4) == 0);
    dev_free(&dl);
    free(kc), free(vc), free(qkv), free(got), free(want), free(scratch), free(kgot);
}

TEST(cuda_attention_prefill_matches_scalar) {
    if (!have_gpu()) return;
    const int past[] = {0, 70, 0, 3}, n_new[] = {5, 3, 130, 64};
    attention_case(64, 4, 4, past, n_new, 0, G2R_DT_F32, 0, 0);  /* hd 16 */
    attention_case(256, 4, 4, past, n_new, 0, G2R_DT_F32, 0, 0); /* hd 64 */
    attention_case(120, 4, 4, past, n_new, 0, G2R_DT_F32, 0, 0); /* hd 30: under a template size */
    attention_case(256, 4, 4, past, n_new, 0, G2R_DT_BF16, 0, 0);
    attention_case(120, 4, 4, past, n_new, 0, G2R_DT_F16, 0, 0);
    /* fresh sequences read K and V straight from qkv (embeddings) */
    const int none[] = {0, 0, 0, 0};
    attention_case(256, 4, 4, none, n_new, 0, G2R_DT_BF16, 1, 0);
    attention_case(120, 4, 4, none, n_new, 0, G2R_DT_F32, 1, 0);
}

TEST(cuda_attention_tc_matches_scalar) {
    if (!have_gpu()) return;
    const int past[] = {0, 70, 0, 3}, n_new[] = {5, 3, 130, 64}, none[] = {0, 0, 0, 0};
    attention_case(256, 4, 4, past, n_new, 0, G2R_DT_F32, 0, 1); /* from the cache, pasts over a tile */
    attention_case(768, 12, 4, past, n_new, 0, G2R_DT_BF16, 0, 1);
    attention_case(256, 4, 4, none, n_new, 0, G2R_DT_F16, 1, 1); /* K and V from qkv */
    g2r_cuda_kv kv = {NULL, NULL, 8, 120, 4};                    /* head size 30 */
    g2r_cuda_batch b = {1, 1, NULL, NULL, NULL, NULL, 0};
    g2r_error err = {0};
    CHECK(g2r_cuda_attention_tc(NULL, G2R_DT_F32, NULL, &kv, &b, NULL, &err) == G2R_EARG);
    CHECK_CONTAINS(err.msg, "head size 64");
}

TEST(cuda_attention_decode_matches_scalar) {
    if (!have_gpu()) return;
    const int past[] = {0, 5, 200, 1023}, n_new[] = {1, 1, 1, 1};
    attention_case(64, 4, 4, past, n_new, 1, G2R_DT_F32, 0, 0);
    attention_case(768, 12, 4, past, n_new, 1, G2R_DT_F32, 0, 0);
    attention_case(768, 12, 4, past, n_new, 1, G2R_DT_BF16, 0, 0);
}

/* ------------------------------------------------------------- top-K */

static int rank_before(float s, int64_t i, float t, int64_t j) { return s > t || (s == t && i < j); }

static void topk_case(size_t n, int dim, int k) {
    g2r_rng r = {n * 31 + (uint64_t)dim};
    float *x = malloc(n * (size_t)dim * 4), q[800];
    fill(&r, x, n * (size_t)dim, 1.0f);
    fill(&r, q, (size_t)dim, 1.0f);
    if (n > 17)
        for (int c = 0; c < dim; c++) x[(size_t)17 * dim + c] = 0.0f; /* a zero row scores 0 */
    /* reference: cosine in double, then the k best by a plain selection */
    double qn = 0.0;
    for (int c = 0; c < dim; c++) qn += (double)q[c] * q[c];
    float *score = malloc(n * 4);
    for (size_t i = 0; i < n; i++) {
        double d = 0.0, xx = 0.0;
        for (int c = 0; c < dim; c++) d += (double)x[i * dim + c] * q[c], xx += (double)x[i * dim + c] * x[i * dim + c];
        score[i] = xx > 0.0 ? (float)(d / sqrt(xx * qn)) : 0.0f;
    }
    int64_t want[128];
    for (int j = 0; j < k; j++) {
        int64_t best = -1;
        for (size_t i = 0; i < n; i++) {
            int taken = 0;
            for (int u = 0; u < j; u++) taken |= want[u] == (int64_t)i;
            if (!taken && (best < 0 || rank_before(score[i], (int64_t)i, score[best], best))) best = (int64_t)i;
        }
        want[j] = best;
    }
    dev_list dl = {0};
    float *dx = dev_put(&dl, x, n * (size_t)dim * 4), *dq = dev_put(&dl, q, (size_t)dim * 4);
    void *work = dev_put(&dl, NULL, g2r_cuda_topk_work_bytes(n, k));
    int64_t ids[128];
    float got[128];
    g2r_error err = {0};
    g2r_status st = g2r_cuda_topk(dx, n, dim, dq, k, work, ids, got, NULL, &err);
    if (st) t_fail(__FILE__, __LINE__, "%s", err.msg);
    for (int j = 0; j < k && !st; j++) {
        CHECK(ids[j] >= 0 && ids[j] < (int64_t)n);
        CHECK_NEAR(got[j], score[want[j]], 1e-5);
        /* the same id, unless the two scores tie within rounding */
        int64_t id = ids[j] >= 0 && ids[j] < (int64_t)n ? ids[j] : want[j];
        if (ids[j] != want[j] && fabsf(score[id] - score[want[j]]) > 1e-5f)
            t_fail(__FILE__, __LINE__, "top-%d n=%zu dim=%d: rank %d is id %lld, expected %lld", k, n, dim, j,
                   (long long)ids[j], (long long)want[j]);
        if (j) CHECK(got[j] <= got[j - 1]);
    }
    dev_free(&dl);
    free(x), free(score);
}

TEST(cuda_topk_matches_exhaustive_search) {
    if (!have_gpu()) return;
    topk_case(1000, 64, 10);
    topk_case(20011, 96, 10);   /* many blocks, ragged last block */
    topk_case(3000, 7, 5);      /* dimension not a multiple of 4: scalar loads */
    topk_case(5000, 32, 128);   /* the largest k */
    topk_case(12, 768, 12);     /* k = n */
}

TEST(cuda_topk_rejects_bad_k) {
    if (!have_gpu()) return;
    g2r_error err = {0};
    int64_t ids[1];
    float sc[1];
    CHECK(g2r_cuda_topk(NULL, 10, 4, NULL, 11, NULL, ids, sc, NULL, &err) == G2R_EARG);
    CHECK(g2r_cuda_topk(NULL, 1000, 4, NULL, G2R_CUDA_TOPK_MAX + 1, NULL, ids, sc, NULL, &err) == G2R_EARG);
    CHECK_CONTAINS(err.msg, "top-k");
}

/* ------------------------------------------------------------- whole forward */

/* A tiny GPT-2 with random F32 weights, held in host memory. */
typedef struct {
    g2r_gpt2_weights w;
    g2r_layer_weights layers[2];
    float *buf;
} tiny_model;

static float *take_floats(float **p, size_t n) {
    float *r = *p;
    *p += n;
    return r;
}

static void tiny_new(tiny_model *t, g2r_rng *r) {
    const int L = 2, C = 64, V = 97, P = 48;
    memset(t, 0, sizeof *t);
    t->w.cfg = (g2r_config){.n_layer = L, .n_head = 4, .n_embd = C, .n_vocab = V, .n_ctx = P};
    t->w.dtype = G2R_DT_F32;
    size_t per_layer = 4 * (size_t)C + 3 * (size_t)C * C + 3 * C + (size_t)C * C + C + 4 * (size_t)C * C + 4 * C +
                       4 * (size_t)C * C + C;
    size_t total = (size_t)V * C + (size_t)P * C + 2 * (size_t)C + L * per_layer;
    t->buf = malloc(total * 4);
    fill(r, t->buf, total, 0.15f);
    float *p = t->buf;
    t->w.wte = (g2r_matrix){.dtype = G2R_DT_F32, .rows = V, .cols = C, .data = take_floats(&p, (size_t)V * C)};
    t->w.wpe = take_floats(&p, (size_t)P * C);
    t->w.ln_f_w = take_floats(&p, C);
    t->w.ln_f_b = take_floats(&p, C);
    for (int l = 0; l < L; l++) {
        g2r_layer_weights *w = &t->layers[l];
        w->ln_1_w = take_floats(&p, C), w->ln_1_b = take_floats(&p, C);
        w->ln_2_w = take_floats(&p, C), w->ln_2_b = take_floats(&p, C);
        w->c_attn = (g2r_matrix){.dtype = G2R_DT_F32, .rows = C, .cols = 3 * C, .data = take_floats(&p, 3 * (size_t)C * C)};
        w->c_attn_b = take_floats(&p, 3 * (size_t)C);
        w->attn_proj = (g2r_matrix){.dtype = G2R_DT_F32, .rows = C, .cols = C, .data = take_floats(&p, (size_t)C * C)};
        w->attn_proj_b = take_floats(&p, C);
        w->fc = (g2r_matrix){.dtype = G2R_DT_F32, .rows = C, .cols = 4 * C, .data = take_floats(&p, 4 * (size_t)C * C)};
        w->fc_b = take_floats(&p, 4 * (size_t)C);
        w->mlp_proj = (g2r_matrix){.dtype = G2R_DT_F32, .rows = 4 * C, .cols = C, .data = take_floats(&p, 4 * (size_t)C * C)};
        w->mlp_proj_b = take_floats(&p, C);
        /* gains near 1 */
        for (int c = 0; c < C; c++) ((float *)w->ln_1_w)[c] += 1.0f, ((float *)w->ln_2_w)[c] += 1.0f;
    }
    for (int c = 0; c < C; c++) ((float *)t->w.ln_f_w)[c] += 1.0f;
    t->w.layers = t->layers;
}

/* The reference forward of one whole sequence on the CPU with the scalar
 * kernels: ln_f output (hidden) and logits of every position. */
static void cpu_forward(const g2r_gpt2_weights *w, const int *ids, int T, float *hidden, float *logits) {
    const g2r_kernels *k = g2r_kernels_scalar();
    int C = w->cfg.n_embd, H = w->cfg.n_head, hd = C / H;
    float *x = calloc((size_t)T * C, 4), *xn = calloc((size_t)T * C, 4), *qkv = calloc((size_t)T * 3 * C, 4);
    float *att = calloc((size_t)T * C, 4), *fc = calloc((size_t)T * 4 * C, 4), *tmp = calloc((size_t)T * C, 4);
    float *scratch = calloc((size_t)T, 4);
    for (int t = 0; t < T; t++) {
        k->row(x + (size_t)t * C, &w->wte, ids[t]);
        for (int c = 0; c < C; c++) x[(size_t)t * C + c] += w->wpe[(size_t)t * C + c];
    }
    for (int l = 0; l < w->cfg.n_layer; l++) {
        const g2r_layer_weights *L = &w->layers[l];
        k->layernorm(xn, x, L->ln_1_w, L->ln_1_b, T, C);
        k->matmul(qkv, 3 * C, xn, &L->c_attn, L->c_attn_b, T, 0, 3 * C, 0);
        for (int t = 0; t < T; t++)
            for (int h = 0; h < H; h++)
                k->attend(att + (size_t)t * C + h * hd, qkv + (size_t)t * 3 * C + h * hd, qkv + C + h * hd,
                          qkv + 2 * C + h * hd, t + 1, hd, 3 * (size_t)C, scratch);
        k->matmul(tmp, C, att, &L->attn_proj, L->attn_proj_b, T, 0, C, 0);
        for (size_t i = 0; i < (size_t)T * C; i++) x[i] += tmp[i];
        k->layernorm(xn, x, L->ln_2_w, L->ln_2_b, T, C);
        k->matmul(fc, 4 * C, xn, &L->fc, L->fc_b, T, 0, 4 * C, 1);
        k->matmul(tmp, C, fc, &L->mlp_proj, L->mlp_proj_b, T, 0, C, 0);
        for (size_t i = 0; i < (size_t)T * C; i++) x[i] += tmp[i];
    }
    k->layernorm(hidden, x, w->ln_f_w, w->ln_f_b, T, C);
    if (logits) k->matmul_nt(logits, w->cfg.n_vocab, hidden, &w->wte, T, 0, w->cfg.n_vocab);
    free(x), free(xn), free(qkv), free(att), free(fc), free(tmp), free(scratch);
}

/* Two sequences: a prompt each (different lengths) in one batched call, then
 * one decode step each; every position's logits against the CPU. */
static void forward_case(g2r_dtype dev_dtype, double tol) {
    g2r_rng r = {1234};
    tiny_model tm;
    tiny_new(&tm, &r);
    const g2r_gpt2_weights *w = &tm.w;
    int V = w->cfg.n_vocab, C = w->cfg.n_embd;
    int a[21], b[9];
    for (int i = 0; i < 21; i++) a[i] = (int)(g2r_rng_u64(&r) % (uint64_t)V);
    for (int i = 0; i < 9; i++) b[i] = (int)(g2r_rng_u64(&r) % (uint64_t)V);
    float *ref_a = malloc((size_t)21 * V * 4), *ref_b = malloc((size_t)9 * V * 4);
    float *hid_a = malloc((size_t)21 * C * 4), *hid_b = malloc((size_t)9 * C * 4);
    cpu_forward(w, a, 21, hid_a, ref_a);
    cpu_forward(w, b, 9, hid_b, ref_b);

    g2r_cuda_model *m = NULL;
    g2r_cuda_session *s = NULL;
    g2r_error err = {0};
    if (g2r_cuda_model_new(w, dev_dtype, &m, &err) || g2r_cuda_session_new(m, 2, 24, &s, &err)) {
        t_fail(__FILE__, __LINE__, "%s", err.msg);
        g2r_cuda_model_free(m);
        free(tm.buf), free(ref_a), free(ref_b), free(hid_a), free(hid_b);
        return;
    }
    /* prefill 20 + 8 tokens, then one more each */
    const int *ids1[2] = {a, b};
    int n1[2] = {20, 8};
    float *got = malloc((size_t)28 * V * 4);
    CHECK(g2r_cuda_forward(s, 2, ids1, n1, G2R_OUT_LOGITS, got, &err) == G2R_OK);
    double e1 = rel_err(got, ref_a, (size_t)20 * V), e2 = rel_err(got + (size_t)20 * V, ref_b, (size_t)8 * V);
    if (!(e1 <= tol && e2 <= tol)) t_fail(__FILE__, __LINE__, "prefill logits: errors %.3g %.3g > %g", e1, e2, tol);
    const int *ids2[2] = {a + 20, b + 8};
    int n2[2] = {1, 1};
    CHECK(g2r_cuda_forward(s, 2, ids2, n2, G2R_OUT_LOGITS, got, &err) == G2R_OK);
    e1 = rel_err(got, ref_a + (size_t)20 * V, V), e2 = rel_err(got + V, ref_b + (size_t)8 * V, V);
    if (!(e1 <= tol && e2 <= tol)) t_fail(__FILE__, __LINE__, "decode logits: errors %.3g %.3g > %g", e1, e2, tol);
    CHECK_EQ_INT(g2r_cuda_session_len(s, 0), 21);
    CHECK_EQ_INT(g2r_cuda_session_len(s, 1), 9);

    /* the cache is full at 24: 4 more tokens do not fit */
    int n3[2] = {4, 0};
    CHECK(g2r_cuda_forward(s, 2, ids1, n3, G2R_OUT_HIDDEN, NULL, &err) == G2R_ERANGE);
    int bad = V;
    const int *ids4[1] = {&bad};
    int n4[1] = {1};
    CHECK(g2r_cuda_forward(s, 1, ids4, n4, G2R_OUT_HIDDEN, NULL, &err) == G2R_ERANGE);
    CHECK_EQ_INT(g2r_cuda_session_len(s, 0), 21); /* a refused call changes nothing */

    /* pooled embeddings of both sequences */
    const int *ids5[2] = {a, b};
    int lens[2] = {21, 9};
    float emb[2 * 64], want[2 * 64];
    CHECK(g2r_cuda_embed_seqs(s, 2, ids5, lens, G2R_POOL_MEAN, emb, &err) == G2R_OK);
    for (int i = 0; i < 2; i++) {
        const float *h = i ? hid_b : hid_a;
        double ss = 0.0;
        for (int c = 0; c < C; c++) {
            float acc = 0.0f;
            for (int t = 0; t < lens[i]; t++) acc += h[(size_t)t * C + c];
            want[i * C + c] = acc / (float)lens[i];
            ss += (double)want[i * C + c] * want[i * C + c];
        }
        for (int c = 0; c < C; c++) want[i * C + c] = (float)(want[i * C + c] / sqrt(ss));
    }
    CHECK_REL(emb, want, 2 * (size_t)C, tol);
    g2r_cuda_session_free(s);
    g2r_cuda_model_free(m);
    free(tm.buf), free(ref_a), free(ref_b), free(hid_a), free(hid_b), free(got);
}

TEST(cuda_forward_f32_matches_cpu) {
    if (!have_gpu()) return;
    forward_case(G2R_DT_F32, 1e-4);
}

TEST(cuda_forward_bf16_matches_cpu) {
    if (!have_gpu()) return;
    forward_case(G2R_DT_BF16, 3e-2);
}

TEST(cuda_forward_f16_matches_cpu) {
    if (!have_gpu()) return;
    forward_case(G2R_DT_F16, 5e-3);
}

/* ------------------------------------------------------------- the engine with --device cuda */

static g2r_model *load_on(const char *path, g2r_device dev) {
    g2r_options o = {.n_threads = 2, .device = dev};
    g2r_model *m = NULL;
    g2r_error err = {0};
    if (g2r_model_load(path, &o, &m, &err) != G2R_OK) t_fail(__FILE__, __LINE__, "%s", err.msg);
    return m;
}

TEST(cuda_model_load_needs_a_device) {
    if (g2r_cuda_device_count() > 0) {
        t_skip("a CUDA device is present (the other tests use it)");
        return;
    }
    g2r_options o = {.device = G2R_DEVICE_CUDA};
    g2r_model *m = NULL;
    g2r_error err = {0};
    char path[600];
    snprintf(path, sizeof path, "%s/golden/tiny.safetensors", t_data_dir());
    CHECK(g2r_model_load(path, &o, &m, &err) == G2R_EDEVICE);
    CHECK_CONTAINS(err.msg, "no CUDA device");
    CHECK(m == NULL);
}

/* Goldens (PyTorch, F32 arithmetic) through g2r_model_load(--device cuda) and
 * g2r_forward; the engine's measure, max|diff| / max|ref|.  F16/BF16 models
 * keep their dtype on the device, so the tensor-core path rounds activations
 * too: F32 1e-4, F16 5e-3, BF16 5e-2. */
TEST(cuda_engine_matches_goldens) {
    if (!have_gpu()) return;
    golden_case cases[8];
    int n = golden_load(cases, 8);
    REQUIRE(n >= 1);
    for (int i = 0; i < n; i++) {
        const golden_case *c = &cases[i];
        double tol = !strcmp(c->dtype, "F32") ? 1e-4 : !strcmp(c->dtype, "F16") ? 5e-3 : 5e-2;
        g2r_model *m = load_on(c->model, G2R_DEVICE_CUDA);
        if (!m) continue;
        g2r_model_info info;
        g2r_model_info_get(m, &info);
        CHECK(!strcmp(info.kernels, "cuda"));
        for (int w = 0; w < 2; w++) {
            g2r_output what = w ? G2R_OUT_HIDDEN : G2R_OUT_LOGITS;
            size_t row = (size_t)(w ? c->n_embd : c->n_vocab), n_ref;
            int T = golden_total_tokens(c);
            float *ref = read_f32(w ? c->hidden : c->logits, &n_ref);
            float *out = malloc((size_t)T * row * sizeof *out);
            if (ref && n_ref == (size_t)T * row && forward_all(m, c->n_seqs, c->ids, c->lens, what, out) == G2R_OK) {
                double d = rel_diff(out, ref, n_ref);
                if (!(d <= tol))
                    t_fail(__FILE__, __LINE__, "%s on CUDA, %s: relative difference %.3g > %g", c->name,
                           w ? "hidden" : "logits", d, tol);
            } else {
                t_fail(__FILE__, __LINE__, "%s: golden forward on CUDA did not run", c->name);
            }
            free(ref), free(out);
        }
        g2r_model_free(m);
    }
    golden_free(cases, n);
}

/* A Q8 file goes to the device as BF16 (dequantised on upload): its logits
 * against the CPU's Q8 forward differ by BF16 rounding of weights and, on the
 * tensor cores, activations, and by the CPU's int8 inputs (Q8 products
 * quantise them): 3e-2 by the engine's max-relative measure (9.3e-3 measured
 * on the CPU emulation with float inputs; 2.0e-2 CPU Q8 against CPU BF16 of
 * the same weights with int8 inputs). */
TEST(cuda_engine_q8_model_runs_as_bf16) {
    if (!have_gpu()) return;
    /* both layer layouts: the cols one goes up transposed back to [in, out] */
    for (int lay = 0; lay < 2; lay++) {
        char in[600], out[700];
        snprintf(in, sizeof in, "%s/golden/tiny.safetensors", t_data_dir());
        snprintf(out, sizeof out, "%s/tiny_q8_%d.safetensors", t_tmpdir(), lay);
        g2r_error err = {0};
        REQUIRE(g2r_gpt2_convert(in, out, G2R_DT_Q8, 32, lay ? G2R_Q8_GROUP_ROWS : G2R_Q8_GROUP_COLS, 0, &err) == G2R_OK);
        g2r_model *cpu = load_on(out, G2R_DEVICE_CPU), *gpu = load_on(out, G2R_DEVICE_CUDA);
        if (cpu && gpu) {
            int V = g2r_model_config(cpu).n_vocab, ids[2][20], lens[2] = {20, 3};
            int *rows[2] = {ids[0], ids[1]};
            for (int i = 0; i < 2; i++)
                for (int t = 0; t < 20; t++) ids[i][t] = (i * 131 + t * 17 + 5) % V;
            float *a = malloc((size_t)23 * V * 4), *b = malloc((size_t)23 * V * 4);
            CHECK(forward_all(cpu, 2, rows, lens, G2R_OUT_LOGITS, a) == G2R_OK);
            CHECK(forward_all(gpu, 2, rows, lens, G2R_OUT_LOGITS, b) == G2R_OK);
            double d = rel_diff(b, a, (size_t)23 * V);
            if (!(d <= 3e-2))
                t_fail(__FILE__, __LINE__, "Q8 (%s layout) on CUDA vs CPU: relative difference %.3g > 0.03",
                       lay ? "rows" : "cols", d);
            free(a), free(b);
        }
        g2r_model_free(cpu), g2r_model_free(gpu);
    }
}

/* g2r_embed and g2r_generate on the device against the CPU engine. */
TEST(cuda_engine_embed_and_generate_match_cpu) {
    if (!have_gpu()) return;
    char path[600];
    snprintf(path, sizeof path, "%s/golden/tiny.safetensors", t_data_dir());
    g2r_model *cpu = load_on(path, G2R_DEVICE_CPU), *gpu = load_on(path, G2R_DEVICE_CUDA);
    if (!cpu || !gpu) {
        g2r_model_free(cpu), g2r_model_free(gpu);
        return;
    }
    int C = g2r_model_config(cpu).n_embd, V = g2r_model_config(cpu).n_vocab;
    enum { N = 5 };
    int lens[N] = {1, 7, 33, 64, 12}, buf[N][64];
    const int *ids[N];
    g2r_rng r = {77};
    for (int i = 0; i < N; i++) {
        for (int t = 0; t < lens[i]; t++) buf[i][t] = (int)(g2r_rng_u64(&r) % (uint64_t)V);
        ids[i] = buf[i];
    }
    float *a = malloc((size_t)N * C * 4), *b = malloc((size_t)N * C * 4);
    g2r_error err = {0};
    for (int pool = 0; pool < 2; pool++) {
        CHECK(g2r_embed(cpu, N, ids, lens, (g2r_pooling)pool, a, &err) == G2R_OK);
        CHECK(g2r_embed(gpu, N, ids, lens, (g2r_pooling)pool, b, &err) == G2R_OK);
        CHECK_REL(b, a, (size_t)N * C, 1e-4);
    }
    g2r_sampler smp = {.temperature = 0.0f, .max_new = 16};
    int out_a[16], out_b[16], na = 0, nb = 0;
    CHECK(g2r_generate(cpu, buf[1], lens[1], &smp, out_a, 16, &na, NULL, NULL, &err) == G2R_OK);
    CHECK(g2r_generate(gpu, buf[1], lens[1], &smp, out_b, 16, &nb, NULL, NULL, &err) == G2R_OK);
    CHECK_EQ_INT(nb, na);
    for (int i = 0; i < na && i < nb; i++) CHECK_EQ_INT(out_b[i], out_a[i]);
    free(a), free(b);
    g2r_model_free(cpu), g2r_model_free(gpu);
}

#endif
