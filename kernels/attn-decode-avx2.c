/* attn-decode-avx2.c: attn-decode.c's split-K decode attention for AVX2 + FMA + F16C,
 * compiled per function with target attributes. */
#include "kernels/attn-decode-impl.h"

#if CPU_SIMD_X86
#include <immintrin.h>
#include <math.h>

#include "kernels/simd-exp.h"
#include "kernels/simd-reduce.h"
#include "lib/util.h"

/* --- AVX2 -----------------------------------------------------------------------------------
 * As attn-decode-avx512.c with 8-lane vectors and 16 registers: 8 keys per reduction, 2 rows
 * x 4 vectors of dim in the weighted sum. */
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

const struct attn_decode_kernels attn_decode_kernels_avx2 = { "avx2", run_avx2 };
#endif
