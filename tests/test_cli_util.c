/* test_cli_util.c — see test_cli_util.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "tests/harness.h"
#include "tests/test_cli_util.h"

int t_run(const char *args, const char *out_path, const char *err_path) {
    char cmd[16384];
    snprintf(cmd, sizeof cmd, "'%s' %s >'%s' 2>'%s'", t_bin(), args, out_path ? out_path : "/dev/null",
             err_path ? err_path : "/dev/null");
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

char *t_slurp(const char *path) {
    static char buf[1 << 16];
    FILE *f = fopen(path, "rb");
    if (!f) return strcpy(buf, "");
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

void t_write_text(const char *path, const char *s) {
    FILE *f = fopen(path, "w");
    if (!f) return;
    fputs(s, f);
    fclose(f);
}
