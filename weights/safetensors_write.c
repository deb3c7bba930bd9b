/* safetensors_write.c — header layout and the streamed, atomic write. */
#include "weights/safetensors_write.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/fileio.h"
#include "common/json.h"

struct g2r_st_out {
    g2r_atomic *file;
    const char *path, *name;
    size_t expected, written;
};

g2r_status g2r_st_put(g2r_st_out *out, const void *buf, size_t n, g2r_error *err) {
    if (n > out->expected - out->written)
        return g2r_fail(err, G2R_EARG, "%s: tensor '%s': more bytes than its shape holds (%zu)", out->path, out->name,
                        out->expected);
    out->written += n;
    return g2r_atomic_write(out->file, buf, n, err);
}

typedef struct {
    const g2r_st_spec *spec;
    size_t bytes, begin;
} slot;

static int by_name(const void *a, const void *b) {
    return strcmp(((const slot *)a)->spec->name, ((const slot *)b)->spec->name);
}

/* Largest element first, then name: each tensor starts aligned to its element size. */
static int by_layout(const void *a, const void *b) {
    const slot *const *x = a, *const *y = b;
    size_t sx = g2r_st_dtype_size((*x)->spec->dtype), sy = g2r_st_dtype_size((*y)->spec->dtype);
    if (sx != sy) return sx > sy ? -1 : 1;
    return strcmp((*x)->spec->name, (*y)->spec->name);
}

static g2r_status sizes(const char *path, slot *s, size_t n, g2r_error *err) {
    for (size_t i = 0; i < n; i++) {
        const g2r_st_spec *t = s[i].spec;
        if (t->ndim < 0 || t->ndim > G2R_ST_WRITE_MAX_DIMS)
            return g2r_fail(err, G2R_EARG, "%s: tensor '%s': %d dimensions", path, t->name, t->ndim);
        size_t bytes = g2r_st_dtype_size(t->dtype);
        for (int d = 0; d < t->ndim; d++) {
            if (t->shape[d] < 0 || (t->shape[d] && bytes > SIZE_MAX / (size_t)t->shape[d]))
                return g2r_fail(err, G2R_EARG, "%s: tensor '%s': bad shape", path, t->name);
            bytes *= (size_t)t->shape[d];
        }
        s[i].bytes = bytes;
    }
    qsort(s, n, sizeof *s, by_name);
    for (size_t i = 1; i < n; i++)
        if (!strcmp(s[i - 1].spec->name, s[i].spec->name))
            return g2r_fail(err, G2R_EARG, "%s: duplicate tensor name '%s'", path, s[i].spec->name);
    return G2R_OK;
}

/* The JSON header, padded with spaces so that 8 + its length is a multiple of 8. */
static char *header(const slot *s, size_t n, const char *const (*meta)[2], size_t n_meta, size_t *len) {
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    if (!f) return NULL;
    fputc('{', f);
    if (n_meta) {
        fputs("\"__metadata__\":{", f);
        for (size_t i = 0; i < n_meta; i++) {
            if (i) fputc(',', f);
            g2r_json_write_string(f, meta[i][0], strlen(meta[i][0]));
            fputc(':', f);
            g2r_json_write_string(f, meta[i][1], strlen(meta[i][1]));
        }
        fputc('}', f);
    }
    for (size_t i = 0; i < n; i++) {
        const g2r_st_spec *t = s[i].spec;
        if (i || n_meta) fputc(',', f);
        g2r_json_write_string(f, t->name, strlen(t->name));
        fprintf(f, ":{\"dtype\":\"%s\",\"shape\":[", g2r_st_dtype_name(t->dtype));
        for (int d = 0; d < t->ndim; d++) fprintf(f, "%s%lld", d ? "," : "", (long long)t->shape[d]);
        fprintf(f, "],\"data_offsets\":[%zu,%zu]}", s[i].begin, s[i].begin + s[i].bytes);
    }
    fputc('}', f);
    while ((8 + ftell(f)) % 8) fputc(' ', f);
    if (fclose(f)) {
        free(buf);
        return NULL;
    }
    *len = size;
    return buf;
}

static g2r_status write_all(const char *path, slot **order, size_t n, const char *hdr, size_t hlen,
                            g2r_st_emit_fn emit, void *user, g2r_error *err) {
    g2r_atomic file;
    g2r_status st = g2r_atomic_open(&file, path, err);
    if (st) return st;
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
    st = g2r_atomic_write(&file, len8, 8, err);
    if (!st) st = g2r_atomic_write(&file, hdr, hlen, err);
    for (size_t i = 0; i < n && !st; i++) {
        g2r_st_out out = {&file, path, order[i]->spec->name, order[i]->bytes, 0};
        st = emit(user, order[i]->spec, &out, err);
        if (!st && out.written != out.expected)
            st = g2r_fail(err, G2R_EARG, "%s: tensor '%s': %zu bytes written, its shape holds %zu", path,
                          out.name, out.written, out.expected);
    }
    if (st) {
        g2r_atomic_abort(&file);
        return st;
    }
    return g2r_atomic_commit(&file, err);
}

g2r_status g2r_st_write(const char *path, const g2r_st_spec *tensors, size_t n, const char *const (*meta)[2],
                        size_t n_meta, g2r_st_emit_fn emit, void *user, g2r_error *err) {
    slot *s = calloc(n ? n : 1, sizeof *s);
    slot **order = calloc(n ? n : 1, sizeof *order);
    char *hdr = NULL;
    size_t hlen = 0;
    g2r_status st = G2R_OK;
    if (!s || !order) {
        st = g2r_fail(err, G2R_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    for (size_t i = 0; i < n; i++) s[i].spec = &tensors[i];
    if ((st = sizes(path, s, n, err))) goto done;
    for (size_t i = 0; i < n; i++) order[i] = &s[i];
    qsort(order, n, sizeof *order, by_layout);
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        order[i]->begin = pos;
        pos += order[i]->bytes;
    }
    hdr = header(s, n, meta, n_meta, &hlen);
    if (!hdr) {
        st = g2r_fail(err, G2R_ENOMEM, "%s: out of memory building the header", path);
        goto done;
    }
    st = write_all(path, order, n, hdr, hlen, emit, user, err);
done:
    free(hdr);
    free(order);
    free(s);
    return st;
}
