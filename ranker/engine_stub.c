/* engine_stub.c — TEMPORARY: stands in for the tokenizer until it lands on
 * main (remove on merge). */
#include "common/error.h"

g2r_status g2r_encode(const g2r_tokenizer *t, const char *text, size_t len, int flags, int *out, size_t cap,
                      size_t *n_out, g2r_error *err) {
    (void)t, (void)text, (void)len, (void)flags, (void)out, (void)cap, (void)n_out;
    return g2r_fail(err, G2R_EARG, "tokenizer not built yet");
}
g2r_status g2r_tokenizer_load(const char *dir, g2r_tokenizer **out, g2r_error *err) {
    (void)dir;
    *out = NULL;
    return g2r_fail(err, G2R_EARG, "tokenizer not built yet");
}
void g2r_tokenizer_free(g2r_tokenizer *t) { (void)t; }
