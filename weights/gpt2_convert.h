/* gpt2_convert.h — rewrite a GPT-2 file with its weight matrices in another
 * dtype (`gpt2rank convert`). */
#ifndef G2R_GPT2_CONVERT_H
#define G2R_GPT2_CONVERT_H

#include "gpt2rank.h"
#include "kernels/kernels.h"

/* Loads in (any supported dtype, n_head_override as g2r_gpt2_weights_load)
 * and writes out atomically with Hugging Face names: the weight matrices and
 * wte in dtype, every other tensor float32.  __metadata__: format "pt",
 * n_head, and for Q8 q8_group and q8_layout.
 *
 * Q8: symmetric int8, one float32 scale per group of `group` values along the
 * dimension a product reduces over (kernels.h's g2r_q8_layout).  wte [vocab,
 * C] becomes I8 "wte.weight" plus F32 "wte.weight_scale" [vocab, C/group].  A
 * Conv1D weight "NAME" [in, out] is written by `layout`:
 *   G2R_Q8_GROUP_COLS ("cols"): transposed, I8 [out, in], "NAME_scale" [out, in/group],
 *     so batch-1 decode reads each output's weights as one run (what
 *     `gpt2rank convert` writes);
 *   G2R_Q8_GROUP_ROWS ("rows"): as stored, I8 [in, out], "NAME_scale" [in/group, out].
 * Both give the same products, bit for bit.  scale = max |w| / 127 over the
 * group, q = round(w / scale), so each value comes back within scale/2.
 * group must divide n_embd.  Other dtypes ignore layout and write [in, out]. */
g2r_status g2r_gpt2_convert(const char *in, const char *out, g2r_dtype dtype, int group, g2r_q8_layout layout,
                            int n_head_override, g2r_error *err);

#endif
