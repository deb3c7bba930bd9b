/* engine_stub.c — TEMPORARY: stands in for the engine and tokenizer until they
 * land on main (remove on merge). */
#include "common/error.h"

g2r_config g2r_model_config(const g2r_model *m) {
    (void)m;
    return (g2r_config){0, 0, 0, 0, 0};
}
void g2r_model_info_get(const g2r_model *m, g2r_model_info *out) {
    (void)m;
    *out = (g2r_model_info){0};
}
g2r_status g2r_encode(const g2r_tokenizer *t, const char *text, size_t len, int flags, int *out, size_t cap,
                      size_t *n_out, g2r_error *err) {
    (void)t, (void)text, (void)len, (void)flags, (void)out, (void)cap, (void)n_out;
    return g2r_fail(err, G2R_EARG, "tokenizer not built yet");
}
g2r_status g2r_embed(g2r_model *m, int n, const int *const *ids, const int *lens, g2r_pooling pool, float *out,
                     g2r_error *err) {
    (void)m, (void)n, (void)ids, (void)lens, (void)pool, (void)out;
    return g2r_fail(err, G2R_EARG, "engine not built yet");
}
g2r_status g2r_model_load(const char *path, const g2r_options *opt, g2r_model **out, g2r_error *err) {
    (void)opt;
    *out = NULL;
    return g2r_fail(err, G2R_EARG, "%s: engine not built yet", path);
}
void g2r_model_free(g2r_model *m) { (void)m; }
g2r_status g2r_tokenizer_load(const char *dir, g2r_tokenizer **out, g2r_error *err) {
    (void)dir;
    *out = NULL;
    return g2r_fail(err, G2R_EARG, "tokenizer not built yet");
}
void g2r_tokenizer_free(g2r_tokenizer *t) { (void)t; }
