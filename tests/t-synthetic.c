/* t-synthetic.c: the forward pass on tiny random models of every architecture (llama, qwen2,
 * phi3, gemma3) and weight type, plus a llama with UltraLong's YaRN metadata, against two
 * references made by tests/ref/make-synthetic-ref.py: llama.cpp's logits and a float64 NumPy
 * forward pass. Every SIMD level the CPU has runs every model in one batch, and the best level
 * once more one token per call. The loader's errors for an unknown architecture and a wrongly
 * shaped tensor are checked on two broken files. Without tests/data/synthetic the test skips.
 *
 * Tolerances are honest rather than tuned to pass: llama.cpp's own distance from the exact
 * float64 logits on the same file (it rounds activations to Q8, fp16 or bf16 as the weight
 * type wants, and keeps K/V in fp16) sets the scale, and quire must be at least as close to
 * them as llama.cpp, within a small margin; fixed per-type ceilings bound both, so a broken
 * reference cannot loosen the test. */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/context.h"
#include "engine/model.h"
#include "engine/rope.h"
#include "engine/sample.h"
#include "kernels/cpu-features.h"
#include "lib/buf.h"
#include "lib/file.h"
#include "lib/util.h"
#include "tests/tap.h"

#define DATA_DIR "tests/data/synthetic"

/* Per weight type: the most either engine may differ from the float64 logits (they span about
 * +-12 on these models; llama.cpp measured 0.010-0.016 for f32, 0.012-0.026 for f16, 0.09-0.21
 * for bf16, whose activations it rounds to bf16, and 0.19-0.75 for the quantized types, whose
 * activations it rounds to 8 bits), and the margin quire gets over llama.cpp's own distance.
 * With 8-bit activations a last-bit difference anywhere upstream can move one activation to
 * the next integer step, which moves single logits by up to about 0.2 here; the margins of
 * the quantized types absorb one such step and no more. */
struct type_tol {
	const char *name;           /* file name part */
	double ceiling;             /* max |logit - exact| allowed of either engine */
	double margin;              /* quire may be this much further from exact than llama.cpp */
};

static const struct type_tol types[] = {
	{ "f32", 0.05, 0.005 },
	{ "f16", 0.05, 0.005 },
	{ "bf16", 0.40, 0.02 },
	{ "q8_0", 0.80, 0.10 },
	{ "q4_0", 1.20, 0.15 },
	{ "q4_1", 1.20, 0.15 },
	{ "q5_0", 1.00, 0.15 },
	{ "q5_1", 1.00, 0.15 },
	{ "q4_k", 1.00, 0.15 },
	{ "q5_k", 1.00, 0.15 },
	{ "q6_k", 0.80, 0.10 },
};

static const char *const arches[] = { "llama", "qwen2", "phi3", "gemma3" };

/* One .ref file: the token sequence and both references for positions first..n_tok-1. */
struct ref {
	uint32_t n_tok, first, n_vocab;
	int32_t *tokens;
	float *llama;               /* [(n_tok - first) * n_vocab] */
	float *exact;               /* the same from float64 NumPy */
	char *raw;
};

static char *data_path(const char *name)
{
	const char *srcdir = getenv("srcdir") ? getenv("srcdir") : ".";
	return xasprintf("%s/" DATA_DIR "/%s", srcdir, name);
}

static uint32_t get_u32(const char *p)
{
	const unsigned char *u = (const unsigned char *)p;
	return (uint32_t)u[0] | (uint32_t)u[1] << 8 | (uint32_t)u[2] << 16 | (uint32_t)u[3] << 24;
}

static int read_ref(const char *name, struct ref *r)
{
	char *path = data_path(name), *err = NULL;
	size_t len;
	memset(r, 0, sizeof(*r));
	if (file_read_all(path, 16u << 20, &r->raw, &len, &err) != 0) {
		diag("%s", err);
		free(err);
		free(path);
		return -1;
	}
	free(path);
	if (len < 20 || memcmp(r->raw, "QSYNREF1", 8) != 0)
		return -1;
	r->n_tok = get_u32(r->raw + 8);
	r->first = get_u32(r->raw + 12);
	r->n_vocab = get_u32(r->raw + 16);
	if (r->n_tok == 0 || r->n_tok > 1024 || r->first >= r->n_tok || r->n_vocab == 0 ||
	    r->n_vocab > 65536)
		return -1;
	size_t rows = r->n_tok - r->first;
	if (len != 20 + 4 * (size_t)r->n_tok + 2 * 4 * rows * r->n_vocab)
		return -1;
	/* The file is little-endian like every machine quire runs on; copy to aligned arrays. */
	r->tokens = xreallocarray(NULL, r->n_tok, sizeof(int32_t));
	r->llama = xreallocarray(NULL, rows * r->n_vocab, sizeof(float));
	r->exact = xreallocarray(NULL, rows * r->n_vocab, sizeof(float));
	const char *p = r->raw + 20;
	memcpy(r->tokens, p, 4 * (size_t)r->n_tok);
	p += 4 * (size_t)r->n_tok;
	memcpy(r->llama, p, 4 * rows * r->n_vocab);
	p += 4 * rows * r->n_vocab;
	memcpy(r->exact, p, 4 * rows * r->n_vocab);
	return 0;
}

static void free_ref(struct ref *r)
{
	free(r->tokens);
	free(r->llama);
	free(r->exact);
	free(r->raw);
}

static double max_abs_diff(const float *a, const float *b, size_t n)
{
	double m = 0;
	for (size_t i = 0; i < n; i++) {
		double d = fabs((double)a[i] - (double)b[i]);
		if (!(d <= m))                  /* NaN counts as infinitely far */
			m = isnan(d) ? INFINITY : d;
	}
	return m;
}

static double rms_diff(const float *a, const float *b, size_t n)
{
	double s = 0;
	for (size_t i = 0; i < n; i++)
		s += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
	return sqrt(s / (double)n);
}

/* Top-1 agreement of got with want over rows; *clear counts the rows where want's top-2 gap
 * exceeds 2 * noise (a disagreement there is an error, not a near tie), *clear_agree those
 * of them where the two agree. */
static int top1_agree(const float *got, const float *want, size_t rows, size_t n_vocab,
    double noise, int *clear, int *clear_agree)
{
	int agree = 0;
	*clear = *clear_agree = 0;
	for (size_t r = 0; r < rows; r++) {
		const float *g = got + r * n_vocab, *w = want + r * n_vocab;
		int32_t ag = sample_argmax(g, n_vocab), aw = sample_argmax(w, n_vocab);
		float second = -INFINITY;
		for (size_t i = 0; i < n_vocab; i++)
			if ((int32_t)i != aw && w[i] > second)
				second = w[i];
		int same = ag == aw;
		agree += same;
		if (w[aw] - second > 2 * noise) {
			(*clear)++;
			*clear_agree += same;
		}
	}
	return agree;
}

/* quire's logits for the ref's tokens at positions first.. at the active SIMD level, with the
 * whole sequence in one batch (n_batch 0) or one token per call (n_batch 1). */
static int run_quire(const struct model *m, const struct ref *r, uint32_t n_batch, float *out,
    char **err)
{
	struct context_params p = { .n_ctx = 64, .n_batch = n_batch, .n_threads = 2 };
	struct context *c;
	if (context_create(m, &p, &c, err) != 0)
		return -1;
	float *all = xreallocarray(NULL, (size_t)r->n_tok * r->n_vocab, sizeof(float));
	int rc = forward(c, r->tokens, r->n_tok, all, 1, err);
	if (rc == 0)
		memcpy(out, all + (size_t)r->first * r->n_vocab,
		    (size_t)(r->n_tok - r->first) * r->n_vocab * sizeof(float));
	free(all);
	context_free(c);
	return rc;
}

/* The checks on one run of quire (got) against both references. */
static void check_run(const char *base, const char *how, const float *got, const struct ref *r,
    const struct type_tol *tt, double d_ln, double rms_ln)
{
	size_t rows = r->n_tok - r->first, n = rows * r->n_vocab;
	double d_qn = max_abs_diff(got, r->exact, n), rms_qn = rms_diff(got, r->exact, n);
	double d_ql = max_abs_diff(got, r->llama, n), rms_ql = rms_diff(got, r->llama, n);
	int clear, clear_agree;

	/* quire vs exact: no further than llama.cpp plus the margin, in the worst logit and on
	 * average, and the same top-1 wherever the exact top-2 gap is clear of that error. */
	double bound = d_ln + tt->margin, bound_rms = 1.2 * rms_ln + tt->margin / 10;
	int agree = top1_agree(got, r->exact, rows, r->n_vocab, bound, &clear, &clear_agree);
	ok(d_qn <= bound && d_qn <= tt->ceiling && rms_qn <= bound_rms && clear_agree == clear,
	    "%s [%s]: quire vs exact: max |diff| %.4g <= %.4g (llama.cpp's %.4g + %.3g), rms %.3g "
	    "<= %.3g, top-1 %d/%zu, %d/%d where the top-2 gap > %.3g", base, how, d_qn, bound,
	    d_ln, tt->margin, rms_qn, bound_rms, agree, rows, clear_agree, clear, 2 * bound);

	/* quire vs llama.cpp: both sit within their distances of the exact logits, so they may
	 * be that far apart and no more, and their top-1 choices agree wherever llama.cpp's
	 * top-2 gap is clear of the two errors together. */
	double bound_ql = d_ln + d_qn + 1e-5;
	agree = top1_agree(got, r->llama, rows, r->n_vocab, bound_ql, &clear, &clear_agree);
	ok(d_ql <= bound_ql && clear_agree == clear,
	    "%s [%s]: quire vs llama.cpp: max |diff| %.4g <= %.4g, rms %.3g, top-1 %d/%zu, %d/%d "
	    "where its top-2 gap > %.3g", base, how, d_ql, bound_ql, rms_ql, agree, rows,
	    clear_agree, clear, 2 * bound_ql);
}

static void check_model(const char *base, const struct type_tol *tt)
{
	char *gguf_name = xasprintf("%s.gguf", base), *ref_name = xasprintf("%s.ref", base);
	char *path = data_path(gguf_name), *err = NULL;
	struct model *m = NULL;
	struct ref r;
	int loaded = model_load(path, &m, &err) == 0;
	ok(loaded, "%s: loads%s%s", base, loaded ? "" : ": ", loaded ? "" : err);
	int have_ref = read_ref(ref_name, &r) == 0;
	ok(have_ref, "%s: reference file is well formed", ref_name);
	if (!loaded || !have_ref)
		goto out;
	ok(r.n_vocab == m->hp.n_vocab, "%s: reference has the model's %u logits per position",
	    base, m->hp.n_vocab);
	if (r.n_vocab != m->hp.n_vocab)
		goto out;

	/* The reference's own agreement: llama.cpp vs the float64 pass, within the type's
	 * ceiling (a wrong reference file must not loosen the bounds below). */
	size_t rows = r.n_tok - r.first, n = rows * r.n_vocab;
	double d_ln = max_abs_diff(r.llama, r.exact, n), rms_ln = rms_diff(r.llama, r.exact, n);
	double scale = 0;
	for (size_t i = 0; i < n; i++)
		scale = fabs(r.exact[i]) > scale ? fabs(r.exact[i]) : scale;
	int clear, clear_agree;
	int agree = top1_agree(r.llama, r.exact, rows, r.n_vocab, d_ln, &clear, &clear_agree);
	ok(d_ln <= tt->ceiling, "%s: llama.cpp vs exact: max |diff| %.4g (ceiling %.3g), rms %.3g, "
	    "top-1 %d/%zu; exact logits within +-%.3g", base, d_ln, tt->ceiling, rms_ln, agree,
	    rows, scale);

	/* Every SIMD level, the whole sequence in one batch. */
	float *got = xreallocarray(NULL, n, sizeof(float));
	float *batch = xreallocarray(NULL, n, sizeof(float));
	for (int lv = 0; lv < CPU_SIMD_COUNT_; lv++) {
		if (!cpu_simd_supported((enum cpu_simd_level)lv))
			continue;
		const char *lname = cpu_simd_name((enum cpu_simd_level)lv);
		if (cpu_simd_set((enum cpu_simd_level)lv, &err) != 0 ||
		    run_quire(m, &r, 0, got, &err) != 0) {
			ok(0, "%s [%s]: forward: %s", base, lname, err);
			free(err);
			err = NULL;
			continue;
		}
		check_run(base, lname, got, &r, tt, d_ln, rms_ln);
		memcpy(batch, got, n * sizeof(float));   /* the best level's, kept last */
	}

	/* One token per call at the best level: the single-row kernels and the KV memory
	 * across calls, held to the same bounds. */
	if (cpu_simd_set(cpu_simd_best(), &err) == 0 && run_quire(m, &r, 1, got, &err) == 0) {
		char *how = xasprintf("%s, one token per call, max |diff| %.3g from one batch",
		    cpu_simd_name(cpu_simd_best()), max_abs_diff(got, batch, n));
		check_run(base, how, got, &r, tt, d_ln, rms_ln);
		free(how);
	} else {
		ok(0, "%s: token-at-a-time forward: %s", base, err);
	}
	free(got);
	free(batch);
out:
	if (have_ref)
		free_ref(&r);
	model_free(m);
	free(err);
	free(path);
	free(gguf_name);
	free(ref_name);
}

/* UltraLong's RoPE as the file states it: YaRN, s = 128 over 8192 positions, betas 4 and 1,
 * base 500000. The logits check above proves it is applied; this proves it was read. */
static void check_ultralong_rope(void)
{
	char *path = data_path("ultralong-f16.gguf"), *err = NULL;
	struct model *m;
	if (model_load(path, &m, &err) != 0) {
		ok(0, "ultralong-f16: loads: %s", err);
		free(err);
		free(path);
		return;
	}
	const struct rope_config *rc = &m->rope;
	ok(rc->variant == ROPE_YARN && rc->scale == 128.0 && rc->orig_ctx == 8192 &&
	    rc->beta_fast == 4.0 && rc->beta_slow == 1.0 && rc->base == 500000.0 &&
	    m->hp.n_ctx_train == 1048576,
	    "ultralong-f16: RoPE read as %s, s=%g, original context %u, betas %g/%g, base %g, "
	    "window %u", rope_variant_name(rc->variant), rc->scale, rc->orig_ctx, rc->beta_fast,
	    rc->beta_slow, rc->base, m->hp.n_ctx_train);
	model_free(m);
	free(path);
}

/* Logits of every position of toks under a LongRoPE factor file (all factors f, n^ keep),
 * scale 2 over an original context of 32 so that a 64-position run takes the long set. */
static int run_longrope(const struct model *m, float f, uint32_t keep, const int32_t *toks,
    size_t n, float *out, char **err)
{
	float fs[ROPE_MAX_PAIRS], ones[ROPE_MAX_PAIRS];
	int np = m->rope.n_rot / 2;
	for (int i = 0; i < np; i++) {
		fs[i] = f;
		ones[i] = 1.0f;
	}
	struct buf b = BUF_INIT;
	rope_factors_format(&b, np, fs, ones, keep);
	const char *tmp = getenv("TMPDIR");
	char *path = xasprintf("%s/t-synthetic-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	int fd = mkstemp(path), rc = -1;
	if (fd < 0 || write(fd, b.data, b.len) != (ssize_t)b.len) {
		q_error(err, "cannot write %s", path);
	} else {
		struct rope_overrides ov = { 0 };
		ov.longrope_file = path;
		ov.scale = 2.0;
		ov.orig_ctx = 32;
		struct context_params p = { .n_ctx = 64, .n_threads = 2, .rope_overrides = &ov };
		struct context *c;
		if (context_create(m, &p, &c, err) == 0) {
			rc = forward(c, toks, n, out, 1, err);
			context_free(c);
		}
	}
	if (fd >= 0) {
		close(fd);
		unlink(path);
	}
	free(path);
	buf_free(&b);
	return rc;
}

/* LongRoPE's n^ through the whole forward pass: with n^ = 16, positions below 16 see only keys
 * rotated by the plain frequencies, so their logits equal those of factors all 1 bit for bit;
 * from position 16 on they differ from both that and n^ = 0. */
static void check_longrope_keep(void)
{
	char *path = data_path("llama-f32.gguf"), *err = NULL;
	struct model *m;
	if (model_load(path, &m, &err) != 0) {
		ok(0, "llama-f32: loads: %s", err);
		free(err);
		free(path);
		return;
	}
	enum { N = 48, KEEP = 16 };
	int32_t toks[N];
	for (int i = 0; i < N; i++)
		toks[i] = (int32_t)(1 + (i * 37) % 250);
	size_t nv = m->hp.n_vocab;
	float *a = xreallocarray(NULL, N * nv, sizeof(float));   /* factors 2, n^ 0 */
	float *b = xreallocarray(NULL, N * nv, sizeof(float));   /* factors 2, n^ 16 */
	float *c = xreallocarray(NULL, N * nv, sizeof(float));   /* factors 1 */
	int rc = run_longrope(m, 2.0f, 0, toks, N, a, &err) ||
	    run_longrope(m, 2.0f, KEEP, toks, N, b, &err) ||
	    run_longrope(m, 1.0f, 0, toks, N, c, &err);
	ok(rc == 0, "longrope runs with and without n^%s%s", err ? ": " : "", err ? err : "");
	if (rc == 0) {
		double dc = max_abs_diff(b + KEEP * nv, c + KEEP * nv, (N - KEEP) * nv);
		double da = max_abs_diff(b + KEEP * nv, a + KEEP * nv, (N - KEEP) * nv);
		ok(memcmp(b, c, KEEP * nv * sizeof(float)) == 0,
		    "n^ 16: positions 0..15 give plain RoPE's logits bit for bit");
		ok(dc > 1e-4, "n^ 16: from position 16 on the factors apply (differs from factors 1 "
		    "by %.3g)", dc);
		ok(da > 1e-4, "n^ 16: the leading keys stay un-interpolated (differs from n^ 0 by "
		    "%.3g)", da);
	}
	free(err);
	free(a);
	free(b);
	free(c);
	model_free(m);
	free(path);
}

static void check_load_error(const char *file, const char *needle1, const char *needle2)
{
	char *path = data_path(file), *err = NULL;
	struct model *m = NULL;
	int rc = model_load(path, &m, &err);
	ok(rc != 0 && m == NULL && err != NULL && strstr(err, needle1) != NULL &&
	    strstr(err, needle2) != NULL && strstr(err, file) != NULL,
	    "%s: model_load fails naming the file, '%s' and '%s': %s", file, needle1, needle2,
	    err ? err : "(no error)");
	if (rc == 0)
		model_free(m);
	free(err);
	free(path);
}

int main(void)
{
	char *probe = data_path("llama-f32.gguf");
	FILE *f = fopen(probe, "rb");
	free(probe);
	if (f == NULL)
		return skip_all(DATA_DIR " is missing (make it with tests/ref/make-synthetic-models.py)");
	fclose(f);
	char *err = NULL;
	if (cpu_simd_init(&err) != 0) {
		diag("%s", err);
		free(err);
		err = NULL;
	}
	for (size_t a = 0; a < Q_ARRAY_LEN(arches); a++) {
		for (size_t t = 0; t < Q_ARRAY_LEN(types); t++) {
			char *base = xasprintf("%s-%s", arches[a], types[t].name);
			check_model(base, &types[t]);
			free(base);
		}
	}
	check_model("ultralong-f16", &types[1]);
	check_ultralong_rope();
	check_longrope_keep();
	check_load_error("bad-arch.gguf", "mamba9", "not supported");
	check_load_error("bad-shape.gguf", "blk.0.attn_k.weight", "shape");
	done_testing();
	return exit_status();
}
