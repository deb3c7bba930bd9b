/* serve_catalog.c — the live item catalog of the serve loop: the mapped index
 * file, plus items added (kept in memory as f32 unit vectors) and removed
 * (marked) since it was written.  Ranking scans the file with the index's
 * threaded top-K, skipping removed rows, scans the added items directly, and
 * merges; MMR and explanations are g2r_rank's own (rank_internal.h). */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "ranker/hash.h"
#include "ranker/index_internal.h"
#include "ranker/jsonl.h"
#include "ranker/profile_internal.h"
#include "ranker/rank_internal.h"
#include "ranker/serve.h"

#define MMR_POOL_MIN 50 /* as g2r_rank: MMR chooses from max(4k, 50) */

typedef struct {
    char *id, *text, *meta;
    size_t id_len, text_len, meta_len;
    uint64_t text_hash;
} added_item;

struct g2r_catalog {
    g2r_index *ix;
    char *path;
    int dim;
    size_t n_base;
    char **base_text;            /* [n_base] from --items, NULL when unknown */
    size_t *base_text_len;
    added_item *add;             /* rows n_base + i */
    float *add_vec;              /* [cap_add][dim] */
    size_t n_add, cap_add;
    unsigned char *removed;      /* [n_base + cap_add] */
    int64_t *removed_base;       /* removed rows < n_base, sorted */
    size_t n_removed_base, n_removed;
    int64_t *add_table;          /* id hash table over added rows: row + 1, 0 empty */
    int64_t *file_row;           /* [n_base + cap_add] the row's place in the index file, or -1 */
    size_t add_mask;
    int dirty;
};

g2r_status g2r_catalog_open(const char *path, const g2r_index_options *io, g2r_catalog **out, g2r_error *err) {
    *out = NULL;
    g2r_catalog *c = calloc(1, sizeof *c);
    if (!c) return g2r_fail(err, G2R_ENOMEM, "serve: out of memory");
    g2r_status st = g2r_index_open(path, io, &c->ix, err);
    if (st) {
        free(c);
        return st;
    }
    g2r_index_info info;
    g2r_index_info_get(c->ix, &info);
    c->path = strdup(path);
    c->dim = info.dim;
    c->n_base = info.count;
    c->base_text = calloc(c->n_base + 1, sizeof *c->base_text);
    c->base_text_len = calloc(c->n_base + 1, sizeof *c->base_text_len);
    c->removed = calloc(c->n_base + 1, 1);
    c->file_row = malloc((c->n_base + 1) * sizeof *c->file_row);
    if (!c->path || !c->base_text || !c->base_text_len || !c->removed || !c->file_row) {
        g2r_catalog_close(c);
        return g2r_fail(err, G2R_ENOMEM, "serve: out of memory");
    }
    for (size_t r = 0; r < c->n_base; r++) c->file_row[r] = (int64_t)r;
    *out = c;
    return G2R_OK;
}

void g2r_catalog_close(g2r_catalog *c) {
    if (!c) return;
    for (size_t i = 0; c->base_text && i < c->n_base; i++) free(c->base_text[i]);
    for (size_t i = 0; i < c->n_add; i++) free(c->add[i].id), free(c->add[i].text), free(c->add[i].meta);
    free(c->base_text);
    free(c->base_text_len);
    free(c->add);
    free(c->add_vec);
    free(c->removed);
    free(c->removed_base);
    free(c->add_table);
    free(c->file_row);
    g2r_index_close(c->ix);
    free(c->path);
    free(c);
}

g2r_index *g2r_catalog_index(g2r_catalog *c) { return c->ix; }
int g2r_catalog_dim(const g2r_catalog *c) { return c->dim; }
size_t g2r_catalog_live(const g2r_catalog *c) { return c->n_base + c->n_add - c->n_removed; }
int g2r_catalog_dirty(const g2r_catalog *c) { return c->dirty; }
const char *g2r_catalog_path(const g2r_catalog *c) { return c->path; }
int64_t g2r_catalog_file_row(const g2r_catalog *c, int64_t row) { return c->file_row[row]; }

static int64_t find_added(const g2r_catalog *c, const char *id, size_t len) {
    if (!c->add_table) return -1;
    for (size_t h = g2r_xxh64(id, len, 0) & c->add_mask; c->add_table[h]; h = (h + 1) & c->add_mask) {
        int64_t row = c->add_table[h] - 1;
        const added_item *a = &c->add[row - (int64_t)c->n_base];
        if (a->id_len == len && !memcmp(a->id, id, len) && !c->removed[row]) return row;
    }
    return -1;
}

int64_t g2r_catalog_find(const g2r_catalog *c, const char *id, size_t len) {
    int64_t r = g2r_index_find(c->ix, id, len);
    if (r >= 0 && !c->removed[r]) return r;
    return find_added(c, id, len);
}

void g2r_catalog_vector(const g2r_catalog *c, int64_t row, float *out) {
    if ((size_t)row < c->n_base) g2r_index_vector(c->ix, (size_t)row, out);
    else memcpy(out, c->add_vec + (size_t)(row - (int64_t)c->n_base) * c->dim, sizeof(float) * (size_t)c->dim);
}

void g2r_catalog_id(const g2r_catalog *c, int64_t row, const char **id, size_t *len) {
    if ((size_t)row < c->n_base) {
        g2r_item it = g2r_index_item(c->ix, (size_t)row);
        *id = it.id, *len = it.id_len;
    } else {
        const added_item *a = &c->add[row - (int64_t)c->n_base];
        *id = a->id, *len = a->id_len;
    }
}

const char *g2r_catalog_text(const g2r_catalog *c, int64_t row, size_t *len) {
    if ((size_t)row < c->n_base) {
        *len = c->base_text_len[row];
        return c->base_text[row];
    }
    const added_item *a = &c->add[row - (int64_t)c->n_base];
    *len = a->text_len;
    return a->text;
}

g2r_status g2r_catalog_load_texts(g2r_catalog *c, const char *items_path, size_t max_line, g2r_error *err) {
    g2r_jsonl r;
    g2r_status st = g2r_jsonl_open(&r, items_path, max_line, err);
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
        if (!id || id->type != G2R_JSON_STRING || !text || text->type != G2R_JSON_STRING) {
            st = g2r_fail(err, G2R_EFORMAT, "%s:%zu: expected {\"id\": \"...\", \"text\": \"...\"}", items_path, r.line_no);
        } else {
            int64_t row = g2r_index_find(c->ix, id->str, id->len);
            if (row >= 0 && !c->base_text[row]) {
                c->base_text[row] = g2r_dup_n(text->str, text->len);
                c->base_text_len[row] = text->len;
                if (!c->base_text[row]) st = g2r_fail(err, G2R_ENOMEM, "%s: out of memory", items_path);
            }
        }
        g2r_json_free(doc);
        if (st) break;
    }
    g2r_jsonl_close(&r);
    return st;
}

/* Room for one more added item: the arrays and the id table (kept at most half full). */
static g2r_status grow(g2r_catalog *c, g2r_error *err) {
    if (c->n_add == c->cap_add) {
        size_t cap = c->cap_add ? 2 * c->cap_add : 16;
        added_item *a = realloc(c->add, cap * sizeof *a);
        if (a) c->add = a;
        float *v = a ? realloc(c->add_vec, cap * (size_t)c->dim * sizeof(float)) : NULL;
        if (v) c->add_vec = v;
        unsigned char *rm = v ? realloc(c->removed, c->n_base + cap) : NULL;
        if (rm) c->removed = rm;
        int64_t *fr = rm ? realloc(c->file_row, (c->n_base + cap) * sizeof *fr) : NULL;
        if (!fr) return g2r_fail(err, G2R_ENOMEM, "serve: out of memory adding an item");
        c->file_row = fr;
        memset(rm + c->n_base + c->cap_add, 0, cap - c->cap_add);
        for (size_t r = c->n_base + c->cap_add; r < c->n_base + cap; r++) fr[r] = -1; /* not in the file yet */
        c->cap_add = cap;
    }
    if (2 * (c->n_add + 1) > c->add_mask + 1 || !c->add_table) {
        size_t size = 64;
        while (size < 4 * (c->n_add + 1)) size *= 2;
        int64_t *t = calloc(size, sizeof *t);
        if (!t) return g2r_fail(err, G2R_ENOMEM, "serve: out of memory adding an item");
        for (size_t i = 0; i < c->n_add; i++) {
            size_t h = g2r_xxh64(c->add[i].id, c->add[i].id_len, 0) & (size - 1);
            while (t[h]) h = (h + 1) & (size - 1);
            t[h] = (int64_t)(c->n_base + i) + 1;
        }
        free(c->add_table);
        c->add_table = t;
        c->add_mask = size - 1;
    }
    return G2R_OK;
}

static void mark_removed(g2r_catalog *c, int64_t row) {
    c->removed[row] = 1;
    c->n_removed++;
    c->dirty = 1;
    if ((size_t)row >= c->n_base) return;
    size_t i = c->n_removed_base++; /* removed_base has room for n_base rows */
    while (i > 0 && c->removed_base[i - 1] > row) c->removed_base[i] = c->removed_base[i - 1], i--;
    c->removed_base[i] = row;
}

g2r_status g2r_catalog_add(g2r_catalog *c, const char *id, size_t id_len, const char *text, size_t text_len,
                           const char *meta, size_t meta_len, const float *vec, g2r_error *err) {
    if (!c->removed_base && !(c->removed_base = malloc((c->n_base + 1) * sizeof *c->removed_base)))
        return g2r_fail(err, G2R_ENOMEM, "serve: out of memory adding an item");
    g2r_status st = grow(c, err);
    if (st) return st;
    added_item a = {g2r_dup_n(id, id_len), g2r_dup_n(text, text_len), g2r_dup_n(meta, meta_len), id_len, text_len, meta_len,
                     g2r_text_hash(text, text_len)};
    if (!a.id || !a.text || !a.meta) {
        free(a.id), free(a.text), free(a.meta);
        return g2r_fail(err, G2R_ENOMEM, "serve: out of memory adding an item");
    }
    int64_t old = g2r_catalog_find(c, id, id_len);
    if (old >= 0) mark_removed(c, old);
    int64_t row = (int64_t)(c->n_base + c->n_add);
    c->add[c->n_add] = a;
    memcpy(c->add_vec + c->n_add * (size_t)c->dim, vec, sizeof(float) * (size_t)c->dim);
    c->n_add++;
    size_t h = g2r_xxh64(id, id_len, 0) & c->add_mask;
    while (c->add_table[h]) h = (h + 1) & c->add_mask;
    c->add_table[h] = row + 1;
    c->dirty = 1;
    return G2R_OK;
}

int g2r_catalog_remove(g2r_catalog *c, const char *id, size_t len) {
    int64_t row = g2r_catalog_find(c, id, len);
    if (row < 0) return 0;
    if (!c->removed_base && !(c->removed_base = malloc((c->n_base + 1) * sizeof *c->removed_base))) return -1;
    mark_removed(c, row);
    return 1;
}

/* ---- ranking */

static int has_row(const int64_t *rows, size_t n, int64_t row) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (rows[mid] < row) lo = mid + 1;
        else hi = mid;
    }
    return lo < n && rows[lo] == row;
}

/* Sorted union of two sorted lists of base rows. */
static size_t merge_rows(const int64_t *a, size_t na, const int64_t *b, size_t nb, size_t n_base, int64_t *out) {
    size_t i = 0, j = 0, n = 0;
    while (i < na || j < nb) {
        int64_t x = j == nb || (i < na && a[i] <= b[j]) ? a[i] : b[j];
        if (i < na && a[i] == x) i++;
        if (j < nb && b[j] == x) j++;
        if ((size_t)x < n_base) out[n++] = x;
    }
    return n;
}

/* hit a before hit b: higher score, then the lower row */
static int better(const g2r_hit *a, const g2r_hit *b) {
    return a->score > b->score || (a->score == b->score && a->index < b->index);
}

/* Inserts h into the best-first list top (n of at most k). */
static void insert_hit(g2r_hit *top, int *n, int k, g2r_hit h) {
    if (*n == k && !better(&h, &top[k - 1])) return;
    int i = *n < k ? (*n)++ : k - 1;
    while (i > 0 && better(&h, &top[i - 1])) top[i] = top[i - 1], i--;
    top[i] = h;
}

g2r_status g2r_catalog_rank(g2r_catalog *c, const g2r_profile *p, const g2r_rank_options *o, g2r_result *out,
                            int *n_out, g2r_error *err) {
    *n_out = 0;
    const int dim = c->dim;
    if (o->k < 1) return g2r_fail(err, G2R_EARG, "rank: k must be at least 1, got %d", o->k);
    if (o->mmr < 0 || o->mmr > 1) return g2r_fail(err, G2R_EARG, "rank: MMR lambda must be in (0, 1], got %g", o->mmr);
    size_t live = g2r_catalog_live(c);
    size_t n_cand = (size_t)o->k;
    if (o->mmr > 0 && o->mmr < 1) n_cand = 4 * n_cand > MMR_POOL_MIN ? 4 * n_cand : MMR_POOL_MIN;
    if (n_cand > live) n_cand = live ? live : 1;
    size_t n_seen = 0;
    const int64_t *seen = o->exclude_seen ? g2r_profile_seen(p, &n_seen) : NULL;
    float *q = malloc(sizeof(float) * (size_t)dim);
    float *vec = malloc(sizeof(float) * (n_cand + 1) * (size_t)dim);
    g2r_hit *cand = malloc(sizeof(g2r_hit) * n_cand), *base = malloc(sizeof(g2r_hit) * n_cand);
    int64_t *excl = malloc(sizeof(int64_t) * (c->n_removed_base + n_seen + 1));
    int *pick = malloc(sizeof(int) * n_cand);
    float *maxsim = malloc(sizeof(float) * n_cand);
    char *taken = malloc(n_cand);
    float *contrib = malloc(sizeof(float) * ((size_t)g2r_profile_kept_max(p) + 1));
    g2r_status st = G2R_OK;
    if (!q || !vec || !cand || !base || !excl || !pick || !maxsim || !taken || !contrib) {
        st = g2r_fail(err, G2R_ENOMEM, "rank: out of memory");
        goto done;
    }
    if (!g2r_profile_vector(p, q)) {
        st = g2r_fail(err, G2R_EARG, "rank: the profile is empty (no usable events)");
        goto done;
    }
    int n = 0, nb = 0;
    size_t n_excl = merge_rows(c->removed_base, c->n_removed_base, seen, n_seen, c->n_base, excl);
    if (c->n_base > n_excl && (st = g2r_index_topk(c->ix, q, 1, (int)n_cand, excl, n_excl, base, &nb, err))) goto done;
    for (int i = 0; i < nb; i++) insert_hit(cand, &n, (int)n_cand, base[i]);
    for (size_t a = 0; a < c->n_add; a++) {
        int64_t row = (int64_t)(c->n_base + a);
        if (c->removed[row] || (seen && has_row(seen, n_seen, row))) continue;
        const float *v = c->add_vec + a * (size_t)dim;
        float s = 0;
        for (int d = 0; d < dim; d++) s += q[d] * v[d];
        insert_hit(cand, &n, (int)n_cand, (g2r_hit){row, s});
    }
    int k = n < o->k ? n : o->k;
    if (o->mmr > 0 && o->mmr < 1) {
        for (int i = 0; i < n; i++) g2r_catalog_vector(c, cand[i].index, vec + (size_t)i * dim);
        g2r_rank_mmr_select(cand, n, vec, dim, o->mmr, k, pick, maxsim, taken);
    } else {
        for (int i = 0; i < k; i++) pick[i] = i;
    }
    for (int i = 0; i < k; i++) {
        g2r_result *r = &out[i];
        memset(r, 0, sizeof *r);
        r->row = cand[pick[i]].index;
        r->score = cand[pick[i]].score;
        if (o->explain) {
            g2r_catalog_vector(c, r->row, vec + n_cand * dim);
            g2r_rank_explain(p, vec + n_cand * dim, r, contrib);
        }
    }
    *n_out = k;
done:
    free(q), free(vec), free(cand), free(base), free(excl), free(pick), free(maxsim), free(taken), free(contrib);
    return st;
}

/* ---- saving */

void g2r_catalog_mark_dirty(g2r_catalog *c) { c->dirty = 1; }

g2r_status g2r_catalog_save(g2r_catalog *c, g2r_error *err) { return g2r_catalog_save_as(c, c->path, err); }

g2r_status g2r_catalog_save_as(g2r_catalog *c, const char *path, g2r_error *err) {
    g2r_index_info info;
    g2r_index_info_get(c->ix, &info);
    size_t live = g2r_catalog_live(c), n = 0;
    g2r_item *items = malloc(sizeof(g2r_item) * (live + 1));
    float *vecs = malloc(sizeof(float) * (live + 1) * (size_t)c->dim);
    if (!items || !vecs) {
        free(items), free(vecs);
        return g2r_fail(err, G2R_ENOMEM, "serve: out of memory saving the index");
    }
    for (size_t r = 0; r < c->n_base + c->n_add; r++) {
        if (c->removed[r]) continue;
        if (r < c->n_base) {
            items[n] = g2r_index_item(c->ix, r);
        } else {
            const added_item *a = &c->add[r - c->n_base];
            items[n] = (g2r_item){a->id, a->id_len, a->meta, a->meta_len, a->text_hash};
        }
        g2r_catalog_vector(c, (int64_t)r, vecs + n * (size_t)c->dim);
        n++;
    }
    const float *mean, *pcs;
    g2r_index_postproc_params(c->ix, &mean, &pcs);
    g2r_index_spec spec = {c->dim, info.dtype, info.pooling, info.fingerprint, mean, info.n_pc, pcs};
    /* the old file stays mapped (its inode lives on), so rows keep their meaning */
    g2r_status st = g2r_index_write(path, &spec, n, items, vecs, err);
    if (!st) {
        c->dirty = 0;
        n = 0;
        for (size_t r = 0; r < c->n_base + c->n_add; r++) c->file_row[r] = c->removed[r] ? -1 : (int64_t)n++;
    }
    free(items);
    free(vecs);
    return st;
}
