/* cuda_ptx.cuh — the few PTX instructions the tensor-core matmul needs, each in
 * a small function: asynchronous global->shared copies (cp.async), shared->
 * register fragment loads (ldmatrix) and the m16n8k16 matrix multiply-add
 * (mma.sync) with F32 accumulators.  sm_80 and later (sm_90 here).
 *
 * Fragment layouts (PTX ISA, "mma.m16n8k16"), lane = threadIdx.x % 32,
 * g = lane / 4, q = lane % 4; each register holds two 16-bit values, the
 * lower column (or k) in the low half:
 *   A 16x16 (row-major):  a[0] (g, 2q..2q+1)      a[1] (g+8, 2q..)
 *                         a[2] (g, 8+2q..)        a[3] (g+8, 8+2q..)
 *   B 16x8  (k x n):      b[0] (k 2q..2q+1, n g)  b[1] (k 8+2q.., n g)
 *   C 16x8  (F32):        c[0..1] (g, 2q..2q+1)   c[2..3] (g+8, 2q..)
 * tests/cuda_emu/ptx_emu.h implements the same functions on the CPU. */
#ifndef G2R_CUDA_PTX_CUH
#define G2R_CUDA_PTX_CUH

#include <stdint.h>

#include "kernels/cuda/cuda_common.cuh"

__device__ __forceinline__ uint32_t g2r_smem_addr(const void *p) {
    return (uint32_t)__cvta_generic_to_shared(p);
}

/* Copies 16 bytes global -> shared without registers; only the first
 * src_bytes (0 or 16) are read, the rest of the 16 are zero-filled. */
__device__ __forceinline__ void g2r_cp_async16(void *smem, const void *global, int src_bytes) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(g2r_smem_addr(smem)), "l"(global),
                 "r"(src_bytes));
}
__device__ __forceinline__ void g2r_cp_async_commit(void) { asm volatile("cp.async.commit_group;\n" ::); }
/* Waits until at most N of this thread's committed groups are still in flight. */
template <int N> __device__ __forceinline__ void g2r_cp_async_wait(void) {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

/* Four 8x8 16-bit matrices; lanes 8j..8j+7 give the row addresses of matrix j,
 * and r[j] receives this lane's two elements of it (row g, columns 2q, 2q+1). */
__device__ __forceinline__ void g2r_ldsm_x4(uint32_t r[4], const void *smem) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(g2r_smem_addr(smem)));
}
/* The same, transposed: r[j] receives rows 2q and 2q+1 of column g. */
__device__ __forceinline__ void g2r_ldsm_x4_trans(uint32_t r[4], const void *smem) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(g2r_smem_addr(smem)));
}

/* c += a * b on one 16x8x16 tile; the last argument only picks the type. */
__device__ __forceinline__ void g2r_mma16816(float c[4], const uint32_t a[4], const uint32_t b[2],
                                             const __nv_bfloat16 *) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
                 "{%8, %9}, {%0, %1, %2, %3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
__device__ __forceinline__ void g2r_mma16816(float c[4], const uint32_t a[4], const uint32_t b[2], const __half *) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
                 "{%8, %9}, {%0, %1, %2, %3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

/* tanh in one instruction (sm_75+), relative error about 2^-11. */
__device__ __forceinline__ float g2r_tanh_fast(float x) {
    float y;
    asm("tanh.approx.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}

#endif
