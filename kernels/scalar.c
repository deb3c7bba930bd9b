/* scalar.c — the portable reference kernels: plain loops, one output at a time. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "common/half.h"
#include "kernels/kernels.h"
#include "kernels/wrow.h"

float g2r_gelu(float x) {
    /* GPT-2's tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) */
    const float s = 0.7978845608028654f;
    return 0.5f * x * (1.0f + tanhf(s * (x + 0.044715f * x * x * x)));
}

/* ------------------------------------------------------- Q8 x int8 products
 *
 * A Q8 product quantises its input too, per group of the same `group` inputs
 * the weight scales cover (kernels.h), so each group is one exact integer sum:
 *   xs = max|x| / 127,  xq = rint(clamp(x * (127 / max|x|), -127, 127))
 *   out = sum over groups, in order, of (float)(sum xq * q) * (xs * ws)
 * (a multiply, then an add: no FMA).  Integer sums do not depend on order, so
 * every ISA gives these bits exactly. */

/* Scale of one group of inputs; *inv multiplies an input to its int8 value. */
static float act_scale(const float *x, int n, float *inv) {
    float amax = 0.0f;
    for (int i = 0; i < n; i++) amax = fmaxf(amax, fabsf(x[i]));
    *inv = amax > 0.0f ? 127.0f / amax : 0.0f;
    return amax / 127.0f;
}

static int act_q(float x, float inv) { return (int)rintf(fminf(fmaxf(x * inv, -127.0f), 127.0f)); }

static void matmul_nt_q8(float *out, int ldo, const float *in, const g2r_matrix *w, int T, int v0, int v1) {
    int K = w->cols, g = w->group;
    const int8_t *q = w->data;
    for (int t = 0; t < T; t++) {
        const float *x = in + (size_t)t * K;
        for (int v = v0; v < v1; v++) {
            float acc = 0.0f;
            for (int k0 = 0; k0 < K; k0 += g) {
                float inv, xs = act_scale(x + k0, g, &inv);
                int32_t isum = 0;
                for (int k = k0; k < k0 + g; k++) isum += act_q(x[k], inv) * q[(size_t)v * K + k];
                float s = xs * w->scale[(size_t)v * (K / g) + k0 / g];
                float p = (float)isum * s;
                acc = acc + p;
            }
            out[(size_t)t * ldo + v] = acc;
        }
    }
}

/* Q8 rows layout, the one group (= slice) of rows from k0: o[n - n0] = (float)isum * (xs * ws). */
static void slice_q8(float *o, const float *x, const g2r_matrix *w, int k0, int n0, int n1) {
    int g = w->group;
    const int8_t *q = w->data;
    float inv, xs = act_scale(x + k0, g, &inv);
    for (int n = n0; n < n1; n++) {
        int32_t isum = 0;
        for (int k = k0; k < k0 + g; k++) isum += act_q(x[k], inv) * q[(size_t)k * w->cols + n];
        float s = xs * w->scale[(size_t)(k0 / g) * w->cols + n];
        o[n - n0] = 0.0f + (float)isum * s;
    }
}

/* o[n - n0] = the sum over rows [k0, k1), from zero in k order (k outer
 * keeps the W reads sequential). */
static void slice_sum(float *o, const float *x, const g2r_matrix *w, int k0, int k1, int n0, int n1) {
    if (w->dtype == G2R_DT_Q8 && w->q8_layout == G2R_Q8_GROUP_ROWS) {
        slice_q8(o, x, w, k0, n0, n1);
        return;
    }
    for (int n = n0; n < n1; n++) o[n - n0] = 0.0f;
    for (int k = k0; k < k1; k++) {
        float a = x[k];
        for (int n = n0; n < n1; n++) o[n - n0] += a * w_elem(w, k, n);
    }
}

static float finish(float acc, const float *bias, int n, int gelu) {
    float v = acc + (bias ? bias[n] : 0.0f);
    return gelu ? g2r_gelu(v) : v;
}

#define CHUNK 256 /* columns per pass of matmul: one slice's sums on the stack */

static void matmul(float *out, int ldo, const float *in, const g2r_matrix *w, const float *bias, int T,
                   int n0, int n1, int gelu) {
    int K = w->rows, sl = g2r_kslice(w);
    float tmp[CHUNK];
    for (int t = 0; t < T; t++) {
        const float *x = in + (size_t)t * K;
        float *o = out + (size_t)t * ldo;
        for (int c0 = n0; c0 < n1; c0 += CHUNK) {
            int c1 = n1 - c0 < CHUNK ? n1 : c0 + CHUNK;
            slice_sum(o + c0, x, w, 0, sl < K ? sl : K, c0, c1);
            for (int k0 = sl; k0 < K; k0 += sl) {
                slice_sum(tmp, x, w, k0, K - k0 < sl ? K : k0 + sl, c0, c1);
                for (int n = c0; n < c1; n++) o[n] = o[n] + tmp[n - c0];
            }
            for (int n = c0; n < c1; n++) o[n] = finish(o[n], bias, n, gelu);
        }
    }
}

static void matmul_slices(float *part, int ldo, size_t stride, const float *in, const g2r_matrix *w, int T,
                          int n0, int n1, int s0, int s1) {
    int K = w->rows, sl = g2r_kslice(w);
    for (int s = s0; s < s1; s++)
        for (int t = 0; t < T; t++) {
            int k0 = s * sl, k1 = K - k0 < sl ? K : k0 + sl;
            slice_sum(part + (size_t)(s - s0) * stride + (size_t)t * ldo + n0, in + (size_t)t * K, w, k0, k1, n0, n1);
        }
}

static void matmul_sum(float *out, int ldo, const float *part, size_t stride, int n_part, const float *bias,
                       int T, int n0, int n1, int gelu) {
    for (int t = 0; t < T; t++)
        for (int n = n0; n < n1; n++) {
            size_t i = (size_t)t * ldo + n;
            float acc = part[i];
            for (int s = 1; s < n_part; s++) acc = acc + part[(size_t)s * stride + i];
            out[i] = finish(acc, bias, n, gelu);
        }
}

static void matmul_nt(float *out, int ldo, const float *in, const g2r_matrix *w, int T, int v0, int v1) {
    if (w->dtype == G2R_DT_Q8 && w->q8_layout == G2R_Q8_GROUP_COLS) {
        matmul_nt_q8(out, ldo, in, w, T, v0, v1);
        return;
    }
    int K = w->cols;
    for (int t = 0; t < T; t++) {
        const float *x = in + (size_t)t * K;
        for (int v = v0; v < v1; v++) {
            float acc = 0.0f;
            for (int k = 0; k < K; k++) acc += x[k] * w_elem(w, v, k);
            out[(size_t)t * ldo + v] = acc;
        }
    }
}

static void layernorm(float *out, const float *in, const float *g, const float *b, int T, int C) {
    for (int t = 0; t < T; t++) {
        const float *x = in + (size_t)t * C;
        float *o = out + (size_t)t * C;
        float mean = 0.0f, var = 0.0f;
        for (int i = 0; i < C; i++) mean += x[i];
        mean /= (float)C;
        for (int i = 0; i < C; i++) var += (x[i] - mean) * (x[i] - mean);
        var /= (float)C;
        float rstd = 1.0f / sqrtf(var + 1e-5f);
        for (int i = 0; i < C; i++) o[i] = (x[i] - mean) * rstd * g[i] + b[i];
    }
}

static void attend2(float *out, const float *q, const float *k1, const float *v1, int n1, const float *k2,
                    const float *v2, int n2, int hd, size_t stride, float *scratch) {
    float scale = 1.0f / sqrtf((float)hd);
    float mx = -INFINITY;
    for (int j = 0; j < n1 + n2; j++) {
        const float *kj = j < n1 ? k1 + (size_t)j * stride : k2 + (size_t)(j - n1) * stride;
        float s = 0.0f;
        for (int d = 0; d < hd; d++) s += q[d] * kj[d];
        s *= scale;
        scratch[j] = s;
        if (s > mx) mx = s;
    }
    float sum = 0.0f;
    for (int j = 0; j < n1 + n2; j++) {
        scratch[j] = expf(scratch[j] - mx);
        sum += scratch[j];
    }
    float inv = 1.0f / sum;
    for (int d = 0; d < hd; d++) out[d] = 0.0f;
    for (int j = 0; j < n1 + n2; j++) {
        const float *vj = j < n1 ? v1 + (size_t)j * stride : v2 + (size_t)(j - n1) * stride;
        float p = scratch[j] * inv;
        for (int d = 0; d < hd; d++) out[d] += p * vj[d];
    }
}

static void attend(float *out, const float *q, const float *k, const float *v, int n_kv, int hd, size_t stride,
                   float *scratch) {
    attend2(out, q, k, v, n_kv, k, v, 0, hd, stride, scratch);
}

static void row(float *out, const g2r_matrix *w, int r) {
    for (int c = 0; c < w->cols; c++) out[c] = w_elem(w, r, c);
}

static const g2r_kernels table = {
    .name = "scalar",
    .kind = G2R_KERNELS_SCALAR,
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

const g2r_kernels *g2r_kernels_scalar(void) { return &table; }
