/* encode.c — text to ids and back: pre-tokens, then BPE on each; special tokens on request. */
#include <string.h>

#include "common/error.h"
#include "tokenizer/bpe.h"
#include "tokenizer/pretokenize.h"

static g2r_status encode_ordinary(const g2r_tokenizer *t, const uint8_t *s, size_t n, g2r_sink *sink,
                                  g2r_error *err) {
    for (size_t pos = 0; pos < n;) {
        size_t end = g2r_pretoken_end(s, n, pos);
        g2r_status st = g2r_bpe(t, s + pos, end - pos, sink, err);
        if (st) return st;
        pos = end;
    }
    return G2R_OK;
}

g2r_status g2r_encode(const g2r_tokenizer *t, const char *text, size_t len, int flags, int *out, size_t cap,
                      size_t *n_out, g2r_error *err) {
    if (!t || !n_out || (!text && len)) return g2r_fail(err, G2R_EARG, "encode: tokenizer, text or n_out is NULL");
    g2r_sink sink = {out, out ? cap : 0, 0};
    const uint8_t *s = (const uint8_t *)text;
    size_t eot_len = 0;
    const char *eot = NULL;
    if ((flags & G2R_ENCODE_ALLOW_SPECIAL) && t->eot_id >= 0) {
        eot = t->bytes + t->off[t->eot_id];
        eot_len = t->off[t->eot_id + 1] - t->off[t->eot_id];
    }
    g2r_status st = G2R_OK;
    for (size_t pos = 0; pos < len && !st;) {
        /* Text up to the next <|endoftext|> (when allowed) is ordinary text. */
        const uint8_t *hit = eot_len ? memmem(s + pos, len - pos, eot, eot_len) : NULL;
        size_t end = hit ? (size_t)(hit - s) : len;
        st = encode_ordinary(t, s + pos, end - pos, &sink, err);
        if (hit) g2r_sink_put(&sink, t->eot_id);
        pos = hit ? end + eot_len : len;
    }
    *n_out = sink.n;
    return st;
}

g2r_status g2r_decode(const g2r_tokenizer *t, const int *ids, size_t n, char *out, size_t cap, size_t *n_out,
                      g2r_error *err) {
    if (!t || !n_out || (!ids && n)) return g2r_fail(err, G2R_EARG, "decode: tokenizer, ids or n_out is NULL");
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        int id = ids[i];
        if (id < 0 || id >= t->n_tokens)
            return g2r_fail(err, G2R_ERANGE, "decode: id %d (at position %zu) is out of range [0, %d)", id, i,
                            t->n_tokens);
        size_t len = t->off[id + 1] - t->off[id];
        if (out && total < cap) memcpy(out + total, t->bytes + t->off[id], total + len <= cap ? len : cap - total);
        total += len;
    }
    *n_out = total;
    return G2R_OK;
}
