/* fuzz_history.c — JSON Lines user histories (ranker/history.c over
 * ranker/jsonl.c) on arbitrary bytes, with a 256-byte line limit so long
 * lines are exercised.  A refused file gets EFORMAT naming it and the line; an
 * accepted one holds events with text, type, finite ts and weight >= 0. */
#include <math.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tests/fuzz/fuzz.h"

static g2r_status fuzz_history(const uint8_t *data, size_t size) {
    int fd = memfd_create("fuzz-history", MFD_CLOEXEC);
    if (fd < 0) return G2R_EIO;
    if (write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return G2R_EIO;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    g2r_history *h = NULL;
    g2r_error err = {0};
    g2r_status s = g2r_history_load(path, 256, &h, &err);
    if (s) {
        FUZZ_CHECK(h == NULL);
        FUZZ_CHECK((s == G2R_EFORMAT || s == G2R_ERANGE) && fuzz_clean_error(s, &err, path));
        close(fd);
        return s;
    }
    const g2r_event *ev = g2r_history_events(h);
    for (size_t i = 0; i < g2r_history_len(h); i++) {
        FUZZ_CHECK(ev[i].text && ev[i].type && ev[i].user);
        FUZZ_CHECK(isfinite(ev[i].ts) && isfinite(ev[i].weight) && ev[i].weight >= 0);
        FUZZ_CHECK(ev[i].text_len <= size);
    }
    g2r_history_free(h);
    close(fd);
    return G2R_OK;
}

FUZZ_MAIN(fuzz_history)
