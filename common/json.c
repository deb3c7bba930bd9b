/* json.c — recursive-descent JSON parser with an arena, and a string escaper. */
#include "common/json.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"

/* Arena: nodes and unescaped strings come from large blocks freed at once. */
typedef struct block {
    struct block *prev;
    size_t used, cap;
    char data[];
} block;

struct g2r_json_doc {
    block *top;
};

typedef struct {
    const char *s;
    size_t pos, len;
    const char *what;
    g2r_json_doc *doc;
    g2r_error *err;
    g2r_status status;
} parser;

static void *arena_alloc(g2r_json_doc *d, size_t n) {
    n = (n + 15) & ~(size_t)15;
    if (!d->top || d->top->cap - d->top->used < n) {
        size_t cap = n > 65536 ? n : 65536;
        block *b = malloc(sizeof(block) + cap);
        if (!b) return NULL;
        b->prev = d->top;
        b->used = 0;
        b->cap = cap;
        d->top = b;
    }
    void *p = d->top->data + d->top->used;
    d->top->used += n;
    return p;
}

void g2r_json_free(g2r_json_doc *doc) {
    if (!doc) return;
    for (block *b = doc->top; b;) {
        block *prev = b->prev;
        free(b);
        b = prev;
    }
    free(doc);
}

static int fail(parser *p, const char *msg) {
    if (!p->status)
        p->status = g2r_fail(p->err, G2R_EFORMAT, "%s: at byte %zu: %s", p->what, p->pos, msg);
    return -1;
}

static void skip_ws(parser *p) {
    while (p->pos < p->len) {
        char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        p->pos++;
    }
}

static g2r_json *new_node(parser *p, g2r_json_type t) {
    g2r_json *n = arena_alloc(p->doc, sizeof *n);
    if (!n) {
        if (!p->status) p->status = g2r_fail(p->err, G2R_ENOMEM, "%s: out of memory", p->what);
        return NULL;
    }
    memset(n, 0, sizeof *n);
    n->type = t;
    return n;
}

/* Length of the valid UTF-8 sequence at s (max n bytes), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    if (c < 0x80) return 1;
    size_t len;
    unsigned min;
    if (c >= 0xc2 && c <= 0xdf) { len = 2; min = 0x80; }
    else if (c >= 0xe0 && c <= 0xef) { len = 3; min = 0x800; }
    else if (c >= 0xf0 && c <= 0xf4) { len = 4; min = 0x10000; }
    else return 0;
    if (n < len) return 0;
    unsigned cp = c & (0x3f >> (len - 1));
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return len;
}

static size_t put_utf8(char *o, unsigned cp) {
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xc0 | (cp >> 6)); o[1] = (char)(0x80 | (cp & 0x3f)); return 2; }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

static int hex4(parser *p, unsigned *out) {
    if (p->len - p->pos < 4) return fail(p, "truncated \\u escape");
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p->s[p->pos++];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return fail(p, "bad hex digit in \\u escape");
    }
    *out = v;
    return 0;
}

/* Parses a string literal at p->pos (on the quote); unescaped copy in the arena.
 * The unescaped form is never longer than the literal. */
static int parse_string(parser *p, const char **out, size_t *out_len) {
    p->pos++; /* opening quote */
    size_t start = p->pos;
    /* find the closing quote first to size the buffer */
    size_t end = start;
    while (end < p->len && p->s[end] != '"') end += (p->s[end] == '\\') ? 2 : 1;
    if (end >= p->len) return fail(p, "unterminated string");
    char *o = arena_alloc(p->doc, end - start + 1);
    if (!o) return fail(p, "out of memory");
    size_t n = 0;
    while (p->s[p->pos] != '"') {
        unsigned char c = (unsigned char)p->s[p->pos];
        if (c < 0x20) return fail(p, "control character in string");
        if (c != '\\') {
            size_t l = utf8_len((const unsigned char *)p->s + p->pos, p->len - p->pos);
            if (!l) return fail(p, "invalid UTF-8 in string");
            memcpy(o + n, p->s + p->pos, l);
            n += l;
            p->pos += l;
            continue;
        }
        p->pos++;
        char e = p->s[p->pos++];
        switch (e) {
        case '"': o[n++] = '"'; break;
        case '\\': o[n++] = '\\'; break;
        case '/': o[n++] = '/'; break;
        case 'b': o[n++] = '\b'; break;
        case 'f': o[n++] = '\f'; break;
        case 'n': o[n++] = '\n'; break;
        case 'r': o[n++] = '\r'; break;
        case 't': o[n++] = '\t'; break;
        case 'u': {
            unsigned cp;
            if (hex4(p, &cp)) return -1;
            if (cp >= 0xdc00 && cp <= 0xdfff) return fail(p, "lone low surrogate in \\u escape");
            if (cp >= 0xd800 && cp <= 0xdbff) {
                unsigned lo;
                if (p->len - p->pos < 2 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u')
                    return fail(p, "lone high surrogate in \\u escape");
                p->pos += 2;
                if (hex4(p, &lo)) return -1;
                if (lo < 0xdc00 || lo > 0xdfff) return fail(p, "bad surrogate pair in \\u escape");
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            }
            n += put_utf8(o + n, cp);
            break;
        }
        default: p->pos--; return fail(p, "bad escape in string");
        }
        if (p->pos >= p->len) return fail(p, "unterminated string");
    }
    p->pos++; /* closing quote */
    o[n] = 0;
    *out = o;
    *out_len = n;
    return 0;
}

static int parse_number(parser *p, g2r_json *node) {
    size_t start = p->pos;
    int integral = 1;
    if (p->s[p->pos] == '-') p->pos++;
    if (p->pos >= p->len) return fail(p, "bad number");
    if (p->s[p->pos] == '0') p->pos++;
    else if (p->s[p->pos] >= '1' && p->s[p->pos] <= '9')
        while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') p->pos++;
    else return fail(p, "bad number");
    if (p->pos < p->len && p->s[p->pos] == '.') {
        integral = 0;
        p->pos++;
        if (p->pos >= p->len || p->s[p->pos] < '0' || p->s[p->pos] > '9') return fail(p, "bad number fraction");
        while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') p->pos++;
    }
    if (p->pos < p->len && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
        integral = 0;
        p->pos++;
        if (p->pos < p->len && (p->s[p->pos] == '+' || p->s[p->pos] == '-')) p->pos++;
        if (p->pos >= p->len || p->s[p->pos] < '0' || p->s[p->pos] > '9') return fail(p, "bad number exponent");
        while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') p->pos++;
    }
    char buf[64];
    size_t n = p->pos - start;
    if (n >= sizeof buf) {
        /* very long literals: only the double value is kept */
        char *tmp = malloc(n + 1);
        if (!tmp) return fail(p, "out of memory");
        memcpy(tmp, p->s + start, n);
        tmp[n] = 0;
        node->num = strtod(tmp, NULL);
        free(tmp);
        return 0;
    }
    memcpy(buf, p->s + start, n);
    buf[n] = 0;
    node->num = strtod(buf, NULL);
    if (integral) {
        errno = 0;
        long long v = strtoll(buf, NULL, 10);
        if (errno == 0) {
            node->is_int = 1;
            node->i = v;
        }
    }
    return 0;
}

static int match(parser *p, const char *lit) {
    size_t n = strlen(lit);
    if (p->len - p->pos < n || memcmp(p->s + p->pos, lit, n) != 0) return fail(p, "unexpected token");
    p->pos += n;
    return 0;
}

static g2r_json *parse_value(parser *p, int depth);

static int parse_container(parser *p, g2r_json *node, int depth, char close) {
    p->pos++;
    g2r_json **tail = &node->child;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == close) {
        p->pos++;
        return 0;
    }
    for (;;) {
        const char *key = NULL;
        size_t key_len = 0;
        skip_ws(p);
        if (close == '}') {
            if (p->pos >= p->len || p->s[p->pos] != '"') return fail(p, "expected a string key");
            if (parse_string(p, &key, &key_len)) return -1;
            skip_ws(p);
            if (p->pos >= p->len || p->s[p->pos] != ':') return fail(p, "expected ':'");
            p->pos++;
        }
        g2r_json *child = parse_value(p, depth + 1);
        if (!child) return -1;
        child->key = key;
        child->key_len = key_len;
        *tail = child;
        tail = &child->next;
        node->n++;
        skip_ws(p);
        if (p->pos >= p->len) return fail(p, close == '}' ? "unterminated object" : "unterminated array");
        char c = p->s[p->pos++];
        if (c == close) return 0;
        if (c != ',') {
            p->pos--;
            return fail(p, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
        }
    }
}

static g2r_json *parse_value(parser *p, int depth) {
    if (depth > G2R_JSON_MAX_DEPTH) {
        fail(p, "nesting too deep");
        return NULL;
    }
    skip_ws(p);
    if (p->pos >= p->len) {
        fail(p, "unexpected end of input");
        return NULL;
    }
    char c = p->s[p->pos];
    g2r_json *node = NULL;
    int rc = 0;
    switch (c) {
    case '{':
    case '[':
        node = new_node(p, c == '{' ? G2R_JSON_OBJECT : G2R_JSON_ARRAY);
        if (node) rc = parse_container(p, node, depth, c == '{' ? '}' : ']');
        break;
    case '"':
        node = new_node(p, G2R_JSON_STRING);
        if (node) rc = parse_string(p, &node->str, &node->len);
        break;
    case 't':
    case 'f':
        node = new_node(p, G2R_JSON_BOOL);
        if (node) {
            node->boolean = c == 't';
            rc = match(p, c == 't' ? "true" : "false");
        }
        break;
    case 'n':
        node = new_node(p, G2R_JSON_NULL);
        if (node) rc = match(p, "null");
        break;
    default:
        if (c == '-' || (c >= '0' && c <= '9')) {
            node = new_node(p, G2R_JSON_NUMBER);
            if (node) rc = parse_number(p, node);
        } else {
            fail(p, "unexpected character");
        }
    }
    return rc ? NULL : node;
}

g2r_status g2r_json_parse(const char *text, size_t len, const char *what, g2r_json_doc **doc,
                          const g2r_json **root, g2r_error *err) {
    *doc = NULL;
    *root = NULL;
    parser p = {.s = text, .len = len, .what = what ? what : "JSON", .err = err};
    p.doc = calloc(1, sizeof *p.doc);
    if (!p.doc) return g2r_fail(err, G2R_ENOMEM, "%s: out of memory", p.what);
    g2r_json *v = parse_value(&p, 0);
    if (v) {
        skip_ws(&p);
        if (p.pos != p.len) fail(&p, "trailing characters after the value");
    }
    if (p.status) {
        g2r_json_free(p.doc);
        return p.status;
    }
    *doc = p.doc;
    *root = v;
    return G2R_OK;
}

const g2r_json *g2r_json_get(const g2r_json *obj, const char *key) {
    if (!obj || obj->type != G2R_JSON_OBJECT) return NULL;
    size_t n = strlen(key);
    for (const g2r_json *c = obj->child; c; c = c->next)
        if (c->key_len == n && memcmp(c->key, key, n) == 0) return c;
    return NULL;
}

void g2r_json_write_string(FILE *f, const char *s, size_t len) {
    fputc('"', f);
    size_t i = 0;
    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') { fputc('\\', f); fputc(c, f); i++; }
        else if (c == '\n') { fputs("\\n", f); i++; }
        else if (c == '\r') { fputs("\\r", f); i++; }
        else if (c == '\t') { fputs("\\t", f); i++; }
        else if (c < 0x20 || c == 0x7f) { fprintf(f, "\\u%04x", c); i++; }
        else if (c < 0x80) { fputc(c, f); i++; }
        else {
            size_t l = utf8_len((const unsigned char *)s + i, len - i);
            if (l) { fwrite(s + i, 1, l, f); i += l; }
            else { fputs("\\ufffd", f); i++; }
        }
    }
    fputc('"', f);
}

void g2r_json_write_value(FILE *f, const g2r_json *v) {
    switch (v->type) {
    case G2R_JSON_NULL: fputs("null", f); break;
    case G2R_JSON_BOOL: fputs(v->boolean ? "true" : "false", f); break;
    case G2R_JSON_NUMBER:
        if (v->is_int) fprintf(f, "%lld", (long long)v->i);
        else fprintf(f, "%.17g", v->num);
        break;
    case G2R_JSON_STRING: g2r_json_write_string(f, v->str, v->len); break;
    case G2R_JSON_ARRAY:
    case G2R_JSON_OBJECT:
        fputc(v->type == G2R_JSON_ARRAY ? '[' : '{', f);
        for (const g2r_json *c = v->child; c; c = c->next) {
            if (c != v->child) fputc(',', f);
            if (v->type == G2R_JSON_OBJECT) {
                g2r_json_write_string(f, c->key, c->key_len);
                fputc(':', f);
            }
            g2r_json_write_value(f, c);
        }
        fputc(v->type == G2R_JSON_ARRAY ? ']' : '}', f);
        break;
    }
}
