/* quant-rows.c: whole rows: exact dequantization, quantization of activations and stored rows,
 * fp16/bf16 row conversion. */
#include <math.h>
#include <stdlib.h>

#include "kernels/quant-impl.h"
#include "lib/threadpool.h"
#include "lib/util.h"

int quant_type_supported(enum ggml_type type)
{
	const struct ggml_type_traits *tr = ggml_type_traits_of((uint32_t)type);
	return tr != NULL && tr->computable && quant_kernels_scalar.dot[type] != NULL;
}

int quant_row_size(enum ggml_type type, size_t n, size_t *bytes, char **err)
{
	const struct ggml_type_traits *tr = ggml_type_traits_of((uint32_t)type);
	if (tr == NULL || !quant_type_supported(type))
		return q_error(err, "tensor type %s (%u) is not supported by the CPU kernels",
		    tr ? tr->name : "unknown", (unsigned)type);
	if (n % tr->block_elems != 0)
		return q_error(err, "a row of %zu %s elements is not a whole number of %u-element "
		    "blocks", n, tr->name, tr->block_elems);
	if (q_mul_size(n / tr->block_elems, tr->block_bytes, bytes) < 0)
		return q_error(err, "a row of %zu %s elements is too large", n, tr->name);
	return 0;
}

/* --- dequantization: the same float operations, in the same order, as ggml --------------- */

static void dequant_q4_0(const struct block_q4_0 *b, float *y, size_t nb)
{
	for (size_t i = 0; i < nb; i++, y += QK4_0) {
		float d = quant_fp16_to_f32(b[i].d);
		for (int j = 0; j < 16; j++) {
			y[j] = d * (float)((b[i].qs[j] & 0xf) - 8);
			y[j + 16] = d * (float)((b[i].qs[j] >> 4) - 8);
		}
	}
}

static void dequant_q4_1(const struct block_q4_1 *b, float *y, size_t nb)
{
	for (size_t i = 0; i < nb; i++, y += QK4_1) {
		float d = quant_fp16_to_f32(b[i].d), m = quant_fp16_to_f32(b[i].m);
		for (int j = 0; j < 16; j++) {
			y[j] = d * (float)(b[i].qs[j] & 0xf) + m;
			y[j + 16] = d * (float)(b[i].qs[j] >> 4) + m;
		}
	}
}

static void q5_values(const uint8_t *qs, const uint8_t *qh4, int u[32])
{
	uint32_t qh = load_u32_le(qh4);
	for (int j = 0; j < 16; j++) {
		u[j] = (qs[j] & 0xf) | (int)((qh >> j) & 1) << 4;
		u[j + 16] = (qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
	}
}

static void dequant_q5_0(const struct block_q5_0 *b, float *y, size_t nb)
{
	int u[32];
	for (size_t i = 0; i < nb; i++, y += QK5_0) {
		float d = quant_fp16_to_f32(b[i].d);
		q5_values(b[i].qs, b[i].qh, u);
		for (int j = 0; j < 32; j++)
			y[j] = d * (float)(u[j] - 16);
	}
}

static void dequant_q5_1(const struct block_q5_1 *b, float *y, size_t nb)
{
	int u[32];
	for (size_t i = 0; i < nb; i++, y += QK5_1) {
		float d = quant_fp16_to_f32(b[i].d), m = quant_fp16_to_f32(b[i].m);
		q5_values(b[i].qs, b[i].qh, u);
		for (int j = 0; j < 32; j++)
			y[j] = d * (float)u[j] + m;
	}
}

static void dequant_q8_0(const struct block_q8_0 *b, float *y, size_t nb)
{
	for (size_t i = 0; i < nb; i++, y += QK8_0) {
		float d = quant_fp16_to_f32(b[i].d);
		for (int j = 0; j < QK8_0; j++)
			y[j] = d * (float)b[i].qs[j];
	}
}

static void dequant_q4_K(const struct block_q4_K *b, float *y, size_t nb)
{
	for (size_t i = 0; i < nb; i++) {
		float d = quant_fp16_to_f32(b[i].d), dmin = quant_fp16_to_f32(b[i].dmin);
		uint8_t sc[8], m[8];
		unpack_scales_k4(b[i].scales, sc, m);
		const uint8_t *q = b[i].qs;
		for (int c = 0; c < 4; c++, q += 32, y += 64) {
			float d1 = d * sc[2 * c], m1 = dmin * m[2 * c];
			float d2 = d * sc[2 * c + 1], m2 = dmin * m[2 * c + 1];
			for (int l = 0; l < 32; l++)
				y[l] = d1 * (float)(q[l] & 0xf) - m1;
			for (int l = 0; l < 32; l++)
				y[32 + l] = d2 * (float)(q[l] >> 4) - m2;
		}
	}
}

static void dequant_q5_K(const struct block_q5_K *b, float *y, size_t nb)
{
	for (size_t i = 0; i < nb; i++) {
		float d = quant_fp16_to_f32(b[i].d), dmin = quant_fp16_to_f32(b[i].dmin);
		uint8_t sc[8], m[8];
		unpack_scales_k4(b[i].scales, sc, m);
		const uint8_t *q = b[i].qs, *qh = b[i].qh;
		for (int c = 0; c < 4; c++, q += 32, y += 64) {
			float d1 = d * sc[2 * c], m1 = dmin * m[2 * c];
			float d2 = d * sc[2 * c + 1], m2 = dmin * m[2 * c + 1];
			uint8_t u1 = (uint8_t)(1u << (2 * c)), u2 = (uint8_t)(2u << (2 * c));
			for (int l = 0; l < 32; l++)
				y[l] = d1 * (float)((q[l] & 0xf) + (qh[l] & u1 ? 16 : 0)) - m1;
			for (int l = 0; l < 32; l++)
				y[32 + l] = d2 * (float)((q[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
		}
	}
}

static void dequant_q6_K(const struct block_q6_K *b, float *y, size_t nb)
{
	for (size_t i = 0; i < nb; i++) {
		float d = quant_fp16_to_f32(b[i].d);
		for (int half = 0; half < 2; half++, y += 128) {
			const uint8_t *ql = b[i].ql + 64 * half, *qh = b[i].qh + 32 * half;
			const int8_t *sc = b[i].scales + 8 * half;
			for (int l = 0; l < 32; l++) {
				int is = l / 16;
				int q1 = ((ql[l] & 0xf) | ((qh[l] >> 0) & 3) << 4) - 32;
				int q2 = ((ql[l + 32] & 0xf) | ((qh[l] >> 2) & 3) << 4) - 32;
				int q3 = ((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) - 32;
				int q4 = ((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) - 32;
				y[l] = (d * (float)sc[is + 0]) * (float)q1;
				y[l + 32] = (d * (float)sc[is + 2]) * (float)q2;
				y[l + 64] = (d * (float)sc[is + 4]) * (float)q3;
				y[l + 96] = (d * (float)sc[is + 6]) * (float)q4;
			}
		}
	}
}

int quant_dequantize_row(enum ggml_type type, const void *src, float *dst, size_t n, char **err)
{
	size_t bytes;
	if (quant_row_size(type, n, &bytes, err) < 0)
		return -1;
	switch (type) {
	case GGML_TYPE_F32:
		memcpy(dst, src, n * sizeof(float));
		break;
	case GGML_TYPE_F16:
		quant_fp16_to_f32_row(src, dst, n);
		break;
	case GGML_TYPE_BF16:
		quant_bf16_to_f32_row(src, dst, n);
		break;
	case GGML_TYPE_Q4_0: dequant_q4_0(src, dst, n / QK4_0); break;
	case GGML_TYPE_Q4_1: dequant_q4_1(src, dst, n / QK4_1); break;
	case GGML_TYPE_Q5_0: dequant_q5_0(src, dst, n / QK5_0); break;
	case GGML_TYPE_Q5_1: dequant_q5_1(src, dst, n / QK5_1); break;
	case GGML_TYPE_Q8_0: dequant_q8_0(src, dst, n / QK8_0); break;
	case GGML_TYPE_Q4_K: dequant_q4_K(src, dst, n / QK_K); break;
	case GGML_TYPE_Q5_K: dequant_q5_K(src, dst, n / QK_K); break;
	case GGML_TYPE_Q6_K: dequant_q6_K(src, dst, n / QK_K); break;
	default:
		return q_error(err, "tensor type %u has no dequantization", (unsigned)type);
	}
	return 0;
}

/* --- quantization ----------------------------------------------------------------------- */

/* ggml's Q8_0/Q8_1 rule on x86: dd = amax/127, q = x * (127/amax) rounded to nearest even
 * (saturated to int8, which only NaNs reach); the block scale is fp16(dd). Writes the int8
 * values, returns dd unrounded and the sum of q in *sum. The SIMD versions (quant-avx2.c) do
 * the same float operations, so every level quantizes identically. */
static float q8_block(const float *x, int8_t *q, int *sum)
{
	float amax = 0;
	for (int j = 0; j < QK8_0; j++)
		amax = fmaxf(amax, fabsf(x[j]));
	float id = amax != 0 ? 127.0f / amax : 0.0f;
	int s = 0;
	for (int j = 0; j < QK8_0; j++) {
		q[j] = quant_sat_i8(quant_round_even(x[j] * id));
		s += q[j];
	}
	*sum = s;
	return amax / 127.0f;
}

void quant_quantize_row_q8_0(const float *x, struct block_q8_0 *y, size_t n)
{
	int sum;
	for (size_t i = 0; i < n / QK8_0; i++)
		y[i].d = quant_f32_to_fp16(q8_block(x + i * QK8_0, y[i].qs, &sum));
}

/* One activation row of Q8_0 (q1 == 0) or Q8_1 (q1 == 1) blocks. */
static void act_row_q8(const float *x, unsigned char *row, size_t n, int q1)
{
	int8_t *q = (int8_t *)row;
	float *d = (float *)(void *)(row + n);
	float *s = d + n / QK8_0;
	float *dx = (float *)(void *)(row + act_dx_offset_q8_0(n));
	for (size_t i = 0; i < n / QK8_0; i++) {
		int sum;
		float dd = q8_block(x + i * QK8_0, q + i * QK8_0, &sum);
		d[i] = quant_fp16_to_f32(quant_f32_to_fp16(dd));
		if (q1)
			s[i] = quant_fp16_to_f32(quant_f32_to_fp16(dd * (float)sum));
		else
			s[i] = d[i] * (float)sum;   /* exact: 11-bit d times a 13-bit sum */
		for (int j = 0; j < 8; j++)
			dx[8 * i + (size_t)j] = d[i];
	}
}

void quant_act_row_q8_0_scalar(const float *x, unsigned char *row, size_t n)
{
	act_row_q8(x, row, n, 0);
}

void quant_act_row_q8_1_scalar(const float *x, unsigned char *row, size_t n)
{
	act_row_q8(x, row, n, 1);
}

/* Q8_K as ggml's quantize_row_q8_K_ref: q = nearest-even(x * 127/amax) and d = 1/(127/amax),
 * the reciprocal of the multiplier (not amax/127, which can differ in the last place). ggml
 * divides by the signed extreme, which negates both q and d when it is positive: the products
 * come out the same. */
void quant_act_row_q8_K_scalar(const float *x, unsigned char *row, size_t n)
{
	int8_t *q = (int8_t *)row;
	float *d = (float *)(void *)(row + n);
	int16_t *bsum = (int16_t *)(void *)(row + n + 4 * (n / QK_K));
	for (size_t i = 0; i < n / QK_K; i++) {
		const float *xb = x + i * QK_K;
		int8_t *qb = q + i * QK_K;
		float amax = 0;
		for (int j = 0; j < QK_K; j++)
			amax = fmaxf(amax, fabsf(xb[j]));
		float id = amax != 0 ? 127.0f / amax : 0.0f;
		d[i] = amax != 0 ? 1.0f / id : 0.0f;
		for (int j = 0; j < QK_K; j++) {
			float v = quant_round_even(xb[j] * id);
			qb[j] = (int8_t)(v >= 127.0f ? 127 : v >= -127.0f ? (int)v : -127);
		}
		for (int k = 0; k < QK_K / 16; k++) {
			int sum = 0;
			for (int j = 0; j < 16; j++)
				sum += qb[16 * k + j];
			bsum[i * (QK_K / 16) + (size_t)k] = (int16_t)sum;
		}
	}
}

void quant_f32_to_fp16_row(const float *x, uint16_t *y, size_t n)
{
	quant_kernels_active()->f32_to_fp16(x, y, n);
}

void quant_fp16_to_f32_row(const uint16_t *x, float *y, size_t n)
{
	quant_kernels_active()->fp16_to_f32(x, y, n);
}

void quant_bf16_to_f32_row(const uint16_t *x, float *y, size_t n)
{
	for (size_t i = 0; i < n; i++)
		y[i] = quant_bf16_to_f32(x[i]);
}

/* --- activations ------------------------------------------------------------------------ */

enum ggml_type quant_act_type(enum ggml_type weight_type)
{
	switch (weight_type) {
	case GGML_TYPE_Q4_0: case GGML_TYPE_Q5_0: case GGML_TYPE_Q8_0:
		return GGML_TYPE_Q8_0;
	case GGML_TYPE_Q4_1: case GGML_TYPE_Q5_1:
		return GGML_TYPE_Q8_1;
	case GGML_TYPE_Q4_K: case GGML_TYPE_Q5_K: case GGML_TYPE_Q6_K:
		return GGML_TYPE_Q8_K;
	default:
		return GGML_TYPE_F32;
	}
}

struct act_job {
	struct quant_act *a;
	const float *x;
	size_t next_row;      /* atomic: the next row to quantize */
};

static void act_job_run(void *ctx, int ith, int nth)
{
	(void)ith;
	(void)nth;
	struct act_job *job = ctx;
	struct quant_act *a = job->a;
	const struct quant_kernels *k = quant_kernels_active();
	for (;;) {
		size_t r = __atomic_fetch_add(&job->next_row, 1, __ATOMIC_RELAXED);
		if (r >= a->n_rows)
			break;
		unsigned char *row = a->mem + r * a->stride;
		if (a->type == GGML_TYPE_Q8_K)
			k->act_q8_K(job->x + r * a->n, row, a->n);
		else if (a->type == GGML_TYPE_Q8_1)
			k->act_q8_1(job->x + r * a->n, row, a->n);
		else
			k->act_q8_0(job->x + r * a->n, row, a->n);
	}
}

int quant_act_prepare(struct quant_act *a, enum ggml_type weight_type, const float *x,
    size_t n_rows, size_t n, struct threadpool *tp, char **err)
{
	size_t bytes;
	if (quant_row_size(weight_type, n, &bytes, err) < 0)
		return -1;
	a->type = quant_act_type(weight_type);
	a->n = n;
	a->n_rows = n_rows;
	if (a->type == GGML_TYPE_F32) {
		a->stride = n * sizeof(float);
		a->rows = (const unsigned char *)x;
		return 0;
	}
	a->stride = act_row_bytes(a->type, n);
	size_t total;
	if (q_mul_size(a->stride, n_rows, &total) < 0)
		return q_error(err, "%zu activation rows of %zu elements are too many", n_rows, n);
	if (total > a->cap) {
		free(a->mem);
		a->mem = NULL;
		if (posix_memalign((void **)&a->mem, 64, total ? total : 64) != 0)
			fatal("out of memory allocating %zu bytes of activations", total);
		a->cap = total;
	}
	a->rows = a->mem;
	struct act_job job = { a, x, 0 };
	/* One row of a few thousand elements takes about a microsecond: only batches are worth
	 * waking the pool for. */
	if (n_rows >= 8 && tp != NULL)
		threadpool_run_greedy(tp, act_job_run, &job);
	else
		act_job_run(&job, 0, 1);
	return 0;
}

void quant_act_dequantize(const struct quant_act *a, size_t row, float *out)
{
	const unsigned char *r = a->rows + row * a->stride;
	if (a->type == GGML_TYPE_F32) {
		memcpy(out, r, a->n * sizeof(float));
		return;
	}
	const int8_t *q = act_q(r);
	const float *d = act_d(r, a->n);
	size_t block = a->type == GGML_TYPE_Q8_K ? QK_K : QK8_0;
	for (size_t i = 0; i < a->n; i++)
		out[i] = d[i / block] * (float)q[i];
}

void quant_act_block_sums(const struct quant_act *a, size_t row, float *out)
{
	if (a->type != GGML_TYPE_Q8_0 && a->type != GGML_TYPE_Q8_1)
		return;
	memcpy(out, act_s_q8_0(a->rows + row * a->stride, a->n), a->n / QK8_0 * sizeof(float));
}

void quant_act_free(struct quant_act *a)
{
	free(a->mem);
	a->mem = NULL;
	a->cap = 0;
	a->rows = NULL;
}
