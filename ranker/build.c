/* build.c — `gpt2rank index`: items.jsonl -> embeddings -> post-processing -> .g2ri.
 *
 * Items are {"id": "...", "text": "...", ...}; every other field is kept as
 * the item's metadata (a JSON object).  With append, the existing index keeps
 * its items and its post-processing; an item whose id and text are unchanged
 * reuses its stored vector, a changed or new one is embedded. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "ranker/index_internal.h"
#include "ranker/jsonl.h"
#include "ranker/postproc.h"

#define CHUNK 64 /* texts per progress step */

typedef struct {
    char *id, *text, *meta;
    size_t id_len, text_len, meta_len;
} raw_item;

typedef struct {
    raw_item *it;
    size_t n, cap;
} item_list;

static void free_items(item_list *l) {
    for (size_t i = 0; i < l->n; i++) {
        free(l->it[i].id);
        free(l->it[i].text);
        free(l->it[i].meta);
    }
    free(l->it);
}

/* The object's members other than id and text, as compact JSON ("" when none). */
static char *extra_fields(const g2r_json *o, size_t *len) {
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    if (!f) return NULL;
    int any = 0;
    for (const g2r_json *c = o->child; c; c = c->next) {
        if (!strcmp(c->key, "id") || !strcmp(c->key, "text")) continue;
        fputc(any++ ? ',' : '{', f);
        g2r_json_write_string(f, c->key, c->key_len);
        fputc(':', f);
        g2r_json_write_value(f, c);
    }
    if (any) fputc('}', f);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

static g2r_status read_items(const char *path, size_t max_line, item_list *l, g2r_error *err) {
    g2r_jsonl r;
    g2r_status st = g2r_jsonl_open(&r, path, max_line, err);
    if (st) return st;
    for (;;) {
        g2r_json_doc *doc;
        const g2r_json *o;
        int got = g2r_jsonl_next(&r, &doc, &o, err);
        if (got <= 0) {
            st = got == 0 ? G2R_OK : err ? err->status : G2R_EFORMAT;
            break;
        }
        const g2r_json *id = g2r_json_get(o, "id"), *text = g2r_json_get(o, "text");
        if (o->type != G2R_JSON_OBJECT || !id || id->type != G2R_JSON_STRING || id->len == 0 || !text ||
            text->type != G2R_JSON_STRING || text->len == 0) {
            st = g2r_fail(err, G2R_EFORMAT, "%s:%zu: expected {\"id\": \"non-empty string\", \"text\": \"non-empty string\", ...}",
                          path, r.line_no);
        } else if (l->n == l->cap) {
            size_t cap = l->cap ? 2 * l->cap : 256;
            raw_item *p = realloc(l->it, cap * sizeof *p);
            if (!p) st = g2r_fail(err, G2R_ENOMEM, "%s: out of memory", path);
            else l->it = p, l->cap = cap;
        }
        if (!st) {
            raw_item *it = &l->it[l->n++];
            memset(it, 0, sizeof *it);
            it->id = g2r_dup_n(id->str, id->len);
            it->id_len = id->len;
            it->text = g2r_dup_n(text->str, text->len);
            it->text_len = text->len;
            it->meta = extra_fields(o, &it->meta_len);
            if (!it->id || !it->text || !it->meta) st = g2r_fail(err, G2R_ENOMEM, "%s: out of memory", path);
        }
        g2r_json_free(doc);
        if (st) break;
    }
    g2r_jsonl_close(&r);
    return st;
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

/* Embeds the texts of the listed items into out (n x dim), with a progress line. */
static g2r_status embed_items(g2r_model *m, const g2r_tokenizer *tok, g2r_pooling pool, const g2r_index *post,
                              const raw_item *items, const size_t *which, size_t n, int dim, float *out, int progress,
                              g2r_error *err) {
    const char *texts[CHUNK];
    size_t lens[CHUNK];
    double t0 = now_s();
    for (size_t c0 = 0; c0 < n; c0 += CHUNK) {
        int nc = n - c0 < CHUNK ? (int)(n - c0) : CHUNK;
        for (int i = 0; i < nc; i++) {
            texts[i] = items[which[c0 + i]].text;
            lens[i] = items[which[c0 + i]].text_len;
        }
        g2r_status st = g2r_embed_texts(m, tok, pool, post, nc, texts, lens, out + c0 * (size_t)dim, err);
        if (st) return st;
        if (progress > 1) {
            double dt = now_s() - t0, rate = (double)(c0 + (size_t)nc) / (dt > 0 ? dt : 1e-9);
            fprintf(stderr, "\rindex: %zu/%zu items, %.1f items/s, ETA %.0f s   ", c0 + (size_t)nc, n, rate,
                    (double)(n - c0 - (size_t)nc) / rate);
        }
    }
    if (progress > 1 && n) fputc('\n', stderr);
    return G2R_OK;
}

g2r_status g2r_index_build(g2r_model *m, const g2r_tokenizer *tok, const char *items_path, const char *out_path,
                           const g2r_build_options *opt, g2r_error *err) {
    g2r_model_info mi;
    g2r_model_info_get(m, &mi);
    const int dim = mi.cfg.n_embd;
    item_list l = {0};
    g2r_index *old = NULL;
    g2r_item *items = NULL;
    float *vecs = NULL, *mean = NULL, *pcs = NULL;
    size_t *which = NULL;
    g2r_status st = read_items(items_path, opt->max_line, &l, err);
    if (st) goto done;

    g2r_index_spec spec = {dim, opt->dtype, opt->pooling, mi.fingerprint, NULL, 0, NULL};
    size_t n_old = 0;
    if (opt->append && access(out_path, F_OK) == 0) {
        g2r_index_options io = {1, mi.fingerprint};
        if ((st = g2r_index_open(out_path, &io, &old, err))) goto done;
        g2r_index_info info;
        g2r_index_info_get(old, &info);
        if (info.dim != dim) {
            st = g2r_fail(err, G2R_EARG, "%s: dim %d differs from the model's %d", out_path, info.dim, dim);
            goto done;
        }
        /* appending keeps the old index's dtype, pooling and post-processing */
        spec.dtype = info.dtype;
        spec.pooling = info.pooling;
        spec.n_pc = info.n_pc;
        g2r_index_postproc_params(old, &spec.mean, &spec.pcs);
        n_old = info.count;
    }

    /* final order: the old items (replaced in place), then the new ids in file order */
    size_t cap = n_old + l.n;
    items = calloc(cap + 1, sizeof *items);
    vecs = malloc(sizeof(float) * (cap + 1) * (size_t)dim);
    which = malloc(sizeof(size_t) * (l.n + 1));
    size_t *slot = malloc(sizeof(size_t) * (l.n + 1));
    if (!items || !vecs || !which || !slot) {
        free(slot);
        st = g2r_fail(err, G2R_ENOMEM, "%s: out of memory for %zu items", out_path, cap);
        goto done;
    }
    for (size_t r = 0; r < n_old; r++) {
        items[r] = g2r_index_item(old, r);
        g2r_index_vector(old, r, vecs + r * (size_t)dim);
    }
    size_t n = n_old, n_embed = 0, n_reused = 0;
    for (size_t i = 0; i < l.n; i++) {
        raw_item *it = &l.it[i];
        uint64_t h = g2r_text_hash(it->text, it->text_len);
        int64_t r = old ? g2r_index_find(old, it->id, it->id_len) : -1;
        size_t s = r >= 0 ? (size_t)r : n++;
        items[s] = (g2r_item){it->id, it->id_len, it->meta, it->meta_len, h};
        if (r >= 0 && g2r_index_item(old, (size_t)r).text_hash == h) {
            n_reused++;
            continue;
        }
        which[n_embed] = i;
        slot[n_embed++] = s;
    }
    /* new vectors land in the tail of vecs, then move to their slots */
    float *fresh = malloc(sizeof(float) * (n_embed + 1) * (size_t)dim);
    if (!fresh) {
        free(slot);
        st = g2r_fail(err, G2R_ENOMEM, "%s: out of memory", out_path);
        goto done;
    }
    st = embed_items(m, tok, spec.pooling, old, l.it, which, n_embed, dim, fresh, opt->progress, err);
    if (!st && !old && (opt->center || opt->drop_pc > 0)) {
        mean = malloc(sizeof(float) * (size_t)dim);
        pcs = malloc(sizeof(float) * (size_t)dim * (size_t)(opt->drop_pc > 0 ? opt->drop_pc : 1));
        if (!mean || !pcs) st = g2r_fail(err, G2R_ENOMEM, "%s: out of memory", out_path);
        if (!st) st = g2r_postproc_fit(fresh, n_embed, dim, opt->center, opt->drop_pc, mean, pcs, err);
        if (!st) {
            spec.mean = opt->center ? mean : NULL;
            spec.n_pc = opt->drop_pc;
            spec.pcs = opt->drop_pc ? pcs : NULL;
            for (size_t i = 0; i < n_embed; i++)
                g2r_postproc_apply(fresh + i * (size_t)dim, dim, spec.mean, spec.pcs, spec.n_pc);
        }
    }
    for (size_t i = 0; !st && i < n_embed; i++)
        memcpy(vecs + slot[i] * (size_t)dim, fresh + i * (size_t)dim, sizeof(float) * (size_t)dim);
    free(fresh);
    free(slot);
    if (!st) st = g2r_index_write(out_path, &spec, n, items, vecs, err);
    if (!st && opt->progress)
        fprintf(stderr, "index: %s: %zu items (%zu embedded, %zu reused), %s, dim %d\n", out_path, n, n_embed,
                n_reused, g2r_vec_dtype_name(spec.dtype), dim);
done:
    g2r_index_close(old);
    free_items(&l);
    free(items);
    free(vecs);
    free(which);
    free(mean);
    free(pcs);
    return st;
}
