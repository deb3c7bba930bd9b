/* cuda_kernels.h — the GPU kernels, behind a plain C API.
 *
 * The same functions as kernels/kernels.h (matmul with bias and GELU, logits,
 * layernorm, attention, embedding rows) plus what a batched forward and the
 * ranker need on the device: KV-cache stores, pooling and cosine top-K.
 * Compiled only with `make CUDA=1` (the .cu files here, sm_90 + PTX).
 *
 * Pointers named d_* are device memory.  Every call is queued on `stream`
 * (NULL: the default stream) and returns at once; a launch failure is reported
 * here, a failure while running at the next g2r_cuda_sync or copy.  Every
 * status is a g2r_status with a message naming the CUDA call that failed. */
#ifndef G2R_CUDA_KERNELS_H
#define G2R_CUDA_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "gpt2rank.h"
#include "kernels/kernels.h" /* g2r_dtype */

typedef void *g2r_cuda_stream; /* a cudaStream_t */

/* ------------------------------------------------------------- runtime */

/* Selects device 0.  G2R_EDEVICE "no CUDA device" when there is none. */
g2r_status g2r_cuda_init(g2r_error *err);
/* Number of devices, 0 when the driver or the device is missing (never fails). */
int g2r_cuda_device_count(void);
/* "NVIDIA H200, 132 SMs, 139.8 GiB" into buf. */
void g2r_cuda_device_name(char *buf, size_t cap);

g2r_status g2r_cuda_malloc(void **d_out, size_t bytes, const char *what, g2r_error *err);
void g2r_cuda_free(void *d);
g2r_status g2r_cuda_upload(void *d_dst, const void *src, size_t bytes, g2r_cuda_stream s, g2r_error *err);
g2r_status g2r_cuda_download(void *dst, const void *d_src, size_t bytes, g2r_cuda_stream s, g2r_error *err);
/* Waits for everything queued on s; reports errors raised while running. */
g2r_status g2r_cuda_sync(g2r_cuda_stream s, g2r_error *err);
/* Fills n floats with a deterministic uniform [-1, 1) sequence (benches, tests). */
g2r_status g2r_cuda_fill_uniform(float *d, size_t n, uint64_t seed, g2r_cuda_stream s, g2r_error *err);

/* ------------------------------------------------------------- kernels */

/* A weight matrix in device memory, row-major [rows, cols]; F32, F16 or BF16. */
typedef struct {
    g2r_dtype dtype;
    int rows, cols;
    const void *data;
} g2r_cuda_matrix;

/* Which matrix multiply to use; AUTO picks by T and dtype.  The others exist
 * so that tests can check each path (TENSOR needs F16 or BF16 weights). */
typedef enum {
    G2R_CUDA_MM_AUTO = 0,
    G2R_CUDA_MM_SIMT,   /* F32 FMA, tiled through shared memory */
    G2R_CUDA_MM_TENSOR, /* WMMA tensor cores, 16-bit operands, F32 accumulation */
    G2R_CUDA_MM_GEMV,   /* few rows (decode): streams W once per 4 rows */
} g2r_cuda_mm_path;

/* out[t*ldo + n] = (accumulate ? out[t*ldo + n] : 0) + act(bias[n] + sum_k in[t*K + k] W[k][n])
 * for t < T, n < N; W is [K, N] (Conv1D), act is GELU (tanh) when gelu.  bias may be NULL. */
g2r_status g2r_cuda_matmul(float *d_out, int ldo, const float *d_in, const g2r_cuda_matrix *w,
                           const float *d_bias, int T, int gelu, int accumulate, g2r_cuda_mm_path path,
                           g2r_cuda_stream s, g2r_error *err);

/* out[t*ldo + v] = sum_k in[t*K + k] W[v][k] for t < T, v < V; W is [V, K] (tied wte). */
g2r_status g2r_cuda_matmul_nt(float *d_out, int ldo, const float *d_in, const g2r_cuda_matrix *w, int T,
                              g2r_cuda_mm_path path, g2r_cuda_stream s, g2r_error *err);

/* The tensor-core path of the batched forward, with 16-bit activations:
 * in [T, K] is in the weights' dtype (F16 or BF16), sums are F32, and out is
 * F32 (then accumulate may add to it: the residual) or the weights' dtype.
 * out[t*ldo + n] = (accumulate ? out : 0) + act(bias[n] + sum_k in[t*K + k] W[k][n]),
 * W [K, N] (Conv1D).  The _nt form reads W [N, K] (tied wte) into F32 logits. */
g2r_status g2r_cuda_matmul16(void *d_out, g2r_dtype out_dtype, int ldo, const void *d_in, const g2r_cuda_matrix *w,
                             const float *d_bias, int T, int gelu, int accumulate, g2r_cuda_stream s, g2r_error *err);
g2r_status g2r_cuda_matmul16_nt(float *d_out, int ldo, const void *d_in, const g2r_cuda_matrix *w, int T,
                                g2r_cuda_stream s, g2r_error *err);

/* out[t] = (in[t] - mean) / sqrt(var + 1e-5) * g + b per row of C, T rows;
 * out is F32, F16 or BF16 (out_dtype: the next matmul's input). */
g2r_status g2r_cuda_layernorm(void *d_out, g2r_dtype out_dtype, const float *d_in, const float *d_g,
                              const float *d_b, int T, int C, g2r_cuda_stream s, g2r_error *err);

/* x[t] = wte[ids[t]] + wpe[pos[t]] for t < T (wpe may be NULL: no positions). */
g2r_status g2r_cuda_embed(float *d_x, const g2r_cuda_matrix *wte, const float *d_wpe, const int *d_ids,
                          const int *d_pos, int T, g2r_cuda_stream s, g2r_error *err);

/* A batch of sequences laid out row after row: sequence i owns rows
 * row0[i] .. row0[i] + n_new[i] - 1, which are its positions past[i] onwards.
 * Arrays are device memory, n_seqs long; slot[i] is its KV-cache slot. */
typedef struct {
    int n_seqs;
    int max_new;        /* max of n_new (host value, sizes the grid) */
    const int *row0, *n_new, *past, *slot;
    /* Prefill with every past 0 and no cache wanted afterwards (embeddings):
     * attention reads K and V straight from qkv, and nothing is stored. */
    int kv_in_qkv;
} g2r_cuda_batch;

/* The KV cache of one layer: k and v are [slots][max_tokens][C], head h at
 * columns h*hd .. h*hd + hd - 1. */
typedef struct {
    float *k, *v;
    int max_tokens, C, n_head;
} g2r_cuda_kv;

/* Copies the K and V thirds of qkv ([rows, 3C]: q | k | v) into the cache. */
g2r_status g2r_cuda_kv_store(const g2r_cuda_kv *kv, const float *d_qkv, const g2r_cuda_batch *b,
                             g2r_cuda_stream s, g2r_error *err);

/* out[r, h*hd..] = causal softmax(q k^T / sqrt(hd)) v for every new row, over
 * positions 0 .. past + i of its sequence (already stored in kv).
 * prefill: flash-style tiles of queries; decode: one query per sequence and
 * head (every n_new == 1) split over the cached positions.  hd <= 64.
 * out is F32, F16 or BF16 (out_dtype), [rows, C]. */
g2r_status g2r_cuda_attention(void *d_out, g2r_dtype out_dtype, const float *d_qkv, const g2r_cuda_kv *kv,
                              const g2r_cuda_batch *b, int decode, g2r_cuda_stream s, g2r_error *err);

/* The prefill of g2r_cuda_attention on the tensor cores: Q, K, V and the
 * softmax weights rounded to F16, F32 sums; head size 64, C % 8 == 0 and
 * 16-byte aligned buffers (else G2R_EARG).  The forward uses it only when the
 * CUDA sources are built with -DG2R_ATTN_TC, until it is measured faster. */
g2r_status g2r_cuda_attention_tc(void *d_out, g2r_dtype out_dtype, const float *d_qkv, const g2r_cuda_kv *kv,
                                 const g2r_cuda_batch *b, g2r_cuda_stream s, g2r_error *err);

/* out[i] = L2-normalised (mean of rows row0[i] .. row0[i]+len[i]-1 of h, or
 * its last row when last), C floats per row. */
g2r_status g2r_cuda_pool(float *d_out, const float *d_h, const int *d_row0, const int *d_len, int n, int C,
                         int last, g2r_cuda_stream s, g2r_error *err);

/* ------------------------------------------------------------- top-K */

#define G2R_CUDA_TOPK_MAX 128

/* Cosine top-K of one query against n rows of dim floats (device memory),
 * best first, ties to the lower id; rows of zero norm score 0.  Writes k ids
 * and scores to host memory (k <= min(n, G2R_CUDA_TOPK_MAX)).  d_work holds
 * g2r_cuda_topk_work_bytes(n, k) bytes. */
size_t g2r_cuda_topk_work_bytes(size_t n, int k);
g2r_status g2r_cuda_topk(const float *d_index, size_t n, int dim, const float *d_query, int k, void *d_work,
                         int64_t *ids, float *scores, g2r_cuda_stream s, g2r_error *err);

#ifdef __cplusplus
}
#endif

#endif
