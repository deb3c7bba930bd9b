/* q8_avx2.c — Q8 weights times int8 inputs with AVX2 (see q8_avx512.c). */
#include "kernels/q8.h"

int g2r_q8_matmul_avx2(float *out, int ldo, const float *in, const g2r_matrix *w, const float *bias, int T, int n0,
                       int n1, int gelu) {
    (void)out, (void)ldo, (void)in, (void)w, (void)bias, (void)T, (void)n0, (void)n1, (void)gelu;
    return 0;
}
int g2r_q8_matmul_nt_avx2(float *out, int ldo, const float *in, const g2r_matrix *w, int T, int v0, int v1) {
    (void)out, (void)ldo, (void)in, (void)w, (void)T, (void)v0, (void)v1;
    return 0;
}
