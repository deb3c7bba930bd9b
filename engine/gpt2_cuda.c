/* gpt2_cuda.c — GPT-2 on the GPU: upload once, then the forward of
 * engine/gpt2.c as a sequence of kernel launches (kernels/cuda/).
 *
 *   x = wte[id] + wpe[pos]
 *   per layer:  x += attn_proj(attention(c_attn(ln_1(x))))
 *               x += mlp_proj(gelu(fc(ln_2(x))))
 *   h = ln_f(x);  logits = h wte^T
 *
 * A forward call is cut into waves of at most max_rows tokens (whole or
 * partial sequences); each wave's rows are its sequences' new tokens, one
 * sequence after another, and attention reads every sequence's own cache. */
#include "engine/gpt2_cuda.h"

#ifdef G2R_CUDA

#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/half.h"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/wrow.h"

#define MAX_ROWS 16384   /* tokens per wave: bounds the activations (~10 C floats each) */
#define LOGIT_ROWS 256   /* rows of logits computed, and copied back, at a time */
#define TENSOR_ROWS 4    /* waves of more rows use the tensor cores (16-bit weights) */

typedef struct {
    const float *ln_1_w, *ln_1_b, *c_attn_b, *attn_proj_b, *ln_2_w, *ln_2_b, *fc_b, *mlp_proj_b;
    g2r_cuda_matrix c_attn, attn_proj, fc, mlp_proj;
} dev_layer;

struct g2r_cuda_model {
    g2r_config cfg;
    g2r_dtype dtype;
    g2r_cuda_matrix wte;
    const float *wpe, *ln_f_w, *ln_f_b;
    dev_layer *layers;
    void *arena; /* one allocation holds every tensor */
    size_t bytes;
};

struct g2r_cuda_session {
    g2r_cuda_model *m;
    int max_seqs, max_tokens, max_rows;
    int *len;                                 /* [max_seqs] positions cached */
    float *x, *xn, *qkv, *att, *fc, *logits;  /* device activations */
    float *k_cache, *v_cache;                 /* [n_layer][max_seqs][max_tokens][C] */
    float *pooled;                            /* [max_seqs][C] */
    int *d_meta, *h_meta;                     /* ids, pos [max_rows]; row0, n_new, past, slot [max_seqs] */
    int *wave;                                /* [3][max_seqs] a wave's sequences, tokens, tokens done */
    size_t *out_row;                          /* [2][max_seqs] first output row: per sequence, per wave slot */
    const int **wave_ids;                     /* [max_seqs] */
};

/* ---------------------------------------------------------------- upload */

typedef struct {
    char *base;
    size_t used, cap;
} arena;

static void *carve(arena *a, size_t bytes) {
    size_t at = (a->used + 255) & ~(size_t)255; /* 256: every vector load stays aligned */
    a->used = at + bytes;
    return a->base ? a->base + at : NULL;
}

static g2r_status put_vec(arena *a, const float **dst, const float *src, size_t n, g2r_error *err) {
    float *d = carve(a, n * sizeof(float));
    *dst = d;
    if (!a->base) return G2R_OK; /* sizing pass */
    return g2r_cuda_upload(d, src, n * sizeof(float), NULL, err);
}

/* A matrix in the device dtype: uploaded as it is when the dtype matches,
 * else converted row by row on the host (through the scalar kernels' row(),
 * which reads every dtype).  The device keeps layer matrices [in, out]: a
 * transposed one (Q8 cols layout, [out, in]) goes up transposed back. */
static g2r_status put_mat(arena *a, g2r_cuda_matrix *dst, const g2r_matrix *src, int transposed, g2r_dtype dt,
                          g2r_error *err) {
    size_t n = (size_t)src->rows * (size_t)src->cols, es = g2r_dtype_size(dt);
    int rows = transposed ? src->cols : src->rows, cols = transposed ? src->rows : src->cols;
    dst->dtype = dt, dst->rows = rows, dst->cols = cols;
    void *d = carve(a, n * es);
    dst->data = d;
    if (!a->base) return G2R_OK;
    if (src->dtype == dt && !transposed) return g2r_cuda_upload(d, src->data, n * es, NULL, err);
    size_t row_bytes = (size_t)cols * es;
    float *f = malloc((size_t)cols * sizeof(float));
    unsigned char *buf = malloc(row_bytes * 64);
    if (!f || !buf) {
        free(f), free(buf);
        return g2r_fail(err, G2R_ENOMEM, "cuda model: no memory to convert a %dx%d matrix", rows, cols);
    }
    const g2r_kernels *k = g2r_kernels_scalar();
    g2r_status st = G2R_OK;
    for (int r0 = 0; r0 < rows && !st; r0 += 64) {
        int nr = rows - r0 < 64 ? rows - r0 : 64;
        for (int r = 0; r < nr; r++) {
            if (transposed) /* a column of src, read a value at a time */
                for (int c = 0; c < cols; c++) f[c] = w_elem(src, c, r0 + r);
            else
                k->row(f, src, r0 + r);
            unsigned char *o = buf + (size_t)r * row_bytes;
            for (int c = 0; c < cols; c++) {
                if (dt == G2R_DT_F32) memcpy(o + 4 * (size_t)c, &f[c], 4);
                else {
                    uint16_t h = dt == G2R_DT_BF16 ? g2r_f32_to_bf16(f[c]) : g2r_f32_to_f16(f[c]);
                    memcpy(o + 2 * (size_t)c, &h, 2);
                }
            }
        }
        /* a pageable upload returns once buf is staged, so buf can be refilled */
        st = g2r_cuda_upload((char *)d + (size_t)r0 * row_bytes, buf, (size_t)nr * row_bytes, NULL, err);
    }
    free(f), free(buf);
    return st;
}

static g2r_status put_all(arena *a, g2r_cuda_model *m, const g2r_gpt2_weights *w, g2r_error *err) {
    int C = w->cfg.n_embd;
    g2r_status st;
    if ((st = put_mat(a, &m->wte, &w->wte, 0, m->dtype, err))) return st;
    if ((st = put_vec(a, &m->wpe, w->wpe, (size_t)w->cfg.n_ctx * C, err))) return st;
    if ((st = put_vec(a, &m->ln_f_w, w->ln_f_w, C, err))) return st;
    if ((st = put_vec(a, &m->ln_f_b, w->ln_f_b, C, err))) return st;
    for (int l = 0; l < w->cfg.n_layer; l++) {
        const g2r_layer_weights *s = &w->layers[l];
        dev_layer *d = &m->layers[l];
        if ((st = put_vec(a, &d->ln_1_w, s->ln_1_w, C, err)) || (st = put_vec(a, &d->ln_1_b, s->ln_1_b, C, err)) ||
            (st = put_mat(a, &d->c_attn, &s->c_attn, w->transposed, m->dtype, err)) ||
            (st = put_vec(a, &d->c_attn_b, s->c_attn_b, 3 * (size_t)C, err)) ||
            (st = put_mat(a, &d->attn_proj, &s->attn_proj, w->transposed, m->dtype, err)) ||
            (st = put_vec(a, &d->attn_proj_b, s->attn_proj_b, C, err)) ||
            (st = put_vec(a, &d->ln_2_w, s->ln_2_w, C, err)) || (st = put_vec(a, &d->ln_2_b, s->ln_2_b, C, err)) ||
            (st = put_mat(a, &d->fc, &s->fc, w->transposed, m->dtype, err)) ||
            (st = put_vec(a, &d->fc_b, s->fc_b, 4 * (size_t)C, err)) ||
            (st = put_mat(a, &d->mlp_proj, &s->mlp_proj, w->transposed, m->dtype, err)) ||
            (st = put_vec(a, &d->mlp_proj_b, s->mlp_proj_b, C, err)))
            return st;
    }
    return G2R_OK;
}

g2r_status g2r_cuda_model_new(const g2r_gpt2_weights *w, g2r_dtype dtype, g2r_cuda_model **out, g2r_error *err) {
    *out = NULL;
    g2r_status st = g2r_cuda_init(err);
    if (st) return st;
    if (dtype == G2R_DT_Q8) dtype = w->dtype == G2R_DT_Q8 ? G2R_DT_BF16 : w->dtype;
    g2r_cuda_model *m = calloc(1, sizeof *m);
    if (m) m->layers = calloc((size_t)w->cfg.n_layer, sizeof *m->layers);
    if (!m || !m->layers) {
        if (m) free(m);
        return g2r_fail(err, G2R_ENOMEM, "cuda model: out of memory");
    }
    m->cfg = w->cfg;
    m->dtype = dtype;
    arena a = {0};
    put_all(&a, m, w, err); /* sizing pass: carves from a NULL base, uploads nothing */
    if ((st = g2r_cuda_malloc(&m->arena, a.used, "the weights", err))) {
        g2r_cuda_model_free(m);
        return st;
    }
    m->bytes = a.used;
    a = (arena){m->arena, 0, m->bytes};
    if ((st = put_all(&a, m, w, err)) || (st = g2r_cuda_sync(NULL, err))) {
        g2r_cuda_model_free(m);
        return st;
    }
    *out = m;
    return G2R_OK;
}

void g2r_cuda_model_free(g2r_cuda_model *m) {
    if (!m) return;
    g2r_cuda_free(m->arena);
    free(m->layers);
    free(m);
}

size_t g2r_cuda_model_bytes(const g2r_cuda_model *m) { return m->bytes; }
g2r_dtype g2r_cuda_model_dtype(const g2r_cuda_model *m) { return m->dtype; }

/* --------------------------------------------------------------- session */

g2r_status g2r_cuda_session_new(g2r_cuda_model *m, int max_seqs, int max_tokens, g2r_cuda_session **out,
                                g2r_error *err) {
    *out = NULL;
    const g2r_config *c = &m->cfg;
    if (max_seqs < 1 || max_tokens < 1 || max_tokens > c->n_ctx)
        return g2r_fail(err, G2R_EARG, "cuda session: need 1 <= max_seqs and 1 <= max_tokens <= %d (got %d, %d)",
                        c->n_ctx, max_seqs, max_tokens);
    g2r_cuda_session *s = calloc(1, sizeof *s);
    if (!s) return g2r_fail(err, G2R_ENOMEM, "cuda session: out of memory");
    s->m = m, s->max_seqs = max_seqs, s->max_tokens = max_tokens;
    long all = (long)max_seqs * max_tokens;
    s->max_rows = (int)(all < MAX_ROWS ? all : MAX_ROWS);
    if (s->max_rows < max_tokens) s->max_rows = max_tokens; /* one whole sequence always fits a wave */
    size_t R = (size_t)s->max_rows, C = (size_t)c->n_embd, V = (size_t)c->n_vocab;
    size_t cache = (size_t)c->n_layer * (size_t)max_seqs * (size_t)max_tokens * C * sizeof(float);
    size_t meta = 2 * R + 4 * (size_t)max_seqs;
    s->len = calloc((size_t)max_seqs, sizeof(int));
    s->h_meta = calloc(meta, sizeof(int));
    /* the per-call bookkeeping too: a forward pass allocates nothing */
    s->wave = calloc(3 * (size_t)max_seqs, sizeof(int));
    s->out_row = calloc(2 * (size_t)max_seqs, sizeof(size_t));
    s->wave_ids = calloc((size_t)max_seqs, sizeof(int *));
    g2r_status st = !s->len || !s->h_meta || !s->wave || !s->out_row || !s->wave_ids
                        ? g2r_fail(err, G2R_ENOMEM, "cuda session: out of memory")
                        : G2R_OK;
    if (!st) st = g2r_cuda_malloc((void **)&s->x, R * C * 4, "activations x", err);
    if (!st) st = g2r_cuda_malloc((void **)&s->xn, R * C * 4, "activations xn", err);
    if (!st) st = g2r_cuda_malloc((void **)&s->qkv, R * 3 * C * 4, "activations qkv", err);
    if (!st) st = g2r_cuda_malloc((void **)&s->att, R * C * 4, "activations att", err);
    if (!st) st = g2r_cuda_malloc((void **)&s->fc, R * 4 * C * 4, "activations fc", err);
    if (!st) st = g2r_cuda_malloc((void **)&s->logits, (size_t)LOGIT_ROWS * V * 4, "logits", err);
    if (!st) st = g2r_cuda_malloc((void **)&s->k_cache, cache, "the K cache", err);
    if (!st) st = g2r_cuda_malloc((void **)&s->v_cache, cache, "the V cache", err);
    if (!st) st = g2r_cuda_malloc((void **)&s->pooled, (size_t)max_seqs * C * 4, "pooled embeddings", err);
    if (!st) st = g2r_cuda_malloc((void **)&s->d_meta, meta * sizeof(int), "batch layout", err);
    if (st) {
        g2r_cuda_session_free(s);
        return st;
    }
    *out = s;
    return G2R_OK;
}

void g2r_cuda_session_free(g2r_cuda_session *s) {
    if (!s) return;
    float *dev[] = {s->x, s->xn, s->qkv, s->att, s->fc, s->logits, s->k_cache, s->v_cache, s->pooled};
    for (size_t i = 0; i < sizeof dev / sizeof dev[0]; i++) g2r_cuda_free(dev[i]);
    g2r_cuda_free(s->d_meta);
    free(s->len);
    free(s->h_meta);
    free(s->wave);
    free(s->out_row);
    free(s->wave_ids);
    free(s);
}

void g2r_cuda_session_reset(g2r_cuda_session *s) { memset(s->len, 0, (size_t)s->max_seqs * sizeof(int)); }

int g2r_cuda_session_len(const g2r_cuda_session *s, int seq) {
    return seq >= 0 && seq < s->max_seqs ? s->len[seq] : 0;
}

/* ---------------------------------------------------------------- forward */

/* out = act(bias + in W) (+ out when accumulate).  F32 activations go through
 * g2r_cuda_matmul (GEMV or SIMT); 16-bit ones through the tensor cores, and
 * out16 then keeps the output 16-bit too (fc's GELU output, mlp_proj's input). */
static g2r_status matmul(g2r_dtype act, void *out, int out16, int ldo, const void *in, const g2r_cuda_matrix *w,
                         const float *bias, int rows, int gelu, int accumulate, g2r_error *err) {
    if (act == G2R_DT_F32)
        return g2r_cuda_matmul(out, ldo, in, w, bias, rows, gelu, accumulate, G2R_CUDA_MM_AUTO, NULL, err);
    return g2r_cuda_matmul16(out, out16 ? act : G2R_DT_F32, ldo, in, w, bias, rows, gelu, accumulate, NULL, err);
}

/* One wave: sequences seq[0..n) get take[i] new tokens ids[i][0..take[i]).
 * Leaves ln_f(x) of every row in s->xn, rows in the order of the sequences.
 * keep_cache 0: the caller drops the cache afterwards (K and V are not stored). */
static g2r_status run_wave(g2r_cuda_session *s, int n, const int *seq, const int *const *ids, const int *take,
                           int rows, int keep_cache, g2r_error *err) {
    g2r_cuda_model *m = s->m;
    const g2r_config *c = &m->cfg;
    int C = c->n_embd, R = s->max_rows, S = s->max_seqs;
    int *h_ids = s->h_meta, *h_pos = h_ids + R, *h_row0 = h_pos + R, *h_new = h_row0 + S, *h_past = h_new + S,
        *h_slot = h_past + S;
    int r = 0, max_new = 0, decode = 1;
    for (int i = 0; i < n; i++) {
        int sq = seq[i], past = s->len[sq];
        h_row0[i] = r, h_new[i] = take[i], h_past[i] = past, h_slot[i] = sq;
        for (int j = 0; j < take[i]; j++, r++) h_ids[r] = ids[i][j], h_pos[r] = past + j;
        if (take[i] > max_new) max_new = take[i];
        if (take[i] != 1) decode = 0;
    }
    /* the device copy keeps the host layout: offsets are the same */
    int *d_ids = s->d_meta, *d_pos = d_ids + R, *d_row0 = d_pos + R, *d_new = d_row0 + S, *d_past = d_new + S,
        *d_slot = d_past + S;
    g2r_status st;
    if ((st = g2r_cuda_upload(d_ids, h_ids, (size_t)rows * sizeof(int), NULL, err)) ||
        (st = g2r_cuda_upload(d_pos, h_pos, (size_t)rows * sizeof(int), NULL, err)) ||
        (st = g2r_cuda_upload(d_row0, h_row0, (size_t)4 * S * sizeof(int), NULL, err)))
        return st;
    /* an embedding (fresh sequences, cache dropped after) never stores K and V:
     * attention reads them from qkv */
    g2r_cuda_batch b = {n, max_new, d_row0, d_new, d_past, d_slot, !keep_cache && !decode};
    if ((st = g2r_cuda_embed(s->x, &m->wte, m->wpe, d_ids, d_pos, rows, NULL, err))) return st;
    size_t layer_cache = (size_t)S * s->max_tokens * C;
    /* Waves of many rows run the matmuls on the tensor cores with 16-bit
     * activations (the 16-bit xn, att and fc reuse the F32 buffers' memory);
     * few-row waves (decode) keep F32 activations for the GEMV path. */
    g2r_dtype act = m->dtype != G2R_DT_F32 && rows > TENSOR_ROWS ? m->dtype : G2R_DT_F32;
    for (int l = 0; l < c->n_layer; l++) {
        const dev_layer *w = &m->layers[l];
        g2r_cuda_kv kv = {s->k_cache + l * layer_cache, s->v_cache + l * layer_cache, s->max_tokens, C, c->n_head};
        if ((st = g2r_cuda_layernorm(s->xn, act, s->x, w->ln_1_w, w->ln_1_b, rows, C, NULL, err)) ||
            (st = matmul(act, s->qkv, 0, 3 * C, s->xn, &w->c_attn, w->c_attn_b, rows, 0, 0, err)) ||
            (!b.kv_in_qkv && (st = g2r_cuda_kv_store(&kv, s->qkv, &b, NULL, err))) ||
            (st = g2r_cuda_attention(s->att, act, s->qkv, &kv, &b, decode, NULL, err)) ||
            (st = matmul(act, s->x, 0, C, s->att, &w->attn_proj, w->attn_proj_b, rows, 0, 1, err)) ||
            (st = g2r_cuda_layernorm(s->xn, act, s->x, w->ln_2_w, w->ln_2_b, rows, C, NULL, err)) ||
            (st = matmul(act, s->fc, 1, 4 * C, s->xn, &w->fc, w->fc_b, rows, 1, 0, err)) ||
            (st = matmul(act, s->x, 0, C, s->fc, &w->mlp_proj, w->mlp_proj_b, rows, 0, 1, err)))
            return st;
    }
    if ((st = g2r_cuda_layernorm(s->xn, G2R_DT_F32, s->x, m->ln_f_w, m->ln_f_b, rows, C, NULL, err))) return st;
    for (int i = 0; i < n; i++) s->len[seq[i]] += take[i];
    return G2R_OK;
}

/* Every id in range, checked before any wave changes the cache. */
static g2r_status check_ids(int n_vocab, int n, const int *const *ids, const int *n_ids, g2r_error *err) {
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n_ids[i]; j++)
            if (ids[i][j] < 0 || ids[i][j] >= n_vocab)
                return g2r_fail(err, G2R_ERANGE, "cuda: token id %d (sequence %d, position %d) is not in 0..%d",
                                ids[i][j], i, j, n_vocab - 1);
    return G2R_OK;
}

/* Copies rows [r0, r0 + nr) of a wave's output (dev, width floats per row)
 * to their places in out: row r of sequence i goes to out_row[i] + (r - row0). */
static g2r_status copy_rows(const float *dev, int width, int r0, int nr, int n, const int *row0, const int *take,
                            const size_t *out_row, float *out, g2r_error *err) {
    for (int i = 0; i < n; i++) {
        int a = row0[i] > r0 ? row0[i] : r0, e = row0[i] + take[i] < r0 + nr ? row0[i] + take[i] : r0 + nr;
        if (a >= e) continue;
        g2r_status st = g2r_cuda_download(out + (out_row[i] + (size_t)(a - row0[i])) * width,
                                          dev + (size_t)(a - r0) * width, (size_t)(e - a) * width * sizeof(float),
                                          NULL, err);
        if (st) return st;
    }
    return G2R_OK;
}

g2r_status g2r_cuda_forward(g2r_cuda_session *s, int n_seqs, const int *const *ids, const int *n_ids,
                            g2r_output what, float *out, g2r_error *err) {
    const g2r_config *c = &s->m->cfg;
    if (n_seqs < 0 || n_seqs > s->max_seqs)
        return g2r_fail(err, G2R_EARG, "cuda forward: %d sequences, the session holds %d", n_seqs, s->max_seqs);
    for (int i = 0; i < n_seqs; i++) {
        if (n_ids[i] < 0) return g2r_fail(err, G2R_EARG, "cuda forward: sequence %d has %d tokens", i, n_ids[i]);
        if (s->len[i] + n_ids[i] > s->max_tokens)
            return g2r_fail(err, G2R_ERANGE, "cuda forward: sequence %d would hold %d tokens, the session allows %d", i,
                            s->len[i] + n_ids[i], s->max_tokens);
    }
    g2r_status st = check_ids(c->n_vocab, n_seqs, ids, n_ids, err);
    if (st || n_seqs == 0) return st;
    int width = what == G2R_OUT_LOGITS ? c->n_vocab : c->n_embd;
    int *seq = s->wave, *take = seq + s->max_seqs, *done = take + s->max_seqs;
    size_t *out_row = s->out_row, *dst = out_row + s->max_seqs;
    const int **wids = s->wave_ids;
    size_t o = 0;
    for (int i = 0; i < n_seqs; i++) done[i] = 0, out_row[i] = o, o += (size_t)n_ids[i];
    for (;;) { /* waves: fill up to max_rows tokens, sequence by sequence */
        int n = 0, rows = 0;
        for (int i = 0; i < n_seqs && rows < s->max_rows; i++) {
            int left = n_ids[i] - done[i];
            if (left <= 0) continue;
            int t = left < s->max_rows - rows ? left : s->max_rows - rows;
            seq[n] = i, take[n] = t, wids[n] = ids[i] + done[i];
            n++, rows += t;
        }
        if (!n) break;
        if ((st = run_wave(s, n, seq, wids, take, rows, 1, err))) break;
        if (out) {
            int *row0 = s->h_meta + 2 * s->max_rows; /* run_wave's layout */
            for (int k = 0; k < n; k++) dst[k] = out_row[seq[k]] + (size_t)done[seq[k]];
            if (what == G2R_OUT_HIDDEN) st = copy_rows(s->xn, width, 0, rows, n, row0, take, dst, out, err);
            for (int r0 = 0; what == G2R_OUT_LOGITS && r0 < rows && !st; r0 += LOGIT_ROWS) {
                int nr = rows - r0 < LOGIT_ROWS ? rows - r0 : LOGIT_ROWS;
                st = g2r_cuda_matmul_nt(s->logits, width, s->xn + (size_t)r0 * c->n_embd, &s->m->wte, nr,
                                        G2R_CUDA_MM_AUTO, NULL, err);
                if (!st) st = copy_rows(s->logits, width, r0, nr, n, row0, take, dst, out, err);
            }
            if (st) break;
        }
        for (int k = 0; k < n; k++) done[seq[k]] += take[k];
    }
    if (!st) st = g2r_cuda_sync(NULL, err);
    return st;
}

g2r_status g2r_cuda_embed_seqs(g2r_cuda_session *s, int n, const int *const *ids, const int *lens,
                               g2r_pooling pool, float *out, g2r_error *err) {
    int C = s->m->cfg.n_embd;
    for (int i = 0; i < n; i++)
        if (lens[i] < 1 || lens[i] > s->max_tokens)
            return g2r_fail(err, G2R_ERANGE, "cuda embed: sequence %d has %d tokens, need 1..%d", i, lens[i],
                            s->max_tokens);
    g2r_status st = check_ids(s->m->cfg.n_vocab, n, ids, lens, err);
    if (st) return st;
    int *seq = s->wave; /* group member i is sequence i */
    for (int i = 0; i < s->max_seqs; i++) seq[i] = i;
    for (int i0 = 0; i0 < n && !st;) { /* a group: as many whole sequences as one wave holds */
        int g = 0, rows = 0;
        while (i0 + g < n && g < s->max_seqs && rows + lens[i0 + g] <= s->max_rows) rows += lens[i0 + g++];
        g2r_cuda_session_reset(s);
        st = run_wave(s, g, seq, ids + i0, lens + i0, rows, 0, err);
        int *d_row0 = s->d_meta + 2 * s->max_rows, *d_new = d_row0 + s->max_seqs;
        if (!st) st = g2r_cuda_pool(s->pooled, s->xn, d_row0, d_new, g, C, pool == G2R_POOL_LAST, NULL, err);
        if (!st) st = g2r_cuda_download(out + (size_t)i0 * C, s->pooled, (size_t)g * C * sizeof(float), NULL, err);
        i0 += g;
    }
    g2r_cuda_session_reset(s);
    return st;
}

#else
typedef int g2r_gpt2_cuda_unused; /* the plain build has no device path */
#endif
