/* cmd-library.h: what the library commands (ingest, ls, show, rm, search, check) share:
 * finding and opening the library with errors printed, and JSON string output. */
#ifndef QUIRE_TUI_CMD_LIBRARY_H
#define QUIRE_TUI_CMD_LIBRARY_H

#include <stdio.h>

#include "store/store.h"
#include "tui/cmd.h"

/* -L, else $XDG_DATA_HOME/quire/library. Malloc'd. */
char *cmd_library_dir(const struct opts *o);
/* Open it (flags as store_open); prints "quire: ..." and returns -1 on failure. */
int cmd_library_open(const struct opts *o, int flags, const char *who, struct store **s);
/* s as a JSON string with quotes; invalid UTF-8 bytes become U+FFFD. */
void json_string(FILE *f, const char *s);
void json_string_n(FILE *f, const char *s, size_t n);

#endif
