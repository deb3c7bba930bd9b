/* vocab.c — building a vocabulary's lookups: whole tokens by their bytes, and
 * merges by pair of ids.
 *
 * Merging follows tiktoken: two adjacent parts merge when their bytes together
 * are a mergeable token, lowest rank first.  So the pair table holds, for every
 * mergeable token, every split of its bytes into two tokens — not only the
 * split its merge rule names (GPT-2's tokens have ~108k such splits). */
#include "tokenizer/vocab.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"

/* A fast hash of a short byte string (tokens and pre-tokens are short). */
static uint64_t hash_bytes(const uint8_t *s, size_t n) {
    uint64_t h = 0x243F6A8885A308D3ull ^ n;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0x9E3779B97F4A7C15ull;
        h ^= h >> 29;
        s += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, s, n);
    h = (h ^ w) * 0x9E3779B97F4A7C15ull;
    return h ^ (h >> 32);
}

static size_t table_size(size_t n) {
    size_t size = 16;
    while (size < 2 * n) size *= 2;
    return size;
}

int g2r_vocab_find(const g2r_tokenizer *t, const uint8_t *s, size_t n) {
    for (size_t i = hash_bytes(s, n) & t->words_mask;; i = (i + 1) & t->words_mask) {
        uint32_t slot = t->words[i];
        if (!slot) return -1;
        uint32_t id = slot - 1;
        if (t->off[id + 1] - t->off[id] == n && !memcmp(t->bytes + t->off[id], s, n)) return (int)id;
    }
}

static g2r_status build_words(g2r_tokenizer *t, g2r_error *err) {
    size_t size = table_size((size_t)t->n_tokens);
    t->words = calloc(size, sizeof *t->words);
    if (!t->words) return g2r_fail(err, G2R_ENOMEM, "tokenizer: out of memory");
    t->words_mask = size - 1;
    for (int id = 0; id < t->n_tokens; id++) {
        const uint8_t *s = (const uint8_t *)t->bytes + t->off[id];
        size_t n = t->off[id + 1] - t->off[id];
        if (g2r_vocab_find(t, s, n) >= 0) continue; /* a duplicate: the first id wins */
        size_t i = hash_bytes(s, n) & t->words_mask;
        while (t->words[i]) i = (i + 1) & t->words_mask;
        t->words[i] = (uint32_t)id + 1;
    }
    return G2R_OK;
}

static void pair_insert(g2r_tokenizer *t, uint32_t left, uint32_t right, uint32_t id) {
    uint64_t key = g2r_pair_key(left, right);
    size_t i = g2r_pair_hash(key) & t->pairs_mask;
    while (t->pairs[i].key != UINT64_MAX) {
        if (t->pairs[i].key == key) return;
        i = (i + 1) & t->pairs_mask;
    }
    t->pairs[i] = (g2r_pair_slot){key, id, t->rank[id]};
}

static g2r_status build_pairs(g2r_tokenizer *t, g2r_error *err) {
    size_t n_splits = 0;
    for (int id = 0; id < t->n_tokens; id++)
        if (t->rank[id] != G2R_NO_RANK && t->off[id + 1] - t->off[id] >= 2) n_splits += t->off[id + 1] - t->off[id] - 1;
    size_t size = table_size(n_splits);
    t->pairs = malloc(size * sizeof *t->pairs);
    if (!t->pairs) return g2r_fail(err, G2R_ENOMEM, "tokenizer: out of memory");
    memset(t->pairs, 0xFF, size * sizeof *t->pairs);
    t->pairs_mask = size - 1;
    for (int id = 0; id < t->n_tokens; id++) {
        if (t->rank[id] == G2R_NO_RANK) continue;
        const uint8_t *s = (const uint8_t *)t->bytes + t->off[id];
        size_t n = t->off[id + 1] - t->off[id];
        for (size_t k = 1; k < n; k++) {
            int left = g2r_vocab_find(t, s, k), right = g2r_vocab_find(t, s + k, n - k);
            if (left >= 0 && right >= 0) pair_insert(t, (uint32_t)left, (uint32_t)right, (uint32_t)id);
        }
    }
    return G2R_OK;
}

g2r_status g2r_vocab_index(g2r_tokenizer *t, const char *what, g2r_error *err) {
    for (int b = 0; b < 256; b++) t->byte_id[b] = -1;
    for (int id = 0; id < t->n_tokens; id++)
        if (t->off[id + 1] - t->off[id] == 1) {
            uint8_t b = (uint8_t)t->bytes[t->off[id]];
            if (t->byte_id[b] < 0) t->byte_id[b] = id;
        }
    for (int b = 0; b < 256; b++)
        if (t->byte_id[b] < 0) return g2r_fail(err, G2R_EFORMAT, "%s: no token for byte 0x%02x", what, b);
    return build_words(t, err);
}

g2r_status g2r_vocab_index_merges(g2r_tokenizer *t, g2r_error *err) { return build_pairs(t, err); }
