/* round_trip.h — the tokenizer's promise on arbitrary bytes, shared by the
 * tokenizer fuzz targets: encode counts the same with or without room,
 * every id is in range, and decoding gives the text back byte for byte. */
#ifndef G2R_FUZZ_ROUND_TRIP_H
#define G2R_FUZZ_ROUND_TRIP_H

#include "tests/fuzz/fuzz.h"

static void fuzz_round_trip(const g2r_tokenizer *t, const char *text, size_t len, int flags) {
    g2r_error err = {0};
    size_t n = 0, n_count = 0;
    FUZZ_CHECK(g2r_encode(t, text, len, flags, NULL, 0, &n_count, &err) == G2R_OK);
    int *ids = malloc((n_count ? n_count : 1) * sizeof *ids);
    if (!ids) return;
    FUZZ_CHECK(g2r_encode(t, text, len, flags, ids, n_count, &n, &err) == G2R_OK);
    FUZZ_CHECK(n == n_count && n <= len);
    int vocab = g2r_tokenizer_vocab_size(t);
    for (size_t i = 0; i < n; i++) FUZZ_CHECK(ids[i] >= 0 && ids[i] < vocab);
    char *back = malloc(len + 1);
    size_t m = 0;
    if (back && n == n_count) {
        FUZZ_CHECK(g2r_decode(t, ids, n, back, len + 1, &m, &err) == G2R_OK);
        FUZZ_CHECK(m == len && !memcmp(back, text, len));
        /* a short buffer gets a prefix and the full length */
        if (len > 1) {
            FUZZ_CHECK(g2r_decode(t, ids, n, back, len / 2, &m, &err) == G2R_OK);
            FUZZ_CHECK(m == len && !memcmp(back, text, len / 2));
        }
    }
    /* a short id buffer: the first ids, and still the full count */
    if (n > 1) {
        int *few = malloc(n / 2 * sizeof *few);
        if (few) {
            FUZZ_CHECK(g2r_encode(t, text, len, flags, few, n / 2, &m, &err) == G2R_OK);
            FUZZ_CHECK(m == n && !memcmp(few, ids, n / 2 * sizeof *few));
        }
        free(few);
    }
    free(back);
    free(ids);
}

#endif
