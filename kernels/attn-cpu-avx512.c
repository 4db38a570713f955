/* attn-cpu-avx512.c: attention's qk and wv over fp16 keys and values and the flash-attention
 * kernel for AVX-512 (F/BW/VL, F16C, FMA), compiled per function with target attributes. */
#include "kernels/attn-cpu-impl.h"

#if CPU_SIMD_X86
#include <immintrin.h>
#include <math.h>

#include "kernels/quant.h"
#include "kernels/simd-exp.h"

__attribute__((target("avx512f,avx512bw,avx512vl,f16c,fma")))
static void qk_avx512(const float *q, const uint16_t *k, size_t k_stride, size_t n, size_t dim,
    float scale, float *scores)
{
	if (dim % 16 != 0) {
		attn_qk_avx2(q, k, k_stride, n, dim, scale, scores);
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
		attn_wv_avx2(w, v, v_stride, n, dim, out);
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

/* --- Flash attention, AVX-512 ---------------------------------------------------------------
 * Query rows live in the 16 lanes of a vector (up to four vectors, 64 rows), so a tile of
 * scores is S[key][row] and every step is a broadcast of one key (or value) element times a
 * vector of rows: no horizontal sums, and each fp16 key and value is converted once per tile
 * for all rows. Scratch layout (floats): Qt[dim][64] (queries, transposed, fp16-rounded and
 * pre-scaled), At[dim][64] (output accumulators, transposed), S[TILE][64] (scores, then
 * probabilities), Kf[TILE][dim] and Vf[TILE][dim] (the tile's keys and values in fp32). */

/* S[j][rows] = Qt . Kf[j] for j < nj (a multiple of 4): four keys by nv row vectors. */
__attribute__((target("avx512f,avx512bw,avx512vl,f16c,fma"), always_inline))
static inline void fl_scores(int nv, const float *qt, const float *kf, size_t dim, size_t nj,
    float *S)
{
	for (size_t j = 0; j < nj; j += 4) {
		__m512 a[4][4];
		_Pragma("GCC unroll 8")
		for (int k = 0; k < 4; k++)
			_Pragma("GCC unroll 8")
			for (int v = 0; v < nv; v++)
				a[k][v] = _mm512_setzero_ps();
		const float *k0 = kf + j * dim;
		for (size_t d = 0; d < dim; d++) {
			__m512 qv[4];
			_Pragma("GCC unroll 8")
			for (int v = 0; v < nv; v++)
				qv[v] = _mm512_load_ps(qt + d * FL_R + 16 * v);
			_Pragma("GCC unroll 8")
			for (int k = 0; k < 4; k++) {
				__m512 kb = _mm512_set1_ps(k0[k * dim + d]);
				_Pragma("GCC unroll 8")
				for (int v = 0; v < nv; v++)
					a[k][v] = _mm512_fmadd_ps(kb, qv[v], a[k][v]);
			}
		}
		_Pragma("GCC unroll 8")
		for (int k = 0; k < 4; k++)
			_Pragma("GCC unroll 8")
			for (int v = 0; v < nv; v++)
				_mm512_store_ps(S + (j + k) * FL_R + 16 * v, a[k][v]);
	}
}

/* At[d][rows] = At[d][rows] * alpha[rows] + sum_j P[j][rows] Vf[j][d]: eight (or four) value
 * dims by nv row vectors held in registers across the tile. */
__attribute__((target("avx512f,avx512bw,avx512vl,f16c,fma"), always_inline))
static inline void fl_values(int nv, float *at, const __m512 *alpha, const float *P,
    const float *vf, size_t dim, size_t nj)
{
	enum { DC = 8 };
	int dc = nv <= 3 ? DC : 4;
	for (size_t d0 = 0; d0 < dim; d0 += (size_t)dc) {
		__m512 a[DC][4];
		_Pragma("GCC unroll 8")
		for (int dd = 0; dd < dc; dd++)
			_Pragma("GCC unroll 8")
			for (int v = 0; v < nv; v++)
				a[dd][v] = _mm512_mul_ps(_mm512_load_ps(at + (d0 + dd) * FL_R + 16 * v),
				    alpha[v]);
		for (size_t j = 0; j < nj; j++) {
			__m512 pv[4];
			_Pragma("GCC unroll 8")
			for (int v = 0; v < nv; v++)
				pv[v] = _mm512_load_ps(P + j * FL_R + 16 * v);
			const float *vj = vf + j * dim + d0;
			_Pragma("GCC unroll 8")
			for (int dd = 0; dd < dc; dd++) {
				__m512 vb = _mm512_set1_ps(vj[dd]);
				_Pragma("GCC unroll 8")
				for (int v = 0; v < nv; v++)
					a[dd][v] = _mm512_fmadd_ps(vb, pv[v], a[dd][v]);
			}
		}
		_Pragma("GCC unroll 8")
		for (int dd = 0; dd < dc; dd++)
			_Pragma("GCC unroll 8")
			for (int v = 0; v < nv; v++)
				_mm512_store_ps(at + (d0 + dd) * FL_R + 16 * v, a[dd][v]);
	}
}

__attribute__((target("avx512f,avx512bw,avx512vl,f16c,fma"), always_inline))
static inline void fl_run(int nv, const float *const *q, const uint32_t *n_keys,
    size_t n_rows, const uint16_t *k, const uint16_t *v, size_t kv_stride, size_t dim,
    float scale, float *const *out, float *scratch)
{
	float *qt = scratch, *at = qt + dim * FL_R, *S = at + dim * FL_R;
	float *kf = S + FL_T * FL_R, *vf = kf + FL_T * dim;
	uint32_t nk[FL_R];
	uint32_t n_max = 0, n_min = UINT32_MAX;
	for (size_t r = 0; r < n_rows; r++) {
		n_max = n_keys[r] > n_max ? n_keys[r] : n_max;
		n_min = n_keys[r] < n_min ? n_keys[r] : n_min;
	}
	/* Lanes past n_rows: zero queries that see every key; their results are dropped. */
	for (size_t r = 0; r < (size_t)nv * 16; r++) {
		nk[r] = r < n_rows ? n_keys[r] : n_max;
		for (size_t d = 0; d < dim; d++)
			qt[d * FL_R + r] = r < n_rows ?
			    quant_fp16_to_f32(quant_f32_to_fp16(q[r][d])) * scale : 0.0f;
	}
	for (size_t d = 0; d < dim; d++)
		_Pragma("GCC unroll 8")
		for (int w = 0; w < nv; w++)
			_mm512_store_ps(at + d * FL_R + 16 * w, _mm512_setzero_ps());
	__m512 m[4], l[4];
	__m512i nkv[4];
	_Pragma("GCC unroll 8")
	for (int w = 0; w < nv; w++) {
		m[w] = _mm512_set1_ps(-INFINITY);
		l[w] = _mm512_setzero_ps();
		nkv[w] = _mm512_loadu_si512(nk + 16 * w);
	}
	/* One pass with an online softmax: per tile, each row's running maximum moves to the
	 * tile's, the accumulated output and sum are rescaled by exp(old - new), and the tile's
	 * probabilities (relative to the new maximum) add their values in. */
	for (size_t j0 = 0; j0 < n_max; j0 += FL_T) {
		size_t nj = n_max - j0 < FL_T ? n_max - j0 : FL_T;
		size_t nj4 = (nj + 3) & ~(size_t)3;
		for (size_t j = 0; j < nj; j++) {
			const uint16_t *kp = k + (j0 + j) * kv_stride;
			const uint16_t *vp = v + (j0 + j) * kv_stride;
			for (size_t d = 0; d < dim; d += 16) {
				_mm512_store_ps(kf + j * dim + d, _mm512_cvtph_ps(
				    _mm256_loadu_si256((const __m256i *)(kp + d))));
				_mm512_store_ps(vf + j * dim + d, _mm512_cvtph_ps(
				    _mm256_loadu_si256((const __m256i *)(vp + d))));
			}
		}
		for (size_t j = nj; j < nj4; j++)
			for (size_t d = 0; d < dim; d += 16) {
				_mm512_store_ps(kf + j * dim + d, _mm512_setzero_ps());
				_mm512_store_ps(vf + j * dim + d, _mm512_setzero_ps());
			}
		fl_scores(nv, qt, kf, dim, nj4, S);
		/* Causal mask, only where some row ends inside this tile (or its padding). */
		if (j0 + nj4 > n_min)
			for (size_t j = 0; j < nj4; j++) {
				__m512i pos = _mm512_set1_epi32((int)(j0 + j));
				_Pragma("GCC unroll 8")
				for (int w = 0; w < nv; w++) {
					__mmask16 dead = _mm512_cmp_epu32_mask(pos, nkv[w], _MM_CMPINT_NLT);
					float *sp = S + j * FL_R + 16 * w;
					_mm512_store_ps(sp, _mm512_mask_mov_ps(_mm512_load_ps(sp), dead,
					    _mm512_set1_ps(-INFINITY)));
				}
			}
		/* Every row sees key 0, so from the first tile on its maximum is finite and the
		 * first rescale factor is exp(-inf) = 0; masked scores give exp(-inf) = 0. */
		__m512 alpha[4];
		_Pragma("GCC unroll 8")
		for (int w = 0; w < nv; w++) {
			__m512 mt = m[w];
			for (size_t j = 0; j < nj4; j++)
				mt = _mm512_max_ps(mt, _mm512_load_ps(S + j * FL_R + 16 * w));
			__m512 sum = _mm512_setzero_ps();
			for (size_t j = 0; j < nj4; j++) {
				float *sp = S + j * FL_R + 16 * w;
				__m512 p = simd_exp512(_mm512_sub_ps(_mm512_load_ps(sp), mt));
				_mm512_store_ps(sp, p);
				sum = _mm512_add_ps(sum, p);
			}
			alpha[w] = simd_exp512(_mm512_sub_ps(m[w], mt));
			l[w] = _mm512_fmadd_ps(l[w], alpha[w], sum);
			m[w] = mt;
		}
		fl_values(nv, at, alpha, S, vf, dim, nj4);
	}
	_Alignas(64) float inv[FL_R];
	for (int w = 0; w < nv; w++)
		_mm512_store_ps(inv + 16 * w, _mm512_div_ps(_mm512_set1_ps(1.0f), l[w]));
	for (size_t r = 0; r < n_rows; r++)
		for (size_t d = 0; d < dim; d++)
			out[r][d] = at[d * FL_R + r] * inv[r];
}

__attribute__((target("avx512f,avx512bw,avx512vl,f16c,fma")))
static void flash_avx512(const float *const *q, const uint32_t *n_keys, size_t n_rows,
    const uint16_t *k, const uint16_t *v, size_t kv_stride, size_t dim, float scale,
    float *const *out, float *scratch)
{
	/* One specialised body per count of row vectors keeps the accumulators in registers. */
	if (n_rows <= 16)
		fl_run(1, q, n_keys, n_rows, k, v, kv_stride, dim, scale, out, scratch);
	else if (n_rows <= 32)
		fl_run(2, q, n_keys, n_rows, k, v, kv_stride, dim, scale, out, scratch);
	else if (n_rows <= 48)
		fl_run(3, q, n_keys, n_rows, k, v, kv_stride, dim, scale, out, scratch);
	else
		fl_run(4, q, n_keys, n_rows, k, v, kv_stride, dim, scale, out, scratch);
}

const struct attn_kernels attn_kernels_avx512 = { "avx512", qk_avx512, wv_avx512,
	flash_avx512 };
#endif
