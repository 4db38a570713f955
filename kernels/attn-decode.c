/* attn-decode.c: split-K decode attention (kernels/attn-decode.h): a few query rows against a
 * range of fp16 keys and values with an online softmax, in portable C, AVX2 and AVX-512. */
#include "kernels/attn-decode.h"

#include <math.h>
#include <string.h>

#include "kernels/attn-merge.h"
#include "kernels/cpu-features.h"
#include "kernels/quant.h"
#include "kernels/simd-exp.h"
#include "kernels/simd-reduce.h"
#include "lib/util.h"

#define DR ATTN_DECODE_MAX_ROWS
#define DT ATTN_DECODE_TILE

/* Scratch layout (floats), the same at every level, every part a multiple of 16 floats:
 * Q[DR][dim] (queries, fp16-rounded and scaled), A[DR][dim] (output accumulators, not yet
 * divided by the softmax sum), S[DR][DT] (a tile's scores, then its weights), Kf[DT][dim] and
 * Vf[DT][dim] (the tile's keys and values in f32), M[DR] and L[DR] (each row's running
 * maximum score and its sum of exp(score - maximum)). */
size_t attn_decode_scratch_floats(size_t dim)
{
	return 2 * DR * dim + DR * DT + 2 * DT * dim + 2 * DR;
}

struct dscratch {
	float *Q, *A, *S, *Kf, *Vf, *M, *L;
};

static struct dscratch carve(float *scratch, size_t dim)
{
	struct dscratch s;
	s.Q = scratch;
	s.A = s.Q + DR * dim;
	s.S = s.A + DR * dim;
	s.Kf = s.S + DR * DT;
	s.Vf = s.Kf + DT * dim;
	s.M = s.Vf + DT * dim;
	s.L = s.M + DR;
	return s;
}

/* Queries rounded to fp16 (as llama.cpp and quire's exact path do before the fp16 keys) and
 * scaled; empty accumulators. */
static void start_rows(const struct dscratch *s, const float *const *q, size_t n_rows,
    size_t dim, float scale)
{
	if (n_rows == 0 || n_rows > DR)
		fatal("attn_decode: %zu query rows (1..%d)", n_rows, DR);
	for (size_t r = 0; r < n_rows; r++) {
		for (size_t d = 0; d < dim; d++)
			s->Q[r * dim + d] = quant_fp16_to_f32(quant_f32_to_fp16(q[r][d])) * scale;
		memset(s->A + r * dim, 0, dim * sizeof(float));
		s->M[r] = -INFINITY;
		s->L[r] = 0.0f;
	}
}

static void finish_rows(const struct dscratch *s, const uint32_t *lim, size_t n_rows,
    size_t dim, float *const *o, float *lse)
{
	for (size_t r = 0; r < n_rows; r++)
		attn_online_finish(s->A + r * dim, s->M[r], s->L[r], lim[r] != 0, (int)dim, o[r],
		    &lse[r]);
}

/* Fold row r's tile (maximum mt, sum of exponentials tile_sum) into its running state;
 * returns the factor by which its accumulators must shrink. */
static inline float rescale(const struct dscratch *s, size_t r, float mt, float tile_sum)
{
	return attn_online_step(&s->M[r], &s->L[r], mt, tile_sum);
}

static void run_scalar(const float *const *q, const uint32_t *lim, size_t n_rows,
    const uint16_t *k, const uint16_t *v, size_t kv_stride, size_t n_keys, size_t dim,
    float scale, float *const *o, float *lse, float *scratch)
{
	struct dscratch s = carve(scratch, dim);
	start_rows(&s, q, n_rows, dim, scale);
	for (size_t j0 = 0; j0 < n_keys; j0 += DT) {
		size_t nj = n_keys - j0 < DT ? n_keys - j0 : DT;
		for (size_t j = 0; j < nj; j++)
			for (size_t d = 0; d < dim; d++) {
				s.Kf[j * dim + d] = quant_fp16_to_f32(k[(j0 + j) * kv_stride + d]);
				s.Vf[j * dim + d] = quant_fp16_to_f32(v[(j0 + j) * kv_stride + d]);
			}
		for (size_t r = 0; r < n_rows; r++) {
			if (lim[r] <= j0)
				continue;
			size_t live = lim[r] - j0 < nj ? lim[r] - j0 : nj;
			float *S = s.S + r * DT, *A = s.A + r * dim, mt = s.M[r], sum = 0.0f;
			for (size_t j = 0; j < live; j++) {
				float dot = 0.0f;
				for (size_t d = 0; d < dim; d++)
					dot += s.Q[r * dim + d] * s.Kf[j * dim + d];
				S[j] = dot;
				mt = dot > mt ? dot : mt;
			}
			for (size_t j = 0; j < live; j++)
				sum += (S[j] = expf(S[j] - mt));
			float alpha = rescale(&s, r, mt, sum);
			for (size_t d = 0; d < dim; d++) {
				float a = A[d] * alpha;
				for (size_t j = 0; j < live; j++)
					a += S[j] * s.Vf[j * dim + d];
				A[d] = a;
			}
		}
	}
	finish_rows(&s, lim, n_rows, dim, o, lse);
}

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

/* Keys ahead whose key and value rows are prefetched while a tile is converted: a KV head's
 * rows are short pieces of the wide KV rows, a pattern the hardware prefetcher follows too
 * late (without it, 2/3 of the kernel's time went to waiting on these loads; 24-32 keys
 * ahead measured best, 96 and more worse). Reading the KV heads side by side in one call
 * instead (the rows of every group at once) measured slower too. */
#ifndef DECODE_PREFETCH
#define DECODE_PREFETCH 32
#endif

/* --- AVX-512 --------------------------------------------------------------------------------
 * Scores: 16 keys at a time, one accumulator per key over the query's dim/16 vectors, then
 * the 16 horizontal sums in one transposing reduction. Weighted values: up to 4 rows x 4
 * vectors of dim in registers, each converted value vector used by every row. */
#define T512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,f16c,fma")))
#define I512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,f16c,fma"), \
	always_inline)) static inline

/* Lane j: the sum of the lanes of a[j]. */
I512 __m512 hsum16x16(const __m512 *a)
{
	__m512 b[8], c[4];
	for (int i = 0; i < 8; i++)
		b[i] = _mm512_add_ps(_mm512_unpacklo_ps(a[2 * i], a[2 * i + 1]),
		    _mm512_unpackhi_ps(a[2 * i], a[2 * i + 1]));
	for (int i = 0; i < 4; i++) {
		__m512d x = _mm512_castps_pd(b[2 * i]), y = _mm512_castps_pd(b[2 * i + 1]);
		c[i] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(x, y)),
		    _mm512_castpd_ps(_mm512_unpackhi_pd(x, y)));
	}
	/* c[i] holds keys 4i..4i+3 in each 128-bit lane: add the four lanes together. */
	__m512 e0 = _mm512_add_ps(_mm512_shuffle_f32x4(c[0], c[1], 0x88),
	    _mm512_shuffle_f32x4(c[0], c[1], 0xdd));
	__m512 e1 = _mm512_add_ps(_mm512_shuffle_f32x4(c[2], c[3], 0x88),
	    _mm512_shuffle_f32x4(c[2], c[3], 0xdd));
	return _mm512_add_ps(_mm512_shuffle_f32x4(e0, e1, 0x88),
	    _mm512_shuffle_f32x4(e0, e1, 0xdd));
}

/* S[j] = Q . Kf[j] for j < nj16 (a multiple of 16). */
I512 void scores512(const float *Q, const float *Kf, size_t dim, size_t nj16, float *S)
{
	for (size_t c = 0; c < nj16; c += 16) {
		__m512 a[16];
		_Pragma("GCC unroll 16")
		for (int j = 0; j < 16; j++)
			a[j] = _mm512_setzero_ps();
		for (size_t d = 0; d < dim; d += 16) {
			__m512 qd = _mm512_load_ps(Q + d);
			_Pragma("GCC unroll 16")
			for (int j = 0; j < 16; j++)
				a[j] = _mm512_fmadd_ps(qd, _mm512_load_ps(Kf + (c + (size_t)j) * dim + d),
				    a[j]);
		}
		_mm512_store_ps(S + c, hsum16x16(a));
	}
}

/* A[r] += sum_j S[r][j] Vf[j] for nr rows (<= 4), nd vectors of dim at a time (4, or 1 when
 * dim is not a multiple of 64). */
I512 void values512(int nr, int nd, float *A, const float *S, const float *Vf, size_t dim,
    size_t nj)
{
	for (size_t d0 = 0; d0 < dim; d0 += 16 * (size_t)nd) {
		__m512 acc[4][4];
		_Pragma("GCC unroll 4")
		for (int r = 0; r < nr; r++)
			_Pragma("GCC unroll 4")
			for (int x = 0; x < nd; x++)
				acc[r][x] = _mm512_load_ps(A + (size_t)r * dim + d0 + 16 * x);
		for (size_t j = 0; j < nj; j++) {
			__m512 vv[4];
			_Pragma("GCC unroll 4")
			for (int x = 0; x < nd; x++)
				vv[x] = _mm512_load_ps(Vf + j * dim + d0 + 16 * x);
			_Pragma("GCC unroll 4")
			for (int r = 0; r < nr; r++) {
				__m512 p = _mm512_set1_ps(S[(size_t)r * DT + j]);
				_Pragma("GCC unroll 4")
				for (int x = 0; x < nd; x++)
					acc[r][x] = _mm512_fmadd_ps(p, vv[x], acc[r][x]);
			}
		}
		_Pragma("GCC unroll 4")
		for (int r = 0; r < nr; r++)
			_Pragma("GCC unroll 4")
			for (int x = 0; x < nd; x++)
				_mm512_store_ps(A + (size_t)r * dim + d0 + 16 * x, acc[r][x]);
	}
}

T512 static void run_avx512(const float *const *q, const uint32_t *lim, size_t n_rows,
    const uint16_t *k, const uint16_t *v, size_t kv_stride, size_t n_keys, size_t dim,
    float scale, float *const *o, float *lse, float *scratch)
{
	if (dim % 16 != 0 || dim > 256)
		fatal("attn_decode: head size %zu (a multiple of 16 up to 256)", dim);
	struct dscratch s = carve(scratch, dim);
	start_rows(&s, q, n_rows, dim, scale);
	const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
	    15);
	const int nd = dim % 64 == 0 ? 4 : 1;
	for (size_t j0 = 0; j0 < n_keys; j0 += DT) {
		size_t nj = n_keys - j0 < DT ? n_keys - j0 : DT;
		size_t nj16 = (nj + 15) & ~(size_t)15;
		for (size_t j = 0; j < nj; j++) {
			const uint16_t *kp = k + (j0 + j) * kv_stride, *vp = v + (j0 + j) * kv_stride;
			if (j0 + j + DECODE_PREFETCH < n_keys)
				for (size_t d = 0; d < dim; d += 32) {
					_mm_prefetch((const char *)(kp + DECODE_PREFETCH * kv_stride + d),
					    _MM_HINT_T0);
					_mm_prefetch((const char *)(vp + DECODE_PREFETCH * kv_stride + d),
					    _MM_HINT_T0);
				}
			for (size_t d = 0; d < dim; d += 16) {
				_mm512_store_ps(s.Kf + j * dim + d, _mm512_cvtph_ps(
				    _mm256_loadu_si256((const __m256i *)(const void *)(kp + d))));
				_mm512_store_ps(s.Vf + j * dim + d, _mm512_cvtph_ps(
				    _mm256_loadu_si256((const __m256i *)(const void *)(vp + d))));
			}
		}
		for (size_t j = nj; j < nj16; j++)
			for (size_t d = 0; d < dim; d += 16) {
				_mm512_store_ps(s.Kf + j * dim + d, _mm512_setzero_ps());
				_mm512_store_ps(s.Vf + j * dim + d, _mm512_setzero_ps());
			}
		for (size_t r = 0; r < n_rows; r++) {
			float *S = s.S + r * DT;
			if (lim[r] <= j0) {
				/* this row's keys ended before the tile: weights 0 */
				for (size_t c = 0; c < nj16; c += 16)
					_mm512_store_ps(S + c, _mm512_setzero_ps());
				continue;
			}
			size_t live = lim[r] - j0 < nj ? lim[r] - j0 : nj;
			scores512(s.Q + r * dim, s.Kf, dim, nj16, S);
			__m512 mx = _mm512_set1_ps(-INFINITY);
			__m512i livev = _mm512_set1_epi32((int)live);
			for (size_t c = 0; c < nj16; c += 16) {
				__mmask16 in = _mm512_cmplt_epi32_mask(_mm512_add_epi32(iota,
				    _mm512_set1_epi32((int)c)), livev);
				__m512 sc = _mm512_mask_mov_ps(_mm512_set1_ps(-INFINITY), in,
				    _mm512_load_ps(S + c));
				_mm512_store_ps(S + c, sc);
				mx = _mm512_max_ps(mx, sc);
			}
			float mt = _mm512_reduce_max_ps(mx);
			mt = mt > s.M[r] ? mt : s.M[r];
			__m512 mtv = _mm512_set1_ps(mt), sum = _mm512_setzero_ps();
			for (size_t c = 0; c < nj16; c += 16) {
				__m512 p = simd_exp512(_mm512_sub_ps(_mm512_load_ps(S + c), mtv));
				_mm512_store_ps(S + c, p);
				sum = _mm512_add_ps(sum, p);
			}
			float alpha = rescale(&s, r, mt, _mm512_reduce_add_ps(sum));
			if (alpha != 1.0f) {
				__m512 av = _mm512_set1_ps(alpha);
				float *A = s.A + r * dim;
				for (size_t d = 0; d < dim; d += 16)
					_mm512_store_ps(A + d, _mm512_mul_ps(_mm512_load_ps(A + d), av));
			}
		}
		for (size_t r0 = 0; r0 < n_rows; r0 += 4) {
			int nr = n_rows - r0 < 4 ? (int)(n_rows - r0) : 4;
			float *A = s.A + r0 * dim;
			const float *S = s.S + r0 * DT;
			if (nd == 4) {
				switch (nr) {
				case 1: values512(1, 4, A, S, s.Vf, dim, nj); break;
				case 2: values512(2, 4, A, S, s.Vf, dim, nj); break;
				case 3: values512(3, 4, A, S, s.Vf, dim, nj); break;
				default: values512(4, 4, A, S, s.Vf, dim, nj); break;
				}
			} else {
				switch (nr) {
				case 1: values512(1, 1, A, S, s.Vf, dim, nj); break;
				case 2: values512(2, 1, A, S, s.Vf, dim, nj); break;
				case 3: values512(3, 1, A, S, s.Vf, dim, nj); break;
				default: values512(4, 1, A, S, s.Vf, dim, nj); break;
				}
			}
		}
	}
	finish_rows(&s, lim, n_rows, dim, o, lse);
}

/* --- AVX2 -----------------------------------------------------------------------------------
 * The same with 8-lane vectors and 16 registers: 8 keys per reduction, 2 rows x 4 vectors of
 * dim in the weighted sum. */
#define T256 __attribute__((target("avx2,fma,f16c")))
#define I256 __attribute__((target("avx2,fma,f16c"), always_inline)) static inline

/* Lane j: the sum of the lanes of a[j]. */
I256 __m256 hsum8x8(const __m256 *a)
{
	__m256 t0 = _mm256_hadd_ps(a[0], a[1]), t1 = _mm256_hadd_ps(a[2], a[3]);
	__m256 t2 = _mm256_hadd_ps(a[4], a[5]), t3 = _mm256_hadd_ps(a[6], a[7]);
	__m256 u0 = _mm256_hadd_ps(t0, t1), u1 = _mm256_hadd_ps(t2, t3);
	return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20),
	    _mm256_permute2f128_ps(u0, u1, 0x31));
}

I256 void scores256(const float *Q, const float *Kf, size_t dim, size_t nj8, float *S)
{
	for (size_t c = 0; c < nj8; c += 8) {
		__m256 a[8];
		_Pragma("GCC unroll 8")
		for (int j = 0; j < 8; j++)
			a[j] = _mm256_setzero_ps();
		for (size_t d = 0; d < dim; d += 8) {
			__m256 qd = _mm256_load_ps(Q + d);
			_Pragma("GCC unroll 8")
			for (int j = 0; j < 8; j++)
				a[j] = _mm256_fmadd_ps(qd, _mm256_load_ps(Kf + (c + (size_t)j) * dim + d),
				    a[j]);
		}
		_mm256_store_ps(S + c, hsum8x8(a));
	}
}

/* A[r] += sum_j S[r][j] Vf[j] for nr rows (<= 2), nd vectors of dim at a time (4 or 2). */
I256 void values256(int nr, int nd, float *A, const float *S, const float *Vf, size_t dim,
    size_t nj)
{
	for (size_t d0 = 0; d0 < dim; d0 += 8 * (size_t)nd) {
		__m256 acc[2][4];
		_Pragma("GCC unroll 4")
		for (int r = 0; r < nr; r++)
			_Pragma("GCC unroll 4")
			for (int x = 0; x < nd; x++)
				acc[r][x] = _mm256_load_ps(A + (size_t)r * dim + d0 + 8 * x);
		for (size_t j = 0; j < nj; j++) {
			__m256 vv[4];
			_Pragma("GCC unroll 4")
			for (int x = 0; x < nd; x++)
				vv[x] = _mm256_load_ps(Vf + j * dim + d0 + 8 * x);
			_Pragma("GCC unroll 4")
			for (int r = 0; r < nr; r++) {
				__m256 p = _mm256_broadcast_ss(S + (size_t)r * DT + j);
				_Pragma("GCC unroll 4")
				for (int x = 0; x < nd; x++)
					acc[r][x] = _mm256_fmadd_ps(p, vv[x], acc[r][x]);
			}
		}
		_Pragma("GCC unroll 4")
		for (int r = 0; r < nr; r++)
			_Pragma("GCC unroll 4")
			for (int x = 0; x < nd; x++)
				_mm256_store_ps(A + (size_t)r * dim + d0 + 8 * x, acc[r][x]);
	}
}

T256 static void run_avx2(const float *const *q, const uint32_t *lim, size_t n_rows,
    const uint16_t *k, const uint16_t *v, size_t kv_stride, size_t n_keys, size_t dim,
    float scale, float *const *o, float *lse, float *scratch)
{
	if (dim % 16 != 0 || dim > 256)
		fatal("attn_decode: head size %zu (a multiple of 16 up to 256)", dim);
	struct dscratch s = carve(scratch, dim);
	start_rows(&s, q, n_rows, dim, scale);
	const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
	const int nd = dim % 32 == 0 ? 4 : 2;
	for (size_t j0 = 0; j0 < n_keys; j0 += DT) {
		size_t nj = n_keys - j0 < DT ? n_keys - j0 : DT;
		size_t nj8 = (nj + 7) & ~(size_t)7;
		for (size_t j = 0; j < nj; j++) {
			const uint16_t *kp = k + (j0 + j) * kv_stride, *vp = v + (j0 + j) * kv_stride;
			if (j0 + j + DECODE_PREFETCH < n_keys)
				for (size_t d = 0; d < dim; d += 32) {
					_mm_prefetch((const char *)(kp + DECODE_PREFETCH * kv_stride + d),
					    _MM_HINT_T0);
					_mm_prefetch((const char *)(vp + DECODE_PREFETCH * kv_stride + d),
					    _MM_HINT_T0);
				}
			for (size_t d = 0; d < dim; d += 8) {
				_mm256_store_ps(s.Kf + j * dim + d, _mm256_cvtph_ps(
				    _mm_loadu_si128((const __m128i *)(const void *)(kp + d))));
				_mm256_store_ps(s.Vf + j * dim + d, _mm256_cvtph_ps(
				    _mm_loadu_si128((const __m128i *)(const void *)(vp + d))));
			}
		}
		for (size_t j = nj; j < nj8; j++)
			for (size_t d = 0; d < dim; d += 8) {
				_mm256_store_ps(s.Kf + j * dim + d, _mm256_setzero_ps());
				_mm256_store_ps(s.Vf + j * dim + d, _mm256_setzero_ps());
			}
		for (size_t r = 0; r < n_rows; r++) {
			float *S = s.S + r * DT;
			if (lim[r] <= j0) {
				for (size_t c = 0; c < nj8; c += 8)
					_mm256_store_ps(S + c, _mm256_setzero_ps());
				continue;
			}
			size_t live = lim[r] - j0 < nj ? lim[r] - j0 : nj;
			scores256(s.Q + r * dim, s.Kf, dim, nj8, S);
			__m256 mx = _mm256_set1_ps(-INFINITY);
			__m256i livev = _mm256_set1_epi32((int)live);
			for (size_t c = 0; c < nj8; c += 8) {
				__m256 in = _mm256_castsi256_ps(_mm256_cmpgt_epi32(livev,
				    _mm256_add_epi32(iota, _mm256_set1_epi32((int)c))));
				__m256 sc = _mm256_blendv_ps(_mm256_set1_ps(-INFINITY),
				    _mm256_load_ps(S + c), in);
				_mm256_store_ps(S + c, sc);
				mx = _mm256_max_ps(mx, sc);
			}
			float mt = simd_hmax256(mx);
			mt = mt > s.M[r] ? mt : s.M[r];
			__m256 mtv = _mm256_set1_ps(mt), sum = _mm256_setzero_ps();
			for (size_t c = 0; c < nj8; c += 8) {
				__m256 p = simd_exp256(_mm256_sub_ps(_mm256_load_ps(S + c), mtv));
				_mm256_store_ps(S + c, p);
				sum = _mm256_add_ps(sum, p);
			}
			float alpha = rescale(&s, r, mt, simd_hadd256(sum));
			if (alpha != 1.0f) {
				__m256 av = _mm256_set1_ps(alpha);
				float *A = s.A + r * dim;
				for (size_t d = 0; d < dim; d += 8)
					_mm256_store_ps(A + d, _mm256_mul_ps(_mm256_load_ps(A + d), av));
			}
		}
		for (size_t r0 = 0; r0 < n_rows; r0 += 2) {
			float *A = s.A + r0 * dim;
			const float *S = s.S + r0 * DT;
			int two = n_rows - r0 >= 2;
			if (nd == 4) {
				if (two)
					values256(2, 4, A, S, s.Vf, dim, nj);
				else
					values256(1, 4, A, S, s.Vf, dim, nj);
			} else {
				if (two)
					values256(2, 2, A, S, s.Vf, dim, nj);
				else
					values256(1, 2, A, S, s.Vf, dim, nj);
			}
		}
	}
	finish_rows(&s, lim, n_rows, dim, o, lse);
}
#endif

static const struct attn_decode_kernels decode_scalar = { "scalar", run_scalar };
#if defined(__x86_64__) || defined(__i386__)
static const struct attn_decode_kernels decode_avx2 = { "avx2", run_avx2 };
static const struct attn_decode_kernels decode_avx512 = { "avx512", run_avx512 };
#endif

const struct attn_decode_kernels *attn_decode_for(int level)
{
	if (!cpu_simd_supported((enum cpu_simd_level)level))
		return NULL;
	switch (level) {
#if defined(__x86_64__) || defined(__i386__)
	case CPU_SIMD_AVX512: return &decode_avx512;
	case CPU_SIMD_AVX2: return &decode_avx2;
#endif
	case CPU_SIMD_SCALAR: return &decode_scalar;
	default: return NULL;
	}
}

const struct attn_decode_kernels *attn_decode_active(void)
{
	const struct attn_decode_kernels *k = attn_decode_for(cpu_simd_level());
	return k ? k : &decode_scalar;
}
