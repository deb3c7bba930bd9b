/* gpt2rank.h — the one public API of gpt2rank.
 *
 * A from-scratch GPT-2 inference engine and the personalized ranker built on it.
 * Data flows one way: weights -> engine -> ranker.  Every function that can fail
 * returns a g2r_status and, when err is not NULL, fills err->msg with a one-line
 * message that names the file or argument at fault.  Nothing here calls exit().
 *
 * Sections: errors · options · model · forward · generation · embeddings ·
 *           tokenizer · ranker.
 */
#ifndef GPT2RANK_H
#define GPT2RANK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- errors */

typedef enum {
    G2R_OK = 0,
    G2R_EIO,      /* a file could not be opened, mapped, read or written */
    G2R_EFORMAT,  /* input is malformed (safetensors, JSON, index, UTF-8 rules) */
    G2R_EARG,     /* the caller passed an invalid argument */
    G2R_ENOMEM,   /* an allocation failed */
    G2R_ERANGE,   /* an id, length or count is out of range (e.g. context overflow) */
    G2R_EDEVICE,  /* the GPU (or another device) reported an error */
} g2r_status;

typedef struct {
    g2r_status status;
    char msg[512];
} g2r_error;

const char *g2r_status_name(g2r_status s);

/* --------------------------------------------------------------- options */

typedef enum {
    G2R_KERNELS_AUTO = 0, /* best the CPU supports, chosen once from cpuid */
    G2R_KERNELS_SCALAR,   /* the portable reference */
    G2R_KERNELS_AVX2,
    G2R_KERNELS_AVX512,
    G2R_KERNELS_NEON,
} g2r_kernels_kind;

typedef enum {
    G2R_DEVICE_CPU = 0,
    G2R_DEVICE_CUDA,
} g2r_device;

typedef struct {
    int n_threads;            /* 0: all online cores */
    int n_head;               /* 0: __metadata__ "n_head", else GPT-2's table */
    g2r_kernels_kind kernels; /* G2R_KERNELS_AUTO unless forcing one */
    g2r_device device;
    int prefault;             /* 1: fill the mapping's page tables at load, from all
                                 threads (load grows with the file; the first forward
                                 then takes no page faults) */
} g2r_options;

/* ----------------------------------------------------------------- model */

typedef struct g2r_model g2r_model;

typedef struct {
    int n_layer, n_head, n_embd, n_vocab, n_ctx;
} g2r_config;

typedef struct {
    g2r_config cfg;
    const char *dtype;        /* "F32", "F16", "BF16", "Q8" */
    const char *kernels;      /* name of the kernel variant in use */
    int n_threads;
    size_t n_params;
    size_t bytes_mapped;      /* the file, mapped read-only */
    size_t bytes_owned;       /* converted or copied tensors */
    uint64_t fingerprint;     /* identifies the weights (indexes record it) */
} g2r_model_info;

/* opt may be NULL for defaults. */
g2r_status g2r_model_load(const char *path, const g2r_options *opt, g2r_model **out, g2r_error *err);
void g2r_model_free(g2r_model *m);
g2r_config g2r_model_config(const g2r_model *m);
void g2r_model_info_get(const g2r_model *m, g2r_model_info *out);

/* The page cache (Linux).  Decode streams every weight from the page cache
 * each token; mapped by 2 MB pages the file faults in (first token) and reads
 * faster than by 4 KB ones.
 * The loader asks for 2 MB pages, which the kernel gives when it reads the
 * file from disk, but a file already cached in small pages (just written or
 * downloaded) stays so until evicted.  This maps path and measures the share
 * of its whole 2 MB blocks held in 2 MB pages (*before); with evict, if that
 * is under 1, it drops the file's clean cached pages and reads it again
 * through a 2 MB mapping (*after).  Shares are 0..1 (0 where the kernel or the
 * filesystem gives no 2 MB pages); either pointer may be NULL. */
g2r_status g2r_cache_huge(const char *path, int evict, double *before, double *after, g2r_error *err);

/* --------------------------------------------------------------- forward */

/* Which hidden state a forward pass hands back, per position. */
typedef enum {
    G2R_OUT_LOGITS = 0,  /* [n_vocab] */
    G2R_OUT_HIDDEN,      /* output of ln_f, [n_embd] */
} g2r_output;

/* A session owns the activations and the KV cache for up to max_seqs
 * sequences of up to max_tokens positions each (max_tokens <= n_ctx).
 * It allocates once, at creation; forward passes do not allocate.
 * Forward passes of one model run one at a time (they share its threads);
 * sessions of one model may be used from different threads. */
typedef struct g2r_session g2r_session;

g2r_status g2r_session_new(g2r_model *m, int max_seqs, int max_tokens, g2r_session **out, g2r_error *err);
void g2r_session_free(g2r_session *s);
/* Forgets every cached position of every sequence. */
void g2r_session_reset(g2r_session *s);
/* Number of positions cached for sequence seq. */
int g2r_session_len(const g2r_session *s, int seq);

/* Appends n_ids[i] tokens to sequence i (i < n_seqs) and runs them through the
 * model, reusing each sequence's KV cache.  out, when not NULL, receives for
 * every new position, sequence by sequence, the requested state:
 * sum(n_ids) rows of n_vocab (logits) or n_embd (hidden) floats.
 * G2R_ERANGE when a sequence would pass max_tokens. */
g2r_status g2r_forward(g2r_session *s, int n_seqs, const int *const *ids, const int *n_ids,
                       g2r_output what, float *out, g2r_error *err);

/* ------------------------------------------------------------ generation */

typedef struct {
    float temperature; /* 0: greedy */
    int top_k;         /* 0: off */
    float top_p;       /* 1 or 0: off */
    uint64_t seed;
    int max_new;       /* stop after this many new tokens */
} g2r_sampler;

/* Called once per generated token; return non-zero to stop early. */
typedef int (*g2r_token_fn)(int id, void *user);

/* Runs the prompt, then samples until <|endoftext|> (id 50256 when n_vocab is
 * 50257; it is not returned), max_new (0: no limit) or until prompt + generated
 * tokens fill n_ctx.  Writes at most cap ids to out; *n_out gets the number
 * generated.  G2R_ERANGE for a prompt longer than n_ctx or an id out of range. */
g2r_status g2r_generate(g2r_model *m, const int *prompt, int n_prompt, const g2r_sampler *smp,
                        int *out, int cap, int *n_out, g2r_token_fn on_token, void *user,
                        g2r_error *err);

/* ------------------------------------------------------------ embeddings */

typedef enum {
    G2R_POOL_MEAN = 0, /* mean of the ln_f outputs over positions */
    G2R_POOL_LAST,     /* the ln_f output of the last position */
} g2r_pooling;

/* Embeds n token sequences of any lengths (each 1..n_ctx) in batched forward
 * passes: out[i*n_embd ...] = L2-normalised pooled vector of sequence i.
 * Sequences are packed without padding into forwards of a bounded number of
 * tokens; the result for a sequence does not depend on its batch-mates. */
g2r_status g2r_embed(g2r_model *m, int n, const int *const *ids, const int *lens,
                     g2r_pooling pool, float *out, g2r_error *err);

/* Conditional scoring for re-ranking: for each candidate c, the mean
 * log-probability per token of cand[c] following prefix.  The prefix's KV
 * cache is computed once and shared by all candidates, which run together in
 * batched forwards over it.  The first candidate token is predicted by the
 * prefix's last position.  Truncation: a candidate keeps its first
 * min(cand_lens[c], n_ctx - n_prefix) tokens and is scored over those.
 * Needs 1 <= n_prefix < n_ctx (else G2R_EARG / G2R_ERANGE) and every
 * cand_lens[c] >= 1. */
g2r_status g2r_score_continuations(g2r_model *m, const int *prefix, int n_prefix, int n_cands,
                                   const int *const *cand, const int *cand_lens, float *out,
                                   g2r_error *err);

/* ------------------------------------------------------------- tokenizer */

/* GPT-2's byte-level BPE, id for id the same as tiktoken's "gpt2" encoding.
 *
 * Text is split into pre-tokens by GPT-2's pattern
 *   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * (case-sensitive: "'S" is not a contraction), with Unicode 16.0's Letter and
 * Number categories and White_Space property.  Each pre-token's bytes are then
 * merged pairwise, lowest-ranked resulting token first (leftmost on ties).
 *
 * Invalid UTF-8: text is read as UTF-8 one character at a time; a byte that
 * does not begin a well-formed sequence (stray continuation byte, overlong
 * form, surrogate, above U+10FFFF, truncated sequence) is taken alone as one
 * character of class [^\s\p{L}\p{N}], and reading resumes at the next byte.
 * No byte is ever dropped or replaced, so decode(encode(x)) == x for every
 * byte string x. */

typedef struct g2r_tokenizer g2r_tokenizer;

#define G2R_ENCODE_ALLOW_SPECIAL 1 /* recognise <|endoftext|> as one token */

/* dir NULL: GPT-2's vocabulary built into the library.  Otherwise a folder
 * holding vocab.json + merges.txt, encoder.json + vocab.bpe, or a Hugging Face
 * tokenizer.json (a byte-level BPE model), looked for in that order. */
g2r_status g2r_tokenizer_load(const char *dir, g2r_tokenizer **out, g2r_error *err);
void g2r_tokenizer_free(g2r_tokenizer *t);
int g2r_tokenizer_vocab_size(const g2r_tokenizer *t);
/* Id of <|endoftext|>, or -1 when the vocabulary has none. */
int g2r_tokenizer_eot(const g2r_tokenizer *t);
/* The bytes of token id (not NUL-terminated), *len their count; NULL when id
 * is out of range.  A token may be part of a UTF-8 character: to stream text,
 * write these bytes as they come rather than decoding tokens one by one. */
const char *g2r_token_bytes(const g2r_tokenizer *t, int id, size_t *len);

/* Encodes len bytes of text.  Writes at most cap ids to out (out may be NULL
 * to count only); *n_out always gets the full count.  Safe to call from many
 * threads on one tokenizer. */
g2r_status g2r_encode(const g2r_tokenizer *t, const char *text, size_t len, int flags,
                      int *out, size_t cap, size_t *n_out, g2r_error *err);

/* Decodes ids to bytes: at most cap bytes to out; *n_out gets the full length.
 * G2R_ERANGE naming the id when one is out of range. */
g2r_status g2r_decode(const g2r_tokenizer *t, const int *ids, size_t n, char *out, size_t cap,
                      size_t *n_out, g2r_error *err);

/* ---------------------------------------------------------------- ranker */

/* Vectors and exact top-K.  Scores are dot products; rows and queries are
 * unit vectors wherever the ranker makes them, so scores are cosines. */

typedef enum {
    G2R_VEC_F32 = 0,
    G2R_VEC_F16,  /* IEEE binary16 */
    G2R_VEC_Q8,   /* int8, one float factor per row (see g2r_vectors.scale) */
} g2r_vec_dtype;

const char *g2r_vec_dtype_name(g2r_vec_dtype t); /* "f32", "f16", "q8" */
size_t g2r_vec_dtype_size(g2r_vec_dtype t);      /* bytes per element: 4, 2, 1 */

/* count rows of dim elements; row r starts r*stride elements after data.
 * Row r's value is scale[r] * stored row (scale NULL: 1).  refine, when not
 * NULL, holds the same rows more precisely (q8 indexes carry f16 copies): the
 * scan keeps G2R_REFINE_FACTOR * k candidates and re-scores them with refine. */
typedef struct g2r_vectors g2r_vectors;
struct g2r_vectors {
    g2r_vec_dtype dtype;
    int dim;
    size_t count;
    size_t stride;
    const void *data;
    const float *scale;
    const g2r_vectors *refine;
};

#define G2R_REFINE_FACTOR 4

typedef struct {
    int64_t index; /* row */
    float score;
} g2r_hit;

/* Threads and scratch for scans; one scan at a time per scanner. */
typedef struct g2r_scanner g2r_scanner;

/* n_threads <= 0: all online cores. */
g2r_status g2r_scanner_new(int n_threads, g2r_scanner **out, g2r_error *err);
void g2r_scanner_free(g2r_scanner *s);
int g2r_scanner_threads(const g2r_scanner *s);

/* Exact top-k rows by score for each of nq queries (q: nq x dim floats):
 * bounded min-heaps per thread over shards of rows, queries scanned in blocks
 * so each row is read once per block, then merged.  out[j*k ...] gets query
 * j's hits best first, ties broken by the lower row index; *n_out gets the
 * number per query, min(k, count - n_exclude) (0 for an empty matrix).
 * exclude: n_exclude row indices skipped, sorted ascending, or NULL.
 * G2R_EARG when k < 1 or nq < 0. */
g2r_status g2r_topk(g2r_scanner *s, const g2r_vectors *items, const float *q, int nq, int k,
                    const int64_t *exclude, size_t n_exclude, g2r_hit *out, int *n_out, g2r_error *err);

/* A raw little-endian float32 row-major matrix file (topk's input), mapped
 * and checked: size a multiple of dim * 4 bytes, every value finite.  Its
 * vectors carry scale = 1 / L2 norm per row (0 for a zero row), so scores
 * against unit queries are cosines.  An empty file has count 0. */
typedef struct g2r_f32_file g2r_f32_file;

g2r_status g2r_f32_file_open(const char *path, int dim, g2r_f32_file **out, g2r_error *err);
void g2r_f32_file_close(g2r_f32_file *f);
const g2r_vectors *g2r_f32_file_vectors(const g2r_f32_file *f);
/* Row i scaled to unit length (zeros for a zero row). */
void g2r_f32_file_unit_row(const g2r_f32_file *f, size_t i, float *out);

/* The item index (.g2ri): a versioned little-endian file holding the item
 * ids, their metadata (the extra JSON fields of each item), the embedding
 * post-processing fitted on the catalog, the fingerprint of the model that
 * built it, 64-byte-aligned vectors and a checksum.  Opened by mmap. */

#define G2R_INDEX_VERSION 1

typedef struct g2r_index g2r_index;

typedef struct {
    int version, dim;
    size_t count;
    g2r_vec_dtype dtype;
    g2r_pooling pooling;
    int centered;          /* the catalog mean is subtracted */
    int n_pc;              /* top principal directions removed */
    uint64_t fingerprint;  /* g2r_model_info.fingerprint of the builder */
    size_t file_bytes;
} g2r_index_info;

/* One item as the index stores it. */
typedef struct {
    const char *id;
    size_t id_len;
    const char *meta;      /* a JSON object text ("{}" or "" when none) */
    size_t meta_len;
    uint64_t text_hash;    /* g2r_text_hash of the text: --append reuses unchanged items */
} g2r_item;

/* What g2r_index_write records besides the items. */
typedef struct {
    int dim;
    g2r_vec_dtype dtype;
    g2r_pooling pooling;
    uint64_t fingerprint;
    const float *mean;     /* [dim] subtracted before the projection, or NULL */
    int n_pc;
    const float *pcs;      /* [n_pc x dim] orthonormal directions removed, or NULL */
} g2r_index_spec;

uint64_t g2r_text_hash(const char *text, size_t len);

/* Writes count items with their vectors (count x dim floats, already
 * post-processed; each is L2-normalised and stored in spec->dtype) to path,
 * atomically.  Duplicate ids are refused. */
g2r_status g2r_index_write(const char *path, const g2r_index_spec *spec, size_t count, const g2r_item *items,
                           const float *vectors, g2r_error *err);

typedef struct {
    int n_threads;         /* for scans; <= 0: all online cores */
    uint64_t fingerprint;  /* refuse an index built by another model; 0: accept any */
} g2r_index_options;

/* Maps and fully validates path (header, sizes, offsets, ids, checksum):
 * a corrupted, truncated or foreign index is refused with G2R_EFORMAT and a
 * message naming the file and the problem.  opt may be NULL. */
g2r_status g2r_index_open(const char *path, const g2r_index_options *opt, g2r_index **out, g2r_error *err);
void g2r_index_close(g2r_index *ix);
void g2r_index_info_get(const g2r_index *ix, g2r_index_info *out);
const g2r_vectors *g2r_index_vectors(const g2r_index *ix);
/* Row of the item with this id, or -1. */
int64_t g2r_index_find(const g2r_index *ix, const char *id, size_t len);
g2r_item g2r_index_item(const g2r_index *ix, size_t row);
/* Row as floats: the unit vector the scan scores against. */
void g2r_index_vector(const g2r_index *ix, size_t row, float *out);
/* Applies the index's post-processing (centre, drop directions) to a pooled
 * embedding in place and L2-normalises it. */
void g2r_index_postprocess(const g2r_index *ix, float *v);
/* g2r_topk over the index's rows with the index's threads (one scan at a
 * time per index; see g2r_rank_options.scanner for concurrent callers). */
g2r_status g2r_index_topk(g2r_index *ix, const float *q, int nq, int k, const int64_t *exclude, size_t n_exclude,
                          g2r_hit *out, int *n_out, g2r_error *err);

/* Embeds n texts: tokenised (truncated to the model's context), pooled,
 * L2-normalised, then post-processed like ix's items when ix is not NULL.
 * out: n x n_embd floats. */
g2r_status g2r_embed_texts(g2r_model *m, const g2r_tokenizer *tok, g2r_pooling pool, const g2r_index *ix, int n,
                           const char *const *texts, const size_t *lens, float *out, g2r_error *err);

typedef struct {
    g2r_vec_dtype dtype;
    g2r_pooling pooling;
    int center;            /* subtract the catalog mean */
    int drop_pc;           /* remove this many top principal directions */
    int append;            /* keep out_path's items (when it exists); reuse vectors of unchanged texts */
    int progress;          /* stderr: 0 nothing, 1 a summary line, 2 also a live progress line */
    size_t max_line;       /* JSON Lines limit; 0: 1 MiB */
} g2r_build_options;

/* Builds out_path from the JSON Lines items_path ({"id","text",...}). */
g2r_status g2r_index_build(g2r_model *m, const g2r_tokenizer *tok, const char *items_path, const char *out_path,
                           const g2r_build_options *opt, g2r_error *err);

/* User events and profiles.  History: JSON Lines
 * {"text","event","ts","item"?,"weight"?,"user"?}. */
typedef struct {
    const char *user;      /* "" when absent */
    const char *text;
    size_t text_len;
    const char *type;      /* "view", "search", "cart", "purchase", ... */
    const char *item;      /* NULL when absent */
    double ts;             /* seconds */
    double weight;         /* the event's own factor, 1 when absent */
} g2r_event;

typedef struct g2r_history g2r_history;

/* Reads JSON Lines events; a line over max_line bytes (0: 1 MiB) is an error. */
g2r_status g2r_history_load(const char *path, size_t max_line, g2r_history **out, g2r_error *err);
void g2r_history_free(g2r_history *h);
size_t g2r_history_len(const g2r_history *h);
const g2r_event *g2r_history_events(const g2r_history *h);

#define G2R_MAX_EVENT_TYPES 16

typedef struct {
    struct {
        char type[32];
        double weight;
    } types[G2R_MAX_EVENT_TYPES];
    int n_types;
    double other_weight;   /* event types not listed */
    double half_life_s;    /* recency decay; <= 0: none */
    int keep_events;       /* most recent events kept for explanations (dim * 4 + 420 bytes each, as they come) */
} g2r_profile_params;

/* view 1, search 1.5, cart 2, purchase 3, other 1, half-life 7 days, keep 64. */
void g2r_profile_params_default(g2r_profile_params *p);
/* Parses "view=1,cart=2.5" into p (adding or replacing types). */
g2r_status g2r_profile_params_weights(g2r_profile_params *p, const char *spec, g2r_error *err);
double g2r_event_type_weight(const g2r_profile_params *p, const char *type);

/* A profile is the decayed, weighted mean of event embeddings, kept as a sum
 * relative to the newest event's time so each event costs O(dim):
 *   weight(e) = type_weight(e) * e.weight * 2^(-(t_newest - e.ts) / half_life). */
typedef struct g2r_profile g2r_profile;

g2r_status g2r_profile_new(int dim, const g2r_profile_params *p, g2r_profile **out, g2r_error *err);
void g2r_profile_free(g2r_profile *p);
/* Adds an event with its unit embedding; item_row is the index row it names or -1. */
g2r_status g2r_profile_add(g2r_profile *p, const g2r_event *ev, const float *vec, int64_t item_row, g2r_error *err);
/* The profile direction as a unit vector; returns 0 (and zeros) when empty. */
int g2r_profile_vector(const g2r_profile *p, float *out);
size_t g2r_profile_n_events(const g2r_profile *p);
/* Adds the n events of ev: events naming an item of ix reuse its stored
 * vector; the others are embedded in batches with m (skipped, and counted
 * in *n_skipped, when m is NULL). */
g2r_status g2r_profile_add_events(g2r_profile *p, g2r_index *ix, g2r_model *m, const g2r_tokenizer *tok,
                                  const g2r_event *ev, size_t n, size_t *n_skipped, g2r_error *err);

#define G2R_MAX_BECAUSE 3

typedef struct {
    int k;
    int exclude_seen;      /* drop items named by the profile's events */
    double mmr;            /* 0: off; else lambda in (0, 1] for maximal marginal relevance */
    int explain;           /* fill because[] */
    g2r_scanner *scanner;  /* NULL: the index's own (one rank at a time per index);
                            * one scanner per thread lets threads rank concurrently */
} g2r_rank_options;

typedef struct {
    int64_t row;
    float score;           /* cosine(profile, item) */
    int n_because;
    struct {
        const char *event; /* type */
        const char *text;
        const char *item;  /* NULL when none */
        float contribution;/* this event's share of score */
    } because[G2R_MAX_BECAUSE];
} g2r_result;

/* Ranks ix for profile p: out gets up to o->k results (*n_out).  Strings in
 * because[] live as long as p is not changed. */
g2r_status g2r_rank(g2r_index *ix, const g2r_profile *p, const g2r_rank_options *o, g2r_result *out, int *n_out,
                    g2r_error *err);
#include <stdio.h> /* FILE, for the printer below */

/* Prints {"results":[...],"timing_ms":{"embed":..,"rank":..}} and a newline. */
void g2r_rank_write_json(FILE *f, const g2r_index *ix, const g2r_result *r, int n, double embed_ms, double rank_ms);

typedef struct {
    int k;
    int exclude_seen;      /* seen items other than the held-out one are not ranked */
} g2r_eval_options;

typedef struct {
    size_t users;          /* histories read */
    size_t evaluated;      /* users with a held-out item and a non-empty profile */
    size_t events_skipped; /* text events not embedded (no model) */
    double recall, ndcg;   /* @k, averaged over evaluated users */
    double coverage;       /* distinct recommended items / catalog size */
    double diversity;      /* mean pairwise (1 - cosine) within each list */
} g2r_eval_result;

/* Leave-one-out: for each user (one file per user in a directory, or a file
 * grouped by "user"), hide the last event naming an indexed item, build the
 * profile from the events before it, rank, and score the hidden item. */
g2r_status g2r_eval(g2r_index *ix, g2r_model *m, const g2r_tokenizer *tok, const char *histories,
                    const g2r_profile_params *pp, const g2r_eval_options *o, g2r_eval_result *out, g2r_error *err);


/* ------------------------------------------------- re-rank (second stage) */

/* The top N items of the cosine stage are re-scored by GPT-2 itself: the mean
 * log-probability per token of " " + item text following a prompt built from
 * the user's most recent events (see ranker/rerank.h for the template rules).
 * The prompt's KV cache is computed once and shared by all N candidates
 * (g2r_score_continuations).  LLM scores are min-max normalised over the N
 * candidates to [0, 1] (all equal: 1), and
 *     final = alpha * cosine + (1 - alpha) * normalised LLM score.
 * Truncation: the prompt keeps its LAST n_ctx/2 tokens; each candidate keeps
 * its FIRST n_ctx - n_prompt tokens. */
#define G2R_RERANK_TEMPLATE "A user recently viewed: {view}; searched: {search}; bought: {purchase}. Next they chose:"

typedef struct {
    float cosine;      /* the first stage's score */
    float llm;         /* mean log-probability per token */
    float llm_norm;    /* llm min-max normalised over the re-ranked candidates */
    float final;       /* alpha * cosine + (1 - alpha) * llm_norm */
    int scored;        /* 0 for results past the re-ranked N (llm_norm = 0) */
} g2r_rerank_score;

/* The prompt text for events ev[0..n) (oldest first) and template tmpl (NULL:
 * G2R_RERANK_TEMPLATE): {TYPE} becomes the texts of the 3 most recent events
 * of that type, newest first, joined by ", " ("nothing" when none); {recent}
 * the 8 most recent events as "TYPE TEXT", joined by "; "; "{{" is "{".
 * Events without text are left out. 
 * *out is malloc'd. */
g2r_status g2r_rerank_prompt(const char *tmpl, const g2r_event *ev, size_t n, char **out, g2r_error *err);

/* Re-ranks res[0..n_res): the first min(n, n_res) by the LLM, the rest keep
 * llm_norm = 0; then all are sorted by final (ties: the cosine order), with
 * res[i].score = parts[i].final.  texts[i]/lens[i] are res[i]'s item texts.
 * alpha in [0, 1].  *prefix_tokens, when not NULL, gets the prompt's length. */
g2r_status g2r_rerank(g2r_model *m, const g2r_tokenizer *tok, const char *prompt, double alpha, int n,
                      g2r_result *res, int n_res, const char *const *texts, const size_t *lens,
                      g2r_rerank_score *parts, int *prefix_tokens, g2r_error *err);

/* `gpt2rank rank --rerank N`: what the second stage needs besides the model. */
typedef struct {
    int n;                       /* re-rank the top n (0: off) */
    double alpha;                /* blend, in [0, 1] */
    const char *template_path;   /* a file holding the prompt template; NULL: G2R_RERANK_TEMPLATE */
    const char *items_path;      /* JSON Lines {"id","text"}: the items' texts (the index keeps none) */
} g2r_rerank_options;

/* Re-ranks res[0..n_res) (rows of ix, best first) with a prompt from the
 * events ev[0..n_ev) (their order by ts gives "most recent"), keeps the best
 * k and prints them as g2r_results_write_json does. */
g2r_status g2r_rerank_print(FILE *f, g2r_model *m, const g2r_tokenizer *tok, const g2r_index *ix,
                            const g2r_rerank_options *o, const g2r_event *ev, size_t n_ev, g2r_result *res,
                            int n_res, int k, double embed_ms, double rank_ms, g2r_error *err);

/* Prints {"results":[{"rank","id","score",("cosine","llm","llm_norm",)"because"}],
 * "timing_ms":{"embed","rank"(,"rerank")}} and a newline: the same object as
 * g2r_rank_write_json, plus the re-rank parts when parts is not NULL. */
void g2r_results_write_json(FILE *f, const g2r_result *r, int n, const char *const *ids, const size_t *id_lens,
                            const g2r_rerank_score *parts, double embed_ms, double rank_ms, double rerank_ms);


/* ----------------------------------------------------------------- serve */

/* A long-running ranking service: the model, tokenizer, index and user
 * profiles stay in memory; requests are JSON Lines, one per line, answered in
 * order per connection (see ranker/serve.h for the protocol). */
typedef enum {
    G2R_FSYNC_BATCH = 0, /* one fsync per batch of lines read together, before their answers */
    G2R_FSYNC_ALWAYS,    /* one fsync per event, before its answer */
    G2R_FSYNC_NEVER,     /* written (survives kill -9), not forced to disk */
} g2r_fsync_mode;

typedef struct {
    size_t max_line;            /* longest request line in bytes; 0: 1 MiB */
    size_t cache_mb;            /* embedding cache bound; 0: 64 */
    const char *state_dir;      /* event log and snapshots; NULL: nothing persisted */
    g2r_fsync_mode fsync;
    int snapshot_every;         /* events between snapshots; 0: 10000 */
    const char *items_path;     /* JSON Lines {"id","text"} giving item texts for re-ranking; may be NULL */
    const char *prompt_template;/* re-rank prompt; NULL: G2R_RERANK_TEMPLATE */
    double alpha;               /* default re-rank blend */
    g2r_profile_params profile;
    int max_clients;            /* TCP connections at once; 0: 64 */
    int n_threads;              /* index scans; <= 0: all cores */
} g2r_serve_options;

/* Defaults: everything 0 above, alpha 0.5, default profile params. */
void g2r_serve_options_default(g2r_serve_options *o);

typedef struct g2r_server g2r_server;

/* Opens index_path (refusing an index from another model), loads item texts,
 * the snapshot and replays the event log of o->state_dir.  m and tok must
 * outlive the server. */
g2r_status g2r_server_open(g2r_model *m, const g2r_tokenizer *tok, const char *index_path,
                           const g2r_serve_options *o, g2r_server **out, g2r_error *err);
/* Answers one request line (without its newline) into out: one JSON line.
 * Thread-safe.  Events are logged before they are answered; with
 * G2R_FSYNC_BATCH call g2r_server_sync before sending the answers. */
void g2r_server_request(g2r_server *s, const char *line, size_t len, FILE *out);
/* Forces the event log to disk up to every event answered so far. */
g2r_status g2r_server_sync(g2r_server *s, g2r_error *err);
/* Serves JSON Lines from in_fd to out_fd until end of input or g2r_server_stop. */
g2r_status g2r_serve_fd(g2r_server *s, int in_fd, int out_fd, g2r_error *err);
/* Serves TCP on "HOST:PORT" (HOST an IPv4 address; "PORT" alone: 127.0.0.1)
 * until g2r_server_stop; PORT 0 picks a free port.  on_listen, when not NULL,
 * is called with the bound address before the first accept. */
g2r_status g2r_serve_tcp(g2r_server *s, const char *addr, void (*on_listen)(const char *bound, void *user),
                         void *user, g2r_error *err);
/* Asks the serve loops to stop: async-signal-safe (for SIGTERM). */
void g2r_server_stop(g2r_server *s);
/* Saves the index (when items changed) and a snapshot, then frees s. */
g2r_status g2r_server_close(g2r_server *s, g2r_error *err);

#ifdef __cplusplus
}
#endif

#endif /* GPT2RANK_H */
