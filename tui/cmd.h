/* cmd.h: the command table. One table drives argv dispatch, `quire --help`, `quire CMD --help`
 * and the man-page check; later the `:` prompt and key bindings read it too. Command files are
 * tui/cmd-NAME.c, each with a `static int cmd_NAME_exec(struct cmd_ctx *)` and ending in
 * `const struct cmd_entry cmd_NAME_entry = { ... };` (dashes in NAME become underscores).
 * Commands of the contract that are not built yet are entries without exec in cmd-table.c.
 * No curses in command files. */
#ifndef QUIRE_TUI_CMD_H
#define QUIRE_TUI_CMD_H

#include <stdint.h>
#include <stdio.h>

/* The global options of the command-line contract (man/quire.1), parsed once in
 * tui/options.c. Unset numeric options hold their defaults. */
struct opts {
	const char *library;        /* -L: library directory, default $XDG_DATA_HOME/quire/library */
	const char *model;          /* -m: GGUF file; NULL means the default model */
	int threads;                /* -t: worker threads, default: online CPUs */
	const char *device;         /* auto | cpu (cuda is refused until its backend lands) */
	long ctx;                   /* --ctx: context length, 0 = model's */
	const char *attn;           /* auto | exact | retrieval */
	const char *kv_type;        /* f16 | q8_0 */
	long block;                 /* --block: tokens per KV block, default 128 */
	long sinks;                 /* --sinks: index policy's attention sinks, default 4 */
	long window;                /* --window: index policy's local window, default 4096 */
	long topk;                  /* --topk: blocks retrieved per layer, default 32 */
	const char *rope_scaling;   /* NULL = from the model */
	double rope_scale;          /* 0 = from the model */
	double rope_base;           /* 0 = from the model */
	long rope_orig_ctx;         /* 0 = from the model */
	double yarn_beta_fast;      /* 0 = from the model */
	double yarn_beta_slow;      /* 0 = from the model */
	double rope_attn_factor;    /* 0 = from the model */
	const char *longrope_factors; /* factor file */
	double temp;                /* sampling temperature, default 0.8; 0 = greedy */
	int temp_set;               /* --temp given */
	unsigned long long seed;    /* sampling seed */
	int seed_set;               /* --seed given */
	int json;                   /* --json: one JSON document on stdout */
	int no_color;               /* --no-color */
	int quiet;                  /* -q: no progress */
	int verbose;                /* -v (repeatable) */
};

/* A command-specific option. Flags (has_arg 0) read back as "1". */
struct cmd_option {
	const char *long_name;      /* without the dashes */
	int short_name;             /* 0 if none */
	int has_arg;                /* 0 flag, 1 required argument */
	const char *arg_name;       /* e.g. "N", shown in help */
	const char *help;           /* one line */
};

#define CMD_MAX_OPTIONS 32

struct cmd_entry;

/* What a command's exec() receives. */
struct cmd_ctx {
	const struct cmd_entry *entry;
	struct opts *opts;
	int argc;                   /* positional arguments after the command name */
	char **argv;
	const char *values[CMD_MAX_OPTIONS]; /* per entry->options index; NULL when not given */
};

struct cmd_entry {
	const char *name;
	const char *alias;          /* NULL if none */
	const char *usage;          /* arguments after the name, e.g. "[--json] QUERY" */
	const char *summary;        /* one line for help */
	const struct cmd_option *options; /* terminated by { NULL }, or NULL */
	int min_args;               /* positional arguments */
	int max_args;               /* -1: unbounded */
	/* Returns the exit status: 0 success, 1 the work failed, 2 usage error.
	 * NULL marks a command that is part of the contract but not yet available. */
	int (*exec)(struct cmd_ctx *ctx);
};

/* cmd-table.c */
extern const struct cmd_entry *const cmd_table[];
const struct cmd_entry *cmd_find(const char *name);

/* options.c */
void opts_defaults(struct opts *o);
/* Parse argv (global and command options, in any order). On success returns 0 and sets *entry
 * (NULL when no command was given) and fills ctx. On a usage error prints a message and the
 * usage line to stderr and returns 2; for --help/--version prints and returns 1 with
 * *exit_now set. */
int opts_parse(int argc, char **argv, struct opts *o, struct cmd_ctx *ctx, int *exit_now);
const char *cmd_value(const struct cmd_ctx *ctx, const char *long_name);
/* The positional arguments joined by single spaces (a query, a question), malloc'd. */
char *cmd_args_joined(const struct cmd_ctx *ctx);
/* Numeric command-option readers: return 0 and set *out, or print a usage error and return 2. */
int cmd_value_long(const struct cmd_ctx *ctx, const char *long_name, long min, long max,
    long dflt, long *out);
int cmd_value_double(const struct cmd_ctx *ctx, const char *long_name, double min,
    double max, double dflt, double *out);
/* Comma-separated whole numbers, each in [min, max], at most max_n; dflt when absent. */
int cmd_value_long_list(const struct cmd_ctx *ctx, const char *long_name, const char *dflt,
    long min, long max, size_t max_n, long *out, size_t *n);
/* A size (512M, 8G, ...); leaves *out alone when the option is absent. */
int cmd_value_size(const struct cmd_ctx *ctx, const char *long_name, uint64_t *out);

/* help.c */
void help_print_main(FILE *f);
void help_print_command(FILE *f, const struct cmd_entry *e);
void help_print_usage(FILE *f);

#endif
