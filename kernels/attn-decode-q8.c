/* attn-decode-q8.c: split-K decode attention over q8_0 keys and values (kernels/
 * attn-decode-q8.h): the queries' quantization, the portable form and the choice of level;
 * AVX2 and AVX-512 with VNNI are in attn-decode-q8-avx2.c and attn-decode-q8-avx512.c. */
#include "kernels/attn-decode-q8.h"

#include <math.h>
#include <string.h>

#include "kernels/attn-decode-q8-impl.h"
#include "kernels/quant.h"
#include "lib/util.h"

/* Scratch layout: struct qscratch (attn-decode-q8-impl.h). */
size_t attn_decode_q8_scratch_floats(size_t dim)
{
	return DR * dim + DR * DT + DR * NB * DT + 2 * DR;
}

void attn_decode_q8_query(const float *x, size_t dim, float scale, struct attn_q8_query *out)
{
	if (dim % 32 != 0 || dim > ATTN_DECODE_Q8_MAX_DIM)
		fatal("attn_decode_q8: head size %zu (a multiple of 32 up to %d)", dim,
		    ATTN_DECODE_Q8_MAX_DIM);
	struct block_q8_0 blk[NB];
	quant_quantize_row_q8_0(x, blk, dim);
	for (size_t b = 0; b < dim / 32; b++) {
		int32_t sum = 0;
		for (int i = 0; i < 32; i++) {
			out->q[b * 32 + (size_t)i] = blk[b].qs[i];
			sum += blk[b].qs[i];
		}
		out->d[b] = quant_fp16_to_f32(blk[b].d) * scale;
		out->c[b] = 128 * sum;
	}
}

static void run_scalar(const struct attn_q8_query *const *q, const uint32_t *lim,
    size_t n_rows, const struct attn_q8_kv *kv, size_t n_keys, size_t dim, float *const *o,
    float *lse, float *scratch)
{
	struct qscratch s = carve(scratch, dim);
	start_rows(&s, n_rows, dim);
	size_t nb = dim / 32;
	for (size_t j0 = 0; j0 < n_keys; j0 += DT) {
		size_t nj = n_keys - j0 < DT ? n_keys - j0 : DT;
		for (size_t r = 0; r < n_rows; r++) {
			size_t live = live_keys(lim[r], j0, nj);
			if (live == 0)
				continue;
			float *S = s.S + r * DT, *A = s.A + r * dim, mt = s.M[r], sum = 0.0f;
			const int8_t *qi = q[r]->q;
			for (size_t j = 0; j < live; j++) {
				float sc = 0.0f;
				for (size_t b = 0; b < nb; b++) {
					int32_t isum = 0;
					for (size_t i = b * 32; i < b * 32 + 32; i++)
						isum += (int32_t)qi[i] * kv->k[attn_q8_key_index(j0 + j, i, dim)];
					float dk = quant_fp16_to_f32(kv->ks[b * kv->s_stride + j0 + j]);
					sc = fmaf((float)isum, dk * q[r]->d[b], sc);
				}
				S[j] = sc;
				mt = sc > mt ? sc : mt;
			}
			for (size_t j = 0; j < live; j++)
				sum += (S[j] = expf(S[j] - mt));
			float alpha = rescale(&s, r, mt, sum);
			for (size_t d = 0; d < dim; d++)
				A[d] *= alpha;
			for (size_t j = 0; j < live; j++) {
				const int8_t *v = kv->v + (j0 + j) * kv->v_stride;
				for (size_t b = 0; b < nb; b++) {
					float w = S[j] * quant_fp16_to_f32(kv->vs[b * kv->s_stride + j0 + j]);
					for (size_t d = b * 32; d < b * 32 + 32; d++)
						A[d] = fmaf(w, (float)v[d], A[d]);
				}
			}
		}
	}
	finish_rows(&s, lim, n_rows, dim, o, lse);
}

static void to_fp16_scalar(const struct attn_q8_kv *kv, size_t dim, size_t j0, size_t j1,
    uint16_t *k_out, uint16_t *v_out, size_t out_stride)
{
	for (size_t j = j0; j < j1; j++)
		for (size_t i = 0; i < dim; i++) {
			float dk = quant_fp16_to_f32(kv->ks[i / 32 * kv->s_stride + j]);
			float dv = quant_fp16_to_f32(kv->vs[i / 32 * kv->s_stride + j]);
			k_out[j * out_stride + i] = quant_f32_to_fp16(dk *
			    (float)kv->k[attn_q8_key_index(j, i, dim)]);
			v_out[j * out_stride + i] = quant_f32_to_fp16(dv *
			    (float)kv->v[j * kv->v_stride + i]);
		}
}

static const struct attn_decode_q8_kernels attn_decode_q8_kernels_scalar = { "scalar",
	run_scalar, to_fp16_scalar };

static const struct attn_decode_q8_kernels *const by_level[CPU_SIMD_COUNT_] = {
	&attn_decode_q8_kernels_scalar, CPU_SIMD_X86_ONLY(&attn_decode_q8_kernels_avx2),
	CPU_SIMD_X86_ONLY(&attn_decode_q8_kernels_avx512)
};

const struct attn_decode_q8_kernels *attn_decode_q8_for(int level)
{
	return CPU_SIMD_PICK(by_level, level);
}

const struct attn_decode_q8_kernels *attn_decode_q8_active(void)
{
	return CPU_SIMD_PICK_ACTIVE(by_level);
}
