/* utf8.c: UTF-8 decoding, validation, repair and encoding in one place, so every part of quire
 * agrees on what well-formed text is (the rules are in utf8.h). */
#include "lib/utf8.h"

#include <string.h>

/* Take apart the sequence starting at s[0] (n >= 1). Returns its length with *cp set when it
 * is well-formed, else 0; either way *good is how many bytes from s[0] could still begin a
 * well-formed sequence (0 for a byte that starts none: a continuation, C0, C1, F5-FF), which
 * is the maximal subpart one U+FFFD replaces. */
static size_t scan(const unsigned char *s, size_t n, uint32_t *cp, size_t *good)
{
	unsigned c = s[0];
	if (c < 0x80) {
		*cp = c;
		*good = 1;
		return 1;
	}
	/* Table 3-7: the second byte's range after E0, ED, F0 and F4 is narrowed, which is what
	 * shuts out overlong forms, surrogates and values past U+10FFFF. */
	unsigned lo = 0x80, hi = 0xBF;
	size_t len;
	if (c < 0xC2) {
		len = 0;
	} else if (c < 0xE0) {
		len = 2;
	} else if (c < 0xF0) {
		len = 3;
		if (c == 0xE0)
			lo = 0xA0;
		else if (c == 0xED)
			hi = 0x9F;
	} else if (c < 0xF5) {
		len = 4;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;
	} else {
		len = 0;
	}
	*good = len ? 1 : 0;
	if (len == 0)
		return 0;
	uint32_t v = c & (0x7Fu >> len);
	for (size_t k = 1; k < len; k++) {
		if (k >= n || s[k] < lo || s[k] > hi)
			return 0;
		v = v << 6 | (s[k] & 0x3Fu);
		lo = 0x80;
		hi = 0xBF;
		*good = k + 1;
	}
	*cp = v;
	return len;
}

size_t utf8_decode(const char *s, size_t n, uint32_t *cp)
{
	size_t good;
	return n ? scan((const unsigned char *)s, n, cp, &good) : 0;
}

size_t utf8_bad_len(const char *s, size_t n)
{
	uint32_t cp;
	size_t good;
	if (n == 0 || scan((const unsigned char *)s, n, &cp, &good) != 0)
		return 0;
	return good ? good : 1;
}

size_t utf8_encode(uint32_t cp, char *out)
{
	unsigned char *o = (unsigned char *)out;
	if (cp < 0x80) {
		o[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (unsigned char)(0xC0 | cp >> 6);
		o[1] = (unsigned char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (unsigned char)(0xE0 | cp >> 12);
		o[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
		o[2] = (unsigned char)(0x80 | (cp & 0x3F));
		return 3;
	}
	if (cp <= 0x10FFFF) {
		o[0] = (unsigned char)(0xF0 | cp >> 18);
		o[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
		o[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
		o[3] = (unsigned char)(0x80 | (cp & 0x3F));
		return 4;
	}
	return 0;
}

/* Length of the well-formed text at the start of s[0, n): the whole of it when it is valid. */
static size_t valid_prefix(const unsigned char *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		/* Text is mostly ASCII (and the tokenizer checks every fragment): eight bytes at a
		 * time while none has its high bit set. */
		if (n - i >= 8) {
			uint64_t w;
			memcpy(&w, s + i, 8);
			if ((w & 0x8080808080808080ull) == 0) {
				i += 8;
				continue;
			}
		}
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		uint32_t cp;
		size_t good, k = scan(s + i, n - i, &cp, &good);
		if (k == 0)
			break;
		i += k;
	}
	return i;
}

int utf8_valid(const char *s, size_t n, size_t *bad_at)
{
	size_t i = valid_prefix((const unsigned char *)s, n);
	if (i == n)
		return 1;
	if (bad_at)
		*bad_at = i;
	return 0;
}

void utf8_repair(const char *s, size_t n, struct buf *out)
{
	buf_reserve(out, n);
	size_t i = 0;
	while (i < n) {
		size_t k = valid_prefix((const unsigned char *)s + i, n - i);
		buf_append(out, s + i, k);
		i += k;
		if (i < n) {
			buf_append(out, "\xEF\xBF\xBD", 3);
			i += utf8_bad_len(s + i, n - i);
		}
	}
	if (out->data == NULL)
		buf_append(out, "", 0);
}

size_t utf8_incomplete_tail(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	for (size_t back = 1; back <= 3 && back <= n; back++) {
		if (p[n - back] >= 0x80 && p[n - back] < 0xC0)
			continue;               /* a continuation byte: its lead is further back */
		uint32_t cp;
		size_t good;
		if (scan(p + n - back, back, &cp, &good) != 0)
			return 0;       /* it ends within s (a longer tail has stray bytes) */
		return good == back ? back : 0;
	}
	return 0;
}

size_t utf8_decode_lenient(const char *s, size_t n, uint32_t *cp)
{
	const unsigned char *u = (const unsigned char *)s;
	if (n == 0)
		return 0;
	unsigned c = u[0];
	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	size_t len = (c & 0x40) == 0 ? 0 : (c & 0x20) == 0 ? 2 : (c & 0x10) == 0 ? 3 :
	    (c & 0x08) == 0 ? 4 : 0;
	if (len == 0 || len > n)
		return 0;
	uint32_t v = c & (0x7Fu >> len);
	for (size_t k = 1; k < len; k++) {
		if ((u[k] & 0xC0) != 0x80)
			return 0;
		v = (v << 6) | (u[k] & 0x3Fu);
	}
	if (v > 0x10FFFF)
		return 0;
	*cp = v;
	return len;
}

size_t utf8_cut_back(const char *s, size_t n, size_t lo)
{
	while (n > lo && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	return n;
}
