/* sections.c: section detectors for plain text and Markdown, and the pass that turns their
 * marks into a nested hierarchy of byte ranges. Detectors look at one line at a time and err
 * on the side of short, heading-like lines so prose is not chopped into sections. */
#include "store/sections.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/buf.h"
#include "lib/utf8.h"
#include "lib/util.h"
#include "store/text.h"

void sections_add(struct sections *s, size_t start, int level, const char *title, size_t len)
{
	while (len && (title[0] == ' ' || title[0] == '\t')) {
		title++;
		len--;
	}
	while (len && (title[len - 1] == ' ' || title[len - 1] == '\t' || title[len - 1] == '\r' ||
	    title[len - 1] == '\n'))
		len--;
	/* Titles are stored as SQLite TEXT and printed: bad bytes (a raw file's, an EPUB href's)
	 * become U+FFFD. */
	struct buf fixed = BUF_INIT;
	if (!utf8_valid(title, len, NULL)) {
		utf8_repair(title, len, &fixed);
		title = fixed.data;
		len = fixed.len;
	}
	if (len > SECTION_TITLE_MAX)
		len = utf8_cut_back(title, SECTION_TITLE_MAX, 0);   /* do not cut a character */
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 32;
		s->v = xreallocarray(s->v, s->cap, sizeof *s->v);
	}
	struct section *e = &s->v[s->n++];
	memset(e, 0, sizeof *e);
	e->start = start;
	e->level = level;
	e->parent = -1;
	e->title = xstrndup(title, len);
	buf_free(&fixed);
}

static int by_start(const void *a, const void *b)
{
	const struct section *x = a, *y = b;
	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return x->level - y->level;
}

void sections_finish(struct sections *s, const char *text, size_t len)
{
	if (s->n == 0)
		return;
	qsort(s->v, s->n, sizeof *s->v, by_start);
	/* Lines: one forward pass over the text. */
	uint64_t line = 1;
	size_t at = 0;
	for (size_t i = 0; i < s->n; i++) {
		size_t to = s->v[i].start < len ? s->v[i].start : len;
		for (; at < to; at++)
			if (text[at] == '\n')
				line++;
		s->v[i].line = line;
	}
	/* Parents and ends through a stack of open sections. */
	long *stack = xmalloc(s->n * sizeof *stack);
	size_t depth = 0;
	for (size_t i = 0; i < s->n; i++) {
		while (depth && s->v[stack[depth - 1]].level >= s->v[i].level) {
			s->v[stack[depth - 1]].end = s->v[i].start;
			depth--;
		}
		s->v[i].parent = depth ? stack[depth - 1] : -1;
		stack[depth++] = (long)i;
	}
	while (depth)
		s->v[stack[--depth]].end = len;
	free(stack);
}

void sections_free(struct sections *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i].title);
	free(s->v);
	memset(s, 0, sizeof *s);
}

/* --- plain text --- */

/* Does the word at p (length n) start with keyword kw followed by a blank? */
static size_t keyword(const char *p, size_t n, const char *const *kws)
{
	for (; *kws; kws++) {
		size_t k = strlen(*kws);
		if (n > k && memcmp(p, *kws, k) == 0 && (p[k] == ' ' || p[k] == '\t'))
			return k;
	}
	return 0;
}

static const char *const number_words[] = { "One", "Two", "Three", "Four", "Five", "Six",
	"Seven", "Eight", "Nine", "Ten", "Eleven", "Twelve", "Thirteen", "Fourteen", "Fifteen",
	"Sixteen", "Seventeen", "Eighteen", "Nineteen", "Twenty", "Thirty", "Forty", "Fifty",
	"First", "Second", "Third", "Fourth", "Fifth", "Sixth", "Seventh", "Eighth", "Ninth",
	"Tenth", "Last", "Final", NULL };

/* A heading number after a keyword: digits, an upper-case Roman numeral or a number word
 * (in any case), followed by the end of the line or punctuation/blank. Returns its length. */
static size_t heading_number(const char *p, size_t n)
{
	size_t i = 0;
	if (i < n && isdigit((unsigned char)p[i])) {
		while (i < n && i < 4 && isdigit((unsigned char)p[i]))
			i++;
	} else if (i < n && strchr("IVXLCDM", p[i]) && p[i]) {
		while (i < n && i < 10 && p[i] && strchr("IVXLCDM", p[i]))
			i++;
	} else {
		for (const char *const *w = number_words; *w; w++) {
			size_t k = strlen(*w);
			if (n >= k && strncasecmp(p, *w, k) == 0) {
				i = k;
				break;
			}
		}
		/* "Twenty-One" and the like */
		if (i && i < n && p[i] == '-') {
			size_t j = i + 1;
			for (const char *const *w = number_words; *w; w++) {
				size_t k = strlen(*w);
				if (n - j >= k && strncasecmp(p + j, *w, k) == 0) {
					i = j + k;
					break;
				}
			}
		}
	}
	if (i == 0)
		return 0;
	if (i < n && (isalnum((unsigned char)p[i]) || p[i] == '_'))
		return 0;                   /* "Chapters", "IVy": not a number */
	return i;
}

/* Numbered clause "1.", "1.2", "1.2.3." followed by a blank and a letter: its depth. */
static int clause_depth(const char *p, size_t n, size_t *used)
{
	size_t i = 0;
	int depth = 0;
	for (;;) {
		size_t d = 0;
		while (i < n && d < 4 && isdigit((unsigned char)p[i])) {
			i++;
			d++;
		}
		if (d == 0 || d == 4)
			return 0;
		depth++;
		if (i < n && p[i] == '.' && i + 1 < n && isdigit((unsigned char)p[i + 1])) {
			i++;
			continue;
		}
		break;
	}
	if (i < n && p[i] == '.')
		i++;
	else if (depth == 1)
		return 0;                   /* "1 apple": needs "1." */
	if (i >= n || (p[i] != ' ' && p[i] != '\t'))
		return 0;
	while (i < n && (p[i] == ' ' || p[i] == '\t'))
		i++;
	if (i >= n || !(isalpha((unsigned char)p[i]) || (unsigned char)p[i] >= 0x80))
		return 0;
	*used = i;
	return depth > 6 ? 6 : depth;
}

/* "(a) ", "(iv) ", "(12) " at the start of a line. */
static int letter_clause(const char *p, size_t n)
{
	if (n < 4 || p[0] != '(')
		return 0;
	size_t i = 1;
	while (i < n && i < 5 && (islower((unsigned char)p[i]) || isdigit((unsigned char)p[i])))
		i++;
	if (i == 1 || i >= n || p[i] != ')')
		return 0;
	i++;
	return i < n && (p[i] == ' ' || p[i] == '\t');
}

/* A verse reference "Ge5:27 ", "1Sa3:4 ", "SSol1:1 " or "John 3:16 ": lengths of book and
 * chapter. */
static int verse_ref(const char *p, size_t n, size_t *book_len, size_t *chap_end,
    size_t *ref_end)
{
	size_t i = 0;
	if (i < n && p[i] >= '1' && p[i] <= '4')
		i++;
	if (i < n && p[i] == ' ' && i == 1)
		i++;
	if (i >= n || !isupper((unsigned char)p[i]))
		return 0;
	i++;
	/* Letters after the capital: lower case, with at most one more capital as in the KJV's
	 * "SSol"; a run of capitals alone ("ART 1:2") is not a book. */
	size_t letters = 0, lower = 0, upper = 0;
	while (i < n && isalpha((unsigned char)p[i]) && letters < 15) {
		if (isupper((unsigned char)p[i]) && ++upper > 1)
			return 0;
		lower += islower((unsigned char)p[i]) != 0;
		i++;
		letters++;
	}
	if ((i < n && isalpha((unsigned char)p[i])) || (upper && !lower))
		return 0;
	*book_len = i;
	if (i < n && p[i] == ' ')
		i++;
	size_t d = 0;
	while (i < n && isdigit((unsigned char)p[i]) && d < 4) {
		i++;
		d++;
	}
	if (d == 0 || i >= n || p[i] != ':')
		return 0;
	*chap_end = i;
	i++;
	d = 0;
	while (i < n && isdigit((unsigned char)p[i]) && d < 4) {
		i++;
		d++;
	}
	if (d == 0 || (i < n && p[i] != ' ' && p[i] != '\t'))
		return 0;
	*ref_end = i;
	return 1;
}

enum { LEVEL_PART = 1, LEVEL_CHAPTER = 2, LEVEL_SECTION = 3, LEVEL_CLAUSE = 4,
	LEVEL_LETTER = 11 };

static int text_heading_level(const char *p, size_t n, size_t indent)
{
	static const char *const part_kw[] = { "PART", "Part", "BOOK", "Book", "VOLUME",
		"Volume", "APPENDIX", "Appendix", NULL };
	static const char *const chapter_kw[] = { "CHAPTER", "Chapter", "ARTICLE", "Article",
		"AMENDMENT", "Amendment", "TITLE", "Title", NULL };
	static const char *const section_kw[] = { "SECTION", "Section", "SEC.", "Sec.", NULL };
	static const char *const alone[] = { "Preamble", "PREAMBLE", "Prologue", "PROLOGUE",
		"Epilogue", "EPILOGUE", "Preface", "PREFACE", "Foreword", "FOREWORD", NULL };
	static const char *const alone_part[] = { "Amendments", "AMENDMENTS", NULL };

	if (n > 80 || indent > 8)
		return 0;
	for (const char *const *w = alone; *w; w++)
		if (strlen(*w) == n && memcmp(p, *w, n) == 0)
			return LEVEL_CHAPTER;
	for (const char *const *w = alone_part; *w; w++)
		if (strlen(*w) == n && memcmp(p, *w, n) == 0)
			return LEVEL_PART;
	size_t k;
	if ((k = keyword(p, n, part_kw)) && heading_number(p + k + 1, n - k - 1))
		return LEVEL_PART;
	if ((k = keyword(p, n, chapter_kw)) && heading_number(p + k + 1, n - k - 1))
		return LEVEL_CHAPTER;
	if ((k = keyword(p, n, section_kw)) && heading_number(p + k + 1, n - k - 1))
		return LEVEL_SECTION;
	if (n >= 3 && memcmp(p, "\xc2\xa7", 2) == 0 &&
	    (p[2] == ' ' || isdigit((unsigned char)p[2])))
		return LEVEL_SECTION;
	return 0;
}

void sections_detect_text(const char *text, size_t len, struct sections *out)
{
	char book[24] = "", chapter[32] = "";
	size_t pos = 0;
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - text) : len;
		const char *p = text + pos;
		size_t n = end - pos;
		if (n && p[n - 1] == '\r')
			n--;
		size_t indent = 0;
		while (indent < n && (p[indent] == ' ' || p[indent] == '\t'))
			indent++;
		const char *q = p + indent;
		size_t m = n - indent;
		while (m && (q[m - 1] == ' ' || q[m - 1] == '\t'))
			m--;
		size_t bl, ce, re, used;
		int level, depth;
		if (m == 0) {
			/* blank */
		} else if (indent == 0 && verse_ref(q, m, &bl, &ce, &re)) {
			char b[24], c[32];
			snprintf(b, sizeof b, "%.*s", (int)(bl < 23 ? bl : 23), q);
			snprintf(c, sizeof c, "%.*s", (int)(ce < 31 ? ce : 31), q);
			if (strcmp(b, book) != 0) {
				sections_add(out, pos, 1, b, strlen(b));
				snprintf(book, sizeof book, "%s", b);
				chapter[0] = '\0';
			}
			if (strcmp(c, chapter) != 0) {
				sections_add(out, pos, 2, c, strlen(c));
				snprintf(chapter, sizeof chapter, "%s", c);
			}
			sections_add(out, pos, 3, q, re);
		} else if ((level = text_heading_level(q, m, indent)) != 0) {
			sections_add(out, pos, level, q, m);
		} else if ((depth = clause_depth(q, m, &used)) != 0) {
			/* Indentation deepens a clause: "    1." under "  2.1." is a sub-clause. */
			int deeper = depth - 1 > (int)(indent / 2) ? depth - 1 : (int)(indent / 2);
			if (deeper > 6)
				deeper = 6;
			sections_add(out, pos, LEVEL_CLAUSE + deeper, q, m);
		} else if (letter_clause(q, m)) {
			sections_add(out, pos, LEVEL_LETTER, q, m);
		}
		pos = nl ? end + 1 : len;
	}
	sections_finish(out, text, len);
}

/* --- Markdown --- */

static int is_fence(const char *p, size_t n, char *ch)
{
	size_t i = 0;
	while (i < n && i < 3 && p[i] == ' ')
		i++;
	if (n - i >= 3 && (p[i] == '`' || p[i] == '~') && p[i + 1] == p[i] && p[i + 2] == p[i]) {
		*ch = p[i];
		return 1;
	}
	return 0;
}

static int setext_level(const char *p, size_t n)
{
	size_t i = 0;
	while (i < n && i < 3 && p[i] == ' ')
		i++;
	if (i >= n || (p[i] != '=' && p[i] != '-'))
		return 0;
	char c = p[i];
	while (i < n && p[i] == c)
		i++;
	while (i < n && (p[i] == ' ' || p[i] == '\t'))
		i++;
	return i == n ? (c == '=' ? 1 : 2) : 0;
}

void sections_detect_markdown(const char *text, size_t len, struct sections *out)
{
	size_t pos = 0, prev_start = 0, prev_len = 0;
	int prev_para = 0;                  /* previous line is plain paragraph text */
	char fence = 0;
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - text) : len;
		const char *p = text + pos;
		size_t n = end - pos;
		if (n && p[n - 1] == '\r')
			n--;
		char ch;
		int para = 0;
		if (is_fence(p, n, &ch)) {
			if (!fence)
				fence = ch;
			else if (fence == ch)
				fence = 0;
		} else if (!fence) {
			size_t i = 0;
			while (i < n && i < 3 && p[i] == ' ')
				i++;
			size_t h = 0;
			while (i + h < n && p[i + h] == '#' && h < 7)
				h++;
			int lvl;
			if (h >= 1 && h <= 6 && (i + h == n || p[i + h] == ' ' || p[i + h] == '\t')) {
				size_t t = i + h, e = n;
				while (e > t && (p[e - 1] == ' ' || p[e - 1] == '\t'))
					e--;
				size_t c = e;               /* closing #s after a blank */
				while (c > t && p[c - 1] == '#')
					c--;
				if (c < e && (c == t || p[c - 1] == ' ' || p[c - 1] == '\t'))
					e = c;
				sections_add(out, pos, (int)h, p + t, e - t);
			} else if (prev_para && (lvl = setext_level(p, n)) != 0) {
				sections_add(out, prev_start, lvl, text + prev_start, prev_len);
			} else {
				size_t j = 0;
				while (j < n && (p[j] == ' ' || p[j] == '\t'))
					j++;
				para = j < n && j < 4;
			}
		}
		prev_para = para;
		prev_start = pos;
		prev_len = n;
		pos = nl ? end + 1 : len;
	}
	sections_finish(out, text, len);
}
