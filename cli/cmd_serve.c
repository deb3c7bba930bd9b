/* cmd_serve.c — `gpt2rank serve`: the ranking service on stdin/stdout or TCP. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/model_args.h"
#include "common/fileio.h"

static const char *usage_text =
    "usage: gpt2rank serve -m MODEL --index ITEMS.g2ri [--listen 127.0.0.1:PORT] [--state DIR]\n"
    "                      [--fsync always|batch|never] [--cache-mb 64] [--max-line 1048576]\n"
    "                      [--snapshot-every 10000] [--items ITEMS.jsonl] [--prompt-template FILE]\n"
    "                      [--alpha 0.5] [--half-life 7d] [--weights view=1,...] [--max-clients 64] [-t N]\n"
    "  Answers JSON Lines requests, one per line: on stdin/stdout, or on TCP with --listen (an IPv4\n"
    "  address and port; PORT alone binds 127.0.0.1; port 0 picks one, printed on stderr).\n"
    "  {\"op\":\"event\",\"user\",\"text\",\"event\",\"ts\",\"item\"?,\"weight\"?}\n"
    "  {\"op\":\"rank\",\"user\",\"k\":10,\"rerank\":0,\"alpha\"?,\"mmr\":0,\"exclude_seen\":false,\"explain\":false}\n"
    "  {\"op\":\"add_item\",\"id\",\"text\",...}  {\"op\":\"remove_item\",\"id\"}  {\"op\":\"save\"}  {\"op\":\"stats\"}\n"
    "  A \"req\" member is echoed.  --state DIR logs every event before answering it and replays\n"
    "  the log at start; --items gives item texts for re-ranking.  SIGTERM stops cleanly, saving\n"
    "  the index when items changed.\n" CLI_MODEL_HELP;

static g2r_server *running;

static void on_signal(int sig) {
    (void)sig;
    if (running) g2r_server_stop(running);
}

static void on_listen(const char *bound, void *user) {
    (void)user;
    fprintf(stderr, "gpt2rank serve: listening on %s\n", bound);
    fflush(stderr);
}

static int parse_fsync(const char *val, g2r_fsync_mode *out) {
    if (!strcmp(val, "always")) *out = G2R_FSYNC_ALWAYS;
    else if (!strcmp(val, "batch")) *out = G2R_FSYNC_BATCH;
    else if (!strcmp(val, "never")) *out = G2R_FSYNC_NEVER;
    else return cli_usage_error("serve", "--fsync expects always|batch|never, got '%s'", val), -1;
    return 0;
}

int cmd_serve(int argc, char **argv) {
    cli_model_opts mo = {0};
    const char *index = NULL, *listen_addr = NULL, *tmpl_path = NULL, *v;
    long cache_mb = 64, max_line = 1 << 20, snap = 10000, clients = 64;
    g2r_serve_options so;
    g2r_serve_options_default(&so);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int handled, r;
        if (cli_is_help(a)) {
            fputs(usage_text, stdout);
            return EXIT_OK;
        } else if ((r = cli_model_arg("serve", argc, argv, &i, &mo)) != 0) {
            if (r < 0) return EXIT_USAGE;
        } else if (cli_profile_option("serve", argc, argv, &i, &so.profile, &handled)) {
            return EXIT_USAGE;
        } else if (handled) {
            continue;
        } else if (!strcmp(a, "--index")) {
            if (!(index = cli_value("serve", argc, argv, &i))) return EXIT_USAGE;
        } else if (!strcmp(a, "--items")) {
            if (!(so.items_path = cli_value("serve", argc, argv, &i))) return EXIT_USAGE;
        } else if (!strcmp(a, "--listen")) {
            if (!(listen_addr = cli_value("serve", argc, argv, &i))) return EXIT_USAGE;
        } else if (!strcmp(a, "--state")) {
            if (!(so.state_dir = cli_value("serve", argc, argv, &i))) return EXIT_USAGE;
        } else if (!strcmp(a, "--prompt-template")) {
            if (!(tmpl_path = cli_value("serve", argc, argv, &i))) return EXIT_USAGE;
        } else if (!strcmp(a, "--fsync")) {
            if (!(v = cli_value("serve", argc, argv, &i)) || parse_fsync(v, &so.fsync)) return EXIT_USAGE;
        } else if (!strcmp(a, "--cache-mb")) {
            if (!(v = cli_value("serve", argc, argv, &i)) || cli_int("serve", a, v, 1, 1 << 20, &cache_mb)) return EXIT_USAGE;
        } else if (!strcmp(a, "--max-line")) {
            if (!(v = cli_value("serve", argc, argv, &i)) || cli_int("serve", a, v, 64, 1L << 30, &max_line)) return EXIT_USAGE;
        } else if (!strcmp(a, "--snapshot-every")) {
            if (!(v = cli_value("serve", argc, argv, &i)) || cli_int("serve", a, v, 1, 1L << 40, &snap)) return EXIT_USAGE;
        } else if (!strcmp(a, "--max-clients")) {
            if (!(v = cli_value("serve", argc, argv, &i)) || cli_int("serve", a, v, 1, 4096, &clients)) return EXIT_USAGE;
        } else if (!strcmp(a, "--alpha")) {
            if (!(v = cli_value("serve", argc, argv, &i)) || cli_float("serve", a, v, 0, 1, &so.alpha)) return EXIT_USAGE;
        } else {
            return cli_usage_error("serve", "unknown option '%s'", a);
        }
    }
    if (!mo.path || !index) return cli_usage_error("serve", "-m MODEL and --index are required");
    so.cache_mb = (size_t)cache_mb;
    so.max_line = (size_t)max_line;
    so.snapshot_every = (int)snap;
    so.max_clients = (int)clients;
    so.n_threads = mo.opt.n_threads;

    g2r_error err = {0};
    g2r_model *m = NULL;
    g2r_tokenizer *tok = NULL;
    g2r_server *s = NULL;
    char *tmpl = NULL;
    size_t tmpl_len = 0;
    int rc = EXIT_INPUT;
    if (tmpl_path) {
        if (g2r_read_file(tmpl_path, 1 << 16, &tmpl, &tmpl_len, &err)) goto fail;
        while (tmpl_len && (tmpl[tmpl_len - 1] == '\n' || tmpl[tmpl_len - 1] == '\r')) tmpl[--tmpl_len] = 0;
        so.prompt_template = tmpl;
    }
    if (g2r_model_load(mo.path, &mo.opt, &m, &err) || g2r_tokenizer_load(NULL, &tok, &err) ||
        g2r_server_open(m, tok, index, &so, &s, &err))
        goto fail;
    running = s;
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    g2r_status st = listen_addr ? g2r_serve_tcp(s, listen_addr, on_listen, NULL, &err) : g2r_serve_fd(s, 0, 1, &err);
    running = NULL;
    g2r_error cerr = {0};
    g2r_status cst = g2r_server_close(s, &cerr);
    s = NULL;
    if (st) goto fail;
    if (cst) {
        err = cerr;
        goto fail;
    }
    rc = EXIT_OK;
    goto done;
fail:
    rc = cli_error(&err);
done:
    g2r_server_close(s, NULL);
    g2r_tokenizer_free(tok);
    g2r_model_free(m);
    free(tmpl);
    return rc;
}
