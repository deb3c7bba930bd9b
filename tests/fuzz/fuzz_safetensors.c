/* fuzz_safetensors.c — weights/safetensors.h's g2r_st_parse on arbitrary bytes.
 *
 * A refused file gets EFORMAT and a message naming it.  An accepted one must
 * be what the header comment promises: tensors sorted by unique name, byte
 * ranges that tile the data buffer and match shape x dtype size, every one
 * found by name; every byte of every tensor is read (ASan checks the ranges). */
#include "weights/safetensors.h"
#include "tests/fuzz/fuzz.h"

static g2r_status fuzz_safetensors(const uint8_t *data, size_t size) {
    /* a copy of exactly size bytes, so reading past the end is caught */
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) return G2R_ENOMEM;
    memcpy(buf, data, size);
    g2r_safetensors st;
    g2r_error err = {0};
    g2r_status s = g2r_st_parse(buf, size, "fuzz.safetensors", &st, &err);
    if (s) {
        FUZZ_CHECK(s == G2R_EFORMAT && fuzz_clean_error(s, &err, "fuzz.safetensors"));
        FUZZ_CHECK(st.tensors == NULL && st.priv == NULL);
        free(buf);
        return s;
    }
    FUZZ_CHECK(st.header == (const char *)buf + 8 && st.data == buf + 8 + st.header_len);
    FUZZ_CHECK(8 + st.header_len + st.data_size == size);
    size_t total = 0;
    unsigned sum = 0;
    for (size_t i = 0; i < st.n_tensors; i++) {
        const g2r_st_tensor *t = &st.tensors[i];
        size_t numel = 1;
        for (int d = 0; d < t->ndim; d++) {
            FUZZ_CHECK(t->shape[d] >= 0); /* (a scalar, ndim 0, has no shape[0] to read) */
            numel *= (size_t)t->shape[d];
        }
        FUZZ_CHECK(numel == t->numel && t->end - t->begin == numel * g2r_st_dtype_size(t->dtype));
        FUZZ_CHECK(t->begin <= t->end && t->end <= st.data_size && t->data == st.data + t->begin);
        FUZZ_CHECK(t->name[t->name_len] == 0);
        if (i) {
            const g2r_st_tensor *u = &st.tensors[i - 1];
            int c = memcmp(u->name, t->name, u->name_len < t->name_len ? u->name_len : t->name_len);
            FUZZ_CHECK(c < 0 || (c == 0 && u->name_len < t->name_len)); /* sorted, unique */
        }
        /* names with a NUL inside cannot be looked up by a C string */
        if (strlen(t->name) == t->name_len) FUZZ_CHECK(g2r_st_find(&st, t->name) == t);
        for (size_t b = t->begin; b < t->end; b++) sum += st.data[b];
        total += t->end - t->begin;
    }
    FUZZ_CHECK(total == st.data_size); /* ranges tile the buffer: no gap, no overlap */
    for (size_t i = 0; i < st.n_meta; i++) FUZZ_CHECK(g2r_st_meta_get(&st, st.meta[i].key) != NULL);
    (void)g2r_st_fingerprint(&st);
    (void)sum;
    g2r_st_close(&st);
    free(buf);
    return G2R_OK;
}

FUZZ_MAIN(fuzz_safetensors)
