/* vocab_files.c — vocabularies from files.
 *
 * All three formats spell token bytes with GPT-2's printable alphabet
 * (byte_unicode.h) and list merges as "left right" in priority order; a
 * token's rank is the first merge line that makes it.  Added tokens in
 * tokenizer.json (such as <|endoftext|>) are written as plain text. */
#include "tokenizer/vocab_files.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/error.h"
#include "common/fileio.h"
#include "common/json.h"
#include "tokenizer/byte_unicode.h"

#define MAX_FILE_BYTES (256u << 20)
#define MAX_TOKENS (1 << 24)

/* A token being collected: its id and where its bytes are in the blob. */
typedef struct {
    uint32_t start, len;
} span;

typedef struct {
    const char *what; /* file name, for errors */
    char *blob;
    size_t blob_len, blob_cap;
    span *by_id; /* len == UINT32_MAX: id not seen yet */
    int n_ids;
} collector;

static g2r_status reserve(collector *c, size_t extra, g2r_error *err) {
    if (c->blob_len + extra <= c->blob_cap) return G2R_OK;
    size_t cap = c->blob_cap ? c->blob_cap : 1 << 16;
    while (cap < c->blob_len + extra) cap *= 2;
    char *b = realloc(c->blob, cap);
    if (!b) return g2r_fail(err, G2R_ENOMEM, "%s: out of memory", c->what);
    c->blob = b;
    c->blob_cap = cap;
    return G2R_OK;
}

/* Adds token id with the given text; spelled: in GPT-2's byte alphabet (else raw). */
static g2r_status add_token(collector *c, const g2r_json *id_node, const char *text, size_t n, int spelled,
                            int allow_dup, g2r_error *err) {
    if (!id_node || id_node->type != G2R_JSON_NUMBER || !id_node->is_int || id_node->i < 0 ||
        id_node->i >= MAX_TOKENS)
        return g2r_fail(err, G2R_EFORMAT, "%s: token \"%.40s\" has no valid id (an integer in [0, %d))", c->what,
                        text, MAX_TOKENS);
    int id = (int)id_node->i;
    if (n == 0) return g2r_fail(err, G2R_EFORMAT, "%s: token %d is empty", c->what, id);
    if (id < c->n_ids && c->by_id[id].len != UINT32_MAX) {
        if (allow_dup) return G2R_OK;
        return g2r_fail(err, G2R_EFORMAT, "%s: id %d is given to two tokens", c->what, id);
    }
    if (id >= c->n_ids) {
        int n_ids = c->n_ids ? c->n_ids : 1024;
        while (n_ids <= id) n_ids *= 2;
        span *s = realloc(c->by_id, (size_t)n_ids * sizeof *s);
        if (!s) return g2r_fail(err, G2R_ENOMEM, "%s: out of memory", c->what);
        for (int i = c->n_ids; i < n_ids; i++) s[i].len = UINT32_MAX;
        c->by_id = s;
        c->n_ids = n_ids;
    }
    g2r_status st = reserve(c, n, err);
    if (st) return st;
    long m = (long)n;
    if (spelled) m = g2r_spelling_to_bytes(text, n, c->blob + c->blob_len);
    else memcpy(c->blob + c->blob_len, text, n);
    if (m < 0)
        return g2r_fail(err, G2R_EFORMAT, "%s: token \"%.40s\" (id %d) has a character outside GPT-2's byte alphabet",
                        c->what, text, id);
    c->by_id[id] = (span){(uint32_t)c->blob_len, (uint32_t)m};
    c->blob_len += (size_t)m;
    return G2R_OK;
}

static g2r_status add_vocab(collector *c, const g2r_json *vocab, g2r_error *err) {
    if (!vocab || vocab->type != G2R_JSON_OBJECT)
        return g2r_fail(err, G2R_EFORMAT, "%s: the vocabulary is not a JSON object of token -> id", c->what);
    for (const g2r_json *m = vocab->child; m; m = m->next) {
        g2r_status st = add_token(c, m, m->key, m->key_len, 1, 0, err);
        if (st) return st;
    }
    return G2R_OK;
}

/* Moves the collected tokens into t; every id below the largest must be present. */
static g2r_status finish_tokens(collector *c, g2r_tokenizer *t, g2r_error *err) {
    int n = 0;
    for (int i = 0; i < c->n_ids; i++)
        if (c->by_id[i].len != UINT32_MAX) n = i + 1;
    if (n == 0) return g2r_fail(err, G2R_EFORMAT, "%s: the vocabulary is empty", c->what);
    t->off = malloc(((size_t)n + 1) * sizeof *t->off);
    t->rank = malloc((size_t)n * sizeof *t->rank);
    t->bytes = malloc(c->blob_len ? c->blob_len : 1);
    if (!t->off || !t->rank || !t->bytes) return g2r_fail(err, G2R_ENOMEM, "%s: out of memory", c->what);
    uint32_t at = 0;
    for (int i = 0; i < n; i++) {
        span s = c->by_id[i];
        if (s.len == UINT32_MAX) return g2r_fail(err, G2R_EFORMAT, "%s: no token has id %d", c->what, i);
        t->off[i] = at;
        t->rank[i] = G2R_NO_RANK;
        memcpy(t->bytes + at, c->blob + s.start, s.len);
        at += s.len;
    }
    t->off[n] = at;
    t->n_tokens = n;
    g2r_status st = g2r_vocab_index(t, c->what, err);
    if (st) return st;
    t->eot_id = g2r_vocab_find(t, (const uint8_t *)"<|endoftext|>", 13);
    return G2R_OK;
}

/* Records merge number `rank`: left and right (spelled) must be tokens, and so
 * must their concatenation, which gets this rank unless an earlier line made it. */
static g2r_status add_merge(g2r_tokenizer *t, const char *what, long line, const char *left, size_t nl,
                            const char *right, size_t nr, uint32_t rank, g2r_error *err) {
    char buf[1024];
    if (nl + nr > sizeof buf)
        return g2r_fail(err, G2R_EFORMAT, "%s:%ld: merge is too long", what, line);
    long a = g2r_spelling_to_bytes(left, nl, buf);
    long b = a < 0 ? -1 : g2r_spelling_to_bytes(right, nr, buf + a);
    if (a <= 0 || b <= 0)
        return g2r_fail(err, G2R_EFORMAT, "%s:%ld: merge \"%.*s %.*s\" is not two tokens in GPT-2's byte alphabet",
                        what, line, (int)nl, left, (int)nr, right);
    const uint8_t *u = (const uint8_t *)buf;
    int id = g2r_vocab_find(t, u, (size_t)(a + b));
    if (g2r_vocab_find(t, u, (size_t)a) < 0 || g2r_vocab_find(t, u + a, (size_t)b) < 0 || id < 0)
        return g2r_fail(err, G2R_EFORMAT, "%s:%ld: merge \"%.*s %.*s\" uses or makes a token not in the vocabulary",
                        what, line, (int)nl, left, (int)nr, right);
    if (t->rank[id] == G2R_NO_RANK) t->rank[id] = rank;
    return G2R_OK;
}

/* merges.txt / vocab.bpe: an optional "#version" line, then "left right" per line. */
static g2r_status read_merges_text(g2r_tokenizer *t, const char *path, g2r_error *err) {
    char *text;
    size_t size;
    g2r_status st = g2r_read_file(path, MAX_FILE_BYTES, &text, &size, err);
    if (st) return st;
    uint32_t rank = 0;
    long line = 0;
    for (char *p = text, *end = text + size; p < end && !st;) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *eol = nl ? nl : end;
        line++;
        size_t n = (size_t)(eol - p);
        if (n && p[n - 1] == '\r') n--;
        if (n && !(line == 1 && !strncmp(p, "#version", 8))) {
            char *sp = memchr(p, ' ', n);
            if (!sp || memchr(sp + 1, ' ', n - (size_t)(sp + 1 - p)))
                st = g2r_fail(err, G2R_EFORMAT, "%s:%ld: expected \"left right\"", path, line);
            else
                st = add_merge(t, path, line, p, (size_t)(sp - p), sp + 1, n - (size_t)(sp + 1 - p), rank++, err);
        }
        p = eol + 1;
    }
    free(text);
    return st;
}

static g2r_status parse_json_file(const char *path, char **text, g2r_json_doc **doc, const g2r_json **root,
                                  g2r_error *err) {
    size_t size;
    g2r_status st = g2r_read_file(path, MAX_FILE_BYTES, text, &size, err);
    if (st) return st;
    st = g2r_json_parse(*text, size, path, doc, root, err);
    if (st) {
        free(*text);
        *text = NULL;
    }
    return st;
}

/* vocab.json + merges.txt, or encoder.json + vocab.bpe. */
static g2r_status load_pair(g2r_tokenizer *t, const char *vocab_path, const char *merges_path, g2r_error *err) {
    char *text;
    g2r_json_doc *doc;
    const g2r_json *root;
    g2r_status st = parse_json_file(vocab_path, &text, &doc, &root, err);
    if (st) return st;
    collector c = {.what = vocab_path};
    st = add_vocab(&c, root, err);
    if (!st) st = finish_tokens(&c, t, err);
    g2r_json_free(doc);
    free(text);
    free(c.blob);
    free(c.by_id);
    if (!st) st = read_merges_text(t, merges_path, err);
    return st ? st : g2r_vocab_index_merges(t, err);
}

/* A merge in tokenizer.json: "left right", or ["left", "right"] in newer files. */
static g2r_status json_merge(g2r_tokenizer *t, const char *path, const g2r_json *m, long i, g2r_error *err) {
    if (m->type == G2R_JSON_STRING) {
        const char *sp = memchr(m->str, ' ', m->len);
        if (sp && !memchr(sp + 1, ' ', m->len - (size_t)(sp + 1 - m->str)))
            return add_merge(t, path, i + 1, m->str, (size_t)(sp - m->str), sp + 1, m->len - (size_t)(sp + 1 - m->str),
                             (uint32_t)i, err);
    } else if (m->type == G2R_JSON_ARRAY && m->n == 2 && m->child->type == G2R_JSON_STRING &&
               m->child->next->type == G2R_JSON_STRING) {
        const g2r_json *l = m->child, *r = l->next;
        return add_merge(t, path, i + 1, l->str, l->len, r->str, r->len, (uint32_t)i, err);
    }
    return g2r_fail(err, G2R_EFORMAT, "%s: merge %ld is neither \"left right\" nor [\"left\", \"right\"]", path, i + 1);
}

static g2r_status load_tokenizer_json(g2r_tokenizer *t, const char *path, g2r_error *err) {
    char *text;
    g2r_json_doc *doc;
    const g2r_json *root;
    g2r_status st = parse_json_file(path, &text, &doc, &root, err);
    if (st) return st;
    collector c = {.what = path};
    const g2r_json *model = g2r_json_get(root, "model");
    const g2r_json *type = g2r_json_get(model, "type");
    const g2r_json *merges = g2r_json_get(model, "merges");
    if (!model || (type && (type->type != G2R_JSON_STRING || strcmp(type->str, "BPE"))))
        st = g2r_fail(err, G2R_EFORMAT, "%s: \"model\" is not a BPE model", path);
    else if (!merges || merges->type != G2R_JSON_ARRAY)
        st = g2r_fail(err, G2R_EFORMAT, "%s: \"model\" has no \"merges\" array", path);
    if (!st) st = add_vocab(&c, g2r_json_get(model, "vocab"), err);
    const g2r_json *added = g2r_json_get(root, "added_tokens");
    if (!st && added && added->type == G2R_JSON_ARRAY)
        for (const g2r_json *a = added->child; a && !st; a = a->next) {
            const g2r_json *content = g2r_json_get(a, "content");
            if (!content || content->type != G2R_JSON_STRING)
                st = g2r_fail(err, G2R_EFORMAT, "%s: an added token has no \"content\"", path);
            else
                st = add_token(&c, g2r_json_get(a, "id"), content->str, content->len, 0, 1, err);
        }
    if (!st) st = finish_tokens(&c, t, err);
    long i = 0;
    for (const g2r_json *m = merges ? merges->child : NULL; m && !st; m = m->next, i++)
        st = json_merge(t, path, m, i, err);
    g2r_json_free(doc);
    free(text);
    free(c.blob);
    free(c.by_id);
    return st ? st : g2r_vocab_index_merges(t, err);
}

static int is_file(const char *dir, const char *name, char *path, size_t cap) {
    snprintf(path, cap, "%s/%s", dir, name);
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

g2r_status g2r_vocab_load_dir(g2r_tokenizer *t, const char *dir, g2r_error *err) {
    static const char *const pairs[][2] = {{"vocab.json", "merges.txt"}, {"encoder.json", "vocab.bpe"}};
    char a[4096], b[4096];
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return g2r_fail(err, G2R_EIO, "%s: not a folder", dir);
    for (int i = 0; i < 2; i++)
        if (is_file(dir, pairs[i][0], a, sizeof a) && is_file(dir, pairs[i][1], b, sizeof b))
            return load_pair(t, a, b, err);
    if (is_file(dir, "tokenizer.json", a, sizeof a)) return load_tokenizer_json(t, a, err);
    return g2r_fail(err, G2R_EIO, "%s: has no vocab.json + merges.txt, encoder.json + vocab.bpe or tokenizer.json", dir);
}
