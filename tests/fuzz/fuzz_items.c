/* fuzz_items.c — building an index from a JSON Lines catalog
 * (g2r_index_build: ranker/build.c over ranker/jsonl.c) on arbitrary bytes,
 * with a tiny model and a 256-byte line limit.  A refused catalog gets a clean
 * error and leaves no index; an accepted one makes an index that opens and
 * finds each of its ids. */
#include "common/json.h"
#include "tests/fuzz/fixture.h"

static fuzz_fixture fuzz_items_fx;
static char fuzz_items_in[256], fuzz_items_out[256];

static void fuzz_items_cleanup(void) {
    unlink(fuzz_items_in);
    unlink(fuzz_items_out);
    fuzz_fixture_free(&fuzz_items_fx);
}

static g2r_status fuzz_items(const uint8_t *data, size_t size) {
    fuzz_fixture *f = &fuzz_items_fx;
    if (!f->model) {
        FUZZ_CHECK(fuzz_fixture_make(f, "items") == 0);
        if (!f->model) return G2R_EIO;
        snprintf(fuzz_items_in, sizeof fuzz_items_in, "%s/items.jsonl", f->dir);
        snprintf(fuzz_items_out, sizeof fuzz_items_out, "%s/items.g2ri", f->dir);
        atexit(fuzz_items_cleanup);
    }
    FILE *in = fopen(fuzz_items_in, "wb");
    if (!in) return G2R_EIO;
    fwrite(data, 1, size, in);
    if (fclose(in)) return G2R_EIO;
    unlink(fuzz_items_out);

    g2r_build_options bo = {0};
    bo.dtype = size % 3 == 0 ? G2R_VEC_F32 : size % 3 == 1 ? G2R_VEC_F16 : G2R_VEC_Q8;
    bo.center = size % 2;
    bo.max_line = 256;
    g2r_error err = {0};
    g2r_status s = g2r_index_build(f->model, f->tok, fuzz_items_in, fuzz_items_out, &bo, &err);
    struct stat st;
    if (s) {
        FUZZ_CHECK(s == G2R_EFORMAT || s == G2R_ERANGE || s == G2R_EARG);
        FUZZ_CHECK(fuzz_clean_error(s, &err, fuzz_items_in) || fuzz_clean_error(s, &err, fuzz_items_out));
        FUZZ_CHECK(stat(fuzz_items_out, &st) != 0);
        return s;
    }
    g2r_index *ix = NULL;
    g2r_index_options io = {.n_threads = 1};
    FUZZ_CHECK(g2r_index_open(fuzz_items_out, &io, &ix, &err) == G2R_OK);
    if (ix) {
        g2r_index_info info;
        g2r_index_info_get(ix, &info);
        FUZZ_CHECK(info.dim == 8);
        for (size_t r = 0; r < info.count; r++) {
            g2r_item it = g2r_index_item(ix, r);
            FUZZ_CHECK(g2r_index_find(ix, it.id, it.id_len) == (int64_t)r);
            /* metadata is a JSON object (or nothing) */
            if (it.meta_len > 0) {
                g2r_json_doc *doc;
                const g2r_json *root;
                FUZZ_CHECK(g2r_json_parse(it.meta, it.meta_len, "meta", &doc, &root, &err) == G2R_OK);
                if (doc) {
                    FUZZ_CHECK(root->type == G2R_JSON_OBJECT);
                    g2r_json_free(doc);
                }
            }
        }
        g2r_index_close(ix);
    }
    return G2R_OK;
}

FUZZ_MAIN(fuzz_items)
