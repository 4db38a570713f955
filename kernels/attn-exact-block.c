/* attn-exact-block.c: the per-row gemm path of attn-exact.c for a block of query rows, with
 * each chunk of keys and values converted to fp32 once for all the rows.
 *
 * The sums are attn-exact.c's, element for element:
 *  - q.k: lane l of a key's 16-lane accumulator takes dims 16c + l by fma in order of c, then
 *    the lanes are summed in _mm512_reduce_add_ps's tree and multiplied by scale. Scalar and
 *    AVX2 store a tile of 16 keys dim-major (kt[d][key]), so lane l's accumulator is one
 *    vector over the 16 keys (acc_l = fma(bcast(q[16c + l]), kt[16c + l], acc_l)) and the
 *    tree runs across the 16 vectors. AVX-512 keeps qk_gemm's vectors over dims, four rows x
 *    four keys of them, and does the 16 trees together with shuffles (reduce16x16).
 *  - softmax: attn-exact.c's own, over the row's n_keys scores.
 *  - p.v: lane l takes positions 16c + l (keys counted from 0) up to the row's n_keys and no
 *    further (masked positions are not added as 0 * v: an inf in v would make it NaN), then
 *    the same tree. Scalar and AVX2 keep 16 lane arrays over dims per row; AVX-512 keeps one
 *    16-lane vector per (row, dim) over dim-major value tiles and sums it in reduce order at
 *    the end. The accumulators live in scratch between chunks of keys.
 * Keys past the block's largest n_keys are never read: tiles are filled with zeros there and
 * those scores are never used.
 *
 * This file holds the shared loops, the portable pieces and the choice of level; the AVX2 and
 * AVX-512 pieces are in attn-exact-block-avx2.c and attn-exact-block-avx512.c. */
#include "kernels/attn-exact-block.h"

#include <math.h>
#include <string.h>

#include "kernels/attn-exact-block-impl.h"
#include "kernels/attn-exact.h"
#include "kernels/ggml-vec-math.h"
#include "kernels/quant.h"

/* Keys per chunk: a chunk's converted tile stays at 16 KiB, about a third of L1. */
static size_t chunk_keys(size_t dim)
{
	size_t ck = (4096 / dim) & ~(size_t)15;
	return ck < 16 ? 16 : ck;
}

size_t attn_exact_block_scratch_floats(size_t n_rows, size_t max_keys, size_t dim)
{
	return n_rows * dim + n_rows * round16(max_keys) + chunk_keys(dim) * dim +
	    (n_rows + 1) * 16 * dim;
}

static void block_run(const struct block_ops *ops, const struct attn_exact_kernels *ek,
    const float *const *q, const uint32_t *n_keys, size_t n_rows, const uint16_t *k,
    const uint16_t *v, size_t stride, size_t dim, float scale, float *const *out,
    float *scratch)
{
	size_t kmax = 0;
	for (size_t r = 0; r < n_rows; r++)
		kmax = n_keys[r] > kmax ? n_keys[r] : kmax;
	size_t kpad = round16(kmax), ck = chunk_keys(dim);
	float *qr = scratch;                    /* [row][dim]: q rounded to fp16 */
	float *scores = qr + n_rows * dim;      /* [row][kpad] */
	float *tile = scores + n_rows * kpad;   /* one chunk of keys or values */
	float *acc = tile + ck * dim;           /* [row][16 * dim]: p.v's accumulators, + spare */
	for (size_t r = 0; r < n_rows; r++)
		for (size_t d = 0; d < dim; d++)
			qr[r * dim + d] = quant_fp16_to_f32(quant_f32_to_fp16(q[r][d]));

	for (size_t c0 = 0; c0 < kmax; c0 += ck) {
		size_t cn = kmax - c0 < ck ? kmax - c0 : ck;
		if (ops->qk_rows != NULL) {
			ops->k_rows(k, stride, c0, cn, dim, tile);
			ops->qk_rows(qr, n_rows, n_keys, c0, cn, tile, dim, scale, scores, kpad);
			continue;
		}
		for (size_t i = 0; i < cn; i += 16)
			ops->k_tile(k, stride, c0 + i, cn - i < 16 ? cn - i : 16, dim, tile + i * dim);
		for (size_t r = 0; r < n_rows; r++) {
			size_t end = n_keys[r] < c0 + ck ? n_keys[r] : c0 + ck;
			if (end > c0)
				ops->qk_tiles(qr + r * dim, tile, (end - c0 + 15) / 16, dim, scale,
				    scores + r * kpad + c0);
		}
	}
	for (size_t r = 0; r < n_rows; r++)
		if (n_keys[r] > 0)
			ek->softmax(scores + r * kpad, n_keys[r]);

	memset(acc, 0, n_rows * 16 * dim * sizeof(float));
	for (size_t c0 = 0; c0 < kmax; c0 += ck) {
		size_t cn = kmax - c0 < ck ? kmax - c0 : ck;
		if (ops->pv_rows != NULL) {
			for (size_t i = 0; i < cn; i += 16)
				ops->k_tile(v, stride, c0 + i, cn - i < 16 ? cn - i : 16, dim, tile + i * dim);
			ops->pv_rows(scores, kpad, n_keys, n_rows, c0, cn, tile, dim, acc,
			    acc + n_rows * 16 * dim);
			continue;
		}
		ops->v_rows(v, stride, c0, cn, dim, tile);
		for (size_t r = 0; r < n_rows; r++) {
			size_t end = n_keys[r] < c0 + ck ? n_keys[r] : c0 + ck;
			if (end > c0)
				ops->pv(scores + r * kpad + c0, tile, end - c0, dim, acc + r * 16 * dim);
		}
	}
	for (size_t r = 0; r < n_rows; r++)
		ops->fold(acc + r * 16 * dim, dim, out[r]);
}

/* ---- scalar: the definitions ------------------------------------------------------------ */

static void k_tile_scalar(const uint16_t *k, size_t stride, size_t k0, size_t n, size_t dim,
    float *kt)
{
	for (size_t d = 0; d < dim; d++)
		for (size_t i = 0; i < 16; i++)
			kt[d * 16 + i] = i < n ? quant_fp16_to_f32(k[(k0 + i) * stride + d]) : 0.0f;
}

static void v_rows_scalar(const uint16_t *v, size_t stride, size_t k0, size_t n, size_t dim,
    float *vf)
{
	for (size_t i = 0; i < n; i++)
		for (size_t d = 0; d < dim; d++)
			vf[i * dim + d] = quant_fp16_to_f32(v[(k0 + i) * stride + d]);
}

static void qk_tiles_scalar(const float *q, const float *kt, size_t n_tiles, size_t dim,
    float scale, float *s)
{
	for (size_t t = 0; t < n_tiles; t++, kt += dim * 16)
		for (size_t i = 0; i < 16; i++) {
			float a[16] = { 0 };
			for (size_t d = 0; d < dim; d++)
				a[d % 16] = fmaf(kt[d * 16 + i], q[d], a[d % 16]);
			s[16 * t + i] = ggml_hsum16(a) * scale;
		}
}

static void pv_scalar(const float *w, const float *vf, size_t n, size_t dim, float *acc)
{
	for (size_t i = 0; i < n; i++)
		for (size_t d = 0; d < dim; d++)
			acc[(i % 16) * dim + d] = fmaf(vf[i * dim + d], w[i], acc[(i % 16) * dim + d]);
}

static void fold_scalar(const float *acc, size_t dim, float *out)
{
	for (size_t d = 0; d < dim; d++) {
		float a[16];
		for (size_t l = 0; l < 16; l++)
			a[l] = acc[l * dim + d];
		out[d] = ggml_hsum16(a);
	}
}

static const struct block_ops ops_scalar = {
	k_tile_scalar, v_rows_scalar, qk_tiles_scalar, pv_scalar, fold_scalar, NULL, NULL, NULL
};

/* One entry point per level, so that callers hold a plain function pointer. */
#define BLOCK_ENTRY(name, ops, level)                                                         \
	static void name(const float *const *q, const uint32_t *n_keys, size_t n_rows,            \
	    const uint16_t *k, const uint16_t *v, size_t stride, size_t dim, float scale,        \
	    float *const *out, float *scratch)                                                    \
	{                                                                                         \
		block_run(&(ops), attn_exact_for(level), q, n_keys, n_rows, k, v, stride, dim, scale, \
		    out, scratch);                                                                    \
	}

BLOCK_ENTRY(block_scalar, ops_scalar, CPU_SIMD_SCALAR)
#if CPU_SIMD_X86
BLOCK_ENTRY(block_avx2, attn_exact_block_ops_avx2, CPU_SIMD_AVX2)
BLOCK_ENTRY(block_avx512, attn_exact_block_ops_avx512, CPU_SIMD_AVX512)
#endif

static const attn_exact_block_fn by_level[CPU_SIMD_COUNT_] = {
	block_scalar, CPU_SIMD_X86_ONLY(block_avx2), CPU_SIMD_X86_ONLY(block_avx512)
};

attn_exact_block_fn attn_exact_block_for(int level)
{
	return CPU_SIMD_PICK(by_level, level);
}

attn_exact_block_fn attn_exact_block_active(void)
{
	return CPU_SIMD_PICK_ACTIVE(by_level);
}
