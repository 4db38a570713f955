/* library.h: what the library commands (ingest, ls, show, rm, search, check) share:
 * finding and opening the library with errors printed (JSON strings: lib/json.h). */
#ifndef QUIRE_TUI_LIBRARY_H
#define QUIRE_TUI_LIBRARY_H

#include "store/store.h"
#include "tui/cmd.h"

/* -L, else $XDG_DATA_HOME/quire/library. Malloc'd. */
char *library_dir(const struct opts *o);
/* Open it (flags as store_open); prints "quire: ..." and returns -1 on failure. */
int library_open(const struct opts *o, int flags, const char *who, struct store **s);

#endif
