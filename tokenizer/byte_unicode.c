/* byte_unicode.c — GPT-2's byte <-> printable character mapping. */
#include "tokenizer/byte_unicode.h"

#include "tokenizer/unicode.h"

static int stands_for_itself(uint32_t b) {
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

/* The 68 shifted bytes are 0x00..0x20, 0x7F..0xA0 and 0xAD, numbered in that order. */
uint32_t g2r_byte_to_cp(uint8_t b) {
    if (stands_for_itself(b)) return b;
    if (b <= 0x20) return 0x100 + b;
    if (b <= 0xA0) return 0x100 + 33 + (b - 0x7Fu);
    return 0x100 + 67; /* 0xAD, the soft hyphen */
}

int g2r_cp_to_byte(uint32_t cp) {
    if (cp < 0x100) return stands_for_itself(cp) ? (int)cp : -1;
    uint32_t k = cp - 0x100;
    if (k < 33) return (int)k;
    if (k < 67) return (int)(0x7F + k - 33);
    if (k == 67) return 0xAD;
    return -1;
}

long g2r_spelling_to_bytes(const char *s, size_t n, char *out) {
    const uint8_t *u = (const uint8_t *)s;
    long m = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        i += (size_t)g2r_utf8_next(u + i, n - i, &cp);
        int b = cp == G2R_CP_INVALID ? -1 : g2r_cp_to_byte(cp);
        if (b < 0) return -1;
        out[m++] = (char)b;
    }
    return m;
}
