/* attn-cpu.c: attention inner loops over fp16 keys and values: portable C, AVX2 (F16C + FMA)
 * and AVX-512, one binary, chosen at run time. */
#include "kernels/attn-cpu.h"

#include <string.h>

#include "kernels/cpu-features.h"
#include "kernels/quant.h"

static void qk_scalar(const float *q, const uint16_t *k, size_t k_stride, size_t n, size_t dim,
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

static void wv_scalar(const float *w, const uint16_t *v, size_t v_stride, size_t n, size_t dim,
    float *out)
{
	for (size_t p = 0; p < n; p++) {
		const uint16_t *vp = v + p * v_stride;
		float wp = w[p];
		for (size_t d = 0; d < dim; d++)
			out[d] += wp * quant_fp16_to_f32(vp[d]);
	}
}

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

__attribute__((target("avx2,fma,f16c")))
static inline float hsum256(__m256 v)
{
	__m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
	lo = _mm_add_ps(lo, hi);
	lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
	lo = _mm_add_ss(lo, _mm_shuffle_ps(lo, lo, 1));
	return _mm_cvtss_f32(lo);
}

__attribute__((target("avx2,fma,f16c")))
static void qk_avx2(const float *q, const uint16_t *k, size_t k_stride, size_t n, size_t dim,
    float scale, float *scores)
{
	if (dim % 8 != 0) {
		qk_scalar(q, k, k_stride, n, dim, scale, scores);
		return;
	}
	for (size_t p = 0; p < n; p++) {
		const uint16_t *kp = k + p * k_stride;
		__m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
		size_t d = 0;
		for (; d + 16 <= dim; d += 16) {
			__m256 k0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(kp + d)));
			__m256 k1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(kp + d + 8)));
			acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + d), k0, acc0);
			acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + d + 8), k1, acc1);
		}
		for (; d < dim; d += 8) {
			__m256 k0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(kp + d)));
			acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + d), k0, acc0);
		}
		scores[p] = hsum256(_mm256_add_ps(acc0, acc1)) * scale;
	}
}

__attribute__((target("avx2,fma,f16c")))
static void wv_avx2(const float *w, const uint16_t *v, size_t v_stride, size_t n, size_t dim,
    float *out)
{
	if (dim % 8 != 0 || dim > 256) {
		wv_scalar(w, v, v_stride, n, dim, out);
		return;
	}
	__m256 acc[32];
	size_t nv = dim / 8;
	for (size_t j = 0; j < nv; j++)
		acc[j] = _mm256_loadu_ps(out + 8 * j);
	for (size_t p = 0; p < n; p++) {
		const uint16_t *vp = v + p * v_stride;
		__m256 wp = _mm256_set1_ps(w[p]);
		for (size_t j = 0; j < nv; j++)
			acc[j] = _mm256_fmadd_ps(wp,
			    _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(vp + 8 * j))), acc[j]);
	}
	for (size_t j = 0; j < nv; j++)
		_mm256_storeu_ps(out + 8 * j, acc[j]);
}

__attribute__((target("avx512f,avx512bw,avx512vl,f16c,fma")))
static void qk_avx512(const float *q, const uint16_t *k, size_t k_stride, size_t n, size_t dim,
    float scale, float *scores)
{
	if (dim % 16 != 0) {
		qk_avx2(q, k, k_stride, n, dim, scale, scores);
		return;
	}
	/* Four positions at a time keep four independent accumulator chains busy. */
	size_t p = 0;
	for (; p + 4 <= n; p += 4) {
		__m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
		__m512 a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
		const uint16_t *k0 = k + p * k_stride;
		for (size_t d = 0; d < dim; d += 16) {
			__m512 qd = _mm512_loadu_ps(q + d);
			a0 = _mm512_fmadd_ps(qd, _mm512_cvtph_ps(_mm256_loadu_si256(
			    (const __m256i *)(k0 + d))), a0);
			a1 = _mm512_fmadd_ps(qd, _mm512_cvtph_ps(_mm256_loadu_si256(
			    (const __m256i *)(k0 + k_stride + d))), a1);
			a2 = _mm512_fmadd_ps(qd, _mm512_cvtph_ps(_mm256_loadu_si256(
			    (const __m256i *)(k0 + 2 * k_stride + d))), a2);
			a3 = _mm512_fmadd_ps(qd, _mm512_cvtph_ps(_mm256_loadu_si256(
			    (const __m256i *)(k0 + 3 * k_stride + d))), a3);
		}
		scores[p] = _mm512_reduce_add_ps(a0) * scale;
		scores[p + 1] = _mm512_reduce_add_ps(a1) * scale;
		scores[p + 2] = _mm512_reduce_add_ps(a2) * scale;
		scores[p + 3] = _mm512_reduce_add_ps(a3) * scale;
	}
	for (; p < n; p++) {
		const uint16_t *kp = k + p * k_stride;
		__m512 a0 = _mm512_setzero_ps();
		for (size_t d = 0; d < dim; d += 16)
			a0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + d), _mm512_cvtph_ps(
			    _mm256_loadu_si256((const __m256i *)(kp + d))), a0);
		scores[p] = _mm512_reduce_add_ps(a0) * scale;
	}
}

__attribute__((target("avx512f,avx512bw,avx512vl,f16c,fma")))
static void wv_avx512(const float *w, const uint16_t *v, size_t v_stride, size_t n, size_t dim,
    float *out)
{
	if (dim % 16 != 0 || dim > 256) {
		wv_avx2(w, v, v_stride, n, dim, out);
		return;
	}
	__m512 acc[16];
	size_t nv = dim / 16;
	for (size_t j = 0; j < nv; j++)
		acc[j] = _mm512_loadu_ps(out + 16 * j);
	for (size_t p = 0; p < n; p++) {
		const uint16_t *vp = v + p * v_stride;
		__m512 wp = _mm512_set1_ps(w[p]);
		for (size_t j = 0; j < nv; j++)
			acc[j] = _mm512_fmadd_ps(wp, _mm512_cvtph_ps(_mm256_loadu_si256(
			    (const __m256i *)(vp + 16 * j))), acc[j]);
	}
	for (size_t j = 0; j < nv; j++)
		_mm512_storeu_ps(out + 16 * j, acc[j]);
}
#endif

static const struct attn_kernels kernels_scalar = { "scalar", qk_scalar, wv_scalar };
#if defined(__x86_64__) || defined(__i386__)
static const struct attn_kernels kernels_avx2 = { "avx2", qk_avx2, wv_avx2 };
static const struct attn_kernels kernels_avx512 = { "avx512", qk_avx512, wv_avx512 };
#endif

const struct attn_kernels *attn_kernels_for(int level)
{
	if (!cpu_simd_supported((enum cpu_simd_level)level))
		return NULL;
	switch (level) {
#if defined(__x86_64__) || defined(__i386__)
	case CPU_SIMD_AVX512: return &kernels_avx512;
	case CPU_SIMD_AVX2: return &kernels_avx2;
#endif
	case CPU_SIMD_SCALAR: return &kernels_scalar;
	default: return NULL;
	}
}

const struct attn_kernels *attn_kernels_active(void)
{
	const struct attn_kernels *k = attn_kernels_for(cpu_simd_level());
	return k ? k : &kernels_scalar;
}
