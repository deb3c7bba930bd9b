/* fuzz_serve.c — the serve request handler (g2r_server_request) on arbitrary
 * request lines.
 *
 * The tiny-model fixture (tests/fuzz/fixture.h) and an index of four items
 * are made once.  Each input is split at newlines into at most 64 requests
 * for a fresh server (the index file is restored first: "save" and closing
 * rewrite it).  Every request must get exactly one line back, a JSON object;
 * nothing may crash, leak or hang. */
#include "common/fileio.h"
#include "common/json.h"
#include "tests/fuzz/fixture.h"

static fuzz_fixture fuzz_serve_fx;
static char fuzz_serve_items[256], fuzz_serve_index[256];
static char *fuzz_serve_index_bytes;
static size_t fuzz_serve_index_size;

static void fuzz_serve_cleanup(void) {
    free(fuzz_serve_index_bytes);
    unlink(fuzz_serve_items);
    unlink(fuzz_serve_index);
    fuzz_fixture_free(&fuzz_serve_fx);
}

static int fuzz_serve_setup(void) {
    fuzz_fixture *f = &fuzz_serve_fx;
    if (fuzz_fixture_make(f, "serve")) return -1;
    snprintf(fuzz_serve_items, sizeof fuzz_serve_items, "%s/items.jsonl", f->dir);
    snprintf(fuzz_serve_index, sizeof fuzz_serve_index, "%s/items.g2ri", f->dir);
    atexit(fuzz_serve_cleanup);
    FILE *fp = fopen(fuzz_serve_items, "w");
    if (!fp) return -1;
    fputs("{\"id\":\"shoe\",\"text\":\"red running shoes\",\"price\":60}\n"
          "{\"id\":\"pan\",\"text\":\"a cast iron frying pan\"}\n"
          "{\"id\":\"tent\",\"text\":\"a two person tent\"}\n"
          "{\"id\":\"book\",\"text\":\"a novel about the sea\"}\n", fp);
    if (fclose(fp)) return -1;
    g2r_build_options bo = {0};
    bo.dtype = G2R_VEC_F32;
    g2r_error err = {0};
    if (g2r_index_build(f->model, f->tok, fuzz_serve_items, fuzz_serve_index, &bo, &err) ||
        g2r_read_file(fuzz_serve_index, 1 << 20, &fuzz_serve_index_bytes, &fuzz_serve_index_size, &err)) {
        fprintf(stderr, "fuzz_serve: fixture: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static g2r_status fuzz_serve(const uint8_t *data, size_t size) {
    fuzz_fixture *f = &fuzz_serve_fx;
    if (!fuzz_serve_index_bytes && fuzz_serve_setup()) {
        FUZZ_CHECK(0);
        return G2R_EIO;
    }
    FILE *ix = fopen(fuzz_serve_index, "wb");
    if (!ix) return G2R_EIO;
    fwrite(fuzz_serve_index_bytes, 1, fuzz_serve_index_size, ix);
    if (fclose(ix)) return G2R_EIO;

    g2r_serve_options so;
    g2r_serve_options_default(&so);
    so.max_line = 512;
    so.n_threads = 1;
    so.items_path = fuzz_serve_items;
    g2r_server *srv = NULL;
    g2r_error err = {0};
    g2r_status s = g2r_server_open(f->model, f->tok, fuzz_serve_index, &so, &srv, &err);
    FUZZ_CHECK(s == G2R_OK);
    if (s) return s;
    g2r_status worst = G2R_OK;
    for (size_t at = 0, n_req = 0; at < size && n_req < 64; n_req++) {
        const uint8_t *nl = memchr(data + at, '\n', size - at);
        size_t len = nl ? (size_t)(nl - (data + at)) : size - at;
        char *line = malloc(len ? len : 1); /* exactly len bytes: reading past them is caught */
        char *answer = NULL;
        size_t alen = 0;
        FILE *out = open_memstream(&answer, &alen);
        if (line && out) {
            memcpy(line, data + at, len);
            g2r_server_request(srv, line, len, out);
            fclose(out);
            out = NULL;
            /* one answer line, a JSON object */
            FUZZ_CHECK(alen > 0 && answer[alen - 1] == '\n' && memchr(answer, '\n', alen) == answer + alen - 1);
            g2r_json_doc *doc;
            const g2r_json *root;
            g2r_status js = g2r_json_parse(answer, alen, "answer", &doc, &root, &err);
            FUZZ_CHECK(js == G2R_OK);
            if (!js) {
                FUZZ_CHECK(root->type == G2R_JSON_OBJECT);
                if (g2r_json_get(root, "error")) worst = G2R_EFORMAT;
                g2r_json_free(doc);
            }
        }
        if (out) fclose(out);
        free(answer);
        free(line);
        at += len + 1;
    }
    FUZZ_CHECK(g2r_server_close(srv, &err) == G2R_OK);
    return worst;
}

FUZZ_MAIN(fuzz_serve)
