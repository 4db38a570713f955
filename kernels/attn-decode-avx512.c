/* attn-decode-avx512.c: attn-decode.c's split-K decode attention for AVX-512 (F/BW/VL/DQ,
 * F16C, FMA), compiled per function with target attributes. */
#include "kernels/attn-decode-impl.h"

#if CPU_SIMD_X86
#include <immintrin.h>
#include <math.h>

#include "kernels/simd-exp.h"
#include "lib/util.h"

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

const struct attn_decode_kernels attn_decode_kernels_avx512 = { "avx512", run_avx512 };
#endif
