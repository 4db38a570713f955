/* quant.c: the portable dot-product kernels (every SIMD kernel must agree with these), and the
 * choice of kernel table for a SIMD level; the SIMD kernels are in quant-avx2.c and
 * quant-avx512.c, whole rows (dequantization, activations) in quant-rows.c. */
#include <math.h>
#include <string.h>

#include "kernels/quant-impl.h"

/* Each kernel is written for one activation row and wrapped to loop over nx of them. */
#define SCALAR_WRAP(name, one)                                                         \
	void name(size_t n, const void *w, const unsigned char *act, size_t stride, int nx, \
	    float *out)                                                                 \
	{                                                                              \
		for (int t = 0; t < nx; t++)                                           \
			out[t] = one(n, w, act + (size_t)t * stride);                  \
	}

static float dot_f32_one(size_t n, const void *w, const unsigned char *act)
{
	const float *x = (const float *)(const void *)act;
	const float *wf = w;
	float sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += wf[i] * x[i];
	return sum;
}

static float dot_f16_one(size_t n, const void *w, const unsigned char *act)
{
	const float *x = (const float *)(const void *)act;
	const uint16_t *wh = w;
	float sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += quant_fp16_to_f32(wh[i]) * x[i];
	return sum;
}

static float dot_bf16_one(size_t n, const void *w, const unsigned char *act)
{
	const float *x = (const float *)(const void *)act;
	const uint16_t *wh = w;
	float sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += quant_bf16_to_f32(wh[i]) * x[i];
	return sum;
}

/* The 32-element block types in ggml's order of operations (its x86 kernels, which llama.cpp
 * runs on this kind of machine), so that the products agree with llama.cpp's bit for bit: per
 * block the weight values (signed for q4_0/q5_0/q8_0, unsigned for q4_1/q5_1) times the
 * activations are summed as integers in 8 groups of 4 consecutive elements; group j keeps its
 * own float accumulator, acc[j] = fma(dw * da, group sum, acc[j]), block after block; the
 * accumulators are added as ((a4+a0) + (a6+a2)) + ((a5+a1) + (a7+a3)) (quant_hsum8_order) and
 * the q4_1/q5_1 minimums come last: + the sum over blocks of m * s, s the Q8_1 block sum.
 * Every SIMD kernel does exactly these float operations. */
enum kind { KIND_Q4_0, KIND_Q4_1, KIND_Q5_0, KIND_Q5_1, KIND_Q8_0 };

/* Block i's 32 weight values (ggml's: u - 8 for q4_0, u - 16 for q5_0, u for q4_1/q5_1), its
 * scale and, for q4_1/q5_1, its minimum. */
static void block_values(const uint8_t *w, size_t i, enum kind kind, int v[32], float *d,
    float *m)
{
	static const size_t bytes[] = { 18, 20, 22, 24, 34 };
	const uint8_t *b = w + i * bytes[kind];
	uint16_t h;
	memcpy(&h, b, 2);
	*d = quant_fp16_to_f32(h);
	*m = 0;
	if (kind == KIND_Q4_1 || kind == KIND_Q5_1) {
		memcpy(&h, b + 2, 2);
		*m = quant_fp16_to_f32(h);
	}
	if (kind == KIND_Q8_0) {
		for (int j = 0; j < 32; j++)
			v[j] = (int8_t)b[2 + j];
		return;
	}
	int has_m = kind == KIND_Q4_1 || kind == KIND_Q5_1;
	int has_h = kind == KIND_Q5_0 || kind == KIND_Q5_1;
	const uint8_t *qs = b + 2 + 2 * has_m + 4 * has_h;
	uint32_t qh = has_h ? load_u32_le(b + 2 + 2 * has_m) : 0;
	int off = kind == KIND_Q4_0 ? 8 : kind == KIND_Q5_0 ? 16 : 0;
	for (int j = 0; j < 16; j++) {
		v[j] = ((qs[j] & 0xf) | (int)((qh >> j) & 1) << 4) - off;
		v[j + 16] = ((qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4) - off;
	}
}

static float dot32_one(size_t n, const void *w, const unsigned char *act, enum kind kind)
{
	const int8_t *q = act_q(act);
	const float *da = act_d(act, n), *s = act_s_q8_0(act, n);
	float acc[8] = { 0 }, summs = 0;
	for (size_t i = 0; i < n / 32; i++, q += 32) {
		int v[32];
		float d, m;
		block_values(w, i, kind, v, &d, &m);
		float dd = d * da[i];
		for (int j = 0; j < 8; j++) {
			int g = 0;
			for (int e = 4 * j; e < 4 * j + 4; e++)
				g += v[e] * q[e];
			acc[j] = fmaf(dd, (float)g, acc[j]);
		}
		if (kind == KIND_Q4_1 || kind == KIND_Q5_1)
			summs = QUANT_SUMMS(summs, m, s[i]);
	}
	return quant_hsum8_order(acc) + summs;
}

static float dot_q4_0_one(size_t n, const void *w, const unsigned char *act)
{
	return dot32_one(n, w, act, KIND_Q4_0);
}

static float dot_q4_1_one(size_t n, const void *w, const unsigned char *act)
{
	return dot32_one(n, w, act, KIND_Q4_1);
}

static float dot_q5_0_one(size_t n, const void *w, const unsigned char *act)
{
	return dot32_one(n, w, act, KIND_Q5_0);
}

static float dot_q5_1_one(size_t n, const void *w, const unsigned char *act)
{
	return dot32_one(n, w, act, KIND_Q5_1);
}

static float dot_q8_0_one(size_t n, const void *w, const unsigned char *act)
{
	return dot32_one(n, w, act, KIND_Q8_0);
}

/* K-quants in the order of ggml's x86 kernels (ggml_vec_dot_q{4,5,6}_K_q8_K, AVX2 path): per
 * block the integer products, each times its sub-block scale, fall into 8 lanes, lane k
 * holding the elements 4k..4k+3 of every 32, and lane k is added to float sum k with one fused
 * multiply-add by d*da; the lanes meet at the end in quant_hsum8_order(). q4_K's minimum term
 * keeps 4 lanes (sub-blocks 2m and 2m+1 in lane m), q5_K's one running sum. The minimum sums
 * are kept with the opposite sign to ggml's (which multiplies by -dmin): negation is exact. */
enum kquant { KQ_Q4_K, KQ_Q5_K, KQ_Q6_K };

/* The elements of one block in order: unsigned values u[] (q4_K/q5_K, before the minimum)
 * or signed q6_K values minus 32, with each element's scale. */
static void k_block_values(const void *blk, enum kquant kind, int v[QK_K], int sc[QK_K],
    uint8_t mins[8])
{
	if (kind == KQ_Q6_K) {
		const struct block_q6_K *b = blk;
		for (int half = 0; half < 2; half++) {
			const uint8_t *ql = b->ql + 64 * half, *qh = b->qh + 32 * half;
			int *o = v + 128 * half;
			for (int l = 0; l < 32; l++) {
				o[l] = ((ql[l] & 0xf) | ((qh[l] >> 0) & 3) << 4) - 32;
				o[l + 32] = ((ql[l + 32] & 0xf) | ((qh[l] >> 2) & 3) << 4) - 32;
				o[l + 64] = ((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) - 32;
				o[l + 96] = ((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) - 32;
			}
		}
		for (int p = 0; p < QK_K; p++)
			sc[p] = b->scales[p / 16];
		return;
	}
	const uint8_t *scales, *qs, *qh = NULL;
	if (kind == KQ_Q4_K) {
		const struct block_q4_K *b = blk;
		scales = b->scales;
		qs = b->qs;
	} else {
		const struct block_q5_K *b = blk;
		scales = b->scales;
		qs = b->qs;
		qh = b->qh;
	}
	uint8_t s8[8];
	unpack_scales_k4(scales, s8, mins);
	for (int c = 0; c < 4; c++)
		for (int l = 0; l < 32; l++) {
			int lo = qs[32 * c + l] & 0xf, hi = qs[32 * c + l] >> 4;
			if (qh != NULL) {
				lo |= (qh[l] >> (2 * c) & 1) << 4;
				hi |= (qh[l] >> (2 * c + 1) & 1) << 4;
			}
			v[64 * c + l] = lo;
			v[64 * c + 32 + l] = hi;
		}
	for (int p = 0; p < QK_K; p++)
		sc[p] = s8[p / 32];
}

static float dot_k_one(size_t n, const void *w, const unsigned char *act, enum kquant kind)
{
	const size_t bs = kind == KQ_Q4_K ? sizeof(struct block_q4_K) :
	    kind == KQ_Q5_K ? sizeof(struct block_q5_K) : sizeof(struct block_q6_K);
	const int8_t *q = act_q(act);
	const float *da = act_d(act, n);
	const int16_t *bsum = act_bsum_q8_K(act, n);
	float acc[8] = { 0 }, accm[4] = { 0 }, summs = 0;
	int v[QK_K], sc[QK_K];
	for (size_t i = 0; i < n / QK_K; i++) {
		const unsigned char *blk = (const unsigned char *)w + i * bs;
		uint8_t m[8];
		k_block_values(blk, kind, v, sc, m);
		const int8_t *qq = q + i * QK_K;
		int32_t lane[8] = { 0 };
		for (int p = 0; p < QK_K; p++)
			lane[p % 32 / 4] += sc[p] * v[p] * qq[p];
		uint16_t dh, dminh;
		if (kind == KQ_Q6_K) {
			memcpy(&dh, &((const struct block_q6_K *)(const void *)blk)->d, 2);
		} else {
			memcpy(&dh, blk, 2);
			memcpy(&dminh, blk + 2, 2);
		}
		float d = da[i] * quant_fp16_to_f32(dh);
		for (int k = 0; k < 8; k++)
			acc[k] = fmaf(d, (float)lane[k], acc[k]);
		if (kind == KQ_Q6_K)
			continue;
		const int16_t *bs16 = bsum + i * 16;
		float dmin = da[i] * quant_fp16_to_f32(dminh);
		int32_t q8s[8], sm = 0;
		for (int j = 0; j < 8; j++)
			q8s[j] = bs16[2 * j] + bs16[2 * j + 1];
		if (kind == KQ_Q4_K) {
			for (int l = 0; l < 4; l++)
				accm[l] = fmaf(dmin, (float)(m[2 * l] * q8s[2 * l] +
				    m[2 * l + 1] * q8s[2 * l + 1]), accm[l]);
		} else {
			for (int j = 0; j < 8; j++)
				sm += m[j] * q8s[j];
			summs = QUANT_SUMMS(summs, dmin, (float)sm);
		}
	}
	float sum = quant_hsum8_order(acc);
	if (kind == KQ_Q4_K)
		return sum - ((accm[0] + accm[2]) + (accm[1] + accm[3]));
	if (kind == KQ_Q5_K)
		return sum - summs;
	return sum;
}

static float dot_q4_K_one(size_t n, const void *w, const unsigned char *act)
{
	return dot_k_one(n, w, act, KQ_Q4_K);
}

/* q4_K as llama.cpp's repacked kernels sum it: the gemv (ggml_gemv_q4_K_8x8_q8_K) adds each
 * block's whole integer sum and minimum sum with one fused multiply-add each, the gemm
 * (ggml_gemm_q4_K_8x8_q8_K) each 64 elements' (two sub-blocks). */
static float dot_q4_K_x8_one(size_t n, const void *w, const unsigned char *act, int step)
{
	const int8_t *q = act_q(act);
	const float *da = act_d(act, n);
	const int16_t *bsum = act_bsum_q8_K(act, n);
	const struct block_q4_K *b = w;
	float sum = 0, summ = 0;
	int v[QK_K], sc[QK_K];
	for (size_t i = 0; i < n / QK_K; i++) {
		uint8_t m[8];
		k_block_values(&b[i], KQ_Q4_K, v, sc, m);
		float d = da[i] * quant_fp16_to_f32(b[i].d);
		float dmin = da[i] * quant_fp16_to_f32(b[i].dmin);
		for (int p0 = 0; p0 < QK_K; p0 += step) {
			int32_t s = 0, sm = 0;
			for (int p = p0; p < p0 + step; p++)
				s += sc[p] * v[p] * q[i * QK_K + p];
			for (int j = p0 / 32; j < (p0 + step) / 32; j++)
				sm += m[j] * (bsum[i * 16 + 2 * j] + bsum[i * 16 + 2 * j + 1]);
			sum = fmaf(d, (float)s, sum);
			summ = fmaf(dmin, (float)sm, summ);
		}
	}
	return sum - summ;
}

static float dot_q4_K_x8v_one(size_t n, const void *w, const unsigned char *act)
{
	return dot_q4_K_x8_one(n, w, act, QK_K);
}

static float dot_q4_K_x8g_one(size_t n, const void *w, const unsigned char *act)
{
	return dot_q4_K_x8_one(n, w, act, 64);
}

static float dot_q5_K_one(size_t n, const void *w, const unsigned char *act)
{
	return dot_k_one(n, w, act, KQ_Q5_K);
}

static float dot_q6_K_one(size_t n, const void *w, const unsigned char *act)
{
	return dot_k_one(n, w, act, KQ_Q6_K);
}

SCALAR_WRAP(quant_dot_f32_scalar, dot_f32_one)
SCALAR_WRAP(quant_dot_f16_scalar, dot_f16_one)
SCALAR_WRAP(quant_dot_bf16_scalar, dot_bf16_one)
SCALAR_WRAP(quant_dot_q4_0_scalar, dot_q4_0_one)
SCALAR_WRAP(quant_dot_q4_1_scalar, dot_q4_1_one)
SCALAR_WRAP(quant_dot_q5_0_scalar, dot_q5_0_one)
SCALAR_WRAP(quant_dot_q5_1_scalar, dot_q5_1_one)
SCALAR_WRAP(quant_dot_q8_0_scalar, dot_q8_0_one)
SCALAR_WRAP(quant_dot_q4_K_scalar, dot_q4_K_one)
SCALAR_WRAP(quant_dot_q5_K_scalar, dot_q5_K_one)
SCALAR_WRAP(quant_dot_q6_K_scalar, dot_q6_K_one)
SCALAR_WRAP(quant_dot_q4_K_x8v_scalar, dot_q4_K_x8v_one)
SCALAR_WRAP(quant_dot_q4_K_x8g_scalar, dot_q4_K_x8g_one)

static void fp16_to_f32_scalar(const uint16_t *x, float *y, size_t n)
{
	for (size_t i = 0; i < n; i++)
		y[i] = quant_fp16_to_f32(x[i]);
}

static void f32_to_fp16_scalar(const float *x, uint16_t *y, size_t n)
{
	for (size_t i = 0; i < n; i++)
		y[i] = quant_f32_to_fp16(x[i]);
}

const struct quant_kernels quant_kernels_scalar = {
	.name = "scalar",
	.dot = {
		[GGML_TYPE_F32] = quant_dot_f32_scalar,
		[GGML_TYPE_F16] = quant_dot_f16_scalar,
		[GGML_TYPE_BF16] = quant_dot_bf16_scalar,
		[GGML_TYPE_Q4_0] = quant_dot_q4_0_scalar,
		[GGML_TYPE_Q4_1] = quant_dot_q4_1_scalar,
		[GGML_TYPE_Q5_0] = quant_dot_q5_0_scalar,
		[GGML_TYPE_Q5_1] = quant_dot_q5_1_scalar,
		[GGML_TYPE_Q8_0] = quant_dot_q8_0_scalar,
		[GGML_TYPE_Q4_K] = quant_dot_q4_K_scalar,
		[GGML_TYPE_Q5_K] = quant_dot_q5_K_scalar,
		[GGML_TYPE_Q6_K] = quant_dot_q6_K_scalar,
	},
	.dot_level = {
		[GGML_TYPE_F32] = "scalar", [GGML_TYPE_F16] = "scalar",
		[GGML_TYPE_BF16] = "scalar", [GGML_TYPE_Q4_0] = "scalar",
		[GGML_TYPE_Q4_1] = "scalar", [GGML_TYPE_Q5_0] = "scalar",
		[GGML_TYPE_Q5_1] = "scalar", [GGML_TYPE_Q8_0] = "scalar",
		[GGML_TYPE_Q4_K] = "scalar", [GGML_TYPE_Q5_K] = "scalar",
		[GGML_TYPE_Q6_K] = "scalar",
	},
	.dot_q4_K_x8 = { quant_dot_q4_K_x8v_scalar, quant_dot_q4_K_x8g_scalar },
	.fp16_to_f32 = fp16_to_f32_scalar,
	.f32_to_fp16 = f32_to_fp16_scalar,
	.act_q8_0 = quant_act_row_q8_0_scalar,
	.act_q8_1 = quant_act_row_q8_1_scalar,
	.act_q8_K = quant_act_row_q8_K_scalar,
};

static const struct quant_kernels *const by_level[CPU_SIMD_COUNT_] = {
	&quant_kernels_scalar, CPU_SIMD_X86_ONLY(&quant_kernels_avx2),
	CPU_SIMD_X86_ONLY(&quant_kernels_avx512)
};

const struct quant_kernels *quant_kernels_for(enum cpu_simd_level level)
{
	return CPU_SIMD_PICK(by_level, level);
}

const struct quant_kernels *quant_kernels_active(void)
{
	return CPU_SIMD_PICK_ACTIVE(by_level);
}
