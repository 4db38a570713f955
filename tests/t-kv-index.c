/* t-kv-index.c: the corpus cache with the default model (QUIRE_TEST_MODEL) over the KJV
 * (QUIRE_CORPORA): a question's logits after an exact cache of 6K tokens, indexed in another
 * process and loaded from the file, equal those of one fresh pass over corpus + question (f16
 * and q8_0); an index stopped without a commit and resumed writes the very bytes of one that
 * never stopped (f16 twice, q8_0 once); a Ctrl-C commit and resume give the same blocks;
 * below sinks + window the windowed cache is the exact one. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/context.h"
#include "engine/kv-cache.h"
#include "engine/kv-index.h"
#include "engine/model.h"
#include "engine/tokenizer.h"
#include "kernels/cpu-features.h"
#include "lib/file.h"
#include "lib/util.h"
#include "tests/tap.h"

static struct model *m;
static char dir[256];

static struct context *make_context(uint64_t n_ctx, uint32_t n_batch, enum kv_type kt)
{
	struct context_params cp = {
		.n_ctx = (uint32_t)n_ctx, .n_batch = n_batch, .n_threads = 2, .kv_type = kt,
		.rope_ctx = m->hp.n_ctx_train,
	};
	struct context *c;
	char *err = NULL;
	if (context_create(m, &cp, &c, &err) != 0) {
		diag("%s", err);
		free(err);
		return NULL;
	}
	return c;
}

static struct kv_file_params params(enum kv_type kt, uint32_t block, uint32_t sinks,
    uint32_t window)
{
	struct rope_config rc;
	char *err = NULL;
	if (context_rope_config(m, NULL, m->hp.n_ctx_train, &rc, &err) != 0)
		fatal("%s", err);
	struct kv_file_params p = {
		.model_id = model_fingerprint(m), .rope_id = rope_fingerprint(&rc),
		.dtype = (uint32_t)kt, .block_tokens = block, .sinks = sinks, .window = window,
		.n_layer = m->hp.n_layer, .n_head_kv = m->hp.n_head_kv, .head_dim = m->hp.head_dim,
	};
	return p;
}

struct stop_at {
	uint64_t at;                /* cancel once this many tokens are cached; 0: never */
};

static int on_progress(void *ctx, uint64_t done, uint64_t total)
{
	struct stop_at *s = ctx;
	(void)total;
	return s->at != 0 && done >= s->at;
}

static void on_commit(void *ctx, uint64_t n_tokens, uint64_t *n_docs, uint64_t *hash)
{
	(void)ctx;
	*n_docs = 1;
	*hash = n_tokens * 0x9e3779b97f4a7c15ull;
}

/* Index tokens[from..n) into path. stop: 0 runs to the end; otherwise cancel after that many
 * tokens, and commit (sigint) or not (as kill -9 leaves it). 0, or -1. */
static int index_run(const char *path, const struct kv_file_params *p, const int32_t *tokens,
    size_t n, uint64_t stop, int sigint)
{
	struct kv_file *f = NULL;
	struct context *c = NULL;
	struct kv_index *ix = NULL;
	struct stop_at s = { stop };
	char *err = NULL;
	int rc = -1;
	if (kv_file_open_write(path, p, "t-kv-index", &f, &err) != 0)
		goto out;
	enum kv_type kt = (enum kv_type)p->dtype;
	c = make_context(kv_index_slots(p, n), kv_index_chunk(p->block_tokens), kt);
	if (c == NULL)
		goto out;
	struct kv_index_opts o = { .n_total = n, .progress = on_progress,
		.commit_info = on_commit, .cb_ctx = &s };
	if (kv_index_begin(c, f, &o, &ix, &err) != 0)
		goto out;
	uint64_t from = kv_index_start(ix);
	int r = kv_index_feed(ix, tokens + from, n - from, &err);
	if (r < 0)
		goto out;
	if (r == 1 && !sigint) {
		rc = 0;                  /* as if killed: no commit, uncommitted blocks stay */
		goto out;
	}
	if (kv_index_finish(ix, r == 0, &err) != 0)
		goto out;
	rc = 0;
out:
	if (err != NULL) {
		diag("index %s: %s", path, err);
		free(err);
	}
	kv_index_free(ix);
	context_free(c);
	kv_file_close(f);
	return rc;
}

/* index_run in a child process: the parent then reads only what the file holds. */
static int index_in_child(const char *path, const struct kv_file_params *p,
    const int32_t *tokens, size_t n)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0)
		_exit(index_run(path, p, tokens, n, 0, 0) == 0 ? 0 : 1);
	int st;
	return pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0 ?
	    0 : -1;
}

static double rel_diff(const float *a, const float *b, size_t n, int *same_argmax)
{
	double md = 0, mx = 0;
	size_t ia = 0, ib = 0;
	for (size_t i = 0; i < n; i++) {
		md = fmax(md, fabs((double)a[i] - b[i]));
		mx = fmax(mx, fabs((double)a[i]));
		if (a[i] > a[ia])
			ia = i;
		if (b[i] > b[ib])
			ib = i;
	}
	*same_argmax = ia == ib;
	return mx > 0 ? md / mx : md;
}

/* A cached corpus of n tokens, then the question: logits as from one fresh pass. */
static void check_exact(const int32_t *corpus, size_t n, const int32_t *q, size_t nq,
    enum kv_type kt, const char *name)
{
	size_t nv = m->hp.n_vocab;
	float *fresh = xreallocarray(NULL, nv, sizeof(float));
	float *cached = xreallocarray(NULL, nv, sizeof(float));
	int32_t *all = xreallocarray(NULL, n + nq, sizeof(int32_t));
	memcpy(all, corpus, n * sizeof(int32_t));
	memcpy(all + n, q, nq * sizeof(int32_t));
	char *err = NULL, *path = xasprintf("%s/exact-%s.kv", dir, name);
	struct context *c = make_context(m->hp.n_ctx_train, 512, kt);
	ok(c != NULL && forward(c, all, n + nq, fresh, 0, &err) == 0, "%s: fresh pass over %zu "
	    "tokens", name, n + nq);
	context_free(c);

	struct kv_file_params p = params(kt, 128, 4, 8192);
	ok(index_in_child(path, &p, corpus, n) == 0, "%s: indexed %zu tokens in a child process",
	    name, n);
	struct kv_file *f = NULL;
	c = make_context(m->hp.n_ctx_train, 512, kt);
	int loaded = kv_file_open_read(path, &p, &f, &err) == 0 && kv_cache_is_exact(f) &&
	    kv_cache_load_exact(c, f, &err) == 0;
	ok(loaded && c->n_past == n, "%s: the exact cache loads (%u tokens)", name,
	    loaded ? c->n_past : 0);
	ok(loaded && forward(c, q, nq, cached, 0, &err) == 0, "%s: the question after the cache",
	    name);
	int same;
	double d = rel_diff(fresh, cached, nv, &same);
	ok(loaded && d <= 1e-3, "%s: logits within 1e-3 relative of the fresh pass (%.3g)", name,
	    d);
	ok(loaded && same, "%s: the same most likely token", name);
	if (err != NULL)
		diag("%s", err);
	free(err);
	kv_file_close(f);
	context_free(c);
	free(path);
	free(all);
	free(fresh);
	free(cached);
}

static int files_equal(const char *a, const char *b)
{
	char *da, *db, *err = NULL;
	size_t la, lb;
	if (file_read_all(a, 1u << 30, &da, &la, &err) != 0 ||
	    file_read_all(b, 1u << 30, &db, &lb, &err) != 0) {
		diag("%s", err);
		free(err);
		return 0;
	}
	int eq = la == lb && memcmp(da, db, la) == 0;
	if (!eq)
		diag("%s: %zu bytes, %s: %zu bytes", a, la, b, lb);
	free(da);
	free(db);
	return eq;
}

/* Every committed block of two caches holds the same rows. */
static int blocks_equal(const char *a, const char *b)
{
	struct kv_file *fa = NULL, *fb = NULL;
	char *err = NULL;
	int eq = 0;
	if (kv_file_open_read(a, NULL, &fa, &err) != 0 || kv_file_open_read(b, NULL, &fb, &err) != 0)
		goto out;
	struct kv_file_commit ca, cb;
	kv_file_last_commit(fa, &ca);
	kv_file_last_commit(fb, &cb);
	if (ca.n_tokens != cb.n_tokens || ca.n_blocks != cb.n_blocks)
		goto out;
	const struct kv_file_params *p = kv_file_get_params(fa);
	size_t part = kv_file_row_bytes(p->dtype, p->n_head_kv * p->head_dim) * p->block_tokens;
	eq = 1;
	for (uint64_t i = 0; i < ca.n_blocks && eq; i++)
		for (uint32_t l = 0; l < p->n_layer && eq; l++)
			for (int k = 0; k < 2 && eq; k++) {
				const void *ra, *rb;
				eq = kv_file_block_rows(fa, i, l, k, &ra, &err) == 0 &&
				    kv_file_block_rows(fb, i, l, k, &rb, &err) == 0 &&
				    memcmp(ra, rb, part) == 0;
			}
out:
	if (err != NULL)
		diag("%s", err);
	free(err);
	kv_file_close(fa);
	kv_file_close(fb);
	return eq;
}

/* Windowed index (sinks 4, window 512, blocks of 64): stopped without a commit and resumed
 * (at two moments; one unless full), byte for byte the uninterrupted file; with full, a
 * Ctrl-C commit and resume give the same blocks, and the rows match the exact cache's up to
 * where the window starts to matter. */
static void check_resume(const int32_t *corpus, size_t n, enum kv_type kt, const char *name,
    int full)
{
	struct kv_file_params p = params(kt, 64, 4, 512);
	char *whole = xasprintf("%s/whole-%s.kv", dir, name);
	ok(index_run(whole, &p, corpus, n, 0, 0) == 0, "%s: uninterrupted windowed index of %zu "
	    "tokens", name, n);
	static const uint64_t stops[] = { 1536, 512 };
	for (size_t i = 0; i < (full ? Q_ARRAY_LEN(stops) : 1); i++) {
		char *path = xasprintf("%s/stop-%s-%zu.kv", dir, name, i);
		int r = index_run(path, &p, corpus, n, stops[i], 0) == 0 &&
		    index_run(path, &p, corpus, n, 0, 0) == 0;
		ok(r && files_equal(whole, path), "%s: stopped uncommitted at %llu, resumed: the "
		    "same bytes", name, (unsigned long long)stops[i]);
		free(path);
	}
	if (!full) {
		free(whole);
		return;
	}
	char *path = xasprintf("%s/sigint-%s.kv", dir, name);
	int r = index_run(path, &p, corpus, n, 1536, 1) == 0 &&
	    index_run(path, &p, corpus, n, 0, 0) == 0;
	ok(r && blocks_equal(whole, path), "%s: Ctrl-C commit at 1536, resumed: the same blocks",
	    name);
	free(path);

	/* the first 1024 tokens (two chunks, each starting within sinks + window) attend to
	 * everything before them: the exact cache's rows; at the end of 2048 they do not (layer
	 * 0's keys see no attention, so from layer 1 on) */
	struct kv_file_params pe = params(kt, 64, 4, 8192);
	char *exact = xasprintf("%s/exact64-%s.kv", dir, name);
	struct kv_file *fw = NULL, *fe = NULL;
	char *err = NULL;
	int opened = index_run(exact, &pe, corpus, 2048, 0, 0) == 0 &&
	    kv_file_open_read(whole, NULL, &fw, &err) == 0 &&
	    kv_file_open_read(exact, NULL, &fe, &err) == 0;
	size_t part = kv_file_row_bytes(p.dtype, p.n_head_kv * p.head_dim) * p.block_tokens;
	int eq = opened, differ = 0;
	for (uint64_t b = 0; eq && b < 1024 / 64; b++)
		for (uint32_t l = 0; l < p.n_layer && eq; l++) {
			const void *rw, *re;
			eq = kv_file_block_rows(fw, b, l, 0, &rw, &err) == 0 &&
			    kv_file_block_rows(fe, b, l, 0, &re, &err) == 0 && memcmp(rw, re, part) == 0;
		}
	ok(eq, "%s: the windowed cache's first 1024 tokens are the exact cache's", name);
	for (uint32_t l = 1; opened && l < p.n_layer && !differ; l++) {
		const void *rw, *re;
		differ = kv_file_block_rows(fw, 2047 / 64, l, 0, &rw, &err) == 0 &&
		    kv_file_block_rows(fe, 2047 / 64, l, 0, &re, &err) == 0 &&
		    memcmp(rw, re, part) != 0;
	}
	ok(differ, "%s: at 2047 the windowed cache is not the exact one", name);
	if (err != NULL)
		diag("%s", err);
	free(err);
	kv_file_close(fw);
	kv_file_close(fe);
	free(exact);
	free(whole);
}

int main(void)
{
	const char *model = getenv("QUIRE_TEST_MODEL"), *corpora = getenv("QUIRE_CORPORA");
	if (model == NULL || model[0] == '\0')
		return skip_all("QUIRE_TEST_MODEL is not set");
	char *kjv = xasprintf("%s/kjv.txt", corpora ? corpora : "build/corpora");
	if (access(kjv, R_OK) != 0) {
		free(kjv);
		return skip_all("no KJV in QUIRE_CORPORA (scripts/check builds it)");
	}
	char *err = NULL, *text;
	size_t len;
	if (cpu_simd_init(&err) != 0 || model_load(model, &m, &err) != 0 ||
	    file_read_all(kjv, 1u << 28, &text, &len, &err) != 0) {
		diag("%s", err);
		ok(0, "set up");
		return exit_status();
	}
	free(kjv);
	if (len > 60000)
		len = 60000;
	int32_t *ids;
	size_t n_ids;
	if (tokenizer_encode(m->tok, text, len, 0, &ids, &n_ids, NULL, &err) != 0 || n_ids < 8000)
		fatal("tokenize: %s", err ? err : "too few tokens");
	free(text);
	/* the corpus as index feeds it: a separator, then the document */
	int32_t *corpus = xreallocarray(NULL, 6001, sizeof(int32_t));
	corpus[0] = tokenizer_bos(m->tok) >= 0 ? tokenizer_bos(m->tok) : tokenizer_eos(m->tok);
	memcpy(corpus + 1, ids, 6000 * sizeof(int32_t));
	static const char question[] = "\nQuestion: what did God call the light?\nAnswer:";
	int32_t *q;
	size_t nq;
	if (tokenizer_encode(m->tok, question, strlen(question), 0, &q, &nq, NULL, &err) != 0)
		fatal("%s", err);
	if (tap_tmpdir("t-kv-index", dir, sizeof dir) != 0)
		fatal("tmpdir");

	check_exact(corpus, 6001, q, nq, KV_F16, "f16");
	check_exact(corpus, 1001, q, nq, KV_Q8_0, "q8_0");
	check_resume(corpus, 2400, KV_F16, "f16", 1);
	check_resume(corpus, 2400, KV_Q8_0, "q8_0", 0);

	tap_tmpdir_remove(dir);
	free(q);
	free(ids);
	free(corpus);
	model_free(m);
	done_testing();
	return exit_status();
}
