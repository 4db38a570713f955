/* cmd-check.c: `quire check`: verify the library (SQLite integrity, FTS against its content,
 * text chunks, sections, token offsets and counts) and report problems by document; then each
 * corpus cache in kv/: its header, records, commits and every block's checksum, and whether
 * it was built from this library's corpus. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/json.h"
#include "lib/util.h"
#include "store/store.h"
#include "engine/kv-summary.h"
#include "tui/doc-tokens.h"
#include "tui/kv-setup.h"
#include "tui/library.h"
#include "tui/cmd.h"

struct check_ui {
	const struct opts *o;
	int first;                  /* no JSON problem printed yet */
};

static void on_problem(void *ctx, int64_t doc, const char *msg)
{
	struct check_ui *u = ctx;
	if (u->o->json) {
		printf("%s{\"doc\":%lld,\"message\":", u->first ? "" : ",", (long long)doc);
		json_write_string(stdout, msg);
		printf("}");
		u->first = 0;
	} else if (doc) {
		q_warn("check: document %lld: %s", (long long)doc, msg);
	} else {
		q_warn("check: %s", msg);
	}
}

static void on_kv_problem(void *ctx, const char *msg)
{
	on_problem(ctx, 0, msg);
}

/* kv_summary_check's one context: the cache, for its blocks' token counts, and the UI. */
struct summary_check {
	struct kv_file *f;
	struct check_ui *u;
};

static uint32_t block_tokens(void *ctx, uint64_t i)
{
	return kv_file_block_tokens(((struct summary_check *)ctx)->f, i);
}

static void on_summary_problem(void *ctx, const char *msg)
{
	on_problem(((struct summary_check *)ctx)->u, 0, msg);
}

/* Notes that are not problems (an interrupted index's tail) come through here too: only a
 * count from kv_file_check says what is wrong. */
static void check_kv_file(struct check_ui *u, const char *path, const struct kv_corpus *c,
    uint64_t *problems)
{
	char *err = NULL;
	uint64_t n = 0;
	if (kv_file_check(path, on_kv_problem, u, &n, &err) != 0) {
		on_problem(u, 0, err);
		free(err);
		(*problems)++;
		return;
	}
	*problems += n;
	struct kv_file *f;
	if (n == 0 && kv_file_open_read(path, NULL, &f, &err) == 0) {
		if (c != NULL && !kv_corpus_matches(f, c)) {
			char *msg = xasprintf("%s: stale: built from another corpus than the library's "
			    "(`quire index --gc` removes it)", path);
			on_problem(u, 0, msg);
			free(msg);
			(*problems)++;
		}
		/* the block summaries beside it */
		struct kv_file_commit last;
		kv_file_last_commit(f, &last);
		char *sum = kv_summary_path(path);
		uint64_t bad = 0;
		struct summary_check sc = { f, u };
		if (kv_summary_check(sum, kv_file_get_params(f), last.n_blocks, block_tokens,
		    on_summary_problem, &sc, &bad, &err) != 0) {
			on_problem(u, 0, err);
			bad++;
		}
		*problems += bad;
		free(sum);
		kv_file_close(f);
	}
	free(err);
}

struct kv_walk {
	struct check_ui *u;
	const struct kv_corpus *corpus; /* the library's, or NULL when it has no tokens */
	uint64_t *problems;
};

static void check_one(void *ctx, const char *path)
{
	struct kv_walk *w = ctx;
	check_kv_file(w->u, path, w->corpus, w->problems);
}

static void check_kv(struct check_ui *u, struct store *s, uint64_t *problems)
{
	struct kv_corpus c;
	uint64_t fp = doc_tokens_recall(s);
	int have = fp != 0 && kv_corpus_read(s, fp, &c) == 0;
	struct kv_walk w = { u, have ? &c : NULL, problems };
	char *err = NULL;
	if (kv_setup_each_cache(u->o, check_one, &w, &err) != 0) {
		on_problem(u, 0, err);
		free(err);
		(*problems)++;
	}
	if (have)
		kv_corpus_free(&c);
}

static int cmd_check_exec(struct cmd_ctx *ctx)
{
	struct store *s;
	if (library_open(ctx->opts, STORE_READ, "check", &s) != 0)
		return 1;
	struct check_ui u = { ctx->opts, 1 };
	uint64_t problems = 0;
	struct store_counts c;
	char *err = NULL;
	if (ctx->opts->json)
		printf("{\"problems\":[");
	int r = store_check(s, on_problem, &u, &problems, &err);
	if (r == 0)
		check_kv(&u, s, &problems);
	if (r == 0)
		r = store_counts(s, &c, &err);
	if (r != 0) {
		if (ctx->opts->json)
			printf("]}\n");
		q_warn("%s", err);
		free(err);
		store_close(s);
		return 1;
	}
	if (ctx->opts->json) {
		printf("],\"ok\":%s,\"documents\":%llu,\"sections\":%llu,\"chunks\":%llu,"
		    "\"tokens\":%llu,\"text_bytes\":%llu}\n", problems ? "false" : "true",
		    (unsigned long long)c.documents, (unsigned long long)c.sections,
		    (unsigned long long)c.chunks, (unsigned long long)c.tokens,
		    (unsigned long long)c.text_bytes);
	} else {
		printf("documents: %llu, sections: %llu, text chunks: %llu, tokens: %llu, "
		    "text bytes: %llu\n", (unsigned long long)c.documents,
		    (unsigned long long)c.sections, (unsigned long long)c.chunks,
		    (unsigned long long)c.tokens, (unsigned long long)c.text_bytes);
		if (problems)
			printf("check: %llu problems\n", (unsigned long long)problems);
		else
			printf("check: ok\n");
	}
	store_close(s);
	return problems ? 1 : 0;
}

const struct cmd_entry cmd_check_entry = {
	.name = "check", .summary = "verify the library and its KV cache", .max_args = 0,
	.exec = cmd_check_exec,
};
