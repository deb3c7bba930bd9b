/* eval.c — leave-one-out evaluation: hide each user's last item event, rank, check.
 *
 * Recall@K: share of users whose hidden item is in their top K (one relevant
 * item per user, so also the hit rate).  NDCG@K: 1 / log2(1 + rank) of the
 * hidden item, 0 when absent.  Coverage: distinct recommended items over the
 * catalog.  Intra-list diversity: mean over users of the mean pairwise
 * (1 - cosine) between the K recommended items. */
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/error.h"
#include "ranker/profile_internal.h"

typedef struct {
    g2r_history **h;
    size_t n, cap;
} history_list;

static g2r_status push_history(history_list *l, g2r_history *h, g2r_error *err) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        g2r_history **p = realloc(l->h, cap * sizeof *p);
        if (!p) return g2r_fail(err, G2R_ENOMEM, "eval: out of memory");
        l->h = p;
        l->cap = cap;
    }
    l->h[l->n++] = h;
    return G2R_OK;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* DIR: every *.jsonl file is one user, in name order. */
static g2r_status load_dir(const char *dir, history_list *l, g2r_error *err) {
    DIR *d = opendir(dir);
    if (!d) return g2r_fail(err, G2R_EIO, "%s: cannot open directory", dir);
    char **names = NULL;
    size_t n = 0, cap = 0;
    g2r_status st = G2R_OK;
    struct dirent *e;
    while (!st && (e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 7 || strcmp(e->d_name + len - 6, ".jsonl")) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            char **p = realloc(names, cap * sizeof *p);
            if (!p) {
                st = g2r_fail(err, G2R_ENOMEM, "eval: out of memory");
                break;
            }
            names = p;
        }
        if (!(names[n] = malloc(strlen(dir) + len + 2))) st = g2r_fail(err, G2R_ENOMEM, "eval: out of memory");
        else sprintf(names[n++], "%s/%s", dir, e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n && !st; i++) {
        g2r_history *h;
        st = g2r_history_load(names[i], 0, &h, err);
        if (!st && (st = push_history(l, h, err))) g2r_history_free(h);
    }
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    return st;
}

typedef struct {
    const g2r_event *e;
    size_t order;
} ev_ref;

static int by_ts(const void *a, const void *b) {
    const ev_ref *x = a, *y = b;
    if (x->e->ts != y->e->ts) return x->e->ts < y->e->ts ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

static int by_user_then_ts(const void *a, const void *b) {
    const ev_ref *x = a, *y = b;
    int c = strcmp(x->e->user, y->e->user);
    if (c) return c;
    if (x->e->ts != y->e->ts) return x->e->ts < y->e->ts ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

typedef struct {
    g2r_index *ix;
    g2r_model *m;
    const g2r_tokenizer *tok;
    const g2r_profile_params *pp;
    const g2r_eval_options *o;
    g2r_eval_result *res;
    unsigned char *recommended; /* per row */
    g2r_hit *hits;
    g2r_event *evs;
    float *q, *a, *b;
    int64_t *ex;
} eval_ctx;

static double list_diversity(eval_ctx *c, const g2r_hit *h, int n, int dim) {
    if (n < 2) return 0;
    double s = 0;
    int pairs = 0;
    for (int i = 0; i < n; i++) {
        g2r_index_vector(c->ix, (size_t)h[i].index, c->a);
        for (int j = i + 1; j < n; j++) {
            g2r_index_vector(c->ix, (size_t)h[j].index, c->b);
            double d = 0;
            for (int t = 0; t < dim; t++) d += (double)c->a[t] * c->b[t];
            s += 1 - d;
            pairs++;
        }
    }
    return s / pairs;
}

/* One user's events, sorted by time: hold out the last indexed item. */
static g2r_status eval_user(eval_ctx *c, const ev_ref *ev, size_t n, int dim, double *div_sum, g2r_error *err) {
    c->res->users++;
    size_t t = n;
    int64_t target = -1;
    for (size_t i = n; i-- > 0;)
        if (ev[i].e->item && (target = g2r_index_find(c->ix, ev[i].e->item, strlen(ev[i].e->item))) >= 0) {
            t = i;
            break;
        }
    if (target < 0 || t == 0) return G2R_OK;
    for (size_t i = 0; i < t; i++) c->evs[i] = *ev[i].e;
    g2r_profile *p;
    g2r_status st = g2r_profile_new(dim, c->pp, &p, err);
    if (st) return st;
    size_t skipped = 0;
    st = g2r_profile_add_events(p, c->ix, c->m, c->tok, c->evs, t, &skipped, err);
    c->res->events_skipped += skipped;
    if (st || !g2r_profile_vector(p, c->q)) {
        g2r_profile_free(p);
        return st;
    }
    size_t n_seen = 0, n_ex = 0;
    const int64_t *seen = g2r_profile_seen(p, &n_seen);
    for (size_t i = 0; c->o->exclude_seen && i < n_seen; i++)
        if (seen[i] != target) c->ex[n_ex++] = seen[i];
    int got;
    st = g2r_index_topk(c->ix, c->q, 1, c->o->k, c->ex, n_ex, c->hits, &got, err);
    g2r_profile_free(p);
    if (st) return st;
    c->res->evaluated++;
    for (int i = 0; i < got; i++) {
        c->recommended[c->hits[i].index] = 1;
        if (c->hits[i].index == target) {
            c->res->recall += 1;
            c->res->ndcg += 1 / log2(2.0 + i);
        }
    }
    *div_sum += list_diversity(c, c->hits, got, dim);
    return G2R_OK;
}

g2r_status g2r_eval(g2r_index *ix, g2r_model *m, const g2r_tokenizer *tok, const char *histories,
                    const g2r_profile_params *pp, const g2r_eval_options *o, g2r_eval_result *out, g2r_error *err) {
    memset(out, 0, sizeof *out);
    if (o->k < 1) return g2r_fail(err, G2R_EARG, "eval: k must be at least 1, got %d", o->k);
    g2r_index_info info;
    g2r_index_info_get(ix, &info);
    struct stat sb;
    if (stat(histories, &sb) != 0) return g2r_fail(err, G2R_EIO, "%s: no such file or directory", histories);
    history_list l = {0};
    g2r_status st;
    if (S_ISDIR(sb.st_mode)) {
        st = load_dir(histories, &l, err);
    } else {
        g2r_history *h;
        st = g2r_history_load(histories, 0, &h, err);
        if (!st && (st = push_history(&l, h, err))) g2r_history_free(h);
    }
    size_t total = 0;
    for (size_t i = 0; i < l.n; i++) total += g2r_history_len(l.h[i]);
    ev_ref *refs = malloc(sizeof(ev_ref) * (total + 1));
    eval_ctx c = {ix, m, tok, pp, o, out, calloc(info.count + 1, 1), malloc(sizeof(g2r_hit) * (size_t)o->k),
                  malloc(sizeof(g2r_event) * (total + 1)), malloc(sizeof(float) * (size_t)info.dim * 3), NULL, NULL,
                  malloc(sizeof(int64_t) * (total + 1))};
    if (!st && (!refs || !c.recommended || !c.hits || !c.evs || !c.q || !c.ex))
        st = g2r_fail(err, G2R_ENOMEM, "eval: out of memory");
    if (!st) {
        c.a = c.q + info.dim;
        c.b = c.a + info.dim;
    }
    double div_sum = 0;
    for (size_t hi = 0; hi < l.n && !st; hi++) {
        /* a directory's files are users; a single file is grouped by "user" */
        const g2r_event *e = g2r_history_events(l.h[hi]);
        size_t n = g2r_history_len(l.h[hi]);
        for (size_t i = 0; i < n; i++) refs[i] = (ev_ref){&e[i], i};
        qsort(refs, n, sizeof *refs, S_ISDIR(sb.st_mode) ? by_ts : by_user_then_ts);
        for (size_t s = 0; s < n && !st;) {
            size_t u = s;
            while (u < n && (S_ISDIR(sb.st_mode) || !strcmp(refs[u].e->user, refs[s].e->user))) u++;
            st = eval_user(&c, refs + s, u - s, info.dim, &div_sum, err);
            s = u;
        }
    }
    if (!st && out->evaluated) {
        out->recall /= (double)out->evaluated;
        out->ndcg /= (double)out->evaluated;
        out->diversity = div_sum / (double)out->evaluated;
    }
    size_t covered = 0;
    for (size_t r = 0; c.recommended && r < info.count; r++) covered += c.recommended[r];
    out->coverage = info.count ? (double)covered / (double)info.count : 0;
    for (size_t i = 0; i < l.n; i++) g2r_history_free(l.h[i]);
    free(l.h);
    free(refs);
    free(c.recommended);
    free(c.hits);
    free(c.evs);
    free(c.q);
    free(c.ex);
    return st;
}
