/* attn-merge-math.h: exact merging of partial attention results (output + log-sum-exp)
 * computed over disjoint sets of keys, for sharded, split-KV and retrieval attention, and the
 * online softmax that produces them; header-only, usable from C and CUDA (kernels/hostdev.h).
 * tests/t-rope.c checks the merge against one softmax over all the keys.
 *
 * A part covering keys J returns, per query head, o_J (normalised by its own softmax sum) and
 * lse_J = max + ln sum exp(score - max) over J. Two parts merge into
 *   LSE = M + ln(exp(lse_a - M) + exp(lse_b - M)), M = max(lse_a, lse_b)
 *   o   = exp(lse_a - LSE) o_a + exp(lse_b - LSE) o_b
 * which is what one softmax over J_a + J_b gives, in any order. An empty part has
 * lse = -infinity and contributes nothing. */
#ifndef QUIRE_KERNELS_ATTN_MERGE_MATH_H
#define QUIRE_KERNELS_ATTN_MERGE_MATH_H

#include <math.h>
#include <stddef.h>

#include "kernels/hostdev.h"

/* One query row's online softmax (flash and split-K kernels): a running maximum score m and
 * sum l of exp(score - m). A tile with maximum mt (>= m) and sum of exp(score - mt) tile_sum
 * folds in; returns the factor by which the row's output accumulators must shrink (0 for the
 * first tile, when m = -infinity). */
QUIRE_HD static inline float attn_online_step(float *m, float *l, float mt, float tile_sum)
{
	float alpha = expf(*m - mt);
	*l = *l * alpha + tile_sum;
	*m = mt;
	return alpha;
}

/* The row's part: o = acc / l and lse = m + ln l; a row that saw no key (seen == 0, or l not
 * positive) gives zeros and -infinity. */
QUIRE_HD static inline void attn_online_finish(const float *acc, float m, float l, int seen,
    int dim, float *o, float *lse)
{
	if (!seen || !(l > 0.0f)) {
		for (int c = 0; c < dim; c++)
			o[c] = 0.0f;
		*lse = -INFINITY;
		return;
	}
	float inv = 1.0f / l;
	for (int c = 0; c < dim; c++)
		o[c] = acc[c] * inv;
	*lse = m + logf(l);
}

/* Start an accumulator as the empty part: o = 0, lse = -infinity. */
QUIRE_HD static inline void attn_merge_init(float *o_acc, float *lse_acc, int dim)
{
	for (int c = 0; c < dim; c++)
		o_acc[c] = 0.0f;
	*lse_acc = -INFINITY;
}

/* Fold one part (o, lse) into the accumulator (o_acc, lse_acc), dim values each. */
QUIRE_HD static inline void attn_merge_add(float *o_acc, float *lse_acc, const float *o,
    float lse, int dim)
{
	if (isinf(lse) && lse < 0.0f)
		return;                 /* empty part */
	if (isinf(*lse_acc) && *lse_acc < 0.0f) {
		for (int c = 0; c < dim; c++)
			o_acc[c] = o[c];
		*lse_acc = lse;
		return;
	}
	float mx = *lse_acc > lse ? *lse_acc : lse;
	float ea = expf(*lse_acc - mx), eb = expf(lse - mx);
	float total = mx + logf(ea + eb);
	float wa = expf(*lse_acc - total), wb = expf(lse - total);
	for (int c = 0; c < dim; c++)
		o_acc[c] = wa * o_acc[c] + wb * o[c];
	*lse_acc = total;
}

/* Merge n parts: o[j] points at part j's dim outputs, lse[j] its log-sum-exp. Writes the merged
 * output to out and its log-sum-exp to *lse_out (-infinity and zeros if every part is empty). */
QUIRE_HD static inline void attn_merge(int n, const float *const *o, const float *lse, int dim,
    float *out, float *lse_out)
{
	attn_merge_init(out, lse_out, dim);
	for (int j = 0; j < n; j++)
		attn_merge_add(out, lse_out, o[j], lse[j], dim);
}

/* Merge n parts laid out at fixed strides: part j's dim outputs at o + j * o_stride, its
 * log-sum-exp at lse[j * lse_stride]. The same result as attn_merge up to rounding, in one
 * pass after the largest log-sum-exp M: out = sum_j e_j o_j / sum_j e_j, e_j = exp(lse_j - M),
 * and *lse_out = M + ln sum_j e_j; n exponentials and one logarithm instead of four
 * transcendentals per part (decode at depth merges tens of parts per row and layer). */
QUIRE_HD static inline void attn_merge_strided(int n, const float *o, size_t o_stride,
    const float *lse, size_t lse_stride, int dim, float *out, float *lse_out)
{
	float mx = -INFINITY;
	for (int j = 0; j < n; j++)
		mx = lse[(size_t)j * lse_stride] > mx ? lse[(size_t)j * lse_stride] : mx;
	attn_merge_init(out, lse_out, dim);
	if (isinf(mx))
		return;                 /* every part empty (or none) */
	float sum = 0.0f;
	for (int j = 0; j < n; j++) {
		float e = expf(lse[(size_t)j * lse_stride] - mx);   /* 0 for an empty part */
		if (e == 0.0f)
			continue;
		sum += e;
		const float *oj = o + (size_t)j * o_stride;
		for (int c = 0; c < dim; c++)
			out[c] += e * oj[c];
	}
	float inv = 1.0f / sum;
	for (int c = 0; c < dim; c++)
		out[c] *= inv;
	*lse_out = mx + logf(sum);
}

#endif
