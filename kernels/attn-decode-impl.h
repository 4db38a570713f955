/* attn-decode-impl.h: what the attn-decode*.c files share (not attn-decode-q8*.c) and nothing
 * else includes: the scratch layout, the rows' start and finish, the online-softmax step, the
 * prefetch distance and the SIMD levels' kernel tables. */
#ifndef QUIRE_KERNELS_ATTN_DECODE_IMPL_H
#define QUIRE_KERNELS_ATTN_DECODE_IMPL_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kernels/attn-decode.h"
#include "kernels/attn-merge-math.h"
#include "kernels/cpu-features.h"
#include "kernels/quant.h"
#include "lib/util.h"

#define DR ATTN_DECODE_MAX_ROWS
#define DT ATTN_DECODE_TILE

/* Scratch layout (floats), the same at every level, every part a multiple of 16 floats:
 * Q[DR][dim] (queries, fp16-rounded and scaled), A[DR][dim] (output accumulators, not yet
 * divided by the softmax sum), S[DR][DT] (a tile's scores, then its weights), Kf[DT][dim] and
 * Vf[DT][dim] (the tile's keys and values in f32), M[DR] and L[DR] (each row's running
 * maximum score and its sum of exp(score - maximum)). */
struct dscratch {
	float *Q, *A, *S, *Kf, *Vf, *M, *L;
};

static inline struct dscratch carve(float *scratch, size_t dim)
{
	struct dscratch s;
	s.Q = scratch;
	s.A = s.Q + DR * dim;
	s.S = s.A + DR * dim;
	s.Kf = s.S + DR * DT;
	s.Vf = s.Kf + DT * dim;
	s.M = s.Vf + DT * dim;
	s.L = s.M + DR;
	return s;
}

/* The rows' start and finish: static and out of line in every file, as when the levels shared
 * one file, so that the run functions around these calls compile to the same code as then (a
 * local call whose effects GCC sees; inlined or external, the code around it changes). */
#define OUT_OF_LINE __attribute__((noinline, unused)) static
/* Queries rounded to fp16 (as llama.cpp and quire's exact path do before the fp16 keys) and
 * scaled; empty accumulators. */
OUT_OF_LINE void start_rows(const struct dscratch *s, const float *const *q, size_t n_rows,
    size_t dim, float scale)
{
	if (n_rows == 0 || n_rows > DR)
		fatal("attn_decode: %zu query rows (1..%d)", n_rows, DR);
	for (size_t r = 0; r < n_rows; r++) {
		for (size_t d = 0; d < dim; d++)
			s->Q[r * dim + d] = quant_fp16_to_f32(quant_f32_to_fp16(q[r][d])) * scale;
		memset(s->A + r * dim, 0, dim * sizeof(float));
		s->M[r] = -INFINITY;
		s->L[r] = 0.0f;
	}
}

OUT_OF_LINE void finish_rows(const struct dscratch *s, const uint32_t *lim, size_t n_rows,
    size_t dim, float *const *o, float *lse)
{
	for (size_t r = 0; r < n_rows; r++)
		attn_online_finish(s->A + r * dim, s->M[r], s->L[r], lim[r] != 0, (int)dim, o[r],
		    &lse[r]);
}

/* Fold row r's tile (maximum mt, sum of exponentials tile_sum) into its running state;
 * returns the factor by which its accumulators must shrink. */
static inline float rescale(const struct dscratch *s, size_t r, float mt, float tile_sum)
{
	return attn_online_step(&s->M[r], &s->L[r], mt, tile_sum);
}

#if CPU_SIMD_X86
/* Keys ahead whose key and value rows are prefetched while a tile is converted: a KV head's
 * rows are short pieces of the wide KV rows, a pattern the hardware prefetcher follows too
 * late (without it, 2/3 of the kernel's time went to waiting on these loads; 24-32 keys
 * ahead measured best, 96 and more worse). Reading the KV heads side by side in one call
 * instead (the rows of every group at once) measured slower too. */
#ifndef DECODE_PREFETCH
#define DECODE_PREFETCH 32
#endif

/* attn-decode-avx2.c, attn-decode-avx512.c */
extern const struct attn_decode_kernels attn_decode_kernels_avx2;
extern const struct attn_decode_kernels attn_decode_kernels_avx512;
#endif

#endif
