/* attn-exact-block-avx2.c: attn-exact-block.c's pieces for AVX2 + FMA + F16C: 8-lane
 * halves of the 16-key and 16-dim vectors (compiled per function with target attributes). */
#include "kernels/attn-exact-block-impl.h"

#if CPU_SIMD_X86
#include "kernels/ggml-vec-math.h"

#define A2 GGML_VM_AVX2

/* The tree of ggml_hsum16 across 16 accumulators (lane l = a[l]), elementwise. */
A2 static inline __m256 tree16_256(const __m256 *a)
{
	__m256 t3[8], t6[4];
	for (int i = 0; i < 8; i++)
		t3[i] = _mm256_add_ps(a[i + 8], a[i]);
	for (int i = 0; i < 4; i++)
		t6[i] = _mm256_add_ps(t3[i + 4], t3[i]);
	return _mm256_add_ps(_mm256_add_ps(t6[0], t6[2]), _mm256_add_ps(t6[1], t6[3]));
}

A2 static void k_tile_avx2(const uint16_t *k, size_t stride, size_t k0, size_t n, size_t dim,
    float *kt)
{
	float rows[16 * 8];
	for (size_t d0 = 0; d0 < dim; d0 += 8) {
		for (size_t i = 0; i < 16; i++)
			_mm256_storeu_ps(rows + i * 8, i < n ? _mm256_cvtph_ps(_mm_loadu_si128(
			    (const __m128i *)(k + (k0 + i) * stride + d0))) : _mm256_setzero_ps());
		for (size_t j = 0; j < 8; j++)
			for (size_t i = 0; i < 16; i++)
				kt[(d0 + j) * 16 + i] = rows[i * 8 + j];
	}
}

A2 static void v_rows_avx2(const uint16_t *v, size_t stride, size_t k0, size_t n, size_t dim,
    float *vf)
{
	for (size_t i = 0; i < n; i++)
		for (size_t d = 0; d < dim; d += 8)
			_mm256_storeu_ps(vf + i * dim + d, _mm256_cvtph_ps(_mm_loadu_si128(
			    (const __m128i *)(v + (k0 + i) * stride + d))));
}

A2 static void qk_tiles_avx2(const float *q, const float *kt, size_t n_tiles, size_t dim,
    float scale, float *s)
{
	for (size_t t = 0; t < n_tiles; t++, kt += dim * 16)
		for (size_t h = 0; h < 16; h += 8) {
			__m256 a[16];
			for (int l = 0; l < 16; l++)
				a[l] = _mm256_setzero_ps();
			for (size_t d = 0; d < dim; d += 16) {
				_Pragma("GCC unroll 16")
				for (size_t l = 0; l < 16; l++)
					a[l] = _mm256_fmadd_ps(_mm256_set1_ps(q[d + l]),
					    _mm256_loadu_ps(kt + (d + l) * 16 + h), a[l]);
			}
			_mm256_storeu_ps(s + 16 * t + h, _mm256_mul_ps(tree16_256(a),
			    _mm256_set1_ps(scale)));
		}
}

A2 static void pv_avx2(const float *w, const float *vf, size_t n, size_t dim, float *acc)
{
	for (size_t d0 = 0; d0 < dim; d0 += 8) {
		__m256 a[16];
		for (size_t l = 0; l < 16; l++)
			a[l] = _mm256_loadu_ps(acc + l * dim + d0);
		size_t i = 0;
		for (; i + 16 <= n; i += 16) {
			_Pragma("GCC unroll 16")
			for (size_t l = 0; l < 16; l++)
				a[l] = _mm256_fmadd_ps(_mm256_loadu_ps(vf + (i + l) * dim + d0),
				    _mm256_set1_ps(w[i + l]), a[l]);
		}
		for (size_t l = 0; i + l < n; l++)
			a[l] = _mm256_fmadd_ps(_mm256_loadu_ps(vf + (i + l) * dim + d0),
			    _mm256_set1_ps(w[i + l]), a[l]);
		for (size_t l = 0; l < 16; l++)
			_mm256_storeu_ps(acc + l * dim + d0, a[l]);
	}
}

A2 static void fold_avx2(const float *acc, size_t dim, float *out)
{
	for (size_t d0 = 0; d0 < dim; d0 += 8) {
		__m256 a[16];
		for (size_t l = 0; l < 16; l++)
			a[l] = _mm256_loadu_ps(acc + l * dim + d0);
		_mm256_storeu_ps(out + d0, tree16_256(a));
	}
}
#undef A2

const struct block_ops attn_exact_block_ops_avx2 = {
	k_tile_avx2, v_rows_avx2, qk_tiles_avx2, pv_avx2, fold_avx2, NULL, NULL, NULL
};
#endif
