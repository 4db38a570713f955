/* t-attn-decode.c: the split-K decode attention kernel (kernels/attn-decode.h) at every SIMD
 * level against a double-precision softmax over the same fp16 keys and values: row counts
 * 1..32, key ranges ending inside, at and across tile edges, rows that see no key, head sizes
 * 16..256, large logits; ranges merged with kernels/attn-merge-math.h equal one call over all the
 * keys; and the CPU backend's decode path past the exact-path bound, with 1 and 2 threads
 * giving the same bits. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/backend.h"
#include "kernels/attn-decode.h"
#include "kernels/attn-merge-math.h"
#include "kernels/cpu-features.h"
#include "kernels/quant.h"
#include "lib/util.h"
#include "tests/tap.h"

#define FRAND_SEED 0x2545f4914f6cdd1dULL
#include "tests/attn-ref.h"

static void fill_fp16(uint16_t *x, size_t n, float mag)
{
	for (size_t i = 0; i < n; i++)
		x[i] = quant_f32_to_fp16(mag * frand());
}

static float *scratch_for(size_t dim)
{
	float *s = aligned_alloc(64, (attn_decode_scratch_floats(dim) * sizeof(float) + 63) / 64 *
	    64);
	if (s == NULL)
		fatal("out of memory");
	return s;
}

/* One call: n_rows rows over n_keys keys (row r sees lim[r]); the worst absolute error of the
 * outputs and of the log-sum-exps (an empty row must give zeros and -inf exactly). */
static void one_case(const struct attn_decode_kernels *dk, size_t dim, size_t n_rows,
    const uint32_t *lim, size_t n_keys, float qmag, double *worst_o, double *worst_lse)
{
	size_t stride = dim + 16;            /* the rows of one KV head inside a wider row */
	uint16_t *k = xreallocarray(NULL, n_keys * stride, sizeof(uint16_t));
	uint16_t *v = xreallocarray(NULL, n_keys * stride, sizeof(uint16_t));
	fill_fp16(k, n_keys * stride, 1.0f);
	fill_fp16(v, n_keys * stride, 1.0f);
	float *q = xreallocarray(NULL, n_rows * dim, sizeof(float));
	float *o = xreallocarray(NULL, n_rows * dim, sizeof(float));
	for (size_t i = 0; i < n_rows * dim; i++)
		q[i] = qmag * frand();
	const float *qp[ATTN_DECODE_MAX_ROWS];
	float *op[ATTN_DECODE_MAX_ROWS];
	float lse[ATTN_DECODE_MAX_ROWS];
	for (size_t r = 0; r < n_rows; r++) {
		qp[r] = q + r * dim;
		op[r] = o + r * dim;
	}
	float *scratch = scratch_for(dim);
	float scale = 1.0f / sqrtf((float)dim);
	dk->run(qp, lim, n_rows, k, v, stride, n_keys, dim, scale, op, lse, scratch);
	double *ref = xreallocarray(NULL, dim, sizeof(double)), rlse;
	for (size_t r = 0; r < n_rows; r++) {
		attn_reference(q + r * dim, lim[r], k, v, stride, dim, scale, 0, ref, &rlse);
		for (size_t i = 0; i < dim; i++) {
			double e = fabs(o[r * dim + i] - ref[i]);
			*worst_o = isnan(e) ? INFINITY : e > *worst_o ? e : *worst_o;
		}
		double e = isinf(rlse) ? (isinf(lse[r]) && lse[r] < 0 ? 0 : INFINITY) :
		    fabs(lse[r] - rlse) / fmax(1.0, fabs(rlse));
		*worst_lse = isnan(e) ? INFINITY : e > *worst_lse ? e : *worst_lse;
	}
	free(ref);
	free(scratch);
	free(q);
	free(o);
	free(k);
	free(v);
}

/* Three rows over 1000 keys in one call, and the same keys cut at uneven points into four
 * calls whose parts are merged: the two must agree to float rounding. */
static double split_vs_whole(const struct attn_decode_kernels *dk)
{
	enum { DIM = 64, N = 1000, ROWS = 3 };
	size_t stride = 3 * DIM;
	uint16_t *k = xreallocarray(NULL, N * stride, sizeof(uint16_t));
	uint16_t *v = xreallocarray(NULL, N * stride, sizeof(uint16_t));
	fill_fp16(k, N * stride, 1.0f);
	fill_fp16(v, N * stride, 1.0f);
	float q[ROWS][DIM], whole[ROWS][DIM], parts[4][ROWS][DIM], merged[DIM];
	float lse_whole[ROWS], lse_parts[4][ROWS];
	for (int r = 0; r < ROWS; r++)
		for (int d = 0; d < DIM; d++)
			q[r][d] = 3.0f * frand();
	const float *qp[ROWS] = { q[0], q[1], q[2] };
	float *op[ROWS] = { whole[0], whole[1], whole[2] };
	uint32_t lim[ROWS] = { N - 2, N - 1, N };   /* three consecutive tokens */
	float *scratch = scratch_for(DIM);
	dk->run(qp, lim, ROWS, k, v, stride, N, DIM, 0.125f, op, lse_whole, scratch);
	size_t cut[5] = { 0, 17, 512, 513, N };
	for (int p = 0; p < 4; p++) {
		uint32_t pl[ROWS];
		float *pp[ROWS] = { parts[p][0], parts[p][1], parts[p][2] };
		for (int r = 0; r < ROWS; r++)
			pl[r] = lim[r] <= cut[p] ? 0 : (uint32_t)((lim[r] < cut[p + 1] ? lim[r] :
			    cut[p + 1]) - cut[p]);
		dk->run(qp, pl, ROWS, k + cut[p] * stride, v + cut[p] * stride, stride,
		    cut[p + 1] - cut[p], DIM, 0.125f, pp, lse_parts[p], scratch);
	}
	double worst = 0;
	for (int r = 0; r < ROWS; r++) {
		const float *o[4] = { parts[0][r], parts[1][r], parts[2][r], parts[3][r] };
		float l[4] = { lse_parts[0][r], lse_parts[1][r], lse_parts[2][r], lse_parts[3][r] };
		float lse;
		attn_merge(4, o, l, DIM, merged, &lse);
		for (int d = 0; d < DIM; d++) {
			double e = fabs(merged[d] - whole[r][d]);
			worst = isnan(e) ? INFINITY : e > worst ? e : worst;
		}
		double e = fabs(lse - lse_whole[r]);
		worst = isnan(e) ? INFINITY : e > worst ? e : worst;
	}
	free(scratch);
	free(k);
	free(v);
	return worst;
}

static void kernel_tests(const struct attn_decode_kernels *dk)
{
	uint32_t lim[ATTN_DECODE_MAX_ROWS];
	double wo = 0, wl = 0;
	/* Every row count, causal rows ending at n_keys: keys end inside, at and across the
	 * tile edges (32) as the count grows. */
	for (size_t rows = 1; rows <= ATTN_DECODE_MAX_ROWS; rows++) {
		size_t n_keys = 29 + 3 * rows;
		for (size_t r = 0; r < rows; r++)
			lim[r] = (uint32_t)(n_keys - (rows - 1 - r) / 3);
		one_case(dk, 64, rows, lim, n_keys, 1.0f, &wo, &wl);
	}
	ok(wo < 2e-6 && wl < 1e-6, "%s: rows 1..32, head 64: worst output error %.3g, lse %.3g",
	    dk->name, wo, wl);
	/* Key counts at tile edges; some rows see no key, some one. */
	static const uint32_t ends[] = { 1, 31, 32, 33, 64, 65, 200, 1000 };
	wo = wl = 0;
	for (size_t c = 0; c < sizeof(ends) / sizeof(ends[0]); c++) {
		for (size_t r = 0; r < 9; r++)
			lim[r] = r < 3 ? 0 : r < 6 ? (ends[c] > 1 ? 1 : ends[c]) : ends[c];
		one_case(dk, 64, 9, lim, ends[c], 1.0f, &wo, &wl);
	}
	ok(wo < 2e-6 && wl < 1e-6, "%s: key counts at tile edges, empty rows: worst %.3g, %.3g",
	    dk->name, wo, wl);
	static const size_t dims[] = { 16, 32, 48, 80, 128, 256 };
	wo = wl = 0;
	for (size_t c = 0; c < sizeof(dims) / sizeof(dims[0]); c++) {
		for (size_t r = 0; r < 5; r++)
			lim[r] = 150 - (uint32_t)r;
		one_case(dk, dims[c], 5, lim, 150, 1.0f, &wo, &wl);
	}
	ok(wo < 2e-6 && wl < 1e-6, "%s: head sizes 16..256: worst %.3g, %.3g", dk->name, wo, wl);
	/* Large logits: the running maximum must rescale without overflow. */
	wo = wl = 0;
	for (size_t r = 0; r < 6; r++)
		lim[r] = 300 - (uint32_t)r;
	one_case(dk, 64, 6, lim, 300, 40.0f, &wo, &wl);
	ok(wo < 1e-5 && wl < 1e-6, "%s: logits up to ~300: worst %.3g, %.3g", dk->name, wo, wl);
	double e = split_vs_whole(dk);
	ok(e < 2e-6, "%s: 4 merged parts equal one call: worst %.3g", dk->name, e);
}

/* n random keys' and values' floats, for the backend tests. */
static void random_kv(size_t n, float **k, float **v)
{
	*k = xreallocarray(NULL, n, sizeof(float));
	*v = xreallocarray(NULL, n, sizeof(float));
	for (size_t i = 0; i < n; i++) {
		(*k)[i] = frand();
		(*v)[i] = frand();
	}
}

/* The CPU backend past ATTN_EXACT_MAX_KEYS (8192): 3 tokens of 9 heads over 3 KV heads at
 * positions 9000..9002 against the double reference; 1 and 2 threads give the same bits. */
static void backend_tests(void)
{
	enum { N_CTX = 9003, KVH = 3, NH = 9, HD = 64, NT = 3 };
	const uint32_t pos0 = N_CTX - NT;
	size_t row = KVH * HD;
	float *kf, *vf;
	random_kv((size_t)N_CTX * row, &kf, &vf);
	float q[NT * NH * HD], out[2][NT * NH * HD];
	for (size_t i = 0; i < NT * NH * HD; i++)
		q[i] = 4.0f * frand();
	struct kv_shape shape = { 1, N_CTX, KVH, HD, KV_F16 };
	char *err = NULL;
	for (int nth = 1; nth <= 2; nth++) {
		struct backend *be;
		if (backend_cpu_create(nth, &be, &err) != 0 ||
		    be->ops->kv_alloc(be, &shape, &err) != 0) {
			ok(0, "backend with %d threads: %s", nth, err);
			free(err);
			return;
		}
		be->ops->kv_store(be, 0, 0, N_CTX, kf, vf);
		be->ops->attention(be, 0, q, NT, pos0, NH, 0.125f, 0, out[nth - 1]);
		be->ops->destroy(be);
	}
	/* The reference reads the keys and values as the backend stores them: fp16. */
	uint16_t *k = xreallocarray(NULL, (size_t)N_CTX * row, sizeof(uint16_t));
	uint16_t *v = xreallocarray(NULL, (size_t)N_CTX * row, sizeof(uint16_t));
	quant_f32_to_fp16_row(kf, k, (size_t)N_CTX * row);
	quant_f32_to_fp16_row(vf, v, (size_t)N_CTX * row);
	double worst = 0, ref[HD], lse;
	for (size_t t = 0; t < NT; t++)
		for (size_t h = 0; h < NH; h++) {
			size_t g = h / (NH / KVH), r = t * NH + h;
			attn_reference(q + r * HD, pos0 + t + 1, k + g * HD, v + g * HD, row, HD,
			    0.125f, 0, ref, &lse);
			for (size_t d = 0; d < HD; d++) {
				double e = fabs(out[0][r * HD + d] - ref[d]);
				worst = isnan(e) ? INFINITY : e > worst ? e : worst;
			}
		}
	ok(worst < 2e-6, "backend decode past the exact bound (9000 keys, 3 tokens): worst %.3g",
	    worst);
	ok(memcmp(out[0], out[1], sizeof out[0]) == 0, "backend decode: 1 and 2 threads agree "
	    "bit for bit");
	free(k);
	free(v);
	free(kf);
	free(vf);
}

/* The backend's sliding window (gemma3's layers): 3 tokens of 4 heads over 1 KV head of 256
 * (gemma3's shape) with a window of 100 keys, within the exact bound (keys before the window
 * masked) and past it (the window alone), against the double reference over the window with
 * fp16 probabilities; and a window that cuts nothing gives the unwindowed bits. */
static void backend_window_tests(void)
{
	enum { N_CTX = 9003, KVH = 1, NH = 4, HD = 256, NT = 3, W = 100 };
	size_t row = KVH * HD;
	float *kf, *vf;
	random_kv((size_t)N_CTX * row, &kf, &vf);
	static float q[NT * NH * HD], out[NT * NH * HD], full[NT * NH * HD], cut[NT * NH * HD];
	for (size_t i = 0; i < NT * NH * HD; i++)
		q[i] = 2.0f * frand();
	struct kv_shape shape = { 1, N_CTX, KVH, HD, KV_F16 };
	char *err = NULL;
	struct backend *be;
	if (backend_cpu_create(2, &be, &err) != 0 || be->ops->kv_alloc(be, &shape, &err) != 0) {
		ok(0, "backend: %s", err);
		free(err);
		return;
	}
	be->ops->kv_store(be, 0, 0, N_CTX, kf, vf);
	uint16_t *k = xreallocarray(NULL, (size_t)N_CTX * row, sizeof(uint16_t));
	uint16_t *v = xreallocarray(NULL, (size_t)N_CTX * row, sizeof(uint16_t));
	quant_f32_to_fp16_row(kf, k, (size_t)N_CTX * row);
	quant_f32_to_fp16_row(vf, v, (size_t)N_CTX * row);
	static const uint32_t starts[] = { 300, N_CTX - NT };
	for (size_t c = 0; c < 2; c++) {
		uint32_t pos0 = starts[c];
		be->ops->attention(be, 0, q, NT, pos0, NH, 0.0625f, W, out);
		double worst = 0, ref[HD];
		for (size_t t = 0; t < NT; t++)
			for (size_t h = 0; h < NH; h++) {
				size_t r = t * NH + h, first = pos0 + t + 1 - W;
				attn_reference(q + r * HD, W, k + first * row, v + first * row, row, HD,
				    0.0625f, 1, ref, NULL);
				for (size_t d = 0; d < HD; d++) {
					double e = fabs(out[r * HD + d] - ref[d]);
					worst = isnan(e) ? INFINITY : e > worst ? e : worst;
				}
			}
		ok(worst < 2e-4, "backend window of %d keys at %u (%s): worst %.3g", W, pos0,
		    c == 0 ? "keys before it masked" : "past the exact bound", worst);
	}
	/* a window that holds every key changes nothing */
	be->ops->attention(be, 0, q, NT, 300, NH, 0.0625f, 0, full);
	be->ops->attention(be, 0, q, NT, 300, NH, 0.0625f, 304, cut);
	ok(memcmp(full, cut, sizeof full) == 0, "a window of every key gives the unwindowed bits");
	be->ops->destroy(be);
	free(k);
	free(v);
	free(kf);
	free(vf);
}

int main(void)
{
	char *err = NULL;
	if (cpu_simd_init(&err) != 0) {
		ok(0, "cpu_simd_init: %s", err);
		free(err);
		done_testing();
		return exit_status();
	}
	for (int level = 0; level < CPU_SIMD_COUNT_; level++) {
		const struct attn_decode_kernels *dk = attn_decode_for(level);
		if (dk != NULL)
			kernel_tests(dk);
	}
	backend_tests();
	backend_window_tests();
	done_testing();
	return exit_status();
}
