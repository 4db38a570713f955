/* main.c: quire's entry point: parse the command line once, then run the chosen command or
 * open the reader. */
#include "config.h"

#include <locale.h>
#include <stdio.h>
#include <stdlib.h>

#include "lib/util.h"
#include "tui/cmd.h"

int main(int argc, char **argv)
{
	setlocale(LC_ALL, "");
	q_set_progname("quire");

	struct opts opts;
	struct cmd_ctx ctx;
	int exit_now;
	opts_defaults(&opts);
	int rc = opts_parse(argc, argv, &opts, &ctx, &exit_now);
	if (rc != 0)
		return rc;
	if (exit_now)
		return fflush(stdout) == 0 ? 0 : 1;

	if (ctx.entry == NULL) {
		q_warn("the reader (curses UI) is not yet available in this version; "
		    "see quire --help for the commands");
		return 1;
	}
	if (ctx.entry->exec == NULL) {
		q_warn("%s: not yet available in this version", ctx.entry->name);
		return 1;
	}
	rc = ctx.entry->exec(&ctx);
	if (fflush(stdout) != 0 && rc == 0) {
		q_warn("write error on standard output");
		rc = 1;
	}
	return rc;
}
