/* cmd-table.c: the command table of the command-line contract, in the order help shows it.
 * Entries without an exec function are part of the contract but not yet available. */
#include "config.h"

#include <string.h>

#include "tui/cmd.h"

extern const struct cmd_entry cmd_ingest_entry;
extern const struct cmd_entry cmd_index_entry;
extern const struct cmd_entry cmd_ask_entry;
extern const struct cmd_entry cmd_search_entry;
extern const struct cmd_entry cmd_ls_entry;
extern const struct cmd_entry cmd_show_entry;
extern const struct cmd_entry cmd_rm_entry;
extern const struct cmd_entry cmd_check_entry;
extern const struct cmd_entry cmd_run_entry;
extern const struct cmd_entry cmd_perplexity_entry;
extern const struct cmd_entry cmd_info_entry;
extern const struct cmd_entry cmd_sessions_entry;
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
