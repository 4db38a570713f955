/* attn-cpu.c: attention inner loops over fp16 keys and values, one binary for every x86-64
 * with the SIMD level chosen at run time: the portable forms, the scratch size and the choice
 * of level; AVX2 (F16C + FMA) and AVX-512, each with a tiled flash-attention kernel for long
 * prefills, are in attn-cpu-avx2.c and attn-cpu-avx512.c. */
#include "kernels/attn-cpu.h"

#include "kernels/attn-cpu-impl.h"
#include "kernels/quant.h"

void attn_qk_scalar(const float *q, const uint16_t *k, size_t k_stride, size_t n, size_t dim,
    float scale, float *scores)
{
	for (size_t p = 0; p < n; p++) {
		const uint16_t *kp = k + p * k_stride;
		float s = 0.0f;
		for (size_t d = 0; d < dim; d++)
			s += q[d] * quant_fp16_to_f32(kp[d]);
		scores[p] = s * scale;
	}
}

void attn_wv_scalar(const float *w, const uint16_t *v, size_t v_stride, size_t n, size_t dim,
    float *out)
{
	for (size_t p = 0; p < n; p++) {
		const uint16_t *vp = v + p * v_stride;
		float wp = w[p];
		for (size_t d = 0; d < dim; d++)
			out[d] += wp * quant_fp16_to_f32(vp[d]);
	}
}

size_t attn_flash_scratch_floats(size_t dim)
{
	return 2 * dim * ATTN_FLASH_ROWS + ATTN_FLASH_TILE * ATTN_FLASH_ROWS +
	    2 * ATTN_FLASH_TILE * dim;
}

static const struct attn_kernels attn_kernels_scalar = { "scalar", attn_qk_scalar,
	attn_wv_scalar, NULL };

static const struct attn_kernels *const by_level[CPU_SIMD_COUNT_] = {
	&attn_kernels_scalar, CPU_SIMD_X86_ONLY(&attn_kernels_avx2),
	CPU_SIMD_X86_ONLY(&attn_kernels_avx512)
};

const struct attn_kernels *attn_kernels_for(int level)
{
	return CPU_SIMD_PICK(by_level, level);
}

const struct attn_kernels *attn_kernels_active(void)
{
	return CPU_SIMD_PICK_ACTIVE(by_level);
}
