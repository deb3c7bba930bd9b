/* gpt2.c — GPT-2's forward pass over a batch of sequences, with a KV cache.
 *
 * For each new token `id` at position p of its sequence:
 *
 *   x = wte[id] + wpe[p]                                    embeddings
 *   for each layer:
 *     q, k, v = split(ln_1(x) W_attn + b_attn)              fused QKV, [C, 3C]
 *     k, v are appended to the sequence's cache
 *     a_h = softmax(q_h K_h^T / sqrt(hd)) V_h  per head      over positions 0..p
 *     x = x + concat(a_h) W_proj + b_proj
 *     x = x + gelu(ln_2(x) W_fc + b_fc) W_mproj + b_mproj
 *   h = ln_f(x)                                             G2R_OUT_HIDDEN
 *   logits = h wte^T                                        G2R_OUT_LOGITS (tied)
 *
 * Batching packs the new tokens of every sequence into one [T, C] matrix, no
 * padding, so every weight matrix is read once per chunk of up to
 * s->chunk tokens whatever the number of sequences; only attention looks at
 * which sequence a token belongs to.
 *
 * Threads: matmuls are split over fixed blocks of COLS_PER_TASK output
 * columns (decode: over the fixed K slices of kernels.h, then a sum; with
 * the weights stored transposed, one block of outputs per thread),
 * attention over (token, head) pairs, layernorm over rows.  Each output is
 * computed by exactly one task, in the same order whatever thread runs it,
 * so results are bit-for-bit identical for any thread count. */
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "common/error.h"
#include "common/fileio.h"
#include "engine/gpt2_cuda.h"
#include "engine/session.h"

#define COLS_PER_TASK 64
#define ROWS_PER_TASK 16

static int imin(int a, int b) { return a < b ? a : b; }
static int ceil_div(int a, int b) { return (a + b - 1) / b; }

/* ------------------------------------------------------------ parallel ops */

typedef struct {
    const g2r_kernels *k;
    float *out;
    int ldo;
    const float *in;
    const g2r_matrix *w;
    const float *bias;
    int T, N, gelu, transposed;
    int cols; /* output columns per task */
} matmul_job;

static void matmul_task(void *ctx, int task, int thread) {
    (void)thread;
    const matmul_job *j = ctx;
    int n0 = task * j->cols, n1 = imin(n0 + j->cols, j->N);
    if (!j->transposed) {
        j->k->matmul(j->out, j->ldo, j->in, j->w, j->bias, j->T, n0, n1, j->gelu);
        return;
    }
    j->k->matmul_nt(j->out, j->ldo, j->in, j->w, j->T, n0, n1);
    /* the epilogue in place, as one part: the bits of matmul() on W^T (kernels.h) */
    if (j->bias || j->gelu) j->k->matmul_sum(j->out, j->ldo, j->out, 0, 1, j->bias, j->T, n0, n1, j->gelu);
}

/* Output columns per task for T rows of N: a few rows (logits at decode) are
 * bound by reading W, so one wide block per thread, every weight row read in
 * long runs; more rows are bound by FMAs, and small blocks balance the threads. */
static int task_width(const g2r_model *m, const g2r_matrix *w, int N, int T) {
    /* Q8 products quantise their T input rows once per task: wider blocks (prefill 16x64 on 2 cores: 1700 -> 2350 tok/s) */
    if (T >= 4) return w->dtype == G2R_DT_Q8 ? 3 * COLS_PER_TASK : COLS_PER_TASK;
    return ceil_div(ceil_div(N, g2r_pool_size(m->pool)), COLS_PER_TASK) * COLS_PER_TASK;
}

/* A few rows (decode) are bound by reading W.  Split by columns, each thread
 * reads every row of W in short runs with gaps; split by K slices (kernels.h),
 * each reads one contiguous run of rows, which streams ~30% faster (F32, 2
 * cores).  The slices' sums go to s->part, then matmul_sum adds them in
 * order: the bits of one matmul() call, for any thread count. */
#define SPLIT_ROWS 3

typedef struct {
    const g2r_kernels *k;
    float *out, *part;
    const float *in;
    const g2r_matrix *w;
    const float *bias;
    int T, gelu;
    int S, groups, blocks, width; /* slices; tasks: groups of slices x blocks of width columns */
} split_job;

static void split_task(void *ctx, int task, int thread) {
    (void)thread;
    const split_job *j = ctx;
    int g = task / j->blocks, N = j->w->cols;
    int n0 = (task % j->blocks) * j->width, n1 = imin(n0 + j->width, N);
    int s0 = j->S * g / j->groups, s1 = j->S * (g + 1) / j->groups;
    size_t stride = (size_t)j->T * N;
    j->k->matmul_slices(j->part + (size_t)s0 * stride, N, stride, j->in, j->w, j->T, n0, n1, s0, s1);
}

static void sum_task(void *ctx, int task, int thread) {
    (void)thread;
    const split_job *j = ctx;
    int N = j->w->cols, n0 = task * j->width, n1 = imin(n0 + j->width, N);
    j->k->matmul_sum(j->out, N, j->part, (size_t)j->T * N, j->S, j->bias, j->T, n0, n1, j->gelu);
}

static void split_k(g2r_model *m, float *part, float *out, const float *in, const g2r_matrix *w, const float *bias,
                    int T, int gelu) {
    int P = g2r_pool_size(m->pool), S = g2r_kslices(w), N = w->cols;
    split_job j = {m->k, out, part, in, w, bias, T, gelu, S, imin(S, P), 0, 0};
    j.width = ceil_div(ceil_div(N, ceil_div(P, j.groups)), 16) * 16; /* more threads than slices: split columns too */
    j.blocks = ceil_div(N, j.width);
    g2r_pool_run(m->pool, j.groups * j.blocks, split_task, &j);
    j.width = ceil_div(ceil_div(N, P), 16) * 16;
    g2r_pool_run(m->pool, ceil_div(N, j.width), sum_task, &j);
}

/* out[T, N] = act(in[T, K] W[K, N] + bias),  K = W->rows, N = W->cols; or,
 * with the layer matrices stored transposed (Q8 cols layout), w = W^T [N, K]:
 * matmul_nt, split by output rows (decode: one run of whole rows per thread,
 * so no K split and no sums are needed), then the epilogue. */
static void matmul(g2r_session *s, float *out, const float *in, const g2r_matrix *w, const float *bias, int T,
                   int gelu) {
    g2r_model *m = s->m;
    if (m->w.transposed) {
        int N = w->rows, rows = task_width(m, w, N, T);
        matmul_job j = {m->k, out, N, in, w, bias, T, N, gelu, 1, rows};
        g2r_pool_run(m->pool, ceil_div(N, rows), matmul_task, &j);
        return;
    }
    if (T <= SPLIT_ROWS && g2r_kslices(w) > 1) {
        split_k(m, s->part, out, in, w, bias, T, gelu);
        return;
    }
    int cols = task_width(m, w, w->cols, T);
    matmul_job j = {m->k, out, w->cols, in, w, bias, T, w->cols, gelu, 0, cols};
    g2r_pool_run(m->pool, ceil_div(w->cols, cols), matmul_task, &j);
}

/* logits[T, V] = in[T, C] wte[V, C]^T, split by rows of wte (decode: one
 * wide block per thread, so per-call work such as quantising the input for Q8 is
 * done once per thread, not 800 times) */
static void logits_tied(g2r_model *m, float *logits, const float *in, int T) {
    const g2r_matrix *wte = &m->w.wte;
    int rows = task_width(m, wte, wte->rows, T);
    matmul_job j = {m->k, logits, wte->rows, in, wte, NULL, T, wte->rows, 0, 1, rows};
    g2r_pool_run(m->pool, ceil_div(wte->rows, rows), matmul_task, &j);
}

typedef struct {
    const g2r_kernels *k;
    float *out;
    const float *in, *g, *b;
    int T, C;
} layernorm_job;

static void layernorm_task(void *ctx, int task, int thread) {
    (void)thread;
    const layernorm_job *j = ctx;
    int t0 = task * ROWS_PER_TASK, n = imin(ROWS_PER_TASK, j->T - t0);
    j->k->layernorm(j->out + (size_t)t0 * j->C, j->in + (size_t)t0 * j->C, j->g, j->b, n, j->C);
}

/* out[T, C] = layernorm(in[T, C]) * g + b, row by row */
static void layernorm(g2r_model *m, float *out, const float *in, const float *g, const float *b, int T, int C) {
    layernorm_job j = {m->k, out, in, g, b, T, C};
    g2r_pool_run(m->pool, ceil_div(T, ROWS_PER_TASK), layernorm_task, &j);
}

/* ---------------------------------------------------------------- attention */

typedef struct {
    g2r_session *s;
    const float *k_layer, *v_layer; /* this layer's caches, [n_slots][C] */
} attention_job;

/* One (token, head): the token's query against its sequence's positions 0..p. */
static void attention_task(void *ctx, int task, int thread) {
    const attention_job *j = ctx;
    const g2r_session *s = j->s;
    const g2r_config *cfg = &s->m->w.cfg;
    int C = cfg->n_embd, H = cfg->n_head, hd = C / H;
    int t = task / H, h = task % H;
    const g2r_seq *sq = &s->seqs[s->tok_seq[t]];
    int p = s->tok_pos[t];
    const float *q = s->qkv + (size_t)t * 3 * C + (size_t)h * hd;
    float *out = s->att + (size_t)t * C + (size_t)h * hd;
    float *scratch = s->scores + (size_t)thread * cfg->n_ctx;
    size_t own = (size_t)sq->base * C + (size_t)h * hd;
    if (sq->n_shared == 0) {
        s->m->k->attend(out, q, j->k_layer + own, j->v_layer + own, p + 1, hd, (size_t)C, scratch);
    } else {
        size_t shared = (size_t)s->seqs[sq->src].base * C + (size_t)h * hd;
        s->m->k->attend2(out, q, j->k_layer + shared, j->v_layer + shared, sq->n_shared, j->k_layer + own,
                         j->v_layer + own, p + 1 - sq->n_shared, hd, (size_t)C, scratch);
    }
}

/* ------------------------------------------------------------------ layers */

static int slot_of(const g2r_seq *sq, int pos) { return sq->base + pos - sq->n_shared; }

/* x[t] = wte[id_t] + wpe[pos_t] */
static void embed_tokens(g2r_session *s, int T) {
    const g2r_gpt2_weights *w = &s->m->w;
    int C = w->cfg.n_embd;
    for (int t = 0; t < T; t++) {
        float *x = s->x + (size_t)t * C;
        s->m->k->row(x, &w->wte, s->tok_id[t]);
        const float *pe = w->wpe + (size_t)s->tok_pos[t] * C;
        for (int i = 0; i < C; i++) x[i] += pe[i];
    }
}

/* x += attn(ln_1(x)), keys and values of the T tokens going into the cache. */
static void attention_block(g2r_session *s, int l, int T) {
    g2r_model *m = s->m;
    const g2r_layer_weights *lw = &m->w.layers[l];
    int C = m->w.cfg.n_embd;
    size_t layer = (size_t)l * s->n_slots * C;

    layernorm(m, s->xn, s->x, lw->ln_1_w, lw->ln_1_b, T, C);
    matmul(s, s->qkv, s->xn, &lw->c_attn, lw->c_attn_b, T, 0);
    for (int t = 0; t < T; t++) {
        size_t slot = (size_t)slot_of(&s->seqs[s->tok_seq[t]], s->tok_pos[t]);
        const float *qkv = s->qkv + (size_t)t * 3 * C;
        memcpy(s->k_cache + layer + slot * C, qkv + C, (size_t)C * sizeof(float));
        memcpy(s->v_cache + layer + slot * C, qkv + 2 * C, (size_t)C * sizeof(float));
    }
    attention_job aj = {s, s->k_cache + layer, s->v_cache + layer};
    g2r_pool_run(m->pool, T * m->w.cfg.n_head, attention_task, &aj);
    matmul(s, s->xn, s->att, &lw->attn_proj, lw->attn_proj_b, T, 0);
    for (size_t i = 0; i < (size_t)T * C; i++) s->x[i] += s->xn[i];
}

/* x += mlp(ln_2(x)) */
static void mlp_block(g2r_session *s, int l, int T) {
    g2r_model *m = s->m;
    const g2r_layer_weights *lw = &m->w.layers[l];
    int C = m->w.cfg.n_embd;
    layernorm(m, s->xn, s->x, lw->ln_2_w, lw->ln_2_b, T, C);
    matmul(s, s->fc, s->xn, &lw->fc, lw->fc_b, T, 1);
    matmul(s, s->xn, s->fc, &lw->mlp_proj, lw->mlp_proj_b, T, 0);
    for (size_t i = 0; i < (size_t)T * C; i++) s->x[i] += s->xn[i];
}

/* The T tokens set in s->tok_* through every layer; out gets T rows of what. */
static void forward_chunk(g2r_session *s, int T, g2r_output what, float *out) {
    g2r_model *m = s->m;
    const g2r_gpt2_weights *w = &m->w;
    int C = w->cfg.n_embd;
    embed_tokens(s, T);
    for (int l = 0; l < w->cfg.n_layer; l++) {
        attention_block(s, l, T);
        mlp_block(s, l, T);
    }
    if (!out) return; /* only the cache was wanted */
    if (what == G2R_OUT_HIDDEN) {
        layernorm(m, out, s->x, w->ln_f_w, w->ln_f_b, T, C);
    } else {
        layernorm(m, s->xn, s->x, w->ln_f_w, w->ln_f_b, T, C);
        logits_tied(m, out, s->xn, T);
    }
}

/* ----------------------------------------------------------------- forward */

static g2r_status check_batch(const g2r_session *s, int n_seqs, const int *const *ids, const int *n_ids,
                              g2r_output what, g2r_error *err) {
    const g2r_config *cfg = &s->m->w.cfg;
    if (n_seqs < 0 || n_seqs > s->max_seqs)
        return g2r_fail(err, G2R_EARG, "forward: %d sequences, the session holds %d", n_seqs, s->max_seqs);
    if (n_seqs > 0 && (!ids || !n_ids)) return g2r_fail(err, G2R_EARG, "forward: ids or n_ids is NULL");
    if (what != G2R_OUT_LOGITS && what != G2R_OUT_HIDDEN)
        return g2r_fail(err, G2R_EARG, "forward: unknown output kind %d", (int)what);
    for (int i = 0; i < n_seqs; i++) {
        const g2r_seq *sq = &s->seqs[i];
        if (n_ids[i] < 0) return g2r_fail(err, G2R_EARG, "forward: sequence %d has %d tokens", i, n_ids[i]);
        if (n_ids[i] > 0 && !ids[i]) return g2r_fail(err, G2R_EARG, "forward: sequence %d: ids is NULL", i);
        if (n_ids[i] > cfg->n_ctx - sq->len)
            return g2r_fail(err, G2R_ERANGE,
                            "forward: sequence %d: %d cached + %d new tokens exceed the model's context of %d",
                            i, sq->len, n_ids[i], cfg->n_ctx);
        if (n_ids[i] > sq->n_shared + sq->cap - sq->len)
            return g2r_fail(err, G2R_ERANGE,
                            "forward: sequence %d: %d cached + %d new tokens exceed the session's %d positions",
                            i, sq->len, n_ids[i], sq->n_shared + sq->cap);
        for (int j = 0; j < n_ids[i]; j++)
            if (ids[i][j] < 0 || ids[i][j] >= cfg->n_vocab)
                return g2r_fail(err, G2R_ERANGE, "forward: sequence %d: token id %d at %d is outside [0, %d)", i,
                                ids[i][j], j, cfg->n_vocab);
    }
    return G2R_OK;
}

g2r_status g2r_forward(g2r_session *s, int n_seqs, const int *const *ids, const int *n_ids, g2r_output what,
                       float *out, g2r_error *err) {
    if (!s) return g2r_fail(err, G2R_EARG, "forward: session is NULL");
    g2r_status st = check_batch(s, n_seqs, ids, n_ids, what, err);
    if (st != G2R_OK) return st;
    const g2r_config *cfg = &s->m->w.cfg;
    size_t row = (size_t)(what == G2R_OUT_HIDDEN ? cfg->n_embd : cfg->n_vocab);
#ifdef G2R_CUDA
    if (s->cuda) {
        st = g2r_cuda_forward(s->cuda, n_seqs, ids, n_ids, what, out, err);
        for (int i = 0; st == G2R_OK && i < n_seqs; i++) s->seqs[i].len += n_ids[i];
        return st;
    }
#endif

    pthread_mutex_lock(&s->m->mu);
    /* Walk the tokens in output order, sequence by sequence, a chunk at a time. */
    int seq = 0, j = 0, T = 0;
    size_t rows_done = 0;
    for (;;) {
        while (seq < n_seqs && j == n_ids[seq]) seq++, j = 0;
        if (seq == n_seqs || T == s->chunk) {
            if (T > 0) forward_chunk(s, T, what, out ? out + rows_done * row : NULL);
            rows_done += (size_t)T;
            T = 0;
            if (seq == n_seqs) break;
        }
        s->tok_id[T] = ids[seq][j];
        s->tok_seq[T] = seq;
        s->tok_pos[T] = s->seqs[seq].len + j;
        T++, j++;
    }
    for (int i = 0; i < n_seqs; i++) s->seqs[i].len += n_ids[i];
    pthread_mutex_unlock(&s->m->mu);
    return G2R_OK;
}

/* ---------------------------------------------------------------- sessions */

static void *alloc_floats(size_t n, int *failed) {
    void *p = calloc(n ? n : 1, sizeof(float));
    if (!p) *failed = 1;
    return p;
}

/* The K and V caches fill one position at a time as a sequence decodes: on
 * 4 KB pages that is a page fault every ~1.3 tokens in each of 2 x n_layer
 * regions (~1.3 us each here, 4% of Q8 decode at 124M), on 2 MB pages one
 * per ~680 positions.  So they are mapped 2 MB-aligned and marked for huge
 * pages (a hint: where THP is off they stay 4 KB).  Untouched pages cost no
 * memory either way; a fresh mapping reads as zeros, as calloc's would. */
static size_t cache_bytes(size_t n) {
    return (n * sizeof(float) + G2R_HUGE_PAGE - 1) / G2R_HUGE_PAGE * G2R_HUGE_PAGE;
}

/* Floats in each of the K and V caches: [n_layer][n_slots][C]. */
static size_t cache_floats(const g2r_config *cfg, int n_slots) {
    return (size_t)cfg->n_layer * (size_t)n_slots * (size_t)cfg->n_embd;
}

static float *map_cache(size_t n, int *failed) {
    size_t bytes = cache_bytes(n);
    void *p = g2r_map_aligned(bytes, PROT_READ | PROT_WRITE);
    if (p == MAP_FAILED) {
        *failed = 1;
        return NULL;
    }
    return p;
}

static void unmap_cache(float *p, size_t n) {
    if (p) munmap(p, cache_bytes(n));
}

/* s->part: the most slice sums of SPLIT_ROWS rows any layer matmul makes */
static size_t part_floats(const g2r_gpt2_weights *w) {
    size_t most = 0;
    if (w->transposed) return 0; /* matmul() splits outputs, not K */
    for (int l = 0; l < w->cfg.n_layer; l++) {
        const g2r_layer_weights *lw = &w->layers[l];
        const g2r_matrix *ms[] = {&lw->c_attn, &lw->attn_proj, &lw->fc, &lw->mlp_proj};
        for (int i = 0; i < 4; i++) {
            size_t n = (size_t)g2r_kslices(ms[i]) * SPLIT_ROWS * (size_t)ms[i]->cols;
            if (n > most) most = n;
        }
    }
    return most;
}

g2r_status g2r_session_create(g2r_model *m, int max_seqs, int n_slots, int chunk, g2r_session **out,
                              g2r_error *err) {
    *out = NULL;
    if (!m) return g2r_fail(err, G2R_EARG, "session: model is NULL");
    if (max_seqs < 1 || n_slots < 1)
        return g2r_fail(err, G2R_EARG, "session: needs at least one sequence and one position (got %d, %d)",
                        max_seqs, n_slots);
    if (chunk <= 0) chunk = G2R_CHUNK_TOKENS;
    chunk = imin(chunk, n_slots); /* a forward never adds more tokens than there are slots */
    const g2r_config *cfg = &m->w.cfg;
    size_t C = (size_t)cfg->n_embd, L = (size_t)cfg->n_layer;
    if ((size_t)n_slots > SIZE_MAX / sizeof(float) / (L * C + 1))
        return g2r_fail(err, G2R_ENOMEM, "session: a cache of %d positions is too large", n_slots);
    size_t cache = cache_floats(cfg, n_slots);

    g2r_session *s = calloc(1, sizeof *s);
    if (!s) return g2r_fail(err, G2R_ENOMEM, "session: out of memory");
    s->m = m;
    s->max_seqs = max_seqs;
    s->n_slots = n_slots;
    s->chunk = chunk;
    int failed = 0;
    s->seqs = calloc((size_t)max_seqs, sizeof *s->seqs);
    failed |= !s->seqs;
    s->k_cache = map_cache(cache, &failed);
    s->v_cache = map_cache(cache, &failed);
    s->x = alloc_floats((size_t)chunk * C, &failed);
    s->xn = alloc_floats((size_t)chunk * C, &failed);
    s->qkv = alloc_floats((size_t)chunk * 3 * C, &failed);
    s->att = alloc_floats((size_t)chunk * C, &failed);
    s->fc = alloc_floats((size_t)chunk * 4 * C, &failed);
    s->tok_id = calloc((size_t)chunk, sizeof(int));
    s->tok_seq = calloc((size_t)chunk, sizeof(int));
    s->tok_pos = calloc((size_t)chunk, sizeof(int));
    failed |= !s->tok_id || !s->tok_seq || !s->tok_pos;
    s->scores = alloc_floats((size_t)g2r_pool_size(m->pool) * (size_t)cfg->n_ctx, &failed);
    s->part = alloc_floats(part_floats(&m->w), &failed);
    if (failed) {
        g2r_session_free(s);
        return g2r_fail(err, G2R_ENOMEM, "session: out of memory for %d positions of %d layers", n_slots,
                        cfg->n_layer);
    }
    for (int i = 0; i < max_seqs; i++) s->seqs[i] = (g2r_seq){.src = -1};
    *out = s;
    return G2R_OK;
}

g2r_status g2r_session_place(g2r_session *s, int seq, int base, int cap, int src, int n_shared, g2r_error *err) {
    if (s->cuda) return g2r_fail(err, G2R_EARG, "session: sequences of a CUDA session have fixed places");
    if (seq < 0 || seq >= s->max_seqs) return g2r_fail(err, G2R_EARG, "session: no sequence %d", seq);
    if (base < 0 || cap < 0 || base > s->n_slots - cap)
        return g2r_fail(err, G2R_EARG, "session: slots [%d, %d+%d) outside the cache of %d", base, base, cap,
                        s->n_slots);
    if (src >= 0) {
        if (src >= s->max_seqs || src == seq) return g2r_fail(err, G2R_EARG, "session: bad prefix sequence %d", src);
        if (s->seqs[src].n_shared != 0)
            return g2r_fail(err, G2R_EARG, "session: sequence %d already reads a shared prefix", src);
        if (n_shared < 0 || n_shared > s->seqs[src].len)
            return g2r_fail(err, G2R_EARG, "session: sequence %d holds %d positions, not %d", src, s->seqs[src].len,
                            n_shared);
    } else if (n_shared != 0) {
        return g2r_fail(err, G2R_EARG, "session: a shared prefix needs a source sequence");
    }
    s->seqs[seq] = (g2r_seq){.base = base, .cap = cap, .len = n_shared, .src = src, .n_shared = n_shared};
    return G2R_OK;
}

g2r_status g2r_session_new(g2r_model *m, int max_seqs, int max_tokens, g2r_session **out, g2r_error *err) {
    *out = NULL;
    if (!m) return g2r_fail(err, G2R_EARG, "session: model is NULL");
    int n_ctx = m->w.cfg.n_ctx;
    if (max_tokens < 1 || max_tokens > n_ctx)
        return g2r_fail(err, G2R_EARG, "session: max_tokens %d is outside [1, n_ctx = %d]", max_tokens, n_ctx);
    if (max_seqs < 1 || max_seqs > INT_MAX / max_tokens)
        return g2r_fail(err, G2R_EARG, "session: max_seqs %d is outside [1, %d]", max_seqs, INT_MAX / max_tokens);
#ifdef G2R_CUDA
    if (m->cuda) { /* only the sequence table on the host; the rest on the device */
        g2r_session *s = calloc(1, sizeof *s);
        if (s) s->seqs = calloc((size_t)max_seqs, sizeof *s->seqs);
        if (!s || !s->seqs) {
            free(s);
            return g2r_fail(err, G2R_ENOMEM, "session: out of memory");
        }
        s->m = m, s->max_seqs = max_seqs, s->n_slots = max_seqs * max_tokens;
        for (int i = 0; i < max_seqs; i++) s->seqs[i] = (g2r_seq){.base = i * max_tokens, .cap = max_tokens, .src = -1};
        g2r_status st = g2r_cuda_session_new(m->cuda, max_seqs, max_tokens, &s->cuda, err);
        if (st != G2R_OK) g2r_session_free(s);
        else *out = s;
        return st;
    }
#endif
    g2r_status st = g2r_session_create(m, max_seqs, max_seqs * max_tokens, 0, out, err);
    if (st != G2R_OK) return st;
    for (int i = 0; i < max_seqs; i++) (*out)->seqs[i] = (g2r_seq){.base = i * max_tokens, .cap = max_tokens, .src = -1};
    return G2R_OK;
}

void g2r_session_free(g2r_session *s) {
    if (!s) return;
#ifdef G2R_CUDA
    g2r_cuda_session_free(s->cuda);
#endif
    free(s->seqs);
    unmap_cache(s->k_cache, cache_floats(&s->m->w.cfg, s->n_slots));
    unmap_cache(s->v_cache, cache_floats(&s->m->w.cfg, s->n_slots));
    free(s->x);
    free(s->xn);
    free(s->qkv);
    free(s->att);
    free(s->fc);
    free(s->tok_id);
    free(s->tok_seq);
    free(s->tok_pos);
    free(s->scores);
    free(s->part);
    free(s);
}

void g2r_session_reset(g2r_session *s) {
    if (!s) return;
#ifdef G2R_CUDA
    if (s->cuda) g2r_cuda_session_reset(s->cuda);
#endif
    for (int i = 0; i < s->max_seqs; i++) {
        s->seqs[i].len = 0;
        s->seqs[i].src = -1;
        s->seqs[i].n_shared = 0;
    }
}

int g2r_session_len(const g2r_session *s, int seq) {
    if (!s || seq < 0 || seq >= s->max_seqs) return -1;
    return s->seqs[seq].len;
}
