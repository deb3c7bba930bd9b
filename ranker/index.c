/* index.c — the .g2ri item index: writing it in one piece, opening it by mmap.
 *
 * Layout (all integers little-endian, every section offset 64-byte aligned):
 *
 *   header    128 bytes, see the H_* offsets below
 *   post      float32 mean[dim] (when centred), then pcs[n_pc][dim]
 *   records   u64 offset[count + 1] (from the records start), then per item:
 *             u64 text_hash, u32 id_len, u32 meta_len, id bytes, meta bytes
 *   vectors   count rows of `stride` elements (f32, f16 or int8), each row a
 *             multiple of 64 bytes, zero-padded past dim
 *   scales    q8 only: float32 per row, so that scale * row is a unit vector
 *   refine    q8 only: the rows again as f16 (64-byte rows): the scan reads
 *             the int8 rows and re-scores its best candidates with these
 *
 * The checksum is XXH64 of bytes [128, end) seeded with XXH64 of the header's
 * first 120 bytes, so any flipped bit anywhere is caught at open. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/fileio.h"
#include "common/half.h"
#include "ranker/hash.h"
#include "ranker/index_internal.h"
#include "ranker/postproc.h"

static const char MAGIC[8] = {'G', '2', 'R', 'I', 'N', 'D', 'E', 'X'};
enum {
    HEADER_BYTES = 128,
    H_VERSION = 8, H_HEADER_BYTES = 12, H_DIM = 16, H_DTYPE = 20, H_COUNT = 24, H_POOLING = 32, H_FLAGS = 36,
    H_NPC = 40, H_FINGERPRINT = 48, H_STRIDE = 56, H_OFF_POST = 64, H_OFF_RECORDS = 72, H_RECORDS_BYTES = 80,
    H_OFF_VECTORS = 88, H_OFF_SCALES = 96, H_FILE_BYTES = 104, H_OFF_REFINE = 112, H_CHECKSUM = 120,
};
#define FLAG_CENTERED 1u
#define MAX_DIM 65536

struct g2r_index {
    g2r_map map;
    char *path;
    g2r_index_info info;
    g2r_vectors vec, refine;
    const float *mean, *pcs;   /* into the map; mean NULL when not centred */
    const unsigned char *records;
    uint32_t *table;           /* id hash table: row + 1, 0 empty */
    size_t table_mask;
    g2r_scanner *scanner;
};

/* ---- little-endian helpers */

static void put32(unsigned char *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i)); }
static void put64(unsigned char *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i)); }
static uint32_t get32(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t get64(const unsigned char *p) { return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32; }

static size_t align64(size_t x) { return (x + 63) & ~(size_t)63; }
/* elements per row so that every row is a whole number of 64-byte lines */
static size_t row_stride(int dim, g2r_vec_dtype t) { return align64((size_t)dim * g2r_vec_dtype_size(t)) / g2r_vec_dtype_size(t); }

static uint64_t checksum(const unsigned char *file, size_t size) {
    return g2r_xxh64(file + HEADER_BYTES, size - HEADER_BYTES, g2r_xxh64(file, H_CHECKSUM, 0));
}

/* ---- writing */

/* Stores one unit vector v as a row of dtype t; returns the row factor (q8; 1 otherwise). */
float g2r_index_encode_row(unsigned char *dst, const float *v, int dim, g2r_vec_dtype t) {
    if (t == G2R_VEC_F32) {
        memcpy(dst, v, sizeof(float) * (size_t)dim);
        return 1;
    }
    if (t == G2R_VEC_F16) {
        for (int d = 0; d < dim; d++) {
            uint16_t h = g2r_f32_to_f16(v[d]);
            dst[2 * d] = (unsigned char)h;
            dst[2 * d + 1] = (unsigned char)(h >> 8);
        }
        return 1;
    }
    float amax = 0;
    for (int d = 0; d < dim; d++) amax = fabsf(v[d]) > amax ? fabsf(v[d]) : amax;
    if (amax == 0) return 0;
    float s = amax / 127.0f;
    double ss = 0;
    for (int d = 0; d < dim; d++) {
        long q = lrintf(v[d] / s);
        q = q > 127 ? 127 : q < -127 ? -127 : q;
        ((int8_t *)dst)[d] = (int8_t)q;
        ss += (double)q * q;
    }
    /* fold the norm of the dequantised row into its factor: stored rows score as unit vectors */
    return (float)(1.0 / sqrt(ss));
}

static g2r_status check_unique_ids(const char *path, size_t count, const g2r_item *items, g2r_error *err) {
    size_t cap = 16;
    while (cap < 2 * count) cap *= 2;
    size_t *t = calloc(cap, sizeof(size_t)); /* row + 1, 0 empty */
    if (!t) return g2r_fail(err, G2R_ENOMEM, "%s: out of memory", path);
    for (size_t i = 0; i < count; i++) {
        size_t h = (size_t)g2r_xxh64(items[i].id, items[i].id_len, 0) & (cap - 1);
        for (; t[h]; h = (h + 1) & (cap - 1)) {
            const g2r_item *o = &items[t[h] - 1];
            if (o->id_len == items[i].id_len && !memcmp(o->id, items[i].id, o->id_len)) {
                free(t);
                return g2r_fail(err, G2R_EARG, "%s: duplicate item id '%.*s'", path,
                                (int)(o->id_len < 80 ? o->id_len : 80), o->id);
            }
        }
        t[h] = i + 1;
    }
    free(t);
    return G2R_OK;
}

g2r_status g2r_index_write(const char *path, const g2r_index_spec *spec, size_t count, const g2r_item *items,
                           const float *vectors, g2r_error *err) {
    const int dim = spec->dim;
    if (dim < 1 || dim > MAX_DIM) return g2r_fail(err, G2R_EARG, "%s: dim %d out of range", path, dim);
    if ((unsigned)spec->dtype > G2R_VEC_Q8) return g2r_fail(err, G2R_EARG, "%s: unknown dtype", path);
    if (spec->n_pc < 0 || spec->n_pc >= dim || (spec->n_pc && !spec->pcs))
        return g2r_fail(err, G2R_EARG, "%s: bad number of principal directions %d", path, spec->n_pc);
    if (count > UINT32_MAX - 1) return g2r_fail(err, G2R_ERANGE, "%s: too many items (%zu)", path, count);

    g2r_status st = check_unique_ids(path, count, items, err);
    if (st) return st;
    const size_t stride = row_stride(dim, spec->dtype), es = g2r_vec_dtype_size(spec->dtype);
    size_t post_bytes = sizeof(float) * (size_t)dim * ((spec->mean ? 1 : 0) + (size_t)spec->n_pc);
    size_t rec_bytes = 8 * (count + 1);
    for (size_t i = 0; i < count; i++) {
        if (items[i].id_len == 0) return g2r_fail(err, G2R_EARG, "%s: item %zu has an empty id", path, i);
        if (items[i].id_len > UINT32_MAX || items[i].meta_len > UINT32_MAX)
            return g2r_fail(err, G2R_ERANGE, "%s: item %zu: id or metadata too long", path, i);
        rec_bytes += 16 + items[i].id_len + items[i].meta_len;
    }
    size_t off_post = HEADER_BYTES, off_rec = align64(off_post + post_bytes);
    size_t off_vec = align64(off_rec + rec_bytes), vec_bytes = count * stride * es;
    size_t off_scales = spec->dtype == G2R_VEC_Q8 ? align64(off_vec + vec_bytes) : 0;
    const size_t stride16 = row_stride(dim, G2R_VEC_F16);
    size_t off_refine = off_scales ? align64(off_scales + sizeof(float) * count) : 0;
    size_t total = off_refine ? off_refine + count * stride16 * 2 : off_vec + vec_bytes;

    unsigned char *f = calloc(1, total);
    if (!f) return g2r_fail(err, G2R_ENOMEM, "%s: cannot allocate %zu bytes", path, total);
    memcpy(f, MAGIC, 8);
    put32(f + H_VERSION, G2R_INDEX_VERSION);
    put32(f + H_HEADER_BYTES, HEADER_BYTES);
    put32(f + H_DIM, (uint32_t)dim);
    put32(f + H_DTYPE, (uint32_t)spec->dtype);
    put64(f + H_COUNT, count);
    put32(f + H_POOLING, (uint32_t)spec->pooling);
    put32(f + H_FLAGS, spec->mean ? FLAG_CENTERED : 0);
    put32(f + H_NPC, (uint32_t)spec->n_pc);
    put64(f + H_FINGERPRINT, spec->fingerprint);
    put64(f + H_STRIDE, stride);
    put64(f + H_OFF_POST, off_post);
    put64(f + H_OFF_RECORDS, off_rec);
    put64(f + H_RECORDS_BYTES, rec_bytes);
    put64(f + H_OFF_VECTORS, off_vec);
    put64(f + H_OFF_SCALES, off_scales);
    put64(f + H_FILE_BYTES, total);
    put64(f + H_OFF_REFINE, off_refine);

    unsigned char *p = f + off_post;
    for (int d = 0; spec->mean && d < dim; d++, p += 4) memcpy(p, &spec->mean[d], 4);
    if (spec->n_pc) memcpy(p, spec->pcs, sizeof(float) * (size_t)dim * spec->n_pc);

    size_t pos = 8 * (count + 1);
    for (size_t i = 0; i < count; i++) {
        put64(f + off_rec + 8 * i, pos);
        unsigned char *r = f + off_rec + pos;
        put64(r, items[i].text_hash);
        put32(r + 8, (uint32_t)items[i].id_len);
        put32(r + 12, (uint32_t)items[i].meta_len);
        memcpy(r + 16, items[i].id, items[i].id_len);
        if (items[i].meta_len) memcpy(r + 16 + items[i].id_len, items[i].meta, items[i].meta_len);
        pos += 16 + items[i].id_len + items[i].meta_len;
    }
    put64(f + off_rec + 8 * count, pos);

    float *unit = malloc(sizeof(float) * (size_t)dim);
    if (!unit) st = g2r_fail(err, G2R_ENOMEM, "%s: out of memory", path);
    for (size_t i = 0; !st && i < count; i++) {
        memcpy(unit, vectors + i * dim, sizeof(float) * (size_t)dim);
        for (int d = 0; d < dim; d++)
            if (!isfinite(unit[d])) st = g2r_fail(err, G2R_EARG, "%s: item %zu has a non-finite vector", path, i);
        g2r_l2_normalize(unit, dim);
        float s = g2r_index_encode_row(f + off_vec + i * stride * es, unit, dim, spec->dtype);
        if (off_scales) memcpy(f + off_scales + 4 * i, &s, 4);
        if (off_refine) g2r_index_encode_row(f + off_refine + i * stride16 * 2, unit, dim, G2R_VEC_F16);
    }
    free(unit);
    put64(f + H_CHECKSUM, st ? 0 : checksum(f, total));

    g2r_atomic a;
    if (!st) st = g2r_atomic_open(&a, path, err);
    if (!st) {
        st = g2r_atomic_write(&a, f, total, err);
        if (!st) st = g2r_atomic_commit(&a, err);
        else g2r_atomic_abort(&a);
    }
    free(f);
    return st;
}

/* ---- opening */

static g2r_status bad(g2r_error *err, const char *path, const char *what) {
    return g2r_fail(err, G2R_EFORMAT, "%s: not a valid index: %s", path, what);
}

/* Builds the id -> row table; refuses duplicates. */
static g2r_status build_table(g2r_index *ix, g2r_error *err) {
    size_t n = ix->info.count, cap = 16;
    while (cap < 2 * n) cap *= 2;
    ix->table = calloc(cap, sizeof(uint32_t));
    if (!ix->table) return g2r_fail(err, G2R_ENOMEM, "%s: out of memory for %zu ids", ix->path, n);
    ix->table_mask = cap - 1;
    for (size_t r = 0; r < n; r++) {
        g2r_item it = g2r_index_item(ix, r);
        size_t h = (size_t)g2r_xxh64(it.id, it.id_len, 0) & ix->table_mask;
        while (ix->table[h]) {
            g2r_item o = g2r_index_item(ix, ix->table[h] - 1);
            if (o.id_len == it.id_len && !memcmp(o.id, it.id, it.id_len))
                return g2r_fail(err, G2R_EFORMAT, "%s: duplicate item id '%.*s'", ix->path, (int)(it.id_len < 80 ? it.id_len : 80), it.id);
            h = (h + 1) & ix->table_mask;
        }
        ix->table[h] = (uint32_t)(r + 1);
    }
    return G2R_OK;
}

static g2r_status validate(g2r_index *ix, const g2r_index_options *opt, g2r_error *err) {
    const unsigned char *f = ix->map.data;
    const size_t size = ix->map.size;
    const char *path = ix->path;
    if (size < HEADER_BYTES || memcmp(f, MAGIC, 8)) {
        if (size >= 8 && !memcmp(f, MAGIC, 8)) return bad(err, path, "truncated header");
        return bad(err, path, "no G2RINDEX magic (not a .g2ri file)");
    }
    uint32_t version = get32(f + H_VERSION);
    if (version != G2R_INDEX_VERSION)
        return g2r_fail(err, G2R_EFORMAT, "%s: index version %u, this build reads version %d (rebuild the index)", path,
                        version, G2R_INDEX_VERSION);
    uint64_t file_bytes = get64(f + H_FILE_BYTES);
    if (file_bytes != size)
        return g2r_fail(err, G2R_EFORMAT, "%s: %s (file is %zu bytes, header says %llu)", path,
                        size < file_bytes ? "truncated" : "has trailing bytes", size, (unsigned long long)file_bytes);
    if (get64(f + H_CHECKSUM) != checksum(f, size))
        return g2r_fail(err, G2R_EFORMAT, "%s: checksum mismatch: the file is corrupted", path);

    /* The checksum matched, so what follows guards against a well-formed but wrong writer. */
    uint32_t dim = get32(f + H_DIM), dtype = get32(f + H_DTYPE), pooling = get32(f + H_POOLING);
    uint32_t flags = get32(f + H_FLAGS), n_pc = get32(f + H_NPC);
    uint64_t count = get64(f + H_COUNT), stride = get64(f + H_STRIDE);
    if (get32(f + H_HEADER_BYTES) != HEADER_BYTES) return bad(err, path, "header size");
    if (dim < 1 || dim > MAX_DIM) return bad(err, path, "dim out of range");
    if (dtype > G2R_VEC_Q8) return bad(err, path, "unknown vector dtype");
    if (pooling > G2R_POOL_LAST) return bad(err, path, "unknown pooling");
    if (n_pc >= dim || (flags & ~FLAG_CENTERED)) return bad(err, path, "post-processing parameters");
    if (count > UINT32_MAX - 1) return bad(err, path, "count out of range");
    if (stride != row_stride((int)dim, (g2r_vec_dtype)dtype)) return bad(err, path, "row stride");
    size_t es = g2r_vec_dtype_size((g2r_vec_dtype)dtype);
    uint64_t off_post = get64(f + H_OFF_POST), off_rec = get64(f + H_OFF_RECORDS), rec_bytes = get64(f + H_RECORDS_BYTES);
    uint64_t off_vec = get64(f + H_OFF_VECTORS), off_scales = get64(f + H_OFF_SCALES);
    uint64_t post_bytes = 4ull * dim * ((flags & FLAG_CENTERED ? 1 : 0) + n_pc);
    uint64_t vec_bytes = count * stride * es; /* < 2^32 * 2^18: no overflow */
    /* off_rec and rec_bytes are checked against size before they are added: a
     * huge rec_bytes would wrap the sum to a plausible off_vec */
    if (off_post != HEADER_BYTES || off_rec != align64(off_post + post_bytes) || rec_bytes < 8 * (count + 1) ||
        off_rec > size || rec_bytes > size - off_rec ||
        off_vec != align64(off_rec + rec_bytes) || off_vec > size || vec_bytes > size - off_vec)
        return bad(err, path, "section offsets");
    uint64_t off_refine = get64(f + H_OFF_REFINE), stride16 = row_stride((int)dim, G2R_VEC_F16);
    if (dtype == G2R_VEC_Q8 ? off_scales != align64(off_vec + vec_bytes) ||
                                  off_refine != align64(off_scales + 4 * count) || size != off_refine + count * stride16 * 2
                            : off_scales != 0 || off_refine != 0 || size != off_vec + vec_bytes)
        return bad(err, path, "section sizes");

    const unsigned char *rec = f + off_rec;
    for (uint64_t i = 0; i < count; i++) {
        uint64_t a = get64(rec + 8 * i), b = get64(rec + 8 * i + 8);
        if (a < 8 * (count + 1) || b > rec_bytes || b < a || b - a < 16 ||
            16 + (uint64_t)get32(rec + a + 8) + get32(rec + a + 12) != b - a || get32(rec + a + 8) == 0)
            return bad(err, path, "item records");
    }
    if (count && get64(rec + 8 * count) != rec_bytes) return bad(err, path, "item records");

    const float *post = (const float *)(f + off_post);
    for (uint64_t i = 0; i < post_bytes / 4; i++)
        if (!isfinite(post[i])) return bad(err, path, "non-finite post-processing parameters");
    const float *scales = off_scales ? (const float *)(f + off_scales) : NULL;
    for (uint64_t i = 0; scales && i < count; i++)
        if (!isfinite(scales[i])) return bad(err, path, "non-finite row scale");

    uint64_t fp = get64(f + H_FINGERPRINT);
    if (opt && opt->fingerprint && fp != opt->fingerprint)
        return g2r_fail(err, G2R_EFORMAT,
                        "%s: built by a different model (index fingerprint %016llx, model %016llx): rebuild it with "
                        "gpt2rank index", path, (unsigned long long)fp, (unsigned long long)opt->fingerprint);

    ix->info = (g2r_index_info){(int)version, (int)dim, (size_t)count, (g2r_vec_dtype)dtype, (g2r_pooling)pooling,
                                (flags & FLAG_CENTERED) != 0, (int)n_pc, fp, size};
    ix->mean = flags & FLAG_CENTERED ? post : NULL;
    ix->pcs = post + (flags & FLAG_CENTERED ? dim : 0);
    ix->records = rec;
    ix->vec = (g2r_vectors){(g2r_vec_dtype)dtype, (int)dim, (size_t)count, (size_t)stride, f + off_vec, scales, NULL};
    if (off_refine) {
        ix->refine = (g2r_vectors){G2R_VEC_F16, (int)dim, (size_t)count, (size_t)stride16, f + off_refine, NULL, NULL};
        ix->vec.refine = &ix->refine;
    }
    return build_table(ix, err);
}

g2r_status g2r_index_open(const char *path, const g2r_index_options *opt, g2r_index **out, g2r_error *err) {
    *out = NULL;
    g2r_index *ix = calloc(1, sizeof *ix);
    if (!ix || !(ix->path = strdup(path))) {
        free(ix);
        return g2r_fail(err, G2R_ENOMEM, "%s: out of memory", path);
    }
    g2r_status st = g2r_map_file(path, &ix->map, err);
    if (!st) st = validate(ix, opt, err);
    if (!st) st = g2r_scanner_new(opt ? opt->n_threads : 0, &ix->scanner, err);
    if (st) {
        g2r_index_close(ix);
        return st;
    }
    *out = ix;
    return G2R_OK;
}

void g2r_index_close(g2r_index *ix) {
    if (!ix) return;
    g2r_scanner_free(ix->scanner);
    g2r_unmap(&ix->map);
    free(ix->table);
    free(ix->path);
    free(ix);
}

void g2r_index_info_get(const g2r_index *ix, g2r_index_info *out) { *out = ix->info; }

const g2r_vectors *g2r_index_vectors(const g2r_index *ix) { return &ix->vec; }

g2r_item g2r_index_item(const g2r_index *ix, size_t row) {
    const unsigned char *r = ix->records + get64(ix->records + 8 * row);
    g2r_item it = {(const char *)r + 16, get32(r + 8), NULL, get32(r + 12), get64(r)};
    it.meta = it.id + it.id_len;
    return it;
}

int64_t g2r_index_find(const g2r_index *ix, const char *id, size_t len) {
    if (!ix->table) return -1;
    size_t h = (size_t)g2r_xxh64(id, len, 0) & ix->table_mask;
    while (ix->table[h]) {
        g2r_item it = g2r_index_item(ix, ix->table[h] - 1);
        if (it.id_len == len && !memcmp(it.id, id, len)) return (int64_t)ix->table[h] - 1;
        h = (h + 1) & ix->table_mask;
    }
    return -1;
}

void g2r_index_vector(const g2r_index *ix, size_t row, float *out) {
    const g2r_vectors *v = ix->vec.refine ? ix->vec.refine : &ix->vec; /* the most precise copy */
    const size_t es = g2r_vec_dtype_size(v->dtype);
    const unsigned char *p = (const unsigned char *)v->data + row * v->stride * es;
    for (int d = 0; d < v->dim; d++) {
        if (v->dtype == G2R_VEC_F32) memcpy(&out[d], p + 4 * d, 4);
        else if (v->dtype == G2R_VEC_F16) out[d] = g2r_f16_to_f32((uint16_t)(p[2 * d] | p[2 * d + 1] << 8));
        else out[d] = (float)(int8_t)p[d] * v->scale[row];
    }
}

void g2r_index_postprocess(const g2r_index *ix, float *v) {
    g2r_postproc_apply(v, ix->info.dim, ix->mean, ix->pcs, ix->info.n_pc);
}

g2r_status g2r_index_topk(g2r_index *ix, const float *q, int nq, int k, const int64_t *exclude, size_t n_exclude,
                          g2r_hit *out, int *n_out, g2r_error *err) {
    return g2r_topk(ix->scanner, &ix->vec, q, nq, k, exclude, n_exclude, out, n_out, err);
}

void g2r_index_postproc_params(const g2r_index *ix, const float **mean, const float **pcs) {
    *mean = ix->mean;
    *pcs = ix->info.n_pc ? ix->pcs : NULL;
}
