/* attn-decode.c: split-K decode attention (kernels/attn-decode.h): a few query rows against a
 * range of fp16 keys and values with an online softmax: the portable form and the choice of
 * level; AVX2 and AVX-512 are in attn-decode-avx2.c and attn-decode-avx512.c. */
#include "kernels/attn-decode.h"

#include <math.h>
#include <string.h>

#include "kernels/attn-decode-impl.h"
#include "kernels/quant.h"
#include "lib/util.h"

/* Scratch layout: struct dscratch (attn-decode-impl.h). */
size_t attn_decode_scratch_floats(size_t dim)
{
	return 2 * DR * dim + DR * DT + 2 * DT * dim + 2 * DR;
}

static void run_scalar(const float *const *q, const uint32_t *lim, size_t n_rows,
    const uint16_t *k, const uint16_t *v, size_t kv_stride, size_t n_keys, size_t dim,
    float scale, float *const *o, float *lse, float *scratch)
{
	struct dscratch s = carve(scratch, dim);
	start_rows(&s, q, n_rows, dim, scale);
	for (size_t j0 = 0; j0 < n_keys; j0 += DT) {
		size_t nj = n_keys - j0 < DT ? n_keys - j0 : DT;
		for (size_t j = 0; j < nj; j++)
			for (size_t d = 0; d < dim; d++) {
				s.Kf[j * dim + d] = quant_fp16_to_f32(k[(j0 + j) * kv_stride + d]);
				s.Vf[j * dim + d] = quant_fp16_to_f32(v[(j0 + j) * kv_stride + d]);
			}
		for (size_t r = 0; r < n_rows; r++) {
			if (lim[r] <= j0)
				continue;
			size_t live = lim[r] - j0 < nj ? lim[r] - j0 : nj;
			float *S = s.S + r * DT, *A = s.A + r * dim, mt = s.M[r], sum = 0.0f;
			for (size_t j = 0; j < live; j++) {
				float dot = 0.0f;
				for (size_t d = 0; d < dim; d++)
					dot += s.Q[r * dim + d] * s.Kf[j * dim + d];
				S[j] = dot;
				mt = dot > mt ? dot : mt;
			}
			for (size_t j = 0; j < live; j++)
				sum += (S[j] = expf(S[j] - mt));
			float alpha = rescale(&s, r, mt, sum);
			for (size_t d = 0; d < dim; d++) {
				float a = A[d] * alpha;
				for (size_t j = 0; j < live; j++)
					a += S[j] * s.Vf[j * dim + d];
				A[d] = a;
			}
		}
	}
	finish_rows(&s, lim, n_rows, dim, o, lse);
}

static const struct attn_decode_kernels attn_decode_kernels_scalar = { "scalar", run_scalar };

static const struct attn_decode_kernels *const by_level[CPU_SIMD_COUNT_] = {
	&attn_decode_kernels_scalar, CPU_SIMD_X86_ONLY(&attn_decode_kernels_avx2),
	CPU_SIMD_X86_ONLY(&attn_decode_kernels_avx512)
};

const struct attn_decode_kernels *attn_decode_for(int level)
{
	return CPU_SIMD_PICK(by_level, level);
}

const struct attn_decode_kernels *attn_decode_active(void)
{
	return CPU_SIMD_PICK_ACTIVE(by_level);
}
