/* gpt2_tensors.c — GPT-2's tensor names, shapes and roles, in one place. */
#include "weights/gpt2_tensors.h"

#include <stdio.h>

#define PER_LAYER 12

size_t g2r_gpt2_tensor_count(int n_layer) { return 4 + (size_t)n_layer * PER_LAYER; }

static g2r_gpt2_tensor *add(g2r_gpt2_tensor *t, const char *name, int layer, g2r_gpt2_role role, int rows,
                            int cols, const g2r_matrix *m, const float *v) {
    if (layer >= 0) snprintf(t->name, sizeof t->name, "h.%d.%s", layer, name);
    else snprintf(t->name, sizeof t->name, "%s", name);
    t->role = role;
    t->rows = rows;
    t->cols = cols;
    t->m = m;
    t->v = v;
    return t + 1;
}

/* w may be NULL (names and shapes only). */
static void list(const g2r_config *cfg, const g2r_gpt2_weights *w, g2r_gpt2_tensor *t) {
    int C = cfg->n_embd;
    t = add(t, "wte.weight", -1, G2R_ROLE_WTE, cfg->n_vocab, C, w ? &w->wte : NULL, NULL);
    t = add(t, "wpe.weight", -1, G2R_ROLE_WPE, cfg->n_ctx, C, NULL, w ? w->wpe : NULL);
    for (int i = 0; i < cfg->n_layer; i++) {
        const g2r_layer_weights *L = w ? &w->layers[i] : NULL;
        t = add(t, "ln_1.weight", i, G2R_ROLE_LN_GAIN, C, 0, NULL, L ? L->ln_1_w : NULL);
        t = add(t, "ln_1.bias", i, G2R_ROLE_BIAS, C, 0, NULL, L ? L->ln_1_b : NULL);
        t = add(t, "attn.c_attn.weight", i, G2R_ROLE_MATRIX, C, 3 * C, L ? &L->c_attn : NULL, NULL);
        t = add(t, "attn.c_attn.bias", i, G2R_ROLE_BIAS, 3 * C, 0, NULL, L ? L->c_attn_b : NULL);
        t = add(t, "attn.c_proj.weight", i, G2R_ROLE_MATRIX, C, C, L ? &L->attn_proj : NULL, NULL);
        t = add(t, "attn.c_proj.bias", i, G2R_ROLE_BIAS, C, 0, NULL, L ? L->attn_proj_b : NULL);
        t = add(t, "ln_2.weight", i, G2R_ROLE_LN_GAIN, C, 0, NULL, L ? L->ln_2_w : NULL);
        t = add(t, "ln_2.bias", i, G2R_ROLE_BIAS, C, 0, NULL, L ? L->ln_2_b : NULL);
        t = add(t, "mlp.c_fc.weight", i, G2R_ROLE_MATRIX, C, 4 * C, L ? &L->fc : NULL, NULL);
        t = add(t, "mlp.c_fc.bias", i, G2R_ROLE_BIAS, 4 * C, 0, NULL, L ? L->fc_b : NULL);
        t = add(t, "mlp.c_proj.weight", i, G2R_ROLE_MATRIX, 4 * C, C, L ? &L->mlp_proj : NULL, NULL);
        t = add(t, "mlp.c_proj.bias", i, G2R_ROLE_BIAS, C, 0, NULL, L ? L->mlp_proj_b : NULL);
    }
    t = add(t, "ln_f.weight", -1, G2R_ROLE_LN_GAIN, C, 0, NULL, w ? w->ln_f_w : NULL);
    add(t, "ln_f.bias", -1, G2R_ROLE_BIAS, C, 0, NULL, w ? w->ln_f_b : NULL);
}

void g2r_gpt2_tensor_list(const g2r_config *cfg, g2r_gpt2_tensor *out) { list(cfg, NULL, out); }

void g2r_gpt2_tensors_bind(const g2r_gpt2_weights *w, g2r_gpt2_tensor *out) { list(&w->cfg, w, out); }
