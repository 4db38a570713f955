/* quant-scalar.c: the portable dot-product kernels; every SIMD kernel must agree with these. */
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

/* 32-element blocks: weight = d * u + bias with u >= 0, so a block contributes
 * d * da * sum(u * q) + bias * s, where s = da * sum(q) comes with the activations. */
static float dot_q4_0_one(size_t n, const void *w, const unsigned char *act)
{
	const struct block_q4_0 *b = w;
	const int8_t *q = act_q(act);
	const float *da = act_d(act, n), *s = act_s_q8_0(act, n);
	float sum = 0;
	for (size_t i = 0; i < n / QK4_0; i++, q += QK4_0) {
		int isum = 0;
		for (int j = 0; j < 16; j++)
			isum += (b[i].qs[j] & 0xf) * q[j] + (b[i].qs[j] >> 4) * q[j + 16];
		float d = quant_fp16_to_f32(b[i].d);
		sum += d * da[i] * (float)isum - 8 * d * s[i];
	}
	return sum;
}

static float dot_q4_1_one(size_t n, const void *w, const unsigned char *act)
{
	const struct block_q4_1 *b = w;
	const int8_t *q = act_q(act);
	const float *da = act_d(act, n), *s = act_s_q8_0(act, n);
	float sum = 0;
	for (size_t i = 0; i < n / QK4_1; i++, q += QK4_1) {
		int isum = 0;
		for (int j = 0; j < 16; j++)
			isum += (b[i].qs[j] & 0xf) * q[j] + (b[i].qs[j] >> 4) * q[j + 16];
		sum += quant_fp16_to_f32(b[i].d) * da[i] * (float)isum +
		    quant_fp16_to_f32(b[i].m) * s[i];
	}
	return sum;
}

static int q5_isum(const uint8_t *qs, const uint8_t *qh4, const int8_t *q)
{
	uint32_t qh = load_u32_le(qh4);
	int isum = 0;
	for (int j = 0; j < 16; j++) {
		int lo = (qs[j] & 0xf) | (int)((qh >> j) & 1) << 4;
		int hi = (qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
		isum += lo * q[j] + hi * q[j + 16];
	}
	return isum;
}

static float dot_q5_0_one(size_t n, const void *w, const unsigned char *act)
{
	const struct block_q5_0 *b = w;
	const int8_t *q = act_q(act);
	const float *da = act_d(act, n), *s = act_s_q8_0(act, n);
	float sum = 0;
	for (size_t i = 0; i < n / QK5_0; i++, q += QK5_0) {
		int isum = q5_isum(b[i].qs, b[i].qh, q);
		float d = quant_fp16_to_f32(b[i].d);
		sum += d * da[i] * (float)isum - 16 * d * s[i];
	}
	return sum;
}

static float dot_q5_1_one(size_t n, const void *w, const unsigned char *act)
{
	const struct block_q5_1 *b = w;
	const int8_t *q = act_q(act);
	const float *da = act_d(act, n), *s = act_s_q8_0(act, n);
	float sum = 0;
	for (size_t i = 0; i < n / QK5_1; i++, q += QK5_1) {
		int isum = q5_isum(b[i].qs, b[i].qh, q);
		sum += quant_fp16_to_f32(b[i].d) * da[i] * (float)isum +
		    quant_fp16_to_f32(b[i].m) * s[i];
	}
	return sum;
}

static float dot_q8_0_one(size_t n, const void *w, const unsigned char *act)
{
	const struct block_q8_0 *b = w;
	const int8_t *q = act_q(act);
	const float *da = act_d(act, n);
	float sum = 0;
	for (size_t i = 0; i < n / QK8_0; i++, q += QK8_0) {
		int isum = 0;
		for (int j = 0; j < QK8_0; j++)
			isum += b[i].qs[j] * q[j];
		sum += quant_fp16_to_f32(b[i].d) * da[i] * (float)isum;
	}
	return sum;
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
	.act_q8_K = quant_act_row_q8_K_scalar,
};
