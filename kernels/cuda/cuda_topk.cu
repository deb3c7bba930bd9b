/* cuda_topk.cu — cosine top-K of one query over an index in device memory.
 *
 * Bound by reading the index once (1M x 768 floats: 3 GB, about 0.7 ms on an
 * H200), so the scan streams 16-byte loads, one warp per row, and keeps the
 * selection off the critical path:
 *   1. scan: each warp keeps its own sorted top-K in shared memory (a row is
 *      inserted only when it beats the warp's current K-th, which soon gets
 *      rare); then the block merges its warps' lists into K candidates.
 *   2. merge: one block picks the K best of all blocks' candidates.
 * Order: higher score first, equal scores by lower id.  Selecting "the best
 * entry that ranks after the last one picked" K times needs no marks, since
 * (score, id) pairs are all distinct. */
#include <stdint.h>

#include "kernels/cuda/cuda_common.cuh"

#define TOPK_WARPS 8
#define TOPK_MAX_BLOCKS 1024

struct cand {
    float score;
    int64_t id;
};

__device__ __forceinline__ bool better(float s, int64_t i, float t, int64_t j) { return s > t || (s == t && i < j); }

__device__ __forceinline__ float block_sum_topk(float v, float *red) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    v = g2r_warp_sum(v);
    __syncthreads();
    if (lane == 0) red[warp] = v;
    __syncthreads();
    v = lane < (int)(blockDim.x >> 5) ? red[lane] : 0.0f;
    return g2r_warp_sum(v);
}

/* The best of n entries that ranks strictly after (ps, pi); every thread of
 * the block gets it.  (-inf, INT64_MAX) when none is left. */
__device__ cand block_next(const float *score, const int64_t *id, int n, float ps, int64_t pi, cand *red) {
    float bs = -INFINITY;
    int64_t bi = INT64_MAX;
    for (int e = threadIdx.x; e < n; e += blockDim.x) {
        float s = score[e];
        int64_t i = id[e];
        if (i != INT64_MAX && better(ps, pi, s, i) && better(s, i, bs, bi)) bs = s, bi = i;
    }
    for (int o = 16; o > 0; o >>= 1) {
        float s = __shfl_xor_sync(0xffffffffu, bs, o);
        int64_t i = __shfl_xor_sync(0xffffffffu, bi, o);
        if (better(s, i, bs, bi)) bs = s, bi = i;
    }
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, n_warps = blockDim.x >> 5;
    __syncthreads(); /* red may still be read from the previous round */
    if (lane == 0) red[warp] = cand{bs, bi};
    __syncthreads();
    cand best = {-INFINITY, INT64_MAX};
    for (int w = 0; w < n_warps; w++)
        if (better(red[w].score, red[w].id, best.score, best.id)) best = red[w];
    return best;
}

__global__ void __launch_bounds__(TOPK_WARPS * 32) topk_scan_kernel(const float *index, size_t n, int dim,
                                                                    const float *query, int k, int vec,
                                                                    float *part_score, int64_t *part_id) {
    extern __shared__ __align__(16) float q[]; /* dim floats, then the warps' lists */
    float *ws = q + ((dim + 3) & ~3);                               /* [TOPK_WARPS][k] */
    int64_t *wi = (int64_t *)(ws + ((TOPK_WARPS * k + 1) & ~1));     /* [TOPK_WARPS][k] */
    __shared__ float red[32];
    __shared__ cand cred[32];
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;

    float qq = 0.0f;
    for (int c = threadIdx.x; c < dim; c += blockDim.x) {
        float v = query[c];
        q[c] = v;
        qq += v * v;
    }
    for (int e = threadIdx.x; e < TOPK_WARPS * k; e += blockDim.x) ws[e] = -INFINITY, wi[e] = INT64_MAX;
    float qnorm = sqrtf(block_sum_topk(qq, red)); /* its barriers also publish q and the lists */

    float *my_s = ws + warp * k;
    int64_t *my_i = wi + warp * k;
    float worst = -INFINITY; /* the warp's K-th score, the same in every lane */
    int64_t worst_id = INT64_MAX;
    size_t step = (size_t)gridDim.x * TOPK_WARPS;
    for (size_t r = (size_t)blockIdx.x * TOPK_WARPS + warp; r < n; r += step) {
        const float *x = index + r * (size_t)dim;
        float dot = 0.0f, xx = 0.0f;
        if (vec) {
            const float4 *x4 = (const float4 *)x, *q4 = (const float4 *)q;
#pragma unroll 4 /* several 16-byte loads in flight before the first is used */
            for (int c = lane; c < dim / 4; c += 32) {
                float4 a = __ldcs(x4 + c), b = q4[c]; /* streamed: no reuse, keep it out of L2's way */
                dot += a.x * b.x + a.y * b.y + a.z * b.z + a.w * b.w;
                xx += a.x * a.x + a.y * a.y + a.z * a.z + a.w * a.w;
            }
        } else {
            for (int c = lane; c < dim; c += 32) {
                float a = x[c];
                dot += a * q[c];
                xx += a * a;
            }
        }
        dot = g2r_warp_sum(dot);
        xx = g2r_warp_sum(xx);
        float den = sqrtf(xx) * qnorm;
        float score = den > 0.0f ? dot / den : 0.0f;
        if (better(score, (int64_t)r, worst, worst_id)) {
            if (lane == 0) { /* insertion into the sorted list */
                int at = k - 1;
                while (at > 0 && better(score, (int64_t)r, my_s[at - 1], my_i[at - 1])) {
                    my_s[at] = my_s[at - 1], my_i[at] = my_i[at - 1];
                    at--;
                }
                my_s[at] = score, my_i[at] = (int64_t)r;
            }
            __syncwarp();
            worst = my_s[k - 1], worst_id = my_i[k - 1];
        }
    }
    __syncthreads();
    /* the block's K best of its warps' lists */
    float ps = INFINITY;
    int64_t pi = -1;
    for (int j = 0; j < k; j++) {
        cand c = block_next(ws, wi, TOPK_WARPS * k, ps, pi, cred);
        if (threadIdx.x == 0) part_score[(size_t)blockIdx.x * k + j] = c.score, part_id[(size_t)blockIdx.x * k + j] = c.id;
        ps = c.score, pi = c.id;
    }
}

__global__ void topk_merge_kernel(const float *part_score, const int64_t *part_id, int n, int k, float *out_score,
                                  int64_t *out_id) {
    __shared__ cand cred[32];
    float ps = INFINITY;
    int64_t pi = -1;
    for (int j = 0; j < k; j++) {
        cand c = block_next(part_score, part_id, n, ps, pi, cred);
        if (threadIdx.x == 0) out_score[j] = c.score, out_id[j] = c.id;
        ps = c.score, pi = c.id;
    }
}

static int scan_blocks(size_t n) {
    size_t b = (n + TOPK_WARPS - 1) / TOPK_WARPS;
    return (int)(b < TOPK_MAX_BLOCKS ? (b ? b : 1) : TOPK_MAX_BLOCKS);
}

/* Layout of the work buffer: ids first (8-byte aligned), then scores. */
extern "C" size_t g2r_cuda_topk_work_bytes(size_t n, int k) {
    size_t entries = (size_t)scan_blocks(n) * (size_t)k + (size_t)k;
    return entries * (sizeof(int64_t) + sizeof(float));
}

extern "C" g2r_status g2r_cuda_topk(const float *d_index, size_t n, int dim, const float *d_query, int k, void *d_work,
                                    int64_t *ids, float *scores, g2r_cuda_stream s, g2r_error *err) {
    if (k <= 0 || k > G2R_CUDA_TOPK_MAX || (size_t)k > n)
        return g2r_fail(err, G2R_EARG, "cuda: top-k: k = %d must be in 1..min(%zu rows, %d)", k, n, G2R_CUDA_TOPK_MAX);
    if (dim <= 0) return g2r_fail(err, G2R_EARG, "cuda: top-k: dimension %d", dim);
    int blocks = scan_blocks(n);
    size_t parts = (size_t)blocks * k;
    int64_t *part_id = (int64_t *)d_work, *out_id = part_id + parts;
    float *part_score = (float *)(out_id + k), *out_score = part_score + parts;
    size_t smem = ((size_t)(dim + 3) & ~(size_t)3) * 4 + ((size_t)(TOPK_WARPS * k + 1) & ~(size_t)1) * 4 +
                  (size_t)TOPK_WARPS * k * 8;
    if (smem > 48 * 1024)
        return g2r_fail(err, G2R_EARG, "cuda: top-k: dimension %d with k = %d needs %zu bytes of shared memory", dim, k,
                        smem);
    int vec = dim % 4 == 0 && ((uintptr_t)d_index % 16) == 0;
    cudaStream_t st = g2r_stream(s);
    topk_scan_kernel<<<blocks, TOPK_WARPS * 32, smem, st>>>(d_index, n, dim, d_query, k, vec, part_score, part_id);
    g2r_status r = g2r_cuda_launched("topk_scan_kernel", err);
    if (r) return r;
    topk_merge_kernel<<<1, 1024, 0, st>>>(part_score, part_id, (int)parts, k, out_score, out_id);
    if ((r = g2r_cuda_launched("topk_merge_kernel", err))) return r;
    if ((r = g2r_cuda_download(ids, out_id, (size_t)k * sizeof(int64_t), s, err))) return r;
    return g2r_cuda_download(scores, out_score, (size_t)k * sizeof(float), s, err);
}
