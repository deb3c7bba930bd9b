/* cuda_rows.cu — the row-wise kernels: embedding lookup, layernorm, KV-cache
 * stores, pooling.  Each is memory-bound: one block (or warp) per row,
 * coalesced loads, no intermediate written back. */
#include "kernels/cuda/cuda_common.cuh"

/* ------------------------------------------------------------ embedding */

template <typename W>
__global__ void embed_kernel(float *x, const W *wte, const float *wpe, const int *ids, const int *pos, int C) {
    int t = blockIdx.x;
    const W *e = wte + (size_t)ids[t] * C;
    const float *p = wpe ? wpe + (size_t)pos[t] * C : NULL;
    float *o = x + (size_t)t * C;
    for (int c = threadIdx.x; c < C; c += blockDim.x) o[c] = g2r_to_f32(e[c]) + (p ? p[c] : 0.0f);
}

extern "C" g2r_status g2r_cuda_embed(float *d_x, const g2r_cuda_matrix *wte, const float *d_wpe, const int *d_ids,
                                     const int *d_pos, int T, g2r_cuda_stream s, g2r_error *err) {
    if (T <= 0) return G2R_OK;
    int C = wte->cols;
    cudaStream_t st = g2r_stream(s);
    switch (wte->dtype) {
    case G2R_DT_F32: embed_kernel<<<T, 256, 0, st>>>(d_x, (const float *)wte->data, d_wpe, d_ids, d_pos, C); break;
    case G2R_DT_F16: embed_kernel<<<T, 256, 0, st>>>(d_x, (const __half *)wte->data, d_wpe, d_ids, d_pos, C); break;
    case G2R_DT_BF16:
        embed_kernel<<<T, 256, 0, st>>>(d_x, (const __nv_bfloat16 *)wte->data, d_wpe, d_ids, d_pos, C);
        break;
    default: return g2r_fail(err, G2R_EARG, "cuda: embed: %s weights are not supported on the device", g2r_dtype_name(wte->dtype));
    }
    return g2r_cuda_launched("embed_kernel", err);
}

/* ------------------------------------------------------------ layernorm */

/* Block-wide sum of one value per thread (blockDim.x a multiple of 32, <= 1024). */
__device__ float block_sum(float v, float *red) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, n_warps = blockDim.x >> 5;
    v = g2r_warp_sum(v);
    __syncthreads(); /* red may still be read from a previous call */
    if (lane == 0) red[warp] = v;
    __syncthreads();
    v = lane < n_warps ? red[lane] : 0.0f;
    return g2r_warp_sum(v);
}

/* Two layouts of one computation (mean, then the variance about the mean, as
 * the scalar reference does; the row is re-read from L1):
 *   few rows (decode): a block per row, so a row's 768+ columns are spread
 *     over 256 threads and the latency of one row is short;
 *   many rows (prefill, embedding): a warp per row, 8 rows per block, sums by
 *     warp shuffles alone: no shared memory, no barriers (48 -> 30 us for
 *     16384 x 768 on an H200, where the block layout was measured). */
#define LN_ROWS 8
#define LN_FEW 256 /* rows up to which a block takes one row */

template <typename O>
__global__ void layernorm_row_kernel(O *out, const float *in, const float *g, const float *b, int C) {
    __shared__ float red[32];
    const float *x = in + (size_t)blockIdx.x * C;
    O *o = out + (size_t)blockIdx.x * C;
    float s = 0.0f;
    for (int c = threadIdx.x; c < C; c += blockDim.x) s += x[c];
    float mean = block_sum(s, red) / (float)C;
    float v = 0.0f;
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        float d = x[c] - mean;
        v += d * d;
    }
    float rstd = rsqrtf(block_sum(v, red) / (float)C + 1e-5f);
    for (int c = threadIdx.x; c < C; c += blockDim.x) g2r_store_f32(o + c, (x[c] - mean) * rstd * g[c] + b[c]);
}

template <typename O>
__global__ void __launch_bounds__(LN_ROWS * 32)
    layernorm_warp_kernel(O *out, const float *in, const float *g, const float *b, int T, int C) {
    int row = blockIdx.x * LN_ROWS + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    if (row >= T) return; /* whole warps: the shuffles below see all 32 lanes */
    const float *x = in + (size_t)row * C;
    O *o = out + (size_t)row * C;
    float s = 0.0f;
#pragma unroll 4
    for (int c = lane; c < C; c += 32) s += x[c];
    float mean = g2r_warp_sum(s) / (float)C;
    float v = 0.0f;
#pragma unroll 4
    for (int c = lane; c < C; c += 32) {
        float d = x[c] - mean;
        v += d * d;
    }
    float rstd = rsqrtf(g2r_warp_sum(v) / (float)C + 1e-5f);
#pragma unroll 4
    for (int c = lane; c < C; c += 32) g2r_store_f32(o + c, (x[c] - mean) * rstd * g[c] + b[c]);
}

template <typename O>
static void launch_layernorm(O *out, const float *in, const float *g, const float *b, int T, int C, cudaStream_t st) {
    if (T <= LN_FEW) {
        int threads = C >= 1024 ? 512 : C >= 256 ? 256 : 128;
        layernorm_row_kernel<<<T, threads, 0, st>>>(out, in, g, b, C);
    } else
        layernorm_warp_kernel<<<g2r_ceil_div(T, LN_ROWS), LN_ROWS * 32, 0, st>>>(out, in, g, b, T, C);
}

extern "C" g2r_status g2r_cuda_layernorm(void *d_out, g2r_dtype out_dtype, const float *d_in, const float *d_g,
                                         const float *d_b, int T, int C, g2r_cuda_stream s, g2r_error *err) {
    if (T <= 0) return G2R_OK;
    cudaStream_t st = g2r_stream(s);
    switch (out_dtype) {
    case G2R_DT_F32: launch_layernorm((float *)d_out, d_in, d_g, d_b, T, C, st); break;
    case G2R_DT_F16: launch_layernorm((__half *)d_out, d_in, d_g, d_b, T, C, st); break;
    case G2R_DT_BF16: launch_layernorm((__nv_bfloat16 *)d_out, d_in, d_g, d_b, T, C, st); break;
    default: return g2r_fail(err, G2R_EARG, "cuda: layernorm: no %s output", g2r_dtype_name(out_dtype));
    }
    return g2r_cuda_launched("layernorm_kernel", err);
}

/* ------------------------------------------------------------ KV cache */

/* grid (max_new, n_seqs): row i of sequence s goes to cache position past + i. */
__global__ void kv_store_kernel(float *kc, float *vc, const float *qkv, const int *row0, const int *n_new,
                                const int *past, const int *slot, int max_tokens, int C) {
    int s = blockIdx.y, i = blockIdx.x;
    if (i >= n_new[s]) return;
    const float *r = qkv + (size_t)(row0[s] + i) * 3 * C;
    size_t at = ((size_t)slot[s] * max_tokens + past[s] + i) * C;
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        kc[at + c] = r[C + c];
        vc[at + c] = r[2 * C + c];
    }
}

extern "C" g2r_status g2r_cuda_kv_store(const g2r_cuda_kv *kv, const float *d_qkv, const g2r_cuda_batch *b,
                                        g2r_cuda_stream s, g2r_error *err) {
    if (b->n_seqs <= 0 || b->max_new <= 0) return G2R_OK;
    dim3 grid(b->max_new, b->n_seqs);
    kv_store_kernel<<<grid, 256, 0, g2r_stream(s)>>>(kv->k, kv->v, d_qkv, b->row0, b->n_new, b->past, b->slot,
                                                      kv->max_tokens, kv->C);
    return g2r_cuda_launched("kv_store_kernel", err);
}

/* ------------------------------------------------------------ pooling */

/* One block per sequence; each thread owns columns c, c + blockDim, ... */
__global__ void pool_kernel(float *out, const float *h, const int *row0, const int *len, int C, int last) {
    __shared__ float red[32];
    extern __shared__ float pooled[]; /* C floats */
    int i = blockIdx.x, n = len[i];
    const float *rows = h + (size_t)row0[i] * C;
    float ss = 0.0f;
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        float acc = 0.0f;
        if (last) acc = rows[(size_t)(n - 1) * C + c];
        else {
            for (int t = 0; t < n; t++) acc += rows[(size_t)t * C + c];
            acc /= (float)n;
        }
        pooled[c] = acc;
        ss += acc * acc;
    }
    float norm = sqrtf(block_sum(ss, red));
    float inv = norm > 0.0f ? 1.0f / norm : 0.0f;
    for (int c = threadIdx.x; c < C; c += blockDim.x) out[(size_t)i * C + c] = pooled[c] * inv;
}

extern "C" g2r_status g2r_cuda_pool(float *d_out, const float *d_h, const int *d_row0, const int *d_len, int n, int C,
                                    int last, g2r_cuda_stream s, g2r_error *err) {
    if (n <= 0) return G2R_OK;
    pool_kernel<<<n, 256, (size_t)C * sizeof(float), g2r_stream(s)>>>(d_out, d_h, d_row0, d_len, C, last);
    return g2r_cuda_launched("pool_kernel", err);
}
