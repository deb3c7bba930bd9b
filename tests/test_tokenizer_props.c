/* test_tokenizer_props.c — properties of the tokenizer on generated input:
 * exact round trips on arbitrary bytes (invalid UTF-8 included), encoding
 * that splits at pre-token boundaries, count-only mode, long words, and the
 * pre-tokenizer's splits on hand-picked cases. */
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "gpt2rank.h"
#include "tests/harness.h"
#include "tokenizer/pretokenize.h"
#include "tokenizer/unicode.h"

static g2r_tokenizer *gpt2(void) {
    static g2r_tokenizer *t;
    if (!t) {
        g2r_error err = {0};
        if (g2r_tokenizer_load(NULL, &t, &err)) t_fail(__FILE__, __LINE__, "load: %s", err.msg);
    }
    return t;
}

/* Pieces that exercise every rule: classes, contractions, spaces, invalid bytes. */
static const char *const pieces[] = {
    "a", "Z", "hello", " world", "'s", "'S", "'ll", "'", "''", "1", "42", " 7", "!", "?!", " ...", " ", "  ",
    "\t", "\n", "\r\n", "\xc2\x85", "\xc2\xa0", "\xef\xbb\xbf", "\xe3\x80\x80", "\xc3\xa9", "e\xcc\x81",
    "\xe4\xb8\xad\xe6\x96\x87", "\xf0\x9f\x98\x80", "\xe2\x80\x8d", "\xd7\xa9\xd7\x9c", "\xd9\xa3", "\xe2\x85\xab",
    "\x80", "\xff", "\xc3", "\xe4\xb8", "\xf0\x9f\x98", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\x00",
    "<|endoftext|>", "<|", "|>",
};
#define N_PIECES (sizeof pieces / sizeof pieces[0])

/* A random string: uniform bytes half the time, random pieces otherwise. */
static size_t random_text(g2r_rng *r, char *buf, size_t cap) {
    size_t n = 0;
    if (g2r_rng_u64(r) & 1) {
        size_t len = g2r_rng_u64(r) % 64;
        for (; n < len && n < cap; n++) buf[n] = (char)g2r_rng_u64(r);
        return n;
    }
    size_t k = g2r_rng_u64(r) % 16;
    for (size_t i = 0; i < k; i++) {
        const char *p = pieces[g2r_rng_u64(r) % N_PIECES];
        size_t len = strlen(p) + (p[0] == 0); /* "\x00" is one NUL byte */
        if (n + len > cap) break;
        memcpy(buf + n, p, len);
        n += len;
    }
    return n;
}

TEST(tokenizer_round_trips_10000_random_byte_strings) {
    g2r_tokenizer *t = gpt2();
    REQUIRE(t);
    g2r_rng r = {7};
    char text[256], back[512];
    int ids[512];
    int failures = 0;
    for (int i = 0; i < 10000 && failures < 5; i++) {
        size_t len = random_text(&r, text, sizeof text), n = 0, n_count = 0, n_back = 0;
        int flags = i % 3 == 0 ? G2R_ENCODE_ALLOW_SPECIAL : 0;
        g2r_error err = {0};
        int ok = g2r_encode(t, text, len, flags, ids, 512, &n, &err) == G2R_OK && n <= 512 &&
                 g2r_encode(t, text, len, flags, NULL, 0, &n_count, &err) == G2R_OK && n_count == n &&
                 g2r_decode(t, ids, n, back, sizeof back, &n_back, &err) == G2R_OK && n_back == len &&
                 !memcmp(back, text, len);
        for (size_t k = 0; ok && k < n; k++) ok = ids[k] >= 0 && ids[k] < 50257;
        if (!ok) {
            failures++;
            t_fail(__FILE__, __LINE__, "string %d (%zu bytes, first 0x%02x): round trip failed (%s)", i, len,
                   len ? (unsigned char)text[0] : 0, err.msg);
        }
    }
}

/* Is the last character of s[start..end) White_Space? */
static int ends_in_space(const char *s, size_t start, size_t end) {
    int cls = G2R_CP_OTHER;
    for (size_t len; start < end; start += len) cls = g2r_char_class((const uint8_t *)s + start, end - start, &len);
    return cls == G2R_CP_SPACE;
}

/* encode(a + b) == encode(a) + encode(b) when a ends a pre-token of a + b
 * that is not whitespace.  (After whitespace the split is not local: the
 * pattern's \s+(?!\S) looks past the run, so "  \u00a0" + "<" pre-tokenizes as
 * "  " "\u00a0" "<" but "  \u00a0" alone is one pre-token.) */
TEST(tokenizer_splits_at_pretoken_boundaries) {
    g2r_tokenizer *t = gpt2();
    REQUIRE(t);
    g2r_rng r = {11};
    char text[256];
    int whole[512], parts[512];
    int checked = 0;
    for (int i = 0; i < 3000; i++) {
        size_t len = random_text(&r, text, sizeof text);
        if (len < 2) continue;
        /* Pick a random pre-token boundary inside the text. */
        size_t bounds[256], nb = 0;
        for (size_t pos = 0, end; pos < len; pos = end) {
            end = g2r_pretoken_end((const uint8_t *)text, len, pos);
            if (end < len && !ends_in_space(text, pos, end)) bounds[nb++] = end;
        }
        if (!nb) continue;
        size_t b = bounds[g2r_rng_u64(&r) % nb], n = 0, na = 0, nc = 0;
        g2r_encode(t, text, len, 0, whole, 512, &n, NULL);
        g2r_encode(t, text, b, 0, parts, 512, &na, NULL);
        g2r_encode(t, text + b, len - b, 0, parts + na, 512 - na, &nc, NULL);
        if (n != na + nc || memcmp(whole, parts, n * sizeof(int))) {
            t_fail(__FILE__, __LINE__, "string %d split at byte %zu: %zu ids whole, %zu + %zu in parts", i, b, n, na,
                   nc);

            break;
        }
        checked++;
    }
    CHECK(checked > 1000);
}

/* Splits s into pre-tokens joined by '|' (for readable expectations). */
static const char *split(const char *s, size_t n) {
    static char out[512];
    size_t k = 0;
    for (size_t pos = 0; pos < n;) {
        size_t end = g2r_pretoken_end((const uint8_t *)s, n, pos);
        if (pos) out[k++] = '|';
        memcpy(out + k, s + pos, end - pos);
        k += end - pos;
        pos = end;
    }
    out[k] = 0;
    return out;
}

#define CHECK_SPLIT(text, want)                                                              \
    do {                                                                                     \
        const char *got_ = split(text, sizeof(text) - 1);                                    \
        if (strcmp(got_, want)) t_fail(__FILE__, __LINE__, "split \"%s\" = \"%s\", expected \"%s\"", text, got_, want); \
    } while (0)

TEST(pretokenizer_follows_gpt2_pattern) {
    CHECK_SPLIT("Hello world", "Hello| world");
    CHECK_SPLIT("it's they're I'm we'll he'd you've can't", "it|'s| they|'re| I|'m| we|'ll| he|'d| you|'ve| can|'t");
    CHECK_SPLIT("IT'S I'LL You'Re", "IT|'|S| I|'|LL| You|'|Re"); /* case-sensitive contractions */
    CHECK_SPLIT("'''s x'sup", "'''|s| x|'s|up");
    CHECK_SPLIT("  hi   there\t\tx", " | hi|  | there|\t|\t|x");
    CHECK_SPLIT("a\r\nb\n\n", "a|\r|\n|b|\n\n");
    CHECK_SPLIT("x  ", "x|  ");
    CHECK_SPLIT("  \xc2\xa0<", "  |\xc2\xa0|<");
    CHECK_SPLIT("  \xc2\xa0", "  \xc2\xa0");
    CHECK_SPLIT("abc123 456 !?", "abc|123| 456| !?");
    CHECK_SPLIT("  !", " | !");
    CHECK_SPLIT("a\xc2\x85" "b", "a|\xc2\x85|b");                 /* U+0085 is White_Space */
    CHECK_SPLIT("\xef\xbb\xbf" "a", "\xef\xbb\xbf|a");             /* U+FEFF is not */
    CHECK_SPLIT("\xc2\xa0\xc2\xa0" "a", "\xc2\xa0|\xc2\xa0|a");   /* NBSP: \s but not the ' ?' space */
    CHECK_SPLIT("caf\xc3\xa9 e\xcc\x81t\xc3\xa9", "caf\xc3\xa9| e|\xcc\x81|t\xc3\xa9"); /* marks are not letters */
    CHECK_SPLIT("\xe4\xb8\xad\xe6\x96\x87" "123", "\xe4\xb8\xad\xe6\x96\x87|123");
    CHECK_SPLIT("\xe2\x85\xab\xc2\xbd" "1", "\xe2\x85\xab\xc2\xbd" "1"); /* Nl and No are numbers */
}

TEST(pretokenizer_takes_invalid_bytes_as_other) {
    CHECK_SPLIT("a\x80" "b", "a|\x80|b");
    CHECK_SPLIT("!\xff?", "!\xff?");
    CHECK_SPLIT(" \xc3", " \xc3");
    CHECK_SPLIT("caf\xc3", "caf|\xc3");
    CHECK_SPLIT("\xc0\xaf" "x", "\xc0\xaf|x");                     /* overlong '/' */
    CHECK_SPLIT("a\xed\xa0\x80" "b", "a|\xed\xa0\x80|b");          /* a surrogate */
    CHECK_SPLIT("\xf4\x90\x80\x80" "1", "\xf4\x90\x80\x80|1");     /* above U+10FFFF */
    CHECK_SPLIT("\xe4\xb8" "a", "\xe4\xb8|a");                     /* truncated, then ASCII */
}

/* A long word with no spaces, as a regex-free BPE must handle in O(n log n). */
static void check_long_word(const char *what, char *text, size_t len) {
    g2r_tokenizer *t = gpt2();
    size_t n = 0, n_back = 0;
    g2r_error err = {0};
    int *ids = malloc(len * sizeof *ids);
    char *back = malloc(len);
    CHECK(g2r_encode(t, text, len, 0, ids, len, &n, &err) == G2R_OK);
    CHECK(n > len / 16 && n < len);
    CHECK(g2r_decode(t, ids, n, back, len, &n_back, &err) == G2R_OK);
    if (n_back != len || memcmp(back, text, len)) t_fail(__FILE__, __LINE__, "%s: round trip failed", what);
    free(ids);
    free(back);
}

TEST(tokenizer_long_words) {
    REQUIRE(gpt2());
    size_t len = 1 << 20;
    char *text = malloc(len);
    g2r_rng r = {3};
    for (size_t i = 0; i < len; i++) text[i] = (char)('a' + g2r_rng_u64(&r) % 26);
    check_long_word("1 MiB of random letters", text, len);
    memset(text, 'a', len);
    check_long_word("1 MiB of 'a'", text, len);
    for (size_t i = 0; i < len; i++) text[i] = (char)('0' + i % 10);
    check_long_word("1 MiB of digits", text, len);
    free(text);
}
