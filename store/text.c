/* text.c: encoding detection and NFC normalisation of untrusted text, line by line so the
 * stored text keeps a map back to the source and files already in UTF-8 NFC stay byte-exact. */
#include "store/text.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "lib/utf8.h"
#include "lib/util.h"

const char *text_encoding_name(enum text_encoding e)
{
	switch (e) {
	case TEXT_UTF8: return "utf-8";
	case TEXT_UTF8_BOM: return "utf-8-bom";
	case TEXT_UTF16LE: return "utf-16le";
	case TEXT_UTF16BE: return "utf-16be";
	case TEXT_CP1252: return "windows-1252";
	}
	return "?";
}

enum text_encoding text_detect(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	if (n >= 3 && p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf)
		return utf8_valid(s + 3, n - 3, NULL) ? TEXT_UTF8_BOM : TEXT_CP1252;
	if (n >= 2 && p[0] == 0xff && p[1] == 0xfe)
		return TEXT_UTF16LE;
	if (n >= 2 && p[0] == 0xfe && p[1] == 0xff)
		return TEXT_UTF16BE;
	return utf8_valid(s, n, NULL) ? TEXT_UTF8 : TEXT_CP1252;
}

int text_is_binary(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	if (n >= 2 && ((p[0] == 0xff && p[1] == 0xfe) || (p[0] == 0xfe && p[1] == 0xff)))
		return 0;
	if (memchr(s, 0, n) != NULL)
		return 1;
	size_t look = n < 65536 ? n : 65536, ctl = 0;
	for (size_t i = 0; i < look; i++)
		if (p[i] < 0x20 && p[i] != '\t' && p[i] != '\n' && p[i] != '\r' &&
		    p[i] != '\f' && p[i] != '\v' && p[i] != 0x1b)
			ctl++;
	return look > 0 && ctl * 10 > look;
}

/* Windows-1252 for 0x80..0x9f; the five holes read as the C1 controls, as Latin-1 does. */
static const uint16_t cp1252_hi[32] = {
	0x20ac, 0x0081, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021, 0x02c6, 0x2030, 0x0160,
	0x2039, 0x0152, 0x008d, 0x017d, 0x008f, 0x0090, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022,
	0x2013, 0x2014, 0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0x009d, 0x017e, 0x0178,
};

/* Append the scalar value c (decode_line never makes a surrogate or anything past U+10FFFF). */
static void put_utf8(struct buf *b, uint32_t c)
{
	char t[UTF8_MAX];
	buf_append(b, t, utf8_encode(c, t));
}

/* Decode one source line starting at *pos (through its '\n') into line as UTF-8; advances
 * *pos. Returns -1 on a NUL character (binary data). */
static int decode_line(const unsigned char *p, size_t n, size_t *pos, enum text_encoding enc,
    struct buf *line)
{
	size_t i = *pos;
	buf_reset(line);
	if (enc == TEXT_UTF8 || enc == TEXT_UTF8_BOM) {
		const unsigned char *nl = memchr(p + i, '\n', n - i);
		size_t end = nl ? (size_t)(nl - p) + 1 : n;
		buf_append(line, p + i, end - i);
		*pos = end;
		return 0;
	}
	if (enc == TEXT_CP1252) {
		while (i < n) {
			unsigned c = p[i++];
			if (c == 0)
				return -1;
			if (c < 0x80)
				buf_append_char(line, (char)c);
			else
				put_utf8(line, c < 0xa0 ? cp1252_hi[c - 0x80] : c);
			if (c == '\n')
				break;
		}
		*pos = i;
		return 0;
	}
	int le = enc == TEXT_UTF16LE;
	while (i < n) {
		if (n - i < 2) {
			put_utf8(line, 0xfffd);    /* odd trailing byte */
			i = n;
			break;
		}
		uint32_t u = le ? (uint32_t)p[i] | (uint32_t)p[i + 1] << 8 :
		    (uint32_t)p[i] << 8 | p[i + 1];
		i += 2;
		if (u == 0)
			return -1;
		if (u >= 0xd800 && u < 0xdc00 && n - i >= 2) {
			uint32_t v = le ? (uint32_t)p[i] | (uint32_t)p[i + 1] << 8 :
			    (uint32_t)p[i] << 8 | p[i + 1];
			if (v >= 0xdc00 && v < 0xe000) {
				i += 2;
				u = 0x10000 + ((u - 0xd800) << 10) + (v - 0xdc00);
			} else {
				u = 0xfffd;
			}
		} else if (u >= 0xd800 && u < 0xe000) {
			u = 0xfffd;                 /* unpaired surrogate */
		}
		put_utf8(line, u);
		if (u == '\n')
			break;
	}
	*pos = i;
	return 0;
}

int text_nfc(const char *s, size_t n, char **out, size_t *out_len)
{
	utf8proc_uint8_t *dst = NULL;
	utf8proc_ssize_t r = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &dst,
	    UTF8PROC_STABLE | UTF8PROC_COMPOSE);
	if (r < 0)
		return -1;
	*out = (char *)dst;
	*out_len = (size_t)r;
	return 0;
}

static void map_push(struct text_norm *t, size_t *cap, uint64_t text_off, uint64_t src_off)
{
	if (t->map_len > 0) {
		uint64_t *last = t->map + 2 * (t->map_len - 1);
		if (text_off - last[0] == src_off - last[1])
			return;             /* same drift: no new pair needed */
	}
	if (t->map_len == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		t->map = xreallocarray(t->map, *cap, 2 * sizeof(uint64_t));
	}
	t->map[2 * t->map_len] = text_off;
	t->map[2 * t->map_len + 1] = src_off;
	t->map_len++;
}

static int has_high(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80)
			return 1;
	return 0;
}

enum store_err text_normalize(const char *src, size_t n, size_t max_line,
    struct text_norm *out, char **err)
{
	memset(out, 0, sizeof *out);
	if (text_is_binary(src, n)) {
		q_error(err, "binary file (NUL bytes or control characters), not text");
		return STORE_ERR_NOT_DOCUMENT;
	}
	const unsigned char *p = (const unsigned char *)src;
	enum text_encoding enc = text_detect(src, n);
	size_t pos = 0, cap = 0;
	if (enc == TEXT_UTF8_BOM)
		pos = 3;
	else if (enc == TEXT_UTF16LE || enc == TEXT_UTF16BE)
		pos = 2;
	out->enc = enc;
	buf_reserve(&out->text, n);
	struct buf line = BUF_INIT;
	map_push(out, &cap, 0, pos);
	uint64_t lineno = 0;
	while (pos < n) {
		size_t start = pos;
		if (decode_line(p, n, &pos, enc, &line) != 0) {
			buf_free(&line);
			text_norm_free(out);
			q_error(err, "binary file (NUL character on line %llu)",
			    (unsigned long long)lineno + 1);
			return STORE_ERR_NOT_DOCUMENT;
		}
		lineno++;
		size_t body = line.len;
		if (body && line.data[body - 1] == '\n')
			body--;
		if (max_line && body > max_line) {
			buf_free(&line);
			text_norm_free(out);
			q_error(err, "line %llu is %zu bytes long, more than the limit of %zu",
			    (unsigned long long)lineno, body, max_line);
			return STORE_ERR_TOO_LARGE;
		}
		map_push(out, &cap, out->text.len, start);
		if (!has_high(line.data, line.len)) {
			buf_append(&out->text, line.data, line.len);
			continue;
		}
		char *nfc;
		size_t nfc_len;
		if (text_nfc(line.data, line.len, &nfc, &nfc_len) != 0) {
			/* utf8proc refused (should not happen on valid UTF-8): keep the line as is. */
			buf_append(&out->text, line.data, line.len);
			continue;
		}
		buf_append(&out->text, nfc, nfc_len);
		free(nfc);
	}
	buf_free(&line);
	map_push(out, &cap, out->text.len, n);
	buf_append(&out->text, "", 0);     /* the NUL, also when nothing was appended */
	out->lines = lineno;
	out->identical = out->text.len == n && (n == 0 || memcmp(out->text.data, src, n) == 0);
	return STORE_ERR_NONE;
}

void text_norm_free(struct text_norm *t)
{
	buf_free(&t->text);
	free(t->map);
	t->map = NULL;
	t->map_len = 0;
}
