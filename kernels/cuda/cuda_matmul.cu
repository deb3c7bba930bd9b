/* cuda_matmul.cu — out = act(bias + in · W) and the logits in · wte^T.
 *
 * Three kernels, chosen by the number of rows T and the weights' dtype:
 *   gemv    T <= 4 rows per block (decode): bound by reading W once, so
 *           each thread streams 16-byte vectors of W and keeps 4 rows of sums.
 *   simt    F32 weights: 64x64 tiles through shared memory, 4x4 per thread.
 *   tensor  F16/BF16 weights: 128x128x32 tiles, WMMA 16x16x16 with F32
 *           accumulators; activations are rounded to the weights' 16-bit type
 *           as they are staged into shared memory.
 * Every kernel handles both layouts: KN (Conv1D, W[k][n]) and NK (wte, W[n][k]),
 * and ragged edges (any T, N, K) by zero-filling partial tiles.
 * The epilogue is shared: + bias, GELU, + the old output (residual). */
#include <mma.h>

#include <type_traits>

#include "kernels/cuda/cuda_common.cuh"

using namespace nvcuda;

struct epilogue {
    float *out;
    int ldo;
    const float *bias;
    int gelu, accumulate;
};

__device__ __forceinline__ void store_out(const epilogue &e, int t, int n, float acc) {
    float v = acc + (e.bias ? e.bias[n] : 0.0f);
    if (e.gelu) v = g2r_gelu_dev(v);
    float *o = e.out + (size_t)t * e.ldo + n;
    *o = e.accumulate ? *o + v : v;
}

/* W element (k, n) whatever the layout. */
template <typename W, bool NT>
__device__ __forceinline__ float w_at(const W *w, int K, int N, int k, int n) {
    return g2r_to_f32(NT ? w[(size_t)n * K + k] : w[(size_t)k * N + n]);
}

/* Eight consecutive weights as floats (p 16-byte aligned for 16-bit types,
 * 32-byte for floats). */
__device__ __forceinline__ void load8(const float *p, float f[8]) {
    float4 a = __ldg((const float4 *)p), b = __ldg((const float4 *)p + 1);
    f[0] = a.x, f[1] = a.y, f[2] = a.z, f[3] = a.w, f[4] = b.x, f[5] = b.y, f[6] = b.z, f[7] = b.w;
}
template <typename H>
__device__ __forceinline__ void load8(const H *p, float f[8]) {
    uint4 u = __ldg((const uint4 *)p);
    H h[8];
    memcpy(h, &u, sizeof h); /* register moves; no type punning through pointers */
#pragma unroll
    for (int i = 0; i < 8; i++) f[i] = g2r_to_f32(h[i]);
}

/* ------------------------------------------------------------------ gemv */

#define GEMV_ROWS 4     /* rows of in per block */
#define GEMV_GROUPS 4   /* 8-column groups per block: 32 columns */
#define GEMV_SLICES 64  /* k slices per block: 256 threads */

/* KN: thread (slice, group) sums k = slice, slice + 64, ... for 8 columns. */
template <typename W>
__global__ void __launch_bounds__(256) gemv_kn_kernel(epilogue e, const float *in, const W *w, int T, int K, int N,
                                                      int vec) {
    __shared__ float part[GEMV_SLICES][GEMV_ROWS][GEMV_GROUPS * 8];
    int group = threadIdx.x % GEMV_GROUPS, slice = threadIdx.x / GEMV_GROUPS;
    int n0 = blockIdx.x * GEMV_GROUPS * 8 + group * 8;
    int t0 = blockIdx.y * GEMV_ROWS;
    float acc[GEMV_ROWS][8];
#pragma unroll
    for (int r = 0; r < GEMV_ROWS; r++)
#pragma unroll
        for (int j = 0; j < 8; j++) acc[r][j] = 0.0f;
    bool full = vec && n0 + 8 <= N;
    for (int k = slice; k < K; k += GEMV_SLICES) {
        float f[8];
        if (full) load8(w + (size_t)k * N + n0, f);
        else
#pragma unroll
            for (int j = 0; j < 8; j++) f[j] = n0 + j < N ? g2r_to_f32(w[(size_t)k * N + n0 + j]) : 0.0f;
#pragma unroll
        for (int r = 0; r < GEMV_ROWS; r++) {
            float x = t0 + r < T ? __ldg(in + (size_t)(t0 + r) * K + k) : 0.0f;
#pragma unroll
            for (int j = 0; j < 8; j++) acc[r][j] += x * f[j];
        }
    }
#pragma unroll
    for (int r = 0; r < GEMV_ROWS; r++)
#pragma unroll
        for (int j = 0; j < 8; j++) part[slice][r][group * 8 + j] = acc[r][j];
    __syncthreads();
    if (threadIdx.x < GEMV_ROWS * GEMV_GROUPS * 8) {
        int r = threadIdx.x / (GEMV_GROUPS * 8), c = threadIdx.x % (GEMV_GROUPS * 8);
        float s = 0.0f;
        for (int i = 0; i < GEMV_SLICES; i++) s += part[i][r][c];
        int t = t0 + r, n = blockIdx.x * GEMV_GROUPS * 8 + c;
        if (t < T && n < N) store_out(e, t, n, s);
    }
}

/* NT: one warp per output column n (a row of W), lanes stride along k. */
template <typename W>
__global__ void __launch_bounds__(256) gemv_nt_kernel(epilogue e, const float *in, const W *w, int T, int K, int N,
                                                      int vec) {
    int lane = threadIdx.x & 31;
    int n = blockIdx.x * 8 + (threadIdx.x >> 5);
    int t0 = blockIdx.y * GEMV_ROWS;
    if (n >= N) return;
    const W *wr = w + (size_t)n * K;
    float acc[GEMV_ROWS] = {0.0f, 0.0f, 0.0f, 0.0f};
    if (vec) {
        for (int k = lane * 8; k < K; k += 256) {
            float f[8];
            load8(wr + k, f);
#pragma unroll
            for (int r = 0; r < GEMV_ROWS; r++) {
                if (t0 + r >= T) break;
                const float *x = in + (size_t)(t0 + r) * K + k;
                float4 a = __ldg((const float4 *)x), b = __ldg((const float4 *)x + 1);
                acc[r] += a.x * f[0] + a.y * f[1] + a.z * f[2] + a.w * f[3] + b.x * f[4] + b.y * f[5] + b.z * f[6] +
                          b.w * f[7];
            }
        }
    } else {
        for (int k = lane; k < K; k += 32) {
            float f = g2r_to_f32(wr[k]);
#pragma unroll
            for (int r = 0; r < GEMV_ROWS; r++)
                if (t0 + r < T) acc[r] += __ldg(in + (size_t)(t0 + r) * K + k) * f;
        }
    }
#pragma unroll
    for (int r = 0; r < GEMV_ROWS; r++) {
        float s = g2r_warp_sum(acc[r]);
        if (lane == 0 && t0 + r < T) store_out(e, t0 + r, n, s);
    }
}

/* ------------------------------------------------------------------ simt */

#define SIMT_BM 64
#define SIMT_BN 64
#define SIMT_BK 16

template <typename W, bool NT>
__global__ void __launch_bounds__(256) simt_kernel(epilogue e, const float *in, const W *w, int T, int K, int N) {
    __shared__ float As[SIMT_BK][SIMT_BM + 4]; /* transposed: a column of A is a row here */
    __shared__ float Bs[SIMT_BK][SIMT_BN + 4];
    int tid = threadIdx.x, ty = tid / 16, tx = tid % 16;
    int m0 = blockIdx.y * SIMT_BM, n0 = blockIdx.x * SIMT_BN;
    float acc[4][4] = {};
    for (int k0 = 0; k0 < K; k0 += SIMT_BK) {
        /* 1024 elements of each tile, 4 per thread, zero outside the matrices */
#pragma unroll
        for (int i = 0; i < 4; i++) {
            int f = tid + i * 256;
            int am = f / SIMT_BK, ak = f % SIMT_BK; /* 16 threads read one row of A */
            int gm = m0 + am, gk = k0 + ak;
            As[ak][am] = gm < T && gk < K ? in[(size_t)gm * K + gk] : 0.0f;
            int bk, bn;
            if (NT) bk = f % SIMT_BK, bn = f / SIMT_BK; /* W[n][k]: k fastest */
            else bk = f / SIMT_BN, bn = f % SIMT_BN;    /* W[k][n]: n fastest */
            gk = k0 + bk;
            int gn = n0 + bn;
            Bs[bk][bn] = gk < K && gn < N ? w_at<W, NT>(w, K, N, gk, gn) : 0.0f;
        }
        __syncthreads();
#pragma unroll
        for (int k = 0; k < SIMT_BK; k++) {
            float a[4], b[4];
#pragma unroll
            for (int i = 0; i < 4; i++) a[i] = As[k][ty * 4 + i], b[i] = Bs[k][tx * 4 + i];
#pragma unroll
            for (int i = 0; i < 4; i++)
#pragma unroll
                for (int j = 0; j < 4; j++) acc[i][j] += a[i] * b[j];
        }
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++) {
            int t = m0 + ty * 4 + i, n = n0 + tx * 4 + j;
            if (t < T && n < N) store_out(e, t, n, acc[i][j]);
        }
}

/* ---------------------------------------------------------------- tensor */

#define TC_BM 128
#define TC_BN 128
#define TC_BK 32
#define TC_PAD 8 /* 16 bytes: rows land on different banks; keeps WMMA's 32-byte alignment */
/* Blocks per SM the register budget is cut for: 2 caps a thread at 128
 * registers (ptxas: no spills for F16, ~40 bytes for BF16); 1 lets it use
 * ~175 with half the warps to hide latency.  Measured on an H200 (GPT-2
 * 124M shapes, 16384 rows): 2 is 15-35% faster than 1. */
#ifndef TC_MIN_BLOCKS
#define TC_MIN_BLOCKS 2
#endif
#define TC_LDA (TC_BK + TC_PAD)
#define TC_LDB_KN (TC_BN + TC_PAD)
#define TC_LDB_NT (TC_BK + TC_PAD)

__device__ __forceinline__ void to16(float x, __half *o) { *o = __float2half_rn(x); }
__device__ __forceinline__ void to16(float x, __nv_bfloat16 *o) { *o = __float2bfloat16_rn(x); }

/* One 128x128 output tile per block of 8 warps (2 x 4); each warp owns 64x32,
 * i.e. 4 x 2 WMMA accumulators.  The next K tile is loaded into registers
 * while the tensor cores work on the current one in shared memory. */
template <typename W, bool NT>
__global__ void __launch_bounds__(256, TC_MIN_BLOCKS) tensor_kernel(epilogue e, const float *in, const W *w, int T, int K, int N,
                                                     int vec_a, int vec_b) {
    __shared__ __align__(128) W As[TC_BM * TC_LDA];
    __shared__ __align__(128) W Bs[NT ? TC_BN * TC_LDB_NT : TC_BK * TC_LDB_KN];
    int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    int wm = warp / 4, wn = warp % 4;
    int m0 = blockIdx.y * TC_BM, n0 = blockIdx.x * TC_BN;
    /* W[n][k] is B = W^T stored column by column */
    using BLayout = typename std::conditional<NT, wmma::col_major, wmma::row_major>::type;

    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[4][2];
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 2; j++) wmma::fill_fragment(acc[i][j], 0.0f);

    uint2 ra[4]; /* A: 128 x 32 floats = 1024 float4, 4 per thread, held rounded to 16 bits */
    uint4 rb[2]; /* B: 4096 16-bit weights = 512 uint4, 2 per thread */

    auto load_tile = [&](int k0) {
#pragma unroll
        for (int i = 0; i < 4; i++) {
            int f = tid + i * 256, r = f / 8, kq = (f % 8) * 4;
            int gm = m0 + r, gk = k0 + kq;
            const float *p = in + (size_t)gm * K + gk;
            float4 a;
            if (vec_a && gm < T && gk + 4 <= K) a = __ldg((const float4 *)p);
            else {
                float v[4];
#pragma unroll
                for (int j = 0; j < 4; j++) v[j] = gm < T && gk + j < K ? p[j] : 0.0f;
                a = make_float4(v[0], v[1], v[2], v[3]);
            }
            W h[4]; /* rounded now: half the staging registers */
            to16(a.x, &h[0]), to16(a.y, &h[1]), to16(a.z, &h[2]), to16(a.w, &h[3]);
            memcpy(&ra[i], h, sizeof h);
        }
#pragma unroll
        for (int i = 0; i < 2; i++) {
            int f = tid + i * 256;
            int gk, gn; /* first of the 8 consecutive elements this thread loads */
            if (NT) gn = n0 + f / 4, gk = k0 + (f % 4) * 8;
            else gk = k0 + f / 16, gn = n0 + (f % 16) * 8;
            const W *p = NT ? w + (size_t)gn * K + gk : w + (size_t)gk * N + gn;
            bool inside = NT ? gn < N && gk + 8 <= K : gk < K && gn + 8 <= N;
            if (vec_b && inside) rb[i] = __ldg((const uint4 *)p);
            else {
                W v[8];
#pragma unroll
                for (int j = 0; j < 8; j++) {
                    bool ok = NT ? gn < N && gk + j < K : gk < K && gn + j < N;
                    v[j] = ok ? p[j] : W(0.0f);
                }
                memcpy(&rb[i], v, sizeof v);
            }
        }
    };
    auto store_tile = [&]() {
#pragma unroll
        for (int i = 0; i < 4; i++) {
            int f = tid + i * 256, r = f / 8, kq = (f % 8) * 4;
            *(uint2 *)(As + r * TC_LDA + kq) = ra[i];
        }
#pragma unroll
        for (int i = 0; i < 2; i++) {
            int f = tid + i * 256;
            W *b = NT ? Bs + (f / 4) * TC_LDB_NT + (f % 4) * 8 : Bs + (f / 16) * TC_LDB_KN + (f % 16) * 8;
            *(uint4 *)b = rb[i];
        }
    };

    load_tile(0);
    store_tile();
    __syncthreads();
    for (int k0 = 0; k0 < K; k0 += TC_BK) {
        bool more = k0 + TC_BK < K;
        if (more) load_tile(k0 + TC_BK);
#pragma unroll
        for (int ks = 0; ks < TC_BK; ks += 16) {
            /* both B fragments, then one A fragment at a time: 12 fragment
             * registers live instead of 20, which leaves room for 2 blocks per SM */
            wmma::fragment<wmma::matrix_b, 16, 16, 16, W, BLayout> fb[2];
#pragma unroll
            for (int j = 0; j < 2; j++) {
                int col = wn * 32 + j * 16;
                wmma::load_matrix_sync(fb[j], NT ? Bs + col * TC_LDB_NT + ks : Bs + ks * TC_LDB_KN + col,
                                       NT ? TC_LDB_NT : TC_LDB_KN);
            }
#pragma unroll
            for (int i = 0; i < 4; i++) {
                wmma::fragment<wmma::matrix_a, 16, 16, 16, W, wmma::row_major> fa;
                wmma::load_matrix_sync(fa, As + (wm * 64 + i * 16) * TC_LDA + ks, TC_LDA);
#pragma unroll
                for (int j = 0; j < 2; j++) wmma::mma_sync(acc[i][j], fa, fb[j], acc[i][j]);
            }
        }
        __syncthreads();
        if (more) {
            store_tile();
            __syncthreads();
        }
    }

    /* Epilogue: each warp stages one accumulator at a time through its own
     * 16x16 float patch of the (now idle) A tile, then applies bias/GELU. */
    float *patch = (float *)As + warp * 256;
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 2; j++) {
            wmma::store_matrix_sync(patch, acc[i][j], 16, wmma::mem_row_major);
            __syncwarp();
#pragma unroll
            for (int q = 0; q < 8; q++) {
                int idx = lane * 8 + q, r = idx / 16, c = idx % 16;
                int t = m0 + wm * 64 + i * 16 + r, n = n0 + wn * 32 + j * 16 + c;
                if (t < T && n < N) store_out(e, t, n, patch[idx]);
            }
            __syncwarp();
        }
}

/* ---------------------------------------------------------------- dispatch */

static bool aligned(const void *p, size_t a) { return ((uintptr_t)p % a) == 0; }

template <typename W, bool NT>
static void launch(g2r_cuda_mm_path path, epilogue e, const float *in, const W *w, int T, int K, int N,
                   cudaStream_t st) {
    size_t wsz = sizeof(W);
    if (path == G2R_CUDA_MM_GEMV) {
        /* 8-wide vectors of W must not straddle rows */
        int vec = aligned(w, 8 * wsz) && (NT ? K % 8 == 0 && aligned(in, 16) : N % 8 == 0);
        if (NT) {
            dim3 grid(g2r_ceil_div(N, 8), g2r_ceil_div(T, GEMV_ROWS));
            gemv_nt_kernel<W><<<grid, 256, 0, st>>>(e, in, w, T, K, N, vec);
        } else {
            dim3 grid(g2r_ceil_div(N, GEMV_GROUPS * 8), g2r_ceil_div(T, GEMV_ROWS));
            gemv_kn_kernel<W><<<grid, 256, 0, st>>>(e, in, w, T, K, N, vec);
        }
    } else if (path == G2R_CUDA_MM_SIMT) {
        dim3 grid(g2r_ceil_div(N, SIMT_BN), g2r_ceil_div(T, SIMT_BM));
        simt_kernel<W, NT><<<grid, 256, 0, st>>>(e, in, w, T, K, N);
    }
}

template <typename W, bool NT>
static void launch_tensor(epilogue e, const float *in, const W *w, int T, int K, int N, cudaStream_t st) {
    int vec_a = K % 4 == 0 && aligned(in, 16);
    int vec_b = aligned(w, 16) && (NT ? K % 8 == 0 : N % 8 == 0);
    dim3 grid(g2r_ceil_div(N, TC_BN), g2r_ceil_div(T, TC_BM));
    tensor_kernel<W, NT><<<grid, 256, 0, st>>>(e, in, w, T, K, N, vec_a, vec_b);
}

static g2r_status matmul_any(float *d_out, int ldo, const float *d_in, const g2r_cuda_matrix *w, const float *d_bias,
                             int T, int gelu, int accumulate, bool nt, g2r_cuda_mm_path path, g2r_cuda_stream s,
                             g2r_error *err) {
    int K = nt ? w->cols : w->rows, N = nt ? w->rows : w->cols;
    if (T <= 0 || N <= 0) return G2R_OK;
    if (K <= 0) return g2r_fail(err, G2R_EARG, "cuda: matmul: empty reduction dimension");
    bool wide = w->dtype == G2R_DT_F16 || w->dtype == G2R_DT_BF16;
    if (w->dtype != G2R_DT_F32 && !wide)
        return g2r_fail(err, G2R_EARG, "cuda: matmul: %s weights are not supported on the device",
                        g2r_dtype_name(w->dtype));
    if (path == G2R_CUDA_MM_AUTO) path = T <= GEMV_ROWS ? G2R_CUDA_MM_GEMV : wide ? G2R_CUDA_MM_TENSOR : G2R_CUDA_MM_SIMT;
    if (path == G2R_CUDA_MM_TENSOR && !wide)
        return g2r_fail(err, G2R_EARG, "cuda: matmul: the tensor-core path needs F16 or BF16 weights, not F32");
    epilogue e = {d_out, ldo, d_bias, gelu, accumulate};
    cudaStream_t st = g2r_stream(s);
    const char *name = path == G2R_CUDA_MM_GEMV ? (nt ? "gemv_nt_kernel" : "gemv_kn_kernel")
                       : path == G2R_CUDA_MM_SIMT ? "simt_kernel"
                                                  : "tensor_kernel";
    if (path == G2R_CUDA_MM_TENSOR) {
        if (w->dtype == G2R_DT_BF16) {
            const __nv_bfloat16 *p = (const __nv_bfloat16 *)w->data;
            nt ? launch_tensor<__nv_bfloat16, true>(e, d_in, p, T, K, N, st)
               : launch_tensor<__nv_bfloat16, false>(e, d_in, p, T, K, N, st);
        } else {
            const __half *p = (const __half *)w->data;
            nt ? launch_tensor<__half, true>(e, d_in, p, T, K, N, st) : launch_tensor<__half, false>(e, d_in, p, T, K, N, st);
        }
        return g2r_cuda_launched(name, err);
    }
    switch (w->dtype) {
    case G2R_DT_F32: {
        const float *p = (const float *)w->data;
        nt ? launch<float, true>(path, e, d_in, p, T, K, N, st) : launch<float, false>(path, e, d_in, p, T, K, N, st);
        break;
    }
    case G2R_DT_F16: {
        const __half *p = (const __half *)w->data;
        nt ? launch<__half, true>(path, e, d_in, p, T, K, N, st) : launch<__half, false>(path, e, d_in, p, T, K, N, st);
        break;
    }
    default: {
        const __nv_bfloat16 *p = (const __nv_bfloat16 *)w->data;
        nt ? launch<__nv_bfloat16, true>(path, e, d_in, p, T, K, N, st)
           : launch<__nv_bfloat16, false>(path, e, d_in, p, T, K, N, st);
        break;
    }
    }
    return g2r_cuda_launched(name, err);
}

extern "C" g2r_status g2r_cuda_matmul(float *d_out, int ldo, const float *d_in, const g2r_cuda_matrix *w,
                                      const float *d_bias, int T, int gelu, int accumulate, g2r_cuda_mm_path path,
                                      g2r_cuda_stream s, g2r_error *err) {
    return matmul_any(d_out, ldo, d_in, w, d_bias, T, gelu, accumulate, false, path, s, err);
}

extern "C" g2r_status g2r_cuda_matmul_nt(float *d_out, int ldo, const float *d_in, const g2r_cuda_matrix *w, int T,
                                         g2r_cuda_mm_path path, g2r_cuda_stream s, g2r_error *err) {
    return matmul_any(d_out, ldo, d_in, w, NULL, T, 0, 0, true, path, s, err);
}
