/* attn-cpu.c: attention inner loops over fp16 keys and values: portable C, AVX2 (F16C + FMA)
 * and AVX-512, one binary, chosen at run time; plus a tiled flash-attention kernel (AVX2 and
 * AVX-512) for long prefills. */
#include "kernels/attn-cpu.h"

#include <math.h>
#include <string.h>

#include "kernels/cpu-features.h"
#include "kernels/quant.h"
#include "kernels/simd-exp.h"
#include "lib/util.h"

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

/* --- Flash attention, AVX-512 ---------------------------------------------------------------
 * Query rows live in the 16 lanes of a vector (up to four vectors, 64 rows), so a tile of
 * scores is S[key][row] and every step is a broadcast of one key (or value) element times a
 * vector of rows: no horizontal sums, and each fp16 key and value is converted once per tile
 * for all rows. Scratch layout (floats): Qt[dim][64] (queries, transposed, fp16-rounded and
 * pre-scaled), At[dim][64] (output accumulators, transposed), S[TILE][64] (scores, then
 * probabilities), Kf[TILE][dim] and Vf[TILE][dim] (the tile's keys and values in fp32). */

#define FL_R ATTN_FLASH_ROWS
#define FL_T ATTN_FLASH_TILE

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
/* --- Flash attention, AVX2 ---------------------------------------------------------------
 * The same algorithm and scratch layout as the AVX-512 kernel with 8-lane vectors; 16
 * registers allow 2 keys x 4 row vectors (QK) and 4 dims x 2 row vectors (PV) at a time. */

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
#endif

size_t attn_flash_scratch_floats(size_t dim)
{
	return 2 * dim * ATTN_FLASH_ROWS + ATTN_FLASH_TILE * ATTN_FLASH_ROWS +
	    2 * ATTN_FLASH_TILE * dim;
}

static const struct attn_kernels kernels_scalar = { "scalar", qk_scalar, wv_scalar, NULL };
#if defined(__x86_64__) || defined(__i386__)
static const struct attn_kernels kernels_avx2 = { "avx2", qk_avx2, wv_avx2, flash_avx2 };
static const struct attn_kernels kernels_avx512 = { "avx512", qk_avx512, wv_avx512,
    flash_avx512 };
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
