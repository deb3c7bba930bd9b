/* profile.c — a user's taste as a decayed, weighted sum of event embeddings.
 *
 * The sum is kept relative to the newest event time t_ref: an event at ts
 * adds type_weight * weight * 2^(-(t_ref - ts) / half_life) times its vector,
 * and a newer event first scales the whole sum by 2^(-(ts - t_ref) / half_life).
 * So each event costs O(dim), in any order, and the result equals the batch
 * formula with t_ref = the newest event.  The most recent events are kept
 * (fixed-size copies, no allocation) to explain results. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "ranker/profile_internal.h"

#define TEXT_KEEP 256

typedef struct {
    char type[32], item[128], text[TEXT_KEEP];
    int has_item;
    double ts, w; /* w: type weight x event weight, before decay */
} kept_event;

struct g2r_profile {
    int dim;
    g2r_profile_params prm;
    double *sum;
    double t_ref;
    size_t n_events;
    kept_event *kept; /* ring of up to prm.keep_events, grown on demand */
    float *kept_vec;
    int n_kept, head, cap_kept;
    int64_t *seen;    /* sorted unique item rows */
    size_t n_seen, cap_seen;
};

void g2r_profile_params_default(g2r_profile_params *p) {
    memset(p, 0, sizeof *p);
    const char *names[] = {"view", "search", "cart", "purchase"};
    const double w[] = {1, 1.5, 2, 3};
    for (int i = 0; i < 4; i++) {
        snprintf(p->types[i].type, sizeof p->types[i].type, "%s", names[i]);
        p->types[i].weight = w[i];
    }
    p->n_types = 4;
    p->other_weight = 1;
    p->half_life_s = 7 * 86400;
    p->keep_events = 64;
}

double g2r_event_type_weight(const g2r_profile_params *p, const char *type) {
    for (int i = 0; i < p->n_types; i++)
        if (!strcmp(p->types[i].type, type)) return p->types[i].weight;
    return p->other_weight;
}

g2r_status g2r_profile_params_weights(g2r_profile_params *p, const char *spec, g2r_error *err) {
    const char *s = spec;
    while (*s) {
        const char *eq = strchr(s, '='), *end = strchr(s, ',');
        if (!end) end = s + strlen(s);
        if (!eq || eq > end || eq == s || eq - s >= (long)sizeof p->types[0].type)
            return g2r_fail(err, G2R_EARG, "weights: expected TYPE=NUMBER[,...], got '%s'", spec);
        char num[64];
        size_t nl = (size_t)(end - eq - 1);
        if (nl == 0 || nl >= sizeof num) return g2r_fail(err, G2R_EARG, "weights: bad number in '%s'", spec);
        memcpy(num, eq + 1, nl);
        num[nl] = 0;
        char *ep;
        double w = strtod(num, &ep);
        if (*ep || !isfinite(w) || w < 0) return g2r_fail(err, G2R_EARG, "weights: bad number '%s' in '%s'", num, spec);
        char type[32];
        memcpy(type, s, (size_t)(eq - s));
        type[eq - s] = 0;
        int i = 0;
        while (i < p->n_types && strcmp(p->types[i].type, type)) i++;
        if (i == G2R_MAX_EVENT_TYPES) return g2r_fail(err, G2R_EARG, "weights: more than %d event types", G2R_MAX_EVENT_TYPES);
        if (i == p->n_types) p->n_types++;
        memcpy(p->types[i].type, type, sizeof type);
        p->types[i].weight = w;
        s = *end ? end + 1 : end;
    }
    return G2R_OK;
}

int g2r_profile_dim(const g2r_profile *p) { return p->dim; }

g2r_status g2r_profile_new(int dim, const g2r_profile_params *prm, g2r_profile **out, g2r_error *err) {
    *out = NULL;
    if (dim < 1) return g2r_fail(err, G2R_EARG, "profile: dim must be at least 1");
    g2r_profile *p = calloc(1, sizeof *p);
    if (!p) return g2r_fail(err, G2R_ENOMEM, "profile: out of memory");
    p->dim = dim;
    if (prm) p->prm = *prm;
    else g2r_profile_params_default(&p->prm);
    if (p->prm.keep_events < 0) p->prm.keep_events = 0;
    p->sum = calloc((size_t)dim, sizeof(double));
    if (!p->sum) {
        g2r_profile_free(p);
        return g2r_fail(err, G2R_ENOMEM, "profile: out of memory");
    }
    *out = p;
    return G2R_OK;
}

void g2r_profile_free(g2r_profile *p) {
    if (!p) return;
    free(p->sum);
    free(p->kept);
    free(p->kept_vec);
    free(p->seen);
    free(p);
}

size_t g2r_profile_n_events(const g2r_profile *p) { return p->n_events; }

static double decay(const g2r_profile *p, double age_s) {
    return p->prm.half_life_s > 0 ? exp2(-age_s / p->prm.half_life_s) : 1.0;
}

static g2r_status add_seen(g2r_profile *p, int64_t row, g2r_error *err) {
    size_t lo = 0, hi = p->n_seen;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (p->seen[mid] < row) lo = mid + 1;
        else hi = mid;
    }
    if (lo < p->n_seen && p->seen[lo] == row) return G2R_OK;
    if (p->n_seen == p->cap_seen) {
        size_t cap = p->cap_seen ? 2 * p->cap_seen : 16;
        int64_t *s = realloc(p->seen, cap * sizeof *s);
        if (!s) return g2r_fail(err, G2R_ENOMEM, "profile: out of memory");
        p->seen = s;
        p->cap_seen = cap;
    }
    memmove(p->seen + lo + 1, p->seen + lo, (p->n_seen - lo) * sizeof *p->seen);
    p->seen[lo] = row;
    p->n_seen++;
    return G2R_OK;
}

/* Copies at most cap-1 bytes of s, cut at a UTF-8 character boundary. */
static void copy_cut(char *dst, size_t cap, const char *s, size_t n) {
    if (n >= cap) {
        n = cap - 1;
        while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80) n--;
    }
    memcpy(dst, s, n);
    dst[n] = 0;
}

g2r_status g2r_profile_add(g2r_profile *p, const g2r_event *ev, const float *vec, int64_t item_row, g2r_error *err) {
    if (!isfinite(ev->ts) || !(ev->weight >= 0)) return g2r_fail(err, G2R_EARG, "profile: bad event time or weight");
    double w = g2r_event_type_weight(&p->prm, ev->type) * ev->weight;
    if (p->n_events == 0) p->t_ref = ev->ts;
    if (ev->ts > p->t_ref) {
        double f = decay(p, ev->ts - p->t_ref);
        for (int d = 0; d < p->dim; d++) p->sum[d] *= f;
        p->t_ref = ev->ts;
    }
    double wd = w * decay(p, p->t_ref - ev->ts);
    for (int d = 0; d < p->dim; d++) p->sum[d] += wd * vec[d];
    p->n_events++;
    if (item_row >= 0) {
        g2r_status st = add_seen(p, item_row, err);
        if (st) return st;
    }
    if (p->prm.keep_events > 0 && p->n_kept == p->cap_kept && p->cap_kept < p->prm.keep_events) {
        /* grows only before the ring first wraps, so its order is kept */
        int cap = p->cap_kept ? 2 * p->cap_kept : 4;
        if (cap > p->prm.keep_events) cap = p->prm.keep_events;
        kept_event *k = realloc(p->kept, sizeof(kept_event) * (size_t)cap);
        if (k) p->kept = k;
        float *v = k ? realloc(p->kept_vec, sizeof(float) * (size_t)cap * p->dim) : NULL;
        if (v) p->kept_vec = v;
        if (!k || !v) return g2r_fail(err, G2R_ENOMEM, "profile: out of memory");
        p->cap_kept = cap;
        p->head = p->n_kept; /* the full, unwrapped ring continues after its newest event */
    }
    if (p->prm.keep_events > 0) {
        kept_event *k = &p->kept[p->head];
        copy_cut(k->type, sizeof k->type, ev->type, strlen(ev->type));
        copy_cut(k->text, sizeof k->text, ev->text, ev->text_len);
        k->has_item = ev->item != NULL;
        copy_cut(k->item, sizeof k->item, ev->item ? ev->item : "", ev->item ? strlen(ev->item) : 0);
        k->ts = ev->ts;
        k->w = w;
        memcpy(p->kept_vec + (size_t)p->head * p->dim, vec, sizeof(float) * (size_t)p->dim);
        p->head = (p->head + 1) % p->cap_kept;
        if (p->n_kept < p->cap_kept) p->n_kept++;
    }
    return G2R_OK;
}

static double sum_norm(const g2r_profile *p) {
    double ss = 0;
    for (int d = 0; d < p->dim; d++) ss += p->sum[d] * p->sum[d];
    return sqrt(ss);
}

int g2r_profile_vector(const g2r_profile *p, float *out) {
    double n = sum_norm(p);
    for (int d = 0; d < p->dim; d++) out[d] = n > 0 ? (float)(p->sum[d] / n) : 0.0f;
    return n > 0;
}

/* ---- for rank.c: seen rows and explanations */

const int64_t *g2r_profile_seen(const g2r_profile *p, size_t *n) {
    *n = p->n_seen;
    return p->seen;
}

/* Contribution of each kept event to cosine(profile, x):
 * w_i * decay_i * (v_i . x) / |sum|; the contributions of all events add up
 * to the score.  Writes n_kept values; returns n_kept. */
int g2r_profile_contributions(const g2r_profile *p, const float *x, float *out) {
    double n = sum_norm(p);
    for (int i = 0; i < p->n_kept; i++) {
        const float *v = p->kept_vec + (size_t)i * p->dim;
        double dot = 0;
        for (int d = 0; d < p->dim; d++) dot += (double)v[d] * x[d];
        out[i] = n > 0 ? (float)(p->kept[i].w * decay(p, p->t_ref - p->kept[i].ts) * dot / n) : 0.0f;
    }
    return p->n_kept;
}

void g2r_profile_kept(const g2r_profile *p, int i, const char **type, const char **text, const char **item) {
    *type = p->kept[i].type;
    *text = p->kept[i].text;
    *item = p->kept[i].has_item ? p->kept[i].item : NULL;
}

int g2r_profile_kept_max(const g2r_profile *p) { return p->prm.keep_events; }

/* ---- snapshots, for the serve loop's restarts (ranker/serve_state.c)
 *
 * Host byte order (a snapshot is read back by the same build): dim, the
 * ring's bound, n_kept, head, n_events, t_ref, sum[dim], the n_kept filled
 * ring slots (always the first ones) with their vectors, then the seen rows, each mapped through row_map (dropped when
 * it maps to -1; the map must keep the order of the rows it keeps). */

static int put(FILE *f, const void *p, size_t n) { return fwrite(p, 1, n, f) == n ? 0 : -1; }
static int get(FILE *f, void *p, size_t n) { return fread(p, 1, n, f) == n ? 0 : -1; }

int g2r_profile_write(const g2r_profile *p, FILE *f, int64_t (*row_map)(void *user, int64_t row), void *user) {
    uint64_t n_events = p->n_events, n_seen = 0;
    int32_t hdr[4] = {p->dim, p->prm.keep_events, p->n_kept, p->head};
    size_t ring = (size_t)p->n_kept;
    if (put(f, hdr, sizeof hdr) || put(f, &n_events, sizeof n_events) || put(f, &p->t_ref, sizeof p->t_ref) ||
        put(f, p->sum, sizeof(double) * (size_t)p->dim))
        return -1;
    for (size_t i = 0; i < ring; i++) { /* a clean copy: no stale bytes after the strings or in padding */
        const kept_event *k = &p->kept[i];
        kept_event c;
        memset(&c, 0, sizeof c);
        memcpy(c.type, k->type, strlen(k->type)); /* each is NUL-terminated within its array */
        memcpy(c.item, k->item, strlen(k->item));
        memcpy(c.text, k->text, strlen(k->text));
        c.has_item = k->has_item, c.ts = k->ts, c.w = k->w;
        if (put(f, &c, sizeof c)) return -1;
    }
    if (put(f, p->kept_vec, sizeof(float) * ring * (size_t)p->dim)) return -1;
    for (size_t i = 0; i < p->n_seen; i++) n_seen += row_map(user, p->seen[i]) >= 0;
    if (put(f, &n_seen, sizeof n_seen)) return -1;
    for (size_t i = 0; i < p->n_seen; i++) {
        int64_t r = row_map(user, p->seen[i]);
        if (r >= 0 && put(f, &r, sizeof r)) return -1;
    }
    return 0;
}

g2r_status g2r_profile_read(int dim, const g2r_profile_params *prm, FILE *f, g2r_profile **out, g2r_error *err) {
    g2r_profile *p = NULL;
    g2r_status st = g2r_profile_new(dim, prm, &p, err);
    if (st) return st;
    int32_t hdr[4];
    uint64_t n_events, n_seen = 0;
    int bad = get(f, hdr, sizeof hdr) || hdr[0] != dim || hdr[1] != p->prm.keep_events || hdr[2] < 0 ||
              hdr[2] > hdr[1] || hdr[3] < 0 || hdr[3] > (hdr[1] > 0 ? hdr[1] - 1 : 0);
    size_t ring = bad ? 0 : (size_t)hdr[2];
    if (!bad && ring > 0) { /* the ring restarts at its size: it grows again on demand */
        p->kept = malloc(sizeof(kept_event) * ring);
        p->kept_vec = malloc(sizeof(float) * ring * (size_t)dim);
        if (!p->kept || !p->kept_vec) {
            g2r_profile_free(p);
            return g2r_fail(err, G2R_ENOMEM, "profile: out of memory");
        }
        p->cap_kept = (int)ring;
    }
    bad = bad || get(f, &n_events, sizeof n_events) || get(f, &p->t_ref, sizeof p->t_ref) ||
              get(f, p->sum, sizeof(double) * (size_t)dim) || get(f, p->kept, sizeof(kept_event) * ring) ||
              get(f, p->kept_vec, sizeof(float) * ring * (size_t)dim) || get(f, &n_seen, sizeof n_seen) ||
              n_seen > ((uint64_t)1 << 40);
    if (!bad) {
        p->n_events = (size_t)n_events;
        p->n_kept = hdr[2];
        p->head = p->n_kept ? hdr[3] % p->n_kept : 0; /* unwrapped: 0, the next add grows the ring */
        for (size_t k = 0; k < ring; k++) { /* strings stay terminated whatever the bytes */
            kept_event *e = &p->kept[k];
            e->type[sizeof e->type - 1] = e->item[sizeof e->item - 1] = e->text[sizeof e->text - 1] = 0;
        }
        for (uint64_t i = 0; !bad && i < n_seen; i++) {
            int64_t r;
            bad = get(f, &r, sizeof r) || r < 0 || (p->n_seen && r <= p->seen[p->n_seen - 1]) || add_seen(p, r, err);
        }
    }
    if (bad) {
        g2r_profile_free(p);
        return g2r_fail(err, G2R_EFORMAT, "profile snapshot: truncated or not written with these parameters");
    }
    *out = p;
    return G2R_OK;
}
