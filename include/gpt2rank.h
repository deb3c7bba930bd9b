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

/* Declared by ranker/ as it lands: index build/open, profiles, top-K, serve. */

#ifdef __cplusplus
}
#endif

#endif /* GPT2RANK_H */
