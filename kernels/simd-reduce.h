/* simd-reduce.h: the largest lane and the sum of the lanes of an AVX2 vector, for the
 * attention kernels' softmax; header-only, x86 only, each function compiled for its own target
 * so that including it costs nothing on a lower level. */
#ifndef QUIRE_KERNELS_SIMD_REDUCE_H
#define QUIRE_KERNELS_SIMD_REDUCE_H

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

__attribute__((target("avx2,fma,f16c"), always_inline))
static inline float simd_hmax256(__m256 v)
{
	__m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
	m = _mm_max_ps(m, _mm_movehl_ps(m, m));
	m = _mm_max_ss(m, _mm_movehdup_ps(m));
	return _mm_cvtss_f32(m);
}

__attribute__((target("avx2,fma,f16c"), always_inline))
static inline float simd_hadd256(__m256 v)
{
	__m128 m = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
	m = _mm_add_ps(m, _mm_movehl_ps(m, m));
	m = _mm_add_ss(m, _mm_movehdup_ps(m));
	return _mm_cvtss_f32(m);
}
#endif

#endif
