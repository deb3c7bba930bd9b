/* tokenizer.c — loading a tokenizer (built in, or from a folder) and looking at its tokens. */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "tokenizer/gpt2_vocab.h"
#include "tokenizer/vocab.h"
#include "tokenizer/vocab_files.h"

#define EOT_TEXT "<|endoftext|>"

/* Rebuilds GPT-2's token bytes from the compiled merge table: token 256+r is
 * the bytes of its two halves, both of lower id, so passes in id order do it. */
static g2r_status load_builtin(g2r_tokenizer *t, g2r_error *err) {
    const uint32_t eot_len = (uint32_t)strlen(EOT_TEXT);
    t->n_tokens = G2R_GPT2_N_VOCAB;
    t->eot_id = G2R_GPT2_EOT;
    t->off = malloc((G2R_GPT2_N_VOCAB + 1) * sizeof *t->off);
    t->rank = malloc(G2R_GPT2_N_VOCAB * sizeof *t->rank);
    if (!t->off || !t->rank) return g2r_fail(err, G2R_ENOMEM, "tokenizer: out of memory");
    /* First the offsets (a token's length is its halves' lengths), then the bytes. */
    for (int id = 0; id <= 256; id++) t->off[id] = (uint32_t)id;
    for (int r = 0; r < G2R_GPT2_N_MERGES; r++) {
        const uint16_t *m = g2r_gpt2_merges[r];
        uint32_t n = (t->off[m[0] + 1] - t->off[m[0]]) + (t->off[m[1] + 1] - t->off[m[1]]);
        t->off[256 + r + 1] = t->off[256 + r] + n;
    }
    t->off[G2R_GPT2_EOT + 1] = t->off[G2R_GPT2_EOT] + eot_len;
    t->bytes = malloc(t->off[G2R_GPT2_N_VOCAB]);
    if (!t->bytes) return g2r_fail(err, G2R_ENOMEM, "tokenizer: out of memory");
    for (int id = 0; id < 256; id++) {
        t->bytes[id] = (char)g2r_gpt2_byte_of_id[id];
        t->rank[id] = G2R_NO_RANK;
    }
    for (int r = 0; r < G2R_GPT2_N_MERGES; r++) {
        char *dst = t->bytes + t->off[256 + r];
        for (int h = 0; h < 2; h++) {
            int half = g2r_gpt2_merges[r][h];
            uint32_t n = t->off[half + 1] - t->off[half];
            memcpy(dst, t->bytes + t->off[half], n);
            dst += n;
        }
        t->rank[256 + r] = (uint32_t)r;
    }
    memcpy(t->bytes + t->off[G2R_GPT2_EOT], EOT_TEXT, eot_len);
    t->rank[G2R_GPT2_EOT] = G2R_NO_RANK;
    g2r_status st = g2r_vocab_index(t, "built-in vocabulary", err);
    return st ? st : g2r_vocab_index_merges(t, err);
}

g2r_status g2r_tokenizer_load(const char *dir, g2r_tokenizer **out, g2r_error *err) {
    if (!out) return g2r_fail(err, G2R_EARG, "tokenizer_load: out is NULL");
    *out = NULL;
    g2r_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return g2r_fail(err, G2R_ENOMEM, "tokenizer: out of memory");
    t->eot_id = -1;
    g2r_status st = dir ? g2r_vocab_load_dir(t, dir, err) : load_builtin(t, err);
    if (st) {
        g2r_tokenizer_free(t);
        return st;
    }
    *out = t;
    return G2R_OK;
}

void g2r_tokenizer_free(g2r_tokenizer *t) {
    if (!t) return;
    free(t->bytes);
    free(t->off);
    free(t->rank);
    free(t->words);
    free(t->pairs);
    free(t);
}

int g2r_tokenizer_vocab_size(const g2r_tokenizer *t) { return t->n_tokens; }

int g2r_tokenizer_eot(const g2r_tokenizer *t) { return t->eot_id; }

const char *g2r_token_bytes(const g2r_tokenizer *t, int id, size_t *len) {
    if (id < 0 || id >= t->n_tokens) return NULL;
    *len = t->off[id + 1] - t->off[id];
    return t->bytes + t->off[id];
}
