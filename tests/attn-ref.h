/* attn-ref.h: what the attention kernel tests share: a seeded xorshift source of floats and a
 * double-precision reference of one query row's attention over fp16 keys and values.
 * Define FRAND_SEED (a nonzero 64-bit value) before including it. */
#ifndef QUIRE_TESTS_ATTN_REF_H
#define QUIRE_TESTS_ATTN_REF_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "kernels/quant.h"
#include "lib/util.h"

static uint64_t rng = FRAND_SEED;

static float frand(void)   /* [-1, 1) */
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (float)((rng >> 11) * (2.0 / 9007199254740992.0) - 1.0);
}

/* out[0..dim) = softmax(scale * fp16(q) . k) . v over keys 0..n-1 in double, k and v rows
 * every stride values; with round_probs the probabilities are rounded to fp16 first, as the
 * llama.cpp-order paths do. *lse (if not NULL) gets the log-sum-exp, -inf for no keys. */
static inline void attn_reference(const float *q, size_t n, const uint16_t *k, const uint16_t *v,
    size_t stride, size_t dim, float scale, int round_probs, double *out, double *lse)
{
	double *s = xreallocarray(NULL, n ? n : 1, sizeof(double)), mx = -INFINITY, sum = 0;
	for (size_t p = 0; p < n; p++) {
		double d = 0;
		for (size_t i = 0; i < dim; i++)
			d += (double)quant_fp16_to_f32(quant_f32_to_fp16(q[i])) *
			    quant_fp16_to_f32(k[p * stride + i]);
		s[p] = d * scale;
		mx = s[p] > mx ? s[p] : mx;
	}
	for (size_t p = 0; p < n; p++)
		sum += (s[p] = exp(s[p] - mx));
	for (size_t i = 0; i < dim; i++) {
		double o = 0;
		for (size_t p = 0; p < n; p++) {
			double w = s[p] / sum;
			if (round_probs)
				w = quant_fp16_to_f32(quant_f32_to_fp16((float)w));
			o += w * quant_fp16_to_f32(v[p * stride + i]);
		}
		out[i] = n ? o : 0.0;
	}
	if (lse)
		*lse = n ? mx + log(sum) : -INFINITY;
	free(s);
}

#endif
