/* t-json.c: lib/json: the exact bytes written for escapes, control characters, valid and
 * invalid UTF-8 and embedded NULs, and a JSON string grammar check over random bytes. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/json.h"
#include "lib/utf8.h"
#include "lib/util.h"
#include "tests/tap.h"

/* What json_write_string_n writes for s[0, n) (or json_write_string for s when n is -1). */
static char *json_of(const char *s, long n)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	if (f == NULL)
		fatal("open_memstream failed");
	if (n < 0)
		json_write_string(f, s);
	else
		json_write_string_n(f, s, (size_t)n);
	fclose(f);
	return out;
}

static int is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Is j[0, n) one JSON string (RFC 8259, section 7) holding well-formed UTF-8? */
static int json_string_ok(const char *j, size_t n)
{
	if (n < 2 || j[0] != '"' || j[n - 1] != '"')
		return 0;
	for (size_t i = 1; i < n - 1;) {
		unsigned char c = (unsigned char)j[i];
		if (c < 0x20 || c == '"')
			return 0;
		if (c == '\\') {
			if (i + 1 >= n - 1)
				return 0;
			char e = j[i + 1];
			if (e == 'u') {
				if (i + 6 > n - 1 || !is_hex(j[i + 2]) || !is_hex(j[i + 3]) ||
				    !is_hex(j[i + 4]) || !is_hex(j[i + 5]))
					return 0;
				i += 6;
			} else if (strchr("\"\\/bfnrt", e) != NULL && e != '\0') {
				i += 2;
			} else {
				return 0;
			}
			continue;
		}
		uint32_t cp;
		size_t k = utf8_decode(j + i, n - 1 - i, &cp);
		if (k == 0)
			return 0;
		i += k;
	}
	return 1;
}

int main(void)
{
	static const struct {
		const char *in;
		long n;
		const char *out;
		const char *what;
	} cases[] = {
		{ "", 0, "\"\"", "the empty string" },
		{ "plain text", -1, "\"plain text\"", "plain text as it is" },
		{ "a\"b\\c/d", -1, "\"a\\\"b\\\\c/d\"", "quote and backslash escaped, '/' not" },
		{ "l1\nl2\tt\rr", -1, "\"l1\\nl2\\tt\\rr\"", "\\n \\t \\r by name" },
		{ "\b\f", -1, "\"\\u0008\\u000c\"",
		  "\\b and \\f as \\u00XX, as quire always wrote them" },
		{ "\x01\x1f\x7f", -1, "\"\\u0001\\u001f\\u007f\"",
		  "other controls and DEL as \\u00XX" },
		{ "a\0b", 3, "\"a\\u0000b\"", "an embedded NUL with the _n form" },
		{ "\0", 1, "\"\\u0000\"", "a lone NUL" },
		{ "abc", 2, "\"ab\"", "the _n form stops at n" },
		{ "na\xC3\xAFve \xE2\x82\xAC \xF0\x9F\x98\x80", -1,
		  "\"na\xC3\xAFve \xE2\x82\xAC \xF0\x9F\x98\x80\"", "valid UTF-8 passes through" },
		{ "\xE2\x80\xA8\xEF\xBF\xBD\xF4\x8F\xBF\xBF", -1,
		  "\"\xE2\x80\xA8\xEF\xBF\xBD\xF4\x8F\xBF\xBF\"",
		  "U+2028, a real U+FFFD and U+10FFFF pass through" },
		{ "a\xFF" "b", -1, "\"a\\ufffdb\"", "an invalid byte becomes \\ufffd" },
		{ "\xE2\x82", -1, "\"\\ufffd\"", "a cut sequence at the end: one \\ufffd" },
		{ "\xE2\x82" "A", -1, "\"\\ufffdA\"", "a cut sequence before 'A': one \\ufffd" },
		{ "\xED\xA0\x80", -1, "\"\\ufffd\\ufffd\\ufffd\"", "a surrogate: three \\ufffd" },
		{ "\xC0\x80", -1, "\"\\ufffd\\ufffd\"", "an overlong NUL: two \\ufffd" },
		{ "\xF4\x90\x80\x80", -1, "\"\\ufffd\\ufffd\\ufffd\\ufffd\"", "U+110000: four" },
		{ "\xC3\xA9\x80\"\n", -1, "\"\xC3\xA9\\ufffd\\\"\\n\"",
		  "a stray byte between a character and escapes" },
		{ NULL, -1, "null", "NULL is null" },
	};
	for (size_t c = 0; c < Q_ARRAY_LEN(cases); c++) {
		char *got = json_of(cases[c].in, cases[c].n);
		is_str(got, cases[c].out, "%s", cases[c].what);
		free(got);
	}

	/* Every single byte, and random byte strings weighted towards the hard bytes: the output
	 * is always one JSON string of well-formed UTF-8. */
	int all = 1;
	for (int b = 0; b < 256; b++) {
		char s[1] = { (char)b };
		char *got = json_of(s, 1);
		all = all && json_string_ok(got, strlen(got));
		free(got);
	}
	ok(all, "each of the 256 bytes alone gives a valid JSON string");
	static const unsigned char pick[] = { 0, '"', '\\', '\n', 0x1f, 0x7f, 'a', 0x80, 0xBF,
		0xC0, 0xC2, 0xDF, 0xE0, 0xED, 0xA0, 0xEF, 0xF0, 0x90, 0xF4, 0x8F, 0xF5, 0xFF };
	unsigned long long x = 88172645463325252ull;
	all = 1;
	for (int t = 0; t < 20000 && all; t++) {
		char s[24];
		size_t n = (size_t)(t % 24);
		for (size_t i = 0; i < n; i++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			s[i] = (char)((x >> 8) % 3 == 0 ? (unsigned char)(x >> 16) :
			    pick[(x >> 16) % sizeof(pick)]);
		}
		char *got = json_of(s, (long)n);
		all = json_string_ok(got, strlen(got));
		if (!all)
			diag("bad output for test string %d", t);
		free(got);
	}
	ok(all, "20000 random byte strings give valid JSON strings");
	char *got = json_of("\x80", 1);
	ok(!json_string_ok("\"\x80\"", 3) && !json_string_ok("\"a\nb\"", 5) &&
	    json_string_ok(got, strlen(got)), "the grammar check refuses raw bad bytes and "
	    "controls (so it can fail)");
	free(got);
	done_testing();
	return exit_status();
}
