/* t-attn-flash.c: the tiled flash-attention kernel (kernels/attn-cpu.h flash) against a
 * double-precision softmax over the same fp16 keys and values: random rows with causal key
 * counts that end inside, at and across tile edges, every row count from 1 to 64, head sizes
 * 16..256, and a far-off score that must not overflow the running maximum. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/attn-cpu.h"
#include "kernels/cpu-features.h"
#include "kernels/quant.h"
#include "lib/util.h"
#include "tests/tap.h"

#define FRAND_SEED 0x9e3779b97f4a7c15ULL
#include "tests/attn-ref.h"

/* One call: n_rows rows over n_ctx keys (row r sees n_keys[r]); worst absolute error. */
static double one_case(const struct attn_kernels *ak, size_t dim, size_t n_rows,
    const uint32_t *n_keys, uint32_t n_ctx, float qmag)
{
	size_t stride = dim + 16;            /* rows of a KV head inside a wider row */
	uint16_t *k = xreallocarray(NULL, (size_t)n_ctx * stride, sizeof(uint16_t));
	uint16_t *v = xreallocarray(NULL, (size_t)n_ctx * stride, sizeof(uint16_t));
	for (size_t i = 0; i < (size_t)n_ctx * stride; i++) {
		k[i] = quant_f32_to_fp16(frand());
		v[i] = quant_f32_to_fp16(frand());
	}
	float *q = xreallocarray(NULL, n_rows * dim, sizeof(float));
	float *o = xreallocarray(NULL, n_rows * dim, sizeof(float));
	for (size_t i = 0; i < n_rows * dim; i++)
		q[i] = qmag * frand();
	const float *qp[ATTN_FLASH_ROWS];
	float *op[ATTN_FLASH_ROWS];
	for (size_t r = 0; r < n_rows; r++) {
		qp[r] = q + r * dim;
		op[r] = o + r * dim;
	}
	float *scratch = aligned_alloc(64, (attn_flash_scratch_floats(dim) * sizeof(float) + 63) /
	    64 * 64);
	float scale = 1.0f / sqrtf((float)dim);
	ak->flash(qp, n_keys, n_rows, k, v, stride, dim, scale, op, scratch);
	double worst = 0, *ref = xreallocarray(NULL, dim, sizeof(double));
	for (size_t r = 0; r < n_rows; r++) {
		attn_reference(q + r * dim, n_keys[r], k, v, stride, dim, scale, 1, ref, NULL);
		for (size_t i = 0; i < dim; i++) {
			double e = fabs(o[r * dim + i] - ref[i]);
			worst = e > worst || isnan(e) ? (isnan(e) ? INFINITY : e) : worst;
		}
	}
	free(ref);
	free(scratch);
	free(q);
	free(o);
	free(k);
	free(v);
	return worst;
}

int main(void)
{
	char *err = NULL;
	if (cpu_simd_init(&err) != 0) {
		ok(0, "cpu_simd_init: %s", err);
		free(err);
		done_testing();
		return exit_status();
	}
	int tested = 0;
	for (int level = 0; level < CPU_SIMD_COUNT_; level++) {
		const struct attn_kernels *ak = attn_kernels_for(level);
		if (ak == NULL || ak->flash == NULL)
			continue;
		tested++;
		uint32_t nk[ATTN_FLASH_ROWS];
		double worst = 0;
		/* Every row count, causal: rows are consecutive positions ending at n_ctx. */
		for (size_t rows = 1; rows <= ATTN_FLASH_ROWS; rows++) {
			uint32_t n_ctx = (uint32_t)(37 + 5 * rows);
			for (size_t r = 0; r < rows; r++)
				nk[r] = n_ctx - (uint32_t)(rows - 1 - r);
			double e = one_case(ak, 64, rows, nk, n_ctx, 1.0f);
			worst = e > worst ? e : worst;
		}
		ok(worst < 5e-4, "%s: rows 1..64, causal, head 64: worst error %.3g", ak->name,
		    worst);
		/* Grouped-query shape: 3 heads per token, 21 tokens; keys across tile edges. */
		uint32_t ends[] = { 1, 63, 64, 65, 128, 200, 1000 };
		worst = 0;
		for (size_t c = 0; c < sizeof(ends) / sizeof(ends[0]); c++) {
			for (size_t r = 0; r < 63; r++)
				nk[r] = ends[c] + (uint32_t)(r / 3);
			double e = one_case(ak, 64, 63, nk, ends[c] + 21, 1.0f);
			worst = e > worst ? e : worst;
		}
		ok(worst < 5e-4, "%s: 3 heads x 21 tokens, ends at tile edges: worst %.3g", ak->name,
		    worst);
		size_t dims[] = { 16, 32, 48, 128, 256 };
		worst = 0;
		for (size_t c = 0; c < sizeof(dims) / sizeof(dims[0]); c++) {
			for (size_t r = 0; r < 40; r++)
				nk[r] = 90 + (uint32_t)r;
			double e = one_case(ak, dims[c], 40, nk, 130, 1.0f);
			worst = e > worst ? e : worst;
		}
		ok(worst < 5e-4, "%s: head sizes 16..256: worst %.3g", ak->name, worst);
		/* Large logits: the running maximum must rescale without overflow. */
		for (size_t r = 0; r < 48; r++)
			nk[r] = 300 + (uint32_t)r;
		double e = one_case(ak, 64, 48, nk, 348, 40.0f);
		ok(e < 5e-4, "%s: logits up to ~300: worst %.3g", ak->name, e);
	}
	if (tested == 0)
		skip(1, "no SIMD level with a flash kernel on this CPU");
	done_testing();
	return exit_status();
}
