/* dispatch.c — choose a kernel table once, from what the CPU reports. */
#include "kernels/kernels.h"

#include <stddef.h>

const char *g2r_dtype_name(g2r_dtype t) {
    switch (t) {
    case G2R_DT_F32: return "F32";
    case G2R_DT_F16: return "F16";
    case G2R_DT_BF16: return "BF16";
    case G2R_DT_Q8: return "Q8";
    }
    return "?";
}

static int cpu_has(g2r_kernels_kind kind) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    if (kind == G2R_KERNELS_AVX2) return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (kind == G2R_KERNELS_AVX512)
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
#endif
    (void)kind;
    return 0;
}

const g2r_kernels *g2r_kernels_get(g2r_kernels_kind kind) {
    switch (kind) {
    case G2R_KERNELS_SCALAR: return g2r_kernels_scalar();
    case G2R_KERNELS_AVX2: return cpu_has(kind) ? g2r_kernels_avx2() : NULL;
    case G2R_KERNELS_AVX512: return cpu_has(kind) ? g2r_kernels_avx512() : NULL;
    case G2R_KERNELS_NEON: return NULL;
    case G2R_KERNELS_AUTO: break;
    }
    const g2r_kernels *k = NULL;
    if (cpu_has(G2R_KERNELS_AVX512)) k = g2r_kernels_avx512();
    if (!k && cpu_has(G2R_KERNELS_AVX2)) k = g2r_kernels_avx2();
    return k ? k : g2r_kernels_scalar();
}
