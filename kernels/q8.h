/* q8.h — Q8 weights times int8-quantised inputs (the integer products of
 * scalar.c's matmul_q8 / matmul_nt_q8, with the same bits), for the SIMD
 * tables.  Each returns 0, having done nothing, for shapes it does not cover
 * (group sizes it cannot split into whole vectors, very long rows); the
 * caller then uses the scalar reference, which gives the same bits. */
#ifndef G2R_Q8_H
#define G2R_Q8_H

#include "kernels/kernels.h"

/* matmul() for a Q8 matrix in the G2R_Q8_GROUP_ROWS layout. */
int g2r_q8_matmul_avx512(float *out, int ldo, const float *in, const g2r_matrix *w, const float *bias, int T,
                         int n0, int n1, int gelu);
/* matmul_slices() for the same (a slice is a group). */
int g2r_q8_slices_avx512(float *part, int ldo, size_t stride, const float *in, const g2r_matrix *w, int T, int n0,
                         int n1, int s0, int s1);
/* matmul_nt() for a Q8 matrix in the G2R_Q8_GROUP_COLS layout. */
int g2r_q8_matmul_nt_avx512(float *out, int ldo, const float *in, const g2r_matrix *w, int T, int v0, int v1);

/* Tests: non-zero makes the AVX-512 functions take their path for CPUs
 * without VNNI (the same bits, by other instructions). */
void g2r_q8_avx512_force_madd(int on);

int g2r_q8_matmul_avx2(float *out, int ldo, const float *in, const g2r_matrix *w, const float *bias, int T, int n0,
                       int n1, int gelu);
int g2r_q8_slices_avx2(float *part, int ldo, size_t stride, const float *in, const g2r_matrix *w, int T, int n0,
                       int n1, int s0, int s1);
int g2r_q8_matmul_nt_avx2(float *out, int ldo, const float *in, const g2r_matrix *w, int T, int v0, int v1);

#endif
