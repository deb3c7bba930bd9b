/* unicode.h — reading UTF-8 and classifying code points for the pre-tokenizer. */
#ifndef G2R_UNICODE_H
#define G2R_UNICODE_H

#include <stddef.h>
#include <stdint.h>

/* The classes GPT-2's pattern tells apart.  Anything not Letter, Number or
 * White_Space (including unassigned code points and invalid bytes) is OTHER. */
enum { G2R_CP_OTHER = 0, G2R_CP_LETTER = 1, G2R_CP_NUMBER = 2, G2R_CP_SPACE = 3 };

typedef struct {
    uint32_t lo, hi; /* inclusive */
    uint8_t cls;
} g2r_cp_range;

/* Sorted, non-overlapping; generated into unicode_tables.c. */
extern const g2r_cp_range g2r_cp_ranges[];
extern const int g2r_cp_n_ranges;

/* Class of a code point (binary search over g2r_cp_ranges). */
int g2r_cp_class(uint32_t cp);

/* Length (1..4) of the well-formed UTF-8 character at s[0..n), n > 0, with its
 * code point in *cp; or 1 with *cp = G2R_CP_INVALID when s[0] does not begin a
 * well-formed sequence (Unicode's Table 3-7). */
#define G2R_CP_INVALID 0xFFFFFFFFu
int g2r_utf8_next(const uint8_t *s, size_t n, uint32_t *cp);

/* Class of the character at s[0..n), n > 0, and its length in *len. */
int g2r_char_class(const uint8_t *s, size_t n, size_t *len);

#endif
