/* sha256.h: SHA-256 (FIPS 180-4), used for the content hashes that make re-ingest idempotent. */
#ifndef QUIRE_STORE_SHA256_H
#define QUIRE_STORE_SHA256_H

#include <stddef.h>
#include <stdint.h>

struct sha256 {
	uint32_t h[8];              /* chaining state */
	uint64_t total;             /* bytes hashed so far */
	uint8_t block[64];          /* pending partial block */
	size_t fill;                /* bytes in block */
};

void sha256_init(struct sha256 *c);
void sha256_update(struct sha256 *c, const void *data, size_t len);
void sha256_final(struct sha256 *c, uint8_t out[32]);
/* One call: the 64 lowercase hex digits of data's hash into hex (65 bytes with the NUL). */
void sha256_hex(const void *data, size_t len, char hex[65]);

#endif
