/* unicode.c — UTF-8 decoding by Unicode's well-formedness table, and class lookup. */
#include "tokenizer/unicode.h"

int g2r_cp_class(uint32_t cp) {
    int lo = 0, hi = g2r_cp_n_ranges - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (cp < g2r_cp_ranges[mid].lo) hi = mid - 1;
        else if (cp > g2r_cp_ranges[mid].hi) lo = mid + 1;
        else return g2r_cp_ranges[mid].cls;
    }
    return G2R_CP_OTHER;
}

static int is_cont(uint8_t b) { return (b & 0xC0) == 0x80; }

int g2r_utf8_next(const uint8_t *s, size_t n, uint32_t *cp) {
    uint8_t b = s[0];
    *cp = G2R_CP_INVALID;
    if (b < 0x80) {
        *cp = b;
        return 1;
    }
    /* The second byte's range depends on the first (Table 3-7): this is what
     * rules out overlong forms, surrogates and code points above U+10FFFF. */
    uint8_t lo2 = 0x80, hi2 = 0xBF;
    int len;
    if (b >= 0xC2 && b <= 0xDF) len = 2;
    else if (b >= 0xE0 && b <= 0xEF) {
        len = 3;
        if (b == 0xE0) lo2 = 0xA0;
        if (b == 0xED) hi2 = 0x9F;
    } else if (b >= 0xF0 && b <= 0xF4) {
        len = 4;
        if (b == 0xF0) lo2 = 0x90;
        if (b == 0xF4) hi2 = 0x8F;
    } else return 1;
    if ((size_t)len > n || s[1] < lo2 || s[1] > hi2) return 1;
    for (int i = 2; i < len; i++)
        if (!is_cont(s[i])) return 1;
    uint32_t c = b & (0x7F >> len);
    for (int i = 1; i < len; i++) c = (c << 6) | (s[i] & 0x3F);
    *cp = c;
    return len;
}

/* ASCII classes, so the common case needs no decoding or search. */
enum { L = G2R_CP_LETTER };
static const uint8_t ascii_class[128] = {
    ['\t'] = G2R_CP_SPACE, ['\n'] = G2R_CP_SPACE, ['\v'] = G2R_CP_SPACE, ['\f'] = G2R_CP_SPACE,
    ['\r'] = G2R_CP_SPACE, [' '] = G2R_CP_SPACE,
    ['0'] = G2R_CP_NUMBER, ['1'] = G2R_CP_NUMBER, ['2'] = G2R_CP_NUMBER, ['3'] = G2R_CP_NUMBER,
    ['4'] = G2R_CP_NUMBER, ['5'] = G2R_CP_NUMBER, ['6'] = G2R_CP_NUMBER, ['7'] = G2R_CP_NUMBER,
    ['8'] = G2R_CP_NUMBER, ['9'] = G2R_CP_NUMBER,
    ['A'] = L, ['B'] = L, ['C'] = L, ['D'] = L, ['E'] = L, ['F'] = L, ['G'] = L, ['H'] = L, ['I'] = L,
    ['J'] = L, ['K'] = L, ['L'] = L, ['M'] = L, ['N'] = L, ['O'] = L, ['P'] = L, ['Q'] = L, ['R'] = L,
    ['S'] = L, ['T'] = L, ['U'] = L, ['V'] = L, ['W'] = L, ['X'] = L, ['Y'] = L, ['Z'] = L,
    ['a'] = L, ['b'] = L, ['c'] = L, ['d'] = L, ['e'] = L, ['f'] = L, ['g'] = L, ['h'] = L, ['i'] = L,
    ['j'] = L, ['k'] = L, ['l'] = L, ['m'] = L, ['n'] = L, ['o'] = L, ['p'] = L, ['q'] = L, ['r'] = L,
    ['s'] = L, ['t'] = L, ['u'] = L, ['v'] = L, ['w'] = L, ['x'] = L, ['y'] = L, ['z'] = L,
};

int g2r_char_class(const uint8_t *s, size_t n, size_t *len) {
    if (s[0] < 0x80) {
        *len = 1;
        return ascii_class[s[0]];
    }
    uint32_t cp;
    *len = (size_t)g2r_utf8_next(s, n, &cp);
    return cp == G2R_CP_INVALID ? G2R_CP_OTHER : g2r_cp_class(cp);
}
