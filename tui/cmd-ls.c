/* cmd-ls.c: `quire ls [--json]`: the documents of the library in corpus order. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include "lib/json.h"
#include "lib/util.h"
#include "store/store.h"
#include "tui/library.h"
#include "tui/cmd.h"
#include "tui/doc-tokens.h"

static int cmd_ls_exec(struct cmd_ctx *ctx)
{
	struct store *s;
	if (library_open(ctx->opts, STORE_READ, "ls", &s) != 0)
		return 1;
	struct store_doc *d;
	size_t n;
	char *err = NULL;
	if (store_list(s, doc_tokens_recall(s), &d, &n, &err) != 0) {
		q_warn("%s", err);
		free(err);
		store_close(s);
		return 1;
	}
	if (ctx->opts->json) {
		printf("{\"documents\":[");
		for (size_t i = 0; i < n; i++) {
			printf("%s{\"id\":%lld,\"title\":", i ? "," : "", (long long)d[i].id);
			json_write_string(stdout, d[i].title);
			printf(",\"path\":");
			json_write_string(stdout, d[i].path);
			printf(",\"entry\":");
			json_write_string(stdout, d[i].entry);
			printf(",\"format\":\"%s\",\"encoding\":\"%s\",\"bytes\":%llu,\"text_bytes\":%llu,"
			    "\"lines\":%llu,\"tokens\":%llu,\"sections\":%llu,\"tokenized\":%s,"
			    "\"sha256\":\"%s\",\"ingested\":%lld}", d[i].format, d[i].encoding,
			    (unsigned long long)d[i].bytes, (unsigned long long)d[i].text_bytes,
			    (unsigned long long)d[i].lines, (unsigned long long)d[i].tokens,
			    (unsigned long long)d[i].sections, d[i].tokenized ? "true" : "false",
			    d[i].sha256, (long long)d[i].ingested);
		}
		printf("]}\n");
	} else {
		if (n && !ctx->opts->quiet)
			printf("%5s  %-32s %-8s %10s %9s %8s %9s  %s\n", "ID", "TITLE", "FORMAT",
			    "BYTES", "TOKENS", "SECTIONS", "TOKENIZED", "PATH");
		for (size_t i = 0; i < n; i++) {
			printf("%5lld  %-32.32s %-8s %10llu %9llu %8llu %9s  %s%s%s\n",
			    (long long)d[i].id, d[i].title, d[i].format,
			    (unsigned long long)d[i].bytes, (unsigned long long)d[i].tokens,
			    (unsigned long long)d[i].sections, d[i].tokenized ? "yes" : "no", d[i].path,
			    *d[i].entry ? "!/" : "", d[i].entry);
		}
	}
	store_docs_free(d, n);
	store_close(s);
	return 0;
}

const struct cmd_entry cmd_ls_entry = {
	.name = "ls", .usage = "[--json]",
	.summary = "list the documents of the library", .max_args = 0,
	.exec = cmd_ls_exec,
};
