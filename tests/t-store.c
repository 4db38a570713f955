/* t-store.c: the library database: schema creation, WAL, forward migration of an old schema
 * and refusal of a newer one; ingest of real texts with a tokenizer; provenance (tokens and
 * offsets back to bytes and lines; spans render exactly the file's bytes); FTS search with
 * sections and lines; idempotent re-ingest, replacement of a changed file, removal; corpus
 * order; the checker finding damage; the writer lock; an EPUB read in spine order. */
#include <archive.h>
#include <archive_entry.h>
#include <ctype.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/file.h"
#include "lib/util.h"
#include "store/store-int.h"
#include "tests/tap.h"

static char tmpdir[256];

static char *data_path(const char *name)
{
	const char *srcdir = getenv("srcdir");
	return xasprintf("%s/tests/data/store/%s", srcdir && *srcdir ? srcdir : ".", name);
}

/* A whitespace tokenizer: each run of non-blanks is one token; its id is its first byte. */
static int ws_tokenize(void *ctx, const char *text, size_t len, int32_t **ids,
    uint32_t **offsets, size_t *n, char **err)
{
	(void)ctx;
	(void)err;
	size_t cap = 1024, k = 0;
	*ids = xmalloc(cap * sizeof **ids);
	*offsets = xmalloc(cap * sizeof **offsets);
	for (size_t i = 0; i < len; ) {
		while (i < len && isspace((unsigned char)text[i]))
			i++;
		if (i >= len)
			break;
		if (k == cap) {
			cap *= 2;
			*ids = xrealloc(*ids, cap * sizeof **ids);
			*offsets = xrealloc(*offsets, cap * sizeof **offsets);
		}
		(*ids)[k] = (unsigned char)text[i];
		(*offsets)[k++] = (uint32_t)i;
		while (i < len && !isspace((unsigned char)text[i]))
			i++;
	}
	*n = k;
	return 0;
}

static size_t count_words(const char *t, size_t len)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++)
		if (!isspace((unsigned char)t[i]) && (i == 0 || isspace((unsigned char)t[i - 1])))
			n++;
	return n;
}

struct events {
	int added, unchanged, replaced, failed, skipped;
};

static void on_doc(void *ctx, const struct store_doc_event *ev)
{
	struct events *e = ctx;
	switch (ev->status) {
	case STORE_DOC_ADDED: e->added++; break;
	case STORE_DOC_UNCHANGED: e->unchanged++; break;
	case STORE_DOC_REPLACED: e->replaced++; break;
	case STORE_DOC_FAILED: e->failed++; diag("failed: %s: %s", ev->name, ev->message); break;
	case STORE_DOC_SKIPPED: e->skipped++; diag("skipped: %s: %s", ev->name, ev->message); break;
	}
}

static int ingest(struct store *s, const char *path, uint64_t fp, struct events *ev)
{
	struct store_ingest_opts o = { 0 };
	store_limits_default(&o.limits);
	o.tokenize = fp ? ws_tokenize : NULL;
	o.fingerprint = fp;
	o.on_doc = on_doc;
	o.cb_ctx = ev;
	struct store_ingest_stats st;
	char *err = NULL;
	char *paths[1] = { (char *)path };
	memset(ev, 0, sizeof *ev);
	int r = store_ingest(s, paths, 1, &o, &st, &err);
	if (r != 0) {
		diag("ingest: %s", err);
		free(err);
	}
	return r;
}

static void test_schema(void)
{
	char *dir = xasprintf("%s/lib1", tmpdir), *err = NULL;
	struct store *s;
	ok(store_open(dir, STORE_READ, "t", &s, &err) != 0 && strstr(err, "no library"),
	    "opening a missing library fails clearly");
	free(err);
	err = NULL;
	ok(store_open(dir, STORE_WRITE | STORE_CREATE, "t", &s, &err) == 0, "create library");
	is_int(store_schema_version(s), STORE_SCHEMA_VERSION, "schema at the current version");
	sqlite3_stmt *st;
	sqlite3_prepare_v2(s->db, "PRAGMA journal_mode", -1, &st, NULL);
	sqlite3_step(st);
	is_str((const char *)sqlite3_column_text(st, 0), "wal", "WAL mode");
	sqlite3_finalize(st);
	ok(store_setting_set(s, "k", "v1", &err) == 0 && store_setting_set(s, "k", "v2", &err) == 0,
	    "settings written");
	char *v = NULL;
	store_setting_get(s, "k", &v, &err);
	is_str(v, "v2", "setting read back");
	free(v);
	store_close(s);

	/* A version-1 library (no FTS yet) with one document gets migrated on open. */
	char *old = xasprintf("%s/old", tmpdir);
	dir_make_all(old, &err);
	struct store raw = { 0 };
	raw.dir = old;
	raw.lock_fd = -1;
	char *dbp = xasprintf("%s/library.db", old);
	sqlite3_open(dbp, &raw.db);
	ok(store_migrate(&raw, 1, &err) == 0, "build a version-1 schema");
	ok(store_exec(&raw, "INSERT INTO documents(id, title, path, format, encoding, bytes, "
	    "text_bytes, lines, sha256, ingested) VALUES (1, 'old', '/x', 'text', 'utf-8', 20, 20, "
	    "1, 'abc', 0); INSERT INTO chunks(doc_id, byte_start, line, body) VALUES "
	    "(1, 0, 1, 'migrated zebra text\n');", &err) == 0, "old rows inserted");
	sqlite3_close(raw.db);
	ok(store_open(old, STORE_READ, "t", &s, &err) == 0, "open the old library");
	is_int(store_schema_version(s), STORE_SCHEMA_VERSION, "migrated to the current version");
	struct store_hit *h;
	size_t n = 0;
	ok(store_search(s, "zebra", 0, 5, "[", "]", &h, &n, &err) == 0 && n == 1 &&
	    h[0].doc_id == 1 && strstr(h[0].snippet, "[zebra]"), "FTS built by the migration");
	if (n)
		store_hits_free(h, n);
	store_close(s);

	sqlite3_open(dbp, &raw.db);
	sqlite3_exec(raw.db, "PRAGMA user_version = 99", NULL, NULL, NULL);
	sqlite3_close(raw.db);
	ok(store_open(old, STORE_READ, "t", &s, &err) != 0 && strstr(err, "newer"),
	    "a newer schema is refused");
	diag("%s", err ? err : "");
	free(err);
	free(dbp);
	free(old);
	free(dir);
}

static void test_library(void)
{
	char *dir = xasprintf("%s/lib2", tmpdir), *err = NULL;
	char *kjv = data_path("kjv-genesis.txt"), *con = data_path("us-constitution.txt");
	struct store *s;
	struct events ev;
	if (store_open(dir, STORE_WRITE | STORE_CREATE, "t", &s, &err) != 0) {
		diag("%s", err);
		skip_all("cannot create a library");
		exit(0);
	}
	ok(ingest(s, kjv, 0x1234, &ev) == 0 && ev.added == 1, "ingest the KJV sample");
	ok(ingest(s, con, 0x1234, &ev) == 0 && ev.added == 1, "ingest the US Constitution");

	struct store_doc *docs;
	size_t nd;
	ok(store_list(s, 0x1234, &docs, &nd, &err) == 0 && nd == 2, "two documents listed");
	char *ktext = NULL, *ctext = NULL;
	size_t klen = 0, clen = 0;
	file_read_all(kjv, 1 << 24, &ktext, &klen, &err);
	file_read_all(con, 1 << 24, &ctext, &clen, &err);
	int64_t kid = docs[0].id, cid = docs[1].id;
	is_str(docs[0].title, "kjv-genesis.txt", "title from the file name");
	is_int((long long)docs[0].text_bytes, (long long)klen, "text bytes = file bytes");
	is_int((long long)docs[0].lines, 155, "155 lines");
	is_int((long long)docs[0].tokens, (long long)count_words(ktext, klen), "tokens = words");
	ok(docs[0].tokenized && docs[0].sections == 155 + 6 + 1, "sections: verses, chapters, book");
	store_docs_free(docs, nd);

	/* Provenance: a span renders exactly the file's bytes. */
	char *t;
	size_t tl;
	ok(store_text_range(s, kid, 0, UINT64_MAX, &t, &tl, &err) == 0 && tl == klen &&
	    memcmp(t, ktext, klen) == 0, "whole KJV text equals the file");
	free(t);
	ok(store_text_range(s, cid, 0, UINT64_MAX, &t, &tl, &err) == 0 && tl == clen &&
	    memcmp(t, ctext, clen) == 0, "whole Constitution text equals the file");
	free(t);
	uint64_t a, b;
	ok(store_line_range(s, kid, 133, 133, &a, &b, &err) == 0, "line range 133");
	store_text_range(s, kid, a, b, &t, &tl, &err);
	is_str(t, "Ge5:27 And all the days of Methuselah were nine hundred sixty and nine years: "
	    "and he died.\n", "line 133 is Ge5:27, exactly");
	free(t);
	uint64_t line = 0;
	ok(store_offset_line(s, kid, a + 10, &line, &err) == 0 && line == 133,
	    "offset inside the line maps to line 133");
	ok(store_line_range(s, cid, 1128, 2000, &a, &b, &err) == 0 && b == clen,
	    "a range past the end is clamped");
	ok(store_line_range(s, cid, 5000, 5000, &a, &b, &err) != 0, "a line past the end fails");
	free(err);
	err = NULL;
	char *sec = NULL;
	ok(store_section_at(s, kid, a, &sec, &err) == 0, "section lookup");
	free(sec);
	store_line_range(s, kid, 133, 133, &a, &b, &err);
	store_section_at(s, kid, a + 5, &sec, &err);
	is_str(sec, "Ge5:27", "innermost section of the verse");
	free(sec);
	uint64_t src = 1;
	ok(store_source_offset(s, kid, 777, &src, &err) == 0 && src == 777,
	    "identical text maps to the same source offsets");


	/* Tokens map back into the text. */
	int32_t *ids;
	uint32_t *offs;
	size_t nt;
	ok(store_tokens(s, kid, 0x1234, 10, 5, &ids, &offs, &nt, &err) == 0 && nt == 5,
	    "five tokens read");
	int tok_ok = nt == 5;
	for (size_t i = 0; i < nt; i++)
		if (offs[i] >= klen || (unsigned char)ktext[offs[i]] != (unsigned)ids[i] ||
		    (offs[i] > 0 && !isspace((unsigned char)ktext[offs[i] - 1])))
			tok_ok = 0;
	ok(tok_ok, "token offsets point at the token's first byte");
	free(ids);
	free(offs);
	struct store_corpus_doc *cv;
	size_t nc;
	ok(store_corpus(s, 0x1234, &cv, &nc, &err) == 0 && nc == 2 && cv[0].position == 1 &&
	    cv[1].position == cv[0].position + cv[0].n_tokens + 1, "corpus order with separators");
	free(cv);

	/* Search. */
	struct store_hit *h;
	size_t nh;
	ok(store_search(s, "methuselah died", 0, 5, "[", "]", &h, &nh, &err) == 0 && nh >= 1,
	    "search finds Methuselah");
	if (nh) {
		is_int(h[0].doc_id, kid, "hit in the KJV");
		ok(strstr(h[0].snippet, "[Methuselah]") != NULL, "snippet marks the match");
		store_text_range(s, kid, h[0].byte_start, h[0].byte_end, &t, &tl, &err);
		ok(strcasecmp(t, "methuselah") == 0 || strcasecmp(t, "died") == 0,
		    "hit byte range is the matched word");
		free(t);
		diag("hit line %llu section %s", (unsigned long long)h[0].line, h[0].section);
		store_hits_free(h, nh);
	}
	ok(store_search(s, "unreasonable searches", 0, 5, "[", "]", &h, &nh, &err) == 0 && nh == 1,
	    "search finds the Fourth Amendment");
	if (nh) {
		is_str(h[0].section, "Amendment IV", "hit section");
		is_int((long long)h[0].line, 622, "hit line");
		store_hits_free(h, nh);
	}
	ok(store_search(s, "\"unbalanced", 0, 5, "[", "]", &h, &nh, &err) == 0,
	    "quotes in a plain query do not break FTS syntax");
	if (nh)
		store_hits_free(h, nh);
	ok(store_search(s, "NEAR(", 1, 5, "[", "]", &h, &nh, &err) != 0, "raw FTS syntax error "
	    "is reported");
	free(err);
	err = NULL;

	/* Idempotent re-ingest; a changed file replaces its old version. */
	ok(ingest(s, kjv, 0x1234, &ev) == 0 && ev.unchanged == 1 && ev.added == 0,
	    "re-ingest is a no-op");
	char *copy = xasprintf("%s/changing.txt", tmpdir);
	file_replace_atomic(copy, "first version\n", 14, &err);
	ingest(s, copy, 0x1234, &ev);
	struct store_doc d1;
	ok(store_find_doc(s, "changing.txt", &d1, &err) == 0, "find by title");
	file_replace_atomic(copy, "second version, zyzzyva\n", 24, &err);
	ok(ingest(s, copy, 0x1234, &ev) == 0 && ev.replaced == 1, "changed file replaced");
	struct store_doc d2;
	ok(store_find_doc(s, "changing", &d2, &err) == 0 && d2.id != d1.id && d2.text_bytes == 24,
	    "find by title prefix gets the new version");
	store_corpus(s, 0x1234, &cv, &nc, &err);
	ok(nc == 4 && cv[2].doc_id == d1.id && cv[2].removed && cv[3].doc_id == d2.id &&
	    cv[3].position > cv[2].position, "old corpus place kept, marked removed");
	free(cv);
	char *sdoc = xasprintf("%lld", (long long)d2.id);
	struct store_doc d3;
	ok(store_find_doc(s, sdoc, &d3, &err) == 0 && d3.id == d2.id, "find by id");
	store_doc_free(&d3);
	free(sdoc);
	ok(store_remove(s, d2.id, &err) == 0, "rm");
	ok(store_search(s, "zyzzyva", 0, 5, "[", "]", &h, &nh, &err) == 0 && nh == 0,
	    "removed text no longer found");
	store_doc_free(&d1);
	store_doc_free(&d2);

	/* Tokens added later for a second tokenizer. */
	uint64_t done = 0;
	ok(store_add_tokens(s, ws_tokenize, NULL, 0x77, &done, &err) == 0 && done == 2,
	    "tokens for a second tokenizer added later");
	uint64_t problems = 99;
	ok(store_check(s, NULL, NULL, &problems, &err) == 0 && problems == 0, "check: clean");

	/* Damage is found, by document. */
	char *sql = xasprintf("DELETE FROM chunks WHERE doc_id = %lld AND byte_start > 0 AND "
	    "id = (SELECT MIN(id) FROM chunks WHERE doc_id = %lld AND byte_start > 0)",
	    (long long)cid, (long long)cid);
	store_exec(s, sql, &err);
	free(sql);
	store_check(s, NULL, NULL, &problems, &err);
	ok(problems > 0, "check: a missing text chunk is reported");
	store_close(s);
	free(copy);
	free(ktext);
	free(ctext);
	free(kjv);
	free(con);
	free(dir);
}

/* An HTML document maps its words back into the markup (store_source_offset). */
static void test_html_source(void)
{
	char *dir = xasprintf("%s/lib-html", tmpdir), *err = NULL;
	char *html = data_path("sample.html"), *hsrc = NULL;
	size_t hlen = 0;
	struct store *s;
	struct events ev;
	struct store_doc hd;
	if (file_read_all(html, 1 << 20, &hsrc, &hlen, &err) != 0 ||
	    store_open(dir, STORE_WRITE | STORE_CREATE, "t", &s, &err) != 0) {
		diag("%s", err);
		skip(3, "cannot read sample.html or open a library");
		free(err);
		free(html);
		free(dir);
		return;
	}
	ok(ingest(s, html, 0, &ev) == 0 && ev.added == 1, "ingest sample.html");
	if (store_find_doc(s, "Sample Page", &hd, &err) == 0) {
		char *ht = NULL;
		size_t hl = 0;
		store_text_range(s, hd.id, 0, UINT64_MAX, &ht, &hl, &err);
		const char *w = ht ? strstr(ht, "Closing words") : NULL;
		uint64_t src = 0;
		int r = w ? store_source_offset(s, hd.id, (uint64_t)(w - ht), &src, &err) : -1;
		ok(r == 0 && src == (uint64_t)(strstr(hsrc, "Closing words") - hsrc),
		    "HTML text offset maps to the word's byte in the markup");
		ok(store_source_offset(s, hd.id, hl, &src, &err) == 0 && src <= hlen,
		    "the end of the text maps inside the source");
		free(ht);
		store_doc_free(&hd);
	} else {
		skip(2, "sample.html not found in the library");
	}
	free(err);
	store_close(s);
	free(hsrc);
	free(html);
	free(dir);
}

static void test_lock(void)
{
	char *dir = xasprintf("%s/lib3", tmpdir), *err = NULL;
	struct store *s;
	store_open(dir, STORE_WRITE | STORE_CREATE, "t", &s, &err);
	store_close(s);
	int p[2];
	if (pipe(p) != 0) {
		skip(3, "pipe");
		return;
	}
	pid_t pid = fork();
	if (pid == 0) {
		struct store *c;
		if (store_open(dir, STORE_WRITE, "holder-cmd", &c, NULL) == 0) {
			if (write(p[1], "x", 1) != 1)
				_exit(1);
			sleep(2);
			store_close(c);
		}
		_exit(0);
	}
	char x;
	if (read(p[0], &x, 1) != 1)
		diag("child did not report");
	setenv("QUIRE_BUSY_MS", "300", 1);
	ok(store_open(dir, STORE_WRITE, "t", &s, &err) != 0 && strstr(err, "holder-cmd") &&
	    strstr(err, "pid"), "a second writer is told who holds the library");
	diag("%s", err ? err : "");
	free(err);
	err = NULL;
	ok(store_open(dir, STORE_READ, "t", &s, &err) == 0, "a reader is not blocked");
	struct store_doc *docs;
	size_t nd;
	ok(store_list(s, 0, &docs, &nd, &err) == 0, "the reader reads");
	store_docs_free(docs, nd);
	store_close(s);
	waitpid(pid, NULL, 0);
	unsetenv("QUIRE_BUSY_MS");
	close(p[0]);
	close(p[1]);
	free(dir);
}

static void add_entry(struct archive *a, const char *name, const char *data)
{
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t)strlen(data));
	archive_write_header(a, e);
	archive_write_data(a, data, strlen(data));
	archive_entry_free(e);
}

static void test_epub(void)
{
	char *path = xasprintf("%s/book.epub", tmpdir), *dir = xasprintf("%s/lib4", tmpdir);
	char *err = NULL;
	struct archive *a = archive_write_new();
	archive_write_set_format_zip(a);
	archive_write_open_filename(a, path);
	/* Entries deliberately out of spine order and mimetype not first. */
	add_entry(a, "META-INF/container.xml", "<?xml version=\"1.0\"?><container version=\"1.0\" "
	    "xmlns=\"urn:oasis:names:tc:opendocument:xmlns:container\"><rootfiles><rootfile "
	    "full-path=\"OEBPS/content.opf\" media-type=\"application/oebps-package+xml\"/>"
	    "</rootfiles></container>");
	add_entry(a, "OEBPS/text/ch1.xhtml", "<html xmlns=\"http://www.w3.org/1999/xhtml\"><body>"
	    "<h1>First Heading</h1><p>Alpha words.</p></body></html>");
	add_entry(a, "OEBPS/text/ch2.xhtml", "<html xmlns=\"http://www.w3.org/1999/xhtml\"><body>"
	    "<p>Beta words come first.</p><h2>Inner</h2><p>More.</p></body></html>");
	add_entry(a, "mimetype", "application/epub+zip");
	add_entry(a, "OEBPS/nav.xhtml", "<html xmlns=\"http://www.w3.org/1999/xhtml\" "
	    "xmlns:epub=\"http://www.idpf.org/2007/ops\"><body><nav epub:type=\"toc\"><ol>"
	    "<li><a href=\"text/ch2.xhtml\">Chapter Beta</a></li><li><a href=\"text/ch1.xhtml#x\">"
	    "Chapter Alpha</a></li></ol></nav></body></html>");
	add_entry(a, "OEBPS/content.opf", "<?xml version=\"1.0\"?><package xmlns=\"http://www.idpf.org/"
	    "2007/opf\" version=\"3.0\"><metadata xmlns:dc=\"http://purl.org/dc/elements/1.1/\">"
	    "<dc:title>Test Book</dc:title></metadata><manifest><item id=\"nav\" href=\"nav.xhtml\" "
	    "media-type=\"application/xhtml+xml\" properties=\"nav\"/><item id=\"c1\" "
	    "href=\"text/ch1.xhtml\" media-type=\"application/xhtml+xml\"/><item id=\"c2\" "
	    "href=\"text/ch2.xhtml\" media-type=\"application/xhtml+xml\"/></manifest><spine>"
	    "<itemref idref=\"c2\"/><itemref idref=\"c1\"/></spine></package>");
	archive_write_close(a);
	archive_write_free(a);
	struct store *s;
	struct events ev;
	store_open(dir, STORE_WRITE | STORE_CREATE, "t", &s, &err);
	ok(ingest(s, path, 0, &ev) == 0 && ev.added == 1, "EPUB ingested as one document");
	struct store_doc d;
	ok(store_find_doc(s, "Test Book", &d, &err) == 0 && strcmp(d.format, "epub") == 0,
	    "EPUB title from dc:title");
	char *t;
	size_t tl;
	store_text_range(s, d.id, 0, UINT64_MAX, &t, &tl, &err);
	is_str(t, "Beta words come first.\n\nInner\n\nMore.\n\nFirst Heading\n\nAlpha words.\n",
	    "text in spine order, not entry order");
	/* Provenance: words map back into their spine file. */
	const char *w = t ? strstr(t, "Alpha") : NULL;
	char *file = NULL;
	uint64_t src = 0;
	ok(w && store_source_location(s, d.id, (uint64_t)(w - t), &file, &src, &err) == 0 &&
	    file && strcmp(file, "OEBPS/text/ch1.xhtml") == 0 && src == 74,
	    "\"Alpha\" maps to byte 74 of OEBPS/text/ch1.xhtml");
	free(file);
	file = NULL;
	w = t ? strstr(t, "Inner") : NULL;
	ok(w && store_source_location(s, d.id, (uint64_t)(w - t), &file, &src, &err) == 0 &&
	    file && strcmp(file, "OEBPS/text/ch2.xhtml") == 0 && src == 82,
	    "\"Inner\" maps to byte 82 of OEBPS/text/ch2.xhtml");
	free(file);
	free(t);
	struct store_section *sv;
	size_t ns;
	store_sections(s, d.id, &sv, &ns, &err);
	ok(ns == 4 && strcmp(sv[0].title, "Chapter Beta") == 0 && sv[0].level == 1 &&
	    strcmp(sv[1].title, "Inner") == 0 && sv[1].parent == sv[0].id &&
	    strcmp(sv[2].title, "Chapter Alpha") == 0, "chapter titles from the nav document");
	store_sections_free(sv, ns);
	store_doc_free(&d);
	store_close(s);
	free(path);
	free(dir);
}

int main(void)
{
	if (tap_tmpdir("t-store", tmpdir, sizeof tmpdir) != 0) {
		skip_all("cannot make a temporary folder");
		return 0;
	}
	test_schema();
	test_library();
	test_html_source();
	test_lock();
	test_epub();
	tap_tmpdir_remove(tmpdir);
	done_testing();
	return exit_status();
}
