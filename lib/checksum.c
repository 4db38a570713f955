/* checksum.c: checksum64, four independent multiply-rotate lanes over 32-byte stripes and an
 * avalanche at the end.
 *
 * The shape is xxHash64's (Yann Collet): each of four accumulators takes one 8-byte word of
 * every 32-byte stripe, so the processor runs four multiply chains side by side (several GB/s
 * per core at -O2, no SIMD needed). The lanes are merged, the 0..31 bytes left over are folded
 * in 8 at a time and the last 1..7 as one zero-padded word; the length enters before the tail,
 * so zero padding cannot make two inputs alike. Murmur3's finaliser carries every input bit to
 * every output bit. The tail and the finaliser differ from xxHash64: the values are our own. */
#include "lib/checksum.h"

#include <string.h>

/* The multipliers are odd (so invertible mod 2^64: a multiply never loses a bit) with bits
 * spread evenly over the word, so a change in a low bit reaches the high half. */
#define K1 0x9e3779b97f4a7c15ull   /* 2^64 / golden ratio, made odd (Knuth's multiplicative hash) */
#define K2 0xc2b2ae3d27d4eb4full   /* a 64-bit prime with balanced bits (xxHash64's PRIME64_2) */
#define K3 0x165667b19e3779f9ull   /* added after merges so a zero state never stays zero */
#define K4 0xff51afd7ed558ccdull   /* murmur3 fmix64's first multiplier (found by search for */
#define K5 0xc4ceb9fe1a85ec53ull   /* full avalanche), and its second */

static inline uint64_t rotl64(uint64_t x, int r)
{
	return (x << r) | (x >> (64 - r));
}

/* One 8-byte word, little-endian whatever the host; memcpy makes any alignment legal. */
static inline uint64_t load64(const unsigned char *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof v);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	return v;
}

/* A lane step: multiply spreads the word's bits upward, the rotate by 31 brings the well-mixed
 * high bits down, the second multiply spreads them again. */
static inline uint64_t lane(uint64_t acc, uint64_t word)
{
	acc += word * K2;
	acc = rotl64(acc, 31);
	return acc * K1;
}

static inline uint64_t merge(uint64_t h, uint64_t acc)
{
	h ^= lane(0, acc);
	return h * K1 + K3;
}

uint64_t checksum64(const void *data, size_t len, uint64_t seed)
{
	const unsigned char *p = data;
	size_t n = len;
	uint64_t h;

	if (n >= 32) {
		/* Four different starts, so words swapped between lanes change the result. */
		uint64_t a = seed + K1 + K2, b = seed + K2, c = seed, d = seed - K1;
		do {
			a = lane(a, load64(p));
			b = lane(b, load64(p + 8));
			c = lane(c, load64(p + 16));
			d = lane(d, load64(p + 24));
			p += 32;
			n -= 32;
		} while (n >= 32);
		h = rotl64(a, 1) + rotl64(b, 7) + rotl64(c, 12) + rotl64(d, 18);
		h = merge(h, a);
		h = merge(h, b);
		h = merge(h, c);
		h = merge(h, d);
	} else {
		h = seed + K5;
	}
	h += (uint64_t)len;

	for (; n >= 8; p += 8, n -= 8) {
		h ^= lane(0, load64(p));
		h = rotl64(h, 27) * K1 + K4;
	}
	if (n > 0) {
		uint64_t w = 0;
		for (size_t i = 0; i < n; i++)
			w |= (uint64_t)p[i] << (8 * i);
		h ^= w * K1;
		h = rotl64(h, 23) * K2 + K3;
	}

	/* Murmur3's fmix64. */
	h ^= h >> 33;
	h *= K4;
	h ^= h >> 33;
	h *= K5;
	h ^= h >> 33;
	return h;
}
