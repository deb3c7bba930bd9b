/* cuda_attention.cu — causal self-attention over the KV cache.
 *
 * prefill: flash-style.  A block takes 64 queries of one head of one sequence
 *   (a thread per query, its q and output row in registers) and walks the
 *   cached keys and values in shared-memory tiles, with an online softmax:
 *   the scores are never written out.
 * decode: one query per sequence and head; the block's warps split the
 *   cached positions, each keeps its own running max/sum/output, and the
 *   warps' partial results are merged at the end.
 * Head sizes up to 64 (every GPT-2 has 64); hd is a run-time value no larger
 * than the template's HD. */
#include "kernels/cuda/cuda_common.cuh"

#define PF_Q 64  /* queries per prefill block */

/* 8 floats to 8 consecutive outputs, 16-byte aligned. */
__device__ __forceinline__ void store8(float *o, const float *v) {
    ((float4 *)o)[0] = make_float4(v[0], v[1], v[2], v[3]);
    ((float4 *)o)[1] = make_float4(v[4], v[5], v[6], v[7]);
}
template <typename H> __device__ __forceinline__ void store8(H *o, const float *v) {
    H h[8];
#pragma unroll
    for (int u = 0; u < 8; u++) g2r_store_f32(&h[u], v[u]);
    uint4 w;
    memcpy(&w, h, sizeof w);
    *(uint4 *)o = w;
}
#define PF_KV 64 /* cached positions per shared-memory tile */

template <int HD, typename O>
__global__ void __launch_bounds__(PF_Q) prefill_kernel(O *out, const float *qkv, const float *kc, const float *vc,
                                                       const int *row0, const int *n_new, const int *past,
                                                       const int *slot, int max_tokens, int C, int hd, int vec,
                                                       int kv_in_qkv) {
    __shared__ __align__(16) float Ks[PF_KV][HD];
    __shared__ __align__(16) float Vs[PF_KV][HD];
    int s = blockIdx.z, h = blockIdx.y;
    int nn = n_new[s], base = past[s];
    int i0 = blockIdx.x * PF_Q;
    if (i0 >= nn) return; /* whole block: before any barrier */
    int i = i0 + threadIdx.x;
    bool active = i < nn;
    int p = base + i; /* this query's position: it sees 0..p */
    const float scale = rsqrtf((float)hd);

    float q[HD], o[HD];
    const float *qr = qkv + (size_t)(row0[s] + (active ? i : i0)) * 3 * C + h * hd;
#pragma unroll
    for (int d = 0; d < HD; d += 4) {
        float4 v = vec && d < hd ? *(const float4 *)(qr + d) : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        if (!vec)
            v = make_float4(d < hd ? qr[d] : 0.0f, d + 1 < hd ? qr[d + 1] : 0.0f, d + 2 < hd ? qr[d + 2] : 0.0f,
                            d + 3 < hd ? qr[d + 3] : 0.0f);
        q[d] = v.x * scale, q[d + 1] = v.y * scale, q[d + 2] = v.z * scale, q[d + 3] = v.w * scale;
        o[d] = o[d + 1] = o[d + 2] = o[d + 3] = 0.0f;
    }
    float m = -INFINITY, l = 0.0f;

    int last = base + min(nn, i0 + PF_Q) - 1; /* the block's furthest position */
    /* position j of this sequence: a row of the cache, or (kv_in_qkv, past 0) of qkv */
    size_t ks = kv_in_qkv ? 3 * (size_t)C : (size_t)C;
    const float *kb = kv_in_qkv ? qkv + (size_t)row0[s] * 3 * C + C + h * hd
                                : kc + (size_t)slot[s] * max_tokens * C + h * hd;
    const float *vb = kv_in_qkv ? kb + C : vc + (size_t)slot[s] * max_tokens * C + h * hd;
    for (int j0 = 0; j0 <= last; j0 += PF_KV) {
        int n_tile = min(PF_KV, last + 1 - j0);
        /* zeros past hd: 0 * 0, never 0 * junk; 16-byte loads, several in flight */
        if (vec) {
#pragma unroll 4
            for (int e = threadIdx.x; e < n_tile * (HD / 4); e += PF_Q) {
                int j = e / (HD / 4), d = (e % (HD / 4)) * 4;
                float4 z = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
                *(float4 *)&Ks[j][d] = d < hd ? *(const float4 *)(kb + (size_t)(j0 + j) * ks + d) : z;
                *(float4 *)&Vs[j][d] = d < hd ? *(const float4 *)(vb + (size_t)(j0 + j) * ks + d) : z;
            }
        } else
            for (int e = threadIdx.x; e < n_tile * HD; e += PF_Q) {
                int j = e / HD, d = e % HD;
                Ks[j][d] = d < hd ? kb[(size_t)(j0 + j) * ks + d] : 0.0f;
                Vs[j][d] = d < hd ? vb[(size_t)(j0 + j) * ks + d] : 0.0f;
            }
        __syncthreads();
        if (active) {
            int n_seen = min(n_tile, p + 1 - j0); /* causal: positions <= p */
            for (int j = 0; j < n_seen; j++) {
                const float4 *k4 = (const float4 *)Ks[j], *v4 = (const float4 *)Vs[j]; /* every lane: a broadcast */
                float part[4] = {0.0f, 0.0f, 0.0f, 0.0f}; /* four chains, not one of HD dependent FMAs */
#pragma unroll
                for (int d = 0; d < HD; d += 4) {
                    float4 kk = k4[d / 4];
                    part[0] += q[d] * kk.x, part[1] += q[d + 1] * kk.y, part[2] += q[d + 2] * kk.z,
                        part[3] += q[d + 3] * kk.w;
                }
                float sc = (part[0] + part[1]) + (part[2] + part[3]);
                if (sc > m) { /* new max: rescale what was summed so far */
                    float r = __expf(m - sc);
                    l *= r;
#pragma unroll
                    for (int d = 0; d < HD; d++) o[d] *= r;
                    m = sc;
                }
                float pj = __expf(sc - m);
                l += pj;
#pragma unroll
                for (int d = 0; d < HD; d += 4) {
                    float4 vv = v4[d / 4];
                    o[d] += pj * vv.x, o[d + 1] += pj * vv.y, o[d + 2] += pj * vv.z, o[d + 3] += pj * vv.w;
                }
            }
        }
        __syncthreads();
    }
    if (!active) return;
    float inv = 1.0f / l;
    O *orow = out + (size_t)(row0[s] + i) * C + h * hd;
#pragma unroll
    for (int d = 0; d < HD; d += 8) { /* 8 at a time: a thread's row is its own, so 16-byte stores */
        if (d >= hd) break;
        if (vec) {
            float v[8];
#pragma unroll
            for (int u = 0; u < 8; u++) v[u] = o[d + u] * inv;
            store8(orow + d, v);
        } else
            for (int u = 0; u < 8 && d + u < hd; u++) g2r_store_f32(orow + d + u, o[d + u] * inv);
    }
}

#define DEC_WARPS 8

template <int HD, typename O>
__global__ void __launch_bounds__(DEC_WARPS * 32) decode_kernel(O *out, const float *qkv, const float *kc,
                                                                const float *vc, const int *row0, const int *past,
                                                                const int *slot, int max_tokens, int C, int hd) {
    constexpr int PER = (HD + 31) / 32; /* dims per lane */
    __shared__ float wm[DEC_WARPS], wl[DEC_WARPS], wo[DEC_WARPS][HD];
    int s = blockIdx.y, h = blockIdx.x;
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int p = past[s]; /* the one new query sits at position past: sees 0..p */
    const float scale = rsqrtf((float)hd);
    const float *qr = qkv + (size_t)row0[s] * 3 * C + h * hd;
    float q[PER], o[PER];
#pragma unroll
    for (int u = 0; u < PER; u++) {
        int d = lane + 32 * u;
        q[u] = d < hd ? qr[d] * scale : 0.0f;
        o[u] = 0.0f;
    }
    float m = -INFINITY, l = 0.0f;
    const float *kb = kc + (size_t)slot[s] * max_tokens * C + h * hd;
    const float *vb = vc + (size_t)slot[s] * max_tokens * C + h * hd;
    for (int j = warp; j <= p; j += DEC_WARPS) {
        const float *kj = kb + (size_t)j * C, *vj = vb + (size_t)j * C;
        float part = 0.0f;
#pragma unroll
        for (int u = 0; u < PER; u++) {
            int d = lane + 32 * u;
            if (d < hd) part += q[u] * kj[d];
        }
        float sc = g2r_warp_sum(part); /* every lane holds the score */
        float mn = fmaxf(m, sc);
        float r = __expf(m - mn), pj = __expf(sc - mn);
        l = l * r + pj;
#pragma unroll
        for (int u = 0; u < PER; u++) {
            int d = lane + 32 * u;
            o[u] = o[u] * r + (d < hd ? pj * vj[d] : 0.0f);
        }
        m = mn;
    }
    if (lane == 0) wm[warp] = m, wl[warp] = l;
#pragma unroll
    for (int u = 0; u < PER; u++) {
        int d = lane + 32 * u;
        if (d < HD) wo[warp][d] = o[u];
    }
    __syncthreads();
    /* merge: warps that saw no position have m = -inf and weigh nothing */
    float M = -INFINITY;
    for (int w = 0; w < DEC_WARPS; w++) M = fmaxf(M, wm[w]);
    float L = 0.0f;
    for (int w = 0; w < DEC_WARPS; w++) L += wm[w] == -INFINITY ? 0.0f : wl[w] * __expf(wm[w] - M);
    O *orow = out + (size_t)row0[s] * C + h * hd;
    for (int d = threadIdx.x; d < hd; d += blockDim.x) {
        float acc = 0.0f;
        for (int w = 0; w < DEC_WARPS; w++)
            if (wm[w] != -INFINITY) acc += wo[w][d] * __expf(wm[w] - M);
        g2r_store_f32(orow + d, acc / L);
    }
}

template <int HD, typename O>
static void launch(O *out, const float *qkv, const g2r_cuda_kv *kv, const g2r_cuda_batch *b, int decode, int hd,
                   cudaStream_t st) {
    /* 16-byte rows: q, K, V (floats) and the output (8 elements at a time) */
    int vec = hd % 8 == 0 && kv->C % 8 == 0 && ((uintptr_t)qkv | (uintptr_t)kv->k | (uintptr_t)kv->v | (uintptr_t)out) % 16 == 0;
    if (decode) {
        dim3 grid(kv->n_head, b->n_seqs);
        decode_kernel<HD, O><<<grid, DEC_WARPS * 32, 0, st>>>(out, qkv, kv->k, kv->v, b->row0, b->past, b->slot,
                                                           kv->max_tokens, kv->C, hd);
    } else {
        dim3 grid(g2r_ceil_div(b->max_new, PF_Q), kv->n_head, b->n_seqs);
        prefill_kernel<HD, O><<<grid, PF_Q, 0, st>>>(out, qkv, kv->k, kv->v, b->row0, b->n_new, b->past, b->slot,
                                                  kv->max_tokens, kv->C, hd, vec, b->kv_in_qkv);
    }
}

template <typename O>
static g2r_status launch_hd(O *out, const float *qkv, const g2r_cuda_kv *kv, const g2r_cuda_batch *b, int decode,
                            cudaStream_t st, g2r_error *err) {
    int hd = kv->C / kv->n_head;
    if (hd <= 16) launch<16>(out, qkv, kv, b, decode, hd, st);
    else if (hd <= 32) launch<32>(out, qkv, kv, b, decode, hd, st);
    else if (hd <= 64) launch<64>(out, qkv, kv, b, decode, hd, st);
    else return g2r_fail(err, G2R_EARG, "cuda: attention: head size %d is over 64", hd);
    return g2r_cuda_launched(decode ? "decode_kernel" : "prefill_kernel", err);
}

extern "C" g2r_status g2r_cuda_attention(void *d_out, g2r_dtype out_dtype, const float *d_qkv, const g2r_cuda_kv *kv,
                                         const g2r_cuda_batch *b, int decode, g2r_cuda_stream s, g2r_error *err) {
    if (b->n_seqs <= 0 || b->max_new <= 0) return G2R_OK;
    if (kv->n_head <= 0 || kv->C % kv->n_head)
        return g2r_fail(err, G2R_EARG, "cuda: attention: %d heads do not divide %d channels", kv->n_head, kv->C);
    if (b->n_seqs > 65535 || kv->n_head > 65535)
        return g2r_fail(err, G2R_EARG, "cuda: attention: too many sequences or heads for one launch");
    if (decode && b->kv_in_qkv)
        return g2r_fail(err, G2R_EARG, "cuda: attention: decode reads the cache (kv_in_qkv is for prefill)");
#ifdef G2R_ATTN_TC /* a build variant until the tensor-core prefill is measured on a GPU */
    if (!decode && kv->C == kv->n_head * 64)
        return g2r_cuda_attention_tc(d_out, out_dtype, d_qkv, kv, b, s, err);
#endif
    cudaStream_t st = g2r_stream(s);
    switch (out_dtype) {
    case G2R_DT_F32: return launch_hd((float *)d_out, d_qkv, kv, b, decode, st, err);
    case G2R_DT_F16: return launch_hd((__half *)d_out, d_qkv, kv, b, decode, st, err);
    case G2R_DT_BF16: return launch_hd((__nv_bfloat16 *)d_out, d_qkv, kv, b, decode, st, err);
    default: return g2r_fail(err, G2R_EARG, "cuda: attention: no %s output", g2r_dtype_name(out_dtype));
    }
}
