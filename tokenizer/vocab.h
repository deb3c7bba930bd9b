/* vocab.h — a loaded vocabulary: token bytes by id, and the two lookups BPE
 * needs (whole token by bytes; merge result by pair of ids).  Read-only once
 * built, so any number of threads may encode with it. */
#ifndef G2R_VOCAB_H
#define G2R_VOCAB_H

#include <stddef.h>
#include <stdint.h>

#include "gpt2rank.h"

#define G2R_NO_RANK UINT32_MAX

/* (left id, right id) -> the token their bytes make, and its rank. */
typedef struct {
    uint64_t key; /* left << 32 | right; UINT64_MAX when the slot is empty */
    uint32_t id;
    uint32_t rank;
} g2r_pair_slot;

struct g2r_tokenizer {
    int n_tokens;
    int eot_id;        /* <|endoftext|>, or -1 */
    char *bytes;       /* every token's bytes, back to back */
    uint32_t *off;     /* token i is bytes[off[i] .. off[i+1]) */
    uint32_t *rank;    /* merge priority of token i (lower first); G2R_NO_RANK: never merged to */
    int byte_id[256];  /* the token of each single byte */
    uint32_t *words;   /* open addressing by bytes: id + 1, 0 when empty */
    size_t words_mask;
    g2r_pair_slot *pairs;
    size_t pairs_mask;
};

/* Building a tokenizer from n_tokens, bytes and off (which t then owns), in
 * two steps: index checks that every byte has a token and builds the lookup
 * by bytes; once rank[] is filled, index_merges builds the pair table.
 * what names the source in errors. */
g2r_status g2r_vocab_index(g2r_tokenizer *t, const char *what, g2r_error *err);
g2r_status g2r_vocab_index_merges(g2r_tokenizer *t, g2r_error *err);

/* Id of the token whose bytes are s[0..n), or -1. */
int g2r_vocab_find(const g2r_tokenizer *t, const uint8_t *s, size_t n);

static inline uint64_t g2r_pair_key(uint32_t left, uint32_t right) { return (uint64_t)left << 32 | right; }
static inline size_t g2r_pair_hash(uint64_t key) { return (size_t)((key * 0x9E3779B97F4A7C15ull) >> 32); }

/* The slot for (left, right), or NULL when their bytes make no mergeable token. */
static inline const g2r_pair_slot *g2r_vocab_pair(const g2r_tokenizer *t, uint32_t left, uint32_t right) {
    uint64_t key = g2r_pair_key(left, right);
    for (size_t i = g2r_pair_hash(key) & t->pairs_mask;; i = (i + 1) & t->pairs_mask) {
        const g2r_pair_slot *s = &t->pairs[i];
        if (s->key == key) return s;
        if (s->key == UINT64_MAX) return NULL;
    }
}

#endif
