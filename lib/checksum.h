/* checksum.h: a fast 64-bit non-cryptographic hash for detecting damaged bytes in quire's own
 * files (the KV cache) and for fingerprints; not a defence against anyone crafting collisions.
 *
 * checksum64() reads its input as little-endian 64-bit words wherever it runs, so a value
 * written into a file on one machine checks on any other. Input needs no alignment. The value
 * of a given (bytes, seed) pair is part of quire's file formats: never change the function
 * without a format version bump (tests/t-kv-file.c pins a few values). */
#ifndef QUIRE_LIB_CHECKSUM_H
#define QUIRE_LIB_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

/* The hash of len bytes at data (data may be NULL when len is 0). Different seeds give
 * unrelated functions: callers use one per purpose so that equal bytes in different roles
 * do not hash alike. */
uint64_t checksum64(const void *data, size_t len, uint64_t seed);

#endif
