/* quant-impl.h: what the quant*.c files share and nothing else includes: the activation row
 * layout, the K-quant scale unpacking and the per-level kernel tables. */
#ifndef QUIRE_KERNELS_QUANT_IMPL_H
#define QUIRE_KERNELS_QUANT_IMPL_H

#include <math.h>

#include "kernels/quant.h"

/* Activation row layout (see struct quant_act): q values first, then the block scales, then the
 * sums. n is a multiple of 32 (Q8_0) or 256 (Q8_K), so every part is 4-byte aligned. */
static inline const int8_t *act_q(const unsigned char *row)
{
	return (const int8_t *)row;
}
static inline const float *act_d(const unsigned char *row, size_t n)
{
	return (const float *)(const void *)(row + n);
}
static inline const float *act_s_q8_0(const unsigned char *row, size_t n)
{
	return (const float *)(const void *)(row + n + 4 * (n / QK8_0));
}
static inline const int16_t *act_bsum_q8_K(const unsigned char *row, size_t n)
{
	return (const int16_t *)(const void *)(row + n + 4 * (n / QK_K));
}
/* The parts of nx Q8_K activation rows (row t at act + t * stride) that the K-quant kernels
 * read: values, block scales, 16-element sums. */
static inline void act_rows_q8_K(const unsigned char *act, size_t stride, int nx, size_t n,
    const int8_t **q, const float **d, const int16_t **bsum)
{
	for (int t = 0; t < nx; t++) {
		const unsigned char *row = act + (size_t)t * stride;
		q[t] = act_q(row);
		d[t] = act_d(row, n);
		bsum[t] = act_bsum_q8_K(row, n);
	}
}
/* Q8_0 rows also hold each block scale repeated 8 times (64-byte aligned), so a 512-bit
 * kernel scales the 16 lane sums of two blocks with one memory operand. */
static inline size_t act_dx_offset_q8_0(size_t n)
{
	return (n + 8 * (n / QK8_0) + 63) & ~(size_t)63;
}
static inline const float *act_dx_q8_0(const unsigned char *row, size_t n)
{
	return (const float *)(const void *)(row + act_dx_offset_q8_0(n));
}
/* Q8_0 and Q8_1 rows share a layout; only the meaning of s differs (see struct quant_act). */
static inline size_t act_row_bytes(enum ggml_type act_type, size_t n)
{
	size_t bytes = act_type == GGML_TYPE_Q8_K ? n + 4 * (n / QK_K) + 2 * (n / 16)
	    : act_dx_offset_q8_0(n) + 32 * (n / QK8_0);
	return (bytes + 63) & ~(size_t)63;
}

/* The 6-bit scale and min of sub-block j (0..7) of a q4_K/q5_K block. */
static inline void get_scale_min_k4(int j, const uint8_t *q, uint8_t *sc, uint8_t *m)
{
	if (j < 4) {
		*sc = q[j] & 63;
		*m = q[j + 4] & 63;
	} else {
		*sc = (uint8_t)((q[j + 4] & 0xf) | ((q[j - 4] >> 6) << 4));
		*m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
	}
}

/* Unpack all 8 scales and mins at once. */
static inline void unpack_scales_k4(const uint8_t *q, uint8_t sc[8], uint8_t m[8])
{
	for (int j = 0; j < 8; j++)
		get_scale_min_k4(j, q, &sc[j], &m[j]);
}

static inline uint32_t load_u32_le(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The same 8 scales and 8 mins as byte lanes of two 64-bit words (scale j in byte j), computed
 * in registers so SIMD code can load them without a store-forwarding stall. */
static inline void unpack_scales_k4_u64(const uint8_t *q, uint64_t *sc, uint64_t *m)
{
	uint32_t a = load_u32_le(q), b = load_u32_le(q + 4), c = load_u32_le(q + 8);
	uint32_t sc_lo = a & 0x3f3f3f3fu, m_lo = b & 0x3f3f3f3fu;
	uint32_t sc_hi = (c & 0x0f0f0f0fu) | ((a >> 2) & 0x30303030u);
	uint32_t m_hi = ((c >> 4) & 0x0f0f0f0fu) | ((b >> 2) & 0x30303030u);
	*sc = (uint64_t)sc_lo | (uint64_t)sc_hi << 32;
	*m = (uint64_t)m_lo | (uint64_t)m_hi << 32;
}

/* ggml's horizontal sum of 8 float lanes (hsum_float_8 in its x86 code): the halves added lane
 * by lane, then lanes 0+2 and 1+3, then those two. */
static inline float quant_hsum8_order(const float a[8])
{
	return ((a[4] + a[0]) + (a[6] + a[2])) + ((a[5] + a[1]) + (a[7] + a[3]));
}

/* The q4_1/q5_1 minimum term of one block added to the running sum: summs + m * s, rounded
 * once (ggml's "summs += m * s" is compiled to a fused multiply-add on FMA machines). */
#define QUANT_SUMMS(summs, m, s) fmaf((m), (s), (summs))

/* The nearest integer to x, ties to even (what ggml's x86 quantizers get from
 * _mm256_round_ps), for |x| < 2^22 or NaN: adding 1.5 * 2^23 leaves no bits below the units,
 * so the addition itself rounds, in the default rounding mode, and the subtraction is exact. */
static inline float quant_round_even(float x)
{
	const float magic = 12582912.0f;
	return (x + magic) - magic;
}

/* float -> int8 with the saturation of vcvtps2dq + vpackss (NaN gives -128). */
static inline int8_t quant_sat_i8(float v)
{
	return v >= 127.0f ? 127 : v >= -128.0f ? (int8_t)v : -128;
}

/* quant-rows.c: activation rows quantized in portable C; quant-avx2.c: the same with AVX2 */
void quant_act_row_q8_0_scalar(const float *x, unsigned char *row, size_t n);
void quant_act_row_q8_1_scalar(const float *x, unsigned char *row, size_t n);
void quant_act_row_q8_K_scalar(const float *x, unsigned char *row, size_t n);
#if CPU_SIMD_X86
void quant_act_row_q8_0_avx2(const float *x, unsigned char *row, size_t n);
void quant_act_row_q8_1_avx2(const float *x, unsigned char *row, size_t n);
void quant_act_row_q8_K_avx2(const float *x, unsigned char *row, size_t n);
void quant_dot_q4_K_avx2(size_t, const void *, const unsigned char *, size_t, int, float *);
void quant_dot_q5_K_avx2(size_t, const void *, const unsigned char *, size_t, int, float *);
#endif

/* quant.c, quant-avx2.c, quant-avx512.c */
extern const struct quant_kernels quant_kernels_scalar;
#if CPU_SIMD_X86
extern const struct quant_kernels quant_kernels_avx2;
extern const struct quant_kernels quant_kernels_avx512;
#endif

/* quant.c: the scalar kernels one by one, for the SIMD tables' fallbacks. */
void quant_dot_f32_scalar(size_t, const void *, const unsigned char *, size_t, int, float *);
void quant_dot_f16_scalar(size_t, const void *, const unsigned char *, size_t, int, float *);
void quant_dot_bf16_scalar(size_t, const void *, const unsigned char *, size_t, int, float *);
void quant_dot_q4_0_scalar(size_t, const void *, const unsigned char *, size_t, int, float *);
void quant_dot_q4_1_scalar(size_t, const void *, const unsigned char *, size_t, int, float *);
void quant_dot_q5_0_scalar(size_t, const void *, const unsigned char *, size_t, int, float *);
void quant_dot_q5_1_scalar(size_t, const void *, const unsigned char *, size_t, int, float *);
void quant_dot_q8_0_scalar(size_t, const void *, const unsigned char *, size_t, int, float *);
void quant_dot_q4_K_scalar(size_t, const void *, const unsigned char *, size_t, int, float *);
void quant_dot_q5_K_scalar(size_t, const void *, const unsigned char *, size_t, int, float *);
void quant_dot_q6_K_scalar(size_t, const void *, const unsigned char *, size_t, int, float *);
void quant_dot_q4_K_x8v_scalar(size_t, const void *, const unsigned char *, size_t, int, float *);
void quant_dot_q4_K_x8g_scalar(size_t, const void *, const unsigned char *, size_t, int, float *);

#endif
