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

