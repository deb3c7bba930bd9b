/* gpt2_weights.c — bind the tensors of a Hugging Face GPT-2 safetensors file.
 *
 * Names: wte.weight, wpe.weight, h.{i}.{ln_1,attn.c_attn,attn.c_proj,ln_2,
 * mlp.c_fc,mlp.c_proj}.{weight,bias}, ln_f.{weight,bias}, optionally under
 * "transformer.".  h.{i}.attn.bias / masked_bias are causal-mask buffers and
 * are ignored.  Shapes give the configuration; n_head comes from the caller,
 * __metadata__ "n_head", or GPT-2's own table.
 *
 * Q8 files name their group in __metadata__ "q8_group" and the layer
 * matrices' layout in "q8_layout": "rows" (absent in older files), each Conv1D
 * weight [in, out] as Hugging Face stores it, scales [in/group, out]; or
 * "cols", each stored transposed [out, in], scales [out, in/group], as wte is
 * (decode then reads each thread's outputs as one run of whole rows). */
#include "weights/gpt2_weights.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/half.h"
#include "weights/safetensors.h"

typedef struct {
    g2r_safetensors st;
    void **owned;
    size_t n_owned, cap_owned;
} w_priv;

/* State of one binding pass. */
typedef struct {
    const char *path;
    const g2r_safetensors *st;
    const char *prefix; /* "" or "transformer." */
    w_priv *p;
    g2r_gpt2_weights *w;
    int q8, group;
    g2r_q8_layout layout; /* of the layer matrices */
    g2r_error *err;
} binder;

static void *own(binder *b, size_t bytes) {
    w_priv *p = b->p;
    if (p->n_owned == p->cap_owned) {
        size_t cap = p->cap_owned ? 2 * p->cap_owned : 64;
        void **o = realloc(p->owned, cap * sizeof *o);
        if (!o) return NULL;
        p->owned = o;
        p->cap_owned = cap;
    }
    void *buf = NULL;
    if (posix_memalign(&buf, 64, bytes ? bytes : 64)) return NULL;
    p->owned[p->n_owned++] = buf;
    b->w->bytes_owned += bytes;
    return buf;
}

static const g2r_st_tensor *find(binder *b, const char *name) {
    char full[160];
    snprintf(full, sizeof full, "%s%s", b->prefix, name);
    return g2r_st_find(b->st, full);
}

static void shape_str(const g2r_st_tensor *t, char *out, size_t cap) {
    size_t n = (size_t)snprintf(out, cap, "[");
    for (int d = 0; d < t->ndim && n < cap; d++)
        n += (size_t)snprintf(out + n, cap - n, "%s%lld", d ? ", " : "", (long long)t->shape[d]);
    if (n < cap) snprintf(out + n, cap - n, "]");
}

/* The tensor name with the given shape (cols 0: a vector of rows), or NULL after an error. */
static const g2r_st_tensor *require(binder *b, const char *name, int rows, int cols) {
    const g2r_st_tensor *t = find(b, name);
    if (!t) {
        g2r_fail(b->err, G2R_EFORMAT, "%s: missing tensor '%s%s'", b->path, b->prefix, name);
        return NULL;
    }
    int ok = cols ? (t->ndim == 2 && t->shape[0] == rows && t->shape[1] == cols) : (t->ndim == 1 && t->shape[0] == rows);
    if (!ok) {
        char found[80];
        shape_str(t, found, sizeof found);
        if (cols)
            g2r_fail(b->err, G2R_EFORMAT, "%s: tensor '%s%s' has shape %s, expected [%d, %d]", b->path, b->prefix,
                     name, found, rows, cols);
        else
            g2r_fail(b->err, G2R_EFORMAT, "%s: tensor '%s%s' has shape %s, expected [%d]", b->path, b->prefix, name,
                     found, rows);
        return NULL;
    }
    return t;
}

/* Any F32/F16/BF16 tensor as float32: in place when F32 and aligned, else converted. */
static const float *as_f32(binder *b, const g2r_st_tensor *t, const char *name) {
    if (t->dtype == G2R_ST_F32 && (uintptr_t)t->data % 4 == 0) return t->data;
    if (t->dtype == G2R_ST_I8) {
        g2r_fail(b->err, G2R_EFORMAT, "%s: tensor '%s%s' is I8; only weight matrices may be quantized", b->path,
                 b->prefix, name);
        return NULL;
    }
    float *out = own(b, t->numel * sizeof(float));
    if (!out) {
        g2r_fail(b->err, G2R_ENOMEM, "%s: out of memory converting '%s'", b->path, name);
        return NULL;
    }
    const unsigned char *src = t->data;
    for (size_t i = 0; i < t->numel; i++) {
        if (t->dtype == G2R_ST_F32) {
            memcpy(&out[i], src + 4 * i, 4);
        } else {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            out[i] = t->dtype == G2R_ST_F16 ? g2r_f16_to_f32(h) : g2r_bf16_to_f32(h);
        }
    }
    return out;
}

/* A float32 tensor of shape [rows] (cols 0) or [rows, cols]. */
static const float *small(binder *b, const char *name, int rows, int cols) {
    const g2r_st_tensor *t = require(b, name, rows, cols);
    if (!t) return NULL;
    b->w->n_params += t->numel;
    return as_f32(b, t, name);
}

static const float *vec(binder *b, const char *name, int n) { return small(b, name, n, 0); }

static g2r_dtype matrix_dtype(g2r_st_dtype t) {
    switch (t) {
    case G2R_ST_F32: return G2R_DT_F32;
    case G2R_ST_F16: return G2R_DT_F16;
    case G2R_ST_BF16: return G2R_DT_BF16;
    case G2R_ST_I8: return G2R_DT_Q8;
    }
    return G2R_DT_F32;
}

/* The q8 scales of name: float32 "<name>_scale" in the given layout. */
static g2r_status bind_scale(binder *b, const char *name, g2r_matrix *m) {
    char sname[160];
    snprintf(sname, sizeof sname, "%s_scale", name);
    int srows = m->q8_layout == G2R_Q8_GROUP_ROWS ? m->rows / b->group : m->rows;
    int scols = m->q8_layout == G2R_Q8_GROUP_ROWS ? m->cols : m->cols / b->group;
    const g2r_st_tensor *t = require(b, sname, srows, scols);
    if (!t) return b->err->status;
    m->scale = as_f32(b, t, sname);
    m->group = b->group;
    return m->scale ? G2R_OK : b->err->status;
}

static g2r_status mat(binder *b, const char *name, int rows, int cols, g2r_q8_layout layout, g2r_matrix *m) {
    const g2r_st_tensor *t = require(b, name, rows, cols);
    if (!t) return b->err->status;
    g2r_dtype dt = matrix_dtype(t->dtype);
    if (dt != b->w->dtype)
        return g2r_fail(b->err, G2R_EFORMAT, "%s: tensor '%s%s' is %s but wte.weight is %s: all weight matrices must share one dtype",
                        b->path, b->prefix, name, g2r_st_dtype_name(t->dtype), g2r_dtype_name(b->w->dtype));
    memset(m, 0, sizeof *m);
    m->dtype = dt;
    m->rows = rows;
    m->cols = cols;
    m->q8_layout = layout;
    size_t esz = g2r_dtype_size(dt), bytes = t->numel * esz;
    if ((uintptr_t)t->data % esz == 0) {
        m->data = t->data;
    } else {
        /* old files may hold tensors at odd offsets: copy rather than read misaligned */
        void *copy = own(b, bytes);
        if (!copy) return g2r_fail(b->err, G2R_ENOMEM, "%s: out of memory copying '%s'", b->path, name);
        memcpy(copy, t->data, bytes);
        m->data = copy;
    }
    b->w->n_params += t->numel;
    return b->q8 ? bind_scale(b, name, m) : G2R_OK;
}

/* Highest i with some "h.{i}." tensor, plus one. */
static int count_layers(binder *b) {
    size_t plen = strlen(b->prefix);
    long max = -1;
    for (size_t i = 0; i < b->st->n_tensors; i++) {
        const char *n = b->st->tensors[i].name;
        if (strncmp(n, b->prefix, plen) || strncmp(n + plen, "h.", 2)) continue;
        const char *d = n + plen + 2;
        long v = 0;
        int digits = 0;
        while (*d >= '0' && *d <= '9' && digits < 7) v = v * 10 + (*d++ - '0'), digits++;
        if (digits && *d == '.' && v > max) max = v;
    }
    return (int)(max + 1);
}

static g2r_status choose_heads(binder *b, int override, int C, int *n_head) {
    int h = override;
    if (!h) {
        const char *m = g2r_st_meta_get(b->st, "n_head");
        if (m) {
            char *end;
            long v = strtol(m, &end, 10);
            if (end == m || *end || v <= 0 || v > 1 << 20)
                return g2r_fail(b->err, G2R_EFORMAT, "%s: __metadata__ n_head '%.40s' is not a positive integer",
                                b->path, m);
            h = (int)v;
        }
    }
    if (!h) {
        static const int table[][2] = {{768, 12}, {1024, 16}, {1280, 20}, {1600, 25}};
        for (int i = 0; i < 4; i++)
            if (table[i][0] == C) h = table[i][1];
    }
    if (!h)
        return g2r_fail(b->err, G2R_EARG, "%s: cannot tell n_head for n_embd %d (not a GPT-2 size and no __metadata__ n_head): pass --heads",
                        b->path, C);
    if (h <= 0 || C % h)
        return g2r_fail(b->err, G2R_EARG, "%s: n_head %d does not divide n_embd %d", b->path, h, C);
    *n_head = h;
    return G2R_OK;
}

/* A layer's Conv1D weight [in, out], stored so or transposed (b->layout). */
static g2r_status layer_mat(binder *b, const char *name, int in, int out, g2r_matrix *m) {
    if (b->layout == G2R_Q8_GROUP_COLS) return mat(b, name, out, in, G2R_Q8_GROUP_COLS, m);
    return mat(b, name, in, out, G2R_Q8_GROUP_ROWS, m);
}

static g2r_status bind_layer(binder *b, int i, int C, g2r_layer_weights *L) {
    char n[96];
    g2r_status s;
#define NAME(suffix) (snprintf(n, sizeof n, "h.%d.%s", i, suffix), n)
    if (!(L->ln_1_w = vec(b, NAME("ln_1.weight"), C))) return b->err->status;
    if (!(L->ln_1_b = vec(b, NAME("ln_1.bias"), C))) return b->err->status;
    if ((s = layer_mat(b, NAME("attn.c_attn.weight"), C, 3 * C, &L->c_attn))) return s;
    if (!(L->c_attn_b = vec(b, NAME("attn.c_attn.bias"), 3 * C))) return b->err->status;
    if ((s = layer_mat(b, NAME("attn.c_proj.weight"), C, C, &L->attn_proj))) return s;
    if (!(L->attn_proj_b = vec(b, NAME("attn.c_proj.bias"), C))) return b->err->status;
    if (!(L->ln_2_w = vec(b, NAME("ln_2.weight"), C))) return b->err->status;
    if (!(L->ln_2_b = vec(b, NAME("ln_2.bias"), C))) return b->err->status;
    if ((s = layer_mat(b, NAME("mlp.c_fc.weight"), C, 4 * C, &L->fc))) return s;
    if (!(L->fc_b = vec(b, NAME("mlp.c_fc.bias"), 4 * C))) return b->err->status;
    if ((s = layer_mat(b, NAME("mlp.c_proj.weight"), 4 * C, C, &L->mlp_proj))) return s;
    if (!(L->mlp_proj_b = vec(b, NAME("mlp.c_proj.bias"), C))) return b->err->status;
#undef NAME
    return G2R_OK;
}

/* The prefix, configuration, dtype and q8 group, from names, shapes and __metadata__. */
static g2r_status infer_config(binder *b, int n_head_override) {
    g2r_gpt2_weights *w = b->w;
    b->prefix = g2r_st_find(b->st, "wte.weight") ? "" : g2r_st_find(b->st, "transformer.wte.weight") ? "transformer." : NULL;
    if (!b->prefix) return g2r_fail(b->err, G2R_EFORMAT, "%s: missing tensor 'wte.weight' (not a GPT-2 file?)", b->path);
    const g2r_st_tensor *wte = find(b, "wte.weight"), *wpe = find(b, "wpe.weight");
    if (wte->ndim != 2 || wte->shape[0] <= 0 || wte->shape[1] <= 0 || wte->shape[0] > INT32_MAX / 4 ||
        wte->shape[1] > 1 << 16) {
        char found[80];
        shape_str(wte, found, sizeof found);
        return g2r_fail(b->err, G2R_EFORMAT, "%s: tensor '%swte.weight' has shape %s, expected [vocab, n_embd]",
                        b->path, b->prefix, found);
    }
    int V = (int)wte->shape[0], C = (int)wte->shape[1];
    if (!wpe) return g2r_fail(b->err, G2R_EFORMAT, "%s: missing tensor '%swpe.weight'", b->path, b->prefix);
    if (wpe->ndim != 2 || wpe->shape[1] != C || wpe->shape[0] <= 0 || wpe->shape[0] > 1 << 24) {
        char found[80];
        shape_str(wpe, found, sizeof found);
        return g2r_fail(b->err, G2R_EFORMAT, "%s: tensor '%swpe.weight' has shape %s, expected [n_ctx, %d]", b->path,
                        b->prefix, found, C);
    }
    int n_layer = count_layers(b);
    if (n_layer <= 0) return g2r_fail(b->err, G2R_EFORMAT, "%s: missing tensor '%sh.0.ln_1.weight' (no blocks)", b->path, b->prefix);
    if ((size_t)n_layer * 12 > b->st->n_tensors) {
        /* a stray high index ("h.9999999.x"): some block is surely missing; name it
         * before allocating layers for all of them */
        char n[48];
        for (int i = 0;; i++)
            if (!find(b, (snprintf(n, sizeof n, "h.%d.ln_1.weight", i), n)))
                return g2r_fail(b->err, G2R_EFORMAT, "%s: missing tensor '%s%s'", b->path, b->prefix, n);
    }

    w->dtype = matrix_dtype(wte->dtype);
    b->q8 = w->dtype == G2R_DT_Q8;
    if (b->q8) {
        const char *g = g2r_st_meta_get(b->st, "q8_group");
        char *end = NULL;
        long v = g ? strtol(g, &end, 10) : 0;
        if (!g || end == g || *end || v <= 0 || v > C)
            return g2r_fail(b->err, G2R_EFORMAT, "%s: q8 weights need __metadata__ q8_group, a positive integer (got '%.40s')",
                            b->path, g ? g : "");
        if (C % v)
            return g2r_fail(b->err, G2R_EFORMAT, "%s: q8_group %ld does not divide n_embd %d", b->path, v, C);
        b->group = (int)v;
        const char *lay = g2r_st_meta_get(b->st, "q8_layout");
        if (!lay || !strcmp(lay, "rows")) b->layout = G2R_Q8_GROUP_ROWS;
        else if (!strcmp(lay, "cols")) b->layout = G2R_Q8_GROUP_COLS;
        else return g2r_fail(b->err, G2R_EFORMAT, "%s: __metadata__ q8_layout '%.40s' is neither 'rows' nor 'cols'", b->path, lay);
        w->transposed = b->layout == G2R_Q8_GROUP_COLS;
    }
    g2r_status s = choose_heads(b, n_head_override, C, &w->cfg.n_head);
    if (s) return s;
    w->cfg.n_layer = n_layer;
    w->cfg.n_embd = C;
    w->cfg.n_vocab = V;
    w->cfg.n_ctx = (int)wpe->shape[0];
    return G2R_OK;
}

static g2r_status bind(binder *b, int n_head_override) {
    g2r_gpt2_weights *w = b->w;
    g2r_status s = infer_config(b, n_head_override);
    if (s) return s;
    int V = w->cfg.n_vocab, C = w->cfg.n_embd, n_layer = w->cfg.n_layer;
    if ((s = mat(b, "wte.weight", V, C, G2R_Q8_GROUP_COLS, &w->wte))) return s;
    if (!(w->wpe = small(b, "wpe.weight", w->cfg.n_ctx, C))) return b->err->status;
    w->layers = calloc((size_t)n_layer, sizeof *w->layers);
    if (!w->layers) return g2r_fail(b->err, G2R_ENOMEM, "%s: out of memory", b->path);
    for (int i = 0; i < n_layer; i++)
        if ((s = bind_layer(b, i, C, &w->layers[i]))) return s;
    if (!(w->ln_f_w = vec(b, "ln_f.weight", C))) return b->err->status;
    if (!(w->ln_f_b = vec(b, "ln_f.bias", C))) return b->err->status;
    return G2R_OK;
}

g2r_status g2r_gpt2_weights_load(const char *path, int n_head_override, g2r_gpt2_weights *w, g2r_error *err) {
    memset(w, 0, sizeof *w);
    g2r_error local;
    if (!err) err = &local; /* the binder reads back the status it set */
    if (n_head_override < 0) return g2r_fail(err, G2R_EARG, "%s: n_head %d is negative", path, n_head_override);
    w_priv *p = calloc(1, sizeof *p);
    if (!p) return g2r_fail(err, G2R_ENOMEM, "%s: out of memory", path);
    w->priv = p;
    g2r_status s = g2r_st_open(path, &p->st, err);
    if (s) {
        g2r_gpt2_weights_free(w);
        return s;
    }
    binder b = {.path = path, .st = &p->st, .p = p, .w = w, .err = err};
    s = bind(&b, n_head_override);
    if (s) {
        g2r_gpt2_weights_free(w);
        return s;
    }
    w->bytes_mapped = p->st.size;
    w->fingerprint = g2r_st_fingerprint(&p->st);
    return G2R_OK;
}

void g2r_gpt2_weights_mapping(const g2r_gpt2_weights *w, const void **base, size_t *size) {
    const w_priv *p = w->priv;
    *base = p ? p->st.buf : NULL;
    *size = p ? p->st.size : 0;
}

void g2r_gpt2_weights_free(g2r_gpt2_weights *w) {
    if (!w) return;
    w_priv *p = w->priv;
    if (p) {
        for (size_t i = 0; i < p->n_owned; i++) free(p->owned[i]);
        free(p->owned);
        g2r_st_close(&p->st);
        free(p);
    }
    free(w->layers);
    memset(w, 0, sizeof *w);
}
