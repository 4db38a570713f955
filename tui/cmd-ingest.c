/* cmd-ingest.c: `quire ingest PATH...`: add files, folders and archives to the library. Each
 * failed document is named with its reason and the rest are kept; progress goes to stderr
 * when it is a terminal (or with -v); Ctrl-C stops after the current document. */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/util.h"
#include "store/store.h"
#include "tui/library.h"
#include "tui/cmd.h"
#include "tui/doc-tokens.h"
#include "tui/progress.h"

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
	(void)sig;
	interrupted = 1;
}

struct ingest_ui {
	const struct opts *o;
	struct progress pr;         /* the progress line */
};

static void on_doc(void *ctx, const struct store_doc_event *ev)
{
	struct ingest_ui *u = ctx;
	const struct opts *o = u->o;
	switch (ev->status) {
	case STORE_DOC_FAILED:
		progress_clear(&u->pr);
		q_warn("%s: %s", ev->name, ev->message ? ev->message : "failed");
		break;
	case STORE_DOC_SKIPPED:
		if (!o->quiet) {
			progress_clear(&u->pr);
			q_warn("%s: skipped: %s", ev->name, ev->message ? ev->message : "");
		}
		break;
	case STORE_DOC_ADDED:
	case STORE_DOC_REPLACED:
		if (ev->message && !o->quiet) {
			progress_clear(&u->pr);
			q_warn("%s: %s", ev->name, ev->message);
		}
		if (o->verbose) {
			progress_clear(&u->pr);
			fprintf(stderr, "%s %s (document %lld, %llu bytes, %llu sections, %llu tokens)\n",
			    ev->status == STORE_DOC_ADDED ? "added" : "replaced", ev->name,
			    (long long)ev->doc_id, (unsigned long long)ev->text_bytes,
			    (unsigned long long)ev->sections, (unsigned long long)ev->tokens);
		}
		break;
	case STORE_DOC_UNCHANGED:
		if (o->verbose) {
			progress_clear(&u->pr);
			fprintf(stderr, "%s: %s\n", ev->name, ev->message ? ev->message : "unchanged");
		}
		break;
	}
}

static int on_progress(void *ctx, const struct store_progress *p)
{
	struct ingest_ui *u = ctx;
	char extra[96];
	snprintf(extra, sizeof(extra), "%llu files, %llu tokens", (unsigned long long)p->files,
	    (unsigned long long)p->tokens);
	u->pr.total = p->bytes_total;
	progress_update(&u->pr, p->bytes_in, extra);
	return interrupted != 0;
}

static const struct cmd_option ingest_options[] = {
	{ "max-bytes", 0, 1, "SIZE", "stop after unpacking SIZE bytes in all (default 16 GiB)" },
	{ "max-doc-bytes", 0, 1, "SIZE", "largest document or member (default 512 MiB)" },
	{ "max-ratio", 0, 1, "N", "largest compression ratio of an archive (default 200)" },
	{ "max-depth", 0, 1, "N", "archives nested at most N deep (default 4)" },
	{ "max-entries", 0, 1, "N", "at most N archive members (default 1000000)" },
	{ "max-line", 0, 1, "SIZE", "longest line of a text file (default 1 MiB)" },
	{ NULL, 0, 0, NULL, NULL }
};

static int cmd_ingest_exec(struct cmd_ctx *ctx)
{
	struct opts *o = ctx->opts;
	struct store_ingest_opts io;
	memset(&io, 0, sizeof io);
	store_limits_default(&io.limits);
	uint64_t line = io.limits.max_line;
	long v;
	if (cmd_value_size(ctx, "max-bytes", &io.limits.max_total_bytes) ||
	    cmd_value_size(ctx, "max-doc-bytes", &io.limits.max_doc_bytes) ||
	    cmd_value_size(ctx, "max-line", &line))
		return 2;
	if (io.limits.max_doc_bytes > 0xffffffffULL) {
		fprintf(stderr, "quire: ingest: --max-doc-bytes is at most 4G - 1\n");
		return 2;
	}
	io.limits.max_line = (size_t)line;
	if (cmd_value_long(ctx, "max-ratio", 1, 1000000, io.limits.max_ratio, &v))
		return 2;
	io.limits.max_ratio = (uint32_t)v;
	if (cmd_value_long(ctx, "max-depth", 1, 32, io.limits.max_depth, &v))
		return 2;
	io.limits.max_depth = (int)v;
	if (cmd_value_long(ctx, "max-entries", 1, 1000000000L, (long)io.limits.max_entries, &v))
		return 2;
	io.limits.max_entries = (uint64_t)v;

	/* Tokens come from the model's tokenizer; without a model the text is stored alone and
	 * a later ingest with a model adds the tokens. */
	struct doc_tokens dt;
	if (doc_tokens_open(o, &dt) != 0)
		return 1;
	struct store *s;
	if (library_open(o, STORE_WRITE | STORE_CREATE, "ingest", &s) != 0) {
		doc_tokens_close(&dt);
		return 1;
	}
	char *err = NULL;
	if (dt.tok != NULL) {
		io.tokenize = doc_tokens_encode;
		io.tokenize_ctx = &dt;
		io.fingerprint = dt.fingerprint;
		if (doc_tokens_remember(s, dt.fingerprint, &err) != 0) {
			q_warn("%s", err);
			free(err);
			store_close(s);
			doc_tokens_close(&dt);
			return 1;
		}
	} else if (!o->quiet) {
		q_warn("ingest: no model (the default model is missing; see -m): storing text and "
		    "sections without tokens");
	}
	struct ingest_ui u = { .o = o };
	progress_start(&u.pr, o, "ingest", "bytes", 0);
	u.pr.bytes = 1;
	io.on_doc = on_doc;
	io.on_progress = on_progress;
	io.cb_ctx = &u;
	struct sigaction sa, old;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_sigint;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old);
	struct store_ingest_stats st;
	int r = store_ingest(s, ctx->argv, ctx->argc, &io, &st, &err);
	sigaction(SIGINT, &old, NULL);
	progress_clear(&u.pr);
	if (r != 0) {
		q_warn("%s", err);
		free(err);
	}
	if (!o->quiet) {
		char tb[32];
		progress_human_bytes(tb, sizeof tb, (double)st.text_bytes);
		fprintf(stderr, "ingest: %llu added, %llu replaced, %llu unchanged, %llu skipped, "
		    "%llu failed; %s of text, %llu tokens in %.1f s%s\n",
		    (unsigned long long)st.added, (unsigned long long)st.replaced,
		    (unsigned long long)st.unchanged, (unsigned long long)st.skipped,
		    (unsigned long long)st.failed, tb, (unsigned long long)st.tokens,
		    q_now() - u.pr.t_start, st.cancelled ? " (interrupted)" : "");
	}
	store_close(s);
	doc_tokens_close(&dt);
	return r != 0 || st.failed || st.cancelled ? 1 : 0;
}

const struct cmd_entry cmd_ingest_entry = {
	.name = "ingest", .usage = "PATH...",
	.summary = "add files, folders and archives to the library",
	.options = ingest_options, .min_args = 1, .max_args = -1,
	.exec = cmd_ingest_exec,
};
