/* ptx_emu.h — kernels/cuda/cuda_ptx.cuh on the CPU emulation: the same
 * functions, with the warp-wide fragment instructions (ldmatrix, mma.sync)
 * built from lane exchanges, so a kernel that mixes up fragment layouts gets
 * the same wrong answer here as on the GPU.  cu2cpp.py puts this header where
 * the .cu files include cuda_ptx.cuh.  Used only by `make cuda-emu-test`. */
#ifndef G2R_PTX_EMU_H
#define G2R_PTX_EMU_H

#include "tests/cuda_emu/cuda_emu.h"
#include "kernels/cuda/cuda_common.cuh" /* the converted copy (build-emu/emu/src) */

/* cp.async: a plain copy (the emulator runs it at once), zero-filled past src_bytes. */
static inline void g2r_cp_async16(void *smem, const void *global, int src_bytes) {
    if ((uintptr_t)smem % 16 || (src_bytes && (uintptr_t)global % 16)) {
        fprintf(stderr, "cuda_emu: misaligned cp.async (%p <- %p)\n", smem, global);
        abort();
    }
    memset(smem, 0, 16);
    if (src_bytes) memcpy(smem, global, (size_t)src_bytes);
}
static inline void g2r_cp_async_commit(void) {}
template <int N> static inline void g2r_cp_async_wait(void) {}

static inline int g2r_emu_lane(void) { return (int)(threadIdx.x & 31); }

static inline uint16_t g2r_emu_u16(uint64_t addr) {
    uint16_t v;
    memcpy(&v, (const void *)(uintptr_t)addr, 2);
    return v;
}

/* Lanes 8j..8j+7 hold the row addresses of matrix j (16-byte aligned rows). */
static inline void g2r_ldsm_x4(uint32_t r[4], const void *smem) {
    int lane = g2r_emu_lane();
    if ((uintptr_t)smem % 16) {
        fprintf(stderr, "cuda_emu: ldmatrix row address %p is not 16-byte aligned\n", smem);
        abort();
    }
    for (int j = 0; j < 4; j++) { /* row g of matrix j, columns 2q and 2q+1 */
        uint64_t row = g2r_emu_exchange((uint64_t)(uintptr_t)smem, j * 8 + lane / 4);
        r[j] = g2r_emu_u16(row + (lane % 4) * 4) | (uint32_t)g2r_emu_u16(row + (lane % 4) * 4 + 2) << 16;
    }
}
static inline void g2r_ldsm_x4_trans(uint32_t r[4], const void *smem) {
    int lane = g2r_emu_lane();
    if ((uintptr_t)smem % 16) {
        fprintf(stderr, "cuda_emu: ldmatrix row address %p is not 16-byte aligned\n", smem);
        abort();
    }
    for (int j = 0; j < 4; j++) { /* rows 2q and 2q+1 of matrix j, column g */
        uint64_t r0 = g2r_emu_exchange((uint64_t)(uintptr_t)smem, j * 8 + 2 * (lane % 4));
        uint64_t r1 = g2r_emu_exchange((uint64_t)(uintptr_t)smem, j * 8 + 2 * (lane % 4) + 1);
        r[j] = g2r_emu_u16(r0 + (lane / 4) * 2) | (uint32_t)g2r_emu_u16(r1 + (lane / 4) * 2) << 16;
    }
}

static inline float g2r_emu_half(uint32_t bits, const __nv_bfloat16 *) { return g2r_bf16_to_f32((uint16_t)bits); }
static inline float g2r_emu_half(uint32_t bits, const __half *) { return g2r_f16_to_f32((uint16_t)bits); }

/* c += a b for the 16x8x16 tile spread over the warp: this lane's four
 * outputs need rows g and g+8 of A (lanes 4g..4g+3) and columns 2q, 2q+1 of
 * B (lanes 8q..8q+7). */
template <typename H> static inline void g2r_mma16816(float c[4], const uint32_t a[4], const uint32_t b[2], const H *t) {
    int lane = g2r_emu_lane(), g = lane / 4, q = lane % 4;
    float A[2][16], B[2][16]; /* A[row g / g+8][k], B[column 2q / 2q+1][k] */
    for (int s = 0; s < 4; s++) {
        uint64_t lo = g2r_emu_exchange(a[0] | (uint64_t)a[1] << 32, g * 4 + s);
        uint64_t hi = g2r_emu_exchange(a[2] | (uint64_t)a[3] << 32, g * 4 + s);
        uint32_t reg[4] = {(uint32_t)lo, (uint32_t)(lo >> 32), (uint32_t)hi, (uint32_t)(hi >> 32)};
        for (int half = 0; half < 2; half++) { /* k 2s, 2s+1 and 8+2s, 9+2s */
            A[0][8 * half + 2 * s] = g2r_emu_half(reg[2 * half] & 0xffff, t);
            A[0][8 * half + 2 * s + 1] = g2r_emu_half(reg[2 * half] >> 16, t);
            A[1][8 * half + 2 * s] = g2r_emu_half(reg[2 * half + 1] & 0xffff, t);
            A[1][8 * half + 2 * s + 1] = g2r_emu_half(reg[2 * half + 1] >> 16, t);
        }
    }
    for (int e = 0; e < 2; e++)
        for (int s = 0; s < 4; s++) {
            uint64_t v = g2r_emu_exchange(b[0] | (uint64_t)b[1] << 32, (2 * q + e) * 4 + s);
            uint32_t b0 = (uint32_t)v, b1 = (uint32_t)(v >> 32);
            B[e][2 * s] = g2r_emu_half(b0 & 0xffff, t), B[e][2 * s + 1] = g2r_emu_half(b0 >> 16, t);
            B[e][8 + 2 * s] = g2r_emu_half(b1 & 0xffff, t), B[e][9 + 2 * s] = g2r_emu_half(b1 >> 16, t);
        }
    for (int i = 0; i < 2; i++)
        for (int e = 0; e < 2; e++) {
            float s = c[2 * i + e];
            for (int k = 0; k < 16; k++) s += A[i][k] * B[e][k];
            c[2 * i + e] = s;
        }
}

static inline float g2r_tanh_fast(float x) { return tanhf(x); }

#endif
