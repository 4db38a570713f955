/* library.c: helpers shared by the library commands. */
#include "config.h"

#include "tui/library.h"

#include <stdlib.h>

#include "lib/file.h"
#include "lib/util.h"

char *library_dir(const struct opts *o)
{
	if (o->library && *o->library)
		return xstrdup(o->library);
	char *data = xdg_data_dir();
	char *dir = xasprintf("%s/library", data);
	free(data);
	return dir;
}

int library_open(const struct opts *o, int flags, const char *who, struct store **s)
{
	char *dir = library_dir(o), *err = NULL;
	int r = store_open(dir, flags, who, s, &err);
	if (r != 0) {
		q_warn("%s", err);
		free(err);
	}
	free(dir);
	return r;
}
