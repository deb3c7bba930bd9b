/* pagecache.h — how a mapped file sits in the page cache (2 MB or 4 KB pages),
 * filling a mapping's page tables, and re-reading a file into 2 MB pages. */
#ifndef G2R_PAGECACHE_H
#define G2R_PAGECACHE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/fileio.h"

/* Fills the page tables of [p, p + n) (MADV_POPULATE_READ, or one read per
 * page on kernels without it), so later reads take no page faults. */
void g2r_populate(const void *p, size_t n);

/* The kB of `field` ("FilePmdMapped", "Rss", ...) in the block of a
 * /proc/<pid>/smaps text whose mapping starts at `start`; -1 if there is no
 * such mapping or field. */
long g2r_smaps_kb(FILE *smaps, uintptr_t start, const char *field);

/* The share of m's whole 2 MB blocks that this process maps by 2 MB pages,
 * 0..1 (1 for a file with no whole block).  Reads /proc/self/smaps, so it is
 * for tools and benches, not the hot path; 0 where there is no procfs.
 * Counts only pages already mapped: populate first. */
double g2r_map_huge_share(const g2r_map *m);

#endif
