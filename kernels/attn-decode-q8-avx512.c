/* attn-decode-q8-avx512.c: attn-decode-q8.c's split-K decode attention for AVX-512 with VNNI
 * (F/BW/VL/DQ, F16C, FMA), compiled per function with target attributes. */
#include "kernels/attn-decode-q8-impl.h"

#if CPU_SIMD_X86
#include <immintrin.h>
#include <math.h>

#include "kernels/quant.h"
#include "kernels/simd-exp.h"

#define T512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,f16c,fma")))
#define I512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,f16c,fma"), \
	always_inline)) static inline

/* Scores of nr rows (<= 4, from row r0) for the 16 keys from key0 (a multiple of 16; nvalid
 * of them are in the range, the others' scales read as 0), into S[r][0..15]. Per block of 32
 * dims: eight vectors of the keys (four dims of 16 keys each, read as unsigned, k ^ 0x80 =
 * k + 128, for VNNI's u8 x s8 product) times the query's four values broadcast, summed in
 * int32 lanes that are the keys; each sum carries 128 times the query block's sum, which
 * comes off before the scales. */
I512 void scores16(int nr, const struct attn_q8_query *const *q, size_t r0,
    const struct attn_q8_kv *kv, size_t key0, size_t nvalid, size_t dim, float *S, int pf)
{
	__mmask16 kv16 = nvalid >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << nvalid) - 1);
	const __m512i x80 = _mm512_set1_epi8((char)0x80);
	const int8_t *kg = kv->k + key0 * dim;   /* the group of key0: 16 * dim bytes */
	__m512 acc[4];
	_Pragma("GCC unroll 4")
	for (int r = 0; r < nr; r++)
		acc[r] = _mm512_setzero_ps();
	for (size_t b = 0; b < dim / 32; b++) {
		__m512i kx[8];
		_Pragma("GCC unroll 8")
		for (int e = 0; e < 8; e++) {
			const int8_t *at = kg + (8 * b + (size_t)e) * 64;
			if (pf)
				_mm_prefetch((const char *)((uintptr_t)at + DECODE_Q8_PREFETCH * dim),
				    _MM_HINT_T0);
			kx[e] = _mm512_xor_si512(_mm512_loadu_si512((const void *)at), x80);
		}
		/* and the block's key and value scales (a line holds 32 keys'): without them the
		 * scores stall on the key scales' loads, one thread at depth 16384 taking 13-15 ms
		 * a token in decode-bench instead of 11 */
		if (pf) {
			size_t at = 2 * (b * kv->s_stride + key0 + DECODE_Q8_PREFETCH);
			_mm_prefetch((const char *)((uintptr_t)kv->ks + at), _MM_HINT_T0);
			_mm_prefetch((const char *)((uintptr_t)kv->vs + at), _MM_HINT_T0);
		}
		__m512 dk = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(kv16,
		    kv->ks + b * kv->s_stride + key0));
		_Pragma("GCC unroll 4")
		for (int r = 0; r < nr; r++) {
			const struct attn_q8_query *qr = q[r0 + (size_t)r];
			__m512i i0 = _mm512_setzero_si512(), i1 = _mm512_setzero_si512();
			_Pragma("GCC unroll 4")
			for (int e = 0; e < 8; e += 2) {
				int32_t w0, w1;
				memcpy(&w0, qr->q + 32 * b + 4 * (size_t)e, 4);
				memcpy(&w1, qr->q + 32 * b + 4 * (size_t)e + 4, 4);
				i0 = _mm512_dpbusd_epi32(i0, kx[e], _mm512_set1_epi32(w0));
				i1 = _mm512_dpbusd_epi32(i1, kx[e + 1], _mm512_set1_epi32(w1));
			}
			__m512 f = _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_add_epi32(i0, i1),
			    _mm512_set1_epi32(qr->c[b])));
			acc[r] = _mm512_fmadd_ps(f, _mm512_mul_ps(dk, _mm512_set1_ps(qr->d[b])), acc[r]);
		}
	}
	_Pragma("GCC unroll 4")
	for (int r = 0; r < nr; r++)
		_mm512_store_ps(S + (size_t)r * DT, acc[r]);
}

/* A[r] += sum_j W[r][b][j] v_j over one 64-value piece (nd = 4 vectors of 16, or 2 for a
 * last half piece) of nr rows (<= 4) from row r0; b = the piece's first block. pf_v (or
 * NULL): the value rows to prefetch, DECODE_Q8_PREFETCH keys ahead. */
I512 void values16(int nr, int nd, const struct qscratch *s, size_t r0, size_t dim, size_t p,
    const int8_t *v, size_t stride, size_t nj, const int8_t *pf_v)
{
	size_t b = p / 32;
	__m512 acc[4][4];
	_Pragma("GCC unroll 4")
	for (int r = 0; r < nr; r++)
		_Pragma("GCC unroll 4")
		for (int x = 0; x < nd; x++)
			acc[r][x] = _mm512_load_ps(s->A + (r0 + (size_t)r) * dim + p + 16 * (size_t)x);
	for (size_t j = 0; j < nj; j++) {
		const int8_t *vp = v + j * stride + p;
		if (pf_v != NULL)
			for (size_t d = 0; d < dim; d += 64)
				_mm_prefetch((const char *)(pf_v + j * stride + d), _MM_HINT_T0);
		__m512 vv[4];
		_Pragma("GCC unroll 4")
		for (int x = 0; x < nd; x++)
			vv[x] = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(
			    (const __m128i *)(const void *)(vp + 16 * x))));
		_Pragma("GCC unroll 4")
		for (int r = 0; r < nr; r++) {
			const float *W = s->W + ((r0 + (size_t)r) * NB + b) * DT + j;
			__m512 w0 = _mm512_set1_ps(W[0]);
			__m512 w1 = nd == 4 ? _mm512_set1_ps(W[DT]) : w0;
			_Pragma("GCC unroll 4")
			for (int x = 0; x < nd; x++)
				acc[r][x] = _mm512_fmadd_ps(x < 2 ? w0 : w1, vv[x], acc[r][x]);
		}
	}
	_Pragma("GCC unroll 4")
	for (int r = 0; r < nr; r++)
		_Pragma("GCC unroll 4")
		for (int x = 0; x < nd; x++)
			_mm512_store_ps(s->A + (r0 + (size_t)r) * dim + p + 16 * (size_t)x, acc[r][x]);
}

/* 16 int8 values times a scale, rounded to fp16 (round to nearest even, as the scalar
 * conversion). */
I512 __m256i deq16(__m128i q, float d)
{
	return _mm512_cvtps_ph(_mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q)),
	    _mm512_set1_ps(d)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}

T512 static void to_fp16_avx512(const struct attn_q8_kv *kv, size_t dim, size_t j0, size_t j1,
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
			__m256i vq = _mm256_loadu_si256((const __m256i *)(const void *)
			    (kv->v + j * kv->v_stride + b * 32));
			uint16_t *ko = k_out + j * out_stride + b * 32, *vo = v_out + j * out_stride + b * 32;
			_mm256_storeu_si256((__m256i *)(void *)ko, deq16(_mm256_castsi256_si128(kq), dk));
			_mm256_storeu_si256((__m256i *)(void *)(ko + 16),
			    deq16(_mm256_extracti128_si256(kq, 1), dk));
			_mm256_storeu_si256((__m256i *)(void *)vo, deq16(_mm256_castsi256_si128(vq), dv));
			_mm256_storeu_si256((__m256i *)(void *)(vo + 16),
			    deq16(_mm256_extracti128_si256(vq, 1), dv));
		}
	}
}

/* Row r's softmax step over a tile whose scores are in S: mask the keys it does not see,
 * fold the tile into its running maximum and sum, shrink its accumulators, and leave the
 * probabilities times each value block's scale in W. */
I512 void softmax_row(const struct qscratch *s, size_t r, size_t live, size_t nj16,
    const struct attn_q8_kv *kv, size_t j0, size_t nj, size_t dim)
{
	const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13,
	    14, 15);
	float *S = s->S + r * DT;
	__m512 mx = _mm512_set1_ps(-INFINITY);
	__m512i livev = _mm512_set1_epi32((int)live);
	for (size_t c = 0; c < nj16; c += 16) {
		__mmask16 in = _mm512_cmplt_epi32_mask(_mm512_add_epi32(iota,
		    _mm512_set1_epi32((int)c)), livev);
		__m512 sc = _mm512_mask_mov_ps(_mm512_set1_ps(-INFINITY), in, _mm512_load_ps(S + c));
		_mm512_store_ps(S + c, sc);
		mx = _mm512_max_ps(mx, sc);
	}
	float mt = _mm512_reduce_max_ps(mx);
	mt = mt > s->M[r] ? mt : s->M[r];
	__m512 mtv = _mm512_set1_ps(mt), sum = _mm512_setzero_ps();
	size_t nb = dim / 32;
	for (size_t c = 0; c < nj16; c += 16) {
		__m512 p = simd_exp512(_mm512_sub_ps(_mm512_load_ps(S + c), mtv));
		sum = _mm512_add_ps(sum, p);
		size_t left = nj - c;
		__mmask16 valid = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
		for (size_t b = 0; b < nb; b++) {
			__m512 dv = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(valid,
			    kv->vs + b * kv->s_stride + j0 + c));
			_mm512_store_ps(s->W + (r * NB + b) * DT + c, _mm512_mul_ps(p, dv));
		}
	}
	float alpha = rescale(s, r, mt, _mm512_reduce_add_ps(sum));
	if (alpha != 1.0f) {
		__m512 av = _mm512_set1_ps(alpha);
		float *A = s->A + r * dim;
		for (size_t d = 0; d < dim; d += 16)
			_mm512_store_ps(A + d, _mm512_mul_ps(_mm512_load_ps(A + d), av));
	}
}

T512 static void run_avx512(const struct attn_q8_query *const *q, const uint32_t *lim,
    size_t n_rows, const struct attn_q8_kv *kv, size_t n_keys, size_t dim, float *const *o,
    float *lse, float *scratch)
{
	struct qscratch s = carve(scratch, dim);
	start_rows(&s, n_rows, dim);
	size_t nb = dim / 32;
	for (size_t j0 = 0; j0 < n_keys; j0 += DT) {
		size_t nj = n_keys - j0 < DT ? n_keys - j0 : DT;
		size_t nj16 = (nj + 15) & ~(size_t)15;
		/* scores, 16 keys by up to 4 rows at a time */
		for (size_t c = 0; c < nj16; c += 16)
			for (size_t r0 = 0; r0 < n_rows; r0 += 4) {
				size_t nr = n_rows - r0 < 4 ? n_rows - r0 : 4, left = nj - c;
				float *S = s.S + r0 * DT + c;
				switch (nr) {
				case 1: scores16(1, q, r0, kv, j0 + c, left, dim, S, r0 == 0); break;
				case 2: scores16(2, q, r0, kv, j0 + c, left, dim, S, r0 == 0); break;
				case 3: scores16(3, q, r0, kv, j0 + c, left, dim, S, r0 == 0); break;
				default: scores16(4, q, r0, kv, j0 + c, left, dim, S, r0 == 0); break;
				}
			}
		for (size_t r = 0; r < n_rows; r++) {
			size_t live = live_keys(lim[r], j0, nj);
			if (live == 0) {
				no_weights(&s, r, nb);
				continue;
			}
			softmax_row(&s, r, live, nj16, kv, j0, nj, dim);
		}
		const int8_t *v = kv->v + j0 * kv->v_stride;
		/* the first pass over the tile's values prefetches their rows DECODE_Q8_PREFETCH keys
		 * ahead, as the first pass of the scores does the keys, past the end of the range
		 * too: the next range's are usually the caller's next ones, and a prefetch never
		 * faults */
		const int8_t *pf_v = (const int8_t *)((uintptr_t)v + DECODE_Q8_PREFETCH *
		    kv->v_stride);
		for (size_t p = 0; p < dim; p += 64) {
			int nd = dim - p >= 64 ? 4 : 2;
			for (size_t r0 = 0; r0 < n_rows; r0 += 4) {
				size_t nr = n_rows - r0 < 4 ? n_rows - r0 : 4;
				const int8_t *fv = p == 0 && r0 == 0 ? pf_v : NULL;
#define VALUES(NR, ND) values16(NR, ND, &s, r0, dim, p, v, kv->v_stride, nj, fv)
				if (nd == 4) {
					switch (nr) {
					case 1: VALUES(1, 4); break;
					case 2: VALUES(2, 4); break;
					case 3: VALUES(3, 4); break;
					default: VALUES(4, 4); break;
					}
				} else {
					switch (nr) {
					case 1: VALUES(1, 2); break;
					case 2: VALUES(2, 2); break;
					case 3: VALUES(3, 2); break;
					default: VALUES(4, 2); break;
					}
				}
#undef VALUES
			}
		}
	}
	finish_rows(&s, lim, n_rows, dim, o, lse);
}

const struct attn_decode_q8_kernels attn_decode_q8_kernels_avx512 = { "avx512", run_avx512,
	to_fp16_avx512 };
#endif
