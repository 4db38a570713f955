/* cmd-check.c: `quire check`: verify the library (SQLite integrity, FTS against its content,
 * text chunks, sections, token offsets and counts) and report problems by document. The KV
 * cache check belongs to the index part and is not done here yet. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include "lib/json.h"
#include "lib/util.h"
#include "store/store.h"
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
