/* cuda_common.cuh — what every .cu file shares: error reporting, element loads
 * for each weight dtype, warp reductions. */
#ifndef G2R_CUDA_COMMON_CUH
#define G2R_CUDA_COMMON_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

extern "C" {
#include "common/error.h"
}
#include "kernels/cuda/cuda_kernels.h"

/* A CUDA runtime status as a g2r error naming the call. */
static inline g2r_status g2r_cuda_status(cudaError_t e, const char *call, g2r_error *err) {
    if (e == cudaSuccess) return G2R_OK;
    return g2r_fail(err, G2R_EDEVICE, "cuda: %s: %s (%s)", call, cudaGetErrorString(e), cudaGetErrorName(e));
}

/* Checks that the kernel just queued was launched (bad configuration, no
 * device, an earlier fault).  Does not wait for it. */
static inline g2r_status g2r_cuda_launched(const char *kernel, g2r_error *err) {
    cudaError_t e = cudaGetLastError();
    if (e == cudaSuccess) return G2R_OK;
    return g2r_fail(err, G2R_EDEVICE, "cuda: launch of %s: %s (%s)", kernel, cudaGetErrorString(e),
                    cudaGetErrorName(e));
}

static inline cudaStream_t g2r_stream(g2r_cuda_stream s) { return (cudaStream_t)s; }

/* One element of a 16- or 32-bit weight as float. */
__device__ __forceinline__ float g2r_to_f32(float x) { return x; }
__device__ __forceinline__ float g2r_to_f32(__half x) { return __half2float(x); }
__device__ __forceinline__ float g2r_to_f32(__nv_bfloat16 x) { return __bfloat162float(x); }

/* A float stored as an activation of type O (F32, or rounded to 16 bits). */
__device__ __forceinline__ void g2r_store_f32(float *o, float x) { *o = x; }
__device__ __forceinline__ void g2r_store_f32(__half *o, float x) { *o = __float2half_rn(x); }
__device__ __forceinline__ void g2r_store_f32(__nv_bfloat16 *o, float x) { *o = __float2bfloat16_rn(x); }

__device__ __forceinline__ float g2r_warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float g2r_warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

/* GPT-2's GELU, tanh form, as in kernels/scalar.c. */
__device__ __forceinline__ float g2r_gelu_dev(float x) {
    const float s = 0.7978845608028654f;
    return 0.5f * x * (1.0f + tanhf(s * (x + 0.044715f * x * x * x)));
}

static inline int g2r_ceil_div(long a, long b) { return (int)((a + b - 1) / b); }

#endif
