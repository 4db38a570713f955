/* attn-cpu.h: the inner loops of attention over an f16 KV memory on the CPU: query-key dot
 * products and the weighted sum of values, per SIMD level (kernels/cpu-features.h). */
#ifndef QUIRE_KERNELS_ATTN_CPU_H
#define QUIRE_KERNELS_ATTN_CPU_H

#include <stddef.h>
#include <stdint.h>

struct attn_kernels {
	const char *name;
	/* scores[p] = scale * dot(q, k + p*k_stride) over n positions; q and k have dim values
	 * (k as fp16 bits). */
	void (*qk)(const float *q, const uint16_t *k, size_t k_stride, size_t n, size_t dim,
	    float scale, float *scores);
	/* out[d] += sum_p w[p] * v[p*v_stride + d] (v as fp16 bits). */
	void (*wv)(const float *w, const uint16_t *v, size_t v_stride, size_t n, size_t dim,
	    float *out);
};

/* The kernels of the active SIMD level. */
const struct attn_kernels *attn_kernels_active(void);
/* The kernels of a level (enum cpu_simd_level), or NULL if the CPU lacks it. */
const struct attn_kernels *attn_kernels_for(int level);

#endif
