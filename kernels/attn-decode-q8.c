/* attn-decode-q8.c: split-K decode attention over q8_0 keys and values (kernels/
 * attn-decode-q8.h), in portable C, AVX2 and AVX-512 with VNNI. */
#include "kernels/attn-decode-q8.h"

#include <math.h>
#include <string.h>

#include "kernels/attn-merge.h"
#include "kernels/cpu-features.h"
#include "kernels/quant.h"
#include "kernels/simd-exp.h"
#include "kernels/simd-reduce.h"
#include "lib/util.h"

#define DR ATTN_DECODE_Q8_MAX_ROWS
#define DT ATTN_DECODE_Q8_TILE
#define NB (ATTN_DECODE_Q8_MAX_DIM / 32)   /* blocks of a row, at most */

/* Scratch layout (floats), every part a multiple of 16 floats: A[DR][dim] (output
 * accumulators, not yet divided by the softmax sum), S[DR][DT] (a tile's scores, then its
 * probabilities), W[DR][NB][DT] (the probabilities times each value block's scale), M[DR]
 * and L[DR] (running maximum score and sum of exp(score - maximum)). */
size_t attn_decode_q8_scratch_floats(size_t dim)
{
	return DR * dim + DR * DT + DR * NB * DT + 2 * DR;
}

struct qscratch {
	float *A, *S, *W, *M, *L;
};

static struct qscratch carve(float *scratch, size_t dim)
{
	struct qscratch s;
	s.A = scratch;
	s.S = s.A + DR * dim;
	s.W = s.S + DR * DT;
	s.M = s.W + DR * NB * DT;
	s.L = s.M + DR;
	return s;
}

void attn_decode_q8_query(const float *x, size_t dim, float scale, struct attn_q8_query *out)
{
	if (dim % 32 != 0 || dim > ATTN_DECODE_Q8_MAX_DIM)
		fatal("attn_decode_q8: head size %zu (a multiple of 32 up to %d)", dim,
		    ATTN_DECODE_Q8_MAX_DIM);
	struct block_q8_0 blk[NB];
	quant_quantize_row_q8_0(x, blk, dim);
	for (size_t b = 0; b < dim / 32; b++) {
		int32_t sum = 0;
		for (int i = 0; i < 32; i++) {
			out->q[b * 32 + (size_t)i] = blk[b].qs[i];
			sum += blk[b].qs[i];
		}
		out->d[b] = quant_fp16_to_f32(blk[b].d) * scale;
		out->c[b] = 128 * sum;
	}
}

static void start_rows(const struct qscratch *s, size_t n_rows, size_t dim)
{
	if (n_rows == 0 || n_rows > DR)
		fatal("attn_decode_q8: %zu query rows (1..%d)", n_rows, DR);
	for (size_t r = 0; r < n_rows; r++) {
		memset(s->A + r * dim, 0, dim * sizeof(float));
		s->M[r] = -INFINITY;
		s->L[r] = 0.0f;
	}
}

static void finish_rows(const struct qscratch *s, const uint32_t *lim, size_t n_rows,
    size_t dim, float *const *o, float *lse)
{
	for (size_t r = 0; r < n_rows; r++)
		attn_online_finish(s->A + r * dim, s->M[r], s->L[r], lim[r] != 0, (int)dim, o[r],
		    &lse[r]);
}

/* Fold row r's tile (maximum mt, sum of exponentials tile_sum) into its running state;
 * returns the factor by which its accumulators must shrink. */
static inline float rescale(const struct qscratch *s, size_t r, float mt, float tile_sum)
{
	return attn_online_step(&s->M[r], &s->L[r], mt, tile_sum);
}

/* Row r sees none of the tile: its weights (nb blocks of them) are 0. */
static void no_weights(const struct qscratch *s, size_t r, size_t nb)
{
	for (size_t b = 0; b < nb; b++)
		memset(s->W + (r * NB + b) * DT, 0, DT * sizeof(float));
}

/* The keys within a tile that row r sees. */
static inline size_t live_keys(uint32_t lim, size_t j0, size_t nj)
{
	return lim <= j0 ? 0 : lim - j0 < nj ? lim - j0 : nj;
}

static void run_scalar(const struct attn_q8_query *const *q, const uint32_t *lim,
    size_t n_rows, const struct attn_q8_kv *kv, size_t n_keys, size_t dim, float *const *o,
    float *lse, float *scratch)
{
	struct qscratch s = carve(scratch, dim);
	start_rows(&s, n_rows, dim);
	size_t nb = dim / 32;
	for (size_t j0 = 0; j0 < n_keys; j0 += DT) {
		size_t nj = n_keys - j0 < DT ? n_keys - j0 : DT;
		for (size_t r = 0; r < n_rows; r++) {
			size_t live = live_keys(lim[r], j0, nj);
			if (live == 0)
				continue;
			float *S = s.S + r * DT, *A = s.A + r * dim, mt = s.M[r], sum = 0.0f;
			const int8_t *qi = q[r]->q;
			for (size_t j = 0; j < live; j++) {
				float sc = 0.0f;
				for (size_t b = 0; b < nb; b++) {
					int32_t isum = 0;
					for (size_t i = b * 32; i < b * 32 + 32; i++)
						isum += (int32_t)qi[i] * kv->k[attn_q8_key_index(j0 + j, i, dim)];
					float dk = quant_fp16_to_f32(kv->ks[b * kv->s_stride + j0 + j]);
					sc = fmaf((float)isum, dk * q[r]->d[b], sc);
				}
				S[j] = sc;
				mt = sc > mt ? sc : mt;
			}
			for (size_t j = 0; j < live; j++)
				sum += (S[j] = expf(S[j] - mt));
			float alpha = rescale(&s, r, mt, sum);
			for (size_t d = 0; d < dim; d++)
				A[d] *= alpha;
			for (size_t j = 0; j < live; j++) {
				const int8_t *v = kv->v + (j0 + j) * kv->v_stride;
				for (size_t b = 0; b < nb; b++) {
					float w = S[j] * quant_fp16_to_f32(kv->vs[b * kv->s_stride + j0 + j]);
					for (size_t d = b * 32; d < b * 32 + 32; d++)
						A[d] = fmaf(w, (float)v[d], A[d]);
				}
			}
		}
	}
	finish_rows(&s, lim, n_rows, dim, o, lse);
}

static void to_fp16_scalar(const struct attn_q8_kv *kv, size_t dim, size_t j0, size_t j1,
    uint16_t *k_out, uint16_t *v_out, size_t out_stride)
{
	for (size_t j = j0; j < j1; j++)
		for (size_t i = 0; i < dim; i++) {
			float dk = quant_fp16_to_f32(kv->ks[i / 32 * kv->s_stride + j]);
			float dv = quant_fp16_to_f32(kv->vs[i / 32 * kv->s_stride + j]);
			k_out[j * out_stride + i] = quant_f32_to_fp16(dk *
			    (float)kv->k[attn_q8_key_index(j, i, dim)]);
			v_out[j * out_stride + i] = quant_f32_to_fp16(dv *
			    (float)kv->v[j * kv->v_stride + i]);
		}
}

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

/* Keys ahead whose rows are prefetched (into L1), from the values pass, which comes after
 * the scores of the same tile: a tile (64 keys) ahead measured best, twice as fast as half a
 * tile at depth 16384; 96 and 128 no better, nor prefetches into L2 128 to 512 keys ahead. */
#ifndef DECODE_Q8_PREFETCH
#define DECODE_Q8_PREFETCH 64
#endif

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
/* --- AVX2 -----------------------------------------------------------------------------------
 * The same with 8-lane vectors: a 64-byte vector of a key group is two 32-byte halves, keys
 * 0-7 and 8-15. AVX2 has no u8 x s8 product that cannot saturate, so the scores take ggml's
 * sign trick: |k| times q with k's sign (vpsignb), paired by vpmaddubsw (at most 2 * 128 * 127,
 * below 2^15) and summed to int32 by vpmaddwd; the integers are those of the portable kernel,
 * and so are the scores, bit for bit. */
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
#endif

static const struct attn_decode_q8_kernels decode_q8_scalar = { "scalar", run_scalar,
	to_fp16_scalar };
#if defined(__x86_64__) || defined(__i386__)
static const struct attn_decode_q8_kernels decode_q8_avx2 = { "avx2", run_avx2, to_fp16_avx2 };
static const struct attn_decode_q8_kernels decode_q8_avx512 = { "avx512", run_avx512,
	to_fp16_avx512 };
#endif

const struct attn_decode_q8_kernels *attn_decode_q8_for(int level)
{
	if (!cpu_simd_supported((enum cpu_simd_level)level))
		return NULL;
	switch (level) {
#if defined(__x86_64__) || defined(__i386__)
	case CPU_SIMD_AVX512: return &decode_q8_avx512;
	case CPU_SIMD_AVX2: return &decode_q8_avx2;
#endif
	case CPU_SIMD_SCALAR: return &decode_q8_scalar;
	default: return NULL;
	}
}

const struct attn_decode_q8_kernels *attn_decode_q8_active(void)
{
	const struct attn_decode_q8_kernels *k = attn_decode_q8_for(cpu_simd_level());
	return k ? k : &decode_q8_scalar;
}
