/* pretokenize.c — GPT-2's pre-tokenizer without a regex engine.
 *
 * At each position the pattern's alternatives are tried in order:
 *   1. 's 't 're 've 'm 'll 'd       (lower case only)
 *   2-4. an optional ' ' then a run of letters, of numbers, or of "other"
 *   5. \s+(?!\S): a whitespace run, less its last character when a
 *      non-space follows (that character then leads the next pre-token)
 *   6. \s+: a single whitespace character followed by a non-space. */
#include "tokenizer/pretokenize.h"

#include "tokenizer/unicode.h"

static size_t contraction_len(const uint8_t *s, size_t n, size_t pos) {
    size_t left = n - pos;
    if (left < 2 || s[pos] != '\'') return 0;
    uint8_t a = s[pos + 1];
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    if (left < 3) return 0;
    uint8_t b = s[pos + 2];
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
    return 0;
}

/* End of the run of characters of class cls starting at pos. */
static size_t run_end(const uint8_t *s, size_t n, size_t pos, int cls) {
    size_t len;
    while (pos < n && g2r_char_class(s + pos, n - pos, &len) == cls) pos += len;
    return pos;
}

static size_t whitespace_end(const uint8_t *s, size_t n, size_t pos) {
    size_t len, last = pos, end = pos;
    while (end < n && g2r_char_class(s + end, n - end, &len) == G2R_CP_SPACE) {
        last = end;
        end += len;
    }
    /* (?!\S) backs off one character when a non-space follows, if that
     * leaves at least one; otherwise alternative 6 takes the lone one. */
    if (end < n && last > pos) return last;
    return end;
}

size_t g2r_pretoken_end(const uint8_t *s, size_t n, size_t pos) {
    size_t c = contraction_len(s, n, pos);
    if (c) return pos + c;
    size_t len;
    int cls = g2r_char_class(s + pos, n - pos, &len);
    if (cls == G2R_CP_SPACE) {
        /* " ?X+": a single ASCII space joins a following letter, number or other run. */
        if (s[pos] == ' ' && pos + 1 < n) {
            int next = g2r_char_class(s + pos + 1, n - pos - 1, &len);
            if (next != G2R_CP_SPACE) return run_end(s, n, pos + 1, next);
        }
        return whitespace_end(s, n, pos);
    }
    return run_end(s, n, pos, cls);
}
