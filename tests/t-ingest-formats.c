/* t-ingest-formats.c: the format table (store/formats.c) and the error kinds of ingest: which
 * format a name and first bytes select, in the table's order; each extractor's kinds; and the
 * kind and status ingest reports for each way a file or archive member goes wrong (corrupt
 * member, over a limit, nested too deep, binary, encrypted, bad name, link, missing file). */
#include <archive.h>
#include <archive_entry.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/file.h"
#include "lib/util.h"
#include "store/formats.h"
#include "store/pdf.h"
#include "store/store.h"
#include "tests/tap.h"

static char tmpdir[256];

static const char *format_of(const char *name, const void *p, size_t n)
{
	return format_sniff(name, p, n)->name;
}

static const struct format *entry_named(const char *name)
{
	for (const struct format *f = format_table; f->name; f++)
		if (strcmp(f->name, name) == 0)
			return f;
	return NULL;
}

/* p[0..n) with magic m written at byte at (the rest zero). */
static unsigned char *with_magic(size_t n, size_t at, const void *m, size_t mlen)
{
	unsigned char *p = xcalloc(n, 1);
	memcpy(p + at, m, mlen);
	return p;
}

static void test_table(void)
{
	struct buf order = BUF_INIT;
	int containers_first = 1, seen_document = 0;
	for (const struct format *f = format_table; f->name; f++) {
		buf_printf(&order, "%s%s", order.len ? " " : "", f->name);
		if (f->extract && strcmp(f->name, "epub") != 0)
			seen_document = 1;
		else if (f->extract == NULL && seen_document)
			containers_first = 0;
	}
	is_str(order.data, "epub zip gzip compress bzip2 xz zstd lz4 7z tar cpio iso9660 ar cab "
	    "xar rar pdf html markdown text", "the table's entries in the order of detection");
	buf_free(&order);
	ok(containers_first, "every container is asked before the documents (but an EPUB before a zip)");
	ok(entry_named("zip")->extract == NULL && entry_named("tar")->extract == NULL &&
	    entry_named("text")->extract != NULL, "containers have no extractor, documents one");

	static const struct {
		const char *name;
		const char *bytes;
		size_t len;
		const char *want;
		const char *why;
	} cases[] = {
		{ "a.txt", "hello\n", 6, "text", "plain text" },
		{ "noname", "", 0, "text", "nothing at all is text" },
		{ "README.md", "# Title\n", 8, "markdown", ".md by name" },
		{ "notes.MARKDOWN", "words\n", 6, "markdown", ".markdown, any case" },
		{ "page.html", "plain words", 11, "html", ".html by name" },
		{ "page.XHT", "plain words", 11, "html", ".xht by name" },
		{ "page.txt", " \r\n\t<!DOCTYPE html><p>x", 23, "html", "doctype after blanks" },
		{ "page", "\xef\xbb\xbf<HTML>", 9, "html", "<html> after a BOM" },
		{ "page", "<htm", 4, "text", "a cut <html is text" },
		{ "doc.bin", "%PDF-1.4\n", 9, "pdf", "%PDF- first" },
		{ "page.html", "%PDF-1.7\n", 9, "pdf", "a PDF named .html is a PDF" },
		{ "talk.txt", "about %PDF-1.4", 14, "text", "%PDF- later is text" },
		{ "book.epub", "PK\3\4rest", 8, "epub", "a zip named .epub" },
		{ "book.EPUB", "PK\5\6rest", 8, "epub", "an empty zip named .EPUB" },
		{ "book.epub", "hello", 5, "text", "the name alone makes no EPUB" },
		{ "data.zip", "PK\3\4rest", 8, "zip", "a zip" },
		{ "data.zip", "PK\7\10rest", 8, "zip", "a spanned zip" },
		{ "data.zip", "PK\1\2rest", 8, "text", "PK without a zip signature" },
		{ "a.gz", "\x1f\x8b\x08", 3, "gzip", "gzip" },
		{ "a.html", "\x1f\x8b\x08", 3, "gzip", "containers before documents" },
		{ "a.Z", "\x1f\x9d\x90", 3, "compress", "compress" },
		{ "a.bz2", "BZh91AY", 7, "bzip2", "bzip2" },
		{ "a.bz2", "BZh0", 4, "text", "BZh without a level is not bzip2" },
		{ "a.xz", "\xfd" "7zXZ\0\0", 7, "xz", "xz" },
		{ "a.xz", "\xfd" "7zXZ", 5, "text", "a cut xz magic" },
		{ "a.zst", "\x28\xb5\x2f\xfd\x00", 5, "zstd", "zstd" },
		{ "a.lz4", "\x04\x22\x4d\x18\x00", 5, "lz4", "lz4" },
		{ "a.7z", "7z\xbc\xaf\x27\x1c\0", 7, "7z", "7z" },
		{ "a.cpio", "070701...", 9, "cpio", "cpio newc" },
		{ "a.cpio", "070707...", 9, "cpio", "cpio odc" },
		{ "a.cpio", "\xc7\x71...", 5, "cpio", "binary cpio" },
		{ "a.cpio", "\x71\xc7...", 5, "cpio", "binary cpio, other end" },
		{ "a.deb", "!<arch>\ndebian", 14, "ar", "ar" },
		{ "a.cab", "MSCF\0\0", 6, "cab", "cab" },
		{ "a.xar", "xar!\0\0", 6, "xar", "xar" },
		{ "a.rar", "Rar!\x1a\x07\x01\x00", 8, "rar", "rar 5" },
		{ "a.rar", "Rar!\x1a\x07\x00", 7, "rar", "rar 4" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
		is_str(format_of(cases[i].name, cases[i].bytes, cases[i].len), cases[i].want,
		    "%s (%s)", cases[i].why, cases[i].name);

	/* Magics that sit deep in the file. */
	unsigned char *p = with_magic(512, 257, "ustar", 5);
	is_str(format_of("a.tar", p, 512), "tar", "ustar at 257 is tar");
	is_str(format_of("a.tar", p, 261), "text", "a tar cut before its magic is not tar");
	free(p);
	p = with_magic(32774, 32769, "CD001", 5);
	is_str(format_of("a.iso", p, 32774), "iso9660", "CD001 at 32769 is iso9660");
	ok(32774 <= FORMAT_HEAD, "FORMAT_HEAD reaches the deepest magic");
	free(p);
	/* An EPUB whose name says nothing: its stored "mimetype" member first. */
	static const char ocf[] = "PK\3\4" "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"
	    "mimetypeapplication/epub+zip";
	is_str(format_of("book.zip", ocf, sizeof ocf - 1), "epub",
	    "a zip whose first member is the EPUB mimetype is an EPUB");
	is_str(format_of("book.zip", ocf, sizeof ocf - 2), "zip", "a cut mimetype leaves a zip");
}

static int write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	if (f == NULL)
		return -1;
	int r = fwrite(data, 1, len, f) == len ? 0 : -1;
	return fclose(f) == 0 ? r : -1;
}

struct member {
	const char *name;
	const char *data;           /* NULL: a symbolic link to "target" */
	size_t len;                 /* 0: strlen(data) */
};

/* An archive in format ("zip", "pax", ...) with options ("zip:compression=store") at path. */
static int write_archive(const char *path, const char *format, const char *options,
    const struct member *m, size_t n)
{
	struct archive *a = archive_write_new();
	int r = archive_write_set_format_by_name(a, format);
	if (r == ARCHIVE_OK && options)
		r = archive_write_set_options(a, options);
	if (r == ARCHIVE_OK && strstr(options ? options : "", "encryption"))
		r = archive_write_set_passphrase(a, "secret");
	if (r == ARCHIVE_OK)
		r = archive_write_open_filename(a, path);
	for (size_t i = 0; i < n && r == ARCHIVE_OK; i++) {
		struct archive_entry *e = archive_entry_new();
		size_t len = m[i].data ? (m[i].len ? m[i].len : strlen(m[i].data)) : 0;
		archive_entry_set_pathname(e, m[i].name);
		archive_entry_set_perm(e, 0644);
		if (m[i].data) {
			archive_entry_set_filetype(e, AE_IFREG);
			archive_entry_set_size(e, (la_int64_t)len);
		} else {
			archive_entry_set_filetype(e, AE_IFLNK);
			archive_entry_set_symlink(e, "target");
		}
		r = archive_write_header(a, e);
		if (r == ARCHIVE_OK && len && archive_write_data(a, m[i].data, len) != (la_ssize_t)len)
			r = ARCHIVE_FATAL;
		archive_entry_free(e);
	}
	if (archive_write_close(a) != ARCHIVE_OK)
		r = ARCHIVE_FATAL;
	archive_write_free(a);
	return r == ARCHIVE_OK ? 0 : -1;
}

/* Flip the first byte of needle inside the file (a stored member's data: its CRC fails). */
static int corrupt_in_file(const char *path, const char *needle)
{
	char *data, *err = NULL;
	size_t len;
	if (file_read_all(path, 1 << 24, &data, &len, &err) != 0) {
		free(err);
		return -1;
	}
	char *at = memmem(data, len, needle, strlen(needle));
	int r = -1;
	if (at) {
		*at ^= 0x20;
		r = write_file(path, data, len);
	}
	free(data);
	return r;
}

static char *read_all(const char *path, size_t *len)
{
	char *data, *err = NULL;
	if (file_read_all(path, 1 << 24, &data, len, &err) != 0) {
		diag("%s", err);
		free(err);
		return NULL;
	}
	return data;
}

static const char container_xml[] = "<?xml version=\"1.0\"?><container version=\"1.0\" "
    "xmlns=\"urn:oasis:names:tc:opendocument:xmlns:container\"><rootfiles><rootfile "
    "full-path=\"OEBPS/content.opf\" media-type=\"application/oebps-package+xml\"/>"
    "</rootfiles></container>";
static const char opf_xml[] = "<?xml version=\"1.0\"?><package xmlns=\"http://www.idpf.org/"
    "2007/opf\" version=\"3.0\"><metadata xmlns:dc=\"http://purl.org/dc/elements/1.1/\">"
    "<dc:title>Kinds</dc:title></metadata><manifest><item id=\"c1\" href=\"ch1.xhtml\" "
    "media-type=\"application/xhtml+xml\"/></manifest><spine><itemref idref=\"c1\"/></spine>"
    "</package>";

/* Run a document extractor of the table on a file's bytes. */
static enum store_err extract_file(const char *format, const char *path,
    const struct store_limits *lim, struct format_doc *doc, char **err)
{
	size_t len;
	char *data = read_all(path, &len);
	memset(doc, 0, sizeof *doc);
	if (data == NULL)
		return STORE_ERR_IO;
	enum store_err k = entry_named(format)->extract(path, data, len, lim, doc, err);
	free(data);
	return k;
}

static void test_extractors(void)
{
	struct store_limits lim;
	store_limits_default(&lim);
	struct format_doc doc = { 0 };
	char *err = NULL;
	const struct format *text = entry_named("text");

	static const char cp[] = "caf\xe9\n";
	ok(text->extract("a.txt", cp, sizeof cp - 1, &lim, &doc, &err) == STORE_ERR_NONE &&
	    strcmp(doc.encoding, "windows-1252") == 0 && doc.note && strstr(doc.note, "1252") &&
	    doc.lines == 1 && doc.map != NULL, "text: Windows-1252 read, said and mapped");
	format_doc_free(&doc);
	ok(text->extract("a.txt", "ok\n", 3, &lim, &doc, &err) == STORE_ERR_NONE &&
	    doc.map == NULL && doc.note == NULL && strcmp(doc.encoding, "utf-8") == 0,
	    "text: UTF-8 NFC needs no map and no note");
	format_doc_free(&doc);
	ok(text->extract("a.bin", "a\0b", 3, &lim, &doc, &err) == STORE_ERR_NOT_DOCUMENT &&
	    err && strstr(err, "binary"), "text: binary bytes -> not a document");
	free(err);
	err = NULL;
	format_doc_free(&doc);
	static const char u16[] = "\xff\xfe" "a\0\0\0";
	ok(text->extract("a.txt", u16, sizeof u16 - 1, &lim, &doc, &err) ==
	    STORE_ERR_NOT_DOCUMENT, "text: a NUL character in UTF-16 -> not a document");
	free(err);
	err = NULL;
	format_doc_free(&doc);
	struct store_limits small = lim;
	small.max_line = 4;
	ok(text->extract("a.txt", "short\n", 6, &small, &doc, &err) == STORE_ERR_TOO_LARGE &&
	    err && strstr(err, "line 1"), "text: a line over the limit -> too large");
	free(err);
	err = NULL;
	format_doc_free(&doc);
	ok(entry_named("markdown")->extract("a.md", "x\n\n# Head\n", 10, &lim, &doc, &err) ==
	    STORE_ERR_NONE && doc.title && strcmp(doc.title, "Head") == 0 && doc.secs.n == 1,
	    "markdown: title from the first level-1 heading");
	format_doc_free(&doc);
	ok(entry_named("html")->extract("a.html", "<p>\x01\x02\x03\x04</p>\0", 12, &lim, &doc,
	    &err) == STORE_ERR_MALFORMED && err && strstr(err, "not HTML"),
	    "html: binary bytes named .html -> malformed");
	free(err);
	err = NULL;
	format_doc_free(&doc);
	ok(entry_named("html")->extract("a.html", "<title>T</title><p>Words</p>", 28, &lim, &doc,
	    &err) == STORE_ERR_NONE && doc.title && strcmp(doc.title, "T") == 0 &&
	    strcmp(doc.text.data, "Words\n") == 0 && doc.lines == 1 && doc.map_len > 0,
	    "html: text, title, lines and map");
	format_doc_free(&doc);

	/* EPUB */
	char *path = xasprintf("%s/good.epub", tmpdir);
	struct member good[] = { { "META-INF/container.xml", container_xml, 0 },
		{ "OEBPS/content.opf", opf_xml, 0 },
		{ "OEBPS/ch1.xhtml", "<html><body><p>Some words.</p></body></html>", 0 } };
	ok(write_archive(path, "zip", NULL, good, 3) == 0 &&
	    extract_file("epub", path, &lim, &doc, &err) == STORE_ERR_NONE &&
	    doc.title && strcmp(doc.title, "Kinds") == 0 && doc.n_files == 1 &&
	    strcmp(doc.files[0], "OEBPS/ch1.xhtml") == 0, "epub: a good book");
	format_doc_free(&doc);
	free(path);

	path = xasprintf("%s/nocontainer.epub", tmpdir);
	ok(write_archive(path, "zip", NULL, good + 1, 2) == 0 &&
	    extract_file("epub", path, &lim, &doc, &err) == STORE_ERR_MALFORMED && err &&
	    strstr(err, "container.xml"), "epub: no container.xml -> malformed");
	free(err);
	err = NULL;
	format_doc_free(&doc);
	free(path);

	path = xasprintf("%s/crc.epub", tmpdir);
	if (!ok(write_archive(path, "zip", "zip:compression=store", good, 3) == 0 &&
	    corrupt_in_file(path, "Some words") == 0 &&
	    extract_file("epub", path, &lim, &doc, &err) == STORE_ERR_MALFORMED && err &&
	    strstr(err, "corrupt zip"), "epub: a corrupt member -> malformed") && err)
		diag("%s", err);
	free(err);
	err = NULL;
	format_doc_free(&doc);
	free(path);

	path = xasprintf("%s/big.epub", tmpdir);
	small = lim;
	small.max_doc_bytes = 200;
	ok(write_archive(path, "zip", NULL, good, 3) == 0 &&
	    extract_file("epub", path, &small, &doc, &err) == STORE_ERR_TOO_LARGE && err &&
	    strstr(err, "more than 200"), "epub: unpacking past the size limit -> too large");
	free(err);
	err = NULL;
	format_doc_free(&doc);
	free(path);

	path = xasprintf("%s/empty.epub", tmpdir);
	struct member empty[] = { good[0], good[1],
		{ "OEBPS/ch1.xhtml", "<html><body></body></html>", 0 } };
	ok(write_archive(path, "zip", NULL, empty, 3) == 0 &&
	    extract_file("epub", path, &lim, &doc, &err) == STORE_ERR_NO_TEXT,
	    "epub: a spine without text -> no text");
	free(err);
	err = NULL;
	format_doc_free(&doc);
	free(path);

	ok(entry_named("epub")->extract("x.epub", "PK\3\4xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", 35,
	    &lim, &doc, &err) == STORE_ERR_MALFORMED, "epub: zip magic then rubbish -> malformed");
	free(err);
	err = NULL;
	format_doc_free(&doc);

	/* PDF */
	const struct format *pdf = entry_named("pdf");
	ok((pdf->unavailable() == NULL) == (pdf_supported() != 0),
	    "pdf: unavailable exactly when this build has no PDF support");
	if (pdf_supported()) {
		ok(pdf->extract("cut.pdf", "%PDF-1.4\n1 0 obj\n<<", 19, &lim, &doc, &err) ==
		    STORE_ERR_MALFORMED, "pdf: a damaged PDF -> malformed");
		free(err);
		err = NULL;
		format_doc_free(&doc);
		const char *srcdir = getenv("srcdir");
		path = xasprintf("%s/tests/data/store/sample-encrypted.pdf", srcdir && *srcdir ?
		    srcdir : ".");
		ok(extract_file("pdf", path, &lim, &doc, &err) == STORE_ERR_ENCRYPTED,
		    "pdf: an encrypted PDF -> encrypted");
		free(err);
		err = NULL;
		format_doc_free(&doc);
		free(path);
	} else {
		ok(pdf->extract("a.pdf", "%PDF-1.4\n", 9, &lim, &doc, &err) ==
		    STORE_ERR_UNSUPPORTED, "pdf: without PDF support -> unsupported");
		free(err);
		err = NULL;
		format_doc_free(&doc);
		skip(1, "no PDF support in this build");
	}
}

/* What ingest reported, one record per document event. */
struct seen {
	char *name;
	enum store_doc_status status;
	enum store_err err;
	char *message;
};
static struct seen seen[64];
static size_t n_seen;

static void on_doc(void *ctx, const struct store_doc_event *ev)
{
	(void)ctx;
	if (n_seen == sizeof seen / sizeof *seen)
		return;
	seen[n_seen].name = xstrdup(ev->name);
	seen[n_seen].status = ev->status;
	seen[n_seen].err = ev->err;
	seen[n_seen].message = ev->message ? xstrdup(ev->message) : NULL;
	n_seen++;
}

static void seen_clear(void)
{
	for (size_t i = 0; i < n_seen; i++) {
		free(seen[i].name);
		free(seen[i].message);
	}
	n_seen = 0;
}

/* The event for the name ending in suffix, or NULL. */
static const struct seen *seen_for(const char *suffix)
{
	size_t b = strlen(suffix);
	for (size_t i = 0; i < n_seen; i++) {
		size_t a = strlen(seen[i].name);
		if (a >= b && strcmp(seen[i].name + a - b, suffix) == 0)
			return &seen[i];
	}
	return NULL;
}

static void ingest_with(struct store *s, const char *path, const struct store_limits *lim)
{
	struct store_ingest_opts o = { 0 };
	o.limits = *lim;
	o.on_doc = on_doc;
	struct store_ingest_stats st;
	char *err = NULL;
	char *paths[1] = { (char *)path };
	seen_clear();
	if (store_ingest(s, paths, 1, &o, &st, &err) != 0) {
		diag("ingest %s: %s", path, err);
		free(err);
	}
}

/* One input, one expected event: status and kind for the name ending in suffix. */
static void expect(struct store *s, const char *file, const struct store_limits *lim,
    const char *suffix, enum store_doc_status status, enum store_err kind, const char *why)
{
	char *path = xasprintf("%s/%s", tmpdir, file);
	ingest_with(s, path, lim);
	const struct seen *e = seen_for(suffix);
	int good = e && e->status == status && e->err == kind;
	ok(good, "%s", why);
	if (!good) {
		for (size_t i = 0; i < n_seen; i++)
			diag("event: %s: status %d, kind %d: %s", seen[i].name, (int)seen[i].status,
			    (int)seen[i].err, seen[i].message ? seen[i].message : "");
	}
	free(path);
}

static void test_ingest_kinds(void)
{
	char *dir = xasprintf("%s/lib", tmpdir), *err = NULL;
	struct store *s;
	if (store_open(dir, STORE_WRITE | STORE_CREATE, "t", &s, &err) != 0) {
		diag("%s", err);
		free(err);
		free(dir);
		skip(1, "no library");
		return;
	}
	struct store_limits lim;
	store_limits_default(&lim);
	char *p;

#define FILE_AT(name, data, len) \
	(p = xasprintf("%s/%s", tmpdir, name), write_file(p, data, len), free(p))
	FILE_AT("plain.txt", "plain words\n", 12);
	expect(s, "plain.txt", &lim, "plain.txt", STORE_DOC_ADDED, STORE_ERR_NONE,
	    "a text file is added with no error kind");
	FILE_AT("empty.txt", "", 0);
	expect(s, "empty.txt", &lim, "empty.txt", STORE_DOC_SKIPPED, STORE_ERR_NOT_DOCUMENT,
	    "an empty file: skipped, not a document");
	FILE_AT("blob.bin", "\x01\x02\0\x03", 4);
	expect(s, "blob.bin", &lim, "blob.bin", STORE_DOC_SKIPPED, STORE_ERR_NOT_DOCUMENT,
	    "a binary file: skipped, not a document");
	FILE_AT("blob.html", "<p>\x01\x02\x03\x04\x05\x06\0</p>", 14);
	expect(s, "blob.html", &lim, "blob.html", STORE_DOC_FAILED, STORE_ERR_MALFORMED,
	    "a binary file named .html: failed, malformed");
	struct store_limits small = lim;
	small.max_line = 8;
	FILE_AT("long.txt", "a line longer than eight bytes\n", 31);
	expect(s, "long.txt", &small, "long.txt", STORE_DOC_FAILED, STORE_ERR_TOO_LARGE,
	    "a line over the limit: failed, too large");
	small = lim;
	small.max_doc_bytes = 16;
	FILE_AT("big.txt", "more than sixteen bytes of text\n", 32);
	expect(s, "big.txt", &small, "big.txt", STORE_DOC_FAILED, STORE_ERR_TOO_LARGE,
	    "a file over the size limit: failed, too large");
	expect(s, "no-such-file.txt", &lim, "no-such-file.txt", STORE_DOC_FAILED, STORE_ERR_IO,
	    "a missing file: failed, I/O");
#undef FILE_AT

	/* Archive members. */
	char *path = xasprintf("%s/crc.zip", tmpdir);
	struct member crc[] = { { "bad.txt", "this member will be corrupted\n", 0 },
		{ "good.txt", "this member stays good\n", 0 } };
	if (write_archive(path, "zip", "zip:compression=store", crc, 2) == 0 &&
	    corrupt_in_file(path, "will be corrupted") == 0) {
		expect(s, "crc.zip", &lim, "crc.zip!/bad.txt", STORE_DOC_FAILED,
		    STORE_ERR_MALFORMED, "a corrupt zip member: failed, malformed");
		const struct seen *g = seen_for("crc.zip!/good.txt");
		ok(g && g->status == STORE_DOC_ADDED, "and the member after it is still read");
	} else {
		skip(2, "cannot write a stored zip");
	}
	free(path);

	path = xasprintf("%s/sizes.tar", tmpdir);
	struct member sizes[] = { { "large.txt", "a member of more than sixteen bytes\n", 0 },
		{ "small.txt", "short one\n", 0 } };
	small = lim;
	small.max_doc_bytes = 16;
	if (write_archive(path, "pax", NULL, sizes, 2) == 0) {
		expect(s, "sizes.tar", &small, "sizes.tar!/large.txt", STORE_DOC_FAILED,
		    STORE_ERR_TOO_LARGE, "a member over the size limit: failed, too large");
		const struct seen *g = seen_for("sizes.tar!/small.txt");
		ok(g && g->status == STORE_DOC_ADDED, "and the small member beside it is added");
	} else {
		skip(2, "cannot write a tar");
	}
	free(path);

	path = xasprintf("%s/names.tar", tmpdir);
	struct member names[] = { { "../evil.txt", "evil\n", 0 }, { "link.txt", NULL, 0 } };
	if (write_archive(path, "pax", NULL, names, 2) == 0) {
		expect(s, "names.tar", &lim, "names.tar!/../evil.txt", STORE_DOC_FAILED,
		    STORE_ERR_MALFORMED, "a \"..\" member name: failed, malformed");
		const struct seen *g = seen_for("names.tar!/link.txt");
		ok(g && g->status == STORE_DOC_SKIPPED && g->err == STORE_ERR_NOT_DOCUMENT,
		    "a link member: skipped, not a document");
	} else {
		skip(2, "cannot write a tar");
	}
	free(path);

	/* 1 MB of one byte deflates about a thousandfold. */
	size_t bomb_len = 1 << 20;
	char *zeros = xmalloc(bomb_len);
	memset(zeros, 'z', bomb_len);
	path = xasprintf("%s/bomb.zip", tmpdir);
	struct member bomb[] = { { "bomb.txt", zeros, bomb_len } };
	small = lim;
	small.ratio_floor = 4096;
	small.max_ratio = 10;
	if (write_archive(path, "zip", NULL, bomb, 1) == 0)
		expect(s, "bomb.zip", &small, "bomb.zip!/bomb.txt", STORE_DOC_FAILED,
		    STORE_ERR_TOO_LARGE, "a member over the compression ratio: failed, too large");
	else
		skip(1, "cannot write a zip");
	free(path);
	free(zeros);

	path = xasprintf("%s/outer.tar", tmpdir);
	char *inner = xasprintf("%s/good.epub", tmpdir);   /* a zip, from test_extractors */
	size_t ilen;
	char *idata = read_all(inner, &ilen);
	struct member outer[] = { { "inner.zip", idata, ilen } };
	small = lim;
	small.max_depth = 1;
	if (idata && write_archive(path, "pax", NULL, outer, 1) == 0)
		expect(s, "outer.tar", &small, "outer.tar!/inner.zip", STORE_DOC_FAILED,
		    STORE_ERR_TOO_LARGE, "an archive nested past the limit: failed, too large");
	else
		skip(1, "cannot write a tar");
	free(idata);
	free(inner);
	free(path);

	path = xasprintf("%s/enc.zip", tmpdir);
	struct member enc[] = { { "secret.txt", "a secret member\n", 0 } };
	if (write_archive(path, "zip", "zip:encryption=zipcrypt", enc, 1) == 0)
		expect(s, "enc.zip", &lim, "enc.zip!/secret.txt", STORE_DOC_SKIPPED,
		    STORE_ERR_ENCRYPTED, "an encrypted member: skipped, encrypted");
	else
		skip(1, "this libarchive cannot write an encrypted zip");
	free(path);

	const char *srcdir = getenv("srcdir");
	path = xasprintf("%s/tests/data/store/sample-encrypted.pdf", srcdir && *srcdir ? srcdir :
	    ".");
	ingest_with(s, path, &lim);
	const struct seen *e = seen_for("sample-encrypted.pdf");
	if (pdf_supported())
		ok(e && e->status == STORE_DOC_SKIPPED && e->err == STORE_ERR_ENCRYPTED,
		    "an encrypted PDF: skipped, encrypted");
	else
		ok(e && e->status == STORE_DOC_SKIPPED && e->err == STORE_ERR_UNSUPPORTED,
		    "a PDF without PDF support: skipped, unsupported");
	free(path);

	seen_clear();
	store_close(s);
	free(dir);
}

int main(void)
{
	if (tap_tmpdir("t-ingest-formats", tmpdir, sizeof tmpdir) != 0) {
		skip_all("cannot make a temporary folder");
		return 0;
	}
	test_table();
	test_extractors();
	test_ingest_kinds();
	tap_tmpdir_remove(tmpdir);
	done_testing();
	return exit_status();
}
