/* fuzz_tokenize.c — GPT-2's built-in tokenizer on arbitrary bytes: encode
 * (with and without <|endoftext|> allowed) and decode round trip exactly
 * (tests/fuzz/round_trip.h); the same bytes read as ids decode or are refused
 * with G2R_ERANGE naming the id. */
#include "tests/fuzz/round_trip.h"

static g2r_status fuzz_tokenize(const uint8_t *data, size_t size) {
    static g2r_tokenizer *t;
    g2r_error err = {0};
    if (!t && g2r_tokenizer_load(NULL, &t, &err)) {
        FUZZ_CHECK(0);
        return err.status;
    }
    /* a copy of exactly size bytes, so reading past the end is caught */
    char *text = malloc(size ? size : 1);
    if (!text) return G2R_ENOMEM;
    memcpy(text, data, size);
    fuzz_round_trip(t, text, size, 0);
    fuzz_round_trip(t, text, size, G2R_ENCODE_ALLOW_SPECIAL);

    size_t n_ids = size / 4, n = 0;
    int *ids = malloc((n_ids ? n_ids : 1) * sizeof *ids);
    char out[64];
    g2r_status s = G2R_OK;
    if (ids) {
        int bad = -1;
        for (size_t i = 0; i < n_ids; i++) {
            memcpy(&ids[i], data + 4 * i, 4);
            if (ids[i] < 0 || ids[i] >= g2r_tokenizer_vocab_size(t)) bad = bad < 0 ? (int)i : bad;
        }
        s = g2r_decode(t, ids, n_ids, out, sizeof out, &n, &err);
        FUZZ_CHECK((s == G2R_OK) == (bad < 0));
        if (s) {
            char id[16];
            snprintf(id, sizeof id, "%d", ids[bad]);
            FUZZ_CHECK(s == G2R_ERANGE && strstr(err.msg, id));
        }
    }
    free(ids);
    free(text);
    return s;
}

FUZZ_MAIN(fuzz_tokenize)
