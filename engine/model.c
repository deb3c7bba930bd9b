/* model.c — loading a model: weights, kernels for this CPU, a thread pool. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/pagecache.h"
#include "engine/gpt2_cuda.h"
#include "engine/model.h"

static const char *kind_name(g2r_kernels_kind k) {
    switch (k) {
    case G2R_KERNELS_AUTO: return "auto";
    case G2R_KERNELS_SCALAR: return "scalar";
    case G2R_KERNELS_AVX2: return "avx2";
    case G2R_KERNELS_AVX512: return "avx512";
    case G2R_KERNELS_NEON: return "neon";
    }
    return "?";
}

static g2r_status check_device(const g2r_options *o, g2r_error *err) {
    if (o->device == G2R_DEVICE_CPU) return G2R_OK;
    if (o->device == G2R_DEVICE_CUDA) {
#ifdef G2R_CUDA
        return G2R_OK; /* g2r_cuda_model_new says whether there is a device */
#else
        return g2r_fail(err, G2R_EDEVICE, "model: built without CUDA (rebuild with make CUDA=1)");
#endif
    }
    return g2r_fail(err, G2R_EARG, "model: unknown device %d", (int)o->device);
}

/* Lets the kernels keep their own copy of each big matrix (NULL: none). */
static g2r_status pack_matrices(g2r_model *m, g2r_error *err) {
    if (!m->k->pack) return G2R_OK;
    int n = 1 + 4 * m->w.cfg.n_layer;
    m->packed = calloc((size_t)n, sizeof *m->packed);
    if (!m->packed) return g2r_fail(err, G2R_ENOMEM, "model: out of memory");
    g2r_matrix *mats[5];
    for (int l = -1; l < m->w.cfg.n_layer; l++) {
        int k = 0;
        if (l < 0) {
            mats[k++] = &m->w.wte;
        } else {
            g2r_layer_weights *lw = &m->w.layers[l];
            mats[k++] = &lw->c_attn;
            mats[k++] = &lw->attn_proj;
            mats[k++] = &lw->fc;
            mats[k++] = &lw->mlp_proj;
        }
        for (int i = 0; i < k; i++) {
            void *p = m->k->pack(mats[i]);
            if (p) {
                mats[i]->packed = p;
                m->packed[m->n_packed++] = p;
            }
        }
    }
    return G2R_OK;
}

/* Prefault: fill the page tables for the mapped file from all threads at
 * once, so the first forward pass does not take ~100k minor faults one by one
 * (on a warm page cache that is most of the time to first token). */
#define PREFAULT_CHUNK (4u << 20)

typedef struct {
    const unsigned char *base;
    size_t size;
} prefault_job;

static void prefault_task(void *ctx, int task, int thread) {
    (void)thread;
    const prefault_job *j = ctx;
    size_t off = (size_t)task * PREFAULT_CHUNK, n = j->size - off < PREFAULT_CHUNK ? j->size - off : PREFAULT_CHUNK;
    g2r_populate(j->base + off, n);
}

static void prefault(g2r_model *m) {
    const void *base;
    size_t size;
    g2r_gpt2_weights_mapping(&m->w, &base, &size);
    if (!base) return;
    prefault_job j = {base, size};
    g2r_pool_run(m->pool, (int)((size + PREFAULT_CHUNK - 1) / PREFAULT_CHUNK), prefault_task, &j);
}

g2r_status g2r_model_from_weights(g2r_gpt2_weights *w, const g2r_options *opt, g2r_model **out, g2r_error *err) {
    *out = NULL;
    g2r_options o = opt ? *opt : (g2r_options){0};
    g2r_status st = check_device(&o, err);
    const g2r_config *c = &w->cfg;
    if (st == G2R_OK && (c->n_head < 1 || c->n_embd % c->n_head != 0))
        st = g2r_fail(err, G2R_EFORMAT, "model: n_embd %d is not a multiple of n_head %d", c->n_embd, c->n_head);
    const g2r_kernels *k = g2r_kernels_get(o.kernels);
    if (st == G2R_OK && !k)
        st = g2r_fail(err, G2R_EARG, "model: the %s kernels are not available on this CPU or in this build",
                      kind_name(o.kernels));
    g2r_model *m = NULL;
    if (st == G2R_OK && !(m = calloc(1, sizeof *m))) st = g2r_fail(err, G2R_ENOMEM, "model: out of memory");
    if (st != G2R_OK) {
        g2r_gpt2_weights_free(w);
        return st;
    }
    m->w = *w;
    memset(w, 0, sizeof *w);
    m->k = k;
    pthread_mutex_init(&m->mu, NULL);
    st = g2r_pool_new(o.n_threads, &m->pool, err);
    if (st == G2R_OK) st = pack_matrices(m, err);
    if (st == G2R_OK && o.prefault) prefault(m);
#ifdef G2R_CUDA
    /* weights uploaded once, in the file's dtype (Q8 becomes BF16) */
    if (st == G2R_OK && o.device == G2R_DEVICE_CUDA) st = g2r_cuda_model_new(&m->w, G2R_DT_Q8, &m->cuda, err);
#endif
    if (st != G2R_OK) {
        g2r_model_free(m);
        return st;
    }
    *out = m;
    return G2R_OK;
}

g2r_status g2r_model_load(const char *path, const g2r_options *opt, g2r_model **out, g2r_error *err) {
    *out = NULL;
    g2r_options o = opt ? *opt : (g2r_options){0};
    /* Cheap refusals first, before mapping hundreds of megabytes. */
    g2r_status st = check_device(&o, err);
    if (st != G2R_OK) return st;
    if (!g2r_kernels_get(o.kernels))
        return g2r_fail(err, G2R_EARG, "model: the %s kernels are not available on this CPU or in this build",
                        kind_name(o.kernels));
    if (o.n_threads < 0) return g2r_fail(err, G2R_EARG, "model: thread count %d is negative", o.n_threads);
    g2r_gpt2_weights w;
    memset(&w, 0, sizeof w);
    st = g2r_gpt2_weights_load(path, o.n_head, &w, err);
    if (st != G2R_OK) return st;
    return g2r_model_from_weights(&w, &o, out, err);
}

void g2r_model_free(g2r_model *m) {
    if (!m) return;
#ifdef G2R_CUDA
    g2r_cuda_model_free(m->cuda);
#endif
    g2r_pool_free(m->pool);
    for (int i = 0; i < m->n_packed; i++) free(m->packed[i]);
    free(m->packed);
    g2r_gpt2_weights_free(&m->w);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

g2r_config g2r_model_config(const g2r_model *m) { return m->w.cfg; }

void g2r_model_info_get(const g2r_model *m, g2r_model_info *out) {
    memset(out, 0, sizeof *out);
    out->cfg = m->w.cfg;
    out->dtype = g2r_dtype_name(m->w.dtype);
    out->kernels = m->cuda ? "cuda" : m->k->name;
    out->n_threads = g2r_pool_size(m->pool);
    out->n_params = m->w.n_params;
    out->bytes_mapped = m->w.bytes_mapped;
    out->bytes_owned = m->w.bytes_owned;
    out->fingerprint = m->w.fingerprint;
}

int g2r_model_eot(const g2r_model *m) { return m->w.cfg.n_vocab == 50257 ? 50256 : -1; }
