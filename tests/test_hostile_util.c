/* test_hostile_util.c — see test_hostile_util.h. */
#include "tests/test_hostile_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/harness.h"

int hostile_run(const char *args, long fsize, char *err, size_t cap) {
    char cmd[8192], err_path[64];
    snprintf(err_path, sizeof err_path, "/tmp/g2r-hostile-%ld.err", (long)getpid());
    /* ARGS last, so a redirection in them wins over the default /dev/null */
    snprintf(cmd, sizeof cmd, "exec '%s' >/dev/null 2>'%s' %s", t_bin(), err_path, args);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        if (fsize > 0) {
            signal(SIGXFSZ, SIG_IGN); /* inherited through exec: write() gets EFBIG */
            struct rlimit r = {(rlim_t)fsize, (rlim_t)fsize};
            if (setrlimit(RLIMIT_FSIZE, &r) != 0) _exit(127);
        }
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0) {}
    if (err && cap) {
        err[0] = 0;
        FILE *f = fopen(err_path, "rb");
        if (f) {
            size_t n = fread(err, 1, cap - 1, f);
            err[n] = 0;
            fclose(f);
        }
    }
    unlink(err_path);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int hostile_temporaries(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (strstr(e->d_name, ".tmp.")) n++;
    closedir(d);
    return n;
}

long hostile_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

int hostile_same_file(const char *a, const char *b) {
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int same = fa && fb;
    while (same) {
        int ca = getc(fa), cb = getc(fb);
        if (ca != cb) same = 0;
        if (ca == EOF) break;
    }
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    return same;
}
