/* json.h: writing a string as a JSON string, the one writer every --json output and JSON lines
 * file uses, so all of them are valid JSON whatever bytes the text holds. */
#ifndef QUIRE_LIB_JSON_H
#define QUIRE_LIB_JSON_H

#include <stddef.h>
#include <stdio.h>

/* Write s[0, n) to f as a JSON string, quotes included. '"' and '\' are escaped; so are the
 * control characters: \n, \t and \r by name, the rest of U+0000-001F and U+007F as \u00XX
 * (lowercase hex, so \b is "\u0008", as quire has always written it). Well-formed UTF-8 is
 * copied as it is; each ill-formed subsequence (lib/utf8.h: maximal subparts) becomes one
 * "\ufffd". NUL bytes in s are text ("\u0000"). Write errors are left in f (ferror). */
void json_write_string_n(FILE *f, const char *s, size_t n);

/* The same for a NUL-terminated s; a NULL s is written as null. */
void json_write_string(FILE *f, const char *s);

#endif
