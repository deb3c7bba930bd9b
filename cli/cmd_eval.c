/* cmd_eval.c — `gpt2rank eval`: leave-one-out Recall@K, NDCG@K, coverage, diversity. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/model_args.h"

static const char *usage_text =
    "usage: gpt2rank eval --index ITEMS.g2ri --histories DIR|FILE [-k 10] [-m MODEL] [--keep-seen]\n"
    "                     [--half-life 7d] [--weights view=1,...] [-t N]\n"
    "  Leave-one-out: for each user (each DIR/*.jsonl file, or FILE's events grouped by \"user\"),\n"
    "  hide the last event naming an indexed item, build the profile from the events before it,\n"
    "  rank (seen items other than the hidden one excluded unless --keep-seen) and score the hidden\n"
    "  item.  Text-only events need -m MODEL (else skipped and counted).  Prints one JSON line:\n"
    "  users, evaluated, k, recall, ndcg, coverage, diversity, events_skipped.\n";

int cmd_eval(int argc, char **argv) {
    cli_model_opts mo = {0};
    const char *index = NULL, *hist = NULL, *v;
    long k = 10;
    g2r_profile_params pp;
    g2r_profile_params_default(&pp);
    g2r_eval_options eo = {10, 1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int handled;
        int got = cli_model_arg("eval", argc, argv, &i, &mo);
        if (got < 0) return EXIT_USAGE;
        if (got) continue;
        if (cli_is_help(a)) {
            fputs(usage_text, stdout);
            fputs(CLI_MODEL_HELP, stdout);
            return EXIT_OK;
        } else if (cli_profile_option("eval", argc, argv, &i, &pp, &handled)) {
            return EXIT_USAGE;
        } else if (handled) {
            continue;
        } else if (!strcmp(a, "--index")) {
            if (!(index = cli_value("eval", argc, argv, &i))) return EXIT_USAGE;
        } else if (!strcmp(a, "--histories")) {
            if (!(hist = cli_value("eval", argc, argv, &i))) return EXIT_USAGE;
        } else if (!strcmp(a, "-k")) {
            if (!(v = cli_value("eval", argc, argv, &i)) || cli_int("eval", a, v, 1, 100000, &k)) return EXIT_USAGE;
        } else if (!strcmp(a, "--keep-seen")) {
            eo.exclude_seen = 0;
        } else {
            return cli_usage_error("eval", "unknown option '%s'", a);
        }
    }
    if (!index || !hist) return cli_usage_error("eval", "--index and --histories are required");
    eo.k = (int)k;

    g2r_error err = {0};
    g2r_model *m = NULL;
    g2r_tokenizer *tok = NULL;
    g2r_index *ix = NULL;
    g2r_index_options io = {mo.opt.n_threads, 0};
    g2r_eval_result r;
    int rc = EXIT_OK;
    if (mo.path) {
        g2r_model_info mi;
        if (g2r_model_load(mo.path, &mo.opt, &m, &err) || g2r_tokenizer_load(NULL, &tok, &err)) {
            rc = cli_error(&err);
            goto done;
        }
        g2r_model_info_get(m, &mi);
        io.fingerprint = mi.fingerprint;
    }
    if (g2r_index_open(index, &io, &ix, &err) || g2r_eval(ix, m, tok, hist, &pp, &eo, &r, &err)) {
        rc = cli_error(&err);
        goto done;
    }
    printf("{\"users\":%zu,\"evaluated\":%zu,\"k\":%ld,\"recall\":%.4f,\"ndcg\":%.4f,\"coverage\":%.4f,"
           "\"diversity\":%.4f,\"events_skipped\":%zu}\n",
           r.users, r.evaluated, k, r.recall, r.ndcg, r.coverage, r.diversity, r.events_skipped);
done:
    g2r_index_close(ix);
    g2r_tokenizer_free(tok);
    g2r_model_free(m);
    return rc;
}
