/* attn-exact-block-impl.h: what the attn-exact-block*.c files share and nothing else
 * includes: the pieces each SIMD level supplies to the shared loops, and the SIMD levels' sets
 * of them. */
#ifndef QUIRE_KERNELS_ATTN_EXACT_BLOCK_IMPL_H
#define QUIRE_KERNELS_ATTN_EXACT_BLOCK_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/attn-exact-block.h"
#include "kernels/cpu-features.h"

/* The pieces one SIMD level supplies; the loops over chunks and rows are shared. */
struct block_ops {
	/* kt[d*16 + i] = k[(k0 + i) * stride + d] for i < n (<= 16), 0 for n <= i < 16. */
	void (*k_tile)(const uint16_t *k, size_t stride, size_t k0, size_t n, size_t dim,
	    float *kt);
	/* vf[i*dim + d] = v[(k0 + i) * stride + d] for i < n. */
	void (*v_rows)(const uint16_t *v, size_t stride, size_t k0, size_t n, size_t dim,
	    float *vf);
	/* s[16t + i] = scale * (q . key i of tile t) for t < n_tiles (tiles dim*16 floats). */
	void (*qk_tiles)(const float *q, const float *kt, size_t n_tiles, size_t dim, float scale,
	    float *s);
	/* acc[l*dim + d] += w[i] * vf[i*dim + d] for i < n, l = i % 16 (fma, in order of i). */
	void (*pv)(const float *w, const float *vf, size_t n, size_t dim, float *acc);
	/* out[d] = the reduce tree over the 16 lane accumulators of dim d. */
	void (*fold)(const float *acc, size_t dim, float *out);
	/* Instead of v_rows and pv, where not NULL: p.v over one chunk of cn values at key c0,
	 * converted by k_tile (dim-major tiles), for all rows at once; the accumulators of row r
	 * (16 * dim floats at acc + r*16*dim, laid out as fold reads them) take the products of
	 * positions c0..min(n_keys[r], c0 + cn) - 1; spare: 16 * dim floats to write at will. */
	void (*pv_rows)(const float *scores, size_t kpad, const uint32_t *n_keys, size_t n_rows,
	    size_t c0, size_t cn, const float *vt, size_t dim, float *acc, float *spare);
	/* Instead of k_tile and qk_tiles, where not NULL: k_rows converts a chunk of cn keys at
	 * k0 key-major (kf[i*dim + d], zeros up to the next multiple of 16 keys), and qk_rows
	 * writes scores[r*kpad + c0 + i] for every i < n_keys[r] - c0 (and at most up to the next
	 * multiple of 4 past it) of every row that sees key c0. */
	void (*k_rows)(const uint16_t *k, size_t stride, size_t k0, size_t n, size_t dim,
	    float *kf);
	void (*qk_rows)(const float *qr, size_t n_rows, const uint32_t *n_keys, size_t c0,
	    size_t cn, const float *kf, size_t dim, float scale, float *scores, size_t kpad);
};

static inline size_t round16(size_t n)
{
	return (n + 15) & ~(size_t)15;
}

#if CPU_SIMD_X86
/* attn-exact-block-avx2.c, attn-exact-block-avx512.c */
extern const struct block_ops attn_exact_block_ops_avx2;
extern const struct block_ops attn_exact_block_ops_avx512;
#endif

#endif
