/* cuda_attention_tc.cu — prefill attention on the tensor cores (head size 64).
 *
 * A block takes 64 queries of one head of one sequence, a warp per 16.  Per
 * tile of 64 positions: S = Q K^T with mma.sync (F16 operands, F32 sums), the
 * causal mask, an online softmax on S in registers, then O += P V, where P's
 * A fragments are S's accumulator fragments repacked in place (the layouts
 * line up, as in flash-attention 2).  Q, K, V and P are rounded to F16 (10-bit
 * mantissas; GPT-2's activations sit far inside its range).  Inputs, outputs
 * and the kv_in_qkv rule are those of the prefill in cuda_attention.cu.
 * Not yet measured on a GPU: the forward uses it only when built with
 * -DG2R_ATTN_TC (bench/gpu_check.sh builds that variant and times it). */
#include "kernels/cuda/cuda_ptx.cuh"

#define AT_Q 64            /* queries per block, 16 per warp */
#define AT_KV 64           /* positions per tile */
#define AT_HD 64           /* the head size this kernel is written for */
#define AT_LD (AT_HD + 8)  /* 144-byte rows: the 8 rows of an ldmatrix land in 8 bank groups */
#define AT_THREADS 128     /* 4 warps */

/* 4 floats to 4 halves, times scale. */
__device__ __forceinline__ void put4(__half *dst, float4 v, float scale) {
    __half h[4];
    g2r_store_f32(&h[0], v.x * scale), g2r_store_f32(&h[1], v.y * scale);
    g2r_store_f32(&h[2], v.z * scale), g2r_store_f32(&h[3], v.w * scale);
    uint2 u;
    memcpy(&u, h, sizeof u);
    *(uint2 *)dst = u;
}

/* Two floats as one register of halves, lo in the low half. */
__device__ __forceinline__ uint32_t pack2(float lo, float hi) {
    __half h[2];
    g2r_store_f32(&h[0], lo), g2r_store_f32(&h[1], hi);
    uint32_t u;
    memcpy(&u, h, sizeof u);
    return u;
}

template <typename O>
__global__ void __launch_bounds__(AT_THREADS) prefill_tc_kernel(O *out, const float *qkv, const float *kc, const float *vc,
                                                         const int *row0, const int *n_new, const int *past,
                                                         const int *slot, int max_tokens, int C, int kv_in_qkv) {
    __shared__ __align__(16) __half Qs[AT_Q * AT_LD];
    __shared__ __align__(16) __half Ks[AT_KV * AT_LD];
    __shared__ __align__(16) __half Vs[AT_KV * AT_LD];
    int s = blockIdx.z, h = blockIdx.y;
    int nn = n_new[s], base = past[s];
    int i0 = blockIdx.x * AT_Q;
    if (i0 >= nn) return; /* whole block: before any barrier */
    int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, g = lane >> 2, q = lane & 3;
    const float4 zero = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    const float *qb = qkv + (size_t)row0[s] * 3 * C + h * AT_HD;
    size_t ks = kv_in_qkv ? 3 * (size_t)C : (size_t)C;
    const float *kb = kv_in_qkv ? qb + C : kc + (size_t)slot[s] * max_tokens * C + h * AT_HD;
    const float *vb = kv_in_qkv ? qb + 2 * C : vc + (size_t)slot[s] * max_tokens * C + h * AT_HD;

    for (int e = tid; e < AT_Q * AT_HD / 4; e += AT_THREADS) { /* Q / 8 (1/sqrt(64)); rows past the end zero */
        int r = e / (AT_HD / 4), d = (e % (AT_HD / 4)) * 4;
        put4(Qs + r * AT_LD + d, i0 + r < nn ? *(const float4 *)(qb + (size_t)(i0 + r) * 3 * C + d) : zero, 0.125f);
    }
    int p0 = base + i0 + warp * 16 + g; /* positions of this thread's rows g and g+8 */
    int last = base + min(nn, i0 + AT_Q) - 1;
    float o[8][4] = {}, m[2] = {-1e30f, -1e30f}, l[2] = {0.0f, 0.0f};
    uint32_t fq[4][4];
    for (int j0 = 0; j0 <= last; j0 += AT_KV) {
        __syncthreads(); /* nobody still reads the previous tile */
        for (int e = tid; e < AT_KV * AT_HD / 4; e += AT_THREADS) {
            int r = e / (AT_HD / 4), d = (e % (AT_HD / 4)) * 4;
            bool in = j0 + r <= last; /* positions past the block's last: zeros, masked below */
            put4(Ks + r * AT_LD + d, in ? *(const float4 *)(kb + (size_t)(j0 + r) * ks + d) : zero, 1.0f);
            put4(Vs + r * AT_LD + d, in ? *(const float4 *)(vb + (size_t)(j0 + r) * ks + d) : zero, 1.0f);
        }
        __syncthreads();
        if (j0 == 0)
#pragma unroll
            for (int kk = 0; kk < 4; kk++)
                g2r_ldsm_x4(fq[kk], Qs + (warp * 16 + (lane & 15)) * AT_LD + kk * 16 + (lane >> 4) * 8);

        float sc[8][4] = {}; /* S: 16 rows x 64 positions, 8 tiles of 8 */
#pragma unroll
        for (int kk = 0; kk < 4; kk++)
#pragma unroll
            for (int nj = 0; nj < 4; nj++) {
                uint32_t r[4];
                g2r_ldsm_x4(r, Ks + (nj * 16 + (lane & 7) + (lane >> 4) * 8) * AT_LD + kk * 16 + ((lane >> 3) & 1) * 8);
                uint32_t b0[2] = {r[0], r[1]}, b1[2] = {r[2], r[3]};
                g2r_mma16816(sc[2 * nj], fq[kk], b0, (const __half *)0);
                g2r_mma16816(sc[2 * nj + 1], fq[kk], b1, (const __half *)0);
            }

        float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
        for (int nt = 0; nt < 8; nt++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                int j = j0 + nt * 8 + 2 * q + (e & 1), row = e >> 1;
                if (j > p0 + 8 * row) sc[nt][e] = -INFINITY; /* causal */
                mx[row] = fmaxf(mx[row], sc[nt][e]);
            }
#pragma unroll
        for (int row = 0; row < 2; row++) { /* a row's 64 scores sit in the 4 lanes of a quad */
            mx[row] = fmaxf(mx[row], __shfl_xor_sync(0xffffffffu, mx[row], 1));
            mx[row] = fmaxf(mx[row], __shfl_xor_sync(0xffffffffu, mx[row], 2));
            float mn = fmaxf(m[row], mx[row]), corr = __expf(m[row] - mn);
            m[row] = mn, l[row] *= corr;
#pragma unroll
            for (int nt = 0; nt < 8; nt++) o[nt][2 * row] *= corr, o[nt][2 * row + 1] *= corr;
        }
#pragma unroll
        for (int nt = 0; nt < 8; nt++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                sc[nt][e] = __expf(sc[nt][e] - m[e >> 1]);
                l[e >> 1] += sc[nt][e]; /* this lane's part of the row sum */
            }

#pragma unroll
        for (int kk = 0; kk < 4; kk++) { /* positions kk*16 .. +15: S tiles 2kk and 2kk+1 */
            uint32_t a[4] = {pack2(sc[2 * kk][0], sc[2 * kk][1]), pack2(sc[2 * kk][2], sc[2 * kk][3]),
                             pack2(sc[2 * kk + 1][0], sc[2 * kk + 1][1]), pack2(sc[2 * kk + 1][2], sc[2 * kk + 1][3])};
#pragma unroll
            for (int dn = 0; dn < 4; dn++) {
                uint32_t r[4];
                g2r_ldsm_x4_trans(r, Vs + (kk * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * AT_LD + dn * 16 +
                                         (lane >> 4) * 8);
                uint32_t b0[2] = {r[0], r[1]}, b1[2] = {r[2], r[3]};
                g2r_mma16816(o[2 * dn], a, b0, (const __half *)0);
                g2r_mma16816(o[2 * dn + 1], a, b1, (const __half *)0);
            }
        }
    }
#pragma unroll
    for (int row = 0; row < 2; row++) {
        l[row] += __shfl_xor_sync(0xffffffffu, l[row], 1);
        l[row] += __shfl_xor_sync(0xffffffffu, l[row], 2);
        int i = i0 + warp * 16 + g + 8 * row;
        if (i >= nn) continue;
        float inv = 1.0f / l[row];
        O *orow = out + (size_t)(row0[s] + i) * C + h * AT_HD;
#pragma unroll
        for (int nt = 0; nt < 8; nt++) {
            g2r_store_f32(orow + nt * 8 + 2 * q, o[nt][2 * row] * inv);
            g2r_store_f32(orow + nt * 8 + 2 * q + 1, o[nt][2 * row + 1] * inv);
        }
    }
}

extern "C" g2r_status g2r_cuda_attention_tc(void *d_out, g2r_dtype out_dtype, const float *d_qkv,
                                            const g2r_cuda_kv *kv, const g2r_cuda_batch *b, g2r_cuda_stream s,
                                            g2r_error *err) {
    if (b->n_seqs <= 0 || b->max_new <= 0) return G2R_OK;
    if (kv->n_head <= 0 || kv->C != kv->n_head * AT_HD || kv->C % 8)
        return g2r_fail(err, G2R_EARG, "cuda: attention_tc: needs head size %d (%d channels, %d heads)", AT_HD, kv->C,
                        kv->n_head);
    if (((uintptr_t)d_qkv | (uintptr_t)kv->k | (uintptr_t)kv->v | (uintptr_t)d_out) % 16)
        return g2r_fail(err, G2R_EARG, "cuda: attention_tc: buffers must be 16-byte aligned");
    if (b->n_seqs > 65535 || kv->n_head > 65535)
        return g2r_fail(err, G2R_EARG, "cuda: attention_tc: too many sequences or heads for one launch");
    dim3 grid(g2r_ceil_div(b->max_new, AT_Q), kv->n_head, b->n_seqs);
    cudaStream_t st = g2r_stream(s);
    const int *r0 = b->row0, *nn = b->n_new, *ps = b->past, *sl = b->slot;
    switch (out_dtype) {
    case G2R_DT_F32:
        prefill_tc_kernel<<<grid, AT_THREADS, 0, st>>>((float *)d_out, d_qkv, kv->k, kv->v, r0, nn, ps, sl,
                                                     kv->max_tokens, kv->C, b->kv_in_qkv);
        break;
    case G2R_DT_F16:
        prefill_tc_kernel<<<grid, AT_THREADS, 0, st>>>((__half *)d_out, d_qkv, kv->k, kv->v, r0, nn, ps, sl,
                                                     kv->max_tokens, kv->C, b->kv_in_qkv);
        break;
    case G2R_DT_BF16:
        prefill_tc_kernel<<<grid, AT_THREADS, 0, st>>>((__nv_bfloat16 *)d_out, d_qkv, kv->k, kv->v, r0, nn, ps, sl,
                                                     kv->max_tokens, kv->C, b->kv_in_qkv);
        break;
    default: return g2r_fail(err, G2R_EARG, "cuda: attention_tc: no %s output", g2r_dtype_name(out_dtype));
    }
    return g2r_cuda_launched("prefill_tc_kernel", err);
}
