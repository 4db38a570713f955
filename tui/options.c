/* options.c: parses the command line once, in one place: the global options of the contract and
 * the options of the chosen command, in any order around the command name. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/util.h"
#include "tui/cmd.h"
#include "tui/options.h"

enum {
	OPT_DEVICE = 256, OPT_CTX, OPT_ATTN, OPT_KV_TYPE, OPT_BLOCK, OPT_TOPK, OPT_ROPE_SCALING,
	OPT_ROPE_SCALE, OPT_ROPE_BASE, OPT_ROPE_ORIG_CTX, OPT_YARN_BETA_FAST, OPT_YARN_BETA_SLOW,
	OPT_ROPE_ATTN_FACTOR, OPT_LONGROPE_FACTORS, OPT_GPU_KV_MEM, OPT_TEMP, OPT_SEED, OPT_JSON,
	OPT_NO_COLOR, OPT_SINKS, OPT_WINDOW,
	OPT_COMMAND_BASE = 1000     /* command option i has key OPT_COMMAND_BASE + i */
};

const struct global_option global_options[] = {
	{ "library", 'L', 'L', "DIR", "library directory (default $XDG_DATA_HOME/quire/library)",
	  NULL },
	{ "model", 'm', 'm', "FILE",
	  "GGUF model (default: SmolLM2-135M-Instruct in the models folder)", NULL },
	{ "threads", 't', 't', "N", "worker threads (default: all online CPUs)", NULL },
	{ "device", 0, OPT_DEVICE, "auto|cpu|cuda", "compute device (default auto: the CPU)", "cuda" },
	{ "ctx", 0, OPT_CTX, "N", "context length in tokens (default: the model's)", NULL },
	{ "attn", 0, OPT_ATTN, "auto|exact|retrieval",
	  "attention over the corpus cache (default auto: exact when the cache is exact)",
	  NULL },
	{ "kv-type", 0, OPT_KV_TYPE, "f16|q8_0",
	  "KV cache element type (default f16); q8_0: half the memory", NULL },
	{ "block", 0, OPT_BLOCK, "N", "KV block size in tokens, a multiple of 16 (default 128)",
	  NULL },
	{ "topk", 0, OPT_TOPK, "N", "blocks retrieved per layer (default 32)", NULL },
	{ "sinks", 0, OPT_SINKS, "N", "index policy: attention sinks (default 4)", NULL },
	{ "window", 0, OPT_WINDOW, "N",
	  "index policy: local window in tokens (default 4096; at least the corpus: exact)", NULL },
	{ "rope-scaling", 0, OPT_ROPE_SCALING, "none|linear|ntk|dynamic|yarn|longrope|llama3",
	  "RoPE scaling variant (default: from the model)", NULL },
	{ "rope-scale", 0, OPT_ROPE_SCALE, "S", "RoPE scale factor", NULL },
	{ "rope-base", 0, OPT_ROPE_BASE, "B", "RoPE base frequency", NULL },
	{ "rope-orig-ctx", 0, OPT_ROPE_ORIG_CTX, "N", "original (trained) context for scaling",
	  NULL },
	{ "yarn-beta-fast", 0, OPT_YARN_BETA_FAST, "F", "YaRN beta_fast (default 32)", NULL },
	{ "yarn-beta-slow", 0, OPT_YARN_BETA_SLOW, "F", "YaRN beta_slow (default 1)", NULL },
	{ "rope-attn-factor", 0, OPT_ROPE_ATTN_FACTOR, "F", "attention factor on cos and sin", NULL },
	{ "longrope-factors", 0, OPT_LONGROPE_FACTORS, "FILE", "LongRoPE factor file", NULL },
	{ "gpu-kv-mem", 0, OPT_GPU_KV_MEM, "SIZE", "GPU memory for resident KV blocks (e.g. 8G)",
	  OPTION_PLANNED },
	{ "temp", 0, OPT_TEMP, "T", "sampling temperature (0 = greedy; default 0.8)", NULL },
	{ "seed", 0, OPT_SEED, "N", "sampling and generator seed", NULL },
	{ "session", 's', 's', "NAME", "session to use or resume", OPTION_PLANNED },
	{ "json", 0, OPT_JSON, NULL, "print one JSON document on stdout", NULL },
	{ "no-color", 0, OPT_NO_COLOR, NULL, "no colours in output or the UI", NULL },
	{ "quiet", 'q', 'q', NULL, "no progress output", NULL },
	{ "verbose", 'v', 'v', NULL, "more messages (repeatable)", NULL },
	{ "help", 'h', 'h', NULL, "show help (for a command: quire COMMAND --help)", NULL },
	{ "version", 'V', 'V', NULL, "show the version", NULL },
	{ NULL, 0, 0, NULL, NULL, NULL }
};

static const char *const device_values[] = { "auto", "cpu", "cuda", NULL };
static const char *const attn_values[] = { "auto", "exact", "retrieval", NULL };
static const char *const kv_type_values[] = { "f16", "q8_0", NULL };
static const char *const rope_scaling_values[] = {
	"none", "linear", "ntk", "dynamic", "yarn", "longrope", "llama3", NULL
};

void opts_defaults(struct opts *o)
{
	memset(o, 0, sizeof(*o));
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	o->threads = n > 0 ? (int)(n < 256 ? n : 256) : 1;
	o->device = "auto";
	o->attn = "auto";
	o->block = 128;
	o->sinks = 4;
	o->window = 4096;
	o->topk = 32;
	o->kv_type = "f16";
	o->temp = 0.8;
}

static int usage_error(const char *fmt, ...) Q_PRINTF(1, 2);

static int usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "%s: ", q_progname());
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	help_print_usage(stderr);
	return 2;
}

int parse_long(const char *what, const char *s, long min, long max, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (s[0] == '\0' || *end != '\0' || errno == ERANGE)
		return usage_error("%s: '%s' is not a whole number", what, s);
	if (v < min || v > max)
		return usage_error("%s: %ld is out of range (%ld to %ld)", what, v, min, max);
	*out = v;
	return 0;
}

int parse_double(const char *what, const char *s, double min, double max, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (s[0] == '\0' || *end != '\0' || errno == ERANGE || !isfinite(v))
		return usage_error("%s: '%s' is not a number", what, s);
	if (v < min || v > max)
		return usage_error("%s: %g is out of range (%g to %g)", what, v, min, max);
	*out = v;
	return 0;
}

int parse_long_list(const char *what, const char *s, long min, long max, size_t max_n,
    long *out, size_t *n)
{
	*n = 0;
	const char *p = s;
	for (;;) {
		char *end;
		errno = 0;
		long v = strtol(p, &end, 10);
		if (end == p || errno != 0 || v < min || v > max || (*end != ',' && *end != '\0') ||
		    *n == max_n)
			return usage_error("%s: '%s' is not a list of up to %zu whole numbers from %ld "
			    "to %ld separated by commas", what, s, max_n, min, max);
		out[(*n)++] = v;
		if (*end == '\0')
			return 0;
		p = end + 1;
	}
}

int cmd_value_long_list(const struct cmd_ctx *ctx, const char *long_name, const char *dflt,
    long min, long max, size_t max_n, long *out, size_t *n)
{
	const char *v = cmd_value(ctx, long_name);
	char what[64];
	snprintf(what, sizeof(what), "--%s", long_name);
	return parse_long_list(what, v ? v : dflt, min, max, max_n, out, n);
}

/* Sizes such as 512M, 8G, 1.5G or plain bytes. */
int parse_size(const char *what, const char *s, unsigned long long *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	double mult = 1;
	switch (*end) {
	case 'k': case 'K': mult = 1024.0; end++; break;
	case 'm': case 'M': mult = 1024.0 * 1024; end++; break;
	case 'g': case 'G': mult = 1024.0 * 1024 * 1024; end++; break;
	case 't': case 'T': mult = 1024.0 * 1024 * 1024 * 1024; end++; break;
	default: break;
	}
	if (*end == 'B' || *end == 'b')
		end++;
	if (s[0] == '\0' || *end != '\0' || errno == ERANGE || !(v >= 0) || v * mult > 1e18)
		return usage_error("%s: '%s' is not a size (e.g. 512M, 8G)", what, s);
	*out = (unsigned long long)(v * mult);
	return 0;
}

static int parse_choice(const char *what, const char *s, const char *const *values,
    const char **out)
{
	for (int i = 0; values[i]; i++) {
		if (strcmp(s, values[i]) == 0) {
			*out = values[i];
			return 0;
		}
	}
	char list[256] = "";
	for (int i = 0; values[i]; i++) {
		if (i)
			strncat(list, ", ", sizeof(list) - strlen(list) - 1);
		strncat(list, values[i], sizeof(list) - strlen(list) - 1);
	}
	return usage_error("%s: '%s' is not one of %s", what, s, list);
}

static int apply_global(struct opts *o, int key, const char *arg)
{
	long l;
	int rc = 0;
	switch (key) {
	case 'L': o->library = arg; break;
	case 'm': o->model = arg; break;
	case 't':
		rc = parse_long("--threads", arg, 1, 256, &l);
		o->threads = (int)l;
		break;
	case 'q': o->quiet = 1; break;
	case 'v': o->verbose++; break;
	case OPT_DEVICE: rc = parse_choice("--device", arg, device_values, &o->device); break;
	case OPT_CTX: rc = parse_long("--ctx", arg, 1, 1L << 32, &o->ctx); break;
	case OPT_ATTN: rc = parse_choice("--attn", arg, attn_values, &o->attn); break;
	case OPT_KV_TYPE: rc = parse_choice("--kv-type", arg, kv_type_values, &o->kv_type); break;
	case OPT_BLOCK:
		rc = parse_long("--block", arg, 16, 4096, &o->block);
		if (rc == 0 && o->block % 16 != 0)
			rc = usage_error("--block: %ld is not a multiple of 16", o->block);
		break;
	case OPT_TOPK: rc = parse_long("--topk", arg, 1, 4096, &o->topk); break;
	case OPT_SINKS: rc = parse_long("--sinks", arg, 0, 1024, &o->sinks); break;
	case OPT_WINDOW: rc = parse_long("--window", arg, 16, 0xffffffffL, &o->window); break;
	case OPT_ROPE_SCALING:
		rc = parse_choice("--rope-scaling", arg, rope_scaling_values, &o->rope_scaling);
		break;
	case OPT_ROPE_SCALE: rc = parse_double("--rope-scale", arg, 1e-3, 1e6, &o->rope_scale); break;
	case OPT_ROPE_BASE: rc = parse_double("--rope-base", arg, 1.0, 1e15, &o->rope_base); break;
	case OPT_ROPE_ORIG_CTX:
		rc = parse_long("--rope-orig-ctx", arg, 1, 1L << 32, &o->rope_orig_ctx);
		break;
	case OPT_YARN_BETA_FAST:
		rc = parse_double("--yarn-beta-fast", arg, 1e-6, 1e6, &o->yarn_beta_fast);
		break;
	case OPT_YARN_BETA_SLOW:
		rc = parse_double("--yarn-beta-slow", arg, 1e-6, 1e6, &o->yarn_beta_slow);
		break;
	case OPT_ROPE_ATTN_FACTOR:
		rc = parse_double("--rope-attn-factor", arg, 1e-6, 1e6, &o->rope_attn_factor);
		break;
	case OPT_LONGROPE_FACTORS: o->longrope_factors = arg; break;
	case OPT_TEMP:
		rc = parse_double("--temp", arg, 0.0, 100.0, &o->temp);
		o->temp_set = 1;
		break;
	case OPT_SEED: {
		char *end;
		errno = 0;
		unsigned long long v = strtoull(arg, &end, 10);
		if (arg[0] == '\0' || arg[0] == '-' || *end != '\0' || errno == ERANGE)
			return usage_error("--seed: '%s' is not a non-negative whole number", arg);
		o->seed = v;
		o->seed_set = 1;
		break;
	}
	case OPT_JSON: o->json = 1; break;
	case OPT_NO_COLOR: o->no_color = 1; break;
	default: fatal("unhandled global option key %d", key);
	}
	return rc;
}

static const struct global_option *global_by_key(int key)
{
	for (const struct global_option *g = global_options; g->long_name; g++)
		if (g->key == key)
			return g;
	return NULL;
}

/* An option, or an option's value, whose implementation has not landed is refused as an
 * unbuilt command is: said on stderr, exit 1. Nothing is parsed and then ignored. */
static int refuse_planned(int key, const char *arg)
{
	const struct global_option *g = global_by_key(key);
	if (g == NULL || g->planned == NULL)
		return 0;
	if (strcmp(g->planned, OPTION_PLANNED) == 0) {
		q_warn("--%s: not yet available in this version", g->long_name);
		return 1;
	}
	if (arg != NULL && strcmp(arg, g->planned) == 0) {
		q_warn("--%s %s: not yet available in this version", g->long_name, arg);
		return 1;
	}
	return 0;
}

static const struct global_option *global_by_long(const char *name, size_t len)
{
	for (const struct global_option *g = global_options; g->long_name; g++)
		if (strlen(g->long_name) == len && strncmp(g->long_name, name, len) == 0)
			return g;
	return NULL;
}

static const struct global_option *global_by_short(int c)
{
	for (const struct global_option *g = global_options; g->long_name; g++)
		if (g->short_name == c)
			return g;
	return NULL;
}

/* The command is the first argument that is neither an option nor an option's argument. Only
 * global options can stand before it, so the scan knows which of them take an argument. */
static int find_command_index(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--") == 0)
			return i + 1 < argc ? i + 1 : -1;
		if (a[0] != '-' || a[1] == '\0')
			return i;
		if (a[1] == '-') {
			const char *eq = strchr(a + 2, '=');
			size_t len = eq ? (size_t)(eq - (a + 2)) : strlen(a + 2);
			const struct global_option *g = global_by_long(a + 2, len);
			if (g && g->arg_name && !eq)
				i++;
			continue;
		}
		for (const char *p = a + 1; *p; p++) {
			const struct global_option *g = global_by_short((unsigned char)*p);
			if (g && g->arg_name) {
				if (p[1] == '\0')
					i++;
				break;
			}
		}
	}
	return -1;
}

int opts_parse(int argc, char **argv, struct opts *o, struct cmd_ctx *ctx, int *exit_now)
{
	*exit_now = 0;
	memset(ctx, 0, sizeof(*ctx));
	ctx->opts = o;

	const struct cmd_entry *entry = NULL;
	int ci = find_command_index(argc, argv);
	if (ci > 0) {
		entry = cmd_find(argv[ci]);
		if (entry == NULL)
			return usage_error("unknown command '%s' (quire --help lists them)", argv[ci]);
	}

	/* One getopt_long table: the globals, then the command's own options. */
	struct option longopts[Q_ARRAY_LEN(global_options) + CMD_MAX_OPTIONS + 1];
	char shortopts[256];
	size_t nl = 0, ns = 0;
	shortopts[ns++] = ':';
	for (const struct global_option *g = global_options; g->long_name; g++) {
		longopts[nl++] = (struct option){ g->long_name,
			g->arg_name ? required_argument : no_argument, NULL, g->key };
		if (g->short_name) {
			shortopts[ns++] = (char)g->short_name;
			if (g->arg_name)
				shortopts[ns++] = ':';
		}
	}
	int n_cmd_opts = 0;
	if (entry && entry->options) {
		for (const struct cmd_option *c = entry->options; c->long_name; c++) {
			if (n_cmd_opts == CMD_MAX_OPTIONS)
				fatal("command %s has too many options", entry->name);
			longopts[nl++] = (struct option){ c->long_name,
				c->has_arg ? required_argument : no_argument, NULL,
				OPT_COMMAND_BASE + n_cmd_opts };
			if (c->short_name) {
				if (global_by_short(c->short_name) != NULL)
					fatal("command %s: option -%c is a global option", entry->name,
					    c->short_name);
				shortopts[ns++] = (char)c->short_name;
				if (c->has_arg)
					shortopts[ns++] = ':';
			}
			n_cmd_opts++;
		}
	}
	longopts[nl] = (struct option){ NULL, 0, NULL, 0 };
	shortopts[ns] = '\0';

	int want_help = 0, want_version = 0;
	opterr = 0;
	optind = 1;
	for (;;) {
		int c = getopt_long(argc, argv, shortopts, longopts, NULL);
		if (c == -1)
			break;
		if (c == '?') {
			if (optopt >= OPT_COMMAND_BASE || optopt > 255)
				return usage_error("unknown option '%s'", argv[optind - 1]);
			if (optopt)
				return usage_error("unknown option '-%c'%s%s", optopt,
				    entry ? " for " : "", entry ? entry->name : "");
			return usage_error("unknown option '%s'%s%s", argv[optind - 1],
			    entry ? " for " : "", entry ? entry->name : "");
		}
		if (c == ':')
			return usage_error("option '%s' needs an argument", argv[optind - 1]);
		if (c == 'h') {
			want_help = 1;
			continue;
		}
		if (c == 'V') {
			want_version = 1;
			continue;
		}
		if (c < 256 && global_by_short(c) == NULL && entry && entry->options) {
			/* a command's short option: getopt hands back the letter itself */
			for (int i = 0; entry->options[i].long_name; i++)
				if (entry->options[i].short_name == c)
					c = OPT_COMMAND_BASE + i;
		}
		if (c >= OPT_COMMAND_BASE) {
			ctx->values[c - OPT_COMMAND_BASE] = optarg ? optarg : "1";
			continue;
		}
		int rc = refuse_planned(c, optarg);
		if (rc == 0)
			rc = apply_global(o, c, optarg);
		if (rc != 0)
			return rc;
	}

	if (want_version) {
		options_print_version(stdout);
		*exit_now = 1;
		return 0;
	}
	if (want_help) {
		if (entry)
			help_print_command(stdout, entry);
		else
			help_print_main(stdout);
		*exit_now = 1;
		return 0;
	}

	/* getopt_long moved the operands to the end: the command name, then its arguments. */
	int first = optind;
	if (entry) {
		if (first >= argc || strcmp(argv[first], entry->name) != 0)
			fatal("option parser lost the command name");
		first++;
	}
	ctx->entry = entry;
	ctx->argc = argc - first;
	ctx->argv = argv + first;
	if (entry) {
		if (ctx->argc < entry->min_args)
			return usage_error("%s: missing argument (usage: quire %s %s)", entry->name,
			    entry->name, entry->usage ? entry->usage : "");
		if (entry->max_args >= 0 && ctx->argc > entry->max_args)
			return usage_error("%s: unexpected argument '%s'", entry->name,
			    ctx->argv[entry->max_args]);
	} else if (ctx->argc > 0) {
		return usage_error("unknown command '%s'", ctx->argv[0]);
	}
	return 0;
}

static int cmd_option_index(const struct cmd_ctx *ctx, const char *long_name)
{
	if (ctx->entry == NULL || ctx->entry->options == NULL)
		fatal("command option --%s asked of a command without options", long_name);
	for (int i = 0; ctx->entry->options[i].long_name; i++)
		if (strcmp(ctx->entry->options[i].long_name, long_name) == 0)
			return i;
	fatal("command %s has no option --%s", ctx->entry->name, long_name);
}

const char *cmd_value(const struct cmd_ctx *ctx, const char *long_name)
{
	return ctx->values[cmd_option_index(ctx, long_name)];
}

int cmd_value_long(const struct cmd_ctx *ctx, const char *long_name, long min, long max,
    long dflt, long *out)
{
	const char *v = cmd_value(ctx, long_name);
	if (v == NULL) {
		*out = dflt;
		return 0;
	}
	char what[64];
	snprintf(what, sizeof(what), "--%s", long_name);
	return parse_long(what, v, min, max, out);
}

int cmd_value_double(const struct cmd_ctx *ctx, const char *long_name, double min,
    double max, double dflt, double *out)
{
	const char *v = cmd_value(ctx, long_name);
	if (v == NULL) {
		*out = dflt;
		return 0;
	}
	char what[64];
	snprintf(what, sizeof(what), "--%s", long_name);
	return parse_double(what, v, min, max, out);
}

void options_print_version(FILE *f)
{
	fprintf(f, "quire %s\n", PACKAGE_VERSION);
#ifdef HAVE_CUDA
	fprintf(f, "backends: cpu, cuda\n");
#else
	fprintf(f, "backends: cpu\n");
#endif
}

int cmd_value_size(const struct cmd_ctx *ctx, const char *long_name, uint64_t *out)
{
	const char *v = cmd_value(ctx, long_name);
	if (v == NULL)
		return 0;
	char what[64];
	unsigned long long n;
	snprintf(what, sizeof(what), "--%s", long_name);
	if (parse_size(what, v, &n) != 0)
		return 2;
	if (n == 0)
		return usage_error("%s: the size must be above zero", what);
	*out = n;
	return 0;
}

char *cmd_args_joined(const struct cmd_ctx *ctx)
{
	struct buf b = BUF_INIT;
	for (int i = 0; i < ctx->argc; i++) {
		if (i > 0)
			buf_append_char(&b, ' ');
		buf_append_str(&b, ctx->argv[i]);
	}
	return buf_steal(&b);
}
