/* cmd-search.c: `quire search [--json] QUERY`: full-text search (FTS5, BM25) with snippets
 * that mark the matches, and the document, section and line of each hit. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/json.h"
#include "lib/util.h"
#include "store/store.h"
#include "tui/library.h"
#include "tui/cmd.h"

static const struct cmd_option search_options[] = {
	{ "limit", 0, 1, "N", "at most N results (default 20)" },
	{ "fts", 0, 0, NULL, "the query is FTS5 syntax (AND, OR, NOT, NEAR, \"phrases\", prefix*)" },
	{ NULL, 0, 0, NULL, NULL }
};

static int cmd_search_exec(struct cmd_ctx *ctx)
{
	long limit;
	if (cmd_value_long(ctx, "limit", 1, 10000, 20, &limit))
		return 2;
	int raw = cmd_value(ctx, "fts") != NULL;
	char *q = cmd_args_joined(ctx);
	struct store *s;
	if (library_open(ctx->opts, STORE_READ, "search", &s) != 0) {
		free(q);
		return 1;
	}
	int color = !ctx->opts->json && !ctx->opts->no_color && isatty(1) && getenv("NO_COLOR") == NULL;
	const char *open = color ? "\033[1;31m" : "[", *close = color ? "\033[0m" : "]";
	struct store_hit *h;
	size_t n;
	char *err = NULL;
	if (store_search(s, q, raw, (int)limit, open, close, &h, &n, &err) != 0) {
		q_warn("%s", err);
		free(err);
		free(q);
		store_close(s);
		return 1;
	}
	if (ctx->opts->json) {
		printf("{\"query\":");
		json_write_string(stdout, q);
		printf(",\"results\":[");
		for (size_t i = 0; i < n; i++) {
			printf("%s{\"doc\":{\"id\":%lld,\"title\":", i ? "," : "", (long long)h[i].doc_id);
			json_write_string(stdout, h[i].title);
			printf(",\"path\":");
			json_write_string(stdout, h[i].path);
			printf("},\"section\":");
			json_write_string(stdout, h[i].section);
			printf(",\"line\":%llu,\"byte_start\":%llu,\"byte_end\":%llu,\"score\":%.6g,"
			    "\"snippet\":", (unsigned long long)h[i].line,
			    (unsigned long long)h[i].byte_start, (unsigned long long)h[i].byte_end,
			    h[i].score);
			json_write_string(stdout, h[i].snippet);
			printf("}");
		}
		printf("]}\n");
	} else {
		for (size_t i = 0; i < n; i++) {
			for (char *c = h[i].snippet; *c; c++)
				if (*c == '\n' || *c == '\r' || *c == '\t')
					*c = ' ';
			printf("%zu. %s:%llu", i + 1, h[i].title, (unsigned long long)h[i].line);
			if (h[i].section)
				printf("  [%s]", h[i].section);
			printf("  (doc %lld, score %.2f)\n    %s\n", (long long)h[i].doc_id, h[i].score,
			    h[i].snippet);
		}
		if (n == 0 && !ctx->opts->quiet)
			fprintf(stderr, "search: no matches for \"%s\"\n", q);
	}
	store_hits_free(h, n);
	free(q);
	store_close(s);
	return 0;
}

const struct cmd_entry cmd_search_entry = {
	.name = "search", .usage = "[--json] QUERY",
	.summary = "full-text search with ranked snippets",
	.options = search_options, .min_args = 1, .max_args = -1,
	.exec = cmd_search_exec,
};
