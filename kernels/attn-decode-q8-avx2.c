/* attn-decode-q8-avx2.c: attn-decode-q8.c's split-K decode attention for AVX2 + FMA + F16C,
 * compiled per function with target attributes. */
#include "kernels/attn-decode-q8-impl.h"

#if CPU_SIMD_X86
#include <immintrin.h>
#include <math.h>

#include "kernels/quant.h"
#include "kernels/simd-exp.h"
#include "kernels/simd-reduce.h"

/* --- AVX2 -----------------------------------------------------------------------------------
 * As attn-decode-q8-avx512.c with 8-lane vectors: a 64-byte vector of a key group is two
 * 32-byte halves, keys 0-7 and 8-15. AVX2 has no u8 x s8 product that cannot saturate, so the
 * scores take ggml's sign trick: |k| times q with k's sign (vpsignb), paired by vpmaddubsw (at
 * most 2 * 128 * 127, below 2^15) and summed to int32 by vpmaddwd; the integers are those of
 * the portable kernel, and so are the scores, bit for bit. */
#define T256 __attribute__((target("avx2,fma,f16c")))
#define I256 __attribute__((target("avx2,fma,f16c"), always_inline)) static inline

/* The 8 fp16 values at p, the first n of them (the rest 0). */
I256 __m256 load_ph8(const uint16_t *p, size_t n)
{
	uint16_t t[8] = { 0 };
	if (n >= 8)
		return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)p));
	memcpy(t, p, n * sizeof(uint16_t));
	return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)t));
}

/* Scores of nr rows (<= 4, from row r0) for the 8 keys of half h of the group of key0 (the
 * keys key0 + 8h.., nvalid of them in the range), into S[r][0..7]. pf: prefetch the group's
 * lines DECODE_Q8_PREFETCH keys ahead. */
I256 void scores8(int nr, const struct attn_q8_query *const *q, size_t r0,
    const struct attn_q8_kv *kv, size_t key0, int h, size_t nvalid, size_t dim, float *S,
    int pf)
{
	const __m256i ones = _mm256_set1_epi16(1);
	const int8_t *kg = kv->k + key0 * dim + 32 * (size_t)h;
	__m256 acc[4];
	_Pragma("GCC unroll 4")
	for (int r = 0; r < nr; r++)
		acc[r] = _mm256_setzero_ps();
	for (size_t b = 0; b < dim / 32; b++) {
		__m256i isum[4];
		_Pragma("GCC unroll 4")
		for (int r = 0; r < nr; r++)
			isum[r] = _mm256_setzero_si256();
		_Pragma("GCC unroll 8")
		for (int e = 0; e < 8; e++) {
			const int8_t *at = kg + (8 * b + (size_t)e) * 64;
			if (pf && h == 0)
				_mm_prefetch((const char *)((uintptr_t)at + DECODE_Q8_PREFETCH * dim),
				    _MM_HINT_T0);
			__m256i k = _mm256_loadu_si256((const __m256i *)(const void *)at);
			__m256i ak = _mm256_sign_epi8(k, k);
			_Pragma("GCC unroll 4")
			for (int r = 0; r < nr; r++) {
				int32_t w;
				memcpy(&w, q[r0 + (size_t)r]->q + 32 * b + 4 * (size_t)e, 4);
				__m256i sq = _mm256_sign_epi8(_mm256_set1_epi32(w), k);
				isum[r] = _mm256_add_epi32(isum[r], _mm256_madd_epi16(
				    _mm256_maddubs_epi16(ak, sq), ones));
			}
		}
		if (pf && h == 0) {     /* as scores16 */
			size_t at = 2 * (b * kv->s_stride + key0 + DECODE_Q8_PREFETCH);
			_mm_prefetch((const char *)((uintptr_t)kv->ks + at), _MM_HINT_T0);
			_mm_prefetch((const char *)((uintptr_t)kv->vs + at), _MM_HINT_T0);
		}
		__m256 dk = load_ph8(kv->ks + b * kv->s_stride + key0 + 8 * (size_t)h, nvalid);
		_Pragma("GCC unroll 4")
		for (int r = 0; r < nr; r++)
			acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[r]), _mm256_mul_ps(dk,
			    _mm256_set1_ps(q[r0 + (size_t)r]->d[b])), acc[r]);
	}
	_Pragma("GCC unroll 4")
	for (int r = 0; r < nr; r++)
		_mm256_store_ps(S + (size_t)r * DT, acc[r]);
}

/* A[r] += sum_j W[r][b][j] v_j over block b (32 values, 4 vectors) of nr rows (<= 2) from
 * row r0. pf_v (or NULL): the value rows to prefetch, DECODE_Q8_PREFETCH keys ahead. */
I256 void values8(int nr, const struct qscratch *s, size_t r0, size_t dim, size_t b,
    const int8_t *v, size_t stride, size_t nj, const int8_t *pf_v)
{
	__m256 acc[2][4];
	_Pragma("GCC unroll 2")
	for (int r = 0; r < nr; r++)
		_Pragma("GCC unroll 4")
		for (int x = 0; x < 4; x++)
			acc[r][x] = _mm256_load_ps(s->A + (r0 + (size_t)r) * dim + 32 * b + 8 * (size_t)x);
	for (size_t j = 0; j < nj; j++) {
		const int8_t *vp = v + j * stride + 32 * b;
		if (pf_v != NULL)
			for (size_t d = 0; d < dim; d += 64)
				_mm_prefetch((const char *)(pf_v + j * stride + d), _MM_HINT_T0);
		__m256 vv[4];
		_Pragma("GCC unroll 4")
		for (int x = 0; x < 4; x++)
			vv[x] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(
			    (const __m128i *)(const void *)(vp + 8 * x))));
		_Pragma("GCC unroll 2")
		for (int r = 0; r < nr; r++) {
			__m256 w = _mm256_broadcast_ss(s->W + ((r0 + (size_t)r) * NB + b) * DT + j);
			_Pragma("GCC unroll 4")
			for (int x = 0; x < 4; x++)
				acc[r][x] = _mm256_fmadd_ps(w, vv[x], acc[r][x]);
		}
	}
	_Pragma("GCC unroll 2")
	for (int r = 0; r < nr; r++)
		_Pragma("GCC unroll 4")
		for (int x = 0; x < 4; x++)
			_mm256_store_ps(s->A + (r0 + (size_t)r) * dim + 32 * b + 8 * (size_t)x, acc[r][x]);
}

/* 8 int8 values times a scale, rounded to fp16 (round to nearest even). */
I256 __m128i deq8(__m128i q, float d)
{
	return _mm256_cvtps_ph(_mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)),
	    _mm256_set1_ps(d)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}

T256 static void to_fp16_avx2(const struct attn_q8_kv *kv, size_t dim, size_t j0, size_t j1,
    uint16_t *k_out, uint16_t *v_out, size_t out_stride)
{
	/* key j's four dims 4e..4e+3 are dword j % 16 of its group's vector e: gather them */
	const __m256i vidx = _mm256_setr_epi32(0, 16, 32, 48, 64, 80, 96, 112);
	for (size_t j = j0; j < j1; j++) {
		const int8_t *kg = kv->k + attn_q8_key_index(j, 0, dim);
		for (size_t b = 0; b < dim / 32; b++) {
			float dk = quant_fp16_to_f32(kv->ks[b * kv->s_stride + j]);
			float dv = quant_fp16_to_f32(kv->vs[b * kv->s_stride + j]);
			__m256i kq = _mm256_i32gather_epi32((const int *)(const void *)(kg + b * 512),
			    vidx, 4);
			const int8_t *vp = kv->v + j * kv->v_stride + b * 32;
			uint16_t *ko = k_out + j * out_stride + b * 32, *vo = v_out + j * out_stride + b * 32;
			_Pragma("GCC unroll 4")
			for (int x = 0; x < 4; x++) {
				__m128i k8 = x < 2 ? _mm256_castsi256_si128(kq) :
				    _mm256_extracti128_si256(kq, 1);
				k8 = x % 2 ? _mm_unpackhi_epi64(k8, k8) : k8;
				_mm_storeu_si128((__m128i *)(void *)(ko + 8 * x), deq8(k8, dk));
				_mm_storeu_si128((__m128i *)(void *)(vo + 8 * x), deq8(_mm_loadl_epi64(
				    (const __m128i *)(const void *)(vp + 8 * x)), dv));
			}
		}
	}
}

/* Row r's softmax step over a tile whose scores are in S (as softmax_row). */
I256 void softmax_row8(const struct qscratch *s, size_t r, size_t live, size_t nj16,
    const struct attn_q8_kv *kv, size_t j0, size_t nj, size_t dim)
{
	const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
	float *S = s->S + r * DT;
	__m256 mx = _mm256_set1_ps(-INFINITY);
	__m256i livev = _mm256_set1_epi32((int)live);
	for (size_t c = 0; c < nj16; c += 8) {
		__m256 in = _mm256_castsi256_ps(_mm256_cmpgt_epi32(livev,
		    _mm256_add_epi32(iota, _mm256_set1_epi32((int)c))));
		__m256 sc = _mm256_blendv_ps(_mm256_set1_ps(-INFINITY), _mm256_load_ps(S + c), in);
		_mm256_store_ps(S + c, sc);
		mx = _mm256_max_ps(mx, sc);
	}
	float mt = simd_hmax256(mx);
	mt = mt > s->M[r] ? mt : s->M[r];
	__m256 mtv = _mm256_set1_ps(mt), sum = _mm256_setzero_ps();
	size_t nb = dim / 32;
	for (size_t c = 0; c < nj16; c += 8) {
		__m256 p = simd_exp256(_mm256_sub_ps(_mm256_load_ps(S + c), mtv));
		sum = _mm256_add_ps(sum, p);
		size_t left = nj > c ? nj - c : 0;
		for (size_t b = 0; b < nb; b++)
			_mm256_store_ps(s->W + (r * NB + b) * DT + c, _mm256_mul_ps(p,
			    load_ph8(kv->vs + b * kv->s_stride + j0 + c, left)));
	}
	float alpha = rescale(s, r, mt, simd_hadd256(sum));
	if (alpha != 1.0f) {
		__m256 av = _mm256_set1_ps(alpha);
		float *A = s->A + r * dim;
		for (size_t d = 0; d < dim; d += 8)
			_mm256_store_ps(A + d, _mm256_mul_ps(_mm256_load_ps(A + d), av));
	}
}

T256 static void run_avx2(const struct attn_q8_query *const *q, const uint32_t *lim,
    size_t n_rows, const struct attn_q8_kv *kv, size_t n_keys, size_t dim, float *const *o,
    float *lse, float *scratch)
{
	struct qscratch s = carve(scratch, dim);
	start_rows(&s, n_rows, dim);
	size_t nb = dim / 32;
	for (size_t j0 = 0; j0 < n_keys; j0 += DT) {
		size_t nj = n_keys - j0 < DT ? n_keys - j0 : DT;
		size_t nj16 = (nj + 15) & ~(size_t)15;
		/* scores, 8 keys by up to 4 rows at a time */
		for (size_t c = 0; c < nj16; c += 8)
			for (size_t r0 = 0; r0 < n_rows; r0 += 4) {
				size_t nr = n_rows - r0 < 4 ? n_rows - r0 : 4;
				size_t key0 = j0 + (c & ~(size_t)15), left = nj > c ? nj - c : 0;
				int h = (int)(c / 8 % 2), pf = r0 == 0;
				float *S = s.S + r0 * DT + c;
				switch (nr) {
				case 1: scores8(1, q, r0, kv, key0, h, left, dim, S, pf); break;
				case 2: scores8(2, q, r0, kv, key0, h, left, dim, S, pf); break;
				case 3: scores8(3, q, r0, kv, key0, h, left, dim, S, pf); break;
				default: scores8(4, q, r0, kv, key0, h, left, dim, S, pf); break;
				}
			}
		for (size_t r = 0; r < n_rows; r++) {
			size_t live = live_keys(lim[r], j0, nj);
			if (live == 0) {
				no_weights(&s, r, nb);
				continue;
			}
			softmax_row8(&s, r, live, nj16, kv, j0, nj, dim);
		}
		const int8_t *v = kv->v + j0 * kv->v_stride;
		/* as run_avx512: the first pass over the values prefetches them a tile ahead */
		const int8_t *pf_v = (const int8_t *)((uintptr_t)v + DECODE_Q8_PREFETCH *
		    kv->v_stride);
		for (size_t b = 0; b < nb; b++)
			for (size_t r0 = 0; r0 < n_rows; r0 += 2) {
				const int8_t *fv = b == 0 && r0 == 0 ? pf_v : NULL;
				if (n_rows - r0 >= 2)
					values8(2, &s, r0, dim, b, v, kv->v_stride, nj, fv);
				else
					values8(1, &s, r0, dim, b, v, kv->v_stride, nj, fv);
			}
	}
	finish_rows(&s, lim, n_rows, dim, o, lse);
}

const struct attn_decode_q8_kernels attn_decode_q8_kernels_avx2 = { "avx2", run_avx2,
	to_fp16_avx2 };
#endif
