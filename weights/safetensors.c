/* safetensors.c — parse and validate a safetensors buffer, the same rules as
 * the reference Rust crate, plus a check for duplicate names. */
#include "weights/safetensors.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/json.h"

#define MAX_HEADER 100000000ull

typedef struct {
    g2r_json_doc *doc;
    int64_t *shapes;
    g2r_map map;
} st_priv;

size_t g2r_st_dtype_size(g2r_st_dtype t) {
    switch (t) {
    case G2R_ST_F32: return 4;
    case G2R_ST_F16:
    case G2R_ST_BF16: return 2;
    case G2R_ST_I8: return 1;
    }
    return 0;
}

const char *g2r_st_dtype_name(g2r_st_dtype t) {
    switch (t) {
    case G2R_ST_F32: return "F32";
    case G2R_ST_F16: return "F16";
    case G2R_ST_BF16: return "BF16";
    case G2R_ST_I8: return "I8";
    }
    return "?";
}

/* Valid safetensors dtypes that gpt2rank does not compute with: refused by name. */
static const char *const other_dtypes[] = {"BOOL", "U8", "I16", "U16", "I32", "U32", "I64", "U64", "F64",
                                           "F8_E4M3", "F8_E5M2", "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4", "C64"};

/* A copy of a tensor name fit for a one-line message: printable ASCII only, bounded. */
static const char *printable(const char *s, size_t len, char *out, size_t cap) {
    size_t n = 0;
    for (size_t i = 0; i < len && n + 4 < cap; i++) out[n++] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    if (n + 4 >= cap && len > n) out[n++] = '.', out[n++] = '.', out[n++] = '.';
    out[n] = 0;
    return out;
}

static g2r_status parse_dtype(const char *what, const char *tname, const g2r_json *v, g2r_st_dtype *out,
                              g2r_error *err) {
    if (!v || v->type != G2R_JSON_STRING)
        return g2r_fail(err, G2R_EFORMAT, "%s: tensor '%s': \"dtype\" missing or not a string", what, tname);
    static const char *const ours[] = {"F32", "F16", "BF16", "I8"};
    for (int i = 0; i < 4; i++)
        if (!strcmp(v->str, ours[i]) && v->len == strlen(ours[i])) {
            *out = (g2r_st_dtype)i;
            return G2R_OK;
        }
    char d[40];
    printable(v->str, v->len, d, sizeof d);
    for (size_t i = 0; i < sizeof other_dtypes / sizeof other_dtypes[0]; i++)
        if (!strcmp(v->str, other_dtypes[i]))
            return g2r_fail(err, G2R_EFORMAT, "%s: tensor '%s': dtype %s not supported (F32, F16, BF16, I8 are)",
                            what, tname, d);
    return g2r_fail(err, G2R_EFORMAT, "%s: tensor '%s': unknown dtype '%s'", what, tname, d);
}

/* A JSON value that is a non-negative integer. */
static int nonneg_int(const g2r_json *v, uint64_t *out) {
    if (!v || v->type != G2R_JSON_NUMBER || !v->is_int || v->i < 0) return 0;
    *out = (uint64_t)v->i;
    return 1;
}

static g2r_status parse_entry(const char *what, const g2r_json *e, g2r_st_tensor *t, int64_t *shape_store,
                              g2r_error *err) {
    char tname[120];
    printable(e->key, e->key_len, tname, sizeof tname);
    if (e->type != G2R_JSON_OBJECT)
        return g2r_fail(err, G2R_EFORMAT, "%s: tensor '%s': entry is not a JSON object", what, tname);
    g2r_status s = parse_dtype(what, tname, g2r_json_get(e, "dtype"), &t->dtype, err);
    if (s) return s;

    const g2r_json *shape = g2r_json_get(e, "shape");
    if (!shape || shape->type != G2R_JSON_ARRAY)
        return g2r_fail(err, G2R_EFORMAT, "%s: tensor '%s': \"shape\" missing or not an array", what, tname);
    size_t numel = 1;
    int overflow = 0, d = 0;
    for (const g2r_json *x = shape->child; x; x = x->next, d++) {
        uint64_t n;
        if (!nonneg_int(x, &n))
            return g2r_fail(err, G2R_EFORMAT, "%s: tensor '%s': shape dimension %d is not a non-negative integer",
                            what, tname, d);
        shape_store[d] = (int64_t)n;
        if (n && numel > SIZE_MAX / n) overflow = 1;
        else numel *= (size_t)n;
    }
    t->ndim = d;
    t->shape = shape_store;

    const g2r_json *off = g2r_json_get(e, "data_offsets");
    uint64_t b, en;
    if (!off || off->type != G2R_JSON_ARRAY || off->n != 2 || !nonneg_int(off->child, &b) ||
        !nonneg_int(off->child->next, &en))
        return g2r_fail(err, G2R_EFORMAT, "%s: tensor '%s': \"data_offsets\" must be [begin, end] of non-negative integers",
                        what, tname);
    if (en < b)
        return g2r_fail(err, G2R_EFORMAT, "%s: tensor '%s': data_offsets [%llu, %llu] end before they begin", what,
                        tname, (unsigned long long)b, (unsigned long long)en);
    size_t esz = g2r_st_dtype_size(t->dtype);
    if (overflow || numel > SIZE_MAX / esz)
        return g2r_fail(err, G2R_EFORMAT, "%s: tensor '%s': shape x dtype size overflows", what, tname);
    if (en - b != numel * esz)
        return g2r_fail(err, G2R_EFORMAT, "%s: tensor '%s': data_offsets [%llu, %llu] hold %llu bytes but shape of %zu %s elements needs %zu",
                        what, tname, (unsigned long long)b, (unsigned long long)en, (unsigned long long)(en - b),
                        numel, g2r_st_dtype_name(t->dtype), numel * esz);
    t->numel = numel;
    t->begin = (size_t)b;
    t->end = (size_t)en;
    t->name = e->key;
    t->name_len = e->key_len;
    return G2R_OK;
}

static g2r_status parse_meta(const char *what, const g2r_json *m, g2r_safetensors *st, g2r_error *err) {
    if (m->type == G2R_JSON_NULL) return G2R_OK; /* Option<HashMap> in the reference: null is none */
    if (m->type != G2R_JSON_OBJECT)
        return g2r_fail(err, G2R_EFORMAT, "%s: __metadata__ is not a JSON object", what);
    st->meta = calloc(m->n ? m->n : 1, sizeof *st->meta);
    if (!st->meta) return g2r_fail(err, G2R_ENOMEM, "%s: out of memory", what);
    for (const g2r_json *x = m->child; x; x = x->next) {
        char k[80];
        if (x->type != G2R_JSON_STRING)
            return g2r_fail(err, G2R_EFORMAT, "%s: __metadata__ value of '%s' is not a string", what,
                            printable(x->key, x->key_len, k, sizeof k));
        st->meta[st->n_meta].key = x->key;
        st->meta[st->n_meta++].value = x->str;
    }
    return G2R_OK;
}

static int name_cmp(const char *a, size_t al, const char *b, size_t bl) {
    int c = memcmp(a, b, al < bl ? al : bl);
    return c ? c : (al > bl) - (al < bl);
}

static int by_name(const void *a, const void *b) {
    const g2r_st_tensor *x = a, *y = b;
    return name_cmp(x->name, x->name_len, y->name, y->name_len);
}

static int by_offset(const void *a, const void *b) {
    const g2r_st_tensor *x = *(const g2r_st_tensor *const *)a, *y = *(const g2r_st_tensor *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return (x->end > y->end) - (x->end < y->end);
}

/* Sorted by offset, the ranges must follow one another from 0 to the end of the data. */
static g2r_status check_tiling(const char *what, g2r_safetensors *st, g2r_error *err) {
    const g2r_st_tensor **order = malloc((st->n_tensors ? st->n_tensors : 1) * sizeof *order);
    if (!order) return g2r_fail(err, G2R_ENOMEM, "%s: out of memory", what);
    for (size_t i = 0; i < st->n_tensors; i++) order[i] = &st->tensors[i];
    qsort(order, st->n_tensors, sizeof *order, by_offset);
    size_t pos = 0;
    g2r_status s = G2R_OK;
    for (size_t i = 0; i < st->n_tensors && !s; i++) {
        const g2r_st_tensor *t = order[i];
        char tname[120];
        printable(t->name, t->name_len, tname, sizeof tname);
        if (t->begin > pos)
            s = g2r_fail(err, G2R_EFORMAT, "%s: tensor '%s': data_offsets begin at %zu, leaving a gap after byte %zu",
                         what, tname, t->begin, pos);
        else if (t->begin < pos)
            s = g2r_fail(err, G2R_EFORMAT, "%s: tensor '%s': data_offsets begin at %zu, overlapping bytes before %zu",
                         what, tname, t->begin, pos);
        pos = t->end;
    }
    free(order);
    if (s) return s;
    if (pos > st->data_size)
        return g2r_fail(err, G2R_EFORMAT, "%s: tensors end at byte %zu but the data buffer has only %zu bytes", what,
                        pos, st->data_size);
    if (pos < st->data_size)
        return g2r_fail(err, G2R_EFORMAT, "%s: %zu trailing bytes after the last tensor (tensors end at byte %zu of %zu)",
                        what, st->data_size - pos, pos, st->data_size);
    return G2R_OK;
}

static g2r_status parse_header(g2r_safetensors *st, st_priv *p, g2r_error *err) {
    const char *what = st->what;
    char jwhat[300];
    snprintf(jwhat, sizeof jwhat, "%s: header is not valid JSON", what);
    const g2r_json *root;
    g2r_status s = g2r_json_parse(st->header, st->header_len, jwhat, &p->doc, &root, err);
    if (s) return s;
    if (root->type != G2R_JSON_OBJECT) return g2r_fail(err, G2R_EFORMAT, "%s: header is not a JSON object", what);

    size_t n_dims = 0, n_entries = 0;
    for (const g2r_json *e = root->child; e; e = e->next) {
        if (!strcmp(e->key, "__metadata__") && e->key_len == 12) continue;
        n_entries++;
        const g2r_json *shape = e->type == G2R_JSON_OBJECT ? g2r_json_get(e, "shape") : NULL;
        if (shape && shape->type == G2R_JSON_ARRAY) n_dims += shape->n;
    }
    st->tensors = calloc(n_entries ? n_entries : 1, sizeof *st->tensors);
    p->shapes = calloc(n_dims ? n_dims : 1, sizeof *p->shapes);
    if (!st->tensors || !p->shapes) return g2r_fail(err, G2R_ENOMEM, "%s: out of memory", what);

    int seen_meta = 0;
    size_t dims_used = 0;
    for (const g2r_json *e = root->child; e; e = e->next) {
        if (!strcmp(e->key, "__metadata__") && e->key_len == 12) {
            if (seen_meta++) return g2r_fail(err, G2R_EFORMAT, "%s: duplicate name '__metadata__'", what);
            if ((s = parse_meta(what, e, st, err))) return s;
            continue;
        }
        g2r_st_tensor *t = &st->tensors[st->n_tensors];
        if ((s = parse_entry(what, e, t, p->shapes + dims_used, err))) return s;
        dims_used += (size_t)t->ndim;
        st->n_tensors++;
    }

    qsort(st->tensors, st->n_tensors, sizeof *st->tensors, by_name);
    for (size_t i = 1; i < st->n_tensors; i++)
        if (!by_name(&st->tensors[i - 1], &st->tensors[i])) {
            char tname[120];
            return g2r_fail(err, G2R_EFORMAT, "%s: duplicate tensor name '%s'", what,
                            printable(st->tensors[i].name, st->tensors[i].name_len, tname, sizeof tname));
        }
    if ((s = check_tiling(what, st, err))) return s;
    for (size_t i = 0; i < st->n_tensors; i++) st->tensors[i].data = st->data + st->tensors[i].begin;
    return G2R_OK;
}

static void release(g2r_safetensors *st) {
    st_priv *p = st->priv;
    if (p) {
        g2r_json_free(p->doc);
        free(p->shapes);
        g2r_unmap(&p->map);
        free(p);
    }
    free(st->tensors);
    free(st->meta);
    free(st->what);
    memset(st, 0, sizeof *st);
}

static g2r_status parse_into(g2r_safetensors *st, const void *buf, size_t size, const char *what, g2r_error *err) {
    const unsigned char *b = buf;
    if (size < 8)
        return g2r_fail(err, G2R_EFORMAT, "%s: file is %zu bytes, too short for the 8-byte safetensors header length",
                        what, size);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | b[i];
    if (n > MAX_HEADER)
        return g2r_fail(err, G2R_EFORMAT, "%s: header length %llu is over the limit of %llu bytes", what,
                        (unsigned long long)n, MAX_HEADER);
    if (n > size - 8)
        return g2r_fail(err, G2R_EFORMAT, "%s: header length %llu runs past the end of the file (%zu bytes)", what,
                        (unsigned long long)n, size);
    st->buf = b;
    st->size = size;
    st->header = (const char *)b + 8;
    st->header_len = (size_t)n;
    st->data = b + 8 + n;
    st->data_size = size - 8 - (size_t)n;
    if (n == 0 || st->header[0] != '{')
        return g2r_fail(err, G2R_EFORMAT, "%s: header is not a JSON object (must start with '{')", what);
    return parse_header(st, st->priv, err);
}

g2r_status g2r_st_parse(const void *buf, size_t size, const char *what, g2r_safetensors *st, g2r_error *err) {
    memset(st, 0, sizeof *st);
    st->what = strdup(what ? what : "safetensors");
    st->priv = calloc(1, sizeof(st_priv));
    if (!st->what || !st->priv) {
        release(st);
        return g2r_fail(err, G2R_ENOMEM, "%s: out of memory", what);
    }
    g2r_status s = parse_into(st, buf, size, st->what, err);
    if (s) release(st);
    return s;
}

g2r_status g2r_st_open(const char *path, g2r_safetensors *st, g2r_error *err) {
    memset(st, 0, sizeof *st);
    g2r_map m;
    g2r_status s = g2r_map_file(path, &m, err);
    if (s) return s;
    s = g2r_st_parse(m.data, m.size, path, st, err);
    if (s) {
        g2r_unmap(&m);
        return s;
    }
    ((st_priv *)st->priv)->map = m;
    return G2R_OK;
}

void g2r_st_close(g2r_safetensors *st) {
    if (st) release(st);
}

const g2r_st_tensor *g2r_st_find(const g2r_safetensors *st, const char *name) {
    size_t lo = 0, hi = st->n_tensors, len = strlen(name);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = name_cmp(st->tensors[mid].name, st->tensors[mid].name_len, name, len);
        if (!c) return &st->tensors[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

const char *g2r_st_meta_get(const g2r_safetensors *st, const char *key) {
    for (size_t i = 0; i < st->n_meta; i++)
        if (!strcmp(st->meta[i].key, key)) return st->meta[i].value;
    return NULL;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

uint64_t g2r_st_fingerprint(const g2r_safetensors *st) {
    enum { CHUNKS = 32, CHUNK = 32 };
    uint64_t h = fnv(0xcbf29ce484222325ull, st->header, st->header_len);
    for (size_t i = 0; i < st->n_tensors; i++) {
        const unsigned char *d = st->tensors[i].data;
        size_t n = st->tensors[i].end - st->tensors[i].begin;
        if (n <= CHUNKS * CHUNK) {
            h = fnv(h, d, n);
            continue;
        }
        /* CHUNKS evenly spaced chunks, the first at 0 and the last at the end */
        for (size_t c = 0; c < CHUNKS; c++) h = fnv(h, d + c * (n - CHUNK) / (CHUNKS - 1), CHUNK);
    }
    return h;
}
