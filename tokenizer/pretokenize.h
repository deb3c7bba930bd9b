/* pretokenize.h — GPT-2's pre-tokenizer, hand-written from its pattern
 *   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
#ifndef G2R_PRETOKENIZE_H
#define G2R_PRETOKENIZE_H

#include <stddef.h>
#include <stdint.h>

/* End (exclusive) of the pre-token that starts at s[pos], pos < n: the match
 * the pattern finds there, alternatives tried in order as a regex engine does. */
size_t g2r_pretoken_end(const uint8_t *s, size_t n, size_t pos);

#endif
