/* attn-exact-block-avx512.c: attn-exact-block.c's pieces for AVX-512: qk_gemm's vectors
 * over dims, value tiles dim-major (compiled per function with target attributes). */
#include "kernels/attn-exact-block-impl.h"

#if CPU_SIMD_X86
#include <string.h>

#include "kernels/ggml-vec-math.h"

#define A5 GGML_VM_AVX512

A5 static inline __m512 tree16_512(const __m512 *a)
{
	__m512 t3[8], t6[4];
	for (int i = 0; i < 8; i++)
		t3[i] = _mm512_add_ps(a[i + 8], a[i]);
	for (int i = 0; i < 4; i++)
		t6[i] = _mm512_add_ps(t3[i + 4], t3[i]);
	return _mm512_add_ps(_mm512_add_ps(t6[0], t6[2]), _mm512_add_ps(t6[1], t6[3]));
}

/* 16 keys x 16 dims: rows of keys in, rows of dims out (unpacks, then 128-bit lane moves). */
A5 static void k_tile_avx512(const uint16_t *k, size_t stride, size_t k0, size_t n, size_t dim,
    float *kt)
{
	for (size_t d0 = 0; d0 < dim; d0 += 16) {
		__m512 r[16], a[16], b[16];
		for (size_t i = 0; i < 16; i++)
			r[i] = i < n ? _mm512_cvtph_ps(_mm256_loadu_si256(
			    (const __m256i *)(k + (k0 + i) * stride + d0))) : _mm512_setzero_ps();
		for (int i = 0; i < 8; i++) {
			a[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
			a[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
		}
		/* b[4g + m], 128-bit lane c: dim 4c + m of keys 4g..4g+3 */
		for (int g = 0; g < 4; g++) {
			__m512d x0 = _mm512_castps_pd(a[4 * g]), x1 = _mm512_castps_pd(a[4 * g + 1]);
			__m512d x2 = _mm512_castps_pd(a[4 * g + 2]), x3 = _mm512_castps_pd(a[4 * g + 3]);
			b[4 * g] = _mm512_castpd_ps(_mm512_unpacklo_pd(x0, x2));
			b[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(x0, x2));
			b[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(x1, x3));
			b[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(x1, x3));
		}
		for (int m = 0; m < 4; m++) {
			__m512 c0 = _mm512_shuffle_f32x4(b[m], b[4 + m], 0x44);
			__m512 c1 = _mm512_shuffle_f32x4(b[m], b[4 + m], 0xee);
			__m512 c2 = _mm512_shuffle_f32x4(b[8 + m], b[12 + m], 0x44);
			__m512 c3 = _mm512_shuffle_f32x4(b[8 + m], b[12 + m], 0xee);
			_mm512_storeu_ps(kt + (d0 + m) * 16, _mm512_shuffle_f32x4(c0, c2, 0x88));
			_mm512_storeu_ps(kt + (d0 + 4 + m) * 16, _mm512_shuffle_f32x4(c0, c2, 0xdd));
			_mm512_storeu_ps(kt + (d0 + 8 + m) * 16, _mm512_shuffle_f32x4(c1, c3, 0x88));
			_mm512_storeu_ps(kt + (d0 + 12 + m) * 16, _mm512_shuffle_f32x4(c1, c3, 0xdd));
		}
	}
}

A5 static void qk_tiles_avx512(const float *q, const float *kt, size_t n_tiles, size_t dim,
    float scale, float *s)
{
	for (size_t t = 0; t < n_tiles; t++, kt += dim * 16) {
		__m512 a[16];
		for (int l = 0; l < 16; l++)
			a[l] = _mm512_setzero_ps();
		for (size_t d = 0; d < dim; d += 16) {
			_Pragma("GCC unroll 16")
			for (size_t l = 0; l < 16; l++)
				a[l] = _mm512_fmadd_ps(_mm512_set1_ps(q[d + l]),
				    _mm512_loadu_ps(kt + (d + l) * 16), a[l]);
		}
		_mm512_storeu_ps(s + 16 * t, _mm512_mul_ps(tree16_512(a), _mm512_set1_ps(scale)));
	}
}

/* Rows three at a time and dims eight at a time: 24 accumulators in registers, each value
 * vector (16 positions of one dim) loaded once for the three rows and each row's 16 weights
 * once for the eight dims. Lane l of a row's accumulator for dim d holds positions 16c + l,
 * as in wv_gemm; positions at or past the row's n_keys are masked off the fma. */
A5 static void pv_rows_avx512(const float *scores, size_t kpad, const uint32_t *n_keys,
    size_t n_rows, size_t c0, size_t cn, const float *vt, size_t dim, float *acc, float *spare)
{
	size_t n_tiles = (cn + 15) / 16;
	for (size_t r0 = 0; r0 < n_rows; r0 += 3) {
		const float *w[3];
		float *a[3];
		size_t nv[3];              /* positions of this chunk the row sees */
		_Pragma("GCC unroll 3")
		for (size_t i = 0; i < 3; i++) {
			size_t r = r0 + i < n_rows ? r0 + i : r0;
			w[i] = scores + r * kpad + c0;
			a[i] = r0 + i < n_rows ? acc + r * 16 * dim : spare;
			nv[i] = r0 + i < n_rows && n_keys[r] > c0 ? n_keys[r] - c0 : 0;
			nv[i] = nv[i] < cn ? nv[i] : cn;
		}
		if (nv[0] + nv[1] + nv[2] == 0)
			continue;
		for (size_t d0 = 0; d0 < dim; d0 += 8) {
			__m512 A[3][8];
			_Pragma("GCC unroll 3")
			for (size_t i = 0; i < 3; i++)
				_Pragma("GCC unroll 8")
				for (size_t j = 0; j < 8; j++)
					A[i][j] = _mm512_loadu_ps(a[i] + (d0 + j) * 16);
			for (size_t t = 0; t < n_tiles; t++) {
				__mmask16 m[3];
				__m512 W[3];
				_Pragma("GCC unroll 3")
				for (size_t i = 0; i < 3; i++) {
					size_t left = nv[i] > 16 * t ? nv[i] - 16 * t : 0;
					m[i] = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
					W[i] = _mm512_maskz_loadu_ps(m[i], w[i] + 16 * t);
				}
				const float *vd = vt + t * dim * 16 + d0 * 16;
				_Pragma("GCC unroll 8")
				for (size_t j = 0; j < 8; j++) {
					__m512 x = _mm512_loadu_ps(vd + j * 16);
					_Pragma("GCC unroll 3")
					for (size_t i = 0; i < 3; i++)
						A[i][j] = _mm512_mask3_fmadd_ps(x, W[i], A[i][j], m[i]);
				}
			}
			_Pragma("GCC unroll 3")
			for (size_t i = 0; i < 3; i++)
				_Pragma("GCC unroll 8")
				for (size_t j = 0; j < 8; j++)
					_mm512_storeu_ps(a[i] + (d0 + j) * 16, A[i][j]);
		}
	}
}

/* Lane-major accumulators (acc[d*16 + l]): each dim's 16 lanes summed in reduce order. */
A5 static void fold_avx512(const float *acc, size_t dim, float *out)
{
	for (size_t d = 0; d < dim; d++)
		out[d] = ggml_hsum16_512(_mm512_loadu_ps(acc + d * 16));
}
A5 static void k_rows_avx512(const uint16_t *k, size_t stride, size_t k0, size_t n, size_t dim,
    float *kf)
{
	for (size_t i = 0; i < n; i++)
		for (size_t d = 0; d < dim; d += 16)
			_mm512_storeu_ps(kf + i * dim + d, _mm512_cvtph_ps(_mm256_loadu_si256(
			    (const __m256i *)(k + (k0 + i) * stride + d))));
	memset(kf + n * dim, 0, (round16(n) - n) * dim * sizeof(float));
}

/* The 16 sums of s[4p + r] (row r, key p) in _mm512_reduce_add_ps's order, as one vector whose
 * 128-bit lane r holds keys 0..3 of row r: halves (8 + 8) of pairs of vectors, quarters (4 + 4)
 * of fours, then (0 + 2) + (1 + 3) within the 128-bit lanes. */
A5 static inline __m512 reduce16x16(const __m512 *s)
{
	__m512 t[8], u[4];
	for (int j = 0; j < 8; j++)
		t[j] = _mm512_add_ps(_mm512_shuffle_f32x4(s[2 * j], s[2 * j + 1], 0x44),
		    _mm512_shuffle_f32x4(s[2 * j], s[2 * j + 1], 0xee));
	/* t[j]: the eight t3 of s[2j], then of s[2j+1] */
	for (int m = 0; m < 4; m++)
		u[m] = _mm512_add_ps(_mm512_shuffle_f32x4(t[2 * m], t[2 * m + 1], 0x88),
		    _mm512_shuffle_f32x4(t[2 * m], t[2 * m + 1], 0xdd));
	/* u[m], 128-bit lane L: the four t6 of s[4m + L] */
	__m512 v0 = _mm512_add_ps(_mm512_shuffle_ps(u[0], u[1], 0x44),
	    _mm512_shuffle_ps(u[0], u[1], 0xee));
	__m512 v1 = _mm512_add_ps(_mm512_shuffle_ps(u[2], u[3], 0x44),
	    _mm512_shuffle_ps(u[2], u[3], 0xee));
	/* v0 lane L: t6[0] + t6[2], t6[1] + t6[3] of s[L], then of s[4 + L]; v1 of s[8 + L],
	 * s[12 + L] */
	return _mm512_add_ps(_mm512_shuffle_ps(v0, v1, 0x88), _mm512_shuffle_ps(v0, v1, 0xdd));
}

/* q.k with 16-lane vectors over dims as qk_gemm has them, four rows x four keys at a time
 * (16 accumulators: each query and key vector loaded once for four products), the 16
 * horizontal sums done together by reduce16x16. */
A5 static void qk_rows_avx512(const float *qr, size_t n_rows, const uint32_t *n_keys,
    size_t c0, size_t cn, const float *kf, size_t dim, float scale, float *scores, size_t kpad)
{
	const __m512 sc = _mm512_set1_ps(scale);
	for (size_t r0 = 0; r0 < n_rows; r0 += 4) {
		const float *q[4];
		size_t end = 0;            /* keys of the chunk some row of the four sees */
		for (size_t i = 0; i < 4; i++) {
			size_t r = r0 + i < n_rows ? r0 + i : r0;
			q[i] = qr + r * dim;
			size_t e = n_keys[r] > c0 ? n_keys[r] - c0 : 0;
			e = e < cn ? e : cn;
			end = e > end ? e : end;
		}
		for (size_t p0 = 0; p0 < end; p0 += 4) {
			__m512 s[16];
			_Pragma("GCC unroll 16")
			for (int i = 0; i < 16; i++)
				s[i] = _mm512_setzero_ps();
			const float *kp = kf + p0 * dim;
			for (size_t d = 0; d < dim; d += 16) {
				__m512 qv[4], kv[4];
				_Pragma("GCC unroll 4")
				for (int i = 0; i < 4; i++) {
					qv[i] = _mm512_loadu_ps(q[i] + d);
					kv[i] = _mm512_loadu_ps(kp + (size_t)i * dim + d);
				}
				_Pragma("GCC unroll 4")
				for (int p = 0; p < 4; p++) {
					_Pragma("GCC unroll 4")
					for (int r = 0; r < 4; r++)
						s[4 * p + r] = _mm512_fmadd_ps(kv[p], qv[r], s[4 * p + r]);
				}
			}
			__m512 f = _mm512_mul_ps(reduce16x16(s), sc);
			float *o = scores + c0 + p0;
			if (r0 + 0 < n_rows)
				_mm_storeu_ps(o + (r0 + 0) * kpad, _mm512_castps512_ps128(f));
			if (r0 + 1 < n_rows)
				_mm_storeu_ps(o + (r0 + 1) * kpad, _mm512_extractf32x4_ps(f, 1));
			if (r0 + 2 < n_rows)
				_mm_storeu_ps(o + (r0 + 2) * kpad, _mm512_extractf32x4_ps(f, 2));
			if (r0 + 3 < n_rows)
				_mm_storeu_ps(o + (r0 + 3) * kpad, _mm512_extractf32x4_ps(f, 3));
		}
	}
}
#undef A5

const struct block_ops attn_exact_block_ops_avx512 = {
	k_tile_avx512, NULL, qk_tiles_avx512, NULL, fold_avx512, pv_rows_avx512, k_rows_avx512,
	qk_rows_avx512
};
#endif
