/* attn-decode-q8-impl.h: what the attn-decode-q8*.c files share and nothing else includes:
 * the scratch layout, the rows' start and finish, the online-softmax step, the prefetch
 * distance and the SIMD levels' kernel tables. */
#ifndef QUIRE_KERNELS_ATTN_DECODE_Q8_IMPL_H
#define QUIRE_KERNELS_ATTN_DECODE_Q8_IMPL_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kernels/attn-decode-q8.h"
#include "kernels/attn-merge-math.h"
#include "kernels/cpu-features.h"
#include "lib/util.h"

#define DR ATTN_DECODE_Q8_MAX_ROWS
#define DT ATTN_DECODE_Q8_TILE
#define NB (ATTN_DECODE_Q8_MAX_DIM / 32)   /* blocks of a row, at most */

/* Scratch layout (floats), every part a multiple of 16 floats: A[DR][dim] (output
 * accumulators, not yet divided by the softmax sum), S[DR][DT] (a tile's scores, then its
 * probabilities), W[DR][NB][DT] (the probabilities times each value block's scale), M[DR]
 * and L[DR] (running maximum score and sum of exp(score - maximum)). */
struct qscratch {
	float *A, *S, *W, *M, *L;
};

static inline struct qscratch carve(float *scratch, size_t dim)
{
	struct qscratch s;
	s.A = scratch;
	s.S = s.A + DR * dim;
	s.W = s.S + DR * DT;
	s.M = s.W + DR * NB * DT;
	s.L = s.M + DR;
	return s;
}

/* The rows' start and finish: static and out of line in every file, as when the levels shared
 * one file, so that the run functions around these calls compile to the same code as then (a
 * local call whose effects GCC sees; inlined or external, the code around it changes). */
#define OUT_OF_LINE __attribute__((noinline, unused)) static
OUT_OF_LINE void start_rows(const struct qscratch *s, size_t n_rows, size_t dim)
{
	if (n_rows == 0 || n_rows > DR)
		fatal("attn_decode_q8: %zu query rows (1..%d)", n_rows, DR);
	for (size_t r = 0; r < n_rows; r++) {
		memset(s->A + r * dim, 0, dim * sizeof(float));
		s->M[r] = -INFINITY;
		s->L[r] = 0.0f;
	}
}

OUT_OF_LINE void finish_rows(const struct qscratch *s, const uint32_t *lim, size_t n_rows,
    size_t dim, float *const *o, float *lse)
{
	for (size_t r = 0; r < n_rows; r++)
		attn_online_finish(s->A + r * dim, s->M[r], s->L[r], lim[r] != 0, (int)dim, o[r],
		    &lse[r]);
}

/* Fold row r's tile (maximum mt, sum of exponentials tile_sum) into its running state;
 * returns the factor by which its accumulators must shrink. */
static inline float rescale(const struct qscratch *s, size_t r, float mt, float tile_sum)
{
	return attn_online_step(&s->M[r], &s->L[r], mt, tile_sum);
}

/* Row r sees none of the tile: its weights (nb blocks of them) are 0. */
static inline void no_weights(const struct qscratch *s, size_t r, size_t nb)
{
	for (size_t b = 0; b < nb; b++)
		memset(s->W + (r * NB + b) * DT, 0, DT * sizeof(float));
}

/* The keys within a tile that row r sees. */
static inline size_t live_keys(uint32_t lim, size_t j0, size_t nj)
{
	return lim <= j0 ? 0 : lim - j0 < nj ? lim - j0 : nj;
}

#if CPU_SIMD_X86
/* Keys ahead whose rows are prefetched (into L1), from the values pass, which comes after
 * the scores of the same tile: a tile (64 keys) ahead measured best, twice as fast as half a
 * tile at depth 16384; 96 and 128 no better, nor prefetches into L2 128 to 512 keys ahead. */
#ifndef DECODE_Q8_PREFETCH
#define DECODE_Q8_PREFETCH 64
#endif

/* attn-decode-q8-avx2.c, attn-decode-q8-avx512.c */
extern const struct attn_decode_q8_kernels attn_decode_q8_kernels_avx2;
extern const struct attn_decode_q8_kernels attn_decode_q8_kernels_avx512;
#endif

#endif
