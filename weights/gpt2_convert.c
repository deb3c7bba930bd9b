/* gpt2_convert.c — dtype conversion and q8 quantization, streamed tensor by tensor. */
#include "weights/gpt2_convert.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/half.h"
#include "kernels/wrow.h"
#include "weights/gpt2_tensors.h"
#include "weights/gpt2_weights.h"
#include "weights/safetensors_write.h"

/* One tensor of the output: a bound source tensor, or the q8 scales of one. */
typedef struct {
    char name[64];
    const g2r_gpt2_tensor *src;
    int is_scale;
    int transpose; /* write the rows of the stored matrix transposed */
    int q8_cols;   /* q8: groups run along the written rows (else down the columns) */
} item;

typedef struct {
    const g2r_st_spec *specs;
    const item *items;
    int group;
} job;

/* The matrix as written: m, or m transposed. */
typedef struct {
    const g2r_matrix *m;
    int transpose;
    int rows, cols;
} view;

static view view_of(const g2r_matrix *m, int transpose) {
    return (view){m, transpose, transpose ? m->cols : m->rows, transpose ? m->rows : m->cols};
}

/* Rows [r0, r0 + n) of v into buf[n][v->cols], reading m along its rows
 * either way (transposed: n of m's columns in one pass, not one pass each). */
static void view_rows(const view *v, int r0, int n, float *buf) {
    if (!v->transpose) {
        for (int r = 0; r < n; r++)
            for (int c = 0; c < v->cols; c++) buf[(size_t)r * v->cols + c] = w_elem(v->m, r0 + r, c);
        return;
    }
    for (int c = 0; c < v->cols; c++) /* m's row c is the view's column c */
        for (int r = 0; r < n; r++) buf[(size_t)r * v->cols + c] = w_elem(v->m, c, r0 + r);
}

#define BLOCK 16 /* rows read at a time */

static float q8_scale(float amax) { return amax / 127.0f; }

static int8_t q8_value(float x, float scale) {
    if (scale == 0.0f) return 0;
    float q = roundf(x / scale);
    return (int8_t)(q > 127.0f ? 127 : q < -127.0f ? -127 : q);
}

/* Scales per column over each block of `group` rows (the rows layout). */
static g2r_status emit_q8_rows(const view *v, int group, int is_scale, g2r_st_out *out, float *buf, float *scale,
                               int8_t *q, g2r_error *err) {
    int C = v->cols;
    for (int r0 = 0; r0 < v->rows; r0 += group) {
        view_rows(v, r0, group, buf);
        for (int c = 0; c < C; c++) scale[c] = 0.0f;
        for (int r = 0; r < group; r++)
            for (int c = 0; c < C; c++) scale[c] = fmaxf(scale[c], fabsf(buf[(size_t)r * C + c]));
        for (int c = 0; c < C; c++) scale[c] = q8_scale(scale[c]);
        g2r_status s;
        if (is_scale) {
            s = g2r_st_put(out, scale, (size_t)C * sizeof(float), err);
        } else {
            for (int r = 0; r < group; r++)
                for (int c = 0; c < C; c++) q[(size_t)r * C + c] = q8_value(buf[(size_t)r * C + c], scale[c]);
            s = g2r_st_put(out, q, (size_t)group * C, err);
        }
        if (s) return s;
    }
    return G2R_OK;
}

/* Scales per row over each run of `group` columns (the cols layout, wte's). */
static g2r_status emit_q8_cols(const view *v, int group, int is_scale, g2r_st_out *out, float *buf, float *scale,
                               int8_t *q, g2r_error *err) {
    int C = v->cols, G = C / group;
    for (int r0 = 0; r0 < v->rows; r0 += BLOCK) {
        int n = v->rows - r0 < BLOCK ? v->rows - r0 : BLOCK;
        view_rows(v, r0, n, buf);
        for (int r = 0; r < n; r++) {
            const float *x = buf + (size_t)r * C;
            for (int g = 0; g < G; g++) {
                float amax = 0.0f;
                for (int c = g * group; c < (g + 1) * group; c++) amax = fmaxf(amax, fabsf(x[c]));
                scale[g] = q8_scale(amax);
                for (int c = g * group; c < (g + 1) * group; c++) q[c] = q8_value(x[c], scale[g]);
            }
            g2r_status s = is_scale ? g2r_st_put(out, scale, (size_t)G * sizeof(float), err)
                                    : g2r_st_put(out, q, (size_t)C, err);
            if (s) return s;
        }
    }
    return G2R_OK;
}

static g2r_status emit_matrix(const view *v, g2r_st_dtype dt, g2r_st_out *out, float *buf, uint16_t *half,
                              g2r_error *err) {
    for (int r0 = 0; r0 < v->rows; r0 += BLOCK) {
        int n = v->rows - r0 < BLOCK ? v->rows - r0 : BLOCK;
        size_t count = (size_t)n * (size_t)v->cols;
        view_rows(v, r0, n, buf);
        g2r_status s;
        if (dt == G2R_ST_F32) {
            s = g2r_st_put(out, buf, count * sizeof(float), err);
        } else {
            for (size_t i = 0; i < count; i++) half[i] = dt == G2R_ST_F16 ? g2r_f32_to_f16(buf[i]) : g2r_f32_to_bf16(buf[i]);
            s = g2r_st_put(out, half, count * sizeof(uint16_t), err);
        }
        if (s) return s;
    }
    return G2R_OK;
}

static g2r_status emit(void *user, const g2r_st_spec *spec, g2r_st_out *out, g2r_error *err) {
    const job *j = user;
    const item *it = &j->items[spec - j->specs];
    const g2r_gpt2_tensor *t = it->src;
    if (!t->m) return g2r_st_put(out, t->v, (size_t)t->rows * (size_t)(t->cols ? t->cols : 1) * sizeof(float), err);

    view v = view_of(t->m, it->transpose);
    int q8 = spec->dtype == G2R_ST_I8 || it->is_scale;
    size_t rows_buf = q8 && !it->q8_cols && j->group > BLOCK ? (size_t)j->group : BLOCK;
    float *buf = malloc(rows_buf * (size_t)v.cols * sizeof(float));
    float *scale = malloc((size_t)v.cols * sizeof(float));
    void *narrow = malloc(rows_buf * (size_t)v.cols * sizeof(uint16_t));
    g2r_status s;
    if (!buf || !scale || !narrow) s = g2r_fail(err, G2R_ENOMEM, "out of memory converting '%s'", t->name);
    else if (!q8) s = emit_matrix(&v, spec->dtype, out, buf, narrow, err);
    else if (it->q8_cols) s = emit_q8_cols(&v, j->group, it->is_scale, out, buf, scale, narrow, err);
    else s = emit_q8_rows(&v, j->group, it->is_scale, out, buf, scale, narrow, err);
    free(buf);
    free(scale);
    free(narrow);
    return s;
}

static g2r_status write_converted(const char *path, const g2r_gpt2_weights *w, const g2r_gpt2_tensor *tensors,
                                  size_t n, g2r_dtype dtype, int group, g2r_q8_layout layout, g2r_error *err) {
    item *items = calloc(2 * n, sizeof *items);
    g2r_st_spec *specs = calloc(2 * n, sizeof *specs);
    if (!items || !specs) {
        free(items);
        free(specs);
        return g2r_fail(err, G2R_ENOMEM, "%s: out of memory", path);
    }
    g2r_st_dtype big = dtype == G2R_DT_F16 ? G2R_ST_F16 : dtype == G2R_DT_BF16 ? G2R_ST_BF16 : dtype == G2R_DT_Q8 ? G2R_ST_I8 : G2R_ST_F32;
    int q8 = dtype == G2R_DT_Q8;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const g2r_gpt2_tensor *t = &tensors[i];
        /* a layer matrix is written [out, in] for q8 in the cols layout, else
         * [in, out]; w may hold it either way */
        int layer = t->role == G2R_ROLE_MATRIX, out_in = layer && q8 && layout == G2R_Q8_GROUP_COLS;
        int rows = out_in ? t->cols : t->rows, cols = out_in ? t->rows : t->cols;
        items[k] = (item){.src = t, .transpose = layer && out_in != w->transposed, .q8_cols = !layer || out_in};
        snprintf(items[k].name, sizeof items[k].name, "%s", t->name);
        specs[k] = (g2r_st_spec){items[k].name, t->m ? big : G2R_ST_F32, t->cols ? 2 : 1, {rows, cols}};
        k++;
        if (t->m && q8) {
            items[k] = items[k - 1];
            items[k].is_scale = 1;
            snprintf(items[k].name, sizeof items[k].name, "%s_scale", t->name);
            int by_rows = !items[k].q8_cols;
            specs[k] = (g2r_st_spec){items[k].name, G2R_ST_F32, 2, {by_rows ? rows / group : rows, by_rows ? cols : cols / group}};
            k++;
        }
    }
    char heads[16], groups[16];
    snprintf(heads, sizeof heads, "%d", w->cfg.n_head);
    snprintf(groups, sizeof groups, "%d", group);
    const char *meta[][2] = {{"format", "pt"},
                             {"n_head", heads},
                             {"q8_group", groups},
                             {"q8_layout", layout == G2R_Q8_GROUP_COLS ? "cols" : "rows"}};
    job j = {specs, items, group};
    g2r_status s = g2r_st_write(path, specs, k, meta, q8 ? 4 : 2, emit, &j, err);
    free(items);
    free(specs);
    return s;
}

g2r_status g2r_gpt2_convert(const char *in, const char *out, g2r_dtype dtype, int group, g2r_q8_layout layout,
                            int n_head_override, g2r_error *err) {
    g2r_gpt2_weights w;
    g2r_status s = g2r_gpt2_weights_load(in, n_head_override, &w, err);
    if (s) return s;
    if (dtype == G2R_DT_Q8 && (group <= 0 || w.cfg.n_embd % group))
        s = g2r_fail(err, G2R_EARG, "%s: q8 group %d must be positive and divide n_embd %d", in, group, w.cfg.n_embd);
    size_t n = g2r_gpt2_tensor_count(w.cfg.n_layer);
    g2r_gpt2_tensor *tensors = calloc(n, sizeof *tensors);
    if (!s && !tensors) s = g2r_fail(err, G2R_ENOMEM, "%s: out of memory", in);
    if (!s) {
        g2r_gpt2_tensors_bind(&w, tensors);
        s = write_converted(out, &w, tensors, n, dtype, group, layout, err);
    }
    free(tensors);
    g2r_gpt2_weights_free(&w);
    return s;
}
