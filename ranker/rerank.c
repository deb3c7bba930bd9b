/* rerank.c — the second stage: a prompt from the user's recent events, GPT-2's
 * mean log-probability of each candidate after it (one shared prefix), and the
 * blend with the cosine score.  See ranker/rerank.h for the truncation rule. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/error.h"
#include "common/fileio.h"
#include "common/json.h"
#include "ranker/jsonl.h"
#include "ranker/rerank.h"

static double now_ms_rr(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

int g2r_rerank_prompt_cap(int n_ctx) { return n_ctx / 2 > 0 ? n_ctx / 2 : 1; }

/* ---- the prompt text */

typedef struct {
    char *buf;
    size_t len, cap;
    int failed;
} strbuf;

static void sb_add(strbuf *b, const char *s, size_t n) {
    if (b->failed) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->buf, cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->buf = p;
        b->cap = cap;
    }
    memcpy(b->buf + b->len, s, n);
    b->len += n;
    b->buf[b->len] = 0;
}

/* An event text, cut to G2R_RERANK_TEXT_MAX bytes at a UTF-8 boundary. */
static void sb_add_text(strbuf *b, const g2r_event *e) {
    size_t n = e->text_len;
    if (n > G2R_RERANK_TEXT_MAX) {
        n = G2R_RERANK_TEXT_MAX;
        while (n > 0 && ((unsigned char)e->text[n] & 0xc0) == 0x80) n--;
    }
    sb_add(b, e->text, n);
}

static void fill_type(strbuf *b, const g2r_event *ev, size_t n, const char *type, size_t type_len) {
    int used = 0;
    for (size_t i = n; i-- > 0 && used < G2R_RERANK_PER_TYPE;) {
        if (ev[i].text_len == 0 || strlen(ev[i].type) != type_len || memcmp(ev[i].type, type, type_len)) continue;
        if (used++) sb_add(b, ", ", 2);
        sb_add_text(b, &ev[i]);
    }
    if (!used) sb_add(b, "nothing", 7);
}

static void fill_recent(strbuf *b, const g2r_event *ev, size_t n) {
    int used = 0;
    for (size_t i = n; i-- > 0 && used < G2R_RERANK_RECENT;) {
        if (ev[i].text_len == 0) continue;
        if (used++) sb_add(b, "; ", 2);
        sb_add(b, ev[i].type, strlen(ev[i].type));
        sb_add(b, " ", 1);
        sb_add_text(b, &ev[i]);
    }
    if (!used) sb_add(b, "nothing", 7);
}

g2r_status g2r_rerank_prompt(const char *tmpl, const g2r_event *ev, size_t n, char **out, g2r_error *err) {
    *out = NULL;
    if (!tmpl) tmpl = G2R_RERANK_TEMPLATE;
    strbuf b = {0};
    for (const char *s = tmpl; *s;) {
        if (s[0] == '{' && s[1] == '{') {
            sb_add(&b, "{", 1);
            s += 2;
            continue;
        }
        if (*s != '{') {
            size_t run = strcspn(s, "{");
            sb_add(&b, s, run);
            s += run;
            continue;
        }
        const char *end = strchr(s, '}');
        if (!end || end == s + 1) {
            free(b.buf);
            return g2r_fail(err, G2R_EARG, "rerank: template: '{' at byte %zu without a name and '}'",
                            (size_t)(s - tmpl));
        }
        size_t len = (size_t)(end - s - 1);
        if (len == 6 && !memcmp(s + 1, "recent", 6)) fill_recent(&b, ev, n);
        else fill_type(&b, ev, n, s + 1, len);
        s = end + 1;
    }
    if (b.failed) {
        free(b.buf);
        return g2r_fail(err, G2R_ENOMEM, "rerank: out of memory");
    }
    if (b.len == 0) return g2r_fail(err, G2R_EARG, "rerank: the prompt template is empty");
    *out = b.buf;
    return G2R_OK;
}

/* ---- tokens */

static g2r_status encode(const g2r_tokenizer *tok, const char *text, size_t len, int **ids, int *n, g2r_error *err) {
    size_t count;
    *ids = NULL;
    *n = 0;
    g2r_status st = g2r_encode(tok, text, len, 0, NULL, 0, &count, err);
    if (st) return st;
    if (count == 0) return g2r_fail(err, G2R_EARG, "rerank: a text encodes to no tokens");
    if (count > (1u << 30)) return g2r_fail(err, G2R_ERANGE, "rerank: a text of %zu tokens is too long", count);
    *ids = malloc(sizeof(int) * count);
    if (!*ids) return g2r_fail(err, G2R_ENOMEM, "rerank: out of memory");
    st = g2r_encode(tok, text, len, 0, *ids, count, &count, err);
    if (st) {
        free(*ids);
        *ids = NULL;
        return st;
    }
    *n = (int)count;
    return G2R_OK;
}

g2r_status g2r_rerank_encode_prompt(const g2r_tokenizer *tok, const char *prompt, int cap, int **ids, int *n,
                                    g2r_error *err) {
    g2r_status st = encode(tok, prompt, strlen(prompt), ids, n, err);
    if (st || *n <= cap) return st;
    memmove(*ids, *ids + (*n - cap), sizeof(int) * (size_t)cap); /* keep the end */
    *n = cap;
    return G2R_OK;
}

g2r_status g2r_rerank_encode_candidate(const g2r_tokenizer *tok, const char *text, size_t len, int **ids, int *n,
                                       g2r_error *err) {
    char *spaced = malloc(len + 2);
    if (!spaced) return g2r_fail(err, G2R_ENOMEM, "rerank: out of memory");
    spaced[0] = ' ';
    memcpy(spaced + 1, text, len);
    g2r_status st = encode(tok, spaced, len + 1, ids, n, err);
    free(spaced);
    return st;
}

/* ---- scores */

void g2r_rerank_normalise(const float *llm, int n, float *out) {
    float lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < n; i++) {
        if (llm[i] < lo) lo = llm[i];
        if (llm[i] > hi) hi = llm[i];
    }
    for (int i = 0; i < n; i++) out[i] = hi > lo ? (llm[i] - lo) / (hi - lo) : 1.0f;
}

typedef struct {
    g2r_result r;
    g2r_rerank_score p;
    int pos; /* cosine rank: breaks ties */
} ranked;

static int by_final(const void *a, const void *b) {
    const ranked *x = a, *y = b;
    if (x->p.final != y->p.final) return x->p.final > y->p.final ? -1 : 1;
    return x->pos - y->pos;
}

g2r_status g2r_rerank(g2r_model *m, const g2r_tokenizer *tok, const char *prompt, double alpha, int n,
                      g2r_result *res, int n_res, const char *const *texts, const size_t *lens,
                      g2r_rerank_score *parts, int *prefix_tokens, g2r_error *err) {
    if (!m || !tok || !prompt) return g2r_fail(err, G2R_EARG, "rerank: model, tokenizer and prompt are required");
    if (!(alpha >= 0 && alpha <= 1)) return g2r_fail(err, G2R_EARG, "rerank: alpha must be in [0, 1], got %g", alpha);
    if (n < 0 || n_res < 0) return g2r_fail(err, G2R_EARG, "rerank: negative count");
    int N = n < n_res ? n : n_res;
    g2r_config cfg = g2r_model_config(m);
    int *prefix = NULL, n_prefix = 0;
    int **cand = calloc((size_t)N + 1, sizeof *cand);
    int *cand_lens = calloc((size_t)N + 1, sizeof *cand_lens);
    float *llm = calloc((size_t)N + 1, sizeof *llm), *norm = calloc((size_t)N + 1, sizeof *norm);
    ranked *all = calloc((size_t)n_res + 1, sizeof *all);
    g2r_status st = G2R_OK;
    if (!cand || !cand_lens || !llm || !norm || !all) st = g2r_fail(err, G2R_ENOMEM, "rerank: out of memory");
    if (!st) st = g2r_rerank_encode_prompt(tok, prompt, g2r_rerank_prompt_cap(cfg.n_ctx), &prefix, &n_prefix, err);
    for (int i = 0; !st && i < N; i++) st = g2r_rerank_encode_candidate(tok, texts[i], lens[i], &cand[i], &cand_lens[i], err);
    if (!st && N > 0)
        st = g2r_score_continuations(m, prefix, n_prefix, N, (const int *const *)cand, cand_lens, llm, err);
    if (!st) {
        g2r_rerank_normalise(llm, N, norm);
        for (int i = 0; i < n_res; i++) {
            g2r_rerank_score *p = &all[i].p;
            p->cosine = res[i].score;
            p->scored = i < N;
            p->llm = i < N ? llm[i] : 0;
            p->llm_norm = i < N ? norm[i] : 0;
            p->final = (float)(alpha * p->cosine + (1 - alpha) * p->llm_norm);
            all[i].r = res[i];
            all[i].pos = i;
        }
        qsort(all, (size_t)n_res, sizeof *all, by_final);
        for (int i = 0; i < n_res; i++) {
            res[i] = all[i].r;
            res[i].score = all[i].p.final;
            parts[i] = all[i].p;
        }
        if (prefix_tokens) *prefix_tokens = n_prefix;
    }
    for (int i = 0; cand && i < N; i++) free(cand[i]);
    free(cand);
    free(cand_lens);
    free(llm);
    free(norm);
    free(all);
    free(prefix);
    return st;
}

/* ---- the JSON result */

void g2r_results_write_json(FILE *f, const g2r_result *r, int n, const char *const *ids, const size_t *id_lens,
                            const g2r_rerank_score *parts, double embed_ms, double rank_ms, double rerank_ms) {
    fputs("{\"results\":[", f);
    for (int i = 0; i < n; i++) {
        fprintf(f, "%s{\"rank\":%d,\"id\":", i ? "," : "", i + 1);
        g2r_json_write_string(f, ids[i], id_lens[i]);
        fprintf(f, ",\"score\":%.6g", r[i].score);
        if (parts) {
            fprintf(f, ",\"cosine\":%.6g", parts[i].cosine);
            if (parts[i].scored) fprintf(f, ",\"llm\":%.6g,\"llm_norm\":%.6g", parts[i].llm, parts[i].llm_norm);
            else fputs(",\"llm\":null,\"llm_norm\":0", f);
        }
        fputs(",\"because\":[", f);
        for (int b = 0; b < r[i].n_because; b++) {
            fprintf(f, "%s{\"event\":", b ? "," : "");
            g2r_json_write_string(f, r[i].because[b].event, strlen(r[i].because[b].event));
            fputs(",\"text\":", f);
            g2r_json_write_string(f, r[i].because[b].text, strlen(r[i].because[b].text));
            if (r[i].because[b].item) {
                fputs(",\"item\":", f);
                g2r_json_write_string(f, r[i].because[b].item, strlen(r[i].because[b].item));
            }
            fprintf(f, ",\"contribution\":%.4g}", r[i].because[b].contribution);
        }
        fputs("]}", f);
    }
    fprintf(f, "],\"timing_ms\":{\"embed\":%.3f,\"rank\":%.3f", embed_ms, rank_ms);
    if (parts) fprintf(f, ",\"rerank\":%.3f", rerank_ms);
    fputs("}}\n", f);
}

/* ---- `gpt2rank rank --rerank` */

/* Stable insertion sort by time: linear for histories already in order. */
static void sort_by_ts(g2r_event *ev, size_t n) {
    for (size_t i = 1; i < n; i++) {
        g2r_event x = ev[i];
        size_t j = i;
        while (j > 0 && ev[j - 1].ts > x.ts) ev[j] = ev[j - 1], j--;
        ev[j] = x;
    }
}

/* texts[i] = the text of row rows[i], from the JSON Lines items file (malloc'd). */
static g2r_status load_texts(const g2r_index *ix, const char *path, const g2r_result *res, int n, char **texts,
                             size_t *lens, g2r_error *err) {
    g2r_jsonl r;
    g2r_status st = g2r_jsonl_open(&r, path, 0, err);
    int found = 0;
    while (!st && found < n) {
        g2r_json_doc *doc;
        const g2r_json *o;
        int got = g2r_jsonl_next(&r, &doc, &o, err);
        if (got <= 0) {
            if (got < 0) st = err ? err->status : G2R_EFORMAT;
            break;
        }
        const g2r_json *id = g2r_json_get(o, "id"), *text = g2r_json_get(o, "text");
        if (id && id->type == G2R_JSON_STRING && text && text->type == G2R_JSON_STRING) {
            int64_t row = g2r_index_find(ix, id->str, id->len);
            for (int i = 0; row >= 0 && i < n; i++) {
                if (res[i].row != row || texts[i]) continue;
                if (!(texts[i] = malloc(text->len + 1))) st = g2r_fail(err, G2R_ENOMEM, "rerank: out of memory");
                else memcpy(texts[i], text->str, text->len + 1), lens[i] = text->len, found++;
            }
        }
        g2r_json_free(doc);
    }
    g2r_jsonl_close(&r);
    for (int i = 0; !st && i < n; i++)
        if (!texts[i]) {
            g2r_item it = g2r_index_item(ix, (size_t)res[i].row);
            st = g2r_fail(err, G2R_EFORMAT, "%s: no text for item '%.*s'", path, (int)(it.id_len < 100 ? it.id_len : 100),
                          it.id);
        }
    return st;
}

g2r_status g2r_rerank_print(FILE *f, g2r_model *m, const g2r_tokenizer *tok, const g2r_index *ix,
                            const g2r_rerank_options *o, const g2r_event *ev, size_t n_ev, g2r_result *res,
                            int n_res, int k, double embed_ms, double rank_ms, g2r_error *err) {
    int N = o->n < n_res ? o->n : n_res;
    char *tmpl = NULL, *prompt = NULL;
    size_t tmpl_len = 0;
    char **texts = calloc((size_t)n_res + 1, sizeof *texts);
    size_t *lens = calloc((size_t)n_res + 1, sizeof *lens), *id_lens = calloc((size_t)n_res + 1, sizeof *id_lens);
    const char **ids = calloc((size_t)n_res + 1, sizeof *ids);
    g2r_rerank_score *parts = calloc((size_t)n_res + 1, sizeof *parts);
    g2r_event *sorted = malloc((n_ev + 1) * sizeof *sorted);
    g2r_status st = G2R_OK;
    if (!texts || !lens || !id_lens || !ids || !parts || !sorted) st = g2r_fail(err, G2R_ENOMEM, "rerank: out of memory");
    if (!st && o->template_path) {
        st = g2r_read_file(o->template_path, 1 << 16, &tmpl, &tmpl_len, err);
        while (!st && tmpl_len && (tmpl[tmpl_len - 1] == '\n' || tmpl[tmpl_len - 1] == '\r')) tmpl[--tmpl_len] = 0;
    }
    if (!st) {
        memcpy(sorted, ev, n_ev * sizeof *ev);
        sort_by_ts(sorted, n_ev);
        st = g2r_rerank_prompt(tmpl, sorted, n_ev, &prompt, err);
    }
    if (!st) st = load_texts(ix, o->items_path, res, N, texts, lens, err);
    double t0 = now_ms_rr();
    if (!st) st = g2r_rerank(m, tok, prompt, o->alpha, N, res, n_res, (const char *const *)texts, lens, parts, NULL, err);
    double t1 = now_ms_rr();
    if (!st) {
        int n = n_res < k ? n_res : k;
        for (int i = 0; i < n; i++) {
            g2r_item it = g2r_index_item(ix, (size_t)res[i].row);
            ids[i] = it.id, id_lens[i] = it.id_len;
        }
        g2r_results_write_json(f, res, n, ids, id_lens, parts, embed_ms, rank_ms, t1 - t0);
    }
    for (int i = 0; texts && i < n_res; i++) free(texts[i]);
    free(texts), free(lens), free(id_lens), free(ids), free(parts), free(sorted), free(tmpl), free(prompt);
    return st;
}
