/* bpe.c — byte pair merging of one pre-token, in O(n log n).
 *
 * The pre-token starts as one part per byte, kept in a linked list.  Every
 * adjacent pair that makes a mergeable token waits in a min-heap keyed by
 * (rank, position), so the heap's top is the pair tiktoken would merge next:
 * lowest rank, leftmost on ties.  Merging a pair changes only its two
 * neighbouring pairs, which are pushed anew; entries made stale by earlier
 * merges are recognised when popped (the pair there no longer has that rank)
 * and dropped.  No rescans, so a 10 MB "word" takes seconds, not days. */
#include "tokenizer/bpe.h"

#include <stdlib.h>

#include "common/error.h"

/* Pre-tokens up to this many bytes use stack buffers; longer ones allocate. */
#define SMALL 128

typedef struct {
    int32_t *id;     /* token of the part starting at byte i; -1 once merged into its left */
    uint32_t *next;  /* start of the next part, n at the end */
    uint32_t *prev;  /* start of the previous part, UINT32_MAX at the start */
    uint64_t *heap;  /* rank << 32 | position of the pair's left part */
    size_t n_heap;
} work;

static void heap_push(work *w, uint64_t v) {
    size_t i = w->n_heap++;
    while (i > 0 && w->heap[(i - 1) / 2] > v) {
        w->heap[i] = w->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    w->heap[i] = v;
}

static uint64_t heap_pop(work *w) {
    uint64_t top = w->heap[0], v = w->heap[--w->n_heap];
    size_t i = 0, n = w->n_heap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && w->heap[c + 1] < w->heap[c]) c++;
        if (w->heap[c] >= v) break;
        w->heap[i] = w->heap[c];
        i = c;
    }
    w->heap[i] = v;
    return top;
}

/* Pushes the pair starting at part `left` if its two parts make a token. */
static void push_pair(const g2r_tokenizer *t, work *w, uint32_t left, uint32_t n) {
    uint32_t right = w->next[left];
    if (right >= n) return;
    const g2r_pair_slot *p = g2r_vocab_pair(t, (uint32_t)w->id[left], (uint32_t)w->id[right]);
    if (p) heap_push(w, (uint64_t)p->rank << 32 | left);
}

static void merge_all(const g2r_tokenizer *t, work *w, uint32_t n) {
    for (uint32_t i = 0; i < n; i++) {
        w->next[i] = i + 1;
        w->prev[i] = i - 1; /* UINT32_MAX for i == 0 */
    }
    for (uint32_t i = 0; i + 1 < n; i++) push_pair(t, w, i, n);
    while (w->n_heap) {
        uint64_t top = heap_pop(w);
        uint32_t left = (uint32_t)top, rank = (uint32_t)(top >> 32);
        if (w->id[left] < 0) continue; /* merged away */
        uint32_t right = w->next[left];
        if (right >= n) continue;
        const g2r_pair_slot *p = g2r_vocab_pair(t, (uint32_t)w->id[left], (uint32_t)w->id[right]);
        if (!p || p->rank != rank) continue; /* stale: a part changed since the push */
        w->id[left] = (int32_t)p->id;
        w->id[right] = -1;
        w->next[left] = w->next[right];
        if (w->next[right] < n) w->prev[w->next[right]] = left;
        if (w->prev[left] != UINT32_MAX) push_pair(t, w, w->prev[left], n);
        push_pair(t, w, left, n);
    }
}

g2r_status g2r_bpe(const g2r_tokenizer *t, const uint8_t *s, size_t n, g2r_sink *sink, g2r_error *err) {
    if (n == 1) {
        g2r_sink_put(sink, t->byte_id[s[0]]);
        return G2R_OK;
    }
    int whole = g2r_vocab_find(t, s, n); /* most pre-tokens are one token */
    if (whole >= 0) {
        g2r_sink_put(sink, whole);
        return G2R_OK;
    }
    if (n >= UINT32_MAX / 4) return g2r_fail(err, G2R_ERANGE, "encode: a %zu-byte word is too long", n);
    int32_t id_small[SMALL];
    uint32_t next_small[SMALL], prev_small[SMALL];
    uint64_t heap_small[2 * SMALL];
    work w = {id_small, next_small, prev_small, heap_small, 0};
    void *block = NULL;
    if (n > SMALL) {
        /* The heap holds at most n - 1 + (number of merges) < 2n entries. */
        block = malloc(n * (2 * sizeof(uint64_t) + sizeof(int32_t) + 2 * sizeof(uint32_t)));
        if (!block) return g2r_fail(err, G2R_ENOMEM, "encode: out of memory for a %zu-byte word", n);
        w.heap = block;
        w.id = (int32_t *)(w.heap + 2 * n);
        w.next = (uint32_t *)(w.id + n);
        w.prev = w.next + n;
    }
    for (size_t i = 0; i < n; i++) w.id[i] = t->byte_id[s[i]];
    merge_all(t, &w, (uint32_t)n);
    for (uint32_t i = 0; i < n; i = w.next[i]) g2r_sink_put(sink, w.id[i]);
    free(block);
    return G2R_OK;
}
