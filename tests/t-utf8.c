/* t-utf8.c: lib/utf8: the strict decoder against an independent rule over every 1- to 4-byte
 * sequence, the hard cases by name, U+FFFD replacement of maximal subparts, the incomplete tail
 * of a stream, the encoder over every scalar value and llama.cpp's lenient decoder. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/utf8.h"
#include "lib/util.h"
#include "tests/tap.h"

/* Decode s[0, n) with the strict decoder and say whether it is one whole character. */
static int one_char(const char *s, size_t n, uint32_t want)
{
	uint32_t cp = 0xDEADBEEF;
	return utf8_decode(s, n, &cp) == n && cp == want;
}

static int rejected(const char *s, size_t n)
{
	uint32_t cp = 0xDEADBEEF;
	return utf8_decode(s, n, &cp) == 0 && cp == 0xDEADBEEF;
}

/* The repaired form of s[0, n) as a malloc'd string. */
static char *repaired(const char *s, size_t n)
{
	struct buf b = BUF_INIT;
	utf8_repair(s, n, &b);
	return buf_steal(&b);
}

/* How many U+FFFD the repaired s holds. */
static int count_fffd(const char *s)
{
	int k = 0;
	for (const char *p = s; (p = strstr(p, "\xEF\xBF\xBD")) != NULL; p += 3)
		k++;
	return k;
}

/* The rule written out independently of lib/utf8.c: a sequence of len bytes with the lead's
 * length bits and continuation bytes is well-formed iff its value needs exactly len bytes, is
 * not a surrogate and is at most U+10FFFF. */
static int rule_ok(const unsigned char *s, size_t len, uint32_t *v)
{
	static const uint32_t min[5] = { 0, 0, 0x80, 0x800, 0x10000 };
	size_t want = s[0] >= 0xF0 && s[0] <= 0xF7 ? 4 : s[0] >= 0xE0 && s[0] <= 0xEF ? 3 :
	    s[0] >= 0xC0 && s[0] <= 0xDF ? 2 : 0;
	if (want != len)
		return 0;
	uint32_t x = s[0] & (0x7Fu >> len);
	for (size_t k = 1; k < len; k++) {
		if ((s[k] & 0xC0) != 0x80)
			return 0;
		x = x << 6 | (s[k] & 0x3Fu);
	}
	*v = x;
	return x >= min[len] && x <= 0x10FFFF && !(x >= 0xD800 && x <= 0xDFFF);
}

static void test_exhaustive(void)
{
	/* Every lead byte followed by every continuation byte pattern of its length (and every
	 * byte after the lead for 2-byte leads): the decoder agrees with the rule. */
	long bad = 0, seen_ok = 0;
	unsigned char s[4];
	for (unsigned a = 0x80; a <= 0xFF; a++) {
		s[0] = (unsigned char)a;
		size_t len = a >= 0xF0 ? 4 : a >= 0xE0 ? 3 : a >= 0xC0 ? 2 : 1;
		if (len == 1) {
			uint32_t cp;
			bad += utf8_decode((char *)s, 1, &cp) != 0;
			continue;
		}
		unsigned span = len == 2 ? 256 : 64;
		unsigned long combos = 1;
		for (size_t k = 1; k < len; k++)
			combos *= span;
		for (unsigned long c = 0; c < combos; c++) {
			unsigned long x = c;
			for (size_t k = len - 1; k >= 1; k--) {
				s[k] = (unsigned char)(len == 2 ? x % 256 : 0x80 + x % 64);
				x /= span;
			}
			uint32_t want = 0, got = 0;
			int ok_rule = rule_ok(s, len, &want);
			size_t r = utf8_decode((char *)s, len, &got);
			if (ok_rule ? r != len || got != want : r != 0)
				bad++;
			seen_ok += ok_rule;
		}
	}
	is_int(bad, 0, "every 2-, 3- and 4-byte sequence: decoded exactly when well-formed");
	/* 1920 two-byte values, 63488 three-byte ones less 2048 surrogates, 1048576 four-byte */
	is_int(seen_ok, 1920 + 63488 - 2048 + 1048576, "and the rule found every scalar value");
}

/* The first k bytes of the len-byte sequence whole, at the end of the input and before an 'A';
 * for len >= 3 also the sequence broken by an 'A' at its third byte. */
static void test_cut(const char *whole, size_t len, size_t k)
{
	char t[8];
	memcpy(t, whole, k);
	t[k] = 'A';
	size_t bad_at = 99;
	ok(rejected(t, k) && utf8_bad_len(t, k) == k && utf8_incomplete_tail(t, k) == k,
	    "%zu-byte sequence cut to %zu at the end: rejected, one U+FFFD for %zu bytes, "
	    "an incomplete tail", len, k, k);
	ok(rejected(t, k + 1) && utf8_bad_len(t, k + 1) == k &&
	    utf8_incomplete_tail(t, k + 1) == 0 && !utf8_valid(t, k + 1, &bad_at) && bad_at == 0,
	    "%zu-byte sequence cut to %zu before an 'A': rejected at 0", len, k);
}

static void test_named_cases(void)
{
	/* Overlong forms: all of them, by length. */
	int all = 1;
	char s[4];
	for (unsigned a = 0xC0; a <= 0xC1; a++)
		for (unsigned b = 0x80; b <= 0xBF; b++) {
			s[0] = (char)a, s[1] = (char)b;
			all = all && rejected(s, 2) && utf8_bad_len(s, 2) == 1;
		}
	ok(all, "2-byte overlongs C0 80 .. C1 BF rejected, one byte at a time");
	all = 1;
	for (unsigned b = 0x80; b <= 0x9F; b++)
		for (unsigned c = 0x80; c <= 0xBF; c++) {
			s[0] = (char)0xE0, s[1] = (char)b, s[2] = (char)c;
			all = all && rejected(s, 3) && utf8_bad_len(s, 3) == 1;
		}
	ok(all, "3-byte overlongs E0 80 80 .. E0 9F BF rejected");
	all = 1;
	for (unsigned b = 0x80; b <= 0x8F; b++)
		for (unsigned c = 0x80; c <= 0xBF; c++)
			for (unsigned d = 0x80; d <= 0xBF; d++) {
				s[0] = (char)0xF0, s[1] = (char)b, s[2] = (char)c, s[3] = (char)d;
				all = all && rejected(s, 4) && utf8_bad_len(s, 4) == 1;
			}
	ok(all, "4-byte overlongs F0 80 80 80 .. F0 8F BF BF rejected");
	ok(rejected("\xC0\x80", 2) && rejected("\xE0\x80\x80", 3) &&
	    rejected("\xF0\x80\x80\x80", 4), "the overlong NULs are rejected");
	ok(one_char("\xC2\x80", 2, 0x80) && one_char("\xE0\xA0\x80", 3, 0x800) &&
	    one_char("\xF0\x90\x80\x80", 4, 0x10000), "the shortest forms at each boundary decode");
	ok(one_char("\xDF\xBF", 2, 0x7FF) && one_char("\xEF\xBF\xBF", 3, 0xFFFF),
	    "the last 2- and 3-byte values decode");

	/* Surrogates. */
	all = 1;
	for (unsigned b = 0xA0; b <= 0xBF; b++)
		for (unsigned c = 0x80; c <= 0xBF; c++) {
			s[0] = (char)0xED, s[1] = (char)b, s[2] = (char)c;
			all = all && rejected(s, 3) && utf8_bad_len(s, 3) == 1;
		}
	ok(all, "surrogates ED A0 80 .. ED BF BF rejected");
	ok(one_char("\xED\x9F\xBF", 3, 0xD7FF) && one_char("\xEE\x80\x80", 3, 0xE000),
	    "U+D7FF and U+E000 around them decode");
	ok(!utf8_valid("a\xED\xA0\x80\xED\xB0\x80", 7, NULL),
	    "a surrogate pair spelled in UTF-8 (CESU-8) is not UTF-8");

	/* The top of the range and the lead bytes that start nothing. */
	ok(one_char("\xF4\x8F\xBF\xBF", 4, 0x10FFFF), "U+10FFFF decodes");
	ok(rejected("\xF4\x90\x80\x80", 4) && utf8_bad_len("\xF4\x90\x80\x80", 4) == 1,
	    "U+110000 (F4 90 80 80) rejected");
	all = 1;
	for (unsigned a = 0xF5; a <= 0xFF; a++) {
		s[0] = (char)a, s[1] = s[2] = s[3] = (char)0x80;
		all = all && rejected(s, 4) && utf8_bad_len(s, 4) == 1;
	}
	ok(all, "lead bytes F5 .. FF rejected, one byte at a time");

	/* Truncation at every position. */
	static const char *const whole[] = { "\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80" };
	static const uint32_t value[] = { 0xE9, 0x20AC, 0x1F600 };
	for (int w = 0; w < 3; w++) {
		size_t len = strlen(whole[w]);
		ok(one_char(whole[w], len, value[w]), "%zu-byte U+%04X decodes", len,
		    (unsigned)value[w]);
		for (size_t k = 1; k < len; k++)
			test_cut(whole[w], len, k);
	}
	ok(rejected("", 0) && utf8_bad_len("", 0) == 0, "nothing to decode: 0");

	/* Lone continuation bytes. */
	all = 1;
	for (unsigned b = 0x80; b <= 0xBF; b++) {
		s[0] = (char)b;
		all = all && rejected(s, 1) && utf8_bad_len(s, 1) == 1;
	}
	ok(all, "every lone continuation byte rejected");
	size_t bad_at = 99;
	ok(!utf8_valid("ab\x80" "cd", 5, &bad_at) && bad_at == 2, "a stray 80 found at offset 2");
	ok(!utf8_valid("\xC3\xA9\xA9", 3, &bad_at) && bad_at == 2,
	    "one continuation byte too many: found after the character");
	ok(utf8_valid("", 0, NULL) && utf8_valid("plain ASCII text, more than eight bytes", 39,
	    NULL), "empty and ASCII text is valid");
	bad_at = 99;
	ok(!utf8_valid("0123456789abcdef\xFF", 17, &bad_at) && bad_at == 16,
	    "a bad byte after the 8-byte ASCII steps is found at its offset");
	ok(utf8_valid("\xC3\xA9t\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80\xF4\x8F\xBF\xBF", 18, NULL),
	    "mixed 1- to 4-byte text is valid");
	ok(utf8_valid("a\0b", 3, NULL), "NUL is a character like any other");
}

static void test_repair(void)
{
	/* The Unicode Standard's own example (3.9, Table 3-8): 61 F1 80 80 E1 80 C2 62 80 63 80
	 * BF 64 gives a, U+FFFD x3, b, U+FFFD, c, U+FFFD x2, d. */
	static const char in[] = "\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64";
	char *r = repaired(in, sizeof(in) - 1);
	is_str(r, "a\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD" "b\xEF\xBF\xBD"
	    "c\xEF\xBF\xBD\xEF\xBF\xBD" "d", "Table 3-8's example: maximal subparts, 6 U+FFFD");
	free(r);
	static const struct {
		const char *in;
		int fffd;
		const char *what;
	} cases[] = {
		{ "\xC0\xAF", 2, "overlong '/' (C0 AF): 2" },
		{ "\xE0\x80\xAF", 3, "3-byte overlong: 3" },
		{ "\xF0\x80\x80\xAF", 4, "4-byte overlong: 4" },
		{ "\xED\xA0\x80", 3, "a surrogate: 3" },
		{ "\xF4\x90\x80\x80", 4, "U+110000: 4" },
		{ "\xF8\x88\x80\x80\x80", 5, "a 5-byte form: 5" },
		{ "\xE2\x82", 1, "a 3-byte sequence cut at the end: 1" },
		{ "\xF0\x9F\x98!", 1, "a 4-byte sequence cut before '!': 1" },
		{ "\xE2\x82\xE2\x82\xAC", 1, "a cut sequence then a whole one: 1" },
		{ "\x80\x80\x80", 3, "three continuation bytes: 3" },
		{ "\xC3\xA9\xFF\xFE\xC3\xA9", 2, "FF FE between two e-acute: 2" },
		{ "\xEF\xBF\xBD", 1, "a real U+FFFD stays one" },
	};
	for (size_t c = 0; c < Q_ARRAY_LEN(cases); c++) {
		r = repaired(cases[c].in, strlen(cases[c].in));
		ok(count_fffd(r) == cases[c].fffd && utf8_valid(r, strlen(r), NULL),
		    "U+FFFD count for %s", cases[c].what);
		free(r);
	}
	r = repaired("\xE2\x82\xE2\x82\xAC!", 6);
	is_str(r, "\xEF\xBF\xBD\xE2\x82\xAC!", "the whole sequence after a cut one is kept");
	free(r);
	static const char valid[] = "na\xC3\xAFve \xE2\x82\xAC \xF0\x9F\x98\x80 plain";
	r = repaired(valid, sizeof(valid) - 1);
	is_str(r, valid, "valid text comes through byte for byte");
	free(r);
	r = repaired("a\0b", 3);
	ok(r[0] == 'a' && r[1] == 0 && r[2] == 'b' && r[3] == 0, "NUL bytes are kept");
	free(r);
	struct buf b = BUF_INIT;
	utf8_repair("", 0, &b);
	ok(b.data != NULL && b.len == 0, "repairing nothing still gives a string");
	buf_free(&b);
}

static void test_tail(void)
{
	static const struct {
		const char *s;
		size_t n, tail;
		const char *what;
	} cases[] = {
		{ "", 0, 0, "empty" },
		{ "abc", 3, 0, "ASCII" },
		{ "a\xC3", 2, 1, "a 2-byte lead" },
		{ "a\xE2\x82", 3, 2, "2 bytes of 3" },
		{ "\xE2", 1, 1, "1 byte of 3" },
		{ "\xF0\x9F\x98", 3, 3, "3 bytes of 4" },
		{ "\xF4\x8F\xBF", 3, 3, "3 bytes of U+10FFFF" },
		{ "\xE0\xA0", 2, 2, "E0 A0 (U+0800 to come)" },
		{ "x\xC3\xA9", 3, 0, "a whole 2-byte character" },
		{ "\xE2\x82\xAC", 3, 0, "a whole 3-byte character" },
		{ "\xF0\x9F\x98\x80", 4, 0, "a whole 4-byte character" },
		{ "\xC0", 1, 0, "C0 (never completes)" },
		{ "\xC1", 1, 0, "C1 (never completes)" },
		{ "\xE0\x80", 2, 0, "E0 80 (only an overlong could follow)" },
		{ "\xED\xA0", 2, 0, "ED A0 (only a surrogate could follow)" },
		{ "\xF4\x90", 2, 0, "F4 90 (past U+10FFFF)" },
		{ "\xF5", 1, 0, "F5" },
		{ "\x80", 1, 0, "a stray continuation byte" },
		{ "\xC3\xA9\x80", 3, 0, "a continuation byte after a whole character" },
		{ "\x80\x80\x80", 3, 0, "three stray continuation bytes" },
	};
	for (size_t c = 0; c < Q_ARRAY_LEN(cases); c++)
		is_int((long long)utf8_incomplete_tail(cases[c].s, cases[c].n),
		    (long long)cases[c].tail, "incomplete tail: %s", cases[c].what);
}

static void test_encode(void)
{
	/* Every scalar value: the expected length, decodes back to itself, valid; surrogates get
	 * their 3-byte form, which the strict decoder refuses and the lenient one reads. */
	long bad = 0;
	char s[UTF8_MAX];
	for (uint32_t cp = 0; cp <= 0x10FFFF; cp++) {
		size_t want = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
		size_t len = utf8_encode(cp, s);
		uint32_t back = 0xDEADBEEF, lax = 0xDEADBEEF;
		if (len != want) {
			bad++;
			continue;
		}
		size_t lenient = utf8_decode_lenient(s, len, &lax);
		if (cp >= 0xD800 && cp <= 0xDFFF) {
			if (utf8_decode(s, len, &back) != 0 || lenient != 3 || lax != cp)
				bad++;
		} else if (utf8_decode(s, len, &back) != len || back != cp ||
		    !utf8_valid(s, len, NULL) || lenient != len || lax != cp) {
			bad++;
		}
	}
	is_int(bad, 0, "encode then decode: every value up to U+10FFFF round-trips");
	ok(utf8_encode(0x110000, s) == 0 && utf8_encode(0xFFFFFFFF, s) == 0,
	    "nothing past U+10FFFF is encoded");
}

static void test_lenient(void)
{
	/* llama.cpp's reading (unicode_cpt_from_utf8): the length from the lead's high bits,
	 * the value as spelled. */
	uint32_t cp = 0;
	ok(utf8_decode_lenient("\xC0\x80", 2, &cp) == 2 && cp == 0, "lenient: C0 80 is U+0000");
	ok(utf8_decode_lenient("\xE0\x80\xAF", 3, &cp) == 3 && cp == 0x2F,
	    "lenient: a 3-byte overlong is its value");
	ok(utf8_decode_lenient("\xED\xA0\x80", 3, &cp) == 3 && cp == 0xD800,
	    "lenient: a surrogate is its value");
	ok(utf8_decode_lenient("\xF0\x8F\xBF\xBF", 4, &cp) == 4 && cp == 0xFFFF,
	    "lenient: a 4-byte overlong is its value");
	ok(utf8_decode_lenient("\xF4\x90\x80\x80", 4, &cp) == 0 &&
	    utf8_decode_lenient("\xF7\xBF\xBF\xBF", 4, &cp) == 0, "lenient: past U+10FFFF: 0");
	ok(utf8_decode_lenient("\x80", 1, &cp) == 0 && utf8_decode_lenient("\xBF", 1, &cp) == 0,
	    "lenient: a continuation byte: 0");
	ok(utf8_decode_lenient("\xF8\x80\x80\x80", 4, &cp) == 0 &&
	    utf8_decode_lenient("\xFF", 1, &cp) == 0, "lenient: F8 .. FF: 0");
	ok(utf8_decode_lenient("\xE2\x82", 2, &cp) == 0 &&
	    utf8_decode_lenient("\xE2\x82" "A", 3, &cp) == 0, "lenient: cut short: 0");
	ok(utf8_decode_lenient("", 0, &cp) == 0, "lenient: nothing: 0");
}

static void test_cut_back(void)
{
	const char *s = "a\xE2\x82\xAC" "b\xF0\x9F\x98\x80" "c";   /* a EURO b GRINNING c */
	ok(utf8_cut_back(s, 1, 0) == 1 && utf8_cut_back(s, 4, 0) == 4 &&
	    utf8_cut_back(s, 9, 0) == 9, "cut back: at a character's start, no step");
	ok(utf8_cut_back(s, 2, 0) == 1 && utf8_cut_back(s, 3, 0) == 1,
	    "cut back: inside a 3-byte character, to its start");
	ok(utf8_cut_back(s, 6, 0) == 5 && utf8_cut_back(s, 8, 0) == 5,
	    "cut back: inside a 4-byte character, to its start");
	ok(utf8_cut_back(s, 8, 6) == 6 && utf8_cut_back("\x80\x80", 1, 0) == 0,
	    "cut back: never below lo");
}

int main(void)
{
	test_exhaustive();
	test_named_cases();
	test_repair();
	test_tail();
	test_encode();
	test_lenient();
	test_cut_back();
	done_testing();
	return exit_status();
}
