/* fuzz_json.c — common/json.h on arbitrary bytes.
 *
 * Accepted documents must hold together (child counts, NUL-terminated valid
 * UTF-8 strings, depth) and survive a round trip: written back out with
 * g2r_json_write_string and integers/doubles, they parse to the same tree. */
#include "common/json.h"
#include "tests/fuzz/fuzz.h"

/* Strictly valid UTF-8 (what the parser promises for strings and keys). */
static int json_utf8_ok(const unsigned char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        size_t len = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
        if (!len || n - i < len) return 0;
        unsigned cp = len == 1 ? c : c & (0x3f >> (len - 1));
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return 0;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        static const unsigned min[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
        i += len;
    }
    return 1;
}

/* Checks v's invariants; returns its depth. */
static int json_check(const g2r_json *v, int in_object) {
    if (in_object) FUZZ_CHECK(v->key && v->key[v->key_len] == 0 && json_utf8_ok((const unsigned char *)v->key, v->key_len));
    else FUZZ_CHECK(v->key == NULL);
    int depth = 0;
    if (v->type == G2R_JSON_STRING)
        FUZZ_CHECK(v->str && v->str[v->len] == 0 && json_utf8_ok((const unsigned char *)v->str, v->len));
    if (v->type == G2R_JSON_NUMBER && v->is_int) FUZZ_CHECK((double)v->i == v->num);
    if (v->type == G2R_JSON_ARRAY || v->type == G2R_JSON_OBJECT) {
        size_t n = 0;
        for (const g2r_json *c = v->child; c; c = c->next, n++) {
            int d = json_check(c, v->type == G2R_JSON_OBJECT);
            if (d > depth) depth = d;
        }
        FUZZ_CHECK(n == v->n);
        depth++;
    }
    return depth;
}

static int json_finite(const g2r_json *v) {
    if (v->type == G2R_JSON_NUMBER) return v->num - v->num == 0;
    for (const g2r_json *c = v->child; c; c = c->next)
        if (!json_finite(c)) return 0;
    return 1;
}

/* a and b are the same tree (doubles compared by their printed form, which is what was written). */
static int json_same(const g2r_json *a, const g2r_json *b) {
    if (a->type != b->type || a->key_len != b->key_len || (a->key && memcmp(a->key, b->key, a->key_len))) return 0;
    switch (a->type) {
    case G2R_JSON_NULL: return 1;
    case G2R_JSON_BOOL: return a->boolean == b->boolean;
    case G2R_JSON_NUMBER:
        if (a->is_int) return b->is_int && a->i == b->i;
        return a->num == b->num || (a->num != a->num && b->num != b->num);
    case G2R_JSON_STRING: return a->len == b->len && !memcmp(a->str, b->str, a->len);
    case G2R_JSON_ARRAY:
    case G2R_JSON_OBJECT:
        if (a->n != b->n) return 0;
        for (const g2r_json *x = a->child, *y = b->child; x; x = x->next, y = y->next)
            if (!json_same(x, y)) return 0;
        return 1;
    }
    return 0;
}

static g2r_status fuzz_json(const uint8_t *data, size_t size) {
    g2r_json_doc *doc;
    const g2r_json *root;
    g2r_error err = {0};
    g2r_status s = g2r_json_parse((const char *)data, size, "fuzz.json", &doc, &root, &err);
    if (s) {
        FUZZ_CHECK(!doc && !root);
        FUZZ_CHECK(s == G2R_EFORMAT && fuzz_clean_error(s, &err, "fuzz.json"));
        return s;
    }
    FUZZ_CHECK(doc && root);
    FUZZ_CHECK(json_check(root, 0) <= G2R_JSON_MAX_DEPTH + 1);

    /* written back out, it parses to the same tree (unless a number overflowed
     * to infinity, which has no JSON spelling) */
    if (json_finite(root)) {
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        FUZZ_CHECK(f);
        g2r_json_write_value(f, root);
        fclose(f);
        g2r_json_doc *doc2;
        const g2r_json *root2;
        s = g2r_json_parse(text, len, "round trip", &doc2, &root2, &err);
        FUZZ_CHECK(s == G2R_OK);
        if (!s) {
            FUZZ_CHECK(json_same(root, root2));
            g2r_json_free(doc2);
        }
        free(text);
    }
    g2r_json_free(doc);
    return G2R_OK;
}

FUZZ_MAIN(fuzz_json)
