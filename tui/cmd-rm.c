/* cmd-rm.c: `quire rm DOC...`: remove documents (by id or title) from the library. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include "lib/util.h"
#include "store/store.h"
#include "tui/library.h"
#include "tui/cmd.h"

static int cmd_rm_exec(struct cmd_ctx *ctx)
{
	struct store *s;
	if (library_open(ctx->opts, STORE_WRITE, "rm", &s) != 0)
		return 1;
	int status = 0;
	for (int i = 0; i < ctx->argc; i++) {
		struct store_doc d;
		char *err = NULL;
		if (store_find_doc(s, ctx->argv[i], &d, &err) != 0) {
			q_warn("%s", err);
			free(err);
			status = 1;
			continue;
		}
		if (store_remove(s, d.id, &err) != 0) {
			q_warn("%s", err);
			free(err);
			store_doc_free(&d);
			status = 1;
			continue;
		}
		if (!ctx->opts->quiet)
			printf("removed %lld: %s\n", (long long)d.id, d.title);
		store_doc_free(&d);
	}
	store_close(s);
	return status;
}

const struct cmd_entry cmd_rm_entry = {
	.name = "rm", .usage = "DOC...", .summary = "remove documents from the library",
	.min_args = 1, .max_args = -1,
	.exec = cmd_rm_exec,
};
