/* quant-avx2.c: dot-product kernels for AVX2 + FMA + F16C, compiled per function with target
 * attributes so the file builds for any x86-64 and runs only where cpu-features says so.
 *
 * Each kernel handles 1..QUANT_MAX_NX activation rows per weight row: the weight block is
 * unpacked once and used for every activation row, which is what makes batched products
 * (prefill) cheaper per token than one vector at a time. */
#include "kernels/quant-impl.h"

#if CPU_SIMD_X86
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2,fma,f16c")))
#define AVX2_INLINE static inline __attribute__((always_inline, target("avx2,fma,f16c")))

AVX2_INLINE float hsum8(__m256 v)
{
	__m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

/* ggml's sum of q4_K's 4 minimum lanes: lanes 0+2 and 1+3, then those two. */
AVX2_INLINE float hsum4(__m128 v)
{
	__m128 s = _mm_add_ps(v, _mm_movehl_ps(v, v));
	s = _mm_add_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

AVX2_INLINE int hsum8i(__m256i v)
{
	__m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
	s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
	s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
	return _mm_cvtsi128_si32(s);
}

AVX2_INLINE int hsum4i(__m128i v)
{
	v = _mm_add_epi32(v, _mm_shuffle_epi32(v, _MM_SHUFFLE(1, 0, 3, 2)));
	v = _mm_add_epi32(v, _mm_shuffle_epi32(v, _MM_SHUFFLE(2, 3, 0, 1)));
	return _mm_cvtsi128_si32(v);
}

AVX2_INLINE float load_fp16(const uint8_t *p)
{
	uint16_t h;
	memcpy(&h, p, sizeof h);
	return _cvtsh_ss(h);
}

/* 32 bytes: byte k is 0xff where bit k of x is set. */
AVX2_INLINE __m256i bytes_from_bits(uint32_t x)
{
	const __m256i pick = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
	    2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
	const __m256i bit = _mm256_set1_epi64x(0x8040201008040201LL);
	__m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)x), pick);
	return _mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit);
}

/* 16 bytes of nibbles -> 32 bytes: low nibbles (elements 0..15), then high (16..31). */
AVX2_INLINE __m256i unpack_nibbles(const uint8_t *qs)
{
	__m128i v = _mm_loadu_si128((const __m128i *)(const void *)qs);
	const __m128i m4 = _mm_set1_epi8(0xf);
	__m128i lo = _mm_and_si128(v, m4), hi = _mm_and_si128(_mm_srli_epi16(v, 4), m4);
	return _mm256_set_m128i(hi, lo);
}

/* --- 32-element block types --------------------------------------------------------------- */

enum kind { KIND_Q4_0, KIND_Q4_1, KIND_Q5_0, KIND_Q5_1, KIND_Q8_0 };

/* One block's 32 weight values, as quant.c's block_values() has them: unsigned u for
 * q4_1/q5_1 (with *m the minimum), signed values for the others. */
AVX2_INLINE __m256i block_w(const uint8_t *b, const enum kind kind, float *m)
{
	switch (kind) {
	case KIND_Q4_0:
		return _mm256_sub_epi8(unpack_nibbles(b + 2), _mm256_set1_epi8(8));
	case KIND_Q4_1:
		*m = load_fp16(b + 2);
		return unpack_nibbles(b + 4);
	case KIND_Q5_0:
		return _mm256_sub_epi8(_mm256_or_si256(unpack_nibbles(b + 6), _mm256_and_si256(
		    bytes_from_bits(load_u32_le(b + 2)), _mm256_set1_epi8(0x10))), _mm256_set1_epi8(16));
	case KIND_Q5_1:
		*m = load_fp16(b + 2);
		return _mm256_or_si256(unpack_nibbles(b + 8), _mm256_and_si256(
		    bytes_from_bits(load_u32_le(b + 4)), _mm256_set1_epi8(0x10)));
	default:
		return _mm256_loadu_si256((const __m256i *)(const void *)(b + 2));
	}
}

/* ggml's order (see quant.c): per block 8 integer sums of 4 products, one fma per lane
 * into one accumulator per activation row, ggml's horizontal sum, then the minimum terms. */
AVX2_INLINE void dot32(size_t n, const uint8_t *b, const unsigned char *act, size_t stride,
    const int nx, float *out, const enum kind kind)
{
	const size_t bs = kind == KIND_Q4_0 ? 18 : kind == KIND_Q4_1 ? 20 : kind == KIND_Q5_0 ? 22
	    : kind == KIND_Q5_1 ? 24 : 34;
	const int has_m = kind == KIND_Q4_1 || kind == KIND_Q5_1;
	const size_t nb = n / 32;
	const int8_t *q[QUANT_MAX_NX];
	const float *dx[QUANT_MAX_NX], *s[QUANT_MAX_NX];
	__m256 acc[QUANT_MAX_NX];
	float summs[QUANT_MAX_NX];
#pragma GCC unroll 4
	for (int t = 0; t < nx; t++) {
		const unsigned char *row = act + (size_t)t * stride;
		q[t] = act_q(row);
		dx[t] = act_dx_q8_0(row, n);
		s[t] = act_s_q8_0(row, n);
		acc[t] = _mm256_setzero_ps();
		summs[t] = 0;
	}
	const __m256i ones = _mm256_set1_epi16(1);
	for (size_t i = 0; i < nb; i++, b += bs) {
		float m = 0;
		__m256i w = block_w(b, kind, &m);
		/* signed weights: |w| against the activations with w's sign (exact: |w| <= 128
		 * and the activations are never -128) */
		__m256i u = has_m ? w : _mm256_sign_epi8(w, w);
		__m256 dv = _mm256_set1_ps(load_fp16(b));
#pragma GCC unroll 4
		for (int t = 0; t < nx; t++) {
			__m256i a = _mm256_loadu_si256((const __m256i *)(const void *)(q[t] + 32 * i));
			if (!has_m)
				a = _mm256_sign_epi8(a, w);
			__m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(u, a), ones);
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

/* Each exported kernel expands the template for nx = 1..4, so every instance keeps its
 * accumulators in registers, and splits a larger nx into groups of QUANT_MAX_NX. */
#define DOT32_FN(name, kind)                                                             \
	static AVX2 void name(size_t n, const void *w, const unsigned char *act,         \
	    size_t stride, int nx, float *out)                                           \
	{                                                                                \
		for (; nx > QUANT_MAX_NX; nx -= QUANT_MAX_NX, act += QUANT_MAX_NX * stride, \
		    out += QUANT_MAX_NX)                                                 \
			dot32(n, w, act, stride, QUANT_MAX_NX, out, kind);               \
		if (nx == 1) dot32(n, w, act, stride, 1, out, kind);                     \
		else if (nx == 2) dot32(n, w, act, stride, 2, out, kind);                \
		else if (nx == 3) dot32(n, w, act, stride, 3, out, kind);                \
		else if (nx == 4) dot32(n, w, act, stride, 4, out, kind);                \
	}

DOT32_FN(dot_q4_0, KIND_Q4_0)
DOT32_FN(dot_q4_1, KIND_Q4_1)
DOT32_FN(dot_q5_0, KIND_Q5_0)
DOT32_FN(dot_q5_1, KIND_Q5_1)
DOT32_FN(dot_q8_0, KIND_Q8_0)

/* --- float weights ---------------------------------------------------------------------- */

enum fkind { FK_F32, FK_F16, FK_BF16 };

AVX2_INLINE __m256 load8w(const void *w, size_t i, const enum fkind fk)
{
	if (fk == FK_F32)
		return _mm256_loadu_ps((const float *)w + i);
	__m128i h = _mm_loadu_si128((const __m128i *)(const void *)((const uint16_t *)w + i));
	if (fk == FK_F16)
		return _mm256_cvtph_ps(h);
	return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

AVX2_INLINE float load1w(const void *w, size_t i, const enum fkind fk)
{
	if (fk == FK_F32)
		return ((const float *)w)[i];
	uint16_t h = ((const uint16_t *)w)[i];
	return fk == FK_F16 ? _cvtsh_ss(h) : quant_bf16_to_f32(h);
}

AVX2_INLINE void dotf(size_t n, const void *w, const unsigned char *act, size_t stride,
    const int nx, float *out, const enum fkind fk)
{
	const float *x[QUANT_MAX_NX];
	__m256 acc[QUANT_MAX_NX][2];
#pragma GCC unroll 4
	for (int t = 0; t < nx; t++) {
		x[t] = (const float *)(const void *)(act + (size_t)t * stride);
		acc[t][0] = acc[t][1] = _mm256_setzero_ps();
	}
	size_t i = 0;
	for (; i + 16 <= n; i += 16) {
		__m256 w0 = load8w(w, i, fk), w1 = load8w(w, i + 8, fk);
#pragma GCC unroll 4
		for (int t = 0; t < nx; t++) {
			acc[t][0] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x[t] + i), acc[t][0]);
			acc[t][1] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x[t] + i + 8), acc[t][1]);
		}
	}
	for (; i + 8 <= n; i += 8) {
		__m256 w0 = load8w(w, i, fk);
#pragma GCC unroll 4
		for (int t = 0; t < nx; t++)
			acc[t][0] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x[t] + i), acc[t][0]);
	}
#pragma GCC unroll 4
	for (int t = 0; t < nx; t++) {
		float sum = hsum8(_mm256_add_ps(acc[t][0], acc[t][1]));
		for (size_t j = i; j < n; j++)
			sum += load1w(w, j, fk) * x[t][j];
		out[t] = sum;
	}
}

#define DOTF_FN(name, fk)                                                                \
	static AVX2 void name(size_t n, const void *w, const unsigned char *act,         \
	    size_t stride, int nx, float *out)                                           \
	{                                                                                \
		for (; nx > QUANT_MAX_NX; nx -= QUANT_MAX_NX, act += QUANT_MAX_NX * stride, \
		    out += QUANT_MAX_NX)                                                 \
			dotf(n, w, act, stride, QUANT_MAX_NX, out, fk);                  \
		if (nx == 1) dotf(n, w, act, stride, 1, out, fk);                        \
		else if (nx == 2) dotf(n, w, act, stride, 2, out, fk);                   \
		else if (nx == 3) dotf(n, w, act, stride, 3, out, fk);                   \
		else if (nx == 4) dotf(n, w, act, stride, 4, out, fk);                   \
	}

DOTF_FN(dot_f32, FK_F32)
DOTF_FN(dot_f16, FK_F16)
DOTF_FN(dot_bf16, FK_BF16)

/* --- K-quants --------------------------------------------------------------------------- */

/* KK_Q4_K_X8V, KK_Q4_K_X8G: q4_K as llama.cpp's repacked q4_K kernels sum it, its gemv
 * block by block, its gemm 64 elements (two sub-blocks) at a time (quant.h, dot_q4_K_x8). */
enum kkind { KK_Q4_K, KK_Q5_K, KK_Q6_K, KK_Q4_K_X8V, KK_Q4_K_X8G };
#define KK_X8(kk) ((kk) == KK_Q4_K_X8V || (kk) == KK_Q4_K_X8G)

/* ggml's x86 order (kernels/quant.c, "K-quants"): per block 8 integer lanes (the
 * sub-block scales applied in madd_epi16, q6_K's -32 inside them) go into 8 float sums with a
 * fused multiply-add by d * da; q4_K's minimums into 4 lanes, q5_K's into one sum. */
AVX2_INLINE void dotk(size_t n, const uint8_t *b, const unsigned char *act, size_t stride,
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
	const __m256i m4 = _mm256_set1_epi8(0xf), one = _mm256_set1_epi8(1);
	for (size_t i = 0; i < nb; i++, b += bs) {
		__m256i isum[QUANT_MAX_NX];
#pragma GCC unroll 4
		for (int t = 0; t < nx; t++)
			isum[t] = _mm256_setzero_si256();
		float d, dmin = 0;
		if (kk != KK_Q6_K) {
			uint8_t sc[8];
			uint64_t sc64, mn64;
			unpack_scales_k4_u64(b + 4, &sc64, &mn64);
			memcpy(sc, &sc64, 8);   /* little-endian: scale j in byte j */
			d = load_fp16(b);
			dmin = load_fp16(b + 2);
			const uint8_t *qs = b + (kk == KK_Q5_K ? 48 : 16);
			__m256i qh = kk == KK_Q5_K ? _mm256_loadu_si256((const __m256i *)(const void *)(b + 16))
			    : _mm256_setzero_si256();
			for (int c = 0; c < 4; c++) {
				__m256i v = _mm256_loadu_si256((const __m256i *)(const void *)(qs + 32 * c));
				__m256i lo = _mm256_and_si256(v, m4);
				__m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
				if (kk == KK_Q5_K) {
					__m256i h = _mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * c));
					lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(h, one), 4));
					hi = _mm256_or_si256(hi, _mm256_slli_epi16(
					    _mm256_and_si256(_mm256_srli_epi16(h, 1), one), 4));
				}
				__m256i s_lo = _mm256_set1_epi16(sc[2 * c]);
				__m256i s_hi = _mm256_set1_epi16(sc[2 * c + 1]);
#pragma GCC unroll 4
				for (int t = 0; t < nx; t++) {
					const int8_t *qq = q[t] + i * QK_K + 64 * c;
					__m256i a0 = _mm256_loadu_si256((const __m256i *)(const void *)qq);
					__m256i a1 = _mm256_loadu_si256((const __m256i *)(const void *)(qq + 32));
					__m256i p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, a0), s_lo);
					__m256i p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, a1), s_hi);
					if (kk == KK_Q4_K_X8G)
						sums[t] = fmaf(da[t][i] * d, (float)hsum8i(
						    _mm256_add_epi32(p0, p1)), sums[t]);
					else
						isum[t] = _mm256_add_epi32(isum[t], _mm256_add_epi32(p0, p1));
				}
			}
			/* mins: m[j] against sub-block j's sum, pairs of sub-blocks in 4 lanes */
			__m128i mv = _mm_cvtepu8_epi16(_mm_set_epi64x(0, (long long)mn64));
#pragma GCC unroll 4
			for (int t = 0; t < nx; t++) {
				__m256i b16 = _mm256_loadu_si256((const __m256i *)(const void *)
				    (bsum[t] + i * 16));
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
			for (int half = 0; half < 2; half++) {
				const uint8_t *ql = b + 64 * half, *qhp = b + 128 + 32 * half;
				__m256i l0 = _mm256_loadu_si256((const __m256i *)(const void *)ql);
				__m256i l1 = _mm256_loadu_si256((const __m256i *)(const void *)(ql + 32));
				__m256i qh = _mm256_loadu_si256((const __m256i *)(const void *)qhp);
				const __m256i m3 = _mm256_set1_epi8(0x30);
				__m256i u[4];
				u[0] = _mm256_or_si256(_mm256_and_si256(l0, m4),
				    _mm256_and_si256(_mm256_slli_epi16(qh, 4), m3));
				u[1] = _mm256_or_si256(_mm256_and_si256(l1, m4),
				    _mm256_and_si256(_mm256_slli_epi16(qh, 2), m3));
				u[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
				    _mm256_and_si256(qh, m3));
				u[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
				    _mm256_and_si256(_mm256_srli_epi16(qh, 2), m3));
				const int8_t *s8 = sc + 8 * half;
				const __m256i m32 = _mm256_set1_epi8(32);
				for (int k = 0; k < 4; k++) {
					__m256i sv = _mm256_set_m128i(_mm_set1_epi16(s8[2 * k + 1]),
					    _mm_set1_epi16(s8[2 * k]));
#pragma GCC unroll 4
					for (int t = 0; t < nx; t++) {
						const int8_t *qq = q[t] + i * QK_K + 128 * half + 32 * k;
						__m256i a = _mm256_loadu_si256((const __m256i *)(const void *)qq);
						__m256i p = _mm256_madd_epi16(_mm256_sub_epi16(
						    _mm256_maddubs_epi16(u[k], a),
						    _mm256_maddubs_epi16(m32, a)), sv);
						isum[t] = _mm256_add_epi32(isum[t], p);
					}
				}
			}
		}
#pragma GCC unroll 4
		for (int t = 0; t < nx; t++) {
			if (kk == KK_Q4_K_X8V)
				sums[t] = fmaf(da[t][i] * d, (float)hsum8i(isum[t]), sums[t]);
			else
				acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(da[t][i] * d),
				    _mm256_cvtepi32_ps(isum[t]), acc[t]);
		}
	}
#pragma GCC unroll 4
	for (int t = 0; t < nx; t++)
		out[t] = KK_X8(kk) ? sums[t] - summs[t] :
		    hsum8(acc[t]) - (kk == KK_Q4_K ? hsum4(accm[t]) : summs[t]);
}

#define DOTK_FN(name, kk)                                                                \
	static AVX2 void name(size_t n, const void *w, const unsigned char *act,         \
	    size_t stride, int nx, float *out)                                           \
	{                                                                                \
		for (; nx > QUANT_MAX_NX; nx -= QUANT_MAX_NX, act += QUANT_MAX_NX * stride, \
		    out += QUANT_MAX_NX)                                                 \
			dotk(n, w, act, stride, QUANT_MAX_NX, out, kk);                  \
		if (nx == 1) dotk(n, w, act, stride, 1, out, kk);                        \
		else if (nx == 2) dotk(n, w, act, stride, 2, out, kk);                   \
		else if (nx == 3) dotk(n, w, act, stride, 3, out, kk);                   \
		else if (nx == 4) dotk(n, w, act, stride, 4, out, kk);                   \
	}

DOTK_FN(dot_q4_K, KK_Q4_K)
DOTK_FN(dot_q5_K, KK_Q5_K)
DOTK_FN(dot_q6_K, KK_Q6_K)
DOTK_FN(dot_q4_K_x8v, KK_Q4_K_X8V)
DOTK_FN(dot_q4_K_x8g, KK_Q4_K_X8G)

/* For quant-avx512.c, which uses these for single rows (measured faster there: the 256-bit
 * madd/add chain beats the 512-bit vpdpwssd one when only one activation row hides latency). */
AVX2 void quant_dot_q4_K_avx2(size_t n, const void *w, const unsigned char *act, size_t stride,
    int nx, float *out)
{
	dot_q4_K(n, w, act, stride, nx, out);
}

AVX2 void quant_dot_q5_K_avx2(size_t n, const void *w, const unsigned char *act, size_t stride,
    int nx, float *out)
{
	dot_q5_K(n, w, act, stride, nx, out);
}

/* --- fp16 rows -------------------------------------------------------------------------- */

static AVX2 void fp16_to_f32(const uint16_t *x, float *y, size_t n)
{
	size_t i = 0;
	for (; i + 8 <= n; i += 8)
		_mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(x + i))));
	for (; i < n; i++)
		y[i] = _cvtsh_ss(x[i]);
}

static AVX2 void f32_to_fp16(const float *x, uint16_t *y, size_t n)
{
	size_t i = 0;
	for (; i + 8 <= n; i += 8)
		_mm_storeu_si128((__m128i *)(void *)(y + i),
		    _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
	for (; i < n; i++)
		y[i] = quant_f32_to_fp16(x[i]);
}

/* --- activation rows: the float operations of quant-rows.c, eight at a time ------------- */

AVX2_INLINE float hmax8(__m256 v)
{
	__m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
	m = _mm_max_ps(m, _mm_movehl_ps(m, m));
	m = _mm_max_ss(m, _mm_movehdup_ps(m));
	return _mm_cvtss_f32(m);
}

/* Nearest integer, ties to even (quant_round_even()), to int32; NaN gives INT32_MIN. */
AVX2_INLINE __m256i round_even_epi32(__m256 x)
{
	return _mm256_cvtps_epi32(_mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

AVX2_INLINE __m256i clamp_epi32(__m256i x, int lo, int hi)
{
	return _mm256_max_epi32(_mm256_min_epi32(x, _mm256_set1_epi32(hi)), _mm256_set1_epi32(lo));
}

/* 4 x 8 int32 (each in -128..127) -> 32 int8 in order. */
AVX2_INLINE __m256i pack_i8(__m256i a, __m256i b, __m256i c, __m256i d)
{
	__m256i p = _mm256_packs_epi16(_mm256_packs_epi32(a, b), _mm256_packs_epi32(c, d));
	return _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

/* Q8_0 (q1 == 0) or Q8_1 (q1 == 1) activation row: q8_block() and act_row_q8() of
 * quant-rows.c, eight lanes at a time. */
AVX2_INLINE void act_row_q8(const float *x, unsigned char *row, size_t n, const int q1)
{
	int8_t *q = (int8_t *)row;
	float *d = (float *)(void *)(row + n);
	float *s = d + n / QK8_0;
	float *dx = (float *)(void *)(row + act_dx_offset_q8_0(n));
	const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
	for (size_t i = 0; i < n / QK8_0; i++) {
		const float *xb = x + i * QK8_0;
		__m256 v[4];
		__m256 m = _mm256_setzero_ps();
		for (int k = 0; k < 4; k++) {
			v[k] = _mm256_loadu_ps(xb + 8 * k);
			m = _mm256_max_ps(m, _mm256_and_ps(v[k], abs_mask));
		}
		float amax = hmax8(m);
		float dd = amax / 127.0f;
		__m256 idv = _mm256_set1_ps(amax != 0 ? 127.0f / amax : 0.0f);
		__m256i r[4];
		for (int k = 0; k < 4; k++)
			r[k] = clamp_epi32(round_even_epi32(_mm256_mul_ps(v[k], idv)), -128, 127);
		_mm256_storeu_si256((__m256i *)(void *)(q + i * QK8_0), pack_i8(r[0], r[1], r[2], r[3]));
		d[i] = _cvtsh_ss(_cvtss_sh(dd, _MM_FROUND_TO_NEAREST_INT));
		_mm256_storeu_ps(dx + 8 * i, _mm256_set1_ps(d[i]));
		int sum = hsum8i(_mm256_add_epi32(_mm256_add_epi32(r[0], r[1]),
		    _mm256_add_epi32(r[2], r[3])));
		if (q1)
			s[i] = _cvtsh_ss(_cvtss_sh(dd * (float)sum, _MM_FROUND_TO_NEAREST_INT));
		else
			s[i] = d[i] * (float)sum;
	}
}

AVX2 void quant_act_row_q8_0_avx2(const float *x, unsigned char *row, size_t n)
{
	act_row_q8(x, row, n, 0);
}

AVX2 void quant_act_row_q8_1_avx2(const float *x, unsigned char *row, size_t n)
{
	act_row_q8(x, row, n, 1);
}

AVX2 void quant_act_row_q8_K_avx2(const float *x, unsigned char *row, size_t n)
{
	int8_t *q = (int8_t *)row;
	float *d = (float *)(void *)(row + n);
	int16_t *bsum = (int16_t *)(void *)(row + n + 4 * (n / QK_K));
	const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
	for (size_t i = 0; i < n / QK_K; i++) {
		const float *xb = x + i * QK_K;
		__m256 m = _mm256_setzero_ps();
		for (int k = 0; k < QK_K / 8; k++)
			m = _mm256_max_ps(m, _mm256_and_ps(_mm256_loadu_ps(xb + 8 * k), abs_mask));
		float amax = hmax8(m);
		float id = amax != 0 ? 127.0f / amax : 0.0f;
		d[i] = amax != 0 ? 1.0f / id : 0.0f;
		__m256 idv = _mm256_set1_ps(id);
		for (int k = 0; k < QK_K / 32; k++) {
			__m256i r[4];
			for (int j = 0; j < 4; j++)
				r[j] = clamp_epi32(round_even_epi32(_mm256_mul_ps(
				    _mm256_loadu_ps(xb + 32 * k + 8 * j), idv)), -127, 127);
			_mm256_storeu_si256((__m256i *)(void *)(q + i * QK_K + 32 * k),
			    pack_i8(r[0], r[1], r[2], r[3]));
			bsum[i * 16 + 2 * (size_t)k] = (int16_t)hsum8i(_mm256_add_epi32(r[0], r[1]));
			bsum[i * 16 + 2 * (size_t)k + 1] = (int16_t)hsum8i(_mm256_add_epi32(r[2], r[3]));
		}
	}
}

const struct quant_kernels quant_kernels_avx2 = {
	.name = "avx2",
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
	.dot_level = {
		[GGML_TYPE_F32] = "avx2", [GGML_TYPE_F16] = "avx2",
		[GGML_TYPE_BF16] = "avx2", [GGML_TYPE_Q4_0] = "avx2",
		[GGML_TYPE_Q4_1] = "avx2", [GGML_TYPE_Q5_0] = "avx2",
		[GGML_TYPE_Q5_1] = "avx2", [GGML_TYPE_Q8_0] = "avx2",
		[GGML_TYPE_Q4_K] = "avx2", [GGML_TYPE_Q5_K] = "avx2",
		[GGML_TYPE_Q6_K] = "avx2",
	},
	.dot_q4_K_x8 = { dot_q4_K_x8v, dot_q4_K_x8g },
	.fp16_to_f32 = fp16_to_f32,
	.f32_to_fp16 = f32_to_fp16,
	.act_q8_0 = quant_act_row_q8_0_avx2,
	.act_q8_1 = quant_act_row_q8_1_avx2,
	.act_q8_K = quant_act_row_q8_K_avx2,
};

#endif
