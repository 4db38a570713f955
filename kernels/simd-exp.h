/* simd-exp.h: e^x on AVX-512 and AVX2 vectors for the attention kernels' softmax, to about
 * 2 ulp (the Cephes expf polynomial); header-only, x86 only, each function compiled for its
 * own target so that including it costs nothing on a lower level. */
#ifndef QUIRE_KERNELS_SIMD_EXP_H
#define QUIRE_KERNELS_SIMD_EXP_H

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

/* e^x; exactly 0 below -87.3 and for -inf (masked scores, an empty running maximum), and
 * 2^n applied by scalef, so no intermediate power of two overflows. */
__attribute__((target("avx512f,avx512bw,avx512vl,f16c,fma"), always_inline))
static inline __m512 simd_exp512(__m512 x)
{
	__mmask16 live = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.33654f), _CMP_GE_OQ);
	x = _mm512_min_ps(x, _mm512_set1_ps(88.37626f));
	__m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
	    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
	/* x - n ln 2 in two steps (ln 2 = 0.693359375 - 2.12194440e-4 to float precision) */
	__m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
	r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
	__m512 p = _mm512_set1_ps(1.9875691500e-4f);
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
	p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
	return _mm512_maskz_scalef_ps(live, p, n);
}

/* The same on 8 lanes; 2^n is built in the exponent bits in two halves, each a normal float
 * for n in [-126, 128]. */
__attribute__((target("avx2,fma,f16c"), always_inline))
static inline __m256 simd_exp256(__m256 x)
{
	__m256 live = _mm256_cmp_ps(x, _mm256_set1_ps(-87.33654f), _CMP_GE_OQ);
	x = _mm256_max_ps(_mm256_min_ps(x, _mm256_set1_ps(88.37626f)),
	    _mm256_set1_ps(-87.33654f));
	__m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
	    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
	__m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
	r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
	__m256 p = _mm256_set1_ps(1.9875691500e-4f);
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
	p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
	__m256i ni = _mm256_cvtps_epi32(n);
	__m256i h = _mm256_srai_epi32(ni, 1);
	__m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(h,
	    _mm256_set1_epi32(127)), 23));
	__m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_sub_epi32(ni,
	    h), _mm256_set1_epi32(127)), 23));
	return _mm256_and_ps(_mm256_mul_ps(_mm256_mul_ps(p, s1), s2), live);
}
#endif

#endif
