/* pagecache.h — filling a mapping's page tables, and reading smaps (how a
 * mapped file sits in the page cache); g2r_cache_huge is in gpt2rank.h. */
#ifndef G2R_PAGECACHE_H
#define G2R_PAGECACHE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Fills the page tables of [p, p + n) (MADV_POPULATE_READ, or one read per
 * page on kernels without it), so later reads take no page faults. */
void g2r_populate(const void *p, size_t n);

/* The kB of `field` ("FilePmdMapped", "Rss", ...) in the block of a
 * /proc/<pid>/smaps text whose mapping starts at `start`; -1 if there is no
 * such mapping or field. */
long g2r_smaps_kb(FILE *smaps, uintptr_t start, const char *field);

#endif
