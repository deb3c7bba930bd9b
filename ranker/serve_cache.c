/* serve_cache.c — an LRU cache of event embeddings keyed by a hash of the text.
 *
 * All memory is allocated once: cap entries in a doubly linked recency list
 * (most recent at the front) and a chained hash table of 2 x cap buckets.
 * Lookups and inserts cost O(1) and never allocate. */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "ranker/serve.h"

typedef struct {
    uint64_t key;
    int prev, next; /* recency list; -1 ends */
    int chain;      /* next entry in the same bucket; -1 ends */
} entry;

struct g2r_ecache {
    int dim;
    size_t cap, len;
    entry *e;
    float *vec;     /* [cap][dim] */
    int *bucket;    /* [n_bucket] first entry, -1 when empty */
    size_t n_bucket;
    int front, back;
};

g2r_status g2r_ecache_new(int dim, size_t bytes, g2r_ecache **out, g2r_error *err) {
    *out = NULL;
    size_t per = (size_t)dim * sizeof(float) + sizeof(entry) + 2 * sizeof(int);
    size_t cap = bytes / per;
    if (cap < 1) cap = 1;
    if (cap > (1u << 30)) cap = 1u << 30;
    g2r_ecache *c = calloc(1, sizeof *c);
    if (c) {
        c->dim = dim;
        c->cap = cap;
        c->n_bucket = 2 * cap;
        c->e = malloc(cap * sizeof *c->e);
        c->vec = malloc(cap * (size_t)dim * sizeof(float));
        c->bucket = malloc(c->n_bucket * sizeof *c->bucket);
        c->front = c->back = -1;
    }
    if (!c || !c->e || !c->vec || !c->bucket) {
        g2r_ecache_free(c);
        return g2r_fail(err, G2R_ENOMEM, "serve: out of memory for an embedding cache of %zu entries", cap);
    }
    for (size_t b = 0; b < c->n_bucket; b++) c->bucket[b] = -1;
    *out = c;
    return G2R_OK;
}

void g2r_ecache_free(g2r_ecache *c) {
    if (!c) return;
    free(c->e);
    free(c->vec);
    free(c->bucket);
    free(c);
}

size_t g2r_ecache_len(const g2r_ecache *c) { return c->len; }
size_t g2r_ecache_cap(const g2r_ecache *c) { return c->cap; }

static int find(const g2r_ecache *c, uint64_t key) {
    for (int i = c->bucket[key % c->n_bucket]; i >= 0; i = c->e[i].chain)
        if (c->e[i].key == key) return i;
    return -1;
}

static void unlink_lru(g2r_ecache *c, int i) {
    entry *x = &c->e[i];
    if (x->prev >= 0) c->e[x->prev].next = x->next;
    else c->front = x->next;
    if (x->next >= 0) c->e[x->next].prev = x->prev;
    else c->back = x->prev;
}

static void push_front(g2r_ecache *c, int i) {
    c->e[i].prev = -1;
    c->e[i].next = c->front;
    if (c->front >= 0) c->e[c->front].prev = i;
    c->front = i;
    if (c->back < 0) c->back = i;
}

static void unlink_bucket(g2r_ecache *c, int i) {
    int *p = &c->bucket[c->e[i].key % c->n_bucket];
    while (*p != i) p = &c->e[*p].chain;
    *p = c->e[i].chain;
}

int g2r_ecache_get(g2r_ecache *c, uint64_t key, float *out) {
    int i = find(c, key);
    if (i < 0) return 0;
    unlink_lru(c, i);
    push_front(c, i);
    memcpy(out, c->vec + (size_t)i * c->dim, sizeof(float) * (size_t)c->dim);
    return 1;
}

void g2r_ecache_put(g2r_ecache *c, uint64_t key, const float *vec) {
    int i = find(c, key);
    if (i >= 0) {
        unlink_lru(c, i);
    } else if (c->len < c->cap) {
        i = (int)c->len++;
    } else {
        i = c->back; /* evict the least recently used */
        unlink_lru(c, i);
        unlink_bucket(c, i);
    }
    if (find(c, key) != i) {
        c->e[i].key = key;
        size_t b = key % c->n_bucket;
        c->e[i].chain = c->bucket[b];
        c->bucket[b] = i;
    }
    push_front(c, i);
    memcpy(c->vec + (size_t)i * c->dim, vec, sizeof(float) * (size_t)c->dim);
}

void g2r_ecache_each(const g2r_ecache *c, void (*fn)(void *user, uint64_t key, const float *vec), void *user) {
    for (int j = c->back; j >= 0; j = c->e[j].prev) fn(user, c->e[j].key, c->vec + (size_t)j * c->dim);
}
