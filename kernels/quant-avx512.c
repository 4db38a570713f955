/* quant-avx512.c: dot-product kernels for AVX-512 F/BW/VL with VNNI, compiled per function with
 * target attributes. The 32-element block types follow ggml's order of float operations (see
 * quant.c) and so work on 256-bit vectors, with vpdpbusd for the integer sums; the
 * K-quants take 64 elements at a time and apply sub-block scales with vpdpwssd.
 *
 * bf16 weights are widened exactly to f32 (a shift) and multiplied in f32: AVX512-BF16's
 * vdpbf16ps would need the activations rounded to bf16 too, losing accuracy, for a product that
 * is bound by memory anyway. */
#include "kernels/quant-impl.h"

#if CPU_SIMD_X86
#include <immintrin.h>

#ifndef QUANT_PREFETCH_GROUPS
#define QUANT_PREFETCH_GROUPS 4   /* how many groups of rows ahead dot32_rows_zmm prefetches */
#endif
#define AVX512_TARGET "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni"
#define AVX512 __attribute__((target(AVX512_TARGET)))
#define AVX512_INLINE static inline __attribute__((always_inline, target(AVX512_TARGET)))

AVX512_INLINE float load_fp16(const uint8_t *p)
{
	uint16_t h;
	memcpy(&h, p, sizeof h);
	return _cvtsh_ss(h);
}

AVX512_INLINE __m128i load128(const uint8_t *p)
{
	return _mm_loadu_si128((const __m128i *)(const void *)p);
}

AVX512_INLINE __m256i load256(const void *p)
{
	return _mm256_loadu_si256((const __m256i *)p);
}

AVX512_INLINE float hsum8(__m256 v)
{
	__m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

/* ggml's sum of q4_K's 4 minimum lanes: lanes 0+2 and 1+3, then those two. */
AVX512_INLINE float hsum4(__m128 v)
{
	__m128 s = _mm_add_ps(v, _mm_movehl_ps(v, v));
	s = _mm_add_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

/* Integer horizontal sums (exact, any order). */
AVX512_INLINE int hsum4i(__m128i v)
{
	v = _mm_add_epi32(v, _mm_shuffle_epi32(v, _MM_SHUFFLE(1, 0, 3, 2)));
	v = _mm_add_epi32(v, _mm_shuffle_epi32(v, _MM_SHUFFLE(2, 3, 0, 1)));
	return _mm_cvtsi128_si32(v);
}

AVX512_INLINE int hsum8i(__m256i v)
{
	return hsum4i(_mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1)));
}

/* --- 32-element block types --------------------------------------------------------------- */

enum kind { KIND_Q4_0, KIND_Q4_1, KIND_Q5_0, KIND_Q5_1, KIND_Q8_0 };

#define KIND_BYTES(kind) ((kind) == KIND_Q4_0 ? 18 : (kind) == KIND_Q4_1 ? 20 : \
	(kind) == KIND_Q5_0 ? 22 : (kind) == KIND_Q5_1 ? 24 : 34)

AVX512_INLINE __m256i unpack_nibbles(const uint8_t *qs)
{
	const __m128i m4 = _mm_set1_epi8(0xf);
	__m128i v = load128(qs);
	return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), m4), _mm_and_si128(v, m4));
}

/* One block's 32 weight values, as quant.c's block_values() has them: unsigned u for
 * q4_1/q5_1 (with *m the minimum), signed values for the others. */
AVX512_INLINE __m256i block_w(const uint8_t *b, const enum kind kind, float *m)
{
	const __m256i sixteen = _mm256_set1_epi8(16);
	switch (kind) {
	case KIND_Q4_0:
		return _mm256_sub_epi8(unpack_nibbles(b + 2), _mm256_set1_epi8(8));
	case KIND_Q4_1:
		*m = load_fp16(b + 2);
		return unpack_nibbles(b + 4);
	case KIND_Q5_0: {
		__m256i u = unpack_nibbles(b + 6);
		return _mm256_sub_epi8(_mm256_mask_add_epi8(u, (__mmask32)load_u32_le(b + 2), u,
		    sixteen), sixteen);
	}
	case KIND_Q5_1: {
		*m = load_fp16(b + 2);
		__m256i u = unpack_nibbles(b + 8);
		return _mm256_mask_add_epi8(u, (__mmask32)load_u32_le(b + 4), u, sixteen);
	}
	default:
		return load256(b + 2);
	}
}

/* ggml's order (see quant.c), with vpdpbusd for the integer sums of 4 products: one fma
 * per block and lane into one 8-lane accumulator per activation row, ggml's horizontal sum,
 * then the minimum terms. */
AVX512_INLINE void dot32(size_t n, const uint8_t *b, const unsigned char *act, size_t stride,
    const int nx, float *out, const enum kind kind)
{
	const size_t bs = KIND_BYTES(kind);
	const int has_m = kind == KIND_Q4_1 || kind == KIND_Q5_1;
	const size_t nb = n / 32;
	const int8_t *q[QUANT_MAX_NX];
	const float *s[QUANT_MAX_NX], *dx[QUANT_MAX_NX];
	__m256 acc[QUANT_MAX_NX];
	float summs[QUANT_MAX_NX];
#pragma GCC unroll 4
	for (int t = 0; t < nx; t++) {
		const unsigned char *row = act + (size_t)t * stride;
		q[t] = act_q(row);
		s[t] = act_s_q8_0(row, n);
		dx[t] = act_dx_q8_0(row, n);
		acc[t] = _mm256_setzero_ps();
		summs[t] = 0;
	}
	const __m256i zero = _mm256_setzero_si256();
	for (size_t i = 0; i < nb; i++, b += bs) {
		float m = 0;
		__m256i w = block_w(b, kind, &m);
		/* signed weights: |w| against the activations with w's sign (exact: |w| <= 128
		 * and the activations are never -128) */
		__m256i u = has_m ? w : _mm256_sign_epi8(w, w);
		__m256 dv = _mm256_set1_ps(load_fp16(b));
#pragma GCC unroll 4
		for (int t = 0; t < nx; t++) {
			__m256i a = load256(q[t] + 32 * i);
			if (!has_m)
				a = _mm256_sign_epi8(a, w);
			__m256i p = _mm256_dpbusd_epi32(zero, u, a);
			acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(dv, _mm256_load_ps(dx[t] + 8 * i)),
			    _mm256_cvtepi32_ps(p), acc[t]);
			if (has_m)
				summs[t] = QUANT_SUMMS(summs[t], m, s[t][i]);
		}
	}
#pragma GCC unroll 4
	for (int t = 0; t < nx; t++)
		out[t] = hsum8(acc[t]) + summs[t];
}

/* Each exported kernel expands its template for nx = 1..4 (accumulators stay in registers)
 * and splits a larger nx into groups of QUANT_MAX_NX. */
#define KERNEL_FN(name, tmpl, arg)                                                       \
	static AVX512 void name(size_t n, const void *w, const unsigned char *act,       \
	    size_t stride, int nx, float *out)                                           \
	{                                                                                \
		for (; nx > QUANT_MAX_NX; nx -= QUANT_MAX_NX, act += QUANT_MAX_NX * stride, \
		    out += QUANT_MAX_NX)                                                 \
			tmpl(n, w, act, stride, QUANT_MAX_NX, out, arg);                 \
		if (nx == 1) tmpl(n, w, act, stride, 1, out, arg);                       \
		else if (nx == 2) tmpl(n, w, act, stride, 2, out, arg);                  \
		else if (nx == 3) tmpl(n, w, act, stride, 3, out, arg);                  \
		else if (nx == 4) tmpl(n, w, act, stride, 4, out, arg);                  \
	}

KERNEL_FN(dot_q4_0, dot32, KIND_Q4_0)
KERNEL_FN(dot_q4_1, dot32, KIND_Q4_1)
KERNEL_FN(dot_q5_0, dot32, KIND_Q5_0)
KERNEL_FN(dot_q5_1, dot32, KIND_Q5_1)
KERNEL_FN(dot_q8_0, dot32, KIND_Q8_0)

/* QUANT_ROWS_NW (4) weight rows against nx activation rows on 512-bit vectors: rows 2p and
 * 2p+1 share a vector, lanes 0-7 and 8-15, each half holding exactly the 8 lane sums and the 8
 * accumulators of dot32() for its row, so every float operation is dot32()'s (bit-identical
 * results) while each instruction does the work of two. The activation block is loaded once
 * for all four rows. The block headers of the four rows (scale, and minimum for q4_1/q5_1)
 * are converted together. Signed weights go in as |w| with w's sign moved onto the activations,
 * as dot32() does with vpsignb, which has no 512-bit form: a masked negation instead. */

/* Rows r and r+1's 32 values of one block (block_w()'s values) in bytes 0-31 and 32-63. The
 * nibbles become [lo(r) hi(r) lo(r+1) hi(r+1)] by duplicating each row's 16 bytes and
 * shifting the upper copy by 4. */
AVX512_INLINE __m512i pair_w(const uint8_t *b0, const uint8_t *b1, const enum kind kind)
{
	if (kind == KIND_Q8_0)
		return _mm512_inserti64x4(_mm512_castsi256_si512(load256(b0 + 2)), load256(b1 + 2),
		    1);
	const size_t qs = kind == KIND_Q4_0 ? 2 : kind == KIND_Q4_1 ? 4 : kind == KIND_Q5_0 ? 6 : 8;
	const __m512i shift = _mm512_setr_epi64(0, 0, 4, 4, 0, 0, 4, 4);
	const __m512i sixteen = _mm512_set1_epi8(16);
	__m512i w = _mm512_castsi256_si512(_mm256_inserti128_si256(
	    _mm256_castsi128_si256(load128(b0 + qs)), load128(b1 + qs), 1));
	w = _mm512_and_si512(_mm512_srlv_epi64(_mm512_shuffle_i64x2(w, w, 0x50), shift),
	    _mm512_set1_epi8(0x0f));
	if (kind == KIND_Q5_0 || kind == KIND_Q5_1) {
		const size_t qh = kind == KIND_Q5_0 ? 2 : 4;
		__mmask64 h = (__mmask64)load_u32_le(b0 + qh) |
		    (__mmask64)load_u32_le(b1 + qh) << 32;
		w = _mm512_mask_add_epi8(w, h, w, sixteen);
	}
	if (kind == KIND_Q4_0)
		w = _mm512_sub_epi8(w, _mm512_set1_epi8(8));
	else if (kind == KIND_Q5_0)
		w = _mm512_sub_epi8(w, sixteen);
	return w;
}

AVX512_INLINE void dot32_rows_zmm(size_t n, const uint8_t *w, size_t w_stride,
    const unsigned char *act, size_t stride, const int nx, float *out, size_t out_stride,
    const enum kind kind)
{
	_Static_assert(QUANT_ROWS_NW == 4, "dot32_rows_zmm pairs four rows");
	const size_t bs = KIND_BYTES(kind);
	const int has_m = kind == KIND_Q4_1 || kind == KIND_Q5_1;
	const size_t nb = n / 32;
	const int8_t *q[QUANT_ROWS_MAX_NX];
	const float *s[QUANT_ROWS_MAX_NX], *dx[QUANT_ROWS_MAX_NX];
	__m512 acc[QUANT_ROWS_MAX_NX][2];
	__m128 summs[QUANT_ROWS_MAX_NX];
#pragma GCC unroll 8
	for (int t = 0; t < nx; t++) {
		const unsigned char *row = act + (size_t)t * stride;
		q[t] = act_q(row);
		s[t] = act_s_q8_0(row, n);
		dx[t] = act_dx_q8_0(row, n);
		acc[t][0] = acc[t][1] = _mm512_setzero_ps();
		summs[t] = _mm_setzero_ps();
	}
	const __m512i zero = _mm512_setzero_si512();
	/* [d0 x0 d1 x1 d2 x2 d3 x3] (x: the minimum where there is one, else the next two bytes
	 * of the block, unused) -> [d0 x8, d1 x8], [d2 x8, d3 x8], [x0 x1 x2 x3] */
	const __m512i i01 = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 2, 2, 2);
	const __m512i i23 = _mm512_setr_epi32(4, 4, 4, 4, 4, 4, 4, 4, 6, 6, 6, 6, 6, 6, 6, 6);
	const __m256i im = _mm256_setr_epi32(1, 3, 5, 7, 1, 3, 5, 7);
	/* The rows lie one after the other, so a matrix is one stream of bytes; but read four
	 * short rows at a time it looks to the hardware prefetcher like four streams too short
	 * to detect. Prefetch the group after next ourselves, spread over this group's blocks
	 * (prefetches never fault, so running past the matrix's end is harmless). */
	const size_t span = 4 * w_stride;
	const uint8_t *ahead = w + QUANT_PREFETCH_GROUPS * span;
	size_t pf = 0;
	for (size_t i = 0; i < nb; i++) {
		for (size_t pf_end = span * (i + 1) / nb; pf < pf_end; pf += 64)
			_mm_prefetch((const char *)(ahead + pf), _MM_HINT_T0);
		const uint8_t *b0 = w + i * bs, *b1 = b0 + w_stride;
		const uint8_t *b2 = b1 + w_stride, *b3 = b2 + w_stride;
		__m128i hdr = _mm_cvtsi32_si128((int)load_u32_le(b0));
		hdr = _mm_insert_epi32(hdr, (int)load_u32_le(b1), 1);
		hdr = _mm_insert_epi32(hdr, (int)load_u32_le(b2), 2);
		hdr = _mm_insert_epi32(hdr, (int)load_u32_le(b3), 3);
		__m256 dm = _mm256_cvtph_ps(hdr);
		__m512 dmz = _mm512_castps256_ps512(dm);
		__m512 d01 = _mm512_permutexvar_ps(i01, dmz), d23 = _mm512_permutexvar_ps(i23, dmz);
		__m128 mv = has_m ? _mm256_castps256_ps128(_mm256_permutevar8x32_ps(dm, im))
		    : _mm_setzero_ps();
		__m512i w01 = pair_w(b0, b1, kind), w23 = pair_w(b2, b3, kind);
		__m512i u01 = has_m ? w01 : _mm512_abs_epi8(w01);
		__m512i u23 = has_m ? w23 : _mm512_abs_epi8(w23);
		__mmask64 n01 = has_m ? 0 : _mm512_movepi8_mask(w01);
		__mmask64 n23 = has_m ? 0 : _mm512_movepi8_mask(w23);
#pragma GCC unroll 8
		for (int t = 0; t < nx; t++) {
			__m512i a = _mm512_broadcast_i64x4(load256(q[t] + 32 * i));
			__m512i a01 = a, a23 = a;
			if (!has_m) {
				/* exact: the activations are never -128 */
				a01 = _mm512_mask_sub_epi8(a, n01, zero, a);
				a23 = _mm512_mask_sub_epi8(a, n23, zero, a);
			}
			__m512 da = _mm512_set1_ps(dx[t][8 * i]);
			acc[t][0] = _mm512_fmadd_ps(_mm512_mul_ps(d01, da),
			    _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(zero, u01, a01)), acc[t][0]);
			acc[t][1] = _mm512_fmadd_ps(_mm512_mul_ps(d23, da),
			    _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(zero, u23, a23)), acc[t][1]);
			if (has_m)
				summs[t] = _mm_fmadd_ps(mv, _mm_set1_ps(s[t][i]), summs[t]);
		}
	}
#pragma GCC unroll 8
	for (int t = 0; t < nx; t++) {
		float sm[4];
		_mm_storeu_ps(sm, summs[t]);
		float *o = out + (size_t)t * out_stride;
		for (int p = 0; p < 2; p++) {
			__m512 a = acc[t][p];
			o[2 * p] = hsum8(_mm512_castps512_ps256(a)) + sm[2 * p];
			o[2 * p + 1] = hsum8(_mm256_castpd_ps(_mm512_extractf64x4_pd(
			    _mm512_castps_pd(a), 1))) + sm[2 * p + 1];
		}
	}
}

/* Each rows kernel expands its template for nx = 1..QUANT_ROWS_MAX_NX (accumulators stay in
 * registers) and splits a larger nx. */
#define ROWS_DISPATCH(tmpl, ...)                                                         \
	for (; nx > QUANT_ROWS_MAX_NX; nx -= QUANT_ROWS_MAX_NX,                          \
	    act += QUANT_ROWS_MAX_NX * stride, out += QUANT_ROWS_MAX_NX * out_stride)    \
		tmpl(n, w, w_stride, act, stride, QUANT_ROWS_MAX_NX, out, out_stride __VA_ARGS__); \
	switch (nx) {                                                                    \
	case 1: tmpl(n, w, w_stride, act, stride, 1, out, out_stride __VA_ARGS__); break; \
	case 2: tmpl(n, w, w_stride, act, stride, 2, out, out_stride __VA_ARGS__); break; \
	case 3: tmpl(n, w, w_stride, act, stride, 3, out, out_stride __VA_ARGS__); break; \
	case 4: tmpl(n, w, w_stride, act, stride, 4, out, out_stride __VA_ARGS__); break; \
	case 5: tmpl(n, w, w_stride, act, stride, 5, out, out_stride __VA_ARGS__); break; \
	case 6: tmpl(n, w, w_stride, act, stride, 6, out, out_stride __VA_ARGS__); break; \
	case 7: tmpl(n, w, w_stride, act, stride, 7, out, out_stride __VA_ARGS__); break; \
	case 8: tmpl(n, w, w_stride, act, stride, 8, out, out_stride __VA_ARGS__); break; \
	default: break;                                                                  \
	}

#define ROWS_FN(name, kind)                                                              \
	static AVX512 void name(size_t n, const void *w, size_t w_stride,                \
	    const unsigned char *act, size_t stride, int nx, float *out, size_t out_stride) \
	{                                                                                \
		ROWS_DISPATCH(dot32_rows_zmm, , kind)                                    \
	}

ROWS_FN(rows_q4_0, KIND_Q4_0)
ROWS_FN(rows_q4_1, KIND_Q4_1)
ROWS_FN(rows_q5_0, KIND_Q5_0)
ROWS_FN(rows_q5_1, KIND_Q5_1)
ROWS_FN(rows_q8_0, KIND_Q8_0)

/* --- float weights ---------------------------------------------------------------------- */

enum fkind { FK_F32, FK_F16, FK_BF16 };

AVX512_INLINE __m512 load16w(const void *w, size_t i, const enum fkind fk, __mmask16 m)
{
	if (fk == FK_F32)
		return _mm512_maskz_loadu_ps(m, (const float *)w + i);
	__m256i h = _mm256_maskz_loadu_epi16(m, (const uint16_t *)w + i);
	if (fk == FK_F16)
		return _mm512_cvtph_ps(h);
	return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

AVX512_INLINE void dotf(size_t n, const void *w, const unsigned char *act, size_t stride,
    const int nx, float *out, const enum fkind fk)
{
	const float *x[QUANT_MAX_NX];
	__m512 acc[QUANT_MAX_NX][2];
#pragma GCC unroll 4
	for (int t = 0; t < nx; t++) {
		x[t] = (const float *)(const void *)(act + (size_t)t * stride);
		acc[t][0] = acc[t][1] = _mm512_setzero_ps();
	}
	const __mmask16 all = 0xffff;
	size_t i = 0;
	for (; i + 32 <= n; i += 32) {
		__m512 w0 = load16w(w, i, fk, all), w1 = load16w(w, i + 16, fk, all);
#pragma GCC unroll 4
		for (int t = 0; t < nx; t++) {
			acc[t][0] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(x[t] + i), acc[t][0]);
			acc[t][1] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(x[t] + i + 16), acc[t][1]);
		}
	}
	for (; i < n; i += 16) {
		__mmask16 m = n - i >= 16 ? all : (__mmask16)((1u << (n - i)) - 1);
		__m512 w0 = load16w(w, i, fk, m);
#pragma GCC unroll 4
		for (int t = 0; t < nx; t++)
			acc[t][0] = _mm512_fmadd_ps(w0, _mm512_maskz_loadu_ps(m, x[t] + i), acc[t][0]);
	}
#pragma GCC unroll 4
	for (int t = 0; t < nx; t++)
		out[t] = _mm512_reduce_add_ps(_mm512_add_ps(acc[t][0], acc[t][1]));
}

KERNEL_FN(dot_f32, dotf, FK_F32)
KERNEL_FN(dot_f16, dotf, FK_F16)
KERNEL_FN(dot_bf16, dotf, FK_BF16)

/* --- K-quants --------------------------------------------------------------------------- */

/* KK_Q4_K_X8V, KK_Q4_K_X8G: q4_K as llama.cpp's repacked q4_K kernels sum it, its gemv
 * block by block, its gemm 64 elements (two sub-blocks) at a time (quant.h, dot_q4_K_x8). */
enum kkind { KK_Q4_K, KK_Q5_K, KK_Q6_K, KK_Q4_K_X8V, KK_Q4_K_X8G };
#define KK_X8(kk) ((kk) == KK_Q4_K_X8V || (kk) == KK_Q4_K_X8G)

/* ggml's x86 order (kernels/quant.c, "K-quants"): the 16 integer lanes of a block
 * (scales applied with vpdpwssd, q6_K's -32 inside them) fold into ggml's 8 (lane k and k+8
 * hold the same elements of two 32-element vectors: exact integer adds), which go into 8 float
 * sums with a fused multiply-add by d*da; q4_K's minimums into 4 lanes, q5_K's into one sum. */
AVX512_INLINE void dotk(size_t n, const uint8_t *b, const unsigned char *act, size_t stride,
    const int nx, float *out, const enum kkind kk)
{
	const size_t bs = kk == KK_Q5_K ? 176 : kk == KK_Q6_K ? 210 : 144;
	const size_t nb = n / QK_K;
	const int8_t *q[QUANT_MAX_NX];
	const float *da[QUANT_MAX_NX];
	const int16_t *bsum[QUANT_MAX_NX];
	__m256 acc[QUANT_MAX_NX];
	__m128 accm[QUANT_MAX_NX];
	float summs[QUANT_MAX_NX], sums[QUANT_MAX_NX];
	act_rows_q8_K(act, stride, nx, n, q, da, bsum);
#pragma GCC unroll 4
	for (int t = 0; t < nx; t++) {
		acc[t] = _mm256_setzero_ps();
		accm[t] = _mm_setzero_ps();
		summs[t] = sums[t] = 0;
	}
	const __m256i m4 = _mm256_set1_epi8(0xf);
	for (size_t i = 0; i < nb; i++, b += bs) {
		/* two integer accumulators per row: vpdpwssd's latency would otherwise bound a
		 * single activation row */
		__m512i isum[QUANT_MAX_NX][2];
#pragma GCC unroll 4
		for (int t = 0; t < nx; t++)
			isum[t][0] = isum[t][1] = _mm512_setzero_si512();
		float d;
		if (kk != KK_Q6_K) {
			uint64_t sc64, mn64;
			unpack_scales_k4_u64(b + 4, &sc64, &mn64);
			/* 16-bit scales 0..7; chunk c takes scale 2c for its low 256 bits and
			 * 2c+1 for its high 256 bits */
			__m512i sc16 = _mm512_castsi128_si512(_mm_cvtepu8_epi16(
			    _mm_set_epi64x(0, (long long)sc64)));
			const __m512i pick = _mm512_set_epi16(1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
			    1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
			d = load_fp16(b);
			float dmin = load_fp16(b + 2);
			const uint8_t *qs = b + (kk == KK_Q5_K ? 48 : 16);
			__m256i qh = kk == KK_Q5_K ? load256(b + 16) : _mm256_setzero_si256();
			for (int c = 0; c < 4; c++) {
				__m256i v = load256(qs + 32 * c);
				__m256i lo = _mm256_and_si256(v, m4);
				__m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
				if (kk == KK_Q5_K) {
					const __m256i sixteen = _mm256_set1_epi8(16);
					lo = _mm256_mask_add_epi8(lo, _mm256_test_epi8_mask(qh,
					    _mm256_set1_epi8((char)(1 << (2 * c)))), lo, sixteen);
					hi = _mm256_mask_add_epi8(hi, _mm256_test_epi8_mask(qh,
					    _mm256_set1_epi8((char)(2 << (2 * c)))), hi, sixteen);
				}
				__m512i u = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
				__m512i sv = _mm512_permutexvar_epi16(_mm512_add_epi16(pick,
				    _mm512_set1_epi16((short)(2 * c))), sc16);
#pragma GCC unroll 4
				for (int t = 0; t < nx; t++) {
					__m512i a = _mm512_loadu_si512((const void *)(q[t] + i * QK_K + 64 * c));
					if (kk == KK_Q4_K_X8G) {
						__m512i s = _mm512_dpwssd_epi32(_mm512_setzero_si512(),
						    _mm512_maddubs_epi16(u, a), sv);
						sums[t] = fmaf(da[t][i] * d, (float)hsum8i(_mm256_add_epi32(
						    _mm512_castsi512_si256(s), _mm512_extracti64x4_epi64(s, 1))),
						    sums[t]);
						continue;
					}
					isum[t][c & 1] = _mm512_dpwssd_epi32(isum[t][c & 1],
					    _mm512_maddubs_epi16(u, a), sv);
				}
			}
			/* mins: m[j] against sub-block j's sum, pairs of sub-blocks in 4 lanes */
			__m128i mv = _mm_cvtepu8_epi16(_mm_set_epi64x(0, (long long)mn64));
#pragma GCC unroll 4
			for (int t = 0; t < nx; t++) {
				__m256i b16 = load256(bsum[t] + i * 16);
				__m128i p = _mm_madd_epi16(mv, _mm_hadd_epi16(
				    _mm256_castsi256_si128(b16), _mm256_extracti128_si256(b16, 1)));
				if (kk == KK_Q4_K_X8G) {
					int32_t mlane[4];
					_mm_storeu_si128((__m128i *)(void *)mlane, p);
					for (int l = 0; l < 4; l++)
						summs[t] = fmaf(da[t][i] * dmin, (float)mlane[l], summs[t]);
				} else if (kk == KK_Q4_K_X8V) {
					summs[t] = fmaf(da[t][i] * dmin, (float)hsum4i(p), summs[t]);
				} else if (kk == KK_Q4_K) {
					accm[t] = _mm_fmadd_ps(_mm_set1_ps(da[t][i] * dmin),
					    _mm_cvtepi32_ps(p), accm[t]);
				} else {
					p = _mm_hadd_epi32(_mm_hadd_epi32(p, p), p);
					summs[t] = QUANT_SUMMS(summs[t], da[t][i] * dmin,
					    (float)_mm_cvtsi128_si32(p));
				}
			}
		} else {
			const int8_t *sc = (const int8_t *)(b + 192);
			d = load_fp16(b + 208);
			__m256i sc16 = _mm256_cvtepi8_epi16(load128((const uint8_t *)sc));
			const __m512i pick_lo = _mm512_set_epi16(3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2,
			    2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
			const __m512i four = _mm512_set1_epi16(4), eight = _mm512_set1_epi16(8);
			for (int half = 0; half < 2; half++) {
				__m512i l = _mm512_loadu_si512((const void *)(b + 64 * half));
				__m256i qh = load256(b + 128 + 32 * half);
				__m512i h2 = _mm512_inserti64x4(_mm512_castsi256_si512(qh),
				    _mm256_srli_epi16(qh, 2), 1);
				const __m512i m4w = _mm512_set1_epi8(0xf), m30w = _mm512_set1_epi8(0x30);
				__m512i u_lo = _mm512_or_si512(_mm512_and_si512(l, m4w),
				    _mm512_and_si512(_mm512_slli_epi16(h2, 4), m30w));
				__m512i u_hi = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l, 4), m4w),
				    _mm512_and_si512(h2, m30w));
				__m512i sall = _mm512_castsi256_si512(sc16);
				__m512i base = half ? eight : _mm512_setzero_si512();
				__m512i s_lo = _mm512_permutexvar_epi16(_mm512_add_epi16(pick_lo, base), sall);
				__m512i s_hi = _mm512_permutexvar_epi16(_mm512_add_epi16(pick_lo,
				    _mm512_add_epi16(base, four)), sall);
				const __m512i m32 = _mm512_set1_epi8(32);
#pragma GCC unroll 4
				for (int t = 0; t < nx; t++) {
					const int8_t *qq = q[t] + i * QK_K + 128 * half;
					__m512i a0 = _mm512_loadu_si512((const void *)qq);
					__m512i a1 = _mm512_loadu_si512((const void *)(qq + 64));
					isum[t][0] = _mm512_dpwssd_epi32(isum[t][0], _mm512_sub_epi16(
					    _mm512_maddubs_epi16(u_lo, a0),
					    _mm512_maddubs_epi16(m32, a0)), s_lo);
					isum[t][1] = _mm512_dpwssd_epi32(isum[t][1], _mm512_sub_epi16(
					    _mm512_maddubs_epi16(u_hi, a1),
					    _mm512_maddubs_epi16(m32, a1)), s_hi);
				}
			}
		}
#pragma GCC unroll 4
		for (int t = 0; t < nx; t++) {
			__m512i s = _mm512_add_epi32(isum[t][0], isum[t][1]);
			__m256i f = _mm256_add_epi32(_mm512_castsi512_si256(s),
			    _mm512_extracti64x4_epi64(s, 1));
			if (kk == KK_Q4_K_X8V)
				sums[t] = fmaf(da[t][i] * d, (float)hsum8i(f), sums[t]);
			else
				acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(da[t][i] * d),
				    _mm256_cvtepi32_ps(f), acc[t]);
		}
	}
#pragma GCC unroll 4
	for (int t = 0; t < nx; t++)
		out[t] = KK_X8(kk) ? sums[t] - summs[t] :
		    hsum8(acc[t]) - (kk == KK_Q4_K ? hsum4(accm[t]) : summs[t]);
}

KERNEL_FN(dot_q4_K_512, dotk, KK_Q4_K)
KERNEL_FN(dot_q5_K_512, dotk, KK_Q5_K)
KERNEL_FN(dot_q6_K, dotk, KK_Q6_K)
KERNEL_FN(dot_q4_K_x8v, dotk, KK_Q4_K_X8V)
KERNEL_FN(dot_q4_K_x8g, dotk, KK_Q4_K_X8G)

/* q4_K in llama.cpp's gemm order (KK_Q4_K_X8G above) for QUANT_ROWS_NW (4) weight rows at
 * once: per row and activation row the float operations of dotk() (bit-identical results),
 * with the four rows' integer sums of 64 elements reduced together and their fused
 * multiply-adds done side by side, a row per lane. The weights of a block are unpacked once
 * for every activation row. */

/* Lane k: the sum of the 16 lanes of the k-th vector (exact: integers). */
AVX512_INLINE __m128i hsum4x16i(__m512i a, __m512i b, __m512i c, __m512i d)
{
#define HALVES(x) _mm256_add_epi32(_mm512_castsi512_si256(x), _mm512_extracti64x4_epi64(x, 1))
	__m256i ab = _mm256_hadd_epi32(HALVES(a), HALVES(b));
	__m256i cd = _mm256_hadd_epi32(HALVES(c), HALVES(d));
#undef HALVES
	__m256i s = _mm256_hadd_epi32(ab, cd);
	return _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
}

AVX512_INLINE void q4_K_x8g_rows(size_t n, const uint8_t *w, size_t w_stride,
    const unsigned char *act, size_t stride, const int nx, float *out, size_t out_stride)
{
	_Static_assert(QUANT_ROWS_NW == 4, "q4_K_x8g_rows takes four rows");
	enum { BS = 144 };   /* sizeof(block_q4_K) */
	const size_t nb = n / QK_K;
	const int8_t *q[QUANT_ROWS_MAX_NX];
	const float *da[QUANT_ROWS_MAX_NX];
	const int16_t *bsum[QUANT_ROWS_MAX_NX];
	__m128 sums[QUANT_ROWS_MAX_NX], summs[QUANT_ROWS_MAX_NX];
	act_rows_q8_K(act, stride, nx, n, q, da, bsum);
#pragma GCC unroll 8
	for (int t = 0; t < nx; t++)
		sums[t] = summs[t] = _mm_setzero_ps();
	const __m256i m4 = _mm256_set1_epi8(0xf);
	const __m512i pick = _mm512_set_epi16(1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
	for (size_t i = 0; i < nb; i++) {
		/* u[c][r]: row r's 64 weights of chunk c (its 32 low nibbles, then its 32 high
		 * ones); sv[c][r]: their sub-block scales as 16-bit words; mv[r]: the minimums */
		__m512i u[4][4], sv[4][4];
		__m128i mv[4];
		float d[4], dmin[4];
#pragma GCC unroll 4
		for (int r = 0; r < 4; r++) {
			const uint8_t *b = w + (size_t)r * w_stride + i * BS;
			uint64_t sc64, mn64;
			unpack_scales_k4_u64(b + 4, &sc64, &mn64);
			__m512i sc16 = _mm512_castsi128_si512(_mm_cvtepu8_epi16(
			    _mm_set_epi64x(0, (long long)sc64)));
			mv[r] = _mm_cvtepu8_epi16(_mm_set_epi64x(0, (long long)mn64));
			d[r] = load_fp16(b);
			dmin[r] = load_fp16(b + 2);
#pragma GCC unroll 4
			for (int c = 0; c < 4; c++) {
				__m256i v = load256(b + 16 + 32 * c);
				u[c][r] = _mm512_inserti64x4(_mm512_castsi256_si512(
				    _mm256_and_si256(v, m4)), _mm256_and_si256(_mm256_srli_epi16(v, 4),
				    m4), 1);
				sv[c][r] = _mm512_permutexvar_epi16(_mm512_add_epi16(pick,
				    _mm512_set1_epi16((short)(2 * c))), sc16);
			}
		}
		const __m128 d4 = _mm_loadu_ps(d), dmin4 = _mm_loadu_ps(dmin);
#pragma GCC unroll 8
		for (int t = 0; t < nx; t++) {
			const __m128 dat = _mm_set1_ps(da[t][i]);
			const __m128 dd = _mm_mul_ps(dat, d4), ddm = _mm_mul_ps(dat, dmin4);
#pragma GCC unroll 4
			for (int c = 0; c < 4; c++) {
				__m512i a = _mm512_loadu_si512((const void *)(q[t] + i * QK_K + 64 * c));
				__m512i s[4];
#pragma GCC unroll 4
				for (int r = 0; r < 4; r++)
					s[r] = _mm512_dpwssd_epi32(_mm512_setzero_si512(),
					    _mm512_maddubs_epi16(u[c][r], a), sv[c][r]);
				sums[t] = _mm_fmadd_ps(dd, _mm_cvtepi32_ps(hsum4x16i(s[0], s[1], s[2],
				    s[3])), sums[t]);
			}
			/* minimums: 4 lanes per row (pairs of sub-blocks), added lane by lane */
			__m256i b16 = load256(bsum[t] + i * 16);
			__m128i hb = _mm_hadd_epi16(_mm256_castsi256_si128(b16),
			    _mm256_extracti128_si256(b16, 1));
			__m128 p0 = _mm_castsi128_ps(_mm_madd_epi16(mv[0], hb));
			__m128 p1 = _mm_castsi128_ps(_mm_madd_epi16(mv[1], hb));
			__m128 p2 = _mm_castsi128_ps(_mm_madd_epi16(mv[2], hb));
			__m128 p3 = _mm_castsi128_ps(_mm_madd_epi16(mv[3], hb));
			_MM_TRANSPOSE4_PS(p0, p1, p2, p3);   /* p_l: lane l of every row */
			summs[t] = _mm_fmadd_ps(ddm, _mm_cvtepi32_ps(_mm_castps_si128(p0)), summs[t]);
			summs[t] = _mm_fmadd_ps(ddm, _mm_cvtepi32_ps(_mm_castps_si128(p1)), summs[t]);
			summs[t] = _mm_fmadd_ps(ddm, _mm_cvtepi32_ps(_mm_castps_si128(p2)), summs[t]);
			summs[t] = _mm_fmadd_ps(ddm, _mm_cvtepi32_ps(_mm_castps_si128(p3)), summs[t]);
		}
	}
#pragma GCC unroll 8
	for (int t = 0; t < nx; t++)
		_mm_storeu_ps(out + (size_t)t * out_stride, _mm_sub_ps(sums[t], summs[t]));
}

static AVX512 void rows_q4_K_x8g(size_t n, const void *w, size_t w_stride,
    const unsigned char *act, size_t stride, int nx, float *out, size_t out_stride)
{
	ROWS_DISPATCH(q4_K_x8g_rows, )
}

/* One activation row (decode): the AVX2 kernels are faster for q4_K/q5_K, see quant-avx2.c. */
static AVX512 void dot_q4_K(size_t n, const void *w, const unsigned char *act, size_t stride,
    int nx, float *out)
{
	if (nx == 1)
		quant_dot_q4_K_avx2(n, w, act, stride, nx, out);
	else
		dot_q4_K_512(n, w, act, stride, nx, out);
}

static AVX512 void dot_q5_K(size_t n, const void *w, const unsigned char *act, size_t stride,
    int nx, float *out)
{
	if (nx == 1)
		quant_dot_q5_K_avx2(n, w, act, stride, nx, out);
	else
		dot_q5_K_512(n, w, act, stride, nx, out);
}

/* --- fp16 rows -------------------------------------------------------------------------- */

static AVX512 void fp16_to_f32(const uint16_t *x, float *y, size_t n)
{
	size_t i = 0;
	for (; i + 16 <= n; i += 16)
		_mm512_storeu_ps(y + i, _mm512_cvtph_ps(load256(x + i)));
	for (; i < n; i++)
		y[i] = _cvtsh_ss(x[i]);
}

static AVX512 void f32_to_fp16(const float *x, uint16_t *y, size_t n)
{
	size_t i = 0;
	for (; i + 16 <= n; i += 16)
		_mm256_storeu_si256((__m256i *)(void *)(y + i),
		    _mm512_cvtps_ph(_mm512_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
	for (; i < n; i++)
		y[i] = quant_f32_to_fp16(x[i]);
}

const struct quant_kernels quant_kernels_avx512 = {
	.name = "avx512",
	.dot = {
		[GGML_TYPE_F32] = dot_f32,
		[GGML_TYPE_F16] = dot_f16,
		[GGML_TYPE_BF16] = dot_bf16,
		[GGML_TYPE_Q4_0] = dot_q4_0,
		[GGML_TYPE_Q4_1] = dot_q4_1,
		[GGML_TYPE_Q5_0] = dot_q5_0,
		[GGML_TYPE_Q5_1] = dot_q5_1,
		[GGML_TYPE_Q8_0] = dot_q8_0,
		[GGML_TYPE_Q4_K] = dot_q4_K,
		[GGML_TYPE_Q5_K] = dot_q5_K,
		[GGML_TYPE_Q6_K] = dot_q6_K,
	},
	.dot_rows = {
		[GGML_TYPE_Q4_0] = rows_q4_0,
		[GGML_TYPE_Q4_1] = rows_q4_1,
		[GGML_TYPE_Q5_0] = rows_q5_0,
		[GGML_TYPE_Q5_1] = rows_q5_1,
		[GGML_TYPE_Q8_0] = rows_q8_0,
	},
	.dot_level = {
		[GGML_TYPE_F32] = "avx512", [GGML_TYPE_F16] = "avx512",
		[GGML_TYPE_BF16] = "avx512", [GGML_TYPE_Q4_0] = "avx512",
		[GGML_TYPE_Q4_1] = "avx512", [GGML_TYPE_Q5_0] = "avx512",
		[GGML_TYPE_Q5_1] = "avx512", [GGML_TYPE_Q8_0] = "avx512",
		[GGML_TYPE_Q4_K] = "avx512+avx2", [GGML_TYPE_Q5_K] = "avx512+avx2",
		[GGML_TYPE_Q6_K] = "avx512",
	},
	.dot_q4_K_x8 = { dot_q4_K_x8v, dot_q4_K_x8g },
	.dot_q4_K_x8g_rows = rows_q4_K_x8g,
	.fp16_to_f32 = fp16_to_f32,
	.f32_to_fp16 = f32_to_fp16,
	.act_q8_0 = quant_act_row_q8_0_avx2,
	.act_q8_1 = quant_act_row_q8_1_avx2,
	.act_q8_K = quant_act_row_q8_K_avx2,
};

#endif
