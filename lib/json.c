/* json.c: the JSON string writer (json.h says what it writes). */
#include "lib/json.h"

#include <string.h>

#include "lib/utf8.h"

void json_write_string_n(FILE *f, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t done = 0;             /* bytes before this are written */
	fputc('"', f);
	for (size_t i = 0; i < n;) {
		unsigned c = p[i];
		uint32_t cp;
		size_t k;
		if (c >= 0x20 && c < 0x7F && c != '"' && c != '\\') {
			i++;
			continue;
		}
		if (c >= 0x80 && (k = utf8_decode(s + i, n - i, &cp)) != 0) {
			i += k;
			continue;
		}
		/* Plain runs go out in one fwrite; only what needs escaping is written apart. */
		fwrite(s + done, 1, i - done, f);
		if (c >= 0x80) {
			fputs("\\ufffd", f);
			i += utf8_bad_len(s + i, n - i);
		} else {
			if (c == '"' || c == '\\')
				fprintf(f, "\\%c", c);
			else if (c == '\n')
				fputs("\\n", f);
			else if (c == '\t')
				fputs("\\t", f);
			else if (c == '\r')
				fputs("\\r", f);
			else
				fprintf(f, "\\u%04x", c);
			i++;
		}
		done = i;
	}
	if (n > done)
		fwrite(s + done, 1, n - done, f);
	fputc('"', f);
}

void json_write_string(FILE *f, const char *s)
{
	if (s == NULL)
		fputs("null", f);
	else
		json_write_string_n(f, s, strlen(s));
}
