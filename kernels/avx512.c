/* avx512.c — AVX-512 kernels (not yet written: the dispatcher falls back to scalar). */
#include "kernels/kernels.h"

const g2r_kernels *g2r_kernels_avx512(void) { return NULL; }
