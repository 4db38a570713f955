/* ggml-vec-math.h: the vector arithmetic of llama.cpp's AVX-512 CPU build (ggml_v_expf, the
 * 16-lane horizontal sum as GCC expands _mm512_reduce_add_ps, ggml's silu) written for three
 * widths (scalar, AVX2, AVX-512) that give the same bits, so quire's exact kernels compute
 * what the reference peer computes whatever SIMD level this CPU has.
 *
 * ggml's own scalar and AVX2 fallbacks use other formulas; the reference is the AVX-512 build
 * (tests/ref/setup-llama-cpp.sh, GGML_NATIVE on an AVX-512 machine), so every width here
 * emulates that one. */
#ifndef QUIRE_KERNELS_GGML_VEC_MATH_H
#define QUIRE_KERNELS_GGML_VEC_MATH_H

#include <math.h>

/* ggml_v_expf's constants (vec.h, "adapted from arm limited optimized routine"). */
#define GGML_EXP_SHIFT 0x1.8p23f       /* rounds x/ln2 to an integer in the fma */
#define GGML_EXP_LOG2E 0x1.715476p+0f
#define GGML_EXP_LN2_HI 0x1.62e4p-1f
#define GGML_EXP_LN2_LO 0x1.7f7d1cp-20f
#define GGML_EXP_C1 0x1.ffffecp-1f
#define GGML_EXP_C2 0x1.fffdb6p-2f
#define GGML_EXP_C3 0x1.555e66p-3f
#define GGML_EXP_C4 0x1.573e2ep-5f
#define GGML_EXP_C5 0x1.0e4020p-7f

/* e^x as one lane of ggml_v_expf: n = round(x/ln2), b = x - n*ln2 in two fused steps, a
 * degree-5 polynomial j, then j * 2^n (scalef); |n| > 192 gives 0 or inf. fmaf must be a
 * true fused multiply-add (it is, in C99 and CUDA). */
static inline float ggml_expf1(float x)
{
	float z = fmaf(x, GGML_EXP_LOG2E, GGML_EXP_SHIFT);
	float n = z - GGML_EXP_SHIFT;
	float b = fmaf(-n, GGML_EXP_LN2_LO, fmaf(-n, GGML_EXP_LN2_HI, x));
	if (isnan(n))
		return n;
	if (fabsf(n) > 192.0f)
		return n <= 0.0f ? 0.0f : INFINITY;
	float u = b * b;
	float j = fmaf(fmaf(fmaf(GGML_EXP_C5, b, GGML_EXP_C4), u, fmaf(GGML_EXP_C3, b, GGML_EXP_C2)),
	    u, fmaf(GGML_EXP_C1, b, 1.0f));
	return ldexpf(j, (int)n);   /* exact scaling, one rounding if the result is subnormal */
}

/* silu(x) = x / (1 + e^-x) as ggml_v_silu computes it (the negation as 0 - x). */
static inline float ggml_silu1(float x)
{
	return x / (1.0f + ggml_expf1(0.0f - x));
}

/* The sum of 16 lanes in the order GCC's _mm512_reduce_add_ps takes: halves 8+8, then 4+4,
 * then (0+2) + (1+3). */
static inline float ggml_hsum16(const float *a)
{
	float t3[8], t6[4];
	for (int i = 0; i < 8; i++)
		t3[i] = a[i + 8] + a[i];
	for (int i = 0; i < 4; i++)
		t6[i] = t3[i + 4] + t3[i];
	return (t6[0] + t6[2]) + (t6[1] + t6[3]);
}

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#define GGML_VM_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,f16c,fma")))
#define GGML_VM_AVX2 __attribute__((target("avx2,fma,f16c")))

/* ggml_v_expf, AVX-512: the original. */
GGML_VM_AVX512 static inline __m512 ggml_expf16(__m512 x)
{
	const __m512 r = _mm512_set1_ps(GGML_EXP_SHIFT);
	const __m512 z = _mm512_fmadd_ps(x, _mm512_set1_ps(GGML_EXP_LOG2E), r);
	const __m512 n = _mm512_sub_ps(z, r);
	const __m512 b = _mm512_fnmadd_ps(n, _mm512_set1_ps(GGML_EXP_LN2_LO),
	    _mm512_fnmadd_ps(n, _mm512_set1_ps(GGML_EXP_LN2_HI), x));
	const __mmask16 d = _mm512_cmp_ps_mask(_mm512_abs_ps(n), _mm512_set1_ps(192),
	    _CMP_GT_OQ);
	const __m512 u = _mm512_mul_ps(b, b);
	const __m512 j = _mm512_fmadd_ps(_mm512_fmadd_ps(_mm512_fmadd_ps(
	    _mm512_set1_ps(GGML_EXP_C5), b, _mm512_set1_ps(GGML_EXP_C4)), u,
	    _mm512_fmadd_ps(_mm512_set1_ps(GGML_EXP_C3), b, _mm512_set1_ps(GGML_EXP_C2))), u,
	    _mm512_fmadd_ps(_mm512_set1_ps(GGML_EXP_C1), b, _mm512_set1_ps(1.0f)));
	const __m512 res = _mm512_scalef_ps(j, n);
	if (_mm512_kortestz(d, d))
		return res;
	const __m512 alt = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(n, _mm512_setzero_ps(),
	    _CMP_LE_OQ), _mm512_set1_ps(INFINITY), _mm512_setzero_ps());
	return _mm512_mask_blend_ps(d, res, alt);
}

GGML_VM_AVX512 static inline __m512 ggml_silu16(__m512 x)
{
	__m512 e = ggml_expf16(_mm512_sub_ps(_mm512_setzero_ps(), x));
	return _mm512_div_ps(x, _mm512_add_ps(_mm512_set1_ps(1.0f), e));
}

/* _mm512_reduce_add_ps itself (GCC's expansion is the order ggml_hsum16 spells out). */
GGML_VM_AVX512 static inline float ggml_hsum16_512(__m512 v)
{
	return _mm512_reduce_add_ps(v);
}

/* 2^k for integer-valued k in [-126, 127], built in the exponent bits. */
GGML_VM_AVX2 static inline __m256 ggml_pow2i8(__m256 k)
{
	return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(k),
	    _mm256_set1_epi32(127)), 23));
}

/* ggml_v_expf's AVX-512 arithmetic on 8 lanes. scalef(j, n) is j * 2^n rounded once; here
 * j * 2^(n - s) is exact (a normal float) and the second factor 2^s (s = -100 below n = -100,
 * 100 above n = 100, else 0) does the one rounding, to a subnormal, 0 or inf as scalef does. */
GGML_VM_AVX2 static inline __m256 ggml_expf8(__m256 x)
{
	const __m256 r = _mm256_set1_ps(GGML_EXP_SHIFT);
	const __m256 z = _mm256_fmadd_ps(x, _mm256_set1_ps(GGML_EXP_LOG2E), r);
	const __m256 n = _mm256_sub_ps(z, r);
	const __m256 b = _mm256_fnmadd_ps(n, _mm256_set1_ps(GGML_EXP_LN2_LO),
	    _mm256_fnmadd_ps(n, _mm256_set1_ps(GGML_EXP_LN2_HI), x));
	const __m256 u = _mm256_mul_ps(b, b);
	const __m256 j = _mm256_fmadd_ps(_mm256_fmadd_ps(_mm256_fmadd_ps(
	    _mm256_set1_ps(GGML_EXP_C5), b, _mm256_set1_ps(GGML_EXP_C4)), u,
	    _mm256_fmadd_ps(_mm256_set1_ps(GGML_EXP_C3), b, _mm256_set1_ps(GGML_EXP_C2))), u,
	    _mm256_fmadd_ps(_mm256_set1_ps(GGML_EXP_C1), b, _mm256_set1_ps(1.0f)));
	const __m256 lo = _mm256_cmp_ps(n, _mm256_set1_ps(-100.0f), _CMP_LT_OQ);
	const __m256 hi = _mm256_cmp_ps(n, _mm256_set1_ps(100.0f), _CMP_GT_OQ);
	__m256 s = _mm256_or_ps(_mm256_and_ps(lo, _mm256_set1_ps(-100.0f)),
	    _mm256_and_ps(hi, _mm256_set1_ps(100.0f)));
	/* |n| > 192 lanes (and NaN) get a harmless exponent here and their value below. */
	const __m256 big = _mm256_cmp_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.0f), n),
	    _mm256_set1_ps(192.0f), _CMP_GT_OQ);
	const __m256 nn = _mm256_blendv_ps(n, _mm256_setzero_ps(), big);
	s = _mm256_blendv_ps(s, _mm256_setzero_ps(), big);
	const __m256 res = _mm256_mul_ps(_mm256_mul_ps(j, ggml_pow2i8(_mm256_sub_ps(nn, s))),
	    ggml_pow2i8(s));
	if (_mm256_testz_ps(big, big))
		return res;
	const __m256 alt = _mm256_blendv_ps(_mm256_set1_ps(INFINITY), _mm256_setzero_ps(),
	    _mm256_cmp_ps(n, _mm256_setzero_ps(), _CMP_LE_OQ));
	return _mm256_blendv_ps(res, alt, big);
}

GGML_VM_AVX2 static inline __m256 ggml_silu8(__m256 x)
{
	__m256 e = ggml_expf8(_mm256_sub_ps(_mm256_setzero_ps(), x));
	return _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

/* The 16-lane sum of lanes lo (0-7) and hi (8-15) in _mm512_reduce_add_ps's order. */
GGML_VM_AVX2 static inline float ggml_hsum16_256(__m256 lo, __m256 hi)
{
	__m256 t3 = _mm256_add_ps(hi, lo);
	__m128 t6 = _mm_add_ps(_mm256_extractf128_ps(t3, 1), _mm256_castps256_ps128(t3));
	__m128 t8 = _mm_add_ps(t6, _mm_movehl_ps(t6, t6));
	return _mm_cvtss_f32(_mm_add_ss(t8, _mm_movehdup_ps(t8)));
}
#endif

#endif
