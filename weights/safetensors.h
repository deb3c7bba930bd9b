/* safetensors.h — reading and validating a safetensors file.
 *
 * Layout: 8 bytes little-endian header length N, N bytes of UTF-8 JSON
 * {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
 *  "__metadata__": {"key": "value", ...}}, then the data buffer; offsets are
 * relative to the data buffer.
 *
 * Validation follows the reference Rust `safetensors` crate: the header must
 * fit, be a JSON object of well-formed entries whose byte ranges, sorted, tile
 * the data buffer exactly (no gap, no overlap, no trailing bytes) and match
 * shape x dtype size; names must be unique.  Nothing is copied: tensors point
 * into the buffer (the read-only mapping when opened from a file). */
#ifndef G2R_SAFETENSORS_H
#define G2R_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "common/fileio.h"
#include "gpt2rank.h"

/* The dtypes gpt2rank reads; I8 only holds q8 weights. */
typedef enum { G2R_ST_F32 = 0, G2R_ST_F16, G2R_ST_BF16, G2R_ST_I8 } g2r_st_dtype;

size_t g2r_st_dtype_size(g2r_st_dtype t);
const char *g2r_st_dtype_name(g2r_st_dtype t);

typedef struct {
    const char *name;      /* NUL-terminated (JSON-unescaped) */
    size_t name_len;
    g2r_st_dtype dtype;
    int ndim;
    const int64_t *shape;  /* [ndim] */
    size_t numel;
    size_t begin, end;     /* byte range in the data buffer */
    const void *data;      /* start of the bytes (alignment not guaranteed) */
} g2r_st_tensor;

typedef struct {
    const char *key, *value;
} g2r_st_meta;

typedef struct {
    char *what;                 /* the file name used in messages */
    const unsigned char *buf;   /* the whole file */
    size_t size;
    const char *header;         /* the JSON text, header_len bytes */
    size_t header_len;
    const unsigned char *data;  /* the data buffer, data_size bytes */
    size_t data_size;
    g2r_st_tensor *tensors;     /* sorted by name */
    size_t n_tensors;
    g2r_st_meta *meta;          /* __metadata__, in file order */
    size_t n_meta;
    void *priv;                 /* JSON arena, shapes, the mapping */
} g2r_safetensors;

/* Validates size bytes at buf (which must outlive st); what names the input
 * in messages.  On failure st holds nothing to free. */
g2r_status g2r_st_parse(const void *buf, size_t size, const char *what, g2r_safetensors *st, g2r_error *err);

/* Maps path read-only and validates it. */
g2r_status g2r_st_open(const char *path, g2r_safetensors *st, g2r_error *err);
void g2r_st_close(g2r_safetensors *st);

/* The tensor named name, or NULL. */
const g2r_st_tensor *g2r_st_find(const g2r_safetensors *st, const char *name);
/* The __metadata__ value for key, or NULL. */
const char *g2r_st_meta_get(const g2r_safetensors *st, const char *key);

/* A 64-bit FNV-1a over the header and a fixed sample of every tensor's bytes:
 * fast (no full-file pass), and different whenever the header or any sampled
 * byte differs. */
uint64_t g2r_st_fingerprint(const g2r_safetensors *st);

#endif
