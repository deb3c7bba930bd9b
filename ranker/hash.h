/* hash.h — XXH64 (Yann Collet's xxHash, 64-bit): index checksums, text hashes, id lookup. */
#ifndef G2R_HASH_H
#define G2R_HASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t g2r_xxh64(const void *data, size_t len, uint64_t seed);

#endif
