/* t-attn-exact.c: the kernels that reproduce llama.cpp's arithmetic (kernels/attn-exact.h,
 * swiglu-cpu.h, ggml-vec-math.h): every SIMD level gives the scalar definition's bits on
 * random shapes; sums that only ggml's order of operations gives (the 16-lane reduce tree,
 * vec_dot's folding and its double tail after the KV padding) come out as ggml's; and the
 * results are still attention and SwiGLU (close to a double-precision reference). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/attn-exact.h"
#include "kernels/cpu-features.h"
#include "kernels/ggml-vec-math.h"
#include "kernels/quant.h"
#include "kernels/swiglu-cpu.h"
#include "lib/util.h"
#include "tests/tap.h"

#define FRAND_SEED 0x2545f4914f6cdd1dULL
#include "tests/attn-ref.h"

static float h(float x)    /* x rounded to fp16 */
{
	return quant_fp16_to_f32(quant_f32_to_fp16(x));
}

/* The five kernels of one level on one random case, into out[5][...]. */
struct exact_case {
	size_t n, dim, stride;
	float *q, *w, *scores_in;
	uint16_t *k, *v;
};

static struct exact_case make_case(size_t n, size_t dim, float spread)
{
	struct exact_case c = { n, dim, dim + 8, NULL, NULL, NULL, NULL, NULL };
	c.q = xreallocarray(NULL, dim, sizeof(float));
	c.w = xreallocarray(NULL, n, sizeof(float));
	c.scores_in = xreallocarray(NULL, n, sizeof(float));
	c.k = xreallocarray(NULL, n * c.stride, sizeof(uint16_t));
	c.v = xreallocarray(NULL, n * c.stride, sizeof(uint16_t));
	for (size_t i = 0; i < dim; i++)
		c.q[i] = h(3.0f * frand());
	for (size_t p = 0; p < n; p++) {
		c.w[p] = h(0.5f + 0.5f * frand());
		c.scores_in[p] = spread * frand();
	}
	for (size_t i = 0; i < n * c.stride; i++) {
		c.k[i] = quant_f32_to_fp16(2.0f * frand());
		c.v[i] = quant_f32_to_fp16(2.0f * frand());
	}
	return c;
}

static void free_case(struct exact_case *c)
{
	free(c->q);
	free(c->w);
	free(c->scores_in);
	free(c->k);
	free(c->v);
}

/* Run every kernel; out holds qk_gemm | qk_vec_dot | softmax | wv_gemm | wv_vec_dot. */
static void run_case(const struct attn_exact_kernels *ek, const struct exact_case *c,
    float *out)
{
	size_t n = c->n, dim = c->dim;
	float *o = out;
	if (dim % 16 == 0)
		ek->qk_gemm(c->q, c->k, c->stride, n, dim, 0.125f, o);
	o += n;
	ek->qk_vec_dot(c->q, c->k, c->stride, n, dim, 0.125f, o);
	o += n;
	memcpy(o, c->scores_in, n * sizeof(float));
	ek->softmax(o, n);
	o += n;
	if (dim % 4 == 0)
		ek->wv_gemm(c->w, c->v, c->stride, n, dim, o);
	o += dim;
	ek->wv_vec_dot(c->w, c->v, c->stride, n, dim, o);
}

static void test_levels_agree(void)
{
	static const size_t dims[] = { 64, 128, 96, 80, 40, 256 };
	static const size_t ns[] = { 1, 5, 16, 17, 31, 32, 33, 63, 64, 65, 90, 96, 97, 128, 200,
	    1000 };
	const struct attn_exact_kernels *ref = attn_exact_for(CPU_SIMD_SCALAR);
	for (int level = CPU_SIMD_AVX2; level < CPU_SIMD_COUNT_; level++) {
		const struct attn_exact_kernels *ek = attn_exact_for(level);
		if (ek == NULL) {
			diag("level %s: not on this CPU", cpu_simd_name((enum cpu_simd_level)level));
			continue;
		}
		int cases = 0, same = 0;
		for (size_t di = 0; di < Q_ARRAY_LEN(dims); di++)
			for (size_t ni = 0; ni < Q_ARRAY_LEN(ns); ni++)
				for (int sp = 0; sp < 2; sp++) {
					/* spread 200: scores far below the maximum (subnormal and zero e^x) */
					struct exact_case c = make_case(ns[ni], dims[di], sp ? 200.0f : 4.0f);
					size_t len = 3 * c.n + 2 * c.dim;
					float *a = xcalloc(len, sizeof(float));
					float *b = xcalloc(len, sizeof(float));
					run_case(ref, &c, a);
					run_case(ek, &c, b);
					cases++;
					if (memcmp(a, b, len * sizeof(float)) == 0)
						same++;
					else
						diag("%s differs from scalar: dim %zu n %zu spread %d", ek->name,
						    c.dim, c.n, sp);
					free(a);
					free(b);
					free_case(&c);
				}
		is_int(same, cases, "%s: the exact kernels give the scalar definition's bits on "
		    "every case", ek->name);
	}
}

/* The sums are still the right sums: against double precision. */
static void test_close_to_double(void)
{
	const struct attn_exact_kernels *ek = attn_exact_active();
	struct exact_case c = make_case(300, 64, 6.0f);
	float *o = xcalloc(3 * c.n + 2 * c.dim, sizeof(float));
	run_case(ek, &c, o);
	double worst_qk = 0, worst_wv = 0, worst_p = 0, psum = 0, mx = -INFINITY, sum = 0;
	for (size_t p = 0; p < c.n; p++) {
		double d = 0;
		for (size_t i = 0; i < c.dim; i++)
			d += (double)c.q[i] * quant_fp16_to_f32(c.k[p * c.stride + i]);
		d *= 0.125;
		worst_qk = fmax(worst_qk, fmax(fabs(o[p] - d), fabs(o[c.n + p] - d)));
		mx = fmax(mx, c.scores_in[p]);
	}
	for (size_t p = 0; p < c.n; p++)
		sum += exp(c.scores_in[p] - mx);
	for (size_t p = 0; p < c.n; p++) {
		double want = exp(c.scores_in[p] - mx) / sum;
		/* fp16: 2^-11 relative, or its subnormal step 2^-24 for tiny probabilities */
		worst_p = fmax(worst_p, fabs(o[2 * c.n + p] - want) / (want + 1.2e-4));
		psum += o[2 * c.n + p];
	}
	for (size_t i = 0; i < c.dim; i++) {
		double d = 0;
		for (size_t p = 0; p < c.n; p++)
			d += (double)c.w[p] * quant_fp16_to_f32(c.v[p * c.stride + i]);
		worst_wv = fmax(worst_wv, fmax(fabs(o[3 * c.n + i] - d),
		    fabs(o[3 * c.n + c.dim + i] - d)));
	}
	ok(worst_qk < 1e-4, "q.k within 1e-4 of double (worst %.3g)", worst_qk);
	ok(worst_p < 1e-3, "softmax within fp16 rounding of double (worst %.3g)", worst_p);
	ok(fabs(psum - 1.0) < 0.02, "probabilities sum to 1 (%.6f)", psum);
	ok(worst_wv < 1e-3, "p.v within 1e-3 of double over 300 keys (worst %.3g)", worst_wv);
	free(o);
	free_case(&c);
}

/* Sums whose value depends on the order of the additions: ggml's order gives one value,
 * simpler orders another. 2^24 + 1 rounds back to 2^24 in fp32; 2^24 + 2 does not. */
static void test_orders(void)
{
	const float big = 16777216.0f;   /* 2^24 = 4096 * 4096, both fp16 */
	float lanes[16] = { 0 };
	lanes[0] = 1.0f;
	lanes[8] = big;
	lanes[4] = -big;
	is_double(ggml_hsum16(lanes), 0.0, 0.0, "reduce tree: (1 + 2^24) + (-2^24) = 0 "
	    "(left to right gives 1)");
	for (int level = 0; level < CPU_SIMD_COUNT_; level++) {
		const struct attn_exact_kernels *ek = attn_exact_for(level);
		if (ek == NULL)
			continue;
		/* q.k, gemm: dims 0, 4, 8 products 1, -2^24, 2^24 in separate lanes. */
		float q[64] = { 0 }, s[2];
		uint16_t k[64] = { 0 };
		for (int i = 0; i < 64; i++)
			k[i] = quant_f32_to_fp16(0.0f);
		q[0] = 1.0f, k[0] = quant_f32_to_fp16(1.0f);
		q[4] = -4096.0f, k[4] = quant_f32_to_fp16(4096.0f);
		q[8] = 4096.0f, k[8] = quant_f32_to_fp16(4096.0f);
		ek->qk_gemm(q, k, 64, 1, 16, 1.0f, s);
		is_double(s[0], 0.0, 0.0, "%s: q.k (gemm) sums its lanes in reduce order", ek->name);
		/* q.k, vec_dot: 2^24 at dim 0 (accumulator 0), 1 at 32 (acc 2), -2^24 at 16
		 * (acc 1): (a0 + a2) + (a1 + a3) = 2^24 - 2^24 = 0 (in dim order: 1). */
		memset(q, 0, sizeof q);
		for (int i = 0; i < 64; i++)
			k[i] = quant_f32_to_fp16(0.0f);
		q[0] = 4096.0f, k[0] = quant_f32_to_fp16(4096.0f);
		q[32] = 1.0f, k[32] = quant_f32_to_fp16(1.0f);
		q[16] = -4096.0f, k[16] = quant_f32_to_fp16(4096.0f);
		ek->qk_vec_dot(q, k, 64, 1, 64, 1.0f, s);
		is_double(s[0], 0.0, 0.0, "%s: q.k (vec_dot) folds its accumulators as ggml", ek->name);

		/* p.v over 90 keys, one dim: 2^24 at key 0, 1 at keys 1 and 9 (gemm: lanes 1 and 9
		 * make 2 before meeting 2^24) and at 16 (lane 0's fma chain loses it). */
		float w[100] = { 0 }, out[16];
		uint16_t v[100 * 16];
		for (int i = 0; i < 100 * 16; i++)
			v[i] = quant_f32_to_fp16(0.0f);
		w[0] = 4096.0f, v[0] = quant_f32_to_fp16(4096.0f);
		w[1] = w[9] = w[16] = 1.0f;
		v[1 * 16] = v[9 * 16] = v[16 * 16] = quant_f32_to_fp16(1.0f);
		ek->wv_gemm(w, v, 16, 90, 16, out);
		is_double(out[0], big + 2.0f, 0.0, "%s: p.v (gemm) one 16-lane accumulator per "
		    "output (in key order: 2^24)", ek->name);
		/* vec_dot over 90 keys: llama.cpp pads to 96, so keys 64.. are added in double:
		 * 2^24 + 1 + 1 = 2^24 + 2 there, where the vector part would lose both. */
		memset(w, 0, sizeof w);
		w[0] = 4096.0f;
		w[64] = w[65] = 1.0f;
		for (int i = 0; i < 100 * 16; i++)
			v[i] = quant_f32_to_fp16(0.0f);
		v[0] = quant_f32_to_fp16(4096.0f);
		v[64 * 16] = v[65 * 16] = quant_f32_to_fp16(1.0f);
		ek->wv_vec_dot(w, v, 16, 90, 16, out);
		is_double(out[0], big + 2.0f, 0.0, "%s: p.v (vec_dot) adds the keys past the padded "
		    "64-key steps in double", ek->name);
		/* 60 keys pad to 64, one whole step in fp32 lanes: keys 0, 32 and 48 are lane 0 of
		 * accumulators 0, 2 and 3: (2^24 + 1) + (0 + 1) = 2^24 (in double: 2^24 + 2). */
		memset(w, 0, sizeof w);
		for (int i = 0; i < 100 * 16; i++)
			v[i] = quant_f32_to_fp16(0.0f);
		w[0] = 4096.0f, v[0] = quant_f32_to_fp16(4096.0f);
		w[32] = w[48] = 1.0f;
		v[32 * 16] = v[48 * 16] = quant_f32_to_fp16(1.0f);
		ek->wv_vec_dot(w, v, 16, 60, 16, out);
		is_double(out[0], big, 0.0, "%s: p.v (vec_dot) under 64 padded keys stays in fp32 "
		    "lanes", ek->name);
	}
}

#if defined(__x86_64__) || defined(__i386__)
GGML_VM_AVX2 static void expf8_row(const float *x, float *y)
{
	_mm256_storeu_ps(y, ggml_expf8(_mm256_loadu_ps(x)));
}

GGML_VM_AVX512 static void expf16_row(const float *x, float *y)
{
	_mm512_storeu_ps(y, ggml_expf16(_mm512_loadu_ps(x)));
}
#endif

/* ggml_v_expf: each width gives the same bits as the scalar emulation, over the whole range
 * (subnormal results, 0 and inf included), and it is e^x to a few ulp. */
static void test_expf(void)
{
	int n = 0, same8 = 0, same16 = 0, close = 0;
	int has2 = cpu_simd_supported(CPU_SIMD_AVX2), has5 = cpu_simd_supported(CPU_SIMD_AVX512);
	for (int i = 0; i < 160000; i += 16) {
		float x[16], r1[16], r8[16], r16[16];
		for (int l = 0; l < 16; l++) {
			x[l] = -120.0f + (float)(i + l) * (210.0f / 160000.0f);
			r1[l] = ggml_expf1(x[l]);
			double e = exp((double)x[l]);
			if (e < 1e-37 || e > 1e38 || fabs(r1[l] - e) <= 4e-7 * e)
				close++;
			n++;
		}
#if defined(__x86_64__) || defined(__i386__)
		if (has2) {
			expf8_row(x, r8);
			expf8_row(x + 8, r8 + 8);
			same8 += memcmp(r1, r8, sizeof r1) == 0 ? 16 : 0;
		}
		if (has5) {
			expf16_row(x, r16);
			same16 += memcmp(r1, r16, sizeof r1) == 0 ? 16 : 0;
		}
#endif
	}
	is_int(close, n, "ggml_expf1 is e^x within 4e-7 relative on [-120, 90] (normal range)");
	if (has2)
		is_int(same8, n, "ggml_expf8 (AVX2) gives ggml_expf1's bits everywhere");
	if (has5)
		is_int(same16, n, "ggml_expf16 (AVX-512, ggml's own) gives ggml_expf1's bits");
	ok(ggml_expf1(-INFINITY) == 0.0f && ggml_expf1(-200.0f) == 0.0f, "e^-inf = e^-200 = 0");
	ok(isinf(ggml_expf1(200.0f)), "e^200 = inf");
}

static void test_swiglu(void)
{
	swiglu_row_fn ref = swiglu_row_for(CPU_SIMD_SCALAR);
	static const size_t ns[] = { 1, 15, 16, 40, 1536, 1543 };
	for (size_t k = 0; k < Q_ARRAY_LEN(ns); k++) {
		size_t n = ns[k];
		float *g = xreallocarray(NULL, n, sizeof(float));
		float *u = xreallocarray(NULL, n, sizeof(float));
		float *a = xreallocarray(NULL, n, sizeof(float));
		float *b = xreallocarray(NULL, n, sizeof(float));
		for (size_t i = 0; i < n; i++) {
			g[i] = 12.0f * frand();
			u[i] = frand();
		}
		ref(g, u, a, n);
		double worst = 0;
		for (size_t i = 0; i < n; i++) {
			double want = g[i] / (1.0 + exp(-(double)g[i])) * u[i];
			worst = fmax(worst, fabs(a[i] - want));
		}
		ok(worst < 1e-5, "swiglu n=%zu: silu(g) * u within 1e-5 (worst %.3g)", n, worst);
		/* The last n % 16 elements are ggml's scalar formula with libm's expf. */
		int tail_ok = 1;
		for (size_t i = n - n % 16; i < n; i++)
			tail_ok &= a[i] == g[i] / (1.0f + expf(-g[i])) * u[i];
		ok(tail_ok, "swiglu n=%zu: the %zu tail elements use expf", n, n % 16);
		for (int level = CPU_SIMD_AVX2; level < CPU_SIMD_COUNT_; level++) {
			swiglu_row_fn f = swiglu_row_for(level);
			if (f == NULL)
				continue;
			f(g, u, b, n);
			ok(memcmp(a, b, n * sizeof(float)) == 0, "swiglu n=%zu: %s gives scalar's bits",
			    n, cpu_simd_name((enum cpu_simd_level)level));
		}
		free(g);
		free(u);
		free(a);
		free(b);
	}
}

int main(void)
{
	test_levels_agree();
	test_close_to_double();
	test_orders();
	test_expf();
	test_swiglu();
	done_testing();
	return exit_status();
}
