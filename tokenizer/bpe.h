/* bpe.h — byte pair merging of one pre-token, and where the ids go. */
#ifndef G2R_BPE_H
#define G2R_BPE_H

#include <stddef.h>
#include <stdint.h>

#include "tokenizer/vocab.h"

/* Ids are counted always and stored while there is room (out may be NULL). */
typedef struct {
    int *out;
    size_t cap, n;
} g2r_sink;

static inline void g2r_sink_put(g2r_sink *s, int id) {
    if (s->n < s->cap) s->out[s->n] = id;
    s->n++;
}

/* Appends the ids of the pre-token s[0..n), n > 0, to sink. */
g2r_status g2r_bpe(const g2r_tokenizer *t, const uint8_t *s, size_t n, g2r_sink *sink, g2r_error *err);

#endif
