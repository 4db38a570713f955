/* quant-scalar.c: the portable dot-product kernels; every SIMD kernel must agree with these. */
#include <math.h>

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

/* K-quants: a sub-block j contributes d*sc[j]*da*sum(u*q) - dmin*m[j]*da*sum(q). u[] holds the
 * 256 unsigned values of the block in element order. */
static float k4_block(const uint8_t u[QK_K], const uint8_t *scales, float d, float dmin,
    const int8_t *q, float da, const int16_t *bsum)
{
	uint8_t sc[8], m[8];
	unpack_scales_k4(scales, sc, m);
	int sumi = 0, summ = 0;
	for (int j = 0; j < 8; j++) {
		int s = 0;
		for (int l = 0; l < 32; l++)
			s += u[32 * j + l] * q[32 * j + l];
		sumi += sc[j] * s;
		summ += m[j] * (bsum[2 * j] + bsum[2 * j + 1]);
	}
	return d * da * (float)sumi - dmin * da * (float)summ;
}

static float dot_q4_K_one(size_t n, const void *w, const unsigned char *act)
{
	const struct block_q4_K *b = w;
	const int8_t *q = act_q(act);
	const float *da = act_d(act, n);
	const int16_t *bsum = act_bsum_q8_K(act, n);
	float sum = 0;
	uint8_t u[QK_K];
	for (size_t i = 0; i < n / QK_K; i++) {
		for (int c = 0; c < 4; c++)
			for (int l = 0; l < 32; l++) {
				u[64 * c + l] = b[i].qs[32 * c + l] & 0xf;
				u[64 * c + 32 + l] = b[i].qs[32 * c + l] >> 4;
			}
		sum += k4_block(u, b[i].scales, quant_fp16_to_f32(b[i].d),
		    quant_fp16_to_f32(b[i].dmin), q + i * QK_K, da[i], bsum + i * 16);
	}
	return sum;
}

static float dot_q5_K_one(size_t n, const void *w, const unsigned char *act)
{
	const struct block_q5_K *b = w;
	const int8_t *q = act_q(act);
	const float *da = act_d(act, n);
	const int16_t *bsum = act_bsum_q8_K(act, n);
	float sum = 0;
	uint8_t u[QK_K];
	for (size_t i = 0; i < n / QK_K; i++) {
		for (int c = 0; c < 4; c++)
			for (int l = 0; l < 32; l++) {
				int h = b[i].qh[l] >> (2 * c);
				u[64 * c + l] = (uint8_t)((b[i].qs[32 * c + l] & 0xf) | (h & 1) << 4);
				u[64 * c + 32 + l] = (uint8_t)((b[i].qs[32 * c + l] >> 4) |
				    (h & 2) << 3);
			}
		sum += k4_block(u, b[i].scales, quant_fp16_to_f32(b[i].d),
		    quant_fp16_to_f32(b[i].dmin), q + i * QK_K, da[i], bsum + i * 16);
	}
	return sum;
}

static float dot_q6_K_one(size_t n, const void *w, const unsigned char *act)
{
	const struct block_q6_K *b = w;
	const int8_t *q = act_q(act);
	const float *da = act_d(act, n);
	float sum = 0;
	for (size_t i = 0; i < n / QK_K; i++) {
		int sumi = 0;
		for (int half = 0; half < 2; half++) {
			const uint8_t *ql = b[i].ql + 64 * half, *qh = b[i].qh + 32 * half;
			const int8_t *sc = b[i].scales + 8 * half;
			const int8_t *qq = q + i * QK_K + 128 * half;
			int s[8] = { 0 };
			for (int l = 0; l < 32; l++) {
				int u0 = (ql[l] & 0xf) | ((qh[l] >> 0) & 3) << 4;
				int u1 = (ql[l + 32] & 0xf) | ((qh[l] >> 2) & 3) << 4;
				int u2 = (ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4;
				int u3 = (ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4;
				s[l / 16 + 0] += (u0 - 32) * qq[l];
				s[l / 16 + 2] += (u1 - 32) * qq[l + 32];
				s[l / 16 + 4] += (u2 - 32) * qq[l + 64];
				s[l / 16 + 6] += (u3 - 32) * qq[l + 96];
			}
			for (int k = 0; k < 8; k++)
				sumi += sc[k] * s[k];
		}
		sum += quant_fp16_to_f32(b[i].d) * da[i] * (float)sumi;
	}
	return sum;
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
	.fp16_to_f32 = fp16_to_f32_scalar,
	.f32_to_fp16 = f32_to_fp16_scalar,
	.act_q8_0 = quant_act_row_q8_0_scalar,
	.act_q8_1 = quant_act_row_q8_1_scalar,
	.act_q8_K = quant_act_row_q8_K_scalar,
};
