/* cmd-library.c: helpers shared by the library commands. */
#include "config.h"

#include "tui/cmd-library.h"

#include <stdlib.h>
#include <string.h>

#include "lib/file.h"
#include "lib/util.h"
#include "store/text.h"

char *cmd_library_dir(const struct opts *o)
{
	if (o->library && *o->library)
		return xstrdup(o->library);
	char *data = xdg_data_dir();
	char *dir = xasprintf("%s/library", data);
	free(data);
	return dir;
}

int cmd_library_open(const struct opts *o, int flags, const char *who, struct store **s)
{
	char *dir = cmd_library_dir(o), *err = NULL;
	int r = store_open(dir, flags, who, s, &err);
	if (r != 0) {
		q_warn("%s", err);
		free(err);
	}
	free(dir);
	return r;
}

void json_string_n(FILE *f, const char *s, size_t n)
{
	fputc('"', f);
	for (size_t i = 0; i < n; ) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			fputc('\\', f);
			fputc(c, f);
			i++;
		} else if (c == '\n') {
			fputs("\\n", f);
			i++;
		} else if (c == '\t') {
			fputs("\\t", f);
			i++;
		} else if (c == '\r') {
			fputs("\\r", f);
			i++;
		} else if (c < 0x20 || c == 0x7f) {
			fprintf(f, "\\u%04x", c);
			i++;
		} else if (c < 0x80) {
			fputc(c, f);
			i++;
		} else {
			/* Copy one valid UTF-8 sequence, or write U+FFFD for a bad byte. */
			size_t k = 1;
			while (k < 4 && i + k < n && ((unsigned char)s[i + k] & 0xc0) == 0x80)
				k++;
			while (k > 0 && !text_utf8_valid(s + i, k, NULL))
				k--;
			if (k == 0) {
				fputs("\\ufffd", f);
				i++;
			} else {
				fwrite(s + i, 1, k, f);
				i += k;
			}
		}
	}
	fputc('"', f);
}

void json_string(FILE *f, const char *s)
{
	if (s == NULL) {
		fputs("null", f);
		return;
	}
	json_string_n(f, s, strlen(s));
}
