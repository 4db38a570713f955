/* attn-exact.h: attention inner loops over an fp16 KV memory that add up in exactly the order
 * llama.cpp's AVX-512 CPU build does without flash attention, so quire's short-context
 * attention gives its bits (the reduction orders are described in attn-exact.c).
 *
 * Two shapes of product, as ggml picks them: a batch of two or more query tokens goes through
 * llamafile's tinyBLAS ("gemm"), a single token through ggml_vec_dot_f16 ("vec_dot"). */
#ifndef QUIRE_KERNELS_ATTN_EXACT_H
#define QUIRE_KERNELS_ATTN_EXACT_H

#include <stddef.h>
#include <stdint.h>

/* llama.cpp pads the keys a step attends over to a multiple of this (its KV cache's padding
 * without flash attention); the padding changes where vec_dot's tail begins. */
#define ATTN_EXACT_KV_PAD 32

struct attn_exact_kernels {
	const char *name;
	/* scores[p] = scale * dot(q, k + p*k_stride) for p < n, dim values each; q holds
	 * fp16-rounded values, k fp16 bits. gemm needs dim % 16 == 0 (else ggml takes vec_dot). */
	void (*qk_gemm)(const float *q, const uint16_t *k, size_t k_stride, size_t n, size_t dim,
	    float scale, float *scores);
	void (*qk_vec_dot)(const float *q, const uint16_t *k, size_t k_stride, size_t n,
	    size_t dim, float scale, float *scores);
	/* s[0..n) := softmax(s), each probability rounded to fp16 (kept as float). */
	void (*softmax)(float *s, size_t n);
	/* out[d] = sum_p w[p] * v[p*v_stride + d] for d < dim over p < n (w fp16-rounded, v fp16
	 * bits). gemm needs dim % 4 == 0; vec_dot pads n to ATTN_EXACT_KV_PAD as llama.cpp does. */
	void (*wv_gemm)(const float *w, const uint16_t *v, size_t v_stride, size_t n, size_t dim,
	    float *out);
	void (*wv_vec_dot)(const float *w, const uint16_t *v, size_t v_stride, size_t n,
	    size_t dim, float *out);
};

/* The kernels of the active SIMD level (kernels/cpu-features.h). */
const struct attn_exact_kernels *attn_exact_active(void);
/* The kernels of a level (enum cpu_simd_level), or NULL if the CPU lacks it. */
const struct attn_exact_kernels *attn_exact_for(int level);

#endif
