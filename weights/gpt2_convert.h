/* gpt2_convert.h — rewrite a GPT-2 file with its weight matrices in another
 * dtype (`gpt2rank convert`). */
#ifndef G2R_GPT2_CONVERT_H
#define G2R_GPT2_CONVERT_H

#include "gpt2rank.h"
#include "kernels/kernels.h"

/* Loads in (any supported dtype, n_head_override as g2r_gpt2_weights_load)
 * and writes out atomically with Hugging Face names: the weight matrices and
 * wte in dtype, every other tensor float32.  __metadata__: format "pt",
 * n_head, and for Q8 q8_group.
 *
 * Q8: symmetric int8, one float32 scale per group of `group` values along the
 * dimension a product reduces over (kernels.h's g2r_q8_layout): a Conv1D
 * weight [rows, cols] "NAME" becomes I8 "NAME" plus F32 "NAME_scale"
 * [rows/group, cols]; wte [vocab, C] gets "wte.weight_scale" [vocab, C/group].
 * scale = max |w| / 127 over the group, q = round(w / scale), so each value
 * comes back within scale/2.  group must divide n_embd. */
g2r_status g2r_gpt2_convert(const char *in, const char *out, g2r_dtype dtype, int group, int n_head_override,
                            g2r_error *err);

#endif
