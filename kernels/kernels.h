/* kernels.h — math on arrays, one table of function pointers per instruction set.
 *
 * Kernels know nothing of models or files.  The portable scalar table is the
 * reference; AVX2, AVX-512 (and NEON, CUDA) variants compute the same functions
 * and are tested against it.  g2r_kernels_get() picks one once, from cpuid.
 *
 * Every kernel writes a caller-chosen range of outputs so that the engine can
 * split work over threads by outputs; a kernel's result for one output must
 * not depend on the range it was called with (bit-for-bit determinism for any
 * thread count). */
#ifndef G2R_KERNELS_H
#define G2R_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "gpt2rank.h"

typedef enum {
    G2R_DT_F32 = 0,
    G2R_DT_F16,
    G2R_DT_BF16,
    G2R_DT_Q8, /* int8 values, symmetric, float scales (layout: see q8 below) */
} g2r_dtype;

/* Bytes per element (1 for Q8); inline, so the kernels' inner loops fold it
 * for their constant dtype. */
static inline __attribute__((always_inline)) size_t g2r_dtype_size(g2r_dtype t) {
    switch (t) {
    case G2R_DT_F32: return 4;
    case G2R_DT_F16:
    case G2R_DT_BF16: return 2;
    case G2R_DT_Q8: return 1;
    }
    return 0;
}
const char *g2r_dtype_name(g2r_dtype t);

/* A weight matrix W of rows x cols, row-major: element (r, c) at data[r*cols + c].
 * GPT-2's Conv1D weights are [in, out] (rows = inputs); wte is [vocab, embd].
 *
 * Q8 is symmetric int8 with float scales over groups taken along the dimension
 * a product reduces over, so one scale multiplies a whole partial sum:
 *   G2R_Q8_GROUP_ROWS (matmul, Conv1D weights): W(r,c) = q[r*cols+c] * scale[(r/group)*cols + c]
 *   G2R_Q8_GROUP_COLS (matmul_nt, wte):        W(r,c) = q[r*cols+c] * scale[r*(cols/group) + c/group]
 * group divides the grouped dimension.
 *
 * When the groups run along the reduced dimension (matmul with ROWS, matmul_nt
 * with COLS: the layouts convert writes), a Q8 product quantises its input
 * too, per group, symmetric: xs = max|x| / 127, xq = rint(x * 127 / max|x|),
 * and sums each group exactly in integers (int8 x int8, VNNI where there is
 * one), then out = sum over groups in order of (float)isum * (xs * ws), a
 * multiply then an add.  scalar.c has the definition; every table gives its
 * bits (integer sums do not depend on order).  The other pairings widen the
 * weights to float as the other dtypes do. */
typedef enum { G2R_Q8_GROUP_ROWS = 0, G2R_Q8_GROUP_COLS } g2r_q8_layout;

typedef struct {
    g2r_dtype dtype;
    int rows, cols;
    const void *data;
    const float *scale;       /* Q8 only */
    int group;                /* Q8 only */
    g2r_q8_layout q8_layout;  /* Q8 only */
    const void *packed;       /* optional kernel-specific copy made by pack(); NULL if none */
} g2r_matrix;

/* Rows of W per slice of matmul's sum over k: a Q8 matrix in the rows layout
 * sums each group exactly in integers, so its slice is one group; the others
 * take G2R_KSLICE rows (the prefill micro-kernels' k block).  The last slice
 * may be shorter. */
#define G2R_KSLICE 128
static inline int g2r_kslice(const g2r_matrix *w) {
    return w->dtype == G2R_DT_Q8 && w->q8_layout == G2R_Q8_GROUP_ROWS ? w->group : G2R_KSLICE;
}
static inline int g2r_kslices(const g2r_matrix *w) { return (w->rows + g2r_kslice(w) - 1) / g2r_kslice(w); }

typedef struct {
    const char *name;
    g2r_kernels_kind kind;

    /* out[t*ldo + n] = act(bias[n] + sum_k in[t*K + k] * W[k][n]) for t < T,
     * n in [n0, n1), K = W->rows; act is GELU (tanh form) when gelu, else identity.
     * bias may be NULL.  The sum over k is taken in slices (g2r_kslice()):
     *   out = act((((S_0 + S_1) + S_2) + ...) + bias)
     * where S_s sums its slice's rows from zero in k order. */
    void (*matmul)(float *out, int ldo, const float *in, const g2r_matrix *w, const float *bias,
                   int T, int n0, int n1, int gelu);

    /* S_s alone, for each slice s in [s0, s1), into part + (s - s0) * stride
     * (row t at t*ldo, column n at n).  Batch-1 decode reads W in K slices,
     * one contiguous run of rows per thread, then matmul_sum() finishes. */
    void (*matmul_slices)(float *part, int ldo, size_t stride, const float *in, const g2r_matrix *w, int T,
                          int n0, int n1, int s0, int s1);

    /* out = act((((part_0 + part_1) + ...) + bias): n_part slices' sums,
     * stride apart, into what matmul() gives, bit for bit. */
    void (*matmul_sum)(float *out, int ldo, const float *part, size_t stride, int n_part, const float *bias,
                       int T, int n0, int n1, int gelu);

    /* out[t*ldo + v] = sum_k in[t*K + k] * W[v][k] for t < T, v in [v0, v1), K = W->cols.
     * (the logits projection against the tied token embedding) */
    void (*matmul_nt)(float *out, int ldo, const float *in, const g2r_matrix *w, int T, int v0, int v1);

    /* out[t] = (in[t] - mean) / sqrt(var + 1e-5) * g + b, per row of C, T rows. */
    void (*layernorm)(float *out, const float *in, const float *g, const float *b, int T, int C);

    /* One query row of one head against n_kv cached positions:
     * out[d] = sum_j softmax_j(q . k_j / sqrt(hd)) v_j[d], with k_j = k + j*stride,
     * v_j = v + j*stride.  scratch holds n_kv floats. */
    void (*attend)(float *out, const float *q, const float *k, const float *v, int n_kv, int hd,
                   size_t stride, float *scratch);

    /* attend() over positions in two runs: n1 at k1/v1, then n2 at k2/v2 (a
     * shared prefix, then a sequence's own positions), stride floats apart;
     * bit for bit what attend() gives for the same n1 + n2 positions in one run. */
    void (*attend2)(float *out, const float *q, const float *k1, const float *v1, int n1, const float *k2,
                    const float *v2, int n2, int hd, size_t stride, float *scratch);

    /* Row r of W as floats (embedding lookup for any dtype). */
    void (*row)(float *out, const g2r_matrix *w, int r);

    /* Optional: a copy of w in the layout this table's matmul reads best, or
     * NULL to use w->data as it is.  Freed with free(). */
    void *(*pack)(const g2r_matrix *w);
} g2r_kernels;

/* The table for kind, or NULL when this CPU (or this build) lacks it.
 * AUTO: the best available. */
const g2r_kernels *g2r_kernels_get(g2r_kernels_kind kind);

/* Each ISA file exports its table (NULL-safe: absent ones return NULL). */
const g2r_kernels *g2r_kernels_scalar(void);
const g2r_kernels *g2r_kernels_avx2(void);
const g2r_kernels *g2r_kernels_avx512(void);

float g2r_gelu(float x);

#endif
