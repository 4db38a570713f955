/* formats.c: the format table: which bytes are which format (by their first bytes, names only
 * where a format has no magic of its own) and how each document format becomes stored text,
 * so that adding a format is one entry here and the walk in ingest.c stays the same. */
#include "store/formats.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/util.h"
#include "store/epub.h"
#include "store/html.h"
#include "store/pdf.h"
#include "store/text.h"

static int has_suffix(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && strcasecmp(s + a - b, suffix) == 0;
}

/* 1 when the literal magic m sits at byte at of p[0..n). */
#define MAGIC_AT(p, n, at, m) \
	((n) >= (at) + sizeof m - 1 && memcmp((p) + (at), m, sizeof m - 1) == 0)

/* --- containers: opened by the walk; the magics libarchive reads --- */

static int sniff_zip(const char *name, const unsigned char *p, size_t n)
{
	(void)name;
	return MAGIC_AT(p, n, 0, "PK\3\4") || MAGIC_AT(p, n, 0, "PK\5\6") ||
	    MAGIC_AT(p, n, 0, "PK\7\10");
}

static int sniff_epub(const char *name, const unsigned char *p, size_t n)
{
	/* OCF wants a stored "mimetype" member first; not all books obey, hence the name too. */
	return sniff_zip(name, p, n) && (has_suffix(name, ".epub") ||
	    MAGIC_AT(p, n, 30, "mimetypeapplication/epub+zip"));
}

static int sniff_bzip2(const char *name, const unsigned char *p, size_t n)
{
	(void)name;
	return MAGIC_AT(p, n, 0, "BZh") && n >= 4 && p[3] >= '1' && p[3] <= '9';
}

static int sniff_cpio(const char *name, const unsigned char *p, size_t n)
{
	(void)name;
	return MAGIC_AT(p, n, 0, "070707") || MAGIC_AT(p, n, 0, "070701") ||
	    MAGIC_AT(p, n, 0, "070702") ||
	    MAGIC_AT(p, n, 0, "\xc7\x71") || MAGIC_AT(p, n, 0, "\x71\xc7");   /* binary, either end */
}

/* --- documents --- */

static int sniff_pdf(const char *name, const unsigned char *p, size_t n)
{
	(void)name;
	return pdf_sniff((const char *)p, n);
}

static int sniff_html(const char *name, const unsigned char *u, size_t n)
{
	if (has_suffix(name, ".html") || has_suffix(name, ".htm") || has_suffix(name, ".xhtml") ||
	    has_suffix(name, ".xht"))
		return 1;
	const char *p = (const char *)u;
	size_t i = 0;
	if (MAGIC_AT(p, n, 0, "\xef\xbb\xbf"))
		i = 3;
	while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
		i++;
	return (n - i >= 14 && strncasecmp(p + i, "<!doctype html", 14) == 0) ||
	    (n - i >= 5 && strncasecmp(p + i, "<html", 5) == 0);
}

/* Markdown has no magic: only its name tells it from plain text. */
static int sniff_markdown(const char *name, const unsigned char *p, size_t n)
{
	(void)p;
	(void)n;
	return has_suffix(name, ".md") || has_suffix(name, ".markdown") ||
	    has_suffix(name, ".mkd") || has_suffix(name, ".mdown");
}

static int sniff_text(const char *name, const unsigned char *p, size_t n)
{
	(void)name;
	(void)p;
	(void)n;
	return 1;
}

static uint64_t count_lines(const char *t, size_t n)
{
	uint64_t lines = 0;
	for (const char *p = t, *e = t + n; p < e; ) {
		const char *nl = memchr(p, '\n', (size_t)(e - p));
		lines++;
		if (nl == NULL)
			break;
		p = nl + 1;
	}
	return lines;
}

/* The formats read through a parser give UTF-8 and headings in any order. */
static void finish_parsed(struct format_doc *out)
{
	out->encoding = "utf-8";
	sections_finish(&out->secs, out->text.data ? out->text.data : "", out->text.len);
	if (out->text.data == NULL)
		buf_append(&out->text, "", 0);
	out->lines = count_lines(out->text.data, out->text.len);
}

static enum store_err extract_epub(const char *name, const char *data, size_t len,
    const struct store_limits *lim, struct format_doc *out, char **err)
{
	(void)name;
	struct epub_map m = { 0 };
	enum store_err k = epub_extract(data, len, lim, &out->text, &out->secs, &out->title, &m,
	    err);
	if (k == STORE_ERR_NONE) {
		finish_parsed(out);
		if (m.notes.n) {
			out->map = m.notes.v;
			out->map_len = m.notes.n;
			out->files = m.files;
			out->n_files = m.n_files;
			memset(&m, 0, sizeof m);
		}
	}
	epub_map_free(&m);
	return k;
}

static const char *pdf_unavailable(void)
{
	return pdf_supported() ? NULL : "PDF is not supported: this quire was built without PDF "
	    "support (configure --with-pdf, needs libpoppler-glib-dev)";
}

static enum store_err extract_pdf(const char *name, const char *data, size_t len,
    const struct store_limits *lim, struct format_doc *out, char **err)
{
	(void)name;
	(void)lim;
	enum store_err k = pdf_extract(data, len, &out->text, &out->secs, &out->title, err);
	if (k == STORE_ERR_NONE)
		finish_parsed(out);
	return k;
}

static enum store_err extract_html(const char *name, const char *data, size_t len,
    const struct store_limits *lim, struct format_doc *out, char **err)
{
	(void)name;
	(void)lim;
	/* libxml2 would make text of anything; a binary file named .html is damaged, not HTML. */
	if (text_is_binary(data, len)) {
		q_error(err, "binary file (NUL bytes or control characters), not HTML");
		return STORE_ERR_MALFORMED;
	}
	struct html_map m = { 0 };
	enum store_err k = html_extract(data, len, &out->text, &out->secs, 0, &out->title, &m,
	    err);
	if (k == STORE_ERR_NONE) {
		finish_parsed(out);
		if (m.n) {
			out->map = m.v;
			out->map_len = m.n;
			memset(&m, 0, sizeof m);
		}
	}
	html_map_free(&m);
	return k;
}

/* Plain text and Markdown: decoded and normalised line by line (text.c). */
static enum store_err extract_lines(const char *data, size_t len,
    const struct store_limits *lim, struct format_doc *out, char **err)
{
	struct text_norm tn;
	enum store_err k = text_normalize(data, len, lim->max_line, &tn, err);
	if (k != STORE_ERR_NONE)
		return k;
	out->text = tn.text;
	out->encoding = text_encoding_name(tn.enc);
	out->lines = tn.lines;
	if (tn.identical) {
		free(tn.map);
	} else {
		out->map = tn.map;
		out->map_len = tn.map_len;
	}
	if (tn.enc == TEXT_CP1252)
		out->note = "not UTF-8: read as Windows-1252";
	return STORE_ERR_NONE;
}

static enum store_err extract_markdown(const char *name, const char *data, size_t len,
    const struct store_limits *lim, struct format_doc *out, char **err)
{
	(void)name;
	enum store_err k = extract_lines(data, len, lim, out, err);
	if (k != STORE_ERR_NONE)
		return k;
	sections_detect_markdown(out->text.data, out->text.len, &out->secs);
	for (size_t i = 0; i < out->secs.n && !out->title; i++)
		if (out->secs.v[i].level == 1)
			out->title = xstrdup(out->secs.v[i].title);
	return STORE_ERR_NONE;
}

static enum store_err extract_text(const char *name, const char *data, size_t len,
    const struct store_limits *lim, struct format_doc *out, char **err)
{
	(void)name;
	enum store_err k = extract_lines(data, len, lim, out, err);
	if (k != STORE_ERR_NONE)
		return k;
	sections_detect_text(out->text.data, out->text.len, &out->secs);
	return STORE_ERR_NONE;
}

const struct format format_table[] = {
	/* An EPUB is a zip with a book in it: asked before the zip container. */
	{ .name = "epub", .sniff = sniff_epub, .extract = extract_epub },
	{ .name = "zip", .sniff = sniff_zip },
	{ .name = "gzip", .magic = "\x1f\x8b", .magic_len = 2 },            /* dictzip too */
	{ .name = "compress", .magic = "\x1f\x9d", .magic_len = 2 },
	{ .name = "bzip2", .sniff = sniff_bzip2 },
	{ .name = "xz", .magic = "\xfd" "7zXZ\0", .magic_len = 6 },
	{ .name = "zstd", .magic = "\x28\xb5\x2f\xfd", .magic_len = 4 },
	{ .name = "lz4", .magic = "\x04\x22\x4d\x18", .magic_len = 4 },
	{ .name = "7z", .magic = "7z\xbc\xaf\x27\x1c", .magic_len = 6 },
	{ .name = "tar", .magic = "ustar", .magic_len = 5, .magic_at = 257 },
	{ .name = "cpio", .sniff = sniff_cpio },
	{ .name = "iso9660", .magic = "CD001", .magic_len = 5, .magic_at = 32769 },
	{ .name = "ar", .magic = "!<arch>\n", .magic_len = 8 },
	{ .name = "cab", .magic = "MSCF", .magic_len = 4 },
	{ .name = "xar", .magic = "xar!", .magic_len = 4 },
	{ .name = "rar", .magic = "Rar!\x1a\x07", .magic_len = 6 },
	/* Documents. A PDF only by its first bytes, so that a text about PDF stays text. */
	{ .name = "pdf", .sniff = sniff_pdf, .extract = extract_pdf,
	  .unavailable = pdf_unavailable },
	{ .name = "html", .sniff = sniff_html, .extract = extract_html },
	{ .name = "markdown", .sniff = sniff_markdown, .extract = extract_markdown },
	{ .name = "text", .sniff = sniff_text, .extract = extract_text },
	{ .name = NULL },
};

const struct format *format_sniff(const char *name, const unsigned char *p, size_t n)
{
	const struct format *f;
	for (f = format_table; f[1].name != NULL; f++) {
		if (f->sniff != NULL ? f->sniff(name, p, n) : n >= f->magic_at + f->magic_len &&
		    memcmp(p + f->magic_at, f->magic, f->magic_len) == 0)
			break;
	}
	return f;                  /* the last, plain text, takes anything */
}

void format_doc_free(struct format_doc *d)
{
	buf_free(&d->text);
	sections_free(&d->secs);
	free(d->title);
	free(d->map);
	for (size_t i = 0; i < d->n_files; i++)
		free(d->files[i]);
	free(d->files);
	memset(d, 0, sizeof *d);
}
