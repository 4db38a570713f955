/* attn-exact-impl.h: what the attn-exact*.c files share and nothing else includes: small
 * helpers, the forms a level falls back on for head sizes its own does not take, and the SIMD
 * levels' kernel tables. */
#ifndef QUIRE_KERNELS_ATTN_EXACT_IMPL_H
#define QUIRE_KERNELS_ATTN_EXACT_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/attn-exact.h"
#include "kernels/cpu-features.h"
#include "kernels/quant.h"

static inline float fp16_round(float x)
{
	return quant_fp16_to_f32(quant_f32_to_fp16(x));
}

/* The positions vec_dot covers with whole 64-element steps, after llama.cpp's padding. */
static inline size_t wv_vec_dot_steps(size_t n)
{
	size_t padded = (n + ATTN_EXACT_KV_PAD - 1) / ATTN_EXACT_KV_PAD * ATTN_EXACT_KV_PAD;
	size_t np = padded & ~(size_t)63;
	return np < n ? np : n;
}

/* attn-exact.c: portable forms */
void attn_exact_qk_gemm_scalar(const float *q, const uint16_t *k, size_t k_stride, size_t n,
    size_t dim, float scale, float *scores);
void attn_exact_wv_gemm_scalar(const float *w, const uint16_t *v, size_t v_stride, size_t n,
    size_t dim, float *out);
void attn_exact_wv_vec_dot_scalar(const float *w, const uint16_t *v, size_t v_stride, size_t n,
    size_t dim, float *out);

#if CPU_SIMD_X86
/* attn-exact-avx2.c: AVX2 forms (AVX-512's for head sizes that are not multiples of 16) */
void attn_exact_wv_gemm_avx2(const float *w, const uint16_t *v, size_t v_stride, size_t n,
    size_t dim, float *out);
void attn_exact_wv_vec_dot_avx2(const float *w, const uint16_t *v, size_t v_stride, size_t n,
    size_t dim, float *out);

/* attn-exact-avx2.c, attn-exact-avx512.c */
extern const struct attn_exact_kernels attn_exact_kernels_avx2;
extern const struct attn_exact_kernels attn_exact_kernels_avx512;
#endif

#endif
