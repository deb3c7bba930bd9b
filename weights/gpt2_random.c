/* gpt2_random.c — stream random GPT-2 weights into a safetensors file. */
#include "weights/gpt2_random.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/half.h"
#include "common/rng.h"
#include "weights/gpt2_tensors.h"
#include "weights/safetensors_write.h"

#define CHUNK 16384 /* values generated per write */

typedef struct {
    const g2r_st_spec *specs;
    const g2r_gpt2_tensor *tensors;
    uint64_t seed;
} gen;

static uint64_t name_hash(const char *s) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

static g2r_status emit(void *user, const g2r_st_spec *spec, g2r_st_out *out, g2r_error *err) {
    const gen *g = user;
    const g2r_gpt2_tensor *t = &g->tensors[spec - g->specs];
    float mean = t->role == G2R_ROLE_LN_GAIN ? 1.0f : 0.0f;
    float sd = t->role == G2R_ROLE_WPE ? 0.01f : 0.02f;
    g2r_rng rng = {g->seed ^ name_hash(t->name)};
    size_t n = (size_t)t->rows * (size_t)(t->cols ? t->cols : 1);
    float vals[CHUNK];
    uint16_t half[CHUNK];
    for (size_t done = 0; done < n;) {
        size_t k = n - done < CHUNK ? n - done : CHUNK;
        for (size_t i = 0; i < k; i++) vals[i] = mean + sd * g2r_rng_normal(&rng);
        g2r_status s;
        if (spec->dtype == G2R_ST_F32) {
            s = g2r_st_put(out, vals, k * sizeof(float), err);
        } else {
            for (size_t i = 0; i < k; i++)
                half[i] = spec->dtype == G2R_ST_F16 ? g2r_f32_to_f16(vals[i]) : g2r_f32_to_bf16(vals[i]);
            s = g2r_st_put(out, half, k * sizeof(uint16_t), err);
        }
        if (s) return s;
        done += k;
    }
    return G2R_OK;
}

g2r_status g2r_gpt2_write_random(const char *path, const g2r_config *cfg, g2r_dtype dtype, uint64_t seed,
                                 g2r_error *err) {
    const g2r_config c = *cfg;
    if (c.n_layer < 1 || c.n_layer > 1024 || c.n_head < 1 || c.n_embd < 1 || c.n_embd > 65536 || c.n_vocab < 1 ||
        c.n_vocab > (1 << 24) || c.n_ctx < 1 || c.n_ctx > (1 << 20))
        return g2r_fail(err, G2R_EARG, "%s: bad model shape (layers %d, heads %d, embd %d, vocab %d, ctx %d)", path,
                        c.n_layer, c.n_head, c.n_embd, c.n_vocab, c.n_ctx);
    if (c.n_embd % c.n_head)
        return g2r_fail(err, G2R_EARG, "%s: n_head %d does not divide n_embd %d", path, c.n_head, c.n_embd);
    if (dtype == G2R_DT_Q8)
        return g2r_fail(err, G2R_EARG, "%s: mkmodel writes F32, F16 or BF16; use convert for q8", path);
    g2r_st_dtype big = dtype == G2R_DT_F16 ? G2R_ST_F16 : dtype == G2R_DT_BF16 ? G2R_ST_BF16 : G2R_ST_F32;

    size_t n = g2r_gpt2_tensor_count(c.n_layer);
    g2r_gpt2_tensor *tensors = calloc(n, sizeof *tensors);
    g2r_st_spec *specs = calloc(n, sizeof *specs);
    if (!tensors || !specs) {
        free(tensors);
        free(specs);
        return g2r_fail(err, G2R_ENOMEM, "%s: out of memory", path);
    }
    g2r_gpt2_tensor_list(&c, tensors);
    for (size_t i = 0; i < n; i++) {
        const g2r_gpt2_tensor *t = &tensors[i];
        int matrix = t->role == G2R_ROLE_MATRIX || t->role == G2R_ROLE_WTE;
        specs[i] = (g2r_st_spec){t->name, matrix ? big : G2R_ST_F32, t->cols ? 2 : 1, {t->rows, t->cols}};
    }
    char heads[16];
    snprintf(heads, sizeof heads, "%d", c.n_head);
    const char *meta[][2] = {{"format", "pt"}, {"n_head", heads}};
    gen g = {specs, tensors, seed};
    g2r_status s = g2r_st_write(path, specs, n, meta, 2, emit, &g, err);
    free(specs);
    free(tensors);
    return s;
}
