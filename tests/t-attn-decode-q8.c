/* t-attn-decode-q8.c: decode attention over a q8_0 KV memory (kernels/attn-decode-q8.h) at
 * every SIMD level against a double-precision softmax over the same Q8_0 numbers (the query
 * quantized as the kernel does): row counts 1..32, key counts at and across the 16-key and
 * tile edges, rows that see no key, head sizes 32..256 (96: a half piece), large logits, parts
 * merged with kernels/attn-merge-math.h equal to one call; the levels agree with each other; and
 * the CPU backend with --kv-type q8_0: decode at depth, prefill and sliding windows (through
 * its fp16 staging), 1 and 2 threads giving the same bits, and close to the fp16 cache. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/backend.h"
#include "kernels/attn-decode-q8.h"
#include "kernels/attn-merge-math.h"
#include "kernels/cpu-features.h"
#include "kernels/quant.h"
#include "lib/util.h"
#include "tests/tap.h"

#define FRAND_SEED 0x9e3779b97f4a7c15ULL
#include "tests/attn-ref.h"

/* n keys of dim values in Q8_0: rows every stride (the keys also in the kernel's groups of
 * 16, kg), scales every s_stride per block. */
struct q8kv {
	int8_t *k, *v, *kg;
	uint16_t *ks, *vs;
	size_t n, dim, stride, s_stride;
};

static void q8_fill(struct q8kv *m, size_t n, size_t dim, float mag)
{
	m->n = n;
	m->dim = dim;
	m->stride = dim + 64;            /* one KV head's rows inside wider rows */
	m->s_stride = n + 5;
	m->k = xcalloc(n * m->stride, 1);
	m->v = xcalloc(n * m->stride, 1);
	m->kg = xcalloc((n + 15) / 16 * 16 * dim, 1);
	m->ks = xcalloc(dim / 32 * m->s_stride, sizeof(uint16_t));
	m->vs = xcalloc(dim / 32 * m->s_stride, sizeof(uint16_t));
	float x[ATTN_DECODE_Q8_MAX_DIM];
	struct block_q8_0 blk[ATTN_DECODE_Q8_MAX_DIM / 32];
	for (size_t j = 0; j < n; j++)
		for (int kv = 0; kv < 2; kv++) {
			for (size_t i = 0; i < dim; i++)
				x[i] = mag * frand();
			quant_quantize_row_q8_0(x, blk, dim);
			for (size_t b = 0; b < dim / 32; b++) {
				memcpy((kv ? m->v : m->k) + j * m->stride + b * 32, blk[b].qs, 32);
				(kv ? m->vs : m->ks)[b * m->s_stride + j] = blk[b].d;
			}
			for (size_t i = 0; kv == 0 && i < dim; i++)
				m->kg[attn_q8_key_index(j, i, dim)] = m->k[j * m->stride + i];
		}
}

static void q8_free(struct q8kv *m)
{
	free(m->k);
	free(m->v);
	free(m->kg);
	free(m->ks);
	free(m->vs);
}

/* The kernel's view from key from (a multiple of 16). */
static struct attn_q8_kv q8_view(const struct q8kv *m, size_t from)
{
	struct attn_q8_kv kv = { m->kg + from * m->dim, m->v + from * m->stride, m->ks + from,
	    m->vs + from, m->stride, m->s_stride };
	return kv;
}

static double deq(const int8_t *q, const uint16_t *s, size_t s_stride, size_t j, size_t i)
{
	return (double)quant_fp16_to_f32(s[i / 32 * s_stride + j]) * q[i];
}

/* Row q's attention over keys 0..n-1 of m in double, the query in Q8_0 numbers (or, with
 * q_fp16, rounded to fp16 as the paths that read fp16 keys take it). */
static void q8_reference(const float *q, size_t n, const struct q8kv *m, float scale,
    int q_fp16, double *out, double *lse)
{
	size_t dim = m->dim;
	struct block_q8_0 blk[ATTN_DECODE_Q8_MAX_DIM / 32];
	quant_quantize_row_q8_0(q, blk, dim);
	double qd[ATTN_DECODE_Q8_MAX_DIM];
	for (size_t i = 0; i < dim; i++)
		qd[i] = q_fp16 ? (double)quant_fp16_to_f32(quant_f32_to_fp16(q[i])) :
		    (double)quant_fp16_to_f32(blk[i / 32].d) * blk[i / 32].qs[i % 32];
	double *s = xreallocarray(NULL, n ? n : 1, sizeof(double)), mx = -INFINITY, sum = 0;
	for (size_t j = 0; j < n; j++) {
		double d = 0;
		for (size_t i = 0; i < dim; i++)
			d += qd[i] * deq(m->k + j * m->stride, m->ks, m->s_stride, j, i);
		s[j] = d * scale;
		mx = s[j] > mx ? s[j] : mx;
	}
	for (size_t j = 0; j < n; j++)
		sum += (s[j] = exp(s[j] - mx));
	for (size_t i = 0; i < dim; i++) {
		double o = 0;
		for (size_t j = 0; j < n; j++)
			o += s[j] / sum * deq(m->v + j * m->stride, m->vs, m->s_stride, j, i);
		out[i] = n ? o : 0.0;
	}
	*lse = n ? mx + log(sum) : -INFINITY;
	free(s);
}

static float *scratch_for(size_t dim)
{
	float *s = aligned_alloc(64, (attn_decode_q8_scratch_floats(dim) * sizeof(float) + 63) /
	    64 * 64);
	if (s == NULL)
		fatal("out of memory");
	return s;
}

/* One call of dk: n_rows rows over n_keys keys, row r seeing lim[r]; the worst absolute
 * error of the outputs and relative error of the log-sum-exps against the reference (an
 * empty row must give zeros and -inf exactly). If out is not NULL the outputs go there. */
static void one_case(const struct attn_decode_q8_kernels *dk, size_t dim, size_t n_rows,
    const uint32_t *lim, size_t n_keys, float qmag, double *worst_o, double *worst_lse,
    float *out)
{
	struct q8kv m;
	uint64_t seed = rng;
	q8_fill(&m, n_keys, dim, 1.0f);
	float *q = xreallocarray(NULL, n_rows * dim, sizeof(float));
	float *o = out ? out : xreallocarray(NULL, n_rows * dim, sizeof(float));
	for (size_t i = 0; i < n_rows * dim; i++)
		q[i] = qmag * frand();
	rng = seed;                      /* the same numbers for the next level's call */
	float scale = 1.0f / sqrtf((float)dim);
	static struct attn_q8_query qq[ATTN_DECODE_Q8_MAX_ROWS];
	const struct attn_q8_query *qp[ATTN_DECODE_Q8_MAX_ROWS];
	float *op[ATTN_DECODE_Q8_MAX_ROWS];
	float lse[ATTN_DECODE_Q8_MAX_ROWS];
	for (size_t r = 0; r < n_rows; r++) {
		attn_decode_q8_query(q + r * dim, dim, scale, &qq[r]);
		qp[r] = &qq[r];
		op[r] = o + r * dim;
	}
	float *scratch = scratch_for(dim);
	struct attn_q8_kv kv = q8_view(&m, 0);
	dk->run(qp, lim, n_rows, &kv, n_keys, dim, op, lse, scratch);
	double ref[ATTN_DECODE_Q8_MAX_DIM], rlse;
	for (size_t r = 0; r < n_rows; r++) {
		q8_reference(q + r * dim, lim[r], &m, scale, 0, ref, &rlse);
		for (size_t i = 0; i < dim; i++) {
			double e = fabs(o[r * dim + i] - ref[i]);
			*worst_o = isnan(e) ? INFINITY : e > *worst_o ? e : *worst_o;
		}
		double e = isinf(rlse) ? (isinf(lse[r]) && lse[r] < 0 ? 0 : INFINITY) :
		    fabs(lse[r] - rlse) / fmax(1.0, fabs(rlse));
		*worst_lse = isnan(e) ? INFINITY : e > *worst_lse ? e : *worst_lse;
	}
	free(scratch);
	free(q);
	if (out == NULL)
		free(o);
	q8_free(&m);
}

/* Three rows over 1000 keys in one call and in four merged parts (cut on groups of 16). */
static double split_vs_whole(const struct attn_decode_q8_kernels *dk)
{
	enum { DIM = 64, N = 1000, ROWS = 3 };
	struct q8kv m;
	q8_fill(&m, N, DIM, 1.0f);
	float q[ROWS][DIM], whole[ROWS][DIM], parts[4][ROWS][DIM], merged[DIM];
	float lse_whole[ROWS], lse_parts[4][ROWS];
	for (int r = 0; r < ROWS; r++)
		for (int d = 0; d < DIM; d++)
			q[r][d] = 3.0f * frand();
	static struct attn_q8_query qq[ROWS];
	for (int r = 0; r < ROWS; r++)
		attn_decode_q8_query(q[r], DIM, 0.125f, &qq[r]);
	const struct attn_q8_query *qp[ROWS] = { &qq[0], &qq[1], &qq[2] };
	float *op[ROWS] = { whole[0], whole[1], whole[2] };
	uint32_t lim[ROWS] = { N - 2, N - 1, N };
	float *scratch = scratch_for(DIM);
	struct attn_q8_kv kv = q8_view(&m, 0);
	dk->run(qp, lim, ROWS, &kv, N, DIM, op, lse_whole, scratch);
	size_t cut[5] = { 0, 16, 512, 528, N };
	for (int p = 0; p < 4; p++) {
		uint32_t pl[ROWS];
		float *pp[ROWS] = { parts[p][0], parts[p][1], parts[p][2] };
		for (int r = 0; r < ROWS; r++)
			pl[r] = lim[r] <= cut[p] ? 0 : (uint32_t)((lim[r] < cut[p + 1] ? lim[r] :
			    cut[p + 1]) - cut[p]);
		struct attn_q8_kv pkv = q8_view(&m, cut[p]);
		dk->run(qp, pl, ROWS, &pkv, cut[p + 1] - cut[p], DIM, pp, lse_parts[p], scratch);
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
	q8_free(&m);
	return worst;
}

static void kernel_tests(const struct attn_decode_q8_kernels *dk)
{
	uint32_t lim[ATTN_DECODE_Q8_MAX_ROWS];
	double wo = 0, wl = 0;
	for (size_t rows = 1; rows <= ATTN_DECODE_Q8_MAX_ROWS; rows++) {
		size_t n_keys = 29 + 3 * rows;
		for (size_t r = 0; r < rows; r++)
			lim[r] = (uint32_t)(n_keys - (rows - 1 - r) / 3);
		one_case(dk, 64, rows, lim, n_keys, 1.0f, &wo, &wl, NULL);
	}
	ok(wo < 2e-6 && wl < 1e-6, "%s: rows 1..32, head 64: worst output error %.3g, lse %.3g",
	    dk->name, wo, wl);
	static const uint32_t ends[] = { 1, 15, 16, 17, 31, 32, 33, 64, 65, 200, 1000 };
	wo = wl = 0;
	for (size_t c = 0; c < sizeof(ends) / sizeof(ends[0]); c++) {
		for (size_t r = 0; r < 9; r++)
			lim[r] = r < 3 ? 0 : r < 6 ? (ends[c] > 1 ? 1 : ends[c]) : ends[c];
		one_case(dk, 64, 9, lim, ends[c], 1.0f, &wo, &wl, NULL);
	}
	ok(wo < 2e-6 && wl < 1e-6, "%s: key counts at 16-key and tile edges, empty rows: worst "
	    "%.3g, %.3g", dk->name, wo, wl);
	static const size_t dims[] = { 32, 64, 96, 128, 160, 256 };
	wo = wl = 0;
	for (size_t c = 0; c < sizeof(dims) / sizeof(dims[0]); c++) {
		for (size_t r = 0; r < 5; r++)
			lim[r] = 150 - (uint32_t)r;
		one_case(dk, dims[c], 5, lim, 150, 1.0f, &wo, &wl, NULL);
	}
	ok(wo < 2e-6 && wl < 1e-6, "%s: head sizes 32..256: worst %.3g, %.3g", dk->name, wo, wl);
	wo = wl = 0;
	for (size_t r = 0; r < 6; r++)
		lim[r] = 300 - (uint32_t)r;
	one_case(dk, 64, 6, lim, 300, 40.0f, &wo, &wl, NULL);
	ok(wo < 1e-5 && wl < 1e-6, "%s: logits up to ~300: worst %.3g, %.3g", dk->name, wo, wl);
	double e = split_vs_whole(dk);
	ok(e < 2e-6, "%s: 4 merged parts equal one call: worst %.3g", dk->name, e);
}

/* Every level's kernel against the portable one on the same numbers. */
static void levels_agree(void)
{
	const struct attn_decode_q8_kernels *base = attn_decode_q8_for(CPU_SIMD_SCALAR);
	enum { ROWS = 7, DIM = 128, N = 777 };
	uint32_t lim[ROWS];
	for (size_t r = 0; r < ROWS; r++)
		lim[r] = N - (uint32_t)r * 50;
	static float want[ROWS * DIM], got[ROWS * DIM];
	double wo = 0, wl = 0;
	uint64_t seed = rng;
	one_case(base, DIM, ROWS, lim, N, 2.0f, &wo, &wl, want);
	for (int level = 1; level < CPU_SIMD_COUNT_; level++) {
		const struct attn_decode_q8_kernels *dk = attn_decode_q8_for(level);
		if (dk == NULL)
			continue;
		rng = seed;
		one_case(dk, DIM, ROWS, lim, N, 2.0f, &wo, &wl, got);
		double worst = 0;
		for (size_t i = 0; i < ROWS * DIM; i++) {
			double e = fabs(got[i] - want[i]);
			worst = isnan(e) ? INFINITY : e > worst ? e : worst;
		}
		ok(worst < 1e-6, "%s agrees with the portable kernel: worst %.3g", dk->name, worst);
	}
}

/* to_fp16 at every level: each key and value dequantized and rounded to fp16, the same bits
 * as the portable conversion and as d * q rounded once. */
static void to_fp16_tests(void)
{
	enum { N = 100, DIM = 96, J0 = 7 };
	struct q8kv m;
	q8_fill(&m, N, DIM, 3.0f);
	static uint16_t k[N * DIM], v[N * DIM];
	for (int level = 0; level < CPU_SIMD_COUNT_; level++) {
		const struct attn_decode_q8_kernels *dk = attn_decode_q8_for(level);
		if (dk == NULL)
			continue;
		memset(k, 0xff, sizeof k);
		memset(v, 0xff, sizeof v);
		struct attn_q8_kv kv = q8_view(&m, 0);
		dk->to_fp16(&kv, DIM, J0, N, k, v, DIM);
		size_t bad = 0;
		for (size_t j = 0; j < N; j++)
			for (size_t i = 0; i < DIM; i++) {
				uint16_t wk = 0xffff, wv = 0xffff;
				if (j >= J0) {
					wk = quant_f32_to_fp16((float)deq(m.k + j * m.stride, m.ks, m.s_stride,
					    j, i));
					wv = quant_f32_to_fp16((float)deq(m.v + j * m.stride, m.vs, m.s_stride,
					    j, i));
				}
				bad += k[j * DIM + i] != wk || v[j * DIM + i] != wv;
			}
		ok(bad == 0, "%s: to_fp16 of keys %d..%d: %zu values differ from d * q in fp16",
		    dk->name, J0, N - 1, bad);
	}
	q8_free(&m);
}

/* The CPU backend with a q8_0 KV memory: 3 decode tokens of 9 heads over 3 KV heads at
 * positions 9000..9002 (the q8_0 decode kernel), 12 prefill tokens (fp16 staging, flash
 * kernel), and a window of 100 keys (staging, exact path), against the double reference over
 * the backend's Q8_0 numbers; 1 and 2 threads agree bit for bit. */
static void backend_tests(void)
{
	enum { N_CTX = 9012, KVH = 3, NH = 9, HD = 64, NT = 12, W = 100 };
	size_t row = KVH * HD;
	float *kf = xreallocarray(NULL, (size_t)N_CTX * row, sizeof(float));
	float *vf = xreallocarray(NULL, (size_t)N_CTX * row, sizeof(float));
	for (size_t i = 0; i < (size_t)N_CTX * row; i++) {
		kf[i] = frand();
		vf[i] = frand();
	}
	static float q[NT * NH * HD], out[2][3][NT * NH * HD], f16out[NT * NH * HD];
	for (size_t i = 0; i < NT * NH * HD; i++)
		q[i] = 4.0f * frand();
	/* the cases: (first position, tokens, window) */
	static const uint32_t cases[3][3] = { { 9000, 3, 0 }, { N_CTX - NT, NT, 0 },
	    { 4000, 3, W } };
	char *err = NULL;
	for (int nth = 1; nth <= 2; nth++) {
		struct backend *be;
		struct kv_shape shape = { 1, N_CTX, KVH, HD, KV_Q8_0 };
		if (backend_cpu_create(nth, &be, &err) != 0 ||
		    be->ops->kv_alloc(be, &shape, &err) != 0) {
			ok(0, "backend with %d threads: %s", nth, err);
			free(err);
			return;
		}
		be->ops->kv_store(be, 0, 0, N_CTX, kf, vf);
		for (int c = 0; c < 3; c++)
			be->ops->attention(be, 0, q, cases[c][1], cases[c][0], NH, 0.125f, cases[c][2],
			    out[nth - 1][c]);
		be->ops->destroy(be);
	}
	/* the backend's numbers: each head row quantized by itself */
	struct q8kv m[KVH];
	for (size_t g = 0; g < KVH; g++) {
		m[g].n = N_CTX;
		m[g].dim = HD;
		m[g].stride = HD;
		m[g].s_stride = N_CTX;
		m[g].kg = NULL;
		m[g].k = xcalloc((size_t)N_CTX * HD, 1);
		m[g].v = xcalloc((size_t)N_CTX * HD, 1);
		m[g].ks = xcalloc(HD / 32 * (size_t)N_CTX, sizeof(uint16_t));
		m[g].vs = xcalloc(HD / 32 * (size_t)N_CTX, sizeof(uint16_t));
		for (size_t j = 0; j < N_CTX; j++)
			for (int kv = 0; kv < 2; kv++) {
				struct block_q8_0 blk[HD / 32];
				quant_quantize_row_q8_0((kv ? vf : kf) + j * row + g * HD, blk, HD);
				for (size_t b = 0; b < HD / 32; b++) {
					memcpy((kv ? m[g].v : m[g].k) + j * HD + b * 32, blk[b].qs, 32);
					(kv ? m[g].vs : m[g].ks)[b * N_CTX + j] = blk[b].d;
				}
			}
	}
	static const char *const what[3] = { "decode at 9000 (q8_0 kernel)",
	    "12-token prefill at 9000 (fp16 staging)", "window of 100 keys at 4000 (staging)" };
	/* the staged paths take the query in fp16, and the keys and values rounded to fp16; the
	 * exact path (the window) rounds its probabilities to fp16 too */
	static const double tol[3] = { 2e-6, 2e-4, 5e-4 };
	for (int c = 0; c < 3; c++) {
		double worst = 0, ref[HD], lse;
		for (size_t t = 0; t < cases[c][1]; t++)
			for (size_t h = 0; h < NH; h++) {
				size_t g = h / (NH / KVH), r = t * NH + h, end = cases[c][0] + t + 1;
				size_t first = cases[c][2] ? end - cases[c][2] : 0;
				struct q8kv part = m[g];
				part.k += first * HD;
				part.v += first * HD;
				part.ks += first;
				part.vs += first;
				q8_reference(q + r * HD, end - first, &part, 0.125f, c > 0, ref, &lse);
				for (size_t d = 0; d < HD; d++) {
					double e = fabs(out[0][c][r * HD + d] - ref[d]);
					worst = isnan(e) ? INFINITY : e > worst ? e : worst;
				}
			}
		ok(worst < tol[c], "backend q8_0 KV, %s: worst %.3g", what[c], worst);
		ok(memcmp(out[0][c], out[1][c], cases[c][1] * NH * HD * sizeof(float)) == 0,
		    "backend q8_0 KV, %s: 1 and 2 threads agree bit for bit", what[c]);
	}
	for (size_t g = 0; g < KVH; g++)
		q8_free(&m[g]);
	/* against the fp16 cache: Q8_0's rounding alone */
	struct backend *be;
	struct kv_shape shape = { 1, N_CTX, KVH, HD, KV_F16 };
	if (backend_cpu_create(2, &be, &err) != 0 || be->ops->kv_alloc(be, &shape, &err) != 0) {
		ok(0, "backend: %s", err);
		free(err);
		return;
	}
	be->ops->kv_store(be, 0, 0, N_CTX, kf, vf);
	be->ops->attention(be, 0, q, 3, 9000, NH, 0.125f, 0, f16out);
	be->ops->destroy(be);
	double worst = 0;
	for (size_t i = 0; i < 3 * NH * HD; i++) {
		double e = fabs(out[0][0][i] - f16out[i]);
		worst = e > worst ? e : worst;
	}
	ok(worst < 2e-2 && worst > 0, "q8_0 and fp16 KV decode differ by Q8_0's rounding: worst "
	    "%.3g", worst);
	/* a head size q8_0 cannot hold */
	struct kv_shape bad = { 1, 16, 1, 48, KV_Q8_0 };
	if (backend_cpu_create(1, &be, &err) != 0) {
		ok(0, "backend: %s", err);
		free(err);
		return;
	}
	int rc = be->ops->kv_alloc(be, &bad, &err);
	ok(rc != 0 && err != NULL && strstr(err, "multiple of 32") != NULL,
	    "q8_0 KV with head size 48 is refused: %s", err ? err : "(no error)");
	free(err);
	be->ops->destroy(be);
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
		const struct attn_decode_q8_kernels *dk = attn_decode_q8_for(level);
		if (dk != NULL)
			kernel_tests(dk);
	}
	levels_agree();
	to_fp16_tests();
	backend_tests();
	done_testing();
	return exit_status();
}
