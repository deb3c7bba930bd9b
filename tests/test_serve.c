/* test_serve.c — `gpt2rank serve`: the embedding cache, protocol round trips
 * over stdin/stdout and TCP, bad and oversized lines, concurrent clients,
 * the live catalog against g2r_rank, and kill -9 against the event log. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/json.h"
#include "ranker/profile_internal.h"
#include "ranker/serve.h"
#include "tests/harness.h"
#include "tests/test_serve_util.h"

/* ---- helpers */

typedef struct {
    g2r_json_doc *doc;
    const g2r_json *root;
} reply;

static int parse_reply(const char *line, reply *r) {
    g2r_error err = {0};
    r->doc = NULL;
    if (g2r_json_parse(line, strlen(line), "reply", &r->doc, &r->root, &err)) {
        t_fail(__FILE__, __LINE__, "reply is not JSON: %s: %.200s", err.msg, line);
        return -1;
    }
    return 0;
}

static double num(const g2r_json *o, const char *key) {
    const g2r_json *v = g2r_json_get(o, key);
    return v && v->type == G2R_JSON_NUMBER ? v->num : -1e300;
}

static int has(const g2r_json *o, const char *key) { return g2r_json_get(o, key) != NULL; }

/* ---- the cache */

TEST(serve_cache_evicts_the_least_recently_used) {
    g2r_ecache *c = NULL;
    g2r_error err = {0};
    /* room for exactly two 4-float entries */
    REQUIRE(g2r_ecache_new(4, 2 * (4 * sizeof(float) + 32) + 8, &c, &err) == G2R_OK);
    CHECK_EQ_INT(g2r_ecache_cap(c), 2);
    float a[4] = {1, 0, 0, 0}, b[4] = {0, 1, 0, 0}, d[4] = {0, 0, 1, 0}, out[4];
    g2r_ecache_put(c, 10, a);
    g2r_ecache_put(c, 20, b);
    CHECK(g2r_ecache_get(c, 10, out) && out[0] == 1); /* 10 is now the most recent */
    g2r_ecache_put(c, 30, d);                        /* evicts 20 */
    CHECK(!g2r_ecache_get(c, 20, out));
    CHECK(g2r_ecache_get(c, 30, out) && out[2] == 1);
    CHECK(g2r_ecache_get(c, 10, out) && out[0] == 1);
    g2r_ecache_put(c, 10, b); /* refresh in place */
    CHECK(g2r_ecache_get(c, 10, out) && out[1] == 1 && out[0] == 0);
    CHECK_EQ_INT(g2r_ecache_len(c), 2);
    g2r_ecache_free(c);
}

/* ---- in process: the live catalog ranks like g2r_rank */

__attribute__((noinline)) static char *ask(g2r_server *s, const char *line) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    g2r_server_request(s, line, strlen(line), f);
    fclose(f);
    return buf;
}

TEST(serve_rank_equals_g2r_rank_and_follows_item_changes) {
    serve_files f;
    REQUIRE(serve_files_make(&f) == 0);
    g2r_error err = {0};
    g2r_model *m = NULL;
    g2r_tokenizer *tok = NULL;
    g2r_options mo = {.n_threads = 1};
    REQUIRE(g2r_model_load(f.model, &mo, &m, &err) == G2R_OK && g2r_tokenizer_load(NULL, &tok, &err) == G2R_OK);
    g2r_serve_options so;
    g2r_serve_options_default(&so);
    so.items_path = f.items;
    g2r_server *s = NULL;
    REQUIRE(g2r_server_open(m, tok, f.index, &so, &s, &err) == G2R_OK);
    const char *events[] = {
        "{\"op\":\"event\",\"user\":\"u\",\"text\":\"running on the road\",\"event\":\"search\",\"ts\":100}",
        "{\"op\":\"event\",\"user\":\"u\",\"item\":\"shoe2\",\"text\":\"trail shoes\",\"event\":\"view\",\"ts\":200}",
        "{\"op\":\"event\",\"user\":\"u\",\"item\":\"sock\",\"event\":\"purchase\",\"ts\":300}"};
    for (int i = 0; i < 3; i++) {
        char *r = ask(s, events[i]);
        CHECK_CONTAINS(r, "\"ok\":true");
        free(r);
    }
    /* the same events through the ranker's own path */
    g2r_index *ix = NULL;
    g2r_profile *p = NULL;
    REQUIRE(g2r_index_open(f.index, NULL, &ix, &err) == G2R_OK);
    REQUIRE(g2r_profile_new(32, NULL, &p, &err) == G2R_OK);
    g2r_event ev[3] = {{"u", "running on the road", 19, "search", NULL, 100, 1},
                       {"u", "trail shoes", 11, "view", "shoe2", 200, 1},
                       {"u", "", 0, "purchase", "sock", 300, 1}};
    size_t skipped = 0;
    REQUIRE(g2r_profile_add_events(p, ix, m, tok, ev, 3, &skipped, &err) == G2R_OK);
    const char *variants[][2] = {{"", "{\"k\":8,\"exclude_seen\":false,\"mmr\":0,\"explain\":false}"},
                                 {"", "{\"k\":4,\"exclude_seen\":true,\"mmr\":0,\"explain\":true}"},
                                 {"", "{\"k\":3,\"exclude_seen\":true,\"mmr\":0.5,\"explain\":false}"}};
    g2r_rank_options ros[3] = {{.k = 8}, {.k = 4, .exclude_seen = 1, .explain = 1}, {.k = 3, .exclude_seen = 1, .mmr = 0.5}};
    for (int v = 0; v < 3; v++) {
        g2r_result res[8];
        int n = 0;
        REQUIRE(g2r_rank(ix, p, &ros[v], res, &n, &err) == G2R_OK);
        char *want = NULL, line[300];
        size_t wl = 0;
        FILE *wf = open_memstream(&want, &wl);
        g2r_rank_write_json(wf, ix, res, n, 0, 0);
        fclose(wf);
        snprintf(line, sizeof line, "{\"op\":\"rank\",\"user\":\"u\",%s", variants[v][1] + 1);
        char *got = ask(s, line);
        /* equal up to timing_ms */
        char *tw = strstr(want, "\"timing_ms\""), *tg = strstr(got, "\"timing_ms\"");
        REQUIRE(tw && tg);
        *tw = 0, *tg = 0;
        if (strcmp(got, want)) t_fail(__FILE__, __LINE__, "variant %d:\n got %s\nwant %s", v, got, want);
        free(want);
        free(got);
    }
    /* removing the best item drops it; an item with the search's text comes first */
    char *r = ask(s, "{\"op\":\"rank\",\"user\":\"u\",\"k\":1,\"exclude_seen\":true}");
    reply rp;
    REQUIRE(parse_reply(r, &rp) == 0);
    char best[64], line[200];
    snprintf(best, sizeof best, "%s", g2r_json_get(g2r_json_get(rp.root, "results")->child, "id")->str);
    g2r_json_free(rp.doc);
    free(r);
    snprintf(line, sizeof line, "{\"op\":\"remove_item\",\"id\":\"%s\",\"req\":\"rm\"}", best);
    r = ask(s, line);
    CHECK_CONTAINS(r, "\"req\":\"rm\",\"ok\":true");
    CHECK_CONTAINS(r, "\"items\":7");
    free(r);
    r = ask(s, line);
    CHECK_CONTAINS(r, "\"error\":\"remove_item: no item");
    free(r);
    r = ask(s, "{\"op\":\"rank\",\"user\":\"u\",\"k\":8}");
    snprintf(line, sizeof line, "\"id\":\"%s\"", best);
    CHECK(strstr(r, line) == NULL);
    CHECK_CONTAINS(r, "\"id\":\"shoe2\""); /* seen, but not excluded here */
    free(r);
    r = ask(s, "{\"op\":\"add_item\",\"id\":\"new\",\"text\":\"running on the road\",\"color\":\"red\"}");
    CHECK_CONTAINS(r, "\"items\":8");
    free(r);
    r = ask(s, "{\"op\":\"event\",\"user\":\"v\",\"text\":\"running on the road\",\"ts\":5}");
    CHECK_CONTAINS(r, "\"cached\":true"); /* the same text as u's first event */
    free(r);
    r = ask(s, "{\"op\":\"rank\",\"user\":\"v\",\"k\":1}");
    CHECK_CONTAINS(r, "{\"rank\":1,\"id\":\"new\",\"score\":1");
    free(r);
    /* re-rank: both parts present, k results */
    r = ask(s, "{\"op\":\"rank\",\"user\":\"u\",\"k\":2,\"rerank\":4,\"alpha\":0.3}");
    REQUIRE(parse_reply(r, &rp) == 0);
    const g2r_json *res = g2r_json_get(rp.root, "results");
    REQUIRE(res && res->n == 2);
    const g2r_json *first = res->child;
    CHECK_NEAR(num(first, "score"), 0.3 * num(first, "cosine") + 0.7 * num(first, "llm_norm"), 1e-5);
    CHECK(num(first, "llm") < 0);
    CHECK(has(g2r_json_get(rp.root, "timing_ms"), "rerank"));
    g2r_json_free(rp.doc);
    free(r);
    /* save: the file now holds the live items; the new one with its metadata */
    r = ask(s, "{\"op\":\"save\"}");
    CHECK_CONTAINS(r, "\"ok\":true,\"items\":8");
    free(r);
    g2r_index *saved = NULL;
    REQUIRE(g2r_index_open(f.index, NULL, &saved, &err) == G2R_OK);
    g2r_index_info info;
    g2r_index_info_get(saved, &info);
    CHECK_EQ_INT(info.count, 8);
    int64_t row = g2r_index_find(saved, "new", 3);
    REQUIRE(row >= 0);
    g2r_item it = g2r_index_item(saved, (size_t)row);
    CHECK(it.meta_len == 15 && !memcmp(it.meta, "{\"color\":\"red\"}", 15));
    CHECK(g2r_index_find(saved, best, strlen(best)) < 0);
    g2r_index_close(saved);
    g2r_index_close(ix);
    g2r_profile_free(p);
    CHECK(g2r_server_close(s, &err) == G2R_OK);
    g2r_tokenizer_free(tok);
    g2r_model_free(m);
}

/* ---- stdin/stdout */

TEST(serve_stdio_round_trips_bad_lines_and_restart) {
    serve_files f;
    REQUIRE(serve_files_make(&f) == 0);
    child c;
    const char *extra[] = {"--state", f.state, "--max-line", "256", "--items", f.items, NULL};
    REQUIRE(child_start(&c, &f, extra) == 0);
    char big[2000];
    memset(big, 'x', sizeof big);
    memcpy(big, "{\"op\":\"stats\",\"pad\":\"", 21);
    memcpy(big + sizeof big - 4, "\"}\n", 4);
    const char *reqs[] = {
        "{\"op\":\"event\",\"user\":\"u1\",\"text\":\"shoes for running\",\"event\":\"view\",\"ts\":1,\"req\":1}\n",
        "not json\n",
        "[1,2]\n",
        "{\"op\":\"fly\",\"req\":\"x\"}\n",
        "{\"op\":\"event\",\"text\":\"no user\",\"req\":2}\n",
        "\n",
        big,
        "{\"op\":\"rank\",\"user\":\"nobody\",\"req\":3}\n",
        "{\"op\":\"rank\",\"user\":\"u1\",\"k\":0,\"req\":4}\n",
        "{\"op\":\"event\",\"user\":\"u1\",\"item\":\"tent\",\"event\":\"cart\",\"ts\":2,\"req\":[5]}\n",
        "{\"op\":\"rank\",\"user\":\"u1\",\"k\":3,\"exclude_seen\":true,\"req\":{\"n\":6}}\n",
        "{\"op\":\"stats\",\"req\":7}"}; /* the last line without its newline, then EOF */
    for (size_t i = 0; i < sizeof reqs / sizeof reqs[0]; i++) CHECK(child_send(&c, reqs[i]) == 0);
    close(c.in); /* EOF ends the last line */
    c.in = -1;
    const char *expect[] = {"{\"req\":1,\"ok\":true,\"user\":\"u1\",\"events\":1,\"cached\":false}",
                            "{\"error\":\"request: at byte 0:",
                            "{\"error\":\"request: expected a JSON object\"}",
                            "{\"req\":\"x\",\"error\":\"request: \\\"op\\\" must be one of",
                            "{\"req\":2,\"error\":\"event: \\\"user\\\" must be a non-empty string\"}",
                            "{\"error\":\"line over 256 bytes: refused\"}",
                            "{\"req\":3,\"error\":\"rank: no events for user 'nobody'\"}",
                            "{\"req\":4,\"error\":\"rank: \\\"k\\\" must be an integer",
                            "{\"req\":[5],\"ok\":true,\"user\":\"u1\",\"events\":2,\"cached\":true}",
                            "{\"req\":{\"n\":6},\"results\":[{\"rank\":1,",
                            "{\"req\":7,\"users\":1,\"items\":8,\"events\":2,"};
    char line[8192], rank_line[8192] = "";
    for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++) {
        int n = read_line(&c, c.out, line, sizeof line, 20000);
        REQUIRE(n >= 0);
        if (strncmp(line, expect[i], strlen(expect[i])))
            t_fail(__FILE__, __LINE__, "reply %zu:\n got %.300s\nwant %s...", i, line, expect[i]);
        if (i == 9) snprintf(rank_line, sizeof rank_line, "%s", strchr(line, ',') + 1);
    }
    CHECK(strstr(rank_line, "\"id\":\"tent\"") == NULL); /* seen, excluded */
    CHECK_EQ_INT(read_line(&c, c.out, line, sizeof line, 5000), -1); /* nothing more, then EOF */
    CHECK_EQ_INT(child_finish(&c, 20000), 0);

    /* restart: the log is replayed (no forward pass needed: the snapshot) and ranks the same */
    REQUIRE(child_start(&c, &f, extra) == 0);
    CHECK(child_send(&c, "{\"op\":\"rank\",\"user\":\"u1\",\"k\":3,\"exclude_seen\":true,\"req\":{\"n\":6}}\n"
                         "{\"op\":\"stats\"}\n") == 0);
    REQUIRE(read_line(&c, c.out, line, sizeof line, 20000) > 0);
    char *a = strstr(rank_line, "\"timing_ms\""), *b = strstr(line, "\"timing_ms\"");
    REQUIRE(a && b);
    *a = *b = 0;
    CHECK(!strcmp(strchr(line, ',') + 1, rank_line));
    REQUIRE(read_line(&c, c.out, line, sizeof line, 20000) > 0);
    CHECK_CONTAINS(line, "\"users\":1,\"items\":8,\"events\":2,");
    CHECK_CONTAINS(line, "\"misses\":0"); /* replay is not traffic */
    CHECK_EQ_INT(child_finish(&c, 20000), 0);
}

/* ---- TCP */

typedef struct {
    int port, id, n, answered, in_order;
} client_job;

static void *client_main(void *arg) {
    client_job *j = arg;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)j->port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa)) {
        if (fd >= 0) close(fd);
        return NULL;
    }
    /* half sent one by one, half pipelined in one write */
    static const char *texts[] = {"running shoes", "camping gear", "a kettle", "headphones"};
    char *batch = malloc((size_t)j->n * 200), *p = batch;
    j->in_order = 1;
    child rd = {0};
    for (int i = 0; i < j->n; i++) {
        char req[200];
        int len;
        if (i % 3 == 2) len = snprintf(req, sizeof req, "{\"op\":\"rank\",\"user\":\"c%d\",\"k\":3,\"req\":%d}\n", j->id, i);
        else if (i % 7 == 6) len = snprintf(req, sizeof req, "{\"op\":\"stats\",\"req\":%d}\n", i);
        else len = snprintf(req, sizeof req, "{\"op\":\"event\",\"user\":\"c%d\",\"text\":\"%s\",\"ts\":%d,\"req\":%d}\n",
                            j->id, texts[(i + j->id) % 4], i, i);
        if (i < j->n / 2) {
            char line[8192], want[32];
            if (send(fd, req, (size_t)len, MSG_NOSIGNAL) != len || read_line(&rd, fd, line, sizeof line, 30000) < 0) break;
            snprintf(want, sizeof want, "{\"req\":%d,", i);
            j->in_order &= !strncmp(line, want, strlen(want)) && !strstr(line, "\"error\"");
            j->answered++;
        } else {
            memcpy(p, req, (size_t)len);
            p += len;
        }
    }
    if (j->answered == j->n / 2 && send(fd, batch, (size_t)(p - batch), MSG_NOSIGNAL) == p - batch) {
        for (int i = j->n / 2; i < j->n; i++) {
            char line[8192], want[32];
            if (read_line(&rd, fd, line, sizeof line, 30000) < 0) break;
            snprintf(want, sizeof want, "{\"req\":%d,", i);
            j->in_order &= !strncmp(line, want, strlen(want)) && !strstr(line, "\"error\"");
            j->answered++;
        }
    }
    free(batch);
    close(fd);
    return NULL;
}

TEST(serve_tcp_eight_concurrent_clients_all_answered) {
    serve_files f;
    REQUIRE(serve_files_make(&f) == 0);
    child c;
    const char *extra[] = {"--listen", "127.0.0.1:0", NULL};
    REQUIRE(child_start(&c, &f, extra) == 0);
    char line[512];
    int port = 0;
    REQUIRE(read_line(&c, c.err, line, sizeof line, 20000) > 0);
    char *colon = strrchr(line, ':');
    REQUIRE(strstr(line, "listening on 127.0.0.1:") && colon);
    port = atoi(colon + 1);
    REQUIRE(port > 0);
    enum { CLIENTS = 8 };
    /* 50 requests per client in make test; G2R_SERVE_EACH=500 for the full run */
    const int EACH = getenv("G2R_SERVE_EACH") ? atoi(getenv("G2R_SERVE_EACH")) : 50;
    REQUIRE(EACH >= 2 && EACH <= 100000);
    client_job jobs[CLIENTS];
    pthread_t th[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
        jobs[i] = (client_job){port, i, EACH, 0, 0};
        pthread_create(&th[i], NULL, client_main, &jobs[i]);
    }
    int events = 0;
    for (int i = 0; i < CLIENTS; i++) {
        pthread_join(th[i], NULL);
        CHECK_EQ_INT(jobs[i].answered, EACH);
        CHECK(jobs[i].in_order);
    }
    for (int i = 0; i < EACH; i++) events += !(i % 3 == 2) && !(i % 7 == 6);
    /* one more client checks the totals, then SIGTERM stops the server cleanly */
    client_job last = {port, 99, 0, 0, 0};
    client_main(&last);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    const char *st = "{\"op\":\"stats\"}\n";
    REQUIRE(send(fd, st, strlen(st), MSG_NOSIGNAL) == (ssize_t)strlen(st));
    child rd = {0};
    REQUIRE(read_line(&rd, fd, line, sizeof line, 20000) > 0);
    char want[64];
    snprintf(want, sizeof want, "\"users\":%d,\"items\":8,\"events\":%d,", CLIENTS, CLIENTS * events);
    CHECK_CONTAINS(line, want);
    const char *add = "{\"op\":\"add_item\",\"id\":\"late\",\"text\":\"a late arrival\"}\n";
    REQUIRE(send(fd, add, strlen(add), MSG_NOSIGNAL) == (ssize_t)strlen(add));
    REQUIRE(read_line(&rd, fd, line, sizeof line, 20000) > 0);
    CHECK_CONTAINS(line, "\"items\":9");
    close(fd);
    kill(c.pid, SIGTERM);
    CHECK_EQ_INT(child_finish(&c, 20000), 0);
    /* SIGTERM saved the changed catalog */
    g2r_index *ix = NULL;
    g2r_error err = {0};
    REQUIRE(g2r_index_open(f.index, NULL, &ix, &err) == G2R_OK);
    g2r_index_info info;
    g2r_index_info_get(ix, &info);
    CHECK_EQ_INT(info.count, 9);
    CHECK(g2r_index_find(ix, "late", 4) >= 0);
    g2r_index_close(ix);
}

/* ---- kill -9 */

TEST(serve_kill9_loses_no_acknowledged_event) {
    serve_files f;
    REQUIRE(serve_files_make(&f) == 0);
    child c;
    const char *extra[] = {"--state", f.state, "--fsync", "batch", "--snapshot-every", "7", NULL};
    REQUIRE(child_start(&c, &f, extra) == 0);
    enum { SENT = 400, KILL_AFTER = 40 };
    /* a stream of events, one user each, so each acknowledgement names one user */
    char *all = malloc(SENT * 120), *p = all;
    for (int i = 0; i < SENT; i++)
        p += sprintf(p, "{\"op\":\"event\",\"user\":\"k%d\",\"text\":\"item number %d\",\"ts\":%d,\"req\":%d}\n", i, i % 50, i, i);
    pid_t writer = fork();
    if (writer == 0) { /* feeds the server line by line while we read its answers */
        for (char *line = all, *nl; (nl = strchr(line, '\n')); line = nl + 1) {
            char save = nl[1];
            nl[1] = 0;
            if (child_send(&c, line)) break;
            nl[1] = save;
            usleep(5000);
        }
        _exit(0);
    }
    free(all);
    int acked[SENT] = {0}, n_acked = 0;
    char line[1024];
    while (n_acked < KILL_AFTER && read_line(&c, c.out, line, sizeof line, 20000) > 0) {
        int req = -1;
        if (sscanf(line, "{\"req\":%d,\"ok\":true", &req) == 1 && req >= 0 && req < SENT) acked[req] = 1, n_acked++;
    }
    kill(c.pid, SIGKILL); /* mid-stream: the writer is still sending */
    int ws = 0;
    kill(writer, SIGKILL);
    waitpid(writer, &ws, 0);
    child_finish(&c, 5000);
    REQUIRE(n_acked == KILL_AFTER);

    REQUIRE(child_start(&c, &f, extra) == 0);
    char *asks = malloc(SENT * 80 + 64);
    p = asks;
    for (int i = 0; i < SENT; i++)
        if (acked[i]) p += sprintf(p, "{\"op\":\"rank\",\"user\":\"k%d\",\"k\":1,\"req\":%d}\n", i, i);
    sprintf(p, "{\"op\":\"stats\"}\n");
    CHECK(child_send(&c, asks) == 0);
    free(asks);
    for (int i = 0; i < SENT; i++) {
        if (!acked[i]) continue;
        REQUIRE(read_line(&c, c.out, line, sizeof line, 20000) > 0);
        char want[64];
        snprintf(want, sizeof want, "{\"req\":%d,\"results\":[{", i);
        if (strncmp(line, want, strlen(want))) t_fail(__FILE__, __LINE__, "acknowledged event %d lost: %.200s", i, line);
    }
    REQUIRE(read_line(&c, c.out, line, sizeof line, 20000) > 0);
    reply r;
    REQUIRE(parse_reply(line, &r) == 0);
    CHECK(num(r.root, "events") >= KILL_AFTER);
    CHECK(num(r.root, "users") == num(r.root, "events")); /* no event twice, none torn */
    g2r_json_free(r.doc);
    CHECK_EQ_INT(child_finish(&c, 20000), 0);
}

/* ---- fsync modes and a torn log */

static int count_lines(const char *path) {
    FILE *f = fopen(path, "r");
    int n = 0, ch;
    while (f && (ch = fgetc(f)) != EOF) n += ch == '\n';
    if (f) fclose(f);
    return f ? n : -1;
}

TEST(serve_fsync_modes_log_every_event_and_a_torn_tail_is_cut) {
    serve_files f;
    REQUIRE(serve_files_make(&f) == 0);
    const char *modes[] = {"always", "never", "batch"};
    char log[600], line[4096];
    snprintf(log, sizeof log, "%s/events.log", f.state);
    for (int m = 0; m < 3; m++) {
        child c;
        const char *extra[] = {"--state", f.state, "--fsync", modes[m], NULL};
        REQUIRE(child_start(&c, &f, extra) == 0);
        CHECK(child_send(&c, "{\"op\":\"event\",\"user\":\"a\",\"text\":\"tea\",\"ts\":1}\n"
                             "{\"op\":\"event\",\"user\":\"b\",\"item\":\"kettle\",\"ts\":2}\n") == 0);
        for (int i = 0; i < 2; i++) CHECK(read_line(&c, c.out, line, sizeof line, 20000) > 0 && strstr(line, "\"ok\":true"));
        /* answered: already in the log, after the {"gen":N} line of the last shutdown's snapshot */
        CHECK_EQ_INT(count_lines(log), 2 + (m > 0));
        CHECK_EQ_INT(child_finish(&c, 20000), 0);
    }
    /* a crash in the middle of a write leaves a torn line: cut at start, never counted */
    FILE *lf = fopen(log, "a");
    REQUIRE(lf);
    fputs("{\"user\":\"c\",\"event\":\"view\",\"ts\":3,\"text\":\"tor", lf);
    fclose(lf);
    child c;
    const char *extra[] = {"--state", f.state, NULL};
    REQUIRE(child_start(&c, &f, extra) == 0);
    CHECK(child_send(&c, "{\"op\":\"stats\"}\n{\"op\":\"event\",\"user\":\"d\",\"text\":\"tea\",\"ts\":4}\n") == 0);
    REQUIRE(read_line(&c, c.out, line, sizeof line, 20000) > 0);
    CHECK_CONTAINS(line, "\"users\":2,\"items\":8,\"events\":6,");
    REQUIRE(read_line(&c, c.out, line, sizeof line, 20000) > 0);
    CHECK_CONTAINS(line, "\"cached\":true"); /* "tea" came back from vectors.snap */
    CHECK_EQ_INT(count_lines(log), 2); /* {"gen":3} and the new event: the torn line is gone */
    lf = fopen(log, "r");
    REQUIRE(lf);
    int torn = 0;
    while (fgets(line, sizeof line, lf)) torn |= strstr(line, "\"tor\"") != NULL || strstr(line, "\"tor{") != NULL;
    fclose(lf);
    CHECK(!torn);
    CHECK_EQ_INT(child_finish(&c, 20000), 0);
    CHECK_EQ_INT(count_lines(log), 1); /* compacted at shutdown */
}

/* ---- profile snapshots */

static void rank_line_of(child *c, const char *req, char *out, size_t cap) {
    char line[8192];
    out[0] = 0;
    if (child_send(c, req) || read_line(c, c->out, line, sizeof line, 20000) < 0) return;
    char *t = strstr(line, "\"timing_ms\"");
    if (t) *t = 0;
    snprintf(out, cap, "%s", line);
}

/* Same ids in the same order, scores within 1e-5 (an added item is scored by
 * a plain loop before the save, by the index's kernel after), same because[]. */
static void check_same_results(const char *a, const char *b, int line_no) {
    char ja[8300], jb[8300]; /* a and b end before "timing_ms": close the object */
    snprintf(ja, sizeof ja, "%.8192s\"x\":0}", a);
    snprintf(jb, sizeof jb, "%.8192s\"x\":0}", b);
    reply ra, rb;
    if (parse_reply(ja, &ra) || parse_reply(jb, &rb)) return;
    const g2r_json *x = g2r_json_get(ra.root, "results"), *y = g2r_json_get(rb.root, "results");
    int same = x && y && x->n == y->n;
    for (x = same ? x->child : NULL, y = same ? y->child : NULL; same && x; x = x->next, y = y->next)
        same = !strcmp(g2r_json_get(x, "id")->str, g2r_json_get(y, "id")->str) &&
               fabs(num(x, "score") - num(y, "score")) <= 1e-5 &&
               g2r_json_get(x, "because")->n == g2r_json_get(y, "because")->n;
    if (!same) t_fail(__FILE__, line_no, "results differ:\n%s\n%s", a, b);
    g2r_json_free(ra.doc);
    g2r_json_free(rb.doc);
}

TEST(serve_profile_snapshot_restores_profiles_without_the_log) {
    serve_files f;
    REQUIRE(serve_files_make(&f) == 0);
    child c;
    const char *extra[] = {"--state", f.state, "--items", f.items, NULL};
    const char *rank_a = "{\"op\":\"rank\",\"user\":\"a\",\"k\":5,\"exclude_seen\":true,\"explain\":true}\n";
    char before[8192], after[8192], line[8192];
    REQUIRE(child_start(&c, &f, extra) == 0);
    CHECK(child_send(&c, "{\"op\":\"event\",\"user\":\"a\",\"item\":\"tent\",\"event\":\"purchase\",\"ts\":10}\n"
                         "{\"op\":\"event\",\"user\":\"a\",\"item\":\"sock\",\"event\":\"view\",\"ts\":20}\n"
                         "{\"op\":\"event\",\"user\":\"a\",\"text\":\"hiking in the hills\",\"event\":\"search\",\"ts\":30}\n"
                         "{\"op\":\"event\",\"user\":\"b\",\"text\":\"a cup of tea\",\"ts\":5}\n"
                         "{\"op\":\"remove_item\",\"id\":\"shoe1\"}\n"
                         "{\"op\":\"add_item\",\"id\":\"boots\",\"text\":\"hiking boots\"}\n") == 0);
    for (int i = 0; i < 6; i++) CHECK(read_line(&c, c.out, line, sizeof line, 20000) > 0 && strstr(line, "\"ok\":true"));
    rank_line_of(&c, rank_a, before, sizeof before);
    CHECK_CONTAINS(before, "\"results\":[{\"rank\":1,");
    CHECK(strstr(before, "\"id\":\"tent\"") == NULL && strstr(before, "\"id\":\"sock\"") == NULL);
    CHECK_CONTAINS(before, "\"because\":[{");
    CHECK_EQ_INT(child_finish(&c, 20000), 0); /* saves the index (rows renumbered), then the snapshots */

    /* the log is now garbage (generation 0, older than the snapshot): only the snapshot can restore the profiles */
    char log[600];
    snprintf(log, sizeof log, "%s/events.log", f.state);
    FILE *lf = fopen(log, "r+");
    REQUIRE(lf);
    int ch, n = 0;
    while ((ch = fgetc(lf)) != EOF) n++;
    rewind(lf);
    for (int i = 0; i < n; i++) fputc(i == n - 1 ? '\n' : 'x', lf);
    fclose(lf);
    REQUIRE(child_start(&c, &f, extra) == 0);
    rank_line_of(&c, rank_a, after, sizeof after);
    check_same_results(before, after, __LINE__);
    CHECK(child_send(&c, "{\"op\":\"stats\"}\n") == 0);
    REQUIRE(read_line(&c, c.out, line, sizeof line, 20000) > 0);
    CHECK_CONTAINS(line, "\"users\":2,\"items\":8,\"events\":4,");
    CHECK_EQ_INT(child_finish(&c, 20000), 0);

    /* a damaged snapshot falls back to the whole log, here garbage: a clear error */
    char snap[600];
    snprintf(snap, sizeof snap, "%s/profiles.snap", f.state);
    REQUIRE(truncate(snap, 40) == 0);
    lf = fopen(log, "w");
    REQUIRE(lf);
    fputs("xxxxxxxx\n", lf);
    fclose(lf);
    for (int twice = 0; twice < 2; twice++) { /* and the failed start wrote no snapshot over it */
        REQUIRE(child_start(&c, &f, extra) == 0);
        REQUIRE(read_line(&c, c.err, line, sizeof line, 20000) > 0);
        CHECK_CONTAINS(line, "replaying the whole log");
        REQUIRE(read_line(&c, c.err, line, sizeof line, 20000) > 0);
        CHECK_CONTAINS(line, "events.log:1: event log: at byte 0");
        CHECK_EQ_INT(child_finish(&c, 20000), 1);
    }
}

static int64_t keep_row(void *user, int64_t row) {
    (void)user;
    return row == 5 ? -1 : row; /* row 5 left the file */
}

TEST(serve_profile_write_read_round_trip_wrapped_and_not) {
    g2r_profile_params prm;
    g2r_profile_params_default(&prm);
    prm.keep_events = 4;
    for (int n_ev = 3; n_ev <= 7; n_ev += 4) { /* 3: the ring has not wrapped; 7: it has */
        g2r_profile *p = NULL, *q = NULL;
        g2r_error err = {0};
        REQUIRE(g2r_profile_new(3, &prm, &p, &err) == G2R_OK);
        for (int i = 0; i < n_ev; i++) {
            float v[3] = {(float)(i % 3 == 0), (float)(i % 3 == 1), (float)(i % 3 == 2)};
            char text[16];
            snprintf(text, sizeof text, "t%d", i);
            g2r_event e = {"u", text, strlen(text), i % 2 ? "view" : "cart", NULL, 100.0 * i, 1};
            REQUIRE(g2r_profile_add(p, &e, v, i < 3 ? 2 * i + 1 : -1, &err) == G2R_OK); /* seen rows 1, 3, 5 */
        }
        FILE *f = tmpfile();
        REQUIRE(f);
        CHECK(g2r_profile_write(p, f, keep_row, NULL) == 0);
        rewind(f);
        REQUIRE(g2r_profile_read(3, &prm, f, &q, &err) == G2R_OK);
        fclose(f);
        for (int round = 0; round < 2; round++) {
            float a[3], b[3], x[3] = {0.6f, 0.8f, 0}, ca[8], cb[8];
            CHECK(g2r_profile_vector(p, a) && g2r_profile_vector(q, b));
            for (int d = 0; d < 3; d++) CHECK_NEAR(a[d], b[d], 0);
            int na = g2r_profile_contributions(p, x, ca), nb = g2r_profile_contributions(q, x, cb);
            CHECK_EQ_INT(na, nb);
            for (int i = 0; i < na && i < nb; i++) CHECK_NEAR(ca[i], cb[i], 1e-7);
            CHECK_EQ_INT(g2r_profile_n_events(p), g2r_profile_n_events(q));
            size_t ns_p, ns_q;
            g2r_profile_seen(p, &ns_p);
            const int64_t *sq = g2r_profile_seen(q, &ns_q);
            CHECK_EQ_INT(ns_q, ns_p - (n_ev >= 3)); /* row 5 dropped */
            CHECK(ns_q >= 2 && sq[0] == 1 && sq[1] == 3);
            /* both go on the same way */
            float v[3] = {0.5f, 0.5f, 0.70710678f};
            g2r_event e = {"u", "next", 4, "search", NULL, 1000, 1};
            REQUIRE(g2r_profile_add(p, &e, v, -1, &err) == G2R_OK && g2r_profile_add(q, &e, v, -1, &err) == G2R_OK);
        }
        g2r_profile_params other = prm;
        other.keep_events = 5; /* another ring bound: refused */
        f = tmpfile();
        REQUIRE(f);
        CHECK(g2r_profile_write(p, f, keep_row, NULL) == 0);
        rewind(f);
        g2r_profile *r = NULL;
        CHECK(g2r_profile_read(3, &other, f, &r, &err) == G2R_EFORMAT);
        fclose(f);
        g2r_profile_free(p);
        g2r_profile_free(q);
    }
}

/* ---- item changes in the log, and log compaction */

TEST(serve_kill9_keeps_acknowledged_item_changes) {
    serve_files f;
    REQUIRE(serve_files_make(&f) == 0);
    child c;
    const char *extra[] = {"--state", f.state, "--items", f.items, "--snapshot-every", "1000", NULL};
    const char *rank_a = "{\"op\":\"rank\",\"user\":\"a\",\"k\":10,\"explain\":true}\n";
    char before[8192], after[8192], line[8192], log[600];
    REQUIRE(child_start(&c, &f, extra) == 0);
    CHECK(child_send(&c, "{\"op\":\"add_item\",\"id\":\"boots\",\"text\":\"hiking boots\",\"price\":[1,2]}\n"
                         "{\"op\":\"remove_item\",\"id\":\"shoe1\"}\n"
                         "{\"op\":\"add_item\",\"id\":\"kettle\",\"text\":\"a whistling stove kettle\"}\n"
                         "{\"op\":\"event\",\"user\":\"a\",\"item\":\"boots\",\"ts\":1}\n"
                         "{\"op\":\"event\",\"user\":\"a\",\"text\":\"camping by a lake\",\"ts\":2}\n"
                         "{\"op\":\"add_item\",\"id\":\"cap\",\"text\":\"a sun cap\"}\n"
                         "{\"op\":\"remove_item\",\"id\":\"cap\"}\n"
                         "{\"op\":\"remove_item\",\"id\":\"nothing\"}\n") == 0);
    for (int i = 0; i < 7; i++) CHECK(read_line(&c, c.out, line, sizeof line, 20000) > 0 && strstr(line, "\"ok\":true"));
    REQUIRE(read_line(&c, c.out, line, sizeof line, 20000) > 0);
    CHECK_CONTAINS(line, "\"error\":\"remove_item: no item 'nothing'\""); /* refused: not logged */
    rank_line_of(&c, rank_a, before, sizeof before);
    CHECK_CONTAINS(before, "\"id\":\"boots\"");
    CHECK(strstr(before, "\"id\":\"shoe1\"") == NULL && strstr(before, "\"id\":\"cap\"") == NULL);
    snprintf(log, sizeof log, "%s/events.log", f.state);
    CHECK_EQ_INT(count_lines(log), 7);
    kill(c.pid, SIGKILL);
    child_finish(&c, 5000);

    REQUIRE(child_start(&c, &f, extra) == 0);
    rank_line_of(&c, rank_a, after, sizeof after);
    check_same_results(before, after, __LINE__);
    CHECK(child_send(&c, "{\"op\":\"stats\"}\n") == 0);
    REQUIRE(read_line(&c, c.out, line, sizeof line, 20000) > 0);
    CHECK_CONTAINS(line, "\"users\":1,\"items\":8,\"events\":2,");
    CHECK_EQ_INT(child_finish(&c, 20000), 0);
}

static char *ask_cut(g2r_server *s, const char *line) { /* the answer up to "timing_ms" */
    char *r = ask(s, line), *t = r ? strstr(r, "\"timing_ms\"") : NULL;
    if (t) *t = 0;
    return r;
}

static long file_size(const char *path) {
    struct stat st;
    return stat(path, &st) ? -1 : (long)st.st_size;
}

/* A snapshot stopped after each of its steps (ranker/serve.h) as by kill -9,
 * then a restart: every acknowledged request is there exactly once. */
TEST(serve_log_compaction_survives_a_crash_at_every_step) {
    const char *reqs[] = {"{\"op\":\"event\",\"user\":\"a\",\"item\":\"tent\",\"ts\":1,\"weight\":2}",
                          "{\"op\":\"remove_item\",\"id\":\"shoe1\"}",
                          "{\"op\":\"add_item\",\"id\":\"boots\",\"text\":\"hiking boots\"}",
                          "{\"op\":\"event\",\"user\":\"a\",\"item\":\"boots\",\"ts\":2}",
                          "{\"op\":\"event\",\"user\":\"b\",\"text\":\"a cup of tea\",\"ts\":3}"};
    const char *rank_a = "{\"op\":\"rank\",\"user\":\"a\",\"k\":10,\"explain\":true}";
    g2r_options mo = {.n_threads = 1};
    g2r_tokenizer *tok = NULL;
    g2r_error err = {0};
    REQUIRE(g2r_tokenizer_load(NULL, &tok, &err) == G2R_OK);
    for (int step = 0; step <= 4; step++) { /* 0: no crash */
        serve_files f;
        REQUIRE(serve_files_make(&f) == 0);
        g2r_model *m = NULL;
        REQUIRE(g2r_model_load(f.model, &mo, &m, &err) == G2R_OK);
        g2r_serve_options so;
        g2r_serve_options_default(&so);
        so.items_path = f.items;
        so.state_dir = f.state;
        so.n_threads = 1;
        char log[600], next[600];
        snprintf(log, sizeof log, "%s/events.log", f.state);
        snprintf(next, sizeof next, "%s.next", f.index);
        g2r_server *s = NULL;
        REQUIRE(g2r_server_open(m, tok, f.index, &so, &s, &err) == G2R_OK);
        for (int i = 0; i < 5; i++) {
            char *r = ask(s, reqs[i]);
            CHECK_CONTAINS(r, "\"ok\":true");
            free(r);
        }
        char *want = ask_cut(s, rank_a);
        long full = file_size(log);
        g2r_serve_crash_after = step;
        char *r = ask(s, "{\"op\":\"save\"}");
        g2r_serve_crash_after = 0;
        CHECK_CONTAINS(r, step ? "\"error\":\"serve: test crash after snapshot step" : "\"ok\":true,\"items\":8");
        free(r);
        if (step == 0) CHECK_EQ_INT(file_size(log), 10); /* {"gen":1}\n only */
        else CHECK_EQ_INT(file_size(log), full);
        CHECK_EQ_INT(access(next, F_OK) == 0, step == 2 || step == 3);
        r = ask(s, "{\"op\":\"event\",\"user\":\"c\",\"text\":\"late\",\"ts\":4}");
        CHECK_CONTAINS(r, step ? "\"error\":\"serve: an earlier snapshot failed" : "\"ok\":true");
        free(r);
        CHECK(g2r_server_close(s, &err) == G2R_OK); /* broken: writes nothing, like the kill */
        for (int round = 0; round < 2; round++) { /* after the recovery, and after a clean shutdown */
            REQUIRE(g2r_server_open(m, tok, f.index, &so, &s, &err) == G2R_OK);
            CHECK(access(next, F_OK) != 0);
            char *got = ask_cut(s, rank_a);
            check_same_results(want, got, __LINE__);
            free(got);
            r = ask(s, "{\"op\":\"stats\"}");
            char counts[64];
            snprintf(counts, sizeof counts, "\"users\":%d,\"items\":8,\"events\":%d,", step ? 2 : 3, step ? 3 : 4);
            if (!strstr(r, counts)) t_fail(__FILE__, __LINE__, "step %d round %d: %.200s", step, round, r);
            free(r);
            CHECK(g2r_server_close(s, &err) == G2R_OK);
            CHECK_EQ_INT(file_size(log), 10); /* compacted at shutdown: {"gen":N}\n */
        }
        free(want);
        g2r_model_free(m);
    }
    g2r_tokenizer_free(tok);
}
