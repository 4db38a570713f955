/* attn-cpu-avx2.c: attention's qk and wv over fp16 keys and values and the flash-attention
 * kernel for AVX2 + FMA + F16C, compiled per function with target attributes so the file
 * builds for any x86-64 and runs only where cpu-features says so. */
#include "kernels/attn-cpu-impl.h"

#if CPU_SIMD_X86
#include <immintrin.h>
#include <math.h>

#include "kernels/quant.h"
#include "kernels/simd-exp.h"
#include "lib/util.h"

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
void attn_qk_avx2(const float *q, const uint16_t *k, size_t k_stride, size_t n, size_t dim,
    float scale, float *scores)
{
	if (dim % 8 != 0) {
		attn_qk_scalar(q, k, k_stride, n, dim, scale, scores);
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
void attn_wv_avx2(const float *w, const uint16_t *v, size_t v_stride, size_t n, size_t dim,
    float *out)
{
	if (dim % 8 != 0 || dim > 256) {
		attn_wv_scalar(w, v, v_stride, n, dim, out);
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

/* --- Flash attention, AVX2 ---------------------------------------------------------------
 * The same algorithm and scratch layout as the AVX-512 kernel (attn-cpu-avx512.c) with 8-lane
 * vectors; 16 registers allow 2 keys x 4 row vectors (QK) and 4 dims x 2 row vectors (PV) at a
 * time. */

#define A2 __attribute__((target("avx2,fma,f16c")))

/* S[j][rows] for row vectors [v0, v0 + nv) (nv <= 4), keys two at a time (nj even). */
__attribute__((target("avx2,fma,f16c"), always_inline))
static inline void fl2_scores(int nv, int v0, const float *qt, const float *kf, size_t dim,
    size_t nj, float *S)
{
	for (size_t j = 0; j < nj; j += 2) {
		__m256 a[2][4];
		_Pragma("GCC unroll 8")
		for (int k = 0; k < 2; k++)
			_Pragma("GCC unroll 8")
			for (int v = 0; v < nv; v++)
				a[k][v] = _mm256_setzero_ps();
		const float *k0 = kf + j * dim;
		for (size_t d = 0; d < dim; d++) {
			__m256 qv[4];
			_Pragma("GCC unroll 8")
			for (int v = 0; v < nv; v++)
				qv[v] = _mm256_load_ps(qt + d * FL_R + 8 * (v0 + v));
			_Pragma("GCC unroll 8")
			for (int k = 0; k < 2; k++) {
				__m256 kb = _mm256_broadcast_ss(k0 + k * dim + d);
				_Pragma("GCC unroll 8")
				for (int v = 0; v < nv; v++)
					a[k][v] = _mm256_fmadd_ps(kb, qv[v], a[k][v]);
			}
		}
		_Pragma("GCC unroll 8")
		for (int k = 0; k < 2; k++)
			_Pragma("GCC unroll 8")
			for (int v = 0; v < nv; v++)
				_mm256_store_ps(S + (j + k) * FL_R + 8 * (v0 + v), a[k][v]);
	}
}

/* At[d][rows] = At * alpha + P^T Vf for row vectors [v0, v0 + nv) (nv <= 2), 4 dims. */
__attribute__((target("avx2,fma,f16c"), always_inline))
static inline void fl2_values(int nv, int v0, float *at, const __m256 *alpha, const float *P,
    const float *vf, size_t dim, size_t nj)
{
	for (size_t d0 = 0; d0 < dim; d0 += 4) {
		__m256 a[4][2];
		_Pragma("GCC unroll 8")
		for (int dd = 0; dd < 4; dd++)
			_Pragma("GCC unroll 8")
			for (int v = 0; v < nv; v++)
				a[dd][v] = _mm256_mul_ps(_mm256_load_ps(at + (d0 + dd) * FL_R +
				    8 * (v0 + v)), alpha[v0 + v]);
		for (size_t j = 0; j < nj; j++) {
			__m256 pv[2];
			_Pragma("GCC unroll 8")
			for (int v = 0; v < nv; v++)
				pv[v] = _mm256_load_ps(P + j * FL_R + 8 * (v0 + v));
			const float *vj = vf + j * dim + d0;
			_Pragma("GCC unroll 8")
			for (int dd = 0; dd < 4; dd++) {
				__m256 vb = _mm256_broadcast_ss(vj + dd);
				_Pragma("GCC unroll 8")
				for (int v = 0; v < nv; v++)
					a[dd][v] = _mm256_fmadd_ps(vb, pv[v], a[dd][v]);
			}
		}
		_Pragma("GCC unroll 8")
		for (int dd = 0; dd < 4; dd++)
			_Pragma("GCC unroll 8")
			for (int v = 0; v < nv; v++)
				_mm256_store_ps(at + (d0 + dd) * FL_R + 8 * (v0 + v), a[dd][v]);
	}
}

A2 static void flash_avx2(const float *const *q, const uint32_t *n_keys, size_t n_rows,
    const uint16_t *k, const uint16_t *v, size_t kv_stride, size_t dim, float scale,
    float *const *out, float *scratch)
{
	if (dim % 16 != 0 || dim > 256 || n_rows > FL_R)
		fatal("flash_avx2: unsupported shape (dim %zu, rows %zu)", dim, n_rows);
	float *qt = scratch, *at = qt + dim * FL_R, *S = at + dim * FL_R;
	float *kf = S + FL_T * FL_R, *vf = kf + FL_T * dim;
	int nv = (int)((n_rows + 7) / 8);
	uint32_t nk[FL_R];
	uint32_t n_max = 0, n_min = UINT32_MAX;
	for (size_t r = 0; r < n_rows; r++) {
		n_max = n_keys[r] > n_max ? n_keys[r] : n_max;
		n_min = n_keys[r] < n_min ? n_keys[r] : n_min;
	}
	for (size_t r = 0; r < (size_t)nv * 8; r++) {
		nk[r] = r < n_rows ? n_keys[r] : n_max;
		for (size_t d = 0; d < dim; d++)
			qt[d * FL_R + r] = r < n_rows ?
			    quant_fp16_to_f32(quant_f32_to_fp16(q[r][d])) * scale : 0.0f;
	}
	for (size_t d = 0; d < dim; d++)
		for (int w = 0; w < nv; w++)
			_mm256_store_ps(at + d * FL_R + 8 * w, _mm256_setzero_ps());
	__m256 m[8], l[8], alpha[8];
	__m256i nkv[8];
	for (int w = 0; w < nv; w++) {
		m[w] = _mm256_set1_ps(-INFINITY);
		l[w] = _mm256_setzero_ps();
		nkv[w] = _mm256_loadu_si256((const __m256i *)(nk + 8 * w));
	}
	/* One pass with an online softmax, as in the AVX-512 kernel. */
	for (size_t j0 = 0; j0 < n_max; j0 += FL_T) {
		size_t nj = n_max - j0 < FL_T ? n_max - j0 : FL_T;
		size_t nj2 = (nj + 1) & ~(size_t)1;
		for (size_t j = 0; j < nj; j++) {
			const uint16_t *kp = k + (j0 + j) * kv_stride;
			const uint16_t *vp = v + (j0 + j) * kv_stride;
			for (size_t d = 0; d < dim; d += 8) {
				_mm256_store_ps(kf + j * dim + d, _mm256_cvtph_ps(
				    _mm_loadu_si128((const __m128i *)(kp + d))));
				_mm256_store_ps(vf + j * dim + d, _mm256_cvtph_ps(
				    _mm_loadu_si128((const __m128i *)(vp + d))));
			}
		}
		for (size_t j = nj; j < nj2; j++)
			for (size_t d = 0; d < dim; d += 8) {
				_mm256_store_ps(kf + j * dim + d, _mm256_setzero_ps());
				_mm256_store_ps(vf + j * dim + d, _mm256_setzero_ps());
			}
		for (int v0 = 0; v0 < nv; v0 += 4) {
			switch (nv - v0 < 4 ? nv - v0 : 4) {
			case 1: fl2_scores(1, v0, qt, kf, dim, nj2, S); break;
			case 2: fl2_scores(2, v0, qt, kf, dim, nj2, S); break;
			case 3: fl2_scores(3, v0, qt, kf, dim, nj2, S); break;
			default: fl2_scores(4, v0, qt, kf, dim, nj2, S); break;
			}
		}
		if (j0 + nj2 > n_min)
			for (size_t j = 0; j < nj2; j++) {
				__m256i pos = _mm256_set1_epi32((int)(j0 + j));
				for (int w = 0; w < nv; w++) {
					/* Positions and counts stay below 2^31: a signed compare. */
					__m256 dead = _mm256_castsi256_ps(_mm256_or_si256(
					    _mm256_cmpgt_epi32(pos, nkv[w]),
					    _mm256_cmpeq_epi32(pos, nkv[w])));
					float *sp = S + j * FL_R + 8 * w;
					_mm256_store_ps(sp, _mm256_blendv_ps(_mm256_load_ps(sp),
					    _mm256_set1_ps(-INFINITY), dead));
				}
			}
		for (int w = 0; w < nv; w++) {
			__m256 mt = m[w];
			for (size_t j = 0; j < nj2; j++)
				mt = _mm256_max_ps(mt, _mm256_load_ps(S + j * FL_R + 8 * w));
			__m256 sum = _mm256_setzero_ps();
			for (size_t j = 0; j < nj2; j++) {
				float *sp = S + j * FL_R + 8 * w;
				__m256 p = simd_exp256(_mm256_sub_ps(_mm256_load_ps(sp), mt));
				_mm256_store_ps(sp, p);
				sum = _mm256_add_ps(sum, p);
			}
			alpha[w] = simd_exp256(_mm256_sub_ps(m[w], mt));
			l[w] = _mm256_fmadd_ps(l[w], alpha[w], sum);
			m[w] = mt;
		}
		for (int v0 = 0; v0 < nv; v0 += 2) {
			if (nv - v0 >= 2)
				fl2_values(2, v0, at, alpha, S, vf, dim, nj2);
			else
				fl2_values(1, v0, at, alpha, S, vf, dim, nj2);
		}
	}
	_Alignas(32) float inv[FL_R];
	for (int w = 0; w < nv; w++)
		_mm256_store_ps(inv + 8 * w, _mm256_div_ps(_mm256_set1_ps(1.0f), l[w]));
	for (size_t r = 0; r < n_rows; r++)
		for (size_t d = 0; d < dim; d++)
			out[r][d] = at[d * FL_R + r] * inv[r];
}
#undef A2

const struct attn_kernels attn_kernels_avx2 = { "avx2", attn_qk_avx2, attn_wv_avx2, flash_avx2 };
#endif
