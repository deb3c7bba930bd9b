/* wrow.h — where row r of a weight matrix starts, and its Q8 scales, for any
 * dtype: the address arithmetic every ISA's kernels share (kernels.h has the
 * layouts); and one element as a float, for the code that reads a matrix a
 * value at a time (the scalar reference, convert, the CUDA upload). */
#ifndef G2R_WROW_H
#define G2R_WROW_H

#include <stddef.h>
#include <stdint.h>

#include "common/half.h"
#include "kernels/kernels.h"

typedef struct {
    const void *q;      /* element (r, 0) */
    const float *scale; /* Q8 rows layout: scale of (r, 0), indexed by column; cols layout: row r's groups */
} wrow;

static inline __attribute__((always_inline)) wrow w_row(const g2r_matrix *w, g2r_dtype dt, int r) {
    size_t i = (size_t)r * (size_t)w->cols;
    wrow row = {0};
    switch (dt) {
    case G2R_DT_F32: row.q = (const float *)w->data + i; break;
    case G2R_DT_F16:
    case G2R_DT_BF16: row.q = (const uint16_t *)w->data + i; break;
    case G2R_DT_Q8:
        row.q = (const int8_t *)w->data + i;
        row.scale = w->q8_layout == G2R_Q8_GROUP_ROWS ? w->scale + (size_t)(r / w->group) * (size_t)w->cols
                                                       : w->scale + (size_t)r * (size_t)(w->cols / w->group);
        break;
    }
    return row;
}

/* Element (r, c) of w as a float, whatever its dtype and Q8 layout. */
static inline float w_elem(const g2r_matrix *w, int r, int c) {
    wrow row = w_row(w, w->dtype, r);
    switch (w->dtype) {
    case G2R_DT_F32: return ((const float *)row.q)[c];
    case G2R_DT_F16: return g2r_f16_to_f32(((const uint16_t *)row.q)[c]);
    case G2R_DT_BF16: return g2r_bf16_to_f32(((const uint16_t *)row.q)[c]);
    case G2R_DT_Q8:
        return (float)((const int8_t *)row.q)[c] * row.scale[w->q8_layout == G2R_Q8_GROUP_ROWS ? c : c / w->group];
    }
    return 0.0f;
}

#endif
