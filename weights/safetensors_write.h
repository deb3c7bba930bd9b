/* safetensors_write.h — writing a safetensors file, streamed and atomic.
 *
 * The caller lists the tensors up front (the header needs every offset), then
 * hands over each tensor's bytes when asked, so a 500 MB model never needs to
 * sit in memory.  Data is laid out by element size, largest first, then by
 * name, so every tensor starts aligned to its element size without gaps; the
 * header lists tensors by name and is padded with spaces so the data buffer
 * starts 8-byte aligned, as Hugging Face's writer does.  The file appears only
 * when complete (common/fileio.h's atomic writer). */
#ifndef G2R_SAFETENSORS_WRITE_H
#define G2R_SAFETENSORS_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include "weights/safetensors.h"

#define G2R_ST_WRITE_MAX_DIMS 4

typedef struct {
    const char *name; /* must outlive the write */
    g2r_st_dtype dtype;
    int ndim;
    int64_t shape[G2R_ST_WRITE_MAX_DIMS];
} g2r_st_spec;

typedef struct g2r_st_out g2r_st_out;

/* Called once per tensor, in data order; must pass exactly the tensor's
 * bytes (numel x dtype size) to g2r_st_put, in as many pieces as it likes. */
typedef g2r_status (*g2r_st_emit_fn)(void *user, const g2r_st_spec *t, g2r_st_out *out, g2r_error *err);

g2r_status g2r_st_put(g2r_st_out *out, const void *buf, size_t n, g2r_error *err);

/* Writes path.  meta holds n_meta key/value pairs for __metadata__ (may be NULL).
 * On any failure no file is left at path (an old one stays untouched). */
g2r_status g2r_st_write(const char *path, const g2r_st_spec *tensors, size_t n_tensors, const char *const (*meta)[2],
                        size_t n_meta, g2r_st_emit_fn emit, void *user, g2r_error *err);

#endif
