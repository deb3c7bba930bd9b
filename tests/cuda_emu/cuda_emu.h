/* cuda_emu.h — just enough of CUDA to run kernels/cuda/ on the CPU, slowly,
 * so that the GPU code and its tests can be checked on a machine without a GPU.
 *
 * tests/cuda_emu/cu2cpp.py rewrites each .cu into C++ that includes this
 * header: __shared__ becomes static (blocks run one after another), a launch
 * becomes g2r_emu_launch(grid, block, smem, lambda).  Every CUDA thread of a
 * block is a fiber (ucontext) with its own stack; __syncthreads, __syncwarp
 * and shuffles are barriers the scheduler releases when every live thread of
 * the block (or warp) has arrived, so a missing barrier or a divergent one
 * shows up as wrong results or a reported deadlock.  WMMA fragments hold the
 * whole 16x16 tile in every lane (computed redundantly, exact F32 sums), and
 * the loads and stores check WMMA's alignment rules.
 * Used only by `make cuda-emu-test`; never part of the library. */
#ifndef G2R_CUDA_EMU_H
#define G2R_CUDA_EMU_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <functional>
#include <type_traits>

extern "C" {
#include "common/half.h"
}

/* ---------------------------------------------------------------- types */

struct dim3 {
    unsigned x, y, z;
    dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
};
struct uint3 {
    unsigned x, y, z;
};
struct alignas(16) float4 {
    float x, y, z, w;
};
struct alignas(16) uint4 {
    unsigned x, y, z, w;
};
struct alignas(8) uint2 {
    unsigned x, y;
};
struct alignas(8) float2 {
    float x, y;
};
static inline float4 make_float4(float x, float y, float z, float w) { return float4{x, y, z, w}; }
static inline float2 make_float2(float x, float y) { return float2{x, y}; }

struct __half {
    uint16_t bits;
    __half() = default;
    __half(float f) : bits(g2r_f32_to_f16(f)) {}
};
struct __nv_bfloat16 {
    uint16_t bits;
    __nv_bfloat16() = default;
    __nv_bfloat16(float f) : bits(g2r_f32_to_bf16(f)) {}
};
static inline float __half2float(__half h) { return g2r_f16_to_f32(h.bits); }
static inline float __bfloat162float(__nv_bfloat16 h) { return g2r_bf16_to_f32(h.bits); }
static inline __half __float2half_rn(float f) { return __half(f); }
static inline __nv_bfloat16 __float2bfloat16_rn(float f) { return __nv_bfloat16(f); }

/* the thread's coordinates, set by the scheduler before it resumes a fiber */
extern uint3 threadIdx, blockIdx;
extern dim3 blockDim, gridDim;
extern unsigned char *g2r_emu_dyn_smem;

static inline int min(int a, int b) { return a < b ? a : b; }
static inline int max(int a, int b) { return a > b ? a : b; }
static inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
static inline float g2r_emu_expf(float x) { return expf(x); }
#define __expf g2r_emu_expf
/* vector loads must be aligned to their size, as on the GPU */
template <typename T> static inline T __ldg(const T *p) {
    if ((uintptr_t)p % sizeof(T)) {
        fprintf(stderr, "cuda_emu: misaligned %zu-byte load at %p\n", sizeof(T), (const void *)p);
        abort();
    }
    return *p;
}
template <typename T> static inline T __ldcs(const T *p) { return __ldg(p); }

/* ---------------------------------------------------------------- sync */

void g2r_emu_syncthreads(void);
void g2r_emu_syncwarp(void);
uint64_t g2r_emu_exchange(uint64_t mine, int src_lane); /* every lane's value, then lane src_lane's */

static inline void __syncthreads(void) { g2r_emu_syncthreads(); }
static inline void __syncwarp(unsigned mask = 0xffffffffu) {
    (void)mask;
    g2r_emu_syncwarp();
}
template <typename T> static inline T __shfl_xor_sync(unsigned mask, T v, int o) {
    static_assert(sizeof(T) <= 8, "shuffle of a value over 8 bytes");
    (void)mask;
    uint64_t u = 0;
    memcpy(&u, &v, sizeof v);
    u = g2r_emu_exchange(u, (int)(threadIdx.x & 31) ^ o);
    T r;
    memcpy(&r, &u, sizeof r);
    return r;
}

/* ---------------------------------------------------------------- runtime */

typedef int cudaError_t;
enum { cudaSuccess = 0, cudaErrorMemoryAllocation = 2, cudaErrorNoDevice = 100 };
typedef void *cudaStream_t;
enum cudaMemcpyKind { cudaMemcpyHostToDevice = 1, cudaMemcpyDeviceToHost = 2 };
struct cudaDeviceProp {
    char name[256];
    int major, minor, multiProcessorCount;
    size_t totalGlobalMem;
};
cudaError_t cudaGetDeviceCount(int *n);
cudaError_t cudaSetDevice(int d);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int d);
cudaError_t cudaMalloc(void **p, size_t bytes);
cudaError_t cudaFree(void *p);
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t n, cudaMemcpyKind k, cudaStream_t s);
cudaError_t cudaStreamSynchronize(cudaStream_t s);
cudaError_t cudaGetLastError(void);
const char *cudaGetErrorString(cudaError_t e);
const char *cudaGetErrorName(cudaError_t e);

enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize = 8 };
template <typename F> static inline cudaError_t cudaFuncSetAttribute(F, cudaFuncAttribute, int) { return cudaSuccess; }

/* Runs body once per thread of every block, blocks one after another. */
void g2r_emu_launch(dim3 grid, dim3 block, size_t smem, std::function<void()> body);

/* ---------------------------------------------------------------- WMMA */

namespace nvcuda {
namespace wmma {
struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
enum layout_t { mem_row_major, mem_col_major };

void check_ptr(const void *p, unsigned ldm, size_t elem, const char *what);

template <typename Use, int M, int N, int K, typename T, typename Layout = void> struct fragment {
    float v[16 * 16];
};

template <typename T> static inline float as_float(T x) { return (float)x; }
template <> inline float as_float<__half>(__half x) { return __half2float(x); }
template <> inline float as_float<__nv_bfloat16>(__nv_bfloat16 x) { return __bfloat162float(x); }

template <typename Use, typename T, typename Layout>
static inline void load_matrix_sync(fragment<Use, 16, 16, 16, T, Layout> &f, const T *p, unsigned ldm) {
    check_ptr(p, ldm, sizeof(T), "load_matrix_sync");
    bool col = std::is_same<Layout, col_major>::value;
    for (int r = 0; r < 16; r++)
        for (int c = 0; c < 16; c++) f.v[r * 16 + c] = as_float(col ? p[c * ldm + r] : p[r * ldm + c]);
}
template <typename T>
static inline void fill_fragment(fragment<accumulator, 16, 16, 16, T> &f, float x) {
    for (int i = 0; i < 256; i++) f.v[i] = x;
}
template <typename T, typename LA, typename LB>
static inline void mma_sync(fragment<accumulator, 16, 16, 16, float> &d, const fragment<matrix_a, 16, 16, 16, T, LA> &a,
                            const fragment<matrix_b, 16, 16, 16, T, LB> &b,
                            const fragment<accumulator, 16, 16, 16, float> &c) {
    float out[256];
    for (int r = 0; r < 16; r++)
        for (int n = 0; n < 16; n++) {
            float s = c.v[r * 16 + n];
            for (int k = 0; k < 16; k++) s += a.v[r * 16 + k] * b.v[k * 16 + n];
            out[r * 16 + n] = s;
        }
    memcpy(d.v, out, sizeof out);
}
static inline void store_matrix_sync(float *p, const fragment<accumulator, 16, 16, 16, float> &f, unsigned ldm,
                                     layout_t l) {
    check_ptr(p, ldm, sizeof(float), "store_matrix_sync");
    for (int r = 0; r < 16; r++)
        for (int c = 0; c < 16; c++) (l == mem_row_major ? p[r * ldm + c] : p[c * ldm + r]) = f.v[r * 16 + c];
}
} // namespace wmma
} // namespace nvcuda

#endif
