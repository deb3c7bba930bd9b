/* avx2.c — AVX2 + FMA kernels (not yet written: the dispatcher falls back to scalar). */
#include "kernels/kernels.h"

const g2r_kernels *g2r_kernels_avx2(void) { return NULL; }
