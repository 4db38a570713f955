/* cmd-pending.c: commands of the contract whose implementation has not landed yet. They parse
 * their options like any other command, are marked in help, and exit 1 saying so. Each moves
 * to its own cmd-NAME.c when it is written. */
#include "config.h"

#include <stddef.h>

#include "tui/cmd.h"

const struct cmd_entry cmd_index_entry = {
	.name = "index", .summary = "build or extend the KV cache of the library",
	.max_args = 0,
};

const struct cmd_entry cmd_ask_entry = {
	.name = "ask", .usage = "QUESTION",
	.summary = "answer a question over the library, with cited spans",
	.min_args = 1, .max_args = -1,
};

const struct cmd_entry cmd_sessions_entry = {
	.name = "sessions", .usage = "[ls|show|rm|export] [NAME]",
	.summary = "list, show, remove or export sessions", .max_args = 2,
};

static const struct cmd_option niah_options[] = {
	{ "lengths", 0, 1, "L1,L2,...", "prompt lengths in tokens" },
	{ "grid", 0, 1, "MIN:MAX:N", "N lengths evenly spaced from MIN to MAX" },
	{ "depths", 0, 1, "N", "needle depths per length (default 10)" },
	{ "digits", 0, 1, "5|6", "digits of the pass key" },
	{ "haystack", 0, 1, "repeat|FILE", "filler text (default repeat)" },
	{ "csv", 0, 1, "FILE", "write the results as CSV" },
	{ "png", 0, 1, "FILE", "draw the depth x length grid as a heat map" },
	{ NULL, 0, 0, NULL, NULL }
};

const struct cmd_entry cmd_niah_entry = {
	.name = "niah", .summary = "needle-in-a-haystack evaluation; ends with 'accuracy: X/Y'",
	.options = niah_options, .max_args = 0,
};

const struct cmd_entry cmd_ruler_entry = {
	.name = "ruler", .usage = "[TASK...]",
	.summary = "RULER and InfiniteBench tasks that need no outside data",
	.max_args = -1,
};

