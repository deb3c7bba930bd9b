/* test_weights.c — GPT-2 binding (shapes, names, n_head, dtypes, alignment),
 * mkmodel's determinism, convert to f16/bf16/q8 and back, and the CLI. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "common/fileio.h"
#include "common/half.h"
#include "tests/harness.h"
#include "tests/test_cli_util.h"
#include "weights/gpt2_convert.h"
#include "weights/gpt2_random.h"
#include "weights/gpt2_tensors.h"
#include "weights/gpt2_weights.h"
#include "weights/safetensors.h"

static const g2r_config small_cfg = {2, 4, 64, 100, 32};

/* A model file of cfg in dir; the returned path is malloc'd. */
static char *mk(const char *dir, const char *name, const g2r_config *cfg, g2r_dtype dt, uint64_t seed) {
    char *path = malloc(700);
    snprintf(path, 700, "%s/%s", dir, name);
    g2r_error err = {0};
    if (g2r_gpt2_write_random(path, cfg, dt, seed, &err)) {
        t_fail(__FILE__, __LINE__, "mkmodel: %s", err.msg);
        free(path);
        return NULL;
    }
    return path;
}

/* Element (r, c) of m as a float, whatever its dtype. */
static float at(const g2r_matrix *m, int r, int c) {
    size_t i = (size_t)r * m->cols + c;
    switch (m->dtype) {
    case G2R_DT_F32: return ((const float *)m->data)[i];
    case G2R_DT_F16: return g2r_f16_to_f32(((const uint16_t *)m->data)[i]);
    case G2R_DT_BF16: return g2r_bf16_to_f32(((const uint16_t *)m->data)[i]);
    case G2R_DT_Q8: return ((const int8_t *)m->data)[i] * m->scale[m->q8_layout == G2R_Q8_GROUP_ROWS
                                                                      ? (size_t)(r / m->group) * m->cols + c
                                                                      : (size_t)r * (m->cols / m->group) + c / m->group];
    }
    return 0;
}

/* Largest |a - b| / (|b| + floor) over every tensor of two loaded models of one shape. */
/* Element (r, c) of tensor t of w as Hugging Face shapes it: [in, out] for a
 * layer matrix, however w stores it. */
static float at_hf(const g2r_gpt2_weights *w, const g2r_gpt2_tensor *t, int r, int c) {
    return t->role == G2R_ROLE_MATRIX && w->transposed ? at(t->m, c, r) : at(t->m, r, c);
}

static double max_rel_diff(const g2r_gpt2_weights *a, const g2r_gpt2_weights *b, double floor) {
    size_t n = g2r_gpt2_tensor_count(a->cfg.n_layer);
    g2r_gpt2_tensor *ta = calloc(n, sizeof *ta), *tb = calloc(n, sizeof *tb);
    g2r_gpt2_tensors_bind(a, ta);
    g2r_gpt2_tensors_bind(b, tb);
    double worst = 0;
    for (size_t k = 0; k < n; k++) {
        int cols = ta[k].cols ? ta[k].cols : 1;
        for (int r = 0; r < ta[k].rows; r++)
            for (int c = 0; c < cols; c++) {
                size_t i = (size_t)r * cols + c;
                double x = ta[k].m ? at_hf(a, &ta[k], r, c) : ta[k].v[i];
                double y = tb[k].m ? at_hf(b, &tb[k], r, c) : tb[k].v[i];
                double d = fabs(x - y) / (fabs(y) + floor);
                if (d > worst) worst = d;
            }
    }
    free(ta);
    free(tb);
    return worst;
}

/* Below 2^-14 F16 is subnormal, with absolute steps of 2^-24: measuring relative
 * error against |b| + 2^-14 keeps the 2^-11 bound valid there too. */
#define F16_FLOOR 6.103515625e-05

static int same_bytes(const char *p, const char *q) {
    char *a, *b;
    size_t na, nb;
    g2r_error err;
    if (g2r_read_file(p, 1 << 28, &a, &na, &err)) return 0;
    if (g2r_read_file(q, 1 << 28, &b, &nb, &err)) {
        free(a);
        return 0;
    }
    int same = na == nb && !memcmp(a, b, na);
    free(a);
    free(b);
    return same;
}

/* ------------------------------------------------- hand-made file layouts */

typedef struct {
    char name[96];
    const char *dtype;
    int ndim;
    int64_t shape[4];
    const void *data;
    size_t bytes;
} raw;

/* The tensors of st in name order. */
static int raw_from(const g2r_safetensors *st, raw *out) {
    for (size_t i = 0; i < st->n_tensors; i++) {
        const g2r_st_tensor *t = &st->tensors[i];
        raw *r = &out[i];
        snprintf(r->name, sizeof r->name, "%s", t->name);
        r->dtype = g2r_st_dtype_name(t->dtype);
        r->ndim = t->ndim;
        for (int d = 0; d < t->ndim; d++) r->shape[d] = t->shape[d];
        r->data = t->data;
        r->bytes = t->end - t->begin;
    }
    return (int)st->n_tensors;
}

/* Writes the tensors in the order given, back to back from offset 0
 * (so a 1-byte tensor first misaligns all that follow). */
static void raw_write(const char *path, const raw *t, int n, const char *meta_json) {
    char *h = NULL;
    size_t hl = 0;
    FILE *m = open_memstream(&h, &hl);
    fputc('{', m);
    if (meta_json) fprintf(m, "\"__metadata__\":%s%s", meta_json, n ? "," : "");
    size_t pos = 0;
    for (int i = 0; i < n; i++) {
        fprintf(m, "%s\"%s\":{\"dtype\":\"%s\",\"shape\":[", i ? "," : "", t[i].name, t[i].dtype);
        for (int d = 0; d < t[i].ndim; d++) fprintf(m, "%s%lld", d ? "," : "", (long long)t[i].shape[d]);
        fprintf(m, "],\"data_offsets\":[%zu,%zu]}", pos, pos + t[i].bytes);
        pos += t[i].bytes;
    }
    fputc('}', m);
    while ((8 + ftell(m)) % 8) fputc(' ', m);
    fclose(m);
    FILE *f = fopen(path, "wb");
    uint64_t len = hl;
    unsigned char l8[8];
    for (int i = 0; i < 8; i++) l8[i] = (unsigned char)(len >> (8 * i));
    fwrite(l8, 1, 8, f);
    fwrite(h, 1, hl, f);
    for (int i = 0; i < n; i++) fwrite(t[i].data, 1, t[i].bytes, f);
    fclose(f);
    free(h);
}

static raw *find_raw(raw *t, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (!strcmp(t[i].name, name)) return &t[i];
    return NULL;
}

/* Loading path must fail with a message containing want. */
static void expect_load_error(const char *path, int heads, const char *want) {
    g2r_gpt2_weights w;
    g2r_error err = {0};
    g2r_status s = g2r_gpt2_weights_load(path, heads, &w, &err);
    CHECK(s != G2R_OK);
    CHECK_CONTAINS(err.msg, path);
    CHECK_CONTAINS(err.msg, want);
    if (!s) g2r_gpt2_weights_free(&w);
}

/* ------------------------------------------------------------------ tests */

TEST(w_loads_random_model) {
    char *p = mk(t_tmpdir(), "m.safetensors", &small_cfg, G2R_DT_F32, 7);
    REQUIRE(p);
    g2r_gpt2_weights w;
    g2r_error err = {0};
    REQUIRE(g2r_gpt2_weights_load(p, 0, &w, &err) == G2R_OK);
    CHECK_EQ_INT(w.cfg.n_layer, 2);
    CHECK_EQ_INT(w.cfg.n_head, 4); /* from __metadata__ */
    CHECK_EQ_INT(w.cfg.n_embd, 64);
    CHECK_EQ_INT(w.cfg.n_vocab, 100);
    CHECK_EQ_INT(w.cfg.n_ctx, 32);
    CHECK(w.dtype == G2R_DT_F32);
    size_t C = 64;
    CHECK_EQ_INT(w.n_params, 100 * C + 32 * C + 2 * (12 * C * C + 13 * C) + 2 * C);
    CHECK_EQ_INT(w.bytes_owned, 0); /* F32 and aligned: nothing copied */
    g2r_map m;
    REQUIRE(g2r_map_file(p, &m, &err) == G2R_OK);
    CHECK_EQ_INT(w.bytes_mapped, m.size);
    g2r_unmap(&m);
    const g2r_layer_weights *L = &w.layers[1];
    CHECK(L->c_attn.rows == 64 && L->c_attn.cols == 192 && L->fc.cols == 256 && L->mlp_proj.rows == 256);
    CHECK(w.wte.rows == 100 && w.wte.cols == 64);
    /* values: gains near 1, small non-zero biases, matrices ~ N(0, 0.02) */
    double sum = 0, sq = 0;
    int n = 64 * 256;
    for (int i = 0; i < n; i++) {
        float x = ((const float *)L->fc.data)[i];
        sum += x;
        sq += (double)x * x;
    }
    CHECK_NEAR(sum / n, 0.0, 0.001);
    CHECK_NEAR(sqrt(sq / n), 0.02, 0.001);
    for (int i = 0; i < 64; i++) {
        CHECK(fabsf(L->ln_2_w[i] - 1.0f) < 0.1f && L->ln_2_w[i] != 1.0f);
        CHECK(fabsf(L->mlp_proj_b[i]) < 0.1f && L->mlp_proj_b[i] != 0.0f);
    }
    CHECK(w.wpe[0] != 0.0f && w.ln_f_b[63] != 0.0f);
    g2r_gpt2_weights_free(&w);
    free(p);
}

TEST(w_mkmodel_is_deterministic) {
    const char *dir = t_tmpdir();
    char *a = mk(dir, "a", &small_cfg, G2R_DT_F32, 11), *b = mk(dir, "b", &small_cfg, G2R_DT_F32, 11),
         *c = mk(dir, "c", &small_cfg, G2R_DT_F32, 12);
    REQUIRE(a && b && c);
    CHECK(same_bytes(a, b));
    g2r_gpt2_weights wa, wb, wc;
    g2r_error err = {0};
    REQUIRE(g2r_gpt2_weights_load(a, 0, &wa, &err) == G2R_OK);
    REQUIRE(g2r_gpt2_weights_load(b, 0, &wb, &err) == G2R_OK);
    REQUIRE(g2r_gpt2_weights_load(c, 0, &wc, &err) == G2R_OK);
    CHECK(wa.fingerprint == wb.fingerprint);
    CHECK(wa.fingerprint != wc.fingerprint);
    CHECK(((const float *)wa.wte.data)[5] != ((const float *)wc.wte.data)[5]);
    g2r_gpt2_weights_free(&wa);
    g2r_gpt2_weights_free(&wb);
    g2r_gpt2_weights_free(&wc);
    free(a);
    free(b);
    free(c);
}

TEST(w_f16_bf16_match_f32) {
    const char *dir = t_tmpdir();
    char *pf = mk(dir, "f32", &small_cfg, G2R_DT_F32, 3), *ph = mk(dir, "f16", &small_cfg, G2R_DT_F16, 3),
         *pb = mk(dir, "bf16", &small_cfg, G2R_DT_BF16, 3);
    REQUIRE(pf && ph && pb);
    g2r_gpt2_weights f, h, b;
    g2r_error err = {0};
    REQUIRE(g2r_gpt2_weights_load(pf, 0, &f, &err) == G2R_OK);
    REQUIRE(g2r_gpt2_weights_load(ph, 0, &h, &err) == G2R_OK);
    REQUIRE(g2r_gpt2_weights_load(pb, 0, &b, &err) == G2R_OK);
    CHECK(h.dtype == G2R_DT_F16 && b.dtype == G2R_DT_BF16);
    CHECK(h.wte.dtype == G2R_DT_F16 && h.layers[0].fc.dtype == G2R_DT_F16 && b.layers[1].c_attn.dtype == G2R_DT_BF16);
    CHECK_EQ_INT(h.bytes_owned, 0); /* read in place: the kernels compute in F16/BF16 */
    CHECK_EQ_INT(h.n_params, f.n_params);
    /* round to nearest: relative error at most 2^-11 (F16) and 2^-8 (BF16) */
    CHECK(max_rel_diff(&h, &f, F16_FLOOR) <= 1.0 / 2048);
    CHECK(max_rel_diff(&b, &f, 1e-30) <= 1.0 / 256);
    CHECK(max_rel_diff(&h, &f, 1e-30) > 0); /* the comparison sees the rounding */
    g2r_gpt2_weights_free(&h);

    /* A file with every tensor in F16 (as Hugging Face's own F16 exports):
     * the small ones are converted to float32 at load. */
    g2r_safetensors st;
    REQUIRE(g2r_st_open(pf, &st, &err) == G2R_OK);
    raw *t = calloc(st.n_tensors, sizeof *t);
    int n = raw_from(&st, t);
    uint16_t **bufs = calloc((size_t)n, sizeof *bufs);
    for (int i = 0; i < n; i++) {
        size_t k = t[i].bytes / 4;
        bufs[i] = malloc(k * 2);
        for (size_t j = 0; j < k; j++) {
            float x;
            memcpy(&x, (const char *)t[i].data + 4 * j, 4);
            bufs[i][j] = g2r_f32_to_f16(x);
        }
        t[i].dtype = "F16";
        t[i].data = bufs[i];
        t[i].bytes = k * 2;
    }
    char path[700];
    snprintf(path, sizeof path, "%s/all16", dir);
    raw_write(path, t, n, "{\"n_head\":\"4\"}");
    REQUIRE(g2r_gpt2_weights_load(path, 0, &h, &err) == G2R_OK);
    CHECK(h.bytes_owned >= (size_t)(2 * 64 * 5 + 32 * 64) * sizeof(float));
    CHECK(max_rel_diff(&h, &f, F16_FLOOR) <= 1.0 / 2048);
    g2r_gpt2_weights_free(&h);
    for (int i = 0; i < n; i++) free(bufs[i]);
    free(bufs);
    free(t);
    g2r_st_close(&st);
    g2r_gpt2_weights_free(&f);
    g2r_gpt2_weights_free(&b);
    free(pf);
    free(ph);
    free(pb);
}

TEST(w_unaligned_tensors_are_copied) {
    const char *dir = t_tmpdir();
    char *p = mk(dir, "m", &small_cfg, G2R_DT_F32, 5);
    REQUIRE(p);
    g2r_safetensors st;
    g2r_error err = {0};
    REQUIRE(g2r_st_open(p, &st, &err) == G2R_OK);
    raw *t = calloc(st.n_tensors + 1, sizeof *t);
    static const unsigned char one = 7;
    t[0] = (raw){"aaa.pad", "I8", 1, {1}, &one, 1}; /* shifts every tensor after it by one byte */
    int n = 1 + raw_from(&st, t + 1);
    char path[700];
    snprintf(path, sizeof path, "%s/odd", dir);
    raw_write(path, t, n, "{\"n_head\":\"4\"}");
    g2r_gpt2_weights a, b;
    REQUIRE(g2r_gpt2_weights_load(p, 0, &a, &err) == G2R_OK);
    REQUIRE(g2r_gpt2_weights_load(path, 0, &b, &err) == G2R_OK);
    CHECK(b.bytes_owned >= a.n_params * sizeof(float)); /* everything was copied */
    CHECK_EQ_INT((uintptr_t)b.wte.data % 4, 0);
    CHECK_EQ_INT((uintptr_t)b.layers[1].ln_1_b % 4, 0);
    CHECK(max_rel_diff(&b, &a, 1e-30) == 0);
    g2r_gpt2_weights_free(&a);
    g2r_gpt2_weights_free(&b);
    free(t);
    g2r_st_close(&st);
    free(p);
}

TEST(w_transformer_prefix_and_mask_buffers) {
    const char *dir = t_tmpdir();
    char *p = mk(dir, "m", &small_cfg, G2R_DT_F32, 9);
    REQUIRE(p);
    g2r_safetensors st;
    g2r_error err = {0};
    REQUIRE(g2r_st_open(p, &st, &err) == G2R_OK);
    raw *t = calloc(st.n_tensors + 2, sizeof *t);
    int n = raw_from(&st, t);
    for (int i = 0; i < n; i++) {
        char tmp[96];
        snprintf(tmp, sizeof tmp, "transformer.%s", t[i].name);
        memcpy(t[i].name, tmp, sizeof tmp);
    }
    static float mask[16], masked_bias[1] = {-1e4f};
    for (int i = 0; i < 16; i++) mask[i] = (float)(i % 5 <= i / 4);
    t[n++] = (raw){"transformer.h.0.attn.bias", "F32", 4, {1, 1, 4, 4}, mask, sizeof mask};
    t[n++] = (raw){"transformer.h.1.attn.masked_bias", "F32", 0, {0}, masked_bias, sizeof masked_bias};
    char path[700];
    snprintf(path, sizeof path, "%s/prefixed", dir);
    raw_write(path, t, n, "{\"format\":\"pt\",\"n_head\":\"4\"}");
    g2r_gpt2_weights a, b;
    REQUIRE(g2r_gpt2_weights_load(p, 0, &a, &err) == G2R_OK);
    REQUIRE(g2r_gpt2_weights_load(path, 0, &b, &err) == G2R_OK);
    CHECK_EQ_INT(b.cfg.n_layer, 2);
    CHECK_EQ_INT(b.n_params, a.n_params); /* the buffers are not parameters */
    CHECK(max_rel_diff(&b, &a, 1e-30) == 0);
    CHECK(a.fingerprint != b.fingerprint);
    g2r_gpt2_weights_free(&a);
    g2r_gpt2_weights_free(&b);
    free(t);
    g2r_st_close(&st);
    free(p);
}

TEST(w_binding_errors_name_the_tensor) {
    const char *dir = t_tmpdir();
    char *p = mk(dir, "m", &small_cfg, G2R_DT_F32, 1);
    REQUIRE(p);
    g2r_safetensors st;
    g2r_error err = {0};
    REQUIRE(g2r_st_open(p, &st, &err) == G2R_OK);
    raw *t = calloc(st.n_tensors, sizeof *t);
    int n = raw_from(&st, t);
    char path[700];
    snprintf(path, sizeof path, "%s/bad", dir);

    raw *fcb = find_raw(t, n, "h.1.mlp.c_fc.bias"), saved = *fcb;
    *fcb = t[n - 1]; /* drop it */
    raw_write(path, t, n - 1, "{\"n_head\":\"4\"}");
    expect_load_error(path, 0, "missing tensor 'h.1.mlp.c_fc.bias'");
    *fcb = saved;

    raw *ca = find_raw(t, n, "h.0.attn.c_attn.weight");
    ca->shape[0] = 192, ca->shape[1] = 64;
    raw_write(path, t, n, "{\"n_head\":\"4\"}");
    expect_load_error(path, 0, "tensor 'h.0.attn.c_attn.weight' has shape [192, 64], expected [64, 192]");
    ca->shape[0] = 64, ca->shape[1] = 192;

    raw *lnf = find_raw(t, n, "ln_f.weight");
    lnf->shape[0] = 32, lnf->shape[1] = 2, lnf->ndim = 2;
    raw_write(path, t, n, "{\"n_head\":\"4\"}");
    expect_load_error(path, 0, "tensor 'ln_f.weight' has shape [32, 2], expected [64]");
    lnf->ndim = 1, lnf->shape[0] = 64;

    /* one matrix in another dtype than the rest */
    raw *pr = find_raw(t, n, "h.1.attn.c_proj.weight");
    pr->dtype = "F16", pr->bytes /= 2;
    /* keep the tiling exact: the other half as an extra tensor */
    raw extra[1] = {{"zz.rest", "I8", 1, {(int64_t)pr->bytes}, (const char *)pr->data + pr->bytes, pr->bytes}};
    raw *all = calloc((size_t)n + 1, sizeof *all);
    memcpy(all, t, (size_t)n * sizeof *t);
    all[n] = extra[0];
    raw_write(path, all, n + 1, "{\"n_head\":\"4\"}");
    expect_load_error(path, 0, "'h.1.attn.c_proj.weight' is F16 but wte.weight is F32");
    free(all);
    pr->dtype = "F32", pr->bytes *= 2;

    /* a stray block index: the first missing block is named, nothing huge is allocated */
    all = calloc((size_t)n + 1, sizeof *all);
    memcpy(all, t, (size_t)n * sizeof *t);
    all[n] = (raw){"h.9999999.x", "F32", 1, {0}, "", 0};
    raw_write(path, all, n + 1, "{\"n_head\":\"4\"}");
    expect_load_error(path, 0, "missing tensor 'h.2.ln_1.weight'");
    free(all);

    raw *wte = find_raw(t, n, "wte.weight");
    strcpy(wte->name, "wte.weights");
    raw_write(path, t, n, "{\"n_head\":\"4\"}");
    expect_load_error(path, 0, "missing tensor 'wte.weight'");
    strcpy(wte->name, "wte.weight");

    raw *ln = find_raw(t, n, "h.0.ln_1.bias");
    ln->dtype = "I8", ln->shape[0] = 256;
    raw_write(path, t, n, "{\"n_head\":\"4\"}");
    expect_load_error(path, 0, "tensor 'h.0.ln_1.bias' has shape [256], expected [64]");
    ln->shape[0] = 64, ln->bytes = 64;
    all = calloc((size_t)n + 1, sizeof *all);
    memcpy(all, t, (size_t)n * sizeof *t);
    all[n] = (raw){"zz.rest", "I8", 1, {192}, (const char *)ln->data + 64, 192};
    raw_write(path, all, n + 1, "{\"n_head\":\"4\"}");
    expect_load_error(path, 0, "tensor 'h.0.ln_1.bias' is I8; only weight matrices may be quantized");
    free(all);

    free(t);
    g2r_st_close(&st);
    free(p);
}

TEST(w_n_head_from_override_metadata_table) {
    const char *dir = t_tmpdir();
    char *p = mk(dir, "m", &small_cfg, G2R_DT_F32, 2);
    REQUIRE(p);
    g2r_gpt2_weights w;
    g2r_error err = {0};
    REQUIRE(g2r_gpt2_weights_load(p, 8, &w, &err) == G2R_OK); /* override beats metadata */
    CHECK_EQ_INT(w.cfg.n_head, 8);
    g2r_gpt2_weights_free(&w);
    expect_load_error(p, 3, "n_head 3 does not divide n_embd 64");

    g2r_safetensors st;
    REQUIRE(g2r_st_open(p, &st, &err) == G2R_OK);
    raw *t = calloc(st.n_tensors, sizeof *t);
    int n = raw_from(&st, t);
    char path[700];
    snprintf(path, sizeof path, "%s/nometa", dir);
    raw_write(path, t, n, "{\"format\":\"pt\"}");
    expect_load_error(path, 0, "pass --heads");
    REQUIRE(g2r_gpt2_weights_load(path, 2, &w, &err) == G2R_OK);
    CHECK_EQ_INT(w.cfg.n_head, 2);
    g2r_gpt2_weights_free(&w);
    raw_write(path, t, n, "{\"n_head\":\"four\"}");
    expect_load_error(path, 0, "__metadata__ n_head 'four' is not a positive integer");
    free(t);
    g2r_st_close(&st);

    /* n_embd 768 without metadata: GPT-2's table says 12 */
    g2r_config c768 = {1, 12, 768, 4, 4};
    char *q = mk(dir, "m768", &c768, G2R_DT_BF16, 2);
    REQUIRE(q);
    REQUIRE(g2r_st_open(q, &st, &err) == G2R_OK);
    t = calloc(st.n_tensors, sizeof *t);
    n = raw_from(&st, t);
    raw_write(path, t, n, NULL);
    REQUIRE(g2r_gpt2_weights_load(path, 0, &w, &err) == G2R_OK);
    CHECK_EQ_INT(w.cfg.n_head, 12);
    CHECK_EQ_INT(w.cfg.n_embd, 768);
    g2r_gpt2_weights_free(&w);
    free(t);
    g2r_st_close(&st);
    free(q);
    free(p);
}

TEST(w_convert_f16_bf16_f32_round_trip) {
    const char *dir = t_tmpdir();
    char *p = mk(dir, "m", &small_cfg, G2R_DT_F32, 4);
    REQUIRE(p);
    char h[700], b[700], back[700];
    snprintf(h, sizeof h, "%s/h", dir);
    snprintf(b, sizeof b, "%s/b", dir);
    snprintf(back, sizeof back, "%s/back", dir);
    g2r_error err = {0};
    REQUIRE(g2r_gpt2_convert(p, h, G2R_DT_F16, 64, G2R_Q8_GROUP_COLS, 0, &err) == G2R_OK);
    REQUIRE(g2r_gpt2_convert(p, b, G2R_DT_BF16, 64, G2R_Q8_GROUP_COLS, 0, &err) == G2R_OK);
    REQUIRE(g2r_gpt2_convert(p, back, G2R_DT_F32, 64, G2R_Q8_GROUP_COLS, 0, &err) == G2R_OK);
    CHECK(same_bytes(p, back)); /* f32 -> f32 rewrites the very same file */
    g2r_gpt2_weights f, wh, wb;
    REQUIRE(g2r_gpt2_weights_load(p, 0, &f, &err) == G2R_OK);
    REQUIRE(g2r_gpt2_weights_load(h, 0, &wh, &err) == G2R_OK);
    REQUIRE(g2r_gpt2_weights_load(b, 0, &wb, &err) == G2R_OK);
    CHECK(wh.dtype == G2R_DT_F16 && wb.dtype == G2R_DT_BF16);
    CHECK(max_rel_diff(&wh, &f, F16_FLOOR) <= 1.0 / 2048);
    CHECK(max_rel_diff(&wb, &f, 1e-30) <= 1.0 / 256);
    /* and back from bf16 to f32: exactly the bf16 values */
    REQUIRE(g2r_gpt2_convert(b, back, G2R_DT_F32, 64, G2R_Q8_GROUP_COLS, 0, &err) == G2R_OK);
    g2r_gpt2_weights wback;
    REQUIRE(g2r_gpt2_weights_load(back, 0, &wback, &err) == G2R_OK);
    CHECK(wback.dtype == G2R_DT_F32);
    CHECK(max_rel_diff(&wback, &wb, 1e-30) == 0);
    g2r_gpt2_weights_free(&wback);
    g2r_gpt2_weights_free(&f);
    g2r_gpt2_weights_free(&wh);
    g2r_gpt2_weights_free(&wb);
    free(p);
}

/* max over the matrix of |q8 - f32| and of that error divided by its scale/2 */
/* q (Q8, stored [in, out] or transposed: q_t) against f ([in, out]). */
static void q8_error(const g2r_matrix *q, int q_t, const g2r_matrix *f, double *max_abs, double *max_ratio) {
    for (int r = 0; r < q->rows; r++)
        for (int c = 0; c < q->cols; c++) {
            size_t s = q->q8_layout == G2R_Q8_GROUP_ROWS ? (size_t)(r / q->group) * q->cols + c
                                                         : (size_t)r * (q->cols / q->group) + c / q->group;
            double e = fabs((double)at(q, r, c) - (q_t ? at(f, c, r) : at(f, r, c))), half = q->scale[s] / 2;
            if (e > *max_abs) *max_abs = e;
            double ratio = half > 0 ? e / half : (e > 0 ? INFINITY : 0);
            if (ratio > *max_ratio) *max_ratio = ratio;
        }
}

/* Both layer layouts: cols (the default, layer matrices stored [out, in]) and rows. */
TEST(w_convert_q8_within_half_a_step) {
    const char *dir = t_tmpdir();
    char *p = mk(dir, "m", &small_cfg, G2R_DT_F32, 6);
    REQUIRE(p);
    g2r_gpt2_weights f, back[2];
    g2r_error err = {0};
    REQUIRE(g2r_gpt2_weights_load(p, 0, &f, &err) == G2R_OK);
    for (int lay = 0; lay < 2; lay++) {
        int cols = lay == 0;
        char q[700], b[700];
        snprintf(q, sizeof q, "%s/q8-%d", dir, lay);
        snprintf(b, sizeof b, "%s/back-%d", dir, lay);
        REQUIRE(g2r_gpt2_convert(p, q, G2R_DT_Q8, 32, cols ? G2R_Q8_GROUP_COLS : G2R_Q8_GROUP_ROWS, 0, &err) == G2R_OK);
        g2r_gpt2_weights w;
        REQUIRE(g2r_gpt2_weights_load(q, 0, &w, &err) == G2R_OK);
        CHECK(w.dtype == G2R_DT_Q8 && w.transposed == cols);
        CHECK(w.wte.q8_layout == G2R_Q8_GROUP_COLS && w.wte.group == 32 && w.wte.scale);
        const g2r_matrix *fc = &w.layers[1].fc;
        CHECK(fc->q8_layout == (cols ? G2R_Q8_GROUP_COLS : G2R_Q8_GROUP_ROWS) && fc->group == 32);
        CHECK(cols ? fc->rows == 256 && fc->cols == 64 : fc->rows == 64 && fc->cols == 256);
        CHECK_EQ_INT(w.n_params, f.n_params);
        CHECK_EQ_INT(w.bytes_owned, 0);

        g2r_safetensors st;
        REQUIRE(g2r_st_open(q, &st, &err) == G2R_OK);
        const g2r_st_tensor *ws = g2r_st_find(&st, "wte.weight_scale"), *fs = g2r_st_find(&st, "h.0.mlp.c_proj.weight_scale");
        const g2r_st_tensor *fm = g2r_st_find(&st, "h.0.mlp.c_proj.weight");
        REQUIRE(ws && fs && fm);
        CHECK(ws->dtype == G2R_ST_F32 && ws->shape[0] == 100 && ws->shape[1] == 2);
        if (cols) CHECK(fm->shape[0] == 64 && fm->shape[1] == 256 && fs->shape[0] == 64 && fs->shape[1] == 256 / 32);
        else CHECK(fm->shape[0] == 256 && fm->shape[1] == 64 && fs->shape[0] == 256 / 32 && fs->shape[1] == 64);
        CHECK(g2r_st_find(&st, "wpe.weight")->dtype == G2R_ST_F32);
        CHECK(fm->dtype == G2R_ST_I8);
        CHECK(!strcmp(g2r_st_meta_get(&st, "q8_group"), "32"));
        CHECK(!strcmp(g2r_st_meta_get(&st, "q8_layout"), cols ? "cols" : "rows"));
        g2r_st_close(&st);

        double max_abs = 0, max_ratio = 0;
        q8_error(&w.wte, 0, &f.wte, &max_abs, &max_ratio);
        for (int l = 0; l < 2; l++) {
            const g2r_layer_weights *a = &w.layers[l], *o = &f.layers[l];
            q8_error(&a->c_attn, cols, &o->c_attn, &max_abs, &max_ratio);
            q8_error(&a->attn_proj, cols, &o->attn_proj, &max_abs, &max_ratio);
            q8_error(&a->fc, cols, &o->fc, &max_abs, &max_ratio);
            q8_error(&a->mlp_proj, cols, &o->mlp_proj, &max_abs, &max_ratio);
            for (int i = 0; i < 64; i++) CHECK(a->ln_1_w[i] == o->ln_1_w[i]);
        }
        printf("  q8 %s (group 32) max |dequantized - f32| = %.3g, max error / (scale/2) = %.4f\n", cols ? "cols" : "rows",
               max_abs, max_ratio);
        CHECK(max_ratio <= 1.0 + 1e-4);
        CHECK(max_abs > 0 && max_abs < 0.02 * 5 / 127); /* N(0, 0.02): |w| < 5 sd here */

        /* q8 -> f32 keeps the dequantized values exactly, back in [in, out] */
        REQUIRE(g2r_gpt2_convert(q, b, G2R_DT_F32, 64, G2R_Q8_GROUP_COLS, 0, &err) == G2R_OK);
        REQUIRE(g2r_gpt2_weights_load(b, 0, &back[lay], &err) == G2R_OK);
        CHECK(!back[lay].transposed);
        CHECK(max_rel_diff(&back[lay], &w, 1e-30) == 0);
        g2r_gpt2_weights_free(&w);
    }
    /* the two layouts hold the same values */
    CHECK(max_rel_diff(&back[0], &back[1], 1e-30) == 0);
    CHECK(max_rel_diff(&back[0], &f, 1e-30) > 0);
    g2r_gpt2_weights_free(&back[0]);
    g2r_gpt2_weights_free(&back[1]);

    char bad[700];
    snprintf(bad, sizeof bad, "%s/bad", dir);
    CHECK(g2r_gpt2_convert(p, bad, G2R_DT_Q8, 48, G2R_Q8_GROUP_COLS, 0, &err) == G2R_EARG);
    CHECK_CONTAINS(err.msg, "q8 group 48 must be positive and divide n_embd 64");
    g2r_gpt2_weights_free(&f);
    free(p);
}

TEST(w_q8_needs_scales_and_group) {
    const char *dir = t_tmpdir();
    char *p = mk(dir, "m", &small_cfg, G2R_DT_F32, 6);
    REQUIRE(p);
    char q[700], bad[700];
    snprintf(q, sizeof q, "%s/q8", dir);
    snprintf(bad, sizeof bad, "%s/bad", dir);
    g2r_error err = {0};
    REQUIRE(g2r_gpt2_convert(p, q, G2R_DT_Q8, 64, G2R_Q8_GROUP_COLS, 0, &err) == G2R_OK);
    g2r_safetensors st;
    REQUIRE(g2r_st_open(q, &st, &err) == G2R_OK);
    raw *t = calloc(st.n_tensors, sizeof *t);
    int n = raw_from(&st, t);
    raw_write(bad, t, n, "{\"n_head\":\"4\",\"q8_layout\":\"cols\"}");
    expect_load_error(bad, 0, "q8 weights need __metadata__ q8_group");
    raw_write(bad, t, n, "{\"n_head\":\"4\",\"q8_group\":\"32\",\"q8_layout\":\"cols\"}");
    expect_load_error(bad, 0, "tensor 'wte.weight_scale' has shape [100, 1], expected [100, 2]");
    raw_write(bad, t, n, "{\"n_head\":\"4\",\"q8_group\":\"64\",\"q8_layout\":\"diagonal\"}");
    expect_load_error(bad, 0, "__metadata__ q8_layout 'diagonal' is neither 'rows' nor 'cols'");
    /* older files name no layout: rows, which these tensors' shapes are not */
    raw_write(bad, t, n, "{\"n_head\":\"4\",\"q8_group\":\"64\"}");
    expect_load_error(bad, 0, "tensor 'h.0.attn.c_attn.weight' has shape [192, 64], expected [64, 192]");
    raw *s = find_raw(t, n, "h.1.attn.c_attn.weight_scale"), saved = *s;
    *s = t[n - 1];
    raw_write(bad, t, n - 1, "{\"n_head\":\"4\",\"q8_group\":\"64\",\"q8_layout\":\"cols\"}");
    expect_load_error(bad, 0, "missing tensor 'h.1.attn.c_attn.weight_scale'");
    *s = saved;
    free(t);
    g2r_st_close(&st);
    free(p);
}

/* ------------------------------------------------------------------- CLI */

TEST(w_cli_mkmodel_and_convert) {
    const char *dir = t_tmpdir();
    char args[1600], path[600], q[600];
    snprintf(path, sizeof path, "%s/cli.safetensors", dir);
    snprintf(q, sizeof q, "%s/cli.q8", dir);
    CHECK_EQ_INT(t_run("mkmodel --help", NULL, NULL), 0);
    CHECK_EQ_INT(t_run("mkmodel --bogus", NULL, NULL), 2);
    CHECK_EQ_INT(t_run("mkmodel --layers 2", NULL, NULL), 2); /* no -o */
    CHECK_EQ_INT(t_run("mkmodel -o x --dtype F64", NULL, NULL), 2);
    CHECK_EQ_INT(t_run("mkmodel -o x --layers 0", NULL, NULL), 2);
    CHECK_EQ_INT(t_run("mkmodel -o x --embd 100", NULL, NULL), 2); /* no GPT-2 head count for 100 */
    snprintf(args, sizeof args, "mkmodel -o '%s/no/such/dir/m' --layers 1 --heads 2 --embd 32 --vocab 5 --ctx 4", dir);
    CHECK_EQ_INT(t_run(args, NULL, NULL), 1);
    snprintf(args, sizeof args, "mkmodel -o '%s' --layers 1 --heads 2 --embd 32 --vocab 50 --ctx 8 --dtype bf16 --seed 9", path);
    CHECK_EQ_INT(t_run(args, NULL, NULL), 0);
    g2r_gpt2_weights w;
    g2r_error err = {0};
    REQUIRE(g2r_gpt2_weights_load(path, 0, &w, &err) == G2R_OK);
    CHECK(w.cfg.n_layer == 1 && w.cfg.n_head == 2 && w.cfg.n_embd == 32 && w.cfg.n_vocab == 50 && w.cfg.n_ctx == 8);
    CHECK(w.dtype == G2R_DT_BF16);
    g2r_gpt2_weights_free(&w);

    CHECK_EQ_INT(t_run("convert --help", NULL, NULL), 0);
    CHECK_EQ_INT(t_run("convert -m a -o b", NULL, NULL), 2);
    CHECK_EQ_INT(t_run("convert -m a -o b --dtype q4", NULL, NULL), 2);
    snprintf(args, sizeof args, "convert -m '%s/none' -o '%s' --dtype q8", dir, q);
    CHECK_EQ_INT(t_run(args, NULL, NULL), 1);
    snprintf(args, sizeof args, "convert -m '%s' -o '%s' --dtype q8 --group 16", path, q);
    CHECK_EQ_INT(t_run(args, NULL, NULL), 0);
    REQUIRE(g2r_gpt2_weights_load(q, 0, &w, &err) == G2R_OK);
    CHECK(w.dtype == G2R_DT_Q8 && w.wte.group == 16 && w.transposed);
    g2r_gpt2_weights_free(&w);
    snprintf(args, sizeof args, "convert -m '%s' -o '%s' --dtype q8 --group 16 --q8-layout rows", path, q);
    CHECK_EQ_INT(t_run(args, NULL, NULL), 0);
    REQUIRE(g2r_gpt2_weights_load(q, 0, &w, &err) == G2R_OK);
    CHECK(w.dtype == G2R_DT_Q8 && !w.transposed && w.layers[0].fc.q8_layout == G2R_Q8_GROUP_ROWS);
    g2r_gpt2_weights_free(&w);
    char errp[700];
    snprintf(errp, sizeof errp, "%s/err.txt", dir);
    snprintf(args, sizeof args, "convert -m '%s' -o '%s' --dtype q8 --q8-layout diag", path, q);
    CHECK_EQ_INT(t_run(args, NULL, errp), 2);
    CHECK_CONTAINS(t_slurp(errp), "--q8-layout expects cols or rows, got 'diag'");
    snprintf(args, sizeof args, "convert -m '%s' -o '%s' --dtype q8 --group 24", path, q);
    CHECK_EQ_INT(t_run(args, NULL, NULL), 1);
}
