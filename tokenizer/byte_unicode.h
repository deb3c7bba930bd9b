/* byte_unicode.h — GPT-2's bytes_to_unicode: how vocabulary files spell bytes.
 *
 * encoder.json, vocab.json, merges.txt and tokenizer.json write each token's
 * bytes as printable characters: bytes ! .. ~, ¡ .. ¬ and ® .. ÿ stand for
 * themselves, and the other 68 bytes, in order, for U+0100 .. U+0143. */
#ifndef G2R_BYTE_UNICODE_H
#define G2R_BYTE_UNICODE_H

#include <stddef.h>
#include <stdint.h>

/* The code point that stands for byte b. */
uint32_t g2r_byte_to_cp(uint8_t b);
/* The byte code point cp stands for, or -1 if it stands for none. */
int g2r_cp_to_byte(uint32_t cp);

/* Converts a vocabulary spelling s[0..n) (UTF-8) to the bytes it stands for,
 * written to out (at least n bytes); returns their count, or -1 when a
 * character stands for no byte. */
long g2r_spelling_to_bytes(const char *s, size_t n, char *out);

#endif
