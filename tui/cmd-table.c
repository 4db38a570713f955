/* cmd-table.c: the command table of the command-line contract, in the order help shows it.
 * Entries without an exec function are part of the contract but not yet available. */
#include "config.h"

#include <string.h>

#include "tui/cmd.h"

/* Commands of the contract whose implementation has not landed yet. They parse their options
 * like any other command, are marked in help, and exit 1 saying so. Each moves to its own
 * cmd-NAME.c, with its exec function, when it is written. */
static const struct cmd_entry cmd_index_entry = {
	.name = "index", .summary = "build or extend the KV cache of the library",
	.max_args = 0,
};

static const struct cmd_entry cmd_ask_entry = {
	.name = "ask", .usage = "QUESTION",
	.summary = "answer a question over the library, with cited spans",
	.min_args = 1, .max_args = -1,
};

static const struct cmd_entry cmd_sessions_entry = {
	.name = "sessions", .usage = "[ls|show|rm|export] [NAME]",
	.summary = "list, show, remove or export sessions", .max_args = 2,
};

extern const struct cmd_entry cmd_ingest_entry;
extern const struct cmd_entry cmd_search_entry;
extern const struct cmd_entry cmd_ls_entry;
extern const struct cmd_entry cmd_show_entry;
extern const struct cmd_entry cmd_rm_entry;
extern const struct cmd_entry cmd_check_entry;
extern const struct cmd_entry cmd_run_entry;
extern const struct cmd_entry cmd_perplexity_entry;
extern const struct cmd_entry cmd_info_entry;
extern const struct cmd_entry cmd_niah_entry;
extern const struct cmd_entry cmd_ruler_entry;
extern const struct cmd_entry cmd_rope_search_entry;
extern const struct cmd_entry cmd_bench_entry;

const struct cmd_entry *const cmd_table[] = {
	&cmd_ingest_entry,
	&cmd_index_entry,
	&cmd_ask_entry,
	&cmd_search_entry,
	&cmd_ls_entry,
	&cmd_show_entry,
	&cmd_rm_entry,
	&cmd_check_entry,
	&cmd_run_entry,
	&cmd_perplexity_entry,
	&cmd_info_entry,
	&cmd_sessions_entry,
	&cmd_niah_entry,
	&cmd_ruler_entry,
	&cmd_rope_search_entry,
	&cmd_bench_entry,
	NULL
};

const struct cmd_entry *cmd_find(const char *name)
{
	for (const struct cmd_entry *const *e = cmd_table; *e; e++)
		if (strcmp((*e)->name, name) == 0 || ((*e)->alias && strcmp((*e)->alias, name) == 0))
			return *e;
	return NULL;
}
