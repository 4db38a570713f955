/* cmd-pending.c: commands of the contract whose implementation has not landed yet. They parse
 * their options like any other command, are marked in help, and exit 1 saying so. Each moves
 * to its own cmd-NAME.c when it is written. */
#include "config.h"

#include <stddef.h>

#include "tui/cmd.h"

const struct cmd_entry cmd_ingest_entry = {
	.name = "ingest", .usage = "PATH...",
	.summary = "add files, folders and archives to the library",
	.min_args = 1, .max_args = -1,
};

const struct cmd_entry cmd_index_entry = {
	.name = "index", .summary = "build or extend the KV cache of the library",
	.max_args = 0,
};

const struct cmd_entry cmd_ask_entry = {
	.name = "ask", .usage = "QUESTION",
	.summary = "answer a question over the library, with cited spans",
	.min_args = 1, .max_args = -1,
};

static const struct cmd_option search_options[] = {
	{ "limit", 0, 1, "N", "at most N results (default 20)" },
	{ NULL, 0, 0, NULL, NULL }
};

const struct cmd_entry cmd_search_entry = {
	.name = "search", .usage = "QUERY",
	.summary = "full-text search with ranked snippets",
	.options = search_options, .min_args = 1, .max_args = -1,
};

const struct cmd_entry cmd_ls_entry = {
	.name = "ls", .summary = "list the documents of the library", .max_args = 0,
};

const struct cmd_entry cmd_show_entry = {
	.name = "show", .usage = "REF",
	.summary = "print a document or a span (REF[:LINE|:FIRST-LAST|@START-END])",
	.min_args = 1, .max_args = 1,
};

const struct cmd_entry cmd_rm_entry = {
	.name = "rm", .usage = "DOC...", .summary = "remove documents from the library",
	.min_args = 1, .max_args = -1,
};

const struct cmd_entry cmd_check_entry = {
	.name = "check", .summary = "verify the library and its KV cache", .max_args = 0,
};

static const struct cmd_option run_options[] = {
	{ "prompt", 'p', 1, "PROMPT", "the prompt text" },
	{ "file", 'f', 1, "FILE", "read the prompt from FILE" },
	{ "n-predict", 'n', 1, "N", "generate at most N tokens (default 256)" },
	{ "chat", 0, 0, NULL, "wrap the prompt in the model's chat template" },
	{ NULL, 0, 0, NULL, NULL }
};

const struct cmd_entry cmd_run_entry = {
	.name = "run", .summary = "generate text with the model (no corpus)",
	.options = run_options, .max_args = 0,
};

static const struct cmd_option perplexity_options[] = {
	{ "stride", 0, 1, "S", "tokens the window advances (default ctx/2)" },
	{ NULL, 0, 0, NULL, NULL }
};

const struct cmd_entry cmd_perplexity_entry = {
	.name = "perplexity", .usage = "FILE",
	.summary = "perplexity of the model over a text; ends with 'ppl: X'",
	.options = perplexity_options, .min_args = 1, .max_args = 1,
};

const struct cmd_entry cmd_info_entry = {
	.name = "info", .summary = "model, RoPE, KV and library facts", .max_args = 0,
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

const struct cmd_entry cmd_rope_search_entry = {
	.name = "rope-search", .usage = "FILE",
	.summary = "search per-pair RoPE factors that minimise perplexity (LongRoPE style)",
	.min_args = 1, .max_args = 1,
};

static const struct cmd_option bench_options[] = {
	{ "n-prompt", 0, 1, "N", "prompt tokens to process (default 512)" },
	{ "n-gen", 0, 1, "N", "tokens to generate (default 128)" },
	{ "depth", 0, 1, "D", "context depth before the measurement (default 0)" },
	{ "reps", 0, 1, "N", "repetitions (default 3)" },
	{ NULL, 0, 0, NULL, NULL }
};

const struct cmd_entry cmd_bench_entry = {
	.name = "bench", .summary = "prompt and generation speed, like llama-bench",
	.options = bench_options, .max_args = 0,
};
