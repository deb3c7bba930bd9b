/* cmd_rank.c — `gpt2rank rank`: a user's history against an item index, as JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/model_args.h"

static const char *usage_text =
    "usage: gpt2rank rank -m MODEL --index ITEMS.g2ri --history USER.jsonl [-k 10] [--exclude-seen]\n"
    "                     [--mmr LAMBDA] [--explain] [--half-life 7d] [--weights view=1,search=1.5,...] [-t N]\n"
    "  History: JSON Lines {\"text\", \"event\", \"ts\", \"item\"?, \"weight\"?}.  Events naming an indexed\n"
    "  item reuse its vector; the others are embedded with MODEL (without -m they are skipped).\n"
    "  Event weights default to view 1, search 1.5, cart 2, purchase 3, others 1; recency decays\n"
    "  with --half-life (s, m, h or d suffix; 0: no decay) from the newest event.  --mmr in (0, 1]\n"
    "  re-ranks the top max(4k, 50) for diversity.  Prints one JSON object:\n"
    "  {\"results\":[{\"rank\",\"id\",\"score\",\"because\"}],\"timing_ms\":{\"embed\",\"rank\"}}.\n"
    "  --rerank N --items ITEMS.jsonl [--alpha 0.5] [--prompt-template FILE]: GPT-2 re-scores the top N\n"
    "  after a prompt of the recent events; score = alpha*cosine + (1-alpha)*normalised LLM score,\n"
    "  with \"cosine\", \"llm\", \"llm_norm\" per result and \"rerank\" in timing_ms.\n";

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

int cli_duration(const char *cmd, const char *flag, const char *val, double *out_s) {
    char *end;
    double v = strtod(val, &end);
    double unit = !strcmp(end, "") || !strcmp(end, "s") ? 1 : !strcmp(end, "m") ? 60 : !strcmp(end, "h") ? 3600
                  : !strcmp(end, "d") ? 86400 : -1;
    if (end == val || unit < 0 || !(v >= 0) || v > 1e12) {
        cli_usage_error(cmd, "%s expects a duration like 7d, 12h, 30m or 90s, got '%s'", flag, val);
        return -1;
    }
    *out_s = v * unit;
    return 0;
}

/* Options shared by rank and eval: the model, weights and half-life. */
int cli_profile_option(const char *cmd, int argc, char **argv, int *i, g2r_profile_params *pp, int *handled) {
    const char *a = argv[*i], *v;
    *handled = 1;
    if (!strcmp(a, "--half-life")) {
        if (!(v = cli_value(cmd, argc, argv, i)) || cli_duration(cmd, a, v, &pp->half_life_s)) return -1;
    } else if (!strcmp(a, "--weights")) {
        g2r_error err = {0};
        if (!(v = cli_value(cmd, argc, argv, i))) return -1;
        if (g2r_profile_params_weights(pp, v, &err)) {
            cli_usage_error(cmd, "%s", err.msg);
            return -1;
        }
    } else {
        *handled = 0;
    }
    return 0;
}

int cmd_rank(int argc, char **argv) {
    cli_model_opts mo = {0};
    const char *index = NULL, *history = NULL, *v;
    long k = 10, rerank = 0;
    double mmr = 0;
    g2r_rerank_options rro = {0, 0.5, NULL, NULL};
    g2r_profile_params pp;
    g2r_profile_params_default(&pp);
    g2r_rank_options ro = {10, 0, 0, 0, NULL};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int handled;
        int got = cli_model_arg("rank", argc, argv, &i, &mo);
        if (got < 0) return EXIT_USAGE;
        if (got) continue;
        if (cli_is_help(a)) {
            fputs(usage_text, stdout);
            fputs(CLI_MODEL_HELP, stdout);
            return EXIT_OK;
        } else if (cli_profile_option("rank", argc, argv, &i, &pp, &handled)) {
            return EXIT_USAGE;
        } else if (handled) {
            continue;
        } else if (!strcmp(a, "--index")) {
            if (!(index = cli_value("rank", argc, argv, &i))) return EXIT_USAGE;
        } else if (!strcmp(a, "--history")) {
            if (!(history = cli_value("rank", argc, argv, &i))) return EXIT_USAGE;
        } else if (!strcmp(a, "-k")) {
            if (!(v = cli_value("rank", argc, argv, &i)) || cli_int("rank", a, v, 1, 100000, &k)) return EXIT_USAGE;
        } else if (!strcmp(a, "--mmr")) {
            if (!(v = cli_value("rank", argc, argv, &i)) || cli_float("rank", a, v, 1e-6, 1, &mmr)) return EXIT_USAGE;
        } else if (!strcmp(a, "--rerank")) {
            if (!(v = cli_value("rank", argc, argv, &i)) || cli_int("rank", a, v, 0, 1000, &rerank)) return EXIT_USAGE;
        } else if (!strcmp(a, "--alpha")) {
            if (!(v = cli_value("rank", argc, argv, &i)) || cli_float("rank", a, v, 0, 1, &rro.alpha)) return EXIT_USAGE;
        } else if (!strcmp(a, "--prompt-template")) {
            if (!(rro.template_path = cli_value("rank", argc, argv, &i))) return EXIT_USAGE;
        } else if (!strcmp(a, "--items")) {
            if (!(rro.items_path = cli_value("rank", argc, argv, &i))) return EXIT_USAGE;
        } else if (!strcmp(a, "--exclude-seen")) {
            ro.exclude_seen = 1;
        } else if (!strcmp(a, "--explain")) {
            ro.explain = 1;
        } else {
            return cli_usage_error("rank", "unknown option '%s'", a);
        }
    }
    if (!index || !history) return cli_usage_error("rank", "--index and --history are required");
    if (rerank && (!mo.path || !rro.items_path))
        return cli_usage_error("rank", "--rerank needs -m MODEL and --items ITEMS.jsonl (the items' texts)");
    rro.n = (int)rerank;
    ro.k = (int)(k > rerank ? k : rerank);
    ro.mmr = mmr;

    g2r_error err = {0};
    g2r_model *m = NULL;
    g2r_tokenizer *tok = NULL;
    g2r_index *ix = NULL;
    g2r_history *h = NULL;
    g2r_profile *p = NULL;
    g2r_result *res = malloc(sizeof(g2r_result) * (size_t)ro.k);
    int rc = EXIT_INPUT, n = 0;
    g2r_index_options io = {mo.opt.n_threads, 0};
    if (!res) goto done;
    if (mo.path) {
        g2r_model_info mi;
        if (g2r_model_load(mo.path, &mo.opt, &m, &err) || g2r_tokenizer_load(NULL, &tok, &err)) goto fail;
        g2r_model_info_get(m, &mi);
        io.fingerprint = mi.fingerprint;
    }
    if (g2r_index_open(index, &io, &ix, &err) || g2r_history_load(history, 0, &h, &err)) goto fail;
    g2r_index_info info;
    g2r_index_info_get(ix, &info);
    double t0 = now_ms();
    size_t skipped = 0;
    if (g2r_profile_new(info.dim, &pp, &p, &err) ||
        g2r_profile_add_events(p, ix, m, tok, g2r_history_events(h), g2r_history_len(h), &skipped, &err))
        goto fail;
    if (skipped)
        fprintf(stderr, "gpt2rank rank: %zu event(s) without an indexed item skipped (no -m MODEL to embed them)\n",
                skipped);
    double t1 = now_ms();
    if (g2r_rank(ix, p, &ro, res, &n, &err)) goto fail;
    double t2 = now_ms();
    if (rro.n && g2r_rerank_print(stdout, m, tok, ix, &rro, g2r_history_events(h), g2r_history_len(h), res, n, (int)k,
                                  t1 - t0, t2 - t1, &err))
        goto fail;
    if (!rro.n) g2r_rank_write_json(stdout, ix, res, n, t1 - t0, t2 - t1);
    rc = fflush(stdout) ? EXIT_INPUT : EXIT_OK;
    goto done;
fail:
    rc = cli_error(&err);
done:
    free(res);
    g2r_profile_free(p);
    g2r_history_free(h);
    g2r_index_close(ix);
    g2r_tokenizer_free(tok);
    g2r_model_free(m);
    return rc;
}
