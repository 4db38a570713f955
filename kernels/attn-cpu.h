/* attn-cpu.h: the inner loops of attention over an f16 KV memory on the CPU: query-key dot
 * products and the weighted sum of values, per SIMD level (kernels/cpu-features.h). */
#ifndef QUIRE_KERNELS_ATTN_CPU_H
#define QUIRE_KERNELS_ATTN_CPU_H

#include <stddef.h>
#include <stdint.h>

/* Flash attention (kernels below): query rows per call and keys per tile. */
#define ATTN_FLASH_ROWS 64
#define ATTN_FLASH_TILE 64

struct attn_kernels {
	const char *name;
	/* scores[p] = scale * dot(q, k + p*k_stride) over n positions; q and k have dim values
	 * (k as fp16 bits). */
	void (*qk)(const float *q, const uint16_t *k, size_t k_stride, size_t n, size_t dim,
	    float scale, float *scores);
	/* out[d] += sum_p w[p] * v[p*v_stride + d] (v as fp16 bits). */
	void (*wv)(const float *w, const uint16_t *v, size_t v_stride, size_t n, size_t dim,
	    float *out);
	/* Causal attention of n_rows (<= ATTN_FLASH_ROWS) query rows against one KV head, a
	 * tile of keys at a time with an online softmax (flash attention), so each key and value
	 * is read and converted once per call instead of once per row. Row r sees keys
	 * 0..n_keys[r]-1 (>= 1); q[r] and out[r] point at its dim floats; the query is rounded
	 * to fp16 like the qk/wv path does. k and v hold fp16 rows every kv_stride values.
	 * scratch: attn_flash_scratch_floats(dim) floats, 64-byte aligned. NULL where the level
	 * has no such kernel (then use qk/wv); dim must be a multiple of 16 and <= 256. */
	void (*flash)(const float *const *q, const uint32_t *n_keys, size_t n_rows,
	    const uint16_t *k, const uint16_t *v, size_t kv_stride, size_t dim, float scale,
	    float *const *out, float *scratch);
};

/* Scratch floats one flash() call needs. */
size_t attn_flash_scratch_floats(size_t dim);

/* The kernels of the active SIMD level. */
const struct attn_kernels *attn_kernels_active(void);
/* The kernels of a level (enum cpu_simd_level), or NULL if the CPU lacks it. */
const struct attn_kernels *attn_kernels_for(int level);

#endif
