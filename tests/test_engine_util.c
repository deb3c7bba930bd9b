/* test_engine_util.c — helpers for the engine tests (no tests of its own). */
#include "tests/test_engine_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fileio.h"
#include "common/json.h"
#include "tests/harness.h"

static void copy_path(char *dst, size_t cap, const char *file) {
    snprintf(dst, cap, "%s/golden/%s", t_data_dir(), file);
}

static const char *str_member(const g2r_json *obj, const char *key) {
    const g2r_json *v = g2r_json_get(obj, key);
    return v && v->type == G2R_JSON_STRING ? v->str : "";
}

int golden_load(golden_case *cases, int max) {
    char path[512], *text;
    size_t size;
    g2r_error err = {0};
    copy_path(path, sizeof path, "manifest.json");
    if (g2r_read_file(path, 1 << 20, &text, &size, &err)) {
        t_fail(__FILE__, __LINE__, "%s", err.msg);
        return -1;
    }
    g2r_json_doc *doc;
    const g2r_json *root;
    g2r_status st = g2r_json_parse(text, size, path, &doc, &root, &err);
    free(text);
    if (st) {
        t_fail(__FILE__, __LINE__, "%s", err.msg);
        return -1;
    }
    int n = 0;
    const g2r_json *list = g2r_json_get(root, "cases");
    for (const g2r_json *c = list ? list->child : NULL; c && n < max; c = c->next, n++) {
        golden_case *g = &cases[n];
        memset(g, 0, sizeof *g);
        snprintf(g->name, sizeof g->name, "%s", str_member(c, "name"));
        snprintf(g->dtype, sizeof g->dtype, "%s", str_member(c, "dtype"));
        copy_path(g->model, sizeof g->model, str_member(c, "model"));
        copy_path(g->logits, sizeof g->logits, str_member(c, "logits"));
        copy_path(g->hidden, sizeof g->hidden, str_member(c, "hidden"));
        g->n_vocab = (int)g2r_json_get(c, "n_vocab")->i;
        g->n_embd = (int)g2r_json_get(c, "n_embd")->i;
        for (const g2r_json *s = g2r_json_get(c, "ids")->child; s && g->n_seqs < GOLDEN_MAX_SEQS; s = s->next) {
            int k = g->n_seqs++;
            g->lens[k] = (int)s->n;
            g->ids[k] = malloc(s->n * sizeof(int));
            int j = 0;
            for (const g2r_json *v = s->child; v; v = v->next) g->ids[k][j++] = (int)v->i;
        }
    }
    g2r_json_free(doc);
    if (n == 0) t_fail(__FILE__, __LINE__, "%s: no cases", path);
    return n ? n : -1;
}

void golden_free(golden_case *cases, int n) {
    for (int i = 0; i < n; i++)
        for (int k = 0; k < cases[i].n_seqs; k++) free(cases[i].ids[k]);
}

golden_case *golden_find(golden_case *cases, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (!strcmp(cases[i].name, name)) return &cases[i];
    t_fail(__FILE__, __LINE__, "no golden case '%s'", name);
    return NULL;
}

const golden_case *golden_tiny(golden_case *cases, int *n) {
    *n = golden_load(cases, 8);
    return *n > 0 ? golden_find(cases, *n, "tiny") : NULL;
}

int golden_total_tokens(const golden_case *c) {
    int t = 0;
    for (int k = 0; k < c->n_seqs; k++) t += c->lens[k];
    return t;
}

float *read_f32(const char *path, size_t *n) {
    char *buf;
    size_t size;
    g2r_error err = {0};
    if (g2r_read_file(path, 64u << 20, &buf, &size, &err)) {
        t_fail(__FILE__, __LINE__, "%s", err.msg);
        return NULL;
    }
    *n = size / sizeof(float);
    float *out = malloc(size ? size : 1);
    memcpy(out, buf, size);
    free(buf);
    return out;
}

double rel_diff(const float *a, const float *ref, size_t n) {
    double diff = 0.0, scale = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = a[i] > ref[i] ? (double)a[i] - ref[i] : (double)ref[i] - a[i];
        double r = ref[i] < 0 ? -(double)ref[i] : ref[i];
        if (!(d <= diff)) diff = d; /* NaN propagates */
        if (r > scale) scale = r;
    }
    return scale > 0 ? diff / scale : diff;
}

g2r_model *load_model(const char *path, int n_threads, g2r_kernels_kind kernels) {
    g2r_options opt = {.n_threads = n_threads, .kernels = kernels};
    g2r_model *m = NULL;
    g2r_error err = {0};
    if (g2r_model_load(path, &opt, &m, &err)) t_fail(__FILE__, __LINE__, "%s", err.msg);
    return m;
}

g2r_status forward_all(g2r_model *m, int n, int *const *ids, const int *lens, g2r_output what, float *out) {
    int max_len = 1;
    for (int i = 0; i < n; i++)
        if (lens[i] > max_len) max_len = lens[i];
    g2r_session *s;
    g2r_error err = {0};
    g2r_status st = g2r_session_new(m, n, max_len, &s, &err);
    if (st == G2R_OK) st = g2r_forward(s, n, (const int *const *)ids, lens, what, out, &err);
    if (st != G2R_OK) t_fail(__FILE__, __LINE__, "%s", err.msg);
    g2r_session_free(s);
    return st;
}
