/* gpt2_vocab.h — GPT-2's vocabulary compiled into the library (gpt2_vocab.c is generated). */
#ifndef G2R_GPT2_VOCAB_H
#define G2R_GPT2_VOCAB_H

#include <stdint.h>

#define G2R_GPT2_N_MERGES 50000
#define G2R_GPT2_N_VOCAB 50257
#define G2R_GPT2_EOT 50256

/* Ids 0..255 are single bytes: id i is the byte g2r_gpt2_byte_of_id[i]. */
extern const uint8_t g2r_gpt2_byte_of_id[256];
/* Merge r joins ids merges[r][0] and merges[r][1] into id 256 + r; its rank is r. */
extern const uint16_t g2r_gpt2_merges[G2R_GPT2_N_MERGES][2];

#endif
