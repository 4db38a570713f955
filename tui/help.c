/* help.c: `quire --help` and `quire COMMAND --help`, printed from the command and option
 * tables so that help, parser and man page cannot drift apart. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "tui/cmd.h"
#include "tui/options.h"

#define HELP_COLUMN 30

static void print_row(FILE *f, const char *left, const char *right)
{
	int n = (int)strlen(left);
	if (n + 2 >= HELP_COLUMN)
		fprintf(f, "  %s\n  %*s%s\n", left, HELP_COLUMN, "", right);
	else
		fprintf(f, "  %-*s%s\n", HELP_COLUMN, left, right);
}

void help_print_usage(FILE *f)
{
	fprintf(f, "usage: quire [options] [COMMAND [ARGS]]   (quire --help for more)\n");
}

static void print_command_row(FILE *f, const struct cmd_entry *e)
{
	char left[128], right[256];
	snprintf(left, sizeof(left), "%s%s%s", e->name, e->usage ? " " : "",
	    e->usage ? e->usage : "");
	snprintf(right, sizeof(right), "%s%s", e->summary,
	    e->exec ? "" : " (not yet available)");
	print_row(f, left, right);
}

/* An option's row: "-x, --long ARG" (or "    --long ARG") and its help. */
static void print_option_row(FILE *f, int short_name, const char *long_name,
    const char *arg_name, const char *help)
{
	char left[128];
	if (short_name)
		snprintf(left, sizeof(left), "-%c, --%s%s%s", short_name, long_name,
		    arg_name ? " " : "", arg_name ? arg_name : "");
	else
		snprintf(left, sizeof(left), "    --%s%s%s", long_name, arg_name ? " " : "",
		    arg_name ? arg_name : "");
	print_row(f, left, help);
}

void help_print_main(FILE *f)
{
	fprintf(f, "quire %s: a terminal reader and question-answering tool for huge corpora\n\n",
	    PACKAGE_VERSION);
	fprintf(f, "usage: quire [options] [COMMAND [ARGS]]\n");
	fprintf(f, "       quire [options]            open the reader on the library\n\n");
	fprintf(f, "commands:\n");
	for (const struct cmd_entry *const *e = cmd_table; *e; e++)
		print_command_row(f, *e);
	fprintf(f, "\noptions (before or after the command):\n");
	for (const struct global_option *g = global_options; g->long_name; g++) {
		char right[256];
		if (g->planned == NULL)
			snprintf(right, sizeof(right), "%s", g->help);
		else if (strcmp(g->planned, OPTION_PLANNED) == 0)
			snprintf(right, sizeof(right), "%s (not yet available)", g->help);
		else
			snprintf(right, sizeof(right), "%s (%s: not yet available)", g->help, g->planned);
		print_option_row(f, g->short_name, g->long_name, g->arg_name, right);
	}
	fprintf(f, "\nquire COMMAND --help shows a command's own options; man quire has it all.\n");
	fprintf(f, "Exit status: 0 success, 1 the work failed, 2 usage error.\n");
}

void help_print_command(FILE *f, const struct cmd_entry *e)
{
	fprintf(f, "usage: quire [options] %s%s%s\n\n", e->name, e->usage ? " " : "",
	    e->usage ? e->usage : "");
	fprintf(f, "%s%s\n", e->summary, e->exec ? "." : " (not yet available).");
	if (e->alias)
		fprintf(f, "alias: %s\n", e->alias);
	if (e->options && e->options[0].long_name) {
		fprintf(f, "\ncommand options:\n");
		for (const struct cmd_option *c = e->options; c->long_name; c++)
			print_option_row(f, c->short_name, c->long_name, c->arg_name, c->help);
	}
	fprintf(f, "\nThe global options (quire --help) work here too.\n");
}
