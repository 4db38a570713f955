/* attn-decode.h: attention of a few query rows (decode) against one range of a long fp16 KV
 * memory, per SIMD level (kernels/cpu-features.h). The rows of one KV group go together, so
 * each key and value of the range is read and converted once for all of them; a range yields
 * a partial result (normalised output and log-sum-exp) that kernels/attn-merge-math.h folds with
 * the other ranges' results: split-K ("flash-decoding"), so that one token's attention over
 * many keys spreads over every thread. */
#ifndef QUIRE_KERNELS_ATTN_DECODE_H
#define QUIRE_KERNELS_ATTN_DECODE_H

#include <stddef.h>
#include <stdint.h>

#define ATTN_DECODE_MAX_ROWS 32   /* query rows per call */
#define ATTN_DECODE_TILE 32       /* keys converted to f32 at a time */

struct attn_decode_kernels {
	const char *name;
	/* Rows r < n_rows (1..ATTN_DECODE_MAX_ROWS) against keys j < n_keys of k and v (fp16
	 * rows every kv_stride values). Row r's query q[r] (dim floats) is rounded to fp16 like
	 * the other attention paths do, its scores are scale * q.k_j, and it sees keys
	 * j < lim[r] (lim[r] <= n_keys; 0: none). Writes o[r] (dim floats: the softmax-weighted
	 * sum of the values it sees, normalised; zeros for none) and lse[r] (the log-sum-exp of
	 * its scores; -infinity for none). dim: a multiple of 16, at most 256. scratch:
	 * attn_decode_scratch_floats(dim) floats, 64-byte aligned. */
	void (*run)(const float *const *q, const uint32_t *lim, size_t n_rows, const uint16_t *k,
	    const uint16_t *v, size_t kv_stride, size_t n_keys, size_t dim, float scale,
	    float *const *o, float *lse, float *scratch);
};

/* Scratch floats one run() call needs. */
size_t attn_decode_scratch_floats(size_t dim);

/* The kernels of the active SIMD level. */
const struct attn_decode_kernels *attn_decode_active(void);
/* The kernels of a level (enum cpu_simd_level), or NULL if the CPU lacks it. */
const struct attn_decode_kernels *attn_decode_for(int level);

#endif
