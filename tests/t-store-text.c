/* t-store-text.c: the store's text pipeline without a database: SHA-256, encoding detection,
 * NFC normalisation and its source map, binary and long-line refusal, section detectors on
 * real texts (KJV verse references, US Constitution articles and amendments), Markdown and
 * HTML headings and HTML text extraction. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/file.h"
#include "lib/utf8.h"
#include "store/html.h"
#include "store/sections.h"
#include "store/sha256.h"
#include "store/text.h"
#include "tests/tap.h"

static char *data_path(const char *name)
{
	const char *srcdir = getenv("srcdir");
	return xasprintf("%s/tests/data/store/%s", srcdir && *srcdir ? srcdir : ".", name);
}

static char *slurp(const char *name, size_t *len)
{
	char *p = data_path(name), *d = NULL, *err = NULL;
	if (file_read_all(p, 1 << 24, &d, len, &err) != 0) {
		diag("%s", err);
		free(err);
		free(p);
		return NULL;
	}
	free(p);
	return d;
}

static const struct section *find_sec(const struct sections *s, const char *title)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i].title, title) == 0)
			return &s->v[i];
	return NULL;
}

static size_t line_offset(const char *t, size_t len, unsigned line)
{
	size_t off = 0;
	for (unsigned l = 1; l < line && off < len; off++)
		if (t[off] == '\n')
			l++;
	return off;
}

static void test_sha256(void)
{
	char hex[65];
	sha256_hex("", 0, hex);
	is_str(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "sha256 empty");
	sha256_hex("abc", 3, hex);
	is_str(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "sha256 abc");
	const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	sha256_hex(m, strlen(m), hex);
	is_str(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
	    "sha256 two blocks");
	struct sha256 c;
	uint8_t d[32];
	sha256_init(&c);
	for (const char *p = m; *p; p++)
		sha256_update(&c, p, 1);
	sha256_final(&c, d);
	is_int(d[0], 0x24, "sha256 byte-wise update");
}

static void test_encoding(void)
{
	is_int(text_detect("plain ascii\n", 12), TEXT_UTF8, "ascii is utf-8");
	is_int(text_detect("caf\xc3\xa9", 5), TEXT_UTF8, "utf-8");
	is_int(text_detect("\xef\xbb\xbfhi", 5), TEXT_UTF8_BOM, "utf-8 with BOM");
	is_int(text_detect("\xff\xfeh\0i\0", 6), TEXT_UTF16LE, "utf-16le BOM");
	is_int(text_detect("\xfe\xff\0h\0i", 6), TEXT_UTF16BE, "utf-16be BOM");
	is_int(text_detect("caf\xe9", 4), TEXT_CP1252, "latin-1 falls back to windows-1252");
	size_t bad = 0;
	ok(!utf8_valid("a\xc0\x80", 3, &bad) && bad == 1, "overlong NUL rejected at 1");
	ok(!utf8_valid("\xed\xa0\x80", 3, NULL), "surrogate rejected");
	ok(!utf8_valid("\xf4\x90\x80\x80", 4, NULL), "past U+10FFFF rejected");
	ok(!utf8_valid("\xe2\x82", 2, NULL), "truncated sequence rejected");
	ok(utf8_valid("\xf0\x9f\x98\x80", 4, NULL), "4-byte emoji accepted");
	ok(text_is_binary("ab\0cd", 5), "NUL means binary");
	ok(!text_is_binary("\xff\xfeh\0", 4), "UTF-16 with NULs is not binary");
	ok(!text_is_binary("tab\tand\r\nlines\n", 15), "ordinary text is not binary");
}

static void test_normalize(void)
{
	struct text_norm t;
	char *err = NULL;
	const char *nfc = "line one\ncaf\xc3\xa9\n";
	ok(text_normalize(nfc, strlen(nfc), 0, &t, &err) == 0, "normalize NFC utf-8");
	ok(t.identical && t.text.len == strlen(nfc), "NFC UTF-8 stays byte-identical");
	is_int((long long)t.lines, 2, "two lines");
	text_norm_free(&t);

	const char *nfd = "abc\ne\xcc\x81t\xc3\xa9\nend";      /* e + combining acute */
	ok(text_normalize(nfd, strlen(nfd), 0, &t, &err) == 0, "normalize NFD");
	is_str(t.text.data, "abc\n\xc3\xa9t\xc3\xa9\nend", "NFD composed to NFC");
	ok(!t.identical, "changed text is not identical");
	is_int((long long)t.lines, 3, "last line without newline counts");
	/* The third line starts at text offset 10 and source offset 11. */
	int found = 0;
	for (size_t i = 0; i < t.map_len; i++)
		if (t.map[2 * i] == 10 && t.map[2 * i + 1] == 11)
			found = 1;
	ok(found, "map: line after the composed character maps back to its source offset");
	text_norm_free(&t);

	const char *cp = "caf\xe9 \x93q\x94\n";
	ok(text_normalize(cp, strlen(cp), 0, &t, &err) == 0, "normalize windows-1252");
	is_str(t.text.data, "caf\xc3\xa9 \xe2\x80\x9cq\xe2\x80\x9d\n", "windows-1252 quotes decoded");
	is_str(text_encoding_name(t.enc), "windows-1252", "encoding name");
	text_norm_free(&t);

	const char u16[] = "\xff\xfeh\0i\0\n\0=\xd8\0\xde";     /* "hi\n" + U+1F600 */
	ok(text_normalize(u16, sizeof u16 - 1, 0, &t, &err) == 0, "normalize utf-16le");
	is_str(t.text.data, "hi\n\xf0\x9f\x98\x80", "utf-16le with a surrogate pair");
	ok(t.map_len >= 2 && t.map[0] == 0 && t.map[1] == 2, "map skips the BOM");
	text_norm_free(&t);

	const char *bom = "\xef\xbb\xbfhello\n";
	ok(text_normalize(bom, strlen(bom), 0, &t, &err) == 0 && strcmp(t.text.data, "hello\n")
	    == 0, "utf-8 BOM dropped");
	text_norm_free(&t);

	char *longl = xmalloc(5001);
	memset(longl, 'x', 5000);
	longl[5000] = '\0';
	ok(text_normalize(longl, 5000, 4096, &t, &err) != 0 && err && strstr(err, "line 1"),
	    "line over the limit refused, naming the line");
	diag("%s", err ? err : "");
	free(err);
	err = NULL;
	free(longl);
	ok(text_normalize("a\0b", 3, 0, &t, &err) != 0 && strstr(err, "binary"), "binary refused");
	free(err);
	err = NULL;
	ok(text_normalize("", 0, 0, &t, &err) == 0 && t.text.len == 0 && t.lines == 0,
	    "empty text");
	text_norm_free(&t);
}

static void test_kjv(void)
{
	size_t len;
	char *t = slurp("kjv-genesis.txt", &len);
	if (t == NULL) {
		skip(8, "kjv-genesis.txt missing");
		return;
	}
	struct sections s = { 0 };
	sections_detect_text(t, len, &s);
	const struct section *v = find_sec(&s, "Ge5:27");
	ok(v != NULL, "verse Ge5:27 found");
	if (v) {
		is_int((long long)v->line, 133, "Ge5:27 on line 133");
		is_int((long long)v->start, (long long)line_offset(t, len, 133), "Ge5:27 byte start");
		is_int((long long)v->end, (long long)line_offset(t, len, 134), "Ge5:27 ends at Ge5:28");
		is_int(v->level, 3, "verse level 3");
		ok(v->parent >= 0 && strcmp(s.v[v->parent].title, "Ge5") == 0, "parent chapter Ge5");
		const struct section *ch = &s.v[v->parent];
		ok(ch->parent >= 0 && strcmp(s.v[ch->parent].title, "Ge") == 0, "grandparent book Ge");
	} else {
		skip(6, "no Ge5:27");
	}
	size_t verses = 0;
	for (size_t i = 0; i < s.n; i++)
		verses += s.v[i].level == 3;
	is_int((long long)verses, 155, "one section per verse line");
	sections_free(&s);
	free(t);
}

/* Book names of the KJV as bible-kjv writes them, one with two capitals ("SSol"); runs of
 * capitals and words glued to the number are not verses. */
static void test_verse_names(void)
{
	static const char t[] = "SSol1:1 The song of songs.\n1Sa3:4 That the LORD called.\n"
	    "John 3:16 For God so loved.\nART 1:2 not a verse\nABCd1:2 not one either\n"
	    "Psa119:105 Thy word is a lamp.\n";
	struct sections s = { 0 };
	sections_detect_text(t, sizeof t - 1, &s);
	size_t verses = 0;
	for (size_t i = 0; i < s.n; i++)
		verses += s.v[i].level == 3;
	is_int((long long)verses, 4, "four verses among six lines");
	const struct section *v = find_sec(&s, "SSol1:1");
	ok(v && v->line == 1 && v->level == 3, "SSol1:1 is a verse on line 1");
	ok(v && v->parent >= 0 && strcmp(s.v[v->parent].title, "SSol1") == 0, "in chapter SSol1");
	v = find_sec(&s, "Psa119:105");
	ok(v && v->line == 6, "Psa119:105 on line 6");
	ok(find_sec(&s, "ART 1:2") == NULL && find_sec(&s, "ABCd1:2") == NULL,
	    "capitals alone or three before lower case are no book");
	sections_free(&s);
}

static void test_constitution(void)
{
	size_t len;
	char *t = slurp("us-constitution.txt", &len);
	if (t == NULL) {
		skip(9, "us-constitution.txt missing");
		return;
	}
	struct sections s = { 0 };
	sections_detect_text(t, len, &s);
	int articles = 0, amendments = 0, amend_parent_ok = 1;
	for (size_t i = 0; i < s.n; i++) {
		if (strncmp(s.v[i].title, "Article ", 8) == 0)
			articles++;
		if (strncmp(s.v[i].title, "Amendment ", 10) == 0) {
			amendments++;
			if (s.v[i].parent < 0 || strcmp(s.v[s.v[i].parent].title, "Amendments") != 0)
				amend_parent_ok = 0;
		}
	}
	is_int(articles, 7, "seven articles");
	is_int(amendments, 27, "twenty-seven amendments");
	ok(amend_parent_ok, "amendments sit under \"Amendments\"");
	const struct section *a1 = find_sec(&s, "Article I"), *a2 = find_sec(&s, "Article II");
	ok(a1 && a2 && a1->end == a2->start, "Article I ends where Article II starts");
	ok(a1 && a1->line == 15, "Article I on line 15");
	const struct section *pre = find_sec(&s, "Preamble");
	ok(pre != NULL && pre->line == 5, "Preamble found on line 5");
	const struct section *sec = NULL;
	for (size_t i = 0; i < s.n; i++)
		if (strcmp(s.v[i].title, "Section 8") == 0) {
			sec = &s.v[i];
			break;
		}
	ok(sec && sec->parent >= 0 && strcmp(s.v[sec->parent].title, "Article I") == 0,
	    "Section 8 is inside Article I");
	ok(sec && sec->line == 190, "Section 8 on line 190");
	const struct section *a14 = find_sec(&s, "Amendment XIV");
	ok(a14 && a14->line == 751, "Amendment XIV on line 751");
	sections_free(&s);
	free(t);
}

static void test_markdown(void)
{
	size_t len;
	char *t = slurp("sample.md", &len);
	if (t == NULL) {
		skip(5, "sample.md missing");
		return;
	}
	struct sections s = { 0 };
	sections_detect_markdown(t, len, &s);
	is_int((long long)s.n, 3, "three markdown headings (fenced # ignored)");
	if (s.n == 3) {
		is_str(s.v[0].title, "Quire Sample", "ATX h1");
		ok(strcmp(s.v[1].title, "Installing") == 0 && s.v[1].level == 2 &&
		    s.v[1].parent == 0, "ATX h2 under h1");
		ok(strcmp(s.v[2].title, "Usage") == 0 && s.v[2].level == 2 && s.v[2].line == 14,
		    "setext h2 on its title line");
		ok(s.v[1].end == s.v[2].start, "h2 ends at the next h2");
	} else {
		skip(4, "wrong heading count");
	}
	sections_free(&s);
	free(t);
}

static void test_html(void)
{
	size_t len;
	char *h = slurp("sample.html", &len);
	if (h == NULL) {
		skip(8, "sample.html missing");
		return;
	}
	struct buf text = BUF_INIT;
	struct sections s = { 0 };
	char *title = NULL, *err = NULL;
	ok(html_extract(h, len, &text, &s, 0, &title, NULL, &err) == 0, "html extract");
	sections_finish(&s, text.data, text.len);
	is_str(title, "Sample Page", "html <title>");
	diag("text: %s", text.data);
	ok(strstr(text.data, "hidden script") == NULL && strstr(text.data, "color") == NULL,
	    "scripts and styles dropped");
	ok(strstr(text.data, "First paragraph with bold text.") != NULL, "whitespace collapsed");
	ok(strstr(text.data, "- apple\n- pear\n") != NULL, "unordered list items");
	ok(strstr(text.data, "1. one\n2. two\n") != NULL, "ordered list items numbered");
	ok(strstr(text.data, "Name | Value\nx | 42\n") != NULL, "table rows as text");
	ok(s.n == 2 && strcmp(s.v[0].title, "Main Heading") == 0 && s.v[0].level == 1 &&
	    strcmp(s.v[1].title, "Second & Last") == 0 && s.v[1].level == 2 && s.v[1].parent == 0,
	    "h1 and h2 sections with entities decoded");
	ok(s.n == 2 && strncmp(text.data + s.v[1].start, "Second & Last\n", 14) == 0,
	    "heading section starts at its text");
	free(title);
	buf_free(&text);
	sections_free(&s);
	free(h);
}

/* Source offset of text offset off through an HTML map: the last note at or before it. */
static long map_src(const struct html_map *m, size_t off)
{
	long src = -1;
	for (size_t i = 0; i < m->n && m->v[2 * i] <= off; i++)
		src = (long)(m->v[2 * i + 1] + (off - m->v[2 * i]));
	return src;
}

/* The HTML byte map: words that are in the markup verbatim map to their bytes; an entity
 * keeps its line; notes are in text order and inside both texts. */
static void test_html_map(void)
{
	static const char h[] =
	    "<html><head><title>T</title><script>var Closing = 1;</script></head>\n"
	    "<body><h1>Main\n  Heading</h1>\n"
	    "<p>First para\ngoes on\n\n\n  here.</p>\n"
	    "<p>&eacute;t&eacute; and more</p><pre>  code line\n  two</pre>\n"
	    "<p>Closing words.</p></body></html>\n";
	struct buf text = BUF_INIT;
	buf_append_str(&text, "before\n");
	struct sections s = { 0 };
	struct html_map m = { 0 };
	char *err = NULL;
	ok(html_extract(h, sizeof h - 1, &text, &s, 0, NULL, &m, &err) == 0, "html extract with map");
	int order = m.n > 0;
	for (size_t i = 0; i < m.n; i++)
		if ((i && m.v[2 * i] <= m.v[2 * i - 2]) || m.v[2 * i] < 7 || m.v[2 * i] >= text.len ||
		    m.v[2 * i + 1] >= sizeof h - 1)
			order = 0;
	ok(order, "%zu map notes, in text order, inside both texts", m.n);
	static const char *const words[] = { "Main", "Heading", "First", "goes", "here.",
		"code", "two", "Closing" };
	for (size_t k = 0; k < Q_ARRAY_LEN(words); k++) {
		const char *t = strstr(text.data + 7, words[k]);
		const char *want = strstr(h, words[k]);
		if (strcmp(words[k], "Closing") == 0)
			want = strstr(h, "Closing words");    /* not the one in the script */
		ok(t && map_src(&m, (size_t)(t - text.data)) == want - h, "\"%s\" maps to its bytes",
		    words[k]);
	}
	/* "été" is written with entities: its note is the start of its line. */
	const char *t = strstr(text.data, "\xc3\xa9t\xc3\xa9");
	const char *line = strstr(h, "<p>&eacute;");
	ok(t && map_src(&m, (size_t)(t - text.data)) == line - h, "an entity word maps to its line");
	html_map_free(&m);
	buf_free(&text);
	sections_free(&s);
	free(err);
}

int main(void)
{
	test_sha256();
	test_encoding();
	test_normalize();
	test_kjv();
	test_verse_names();
	test_constitution();
	test_markdown();
	test_html();
	test_html_map();
	done_testing();
	return exit_status();
}
