/* options.h: the global option table of the command-line contract (shared by the parser and
 * help) and the number parsers that print usage errors. */
#ifndef QUIRE_TUI_OPTIONS_H
#define QUIRE_TUI_OPTIONS_H

#include <stdio.h>

struct global_option {
	const char *long_name;      /* without the dashes */
	int short_name;             /* 0 if none */
	int key;                    /* getopt key */
	const char *arg_name;       /* NULL for a flag */
	const char *help;           /* one line */
	/* Parts of the contract whose implementation has not landed: NULL when the option works;
	 * OPTION_PLANNED when the whole option is refused ("not yet available", exit 1); otherwise
	 * the one value that is refused (e.g. "cuda" for --device). Help marks both. */
	const char *planned;
};

#define OPTION_PLANNED "*"


/* options.c */
extern const struct global_option global_options[];
/* Print a usage error for a malformed number and return 2, or store it and return 0. */
int parse_long(const char *what, const char *s, long min, long max, long *out);
int parse_double(const char *what, const char *s, double min, double max, double *out);
/* Comma-separated whole numbers ("1024,2048"), each in [min, max], at most max_n of them. */
int parse_long_list(const char *what, const char *s, long min, long max, size_t max_n,
    long *out, size_t *n);
/* Sizes such as 512M, 8G, 1.5G or plain bytes (powers of 1024). */
int parse_size(const char *what, const char *s, unsigned long long *out);
void options_print_version(FILE *f);

#endif
