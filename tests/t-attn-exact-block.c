/* t-attn-exact-block.c: the blocked prefill kernel (kernels/attn-exact-block.h) gives, on
 * random data, exactly the bits of the per-row gemm path (qk_gemm, softmax, wv_gemm of
 * kernels/attn-exact.h) at every SIMD level this CPU has, for many row counts, head dims,
 * causal offsets and head groupings; keys a row must not see never reach it, not even as an
 * inf in V; and the result is still attention (close to a double-precision one). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/attn-exact-block.h"
#include "kernels/attn-exact.h"
#include "kernels/cpu-features.h"
#include "kernels/quant.h"
#include "lib/util.h"
#include "tests/tap.h"

#define FRAND_SEED 0x9e3779b97f4a7c15ULL
#include "tests/attn-ref.h"

struct block_case {
	size_t n_rows, dim, stride, kmax;
	uint32_t nk[ATTN_EXACT_BLOCK_ROWS];
	float *q;                      /* [row][dim], not rounded */
	uint16_t *k, *v;               /* kmax rows of stride values: exactly as many as used */
};

/* Rows as the backend builds them: grp heads per token, token t sees pos0 + t + 1 keys. */
static struct block_case make_case(size_t n_rows, size_t dim, size_t pos0, size_t grp,
    float q_spread)
{
	struct block_case c = { n_rows, dim, dim * 3 + 16, 0, { 0 }, NULL, NULL, NULL };
	for (size_t r = 0; r < n_rows; r++) {
		c.nk[r] = (uint32_t)(pos0 + r / grp + 1);
		c.kmax = c.nk[r] > c.kmax ? c.nk[r] : c.kmax;
	}
	c.q = xreallocarray(NULL, n_rows * dim, sizeof(float));
	c.k = xreallocarray(NULL, c.kmax * c.stride, sizeof(uint16_t));
	c.v = xreallocarray(NULL, c.kmax * c.stride, sizeof(uint16_t));
	for (size_t i = 0; i < n_rows * dim; i++)
		c.q[i] = q_spread * frand();
	for (size_t i = 0; i < c.kmax * c.stride; i++) {
		c.k[i] = quant_f32_to_fp16(2.0f * frand());
		c.v[i] = quant_f32_to_fp16(2.0f * frand());
	}
	return c;
}

static void free_case(struct block_case *c)
{
	free(c->q);
	free(c->k);
	free(c->v);
}

/* The per-row gemm path, as engine/backend-cpu.c's attend_exact runs it. */
static void run_rows(const struct attn_exact_kernels *ek, const struct block_case *c,
    float scale, float *out)
{
	float *q = xreallocarray(NULL, c->dim, sizeof(float));
	float *s = xreallocarray(NULL, c->kmax, sizeof(float));
	for (size_t r = 0; r < c->n_rows; r++) {
		for (size_t d = 0; d < c->dim; d++)
			q[d] = quant_fp16_to_f32(quant_f32_to_fp16(c->q[r * c->dim + d]));
		ek->qk_gemm(q, c->k, c->stride, c->nk[r], c->dim, scale, s);
		ek->softmax(s, c->nk[r]);
		ek->wv_gemm(s, c->v, c->stride, c->nk[r], c->dim, out + r * c->dim);
	}
	free(q);
	free(s);
}

static void run_block(attn_exact_block_fn fn, const struct block_case *c, float scale,
    float *out)
{
	const float *qp[ATTN_EXACT_BLOCK_ROWS];
	float *op[ATTN_EXACT_BLOCK_ROWS];
	for (size_t r = 0; r < c->n_rows; r++) {
		qp[r] = c->q + r * c->dim;
		op[r] = out + r * c->dim;
	}
	float *scratch = xreallocarray(NULL, attn_exact_block_scratch_floats(c->n_rows, c->kmax,
	    c->dim), sizeof(float));
	fn(qp, c->nk, c->n_rows, c->k, c->v, c->stride, c->dim, scale, op, scratch);
	free(scratch);
}

/* 1 if the block kernel and the per-row path give the same bits on c. */
static int same_bits(int level, const struct block_case *c, float scale)
{
	size_t len = c->n_rows * c->dim;
	float *a = xcalloc(len, sizeof(float)), *b = xcalloc(len, sizeof(float));
	run_rows(attn_exact_for(level), c, scale, a);
	/* b starts as NaN: every output value must be written */
	for (size_t i = 0; i < len; i++)
		b[i] = NAN;
	run_block(attn_exact_block_for(level), c, scale, b);
	int same = memcmp(a, b, len * sizeof(float)) == 0;
	free(a);
	free(b);
	return same;
}

static void test_levels(void)
{
	static const size_t dims[] = { 64, 16, 80, 128, 256 };
	static const size_t rows[] = { 1, 2, 3, 9, 17, 48, 64 };
	static const size_t pos0s[] = { 0, 1, 14, 15, 16, 47, 63, 64, 65, 100, 255, 1000 };
	static const size_t grps[] = { 1, 3, 8 };
	for (int level = 0; level < CPU_SIMD_COUNT_; level++) {
		const char *name = cpu_simd_name((enum cpu_simd_level)level);
		if (attn_exact_block_for(level) == NULL) {
			diag("level %s: not on this CPU", name);
			continue;
		}
		int cases = 0, same = 0;
		for (size_t di = 0; di < Q_ARRAY_LEN(dims); di++)
			for (size_t ri = 0; ri < Q_ARRAY_LEN(rows); ri++)
				for (size_t pi = 0; pi < Q_ARRAY_LEN(pos0s); pi++)
					for (size_t gi = 0; gi < Q_ARRAY_LEN(grps); gi++) {
						size_t work = rows[ri] * (pos0s[pi] + rows[ri]) * dims[di];
						/* the scalar definition is slow: keep its share of the run short */
						if (work > (level == CPU_SIMD_SCALAR ? 300000u : 3000000u))
							continue;
						/* alternate small and large queries: large ones make most
						 * probabilities tiny, subnormal or 0 */
						float spread = (cases % 2) ? 8.0f : 1.0f;
						struct block_case c = make_case(rows[ri], dims[di], pos0s[pi],
						    grps[gi], spread);
						cases++;
						if (same_bits(level, &c, 1.0f / sqrtf((float)dims[di])))
							same++;
						else
							diag("%s: rows %zu dim %zu pos0 %zu grp %zu differ", name,
							    rows[ri], dims[di], pos0s[pi], grps[gi]);
						free_case(&c);
					}
		is_int(same, cases, "%s: the block kernel gives the per-row gemm path's bits on "
		    "all %d cases", name, cases);
	}
}

/* Rows in no particular order of n_keys, and an inf in V at keys only later rows see: the
 * per-row path never reads it, so the block kernel must not add it in (0 * inf is NaN). */
static void test_unordered_and_masked(void)
{
	for (int level = 0; level < CPU_SIMD_COUNT_; level++) {
		if (attn_exact_block_for(level) == NULL)
			continue;
		struct block_case c = make_case(20, 64, 40, 1, 2.0f);
		for (size_t r = 0; r < c.n_rows; r++)
			c.nk[r] = (uint32_t)(1 + (r * 37) % 60);   /* 1..60, shuffled; kmax stays 60 */
		for (size_t d = 0; d < c.dim; d++)
			c.v[59 * c.stride + d] = 0x7c00;            /* +inf in the last key's value */
		c.nk[0] = 60;                                  /* one row sees it */
		int same = same_bits(level, &c, 0.125f);
		ok(same, "%s: rows in any order of n_keys, an inf only one row sees: same bits",
		    cpu_simd_name((enum cpu_simd_level)level));
		free_case(&c);
	}
}

/* The sums are still attention: against double precision on one causal block. */
static void test_close_to_double(void)
{
	struct block_case c = make_case(12, 64, 200, 3, 1.0f);
	float *out = xcalloc(c.n_rows * c.dim, sizeof(float));
	run_block(attn_exact_block_active(), &c, 0.125f, out);
	double worst = 0;
	double *s = xreallocarray(NULL, c.kmax, sizeof(double));
	for (size_t r = 0; r < c.n_rows; r++) {
		double mx = -INFINITY, sum = 0;
		for (size_t p = 0; p < c.nk[r]; p++) {
			double d = 0;
			for (size_t i = 0; i < c.dim; i++)
				d += (double)c.q[r * c.dim + i] * quant_fp16_to_f32(c.k[p * c.stride + i]);
			s[p] = d * 0.125;
			mx = s[p] > mx ? s[p] : mx;
		}
		for (size_t p = 0; p < c.nk[r]; p++)
			sum += (s[p] = exp(s[p] - mx));
		for (size_t i = 0; i < c.dim; i++) {
			double o = 0;
			for (size_t p = 0; p < c.nk[r]; p++)
				o += s[p] / sum * quant_fp16_to_f32(c.v[p * c.stride + i]);
			double e = fabs(o - out[r * c.dim + i]);
			worst = e > worst || isnan(e) ? e : worst;
		}
	}
	ok(worst < 2e-3, "the block kernel is attention: worst difference from double %.2g",
	    worst);
	free(s);
	free(out);
	free_case(&c);
}

int main(void)
{
	test_levels();
	test_unordered_and_masked();
	test_close_to_double();
	done_testing();
	return exit_status();
}
