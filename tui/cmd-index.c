/* cmd-index.c: `quire index`: stream the library's tokens, in corpus order, through the model
 * into the corpus cache (engine/kv-index.c): resumable at its last commit, extended when
 * documents are added, progress with rate and ETA on stderr, Ctrl-C stops at a commit.
 * `index --gc` removes the caches the library can no longer use. */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "engine/kv-index.h"
#include "engine/kv-summary.h"
#include "engine/tokenizer.h"
#include "lib/file.h"
#include "lib/util.h"
#include "tui/cmd.h"
#include "tui/doc-tokens.h"
#include "tui/kv-setup.h"
#include "tui/library.h"
#include "tui/model-setup.h"
#include "tui/progress.h"

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

struct index_ui {
	const struct kv_corpus *corpus;
	struct progress pr;
	uint64_t start;             /* position the run began at */
};

static int on_progress(void *ctx, uint64_t done, uint64_t total)
{
	struct index_ui *u = ctx;
	(void)total;
	progress_update(&u->pr, done - u->start, NULL);
	return interrupted != 0;
}

static void on_commit(void *ctx, uint64_t n_tokens, uint64_t *n_docs, uint64_t *hash)
{
	struct index_ui *u = ctx;
	*hash = kv_corpus_layout_hash(u->corpus, n_tokens, n_docs);
}

/* Every document tokenized with the model's tokenizer: an ingest made without this model
 * left some without; add them (they join the corpus in document order). */
static int ensure_tokens(const struct opts *o, const struct model *m, struct store **s)
{
	uint64_t fp = tokenizer_fingerprint(m->tok);
	struct store_doc *docs;
	size_t n;
	char *err = NULL;
	if (store_list(*s, fp, &docs, &n, &err) != 0) {
		q_warn("%s", err);
		free(err);
		return -1;
	}
	size_t missing = 0;
	for (size_t i = 0; i < n; i++)
		missing += !docs[i].tokenized;
	store_docs_free(docs, n);
	if (missing == 0)
		return 0;
	store_close(*s);
	*s = NULL;
	if (library_open(o, STORE_WRITE, "index", s) != 0)
		return -1;
	struct doc_tokens dt = { m->tok, fp };
	uint64_t done = 0;
	if (!o->quiet)
		fprintf(stderr, "index: tokenizing %zu document%s for this model\n", missing,
		    missing == 1 ? "" : "s");
	if (store_add_tokens(*s, doc_tokens_encode, &dt, fp, &done, &err) != 0 ||
	    doc_tokens_remember(*s, fp, &err) != 0) {
		q_warn("%s", err);
		free(err);
		return -1;
	}
	return 0;
}

/* Free space for what the run will write, with 5% to spare. */
static int check_space(const char *dir, const struct kv_file_params *p, uint64_t new_tokens)
{
	uint64_t blocks = new_tokens / p->block_tokens + 2;
	uint64_t need = blocks * (kv_file_block_bytes(p) + 4096);
	need += need / 20;
	struct statvfs sv;
	if (statvfs(dir, &sv) != 0) {
		q_warn("%s: %s", dir, strerror(errno));
		return -1;
	}
	uint64_t avail = (uint64_t)sv.f_bavail * sv.f_frsize;
	if (avail < need) {
		char a[32], b[32];
		progress_human_bytes(a, sizeof a, (double)need);
		progress_human_bytes(b, sizeof b, (double)avail);
		q_warn("%s: the cache needs about %s more and %s is free", dir, a, b);
		return -1;
	}
	return 0;
}

/* Feed positions [from, corpus end) to the indexer: each document's separator, then its
 * tokens, read from the store a piece at a time. */
static int feed_corpus(struct store *s, const struct kv_corpus *c, struct kv_index *ix,
    uint64_t from, char **err)
{
	enum { PIECE = 65536 };
	for (size_t d = 0; d < c->n_docs; d++) {
		const struct store_corpus_doc *doc = &c->docs[d];
		uint64_t end = doc->position + doc->n_tokens;
		if (end <= from)
			continue;
		if (doc->position - 1 >= from) {
			int r = kv_index_feed(ix, &c->separator, 1, err);
			if (r != 0)
				return r;
		}
		uint64_t first = from > doc->position ? from - doc->position : 0;
		while (first < doc->n_tokens) {
			uint64_t count = doc->n_tokens - first < PIECE ? doc->n_tokens - first : PIECE;
			int32_t *ids;
			uint32_t *offs;
			size_t n;
			if (store_tokens(s, doc->doc_id, c->fingerprint, first, count, &ids, &offs, &n,
			    err) != 0)
				return -1;
			free(offs);
			if (n != count) {
				free(ids);
				return q_error(err, "document %lld: %zu tokens stored where the corpus "
				    "says %llu", (long long)doc->doc_id, n, (unsigned long long)count);
			}
			int r = kv_index_feed(ix, ids, n, err);
			free(ids);
			if (r != 0)
				return r;
			first += count;
		}
	}
	return 0;
}

struct gc_ctx {
	const struct kv_corpus *corpus;
	uint64_t removed, kept;
	int failed;
};

/* A file in kv/ is stale when it cannot be read as a cache, or was built from a corpus that
 * is not the library's; lock files go with their cache. */
static void gc_one(void *ctx, const char *path)
{
	struct gc_ctx *g = ctx;
	char *err = NULL;
	struct kv_file *f;
	const char *why = NULL;
	if (kv_file_open_read(path, NULL, &f, &err) != 0) {
		why = err;
	} else {
		if (!kv_corpus_matches(f, g->corpus))
			why = "built from another corpus";
		kv_file_close(f);
	}
	if (why == NULL) {
		g->kept++;
	} else {
		char *lock = xasprintf("%s.lock", path), *sum = kv_summary_path(path);
		if (unlink(path) != 0) {
			q_warn("%s: %s", path, strerror(errno));
			g->failed = 1;
		} else {
			g->removed++;
			fprintf(stderr, "index --gc: removed %s (%s)\n", path, why);
			unlink(lock);
			unlink(sum);
		}
		free(sum);
		free(lock);
	}
	free(err);
}

static int index_gc(const struct opts *o, const struct kv_corpus *c)
{
	struct gc_ctx g = { c, 0, 0, 0 };
	char *err = NULL;
	if (kv_setup_each_cache(o, gc_one, &g, &err) != 0) {
		q_warn("%s", err);
		free(err);
		return 1;
	}
	if (!o->quiet)
		fprintf(stderr, "index --gc: %llu removed, %llu kept\n",
		    (unsigned long long)g.removed, (unsigned long long)g.kept);
	return g.failed;
}

/* Every committed block has its summary in the side file, intact. */
static int summaries_complete(struct kv_file *f, struct kv_summary_file *sf)
{
	struct kv_file_commit last;
	kv_file_last_commit(f, &last);
	for (uint64_t b = 0; b < last.n_blocks; b++) {
		const void *sum;
		char *e = NULL;
		if (kv_summary_get(sf, b, kv_file_block_tokens(f, b), &sum, &e) != 0) {
			free(e);
			return 0;
		}
	}
	return 1;
}

static int run_index(const struct opts *o, struct store *s, const struct model *m,
    const struct kv_corpus *c)
{
	struct kv_file_params p;
	if (kv_setup_params(o, m, &p) != 0)
		return 1;
	char *dir = kv_setup_dir(o), *path = kv_setup_path(o, &p), *err = NULL;
	char *sum_path = kv_summary_path(path);
	struct kv_summary_file *sf = NULL;
	struct kv_file *f = NULL;
	struct context *ctx = NULL;
	struct kv_index *ix = NULL;
	int rc = 1;
	if (dir_make_all(dir, &err) != 0 || kv_file_open_write(path, &p, "index", &f, &err) != 0 ||
	    kv_summary_open(sum_path, &p, 1, &sf, &err) != 0)
		goto out;
	if (kv_corpus_check(path, f, c) != 0)
		goto out;
	struct kv_file_commit last;
	kv_file_last_commit(f, &last);
	if (last.n_tokens == c->n_tokens && summaries_complete(f, sf)) {
		if (!o->quiet)
			fprintf(stderr, "index: the cache holds all %llu tokens of the library: 0 tokens "
			    "to prefill\n", (unsigned long long)c->n_tokens);
		rc = 0;
		goto out;
	}
	if (check_space(dir, &p, c->n_tokens - last.n_tokens / p.block_tokens * p.block_tokens))
		goto out;
	uint64_t slots = kv_index_slots(&p, c->n_tokens);
	if (slots > UINT32_MAX) {
		q_warn("index: %llu tokens with --window %u need more memory slots than a context "
		    "holds; use a shorter window", (unsigned long long)c->n_tokens, p.window);
		goto out;
	}
	if (model_setup_cache_context(o, m, (uint32_t)slots, kv_index_chunk(p.block_tokens),
	    &ctx) != 0)
		goto out;
	struct index_ui u = { .corpus = c };
	struct kv_index_opts io = {
		.n_total = c->n_tokens, .progress = on_progress, .commit_info = on_commit,
		.cb_ctx = &u, .summaries = sf,
	};
	if (kv_index_begin(ctx, f, &io, &ix, &err) != 0)
		goto out;
	u.start = kv_index_start(ix);
	if (!o->quiet && kv_index_backfilled(ix) > 0)
		fprintf(stderr, "index: %llu block summaries were missing or damaged: written again "
		    "from their blocks\n", (unsigned long long)kv_index_backfilled(ix));
	if (!o->quiet && u.start > 0)
		fprintf(stderr, "index: resuming at token %llu of %llu\n",
		    (unsigned long long)u.start, (unsigned long long)c->n_tokens);
	progress_start(&u.pr, o, "index", "tokens", c->n_tokens - u.start);
	struct sigaction sa, old_int, old_term;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	double t0 = q_now();
	int r = feed_corpus(s, c, ix, u.start, &err);
	if (r >= 0 && kv_index_finish(ix, r == 0, &err) != 0)
		r = -1;
	double secs = q_now() - t0;
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	progress_clear(&u.pr);
	if (r < 0)
		goto out;
	kv_file_last_commit(f, &last);
	uint64_t done = last.n_tokens > u.start ? last.n_tokens - u.start : 0;
	if (!o->quiet)
		fprintf(stderr, "index: %llu tokens prefilled in %.1f s (%.0f tokens/s); the cache "
		    "holds %llu of %llu tokens%s\n%s\n", (unsigned long long)done, secs,
		    secs > 0 ? (double)done / secs : 0.0, (unsigned long long)last.n_tokens,
		    (unsigned long long)c->n_tokens,
		    r == 1 ? " (interrupted: run index again to go on)" : "", path);
	rc = r == 1 ? 1 : 0;
out:
	if (err != NULL) {
		q_warn("%s", err);
		free(err);
	}
	kv_index_free(ix);
	context_free(ctx);
	kv_summary_close(sf);
	kv_file_close(f);
	free(sum_path);
	free(path);
	free(dir);
	return rc;
}

static const struct cmd_option index_options[] = {
	{ "gc", 0, 0, NULL, "remove caches the library can no longer use" },
	{ "repair", 0, 0, NULL, "rebuild damaged blocks; not yet available" },
	{ NULL, 0, 0, NULL, NULL }
};

static int cmd_index_exec(struct cmd_ctx *ctx)
{
	const struct opts *o = ctx->opts;
	if (cmd_value(ctx, "repair") != NULL) {
		fprintf(stderr, "quire: index --repair: not yet available in this version\n");
		return 1;
	}
	struct store *s;
	if (library_open(o, STORE_READ, "index", &s) != 0)
		return 1;
	struct model *m = NULL;
	struct kv_corpus c = { 0 };
	int rc = 1;
	if (model_setup_load(o, &m) != 0 || ensure_tokens(o, m, &s) != 0 ||
	    kv_corpus_load(s, m, &c) != 0)
		goto out;
	if (cmd_value(ctx, "gc") != NULL) {
		rc = index_gc(o, &c);
		goto out;
	}
	if (c.n_docs == 0) {
		q_warn("index: the library has no documents (quire ingest PATH adds some)");
		goto out;
	}
	rc = run_index(o, s, m, &c);
out:
	kv_corpus_free(&c);
	model_free(m);
	store_close(s);
	return rc;
}

const struct cmd_entry cmd_index_entry = {
	.name = "index", .usage = "[--gc|--repair]",
	.summary = "build or extend the KV cache of the library",
	.options = index_options, .min_args = 0, .max_args = 0,
	.exec = cmd_index_exec,
};
