/* cuda_mma.cu — the tensor-core matrix multiply of the batched forward:
 * out = act(bias + in · W) with in and W both 16-bit (F16 or BF16) and F32 sums.
 *
 * A block computes a 128x128 tile of out with 4 warps (2 x 2, 64x64 each;
 * -DMM_BN=256: 128x256 with 8 warps).
 * K is walked 32 at a time through a 3-stage ring of shared-memory tiles that
 * cp.async fills, so the copies of the next two tiles overlap the tensor-core
 * work on this one.  Fragments come out of shared memory with ldmatrix (rows
 * padded by 16 bytes, so the 8 rows of each 8x8 load hit 8 different bank
 * groups) and go into mma.sync m16n8k16.
 * Both weight layouts: KN (Conv1D, W[k][n], read transposed by ldmatrix) and
 * NK (wte, W[n][k]).  Ragged edges are zero-filled: 16-byte copies where the
 * rows allow them, element by element where they do not.
 * The epilogue stages the accumulators through shared memory and walks the
 * tile by rows: + bias, GELU, then F32 out (optionally + the old value: the
 * residual) or 16-bit out. */
#include <atomic>

#include "kernels/cuda/cuda_ptx.cuh"

/* MM_BN and MM_STAGES can be set from outside (bench/gpu_check.sh's VARIANTS
 * times e.g. -DMM_BN=256: one A tile then feeds twice the columns). */
#define MM_BM 128
#ifndef MM_BN
#define MM_BN 128 /* 128 or 256 */
#endif
#define MM_BK 32
#ifndef MM_STAGES
#define MM_STAGES 3
#endif
#define MM_WN (MM_BN / 64)          /* warps along N; 2 along M; each warp 64x64 */
#define MM_THREADS (2 * MM_WN * 32)
#define MM_MIN_BLOCKS (256 / MM_THREADS) /* 2 blocks of 4 warps, or 1 of 8: 230 registers each */
#define MM_LDA (MM_BK + 8) /* A tile [BM][BK] and NK weight tile [BN][BK]: 80-byte rows */
#define MM_LDB (MM_BN + 8) /* KN weight tile [BK][BN]: 272-byte rows for 128 */
#define MM_A_ELEMS (MM_BM * MM_LDA)
#define MM_B_ELEMS (MM_BN * MM_LDA > MM_BK * MM_LDB ? MM_BN * MM_LDA : MM_BK * MM_LDB)
#define MM_SMEM_BYTES (MM_STAGES * (MM_A_ELEMS + MM_B_ELEMS) * 2)

struct mm_args {
    void *out;
    int ldo, out16, accumulate, gelu;
    const float *bias;
    int T, K, N;
    int vec_o; /* 4-wide output access */
};

/* 8 elements of a row from column c on (row length len) into shared memory.
 * VEC (rows 16-byte aligned, len % 8 == 0): one cp.async, which zero-fills a
 * chunk wholly outside by reading nothing.  Else element by element, plain
 * loads and a 16-byte store (visible to the block after the next barrier).
 * VEC is a template argument so that the fast kernel carries no slow code:
 * the main loop must stay small enough for the instruction cache. */
template <typename H, bool VEC>
__device__ __forceinline__ void load_chunk(H *dst, const H *base, const H *row, int c, int len, bool row_ok) {
    bool inside = row_ok && c < len;
    if constexpr (VEC) {
        g2r_cp_async16(dst, inside ? row + c : base, inside ? 16 : 0);
    } else {
        H v[8];
#pragma unroll
        for (int j = 0; j < 8; j++) v[j] = inside && c + j < len ? row[c + j] : H(0.0f);
        uint4 u;
        memcpy(&u, v, sizeof u);
        *(uint4 *)dst = u;
    }
}

/* One stage: the A tile (rows m0.., columns k0..) and the weight tile. */
template <typename H, bool NT, bool VEC>
__device__ __forceinline__ void load_stage(H *As, H *Bs, const mm_args &a, const H *in, const H *w, int m0, int n0,
                                           int k0) {
    int tid = threadIdx.x;
#pragma unroll
    for (int i = 0; i < MM_BM * MM_BK / 8 / MM_THREADS; i++) {
        int c = tid + i * MM_THREADS, r = c / (MM_BK / 8), kc = (c % (MM_BK / 8)) * 8;
        int gm = m0 + r;
        load_chunk<H, VEC>(As + r * MM_LDA + kc, in, in + (size_t)gm * a.K, k0 + kc, a.K, gm < a.T);
    }
#pragma unroll
    for (int i = 0; i < MM_BN * MM_BK / 8 / MM_THREADS; i++) {
        int c = tid + i * MM_THREADS;
        if (NT) { /* W[n][k]: a row of the tile is a row of W */
            int r = c / (MM_BK / 8), kc = (c % (MM_BK / 8)) * 8, gn = n0 + r;
            load_chunk<H, VEC>(Bs + r * MM_LDA + kc, w, w + (size_t)gn * a.K, k0 + kc, a.K, gn < a.N);
        } else { /* W[k][n]: a row of the tile is 128 columns of row k */
            int r = c / (MM_BN / 8), nc = (c % (MM_BN / 8)) * 8, gk = k0 + r;
            load_chunk<H, VEC>(Bs + r * MM_LDB + nc, w, w + (size_t)gk * a.N, n0 + nc, a.N, gk < a.K);
        }
    }
}

/* GPT-2's GELU with the one-instruction tanh: for outputs rounded to 16 bits anyway. */
__device__ __forceinline__ float gelu_fast(float x) {
    const float s = 0.7978845608028654f;
    return 0.5f * x * (1.0f + g2r_tanh_fast(s * (x + 0.044715f * x * x * x)));
}

/* Outputs (t, n .. n+3) from four F32 sums v: + bias, GELU, then stored.
 * GELU into a 16-bit output uses the hardware tanh (relative error about
 * 2^-11, under the output's own rounding); F32 outputs keep tanhf. */
template <typename H>
__device__ __forceinline__ void store4(const mm_args &a, int t, int n, const float *v) {
    float x[4];
#pragma unroll
    for (int u = 0; u < 4; u++) {
        x[u] = v[u] + (a.bias && n + u < a.N ? a.bias[n + u] : 0.0f);
        if (a.gelu) x[u] = a.out16 ? gelu_fast(x[u]) : g2r_gelu_dev(x[u]);
    }
    size_t at = (size_t)t * a.ldo + n;
    bool whole = a.vec_o && n + 3 < a.N;
    if (a.out16) {
        H *o = (H *)a.out + at;
        if (whole) {
            H h[4];
#pragma unroll
            for (int u = 0; u < 4; u++) g2r_store_f32(&h[u], x[u]);
            uint2 w;
            memcpy(&w, h, sizeof w);
            *(uint2 *)o = w;
        } else
            for (int u = 0; u < 4 && n + u < a.N; u++) g2r_store_f32(o + u, x[u]);
        return;
    }
    float *o = (float *)a.out + at;
    if (whole) {
        float4 old = a.accumulate ? *(const float4 *)o : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        *(float4 *)o = make_float4(old.x + x[0], old.y + x[1], old.z + x[2], old.w + x[3]);
    } else
        for (int u = 0; u < 4 && n + u < a.N; u++) o[u] = a.accumulate ? o[u] + x[u] : x[u];
}

/* The epilogue: the accumulators go through shared memory (the pipeline's,
 * idle now), half the tile at a time, and the block then walks the output by
 * rows: coalesced 16-byte loads of the residual and stores of out, in a short
 * loop (64 inlined copies per thread once crowded the main loop out of the
 * instruction cache; ncu: 57% of cycles waiting on instruction fetch). */
#define MM_LDS (MM_BN + 8) /* floats per staged row: the float2 writes of a warp hit 32 banks */
static_assert(64 * MM_LDS * 4 <= MM_SMEM_BYTES, "half a tile of F32 sums fits the pipeline's shared memory");
template <typename H>
__device__ __forceinline__ void epilogue(const mm_args &a, float (&acc)[4][8][4], float *stage, int m0, int n0) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, wm = warp / MM_WN, wn = warp % MM_WN;
    int g = lane >> 2, q = lane & 3;
    __syncthreads(); /* every warp is done with the pipeline's tiles */
    for (int half = 0; half < 2; half++) {
        if (wm == half)
#pragma unroll
            for (int i = 0; i < 4; i++)
#pragma unroll
                for (int j = 0; j < 8; j++) {
                    float *p = stage + (i * 16 + g) * MM_LDS + wn * 64 + j * 8 + 2 * q;
                    *(float2 *)p = make_float2(acc[i][j][0], acc[i][j][1]);
                    *(float2 *)(p + 8 * MM_LDS) = make_float2(acc[i][j][2], acc[i][j][3]);
                }
        __syncthreads();
#pragma unroll 4
        for (int e = threadIdx.x; e < 64 * (MM_BN / 4); e += MM_THREADS) {
            int r = e / (MM_BN / 4), c = (e % (MM_BN / 4)) * 4;
            int t = m0 + half * 64 + r, n = n0 + c;
            if (t < a.T && n < a.N) store4<H>(a, t, n, stage + r * MM_LDS + c);
        }
        __syncthreads();
    }
}

template <typename H, bool NT, bool VEC>
__global__ void __launch_bounds__(MM_THREADS, MM_MIN_BLOCKS) mma_kernel(mm_args a, const H *in, const H *w) {
    extern __shared__ __align__(16) uint4 mm_smem[];
    H *smem = (H *)mm_smem;
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    int wm = warp / MM_WN, wn = warp % MM_WN; /* this warp's 64x64 part of the tile */
    int m0 = blockIdx.y * MM_BM, n0 = blockIdx.x * MM_BN;
    int nk = (a.K + MM_BK - 1) / MM_BK;

    float acc[4][8][4];
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 8; j++)
#pragma unroll
            for (int e = 0; e < 4; e++) acc[i][j][e] = 0.0f;

    /* fill the first STAGES-1 stages; one commit group per stage, even empty */
#pragma unroll
    for (int s = 0; s < MM_STAGES - 1; s++) {
        H *As = smem + s * (MM_A_ELEMS + MM_B_ELEMS);
        if (s < nk) load_stage<H, NT, VEC>(As, As + MM_A_ELEMS, a, in, w, m0, n0, s * MM_BK);
        g2r_cp_async_commit();
    }
    for (int kt = 0; kt < nk; kt++) {
        g2r_cp_async_wait<MM_STAGES - 2>(); /* this thread's copies of tile kt have landed */
        __syncthreads();                   /* everyone's have; and tile kt-1 is no longer read */
        int next = kt + MM_STAGES - 1;
        if (next < nk) {
            H *As = smem + (next % MM_STAGES) * (MM_A_ELEMS + MM_B_ELEMS);
            load_stage<H, NT, VEC>(As, As + MM_A_ELEMS, a, in, w, m0, n0, next * MM_BK);
        }
        g2r_cp_async_commit();

        const H *As = smem + (kt % MM_STAGES) * (MM_A_ELEMS + MM_B_ELEMS), *Bs = As + MM_A_ELEMS;
#pragma unroll
        for (int ks = 0; ks < MM_BK; ks += 16) {
            uint32_t fa[4][4], fb[8][2];
#pragma unroll
            for (int i = 0; i < 4; i++)
                g2r_ldsm_x4(fa[i], As + (wm * 64 + i * 16 + (lane & 15)) * MM_LDA + ks + (lane >> 4) * 8);
#pragma unroll
            for (int j = 0; j < 4; j++) { /* two 8-column fragments per load */
                uint32_t r[4];
                if (NT)
                    g2r_ldsm_x4(r, Bs + (wn * 64 + j * 16 + (lane & 7) + (lane >> 4) * 8) * MM_LDA + ks +
                                       ((lane >> 3) & 1) * 8);
                else
                    g2r_ldsm_x4_trans(r, Bs + (ks + (lane & 7) + ((lane >> 3) & 1) * 8) * MM_LDB + wn * 64 + j * 16 +
                                             (lane >> 4) * 8);
                fb[2 * j][0] = r[0], fb[2 * j][1] = r[1], fb[2 * j + 1][0] = r[2], fb[2 * j + 1][1] = r[3];
            }
#pragma unroll
            for (int i = 0; i < 4; i++)
#pragma unroll
                for (int j = 0; j < 8; j++) g2r_mma16816(acc[i][j], fa[i], fb[j], (const H *)0);
        }
    }

    epilogue<H>(a, acc, (float *)mm_smem, m0, n0);
}

static bool aligned(const void *p, size_t a) { return ((uintptr_t)p % a) == 0; }

template <typename H, bool NT, bool VEC>
static cudaError_t launch_one(mm_args a, const H *in, const H *w, cudaStream_t st) {
    /* over 48 KB of dynamic shared memory must be asked for, once per kernel
     * (atomic: two threads' first calls may both ask, harmlessly) */
    static std::atomic<bool> smem_raised(false);
    if (!smem_raised.load(std::memory_order_acquire)) {
        cudaError_t e =
            cudaFuncSetAttribute(mma_kernel<H, NT, VEC>, cudaFuncAttributeMaxDynamicSharedMemorySize, MM_SMEM_BYTES);
        if (e != cudaSuccess) return e;
        smem_raised.store(true, std::memory_order_release);
    }
    dim3 grid(g2r_ceil_div(a.N, MM_BN), g2r_ceil_div(a.T, MM_BM));
    mma_kernel<H, NT, VEC><<<grid, MM_THREADS, MM_SMEM_BYTES, st>>>(a, in, w);
    return cudaSuccess;
}

/* vec: in and W rows allow 16-byte copies (the VEC kernel) */
template <typename H, bool NT>
static cudaError_t launch(mm_args a, const H *in, const H *w, bool vec, cudaStream_t st) {
    return vec ? launch_one<H, NT, true>(a, in, w, st) : launch_one<H, NT, false>(a, in, w, st);
}

static g2r_status mma_any(void *d_out, g2r_dtype out_dtype, int ldo, const void *d_in, const g2r_cuda_matrix *w,
                          const float *d_bias, int T, int gelu, int accumulate, bool nt, g2r_cuda_stream s,
                          g2r_error *err) {
    int K = nt ? w->cols : w->rows, N = nt ? w->rows : w->cols;
    if (w->dtype != G2R_DT_F16 && w->dtype != G2R_DT_BF16)
        return g2r_fail(err, G2R_EARG, "cuda: matmul16: needs F16 or BF16 weights, not %s", g2r_dtype_name(w->dtype));
    if (out_dtype != G2R_DT_F32 && out_dtype != w->dtype)
        return g2r_fail(err, G2R_EARG, "cuda: matmul16: output must be F32 or %s, not %s", g2r_dtype_name(w->dtype),
                        g2r_dtype_name(out_dtype));
    if (accumulate && out_dtype != G2R_DT_F32)
        return g2r_fail(err, G2R_EARG, "cuda: matmul16: only an F32 output can be accumulated into");
    if (T <= 0 || N <= 0) return G2R_OK;
    if (K <= 0) return g2r_fail(err, G2R_EARG, "cuda: matmul16: empty reduction dimension");
    if (T > 65535 * MM_BM) return g2r_fail(err, G2R_EARG, "cuda: matmul16: %d rows are too many for one launch", T);
    mm_args a;
    a.out = d_out, a.ldo = ldo, a.out16 = out_dtype != G2R_DT_F32, a.accumulate = accumulate, a.gelu = gelu;
    a.bias = d_bias, a.T = T, a.K = K, a.N = N;
    bool vec = K % 8 == 0 && aligned(d_in, 16) && aligned(w->data, 16) && (nt || N % 8 == 0);
    a.vec_o = ldo % 4 == 0 && aligned(d_out, a.out16 ? 8 : 16);
    cudaStream_t st = g2r_stream(s);
    cudaError_t e;
    if (w->dtype == G2R_DT_BF16) {
        const __nv_bfloat16 *x = (const __nv_bfloat16 *)d_in, *p = (const __nv_bfloat16 *)w->data;
        e = nt ? launch<__nv_bfloat16, true>(a, x, p, vec, st) : launch<__nv_bfloat16, false>(a, x, p, vec, st);
    } else {
        const __half *x = (const __half *)d_in, *p = (const __half *)w->data;
        e = nt ? launch<__half, true>(a, x, p, vec, st) : launch<__half, false>(a, x, p, vec, st);
    }
    if (e != cudaSuccess) return g2r_cuda_status(e, "cudaFuncSetAttribute(mma_kernel)", err);
    return g2r_cuda_launched("mma_kernel", err);
}

extern "C" g2r_status g2r_cuda_matmul16(void *d_out, g2r_dtype out_dtype, int ldo, const void *d_in,
                                        const g2r_cuda_matrix *w, const float *d_bias, int T, int gelu,
                                        int accumulate, g2r_cuda_stream s, g2r_error *err) {
    return mma_any(d_out, out_dtype, ldo, d_in, w, d_bias, T, gelu, accumulate, false, s, err);
}

extern "C" g2r_status g2r_cuda_matmul16_nt(float *d_out, int ldo, const void *d_in, const g2r_cuda_matrix *w, int T,
                                           g2r_cuda_stream s, g2r_error *err) {
    return mma_any(d_out, G2R_DT_F32, ldo, d_in, w, NULL, T, 0, 0, true, s, err);
}
