/* ingest.c: from paths to documents. Folders are walked in name order; files and archive
 * members are sniffed by their first bytes (never trusted by name alone); archives stream
 * through libarchive, nested ones from memory to a bounded depth; every member passes the
 * limits (size, total, ratio, entries, names) before it becomes a document. One document is
 * one transaction (doc.c). */
#include "store/store-int.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/file.h"
#include "lib/util.h"
#include "store/epub.h"
#include "store/html.h"
#include "store/pdf.h"
#include "store/sections.h"
#include "store/sha256.h"
#include "store/text.h"

void store_limits_default(struct store_limits *l)
{
	l->max_total_bytes = 16ULL << 30;
	l->max_doc_bytes = 512ULL << 20;
	l->max_ratio = 200;
	l->ratio_floor = 8ULL << 20;
	l->max_depth = 4;
	l->max_entries = 1000000;
	l->max_line = 1 << 20;
}

struct ingest {
	struct store *s;
	const struct store_ingest_opts *o;
	struct store_ingest_stats *st;
	struct store_progress prog;
	uint64_t unpacked;          /* uncompressed bytes read so far in this call */
	uint64_t entries;           /* archive entries seen in this call */
	uint64_t top_done;          /* bytes of finished top-level inputs */
	const char *top;            /* absolute path of the input being read */
	struct archive *top_archive; /* when the input is an archive: its reader */
	double last_progress;       /* q_now() of the last progress call */
	int stop;                   /* cancelled or the library failed */
	char *fatal;                /* the library failure */
};

enum sniff { SNIFF_NONE, SNIFF_ARCHIVE, SNIFF_COMPRESSED, SNIFF_ZIP };

static enum sniff sniff(const unsigned char *p, size_t n)
{
	if (n >= 4 && p[0] == 'P' && p[1] == 'K' && ((p[2] == 3 && p[3] == 4) ||
	    (p[2] == 5 && p[3] == 6) || (p[2] == 7 && p[3] == 8)))
		return SNIFF_ZIP;
	if (n >= 2 && p[0] == 0x1f && (p[1] == 0x8b || p[1] == 0x9d))
		return SNIFF_COMPRESSED;     /* gzip (and dictzip), compress */
	if (n >= 4 && memcmp(p, "BZh", 3) == 0 && p[3] >= '1' && p[3] <= '9')
		return SNIFF_COMPRESSED;
	if (n >= 6 && memcmp(p, "\xfd" "7zXZ\0", 6) == 0)
		return SNIFF_COMPRESSED;
	if (n >= 4 && memcmp(p, "\x28\xb5\x2f\xfd", 4) == 0)
		return SNIFF_COMPRESSED;
	if (n >= 4 && memcmp(p, "\x04\x22\x4d\x18", 4) == 0)
		return SNIFF_COMPRESSED;
	if (n >= 6 && memcmp(p, "7z\xbc\xaf\x27\x1c", 6) == 0)
		return SNIFF_ARCHIVE;
	if (n >= 262 && memcmp(p + 257, "ustar", 5) == 0)
		return SNIFF_ARCHIVE;
	if (n >= 6 && (memcmp(p, "070707", 6) == 0 || memcmp(p, "070701", 6) == 0 ||
	    memcmp(p, "070702", 6) == 0))
		return SNIFF_ARCHIVE;
	if (n >= 2 && ((p[0] == 0xc7 && p[1] == 0x71) || (p[0] == 0x71 && p[1] == 0xc7)))
		return SNIFF_ARCHIVE;        /* binary cpio */
	if (n >= 32774 && memcmp(p + 32769, "CD001", 5) == 0)
		return SNIFF_ARCHIVE;
	if (n >= 8 && memcmp(p, "!<arch>\n", 8) == 0)
		return SNIFF_ARCHIVE;
	if (n >= 4 && (memcmp(p, "MSCF", 4) == 0 || memcmp(p, "xar!", 4) == 0))
		return SNIFF_ARCHIVE;
	if (n >= 6 && memcmp(p, "Rar!\x1a\x07", 6) == 0)
		return SNIFF_ARCHIVE;
	return SNIFF_NONE;
}

static int has_suffix(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && strcasecmp(s + a - b, suffix) == 0;
}

static const char *base_name(const char *p)
{
	const char *s = strrchr(p, '/');
	return s && s[1] ? s + 1 : p;
}

/* "foo.txt.gz" -> "foo.txt" for single compressed files. */
static char *strip_compression(const char *name)
{
	static const char *const sfx[] = { ".gz", ".dz", ".bz2", ".xz", ".zst", ".lz4", ".Z",
		".lzma", NULL };
	for (const char *const *x = sfx; *x; x++)
		if (has_suffix(name, *x) && strlen(name) > strlen(*x))
			return xstrndup(name, strlen(name) - strlen(*x));
	return xstrdup(name);
}

static int is_epub(const char *name, const unsigned char *p, size_t n)
{
	if (has_suffix(name, ".epub"))
		return 1;
	/* OCF: a stored "mimetype" member first (not all books obey, hence the name test). */
	return n >= 58 && memcmp(p + 30, "mimetypeapplication/epub+zip", 28) == 0;
}

static void report(struct ingest *g, enum store_doc_status status, const char *name,
    const char *msg, int64_t id, uint64_t text_bytes, uint64_t tokens, uint64_t sections)
{
	switch (status) {
	case STORE_DOC_ADDED: g->st->added++; break;
	case STORE_DOC_REPLACED: g->st->replaced++; break;
	case STORE_DOC_UNCHANGED: g->st->unchanged++; break;
	case STORE_DOC_SKIPPED: g->st->skipped++; break;
	case STORE_DOC_FAILED: g->st->failed++; g->prog.failed++; break;
	}
	g->st->text_bytes += text_bytes;
	g->st->tokens += tokens;
	g->prog.files++;
	g->prog.text_bytes += text_bytes;
	g->prog.tokens += tokens;
	if (g->o->on_doc) {
		struct store_doc_event ev = { status, name, msg, id, text_bytes, tokens, sections };
		g->o->on_doc(g->o->cb_ctx, &ev);
	}
}

static void progress(struct ingest *g, const char *current, int force)
{
	if (g->top_archive)
		g->prog.bytes_in = g->top_done + (uint64_t)archive_filter_bytes(g->top_archive, -1);
	g->prog.current = current;
	double now = q_now();
	if (!force && now - g->last_progress < 0.2)
		return;
	g->last_progress = now;
	if (g->o->on_progress && g->o->on_progress(g->o->cb_ctx, &g->prog)) {
		g->stop = 1;
		g->st->cancelled = 1;
	}
}

/* Displayed name: path, or path!/entry. */
static char *display_name(const char *path, const char *entry)
{
	return entry && *entry ? xasprintf("%s!/%s", path, entry) : xstrdup(path);
}

static int lookup(struct ingest *g, const char *path, const char *entry, const char *sha,
    int64_t *same_source, int *same_content, int64_t *dup_id, char **err)
{
	sqlite3_stmt *st;
	*same_source = 0;
	*same_content = 0;
	*dup_id = 0;
	if (store_prepare(g->s, "SELECT id, sha256 FROM documents WHERE path = ? AND entry = ?",
	    &st, err) != 0)
		return -1;
	sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, entry, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*same_source = sqlite3_column_int64(st, 0);
		*same_content = strcmp((const char *)sqlite3_column_text(st, 1), sha) == 0;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_sql_error(g->s, err, "look up document");
	if (*same_source)
		return 0;
	if (store_prepare(g->s, "SELECT id FROM documents WHERE sha256 = ? LIMIT 1", &st, err))
		return -1;
	sqlite3_bind_text(st, 1, sha, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*dup_id = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_sql_error(g->s, err, "look up content");
	return 0;
}

/* An already stored document: add the tokens it lacks for this tokenizer. */
static int tokens_for_existing(struct ingest *g, int64_t id, uint64_t *tokens, char **err)
{
	int has;
	*tokens = 0;
	if (!g->o->tokenize)
		return 0;
	if (doc_has_tokens(g->s, id, g->o->fingerprint, &has, err) != 0)
		return -1;
	if (has)
		return 0;
	char *text;
	size_t len;
	if (doc_text(g->s, id, &text, &len, err) != 0)
		return -1;
	int r = -1;
	if (len == 0) {
		r = 0;
	} else if (store_begin(g->s, err) == 0) {
		if (doc_tokenize(g->s, id, text, len, g->o->tokenize, g->o->tokenize_ctx,
		    g->o->fingerprint, tokens, err) == 0 && store_commit(g->s, err) == 0)
			r = 0;
		else
			store_rollback(g->s);
	}
	free(text);
	return r;
}

static int ingest_memory_archive(struct ingest *g, const char *path, const char *entry,
    const char *data, size_t len, int depth);

static int is_html(const char *name, const char *p, size_t n)
{
	if (has_suffix(name, ".html") || has_suffix(name, ".htm") || has_suffix(name, ".xhtml") ||
	    has_suffix(name, ".xht"))
		return 1;
	size_t i = 0;
	if (n >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
		i = 3;
	while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
		i++;
	return (n - i >= 14 && strncasecmp(p + i, "<!doctype html", 14) == 0) ||
	    (n - i >= 5 && strncasecmp(p + i, "<html", 5) == 0);
}

static int is_markdown(const char *name)
{
	return has_suffix(name, ".md") || has_suffix(name, ".markdown") ||
	    has_suffix(name, ".mkd") || has_suffix(name, ".mdown");
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

/* One document's bytes: an archive to open, or text to extract and store. name is what the
 * document was called (member or file name); returns -1 only on a library failure. */
static int ingest_bytes(struct ingest *g, const char *path, const char *entry,
    const char *name, const char *data, size_t len, int depth)
{
	char *disp = display_name(path, entry);
	const unsigned char *u = (const unsigned char *)data;
	enum sniff sn = sniff(u, len);
	int r = 0;
	char *err = NULL;
	if (len == 0) {
		report(g, STORE_DOC_SKIPPED, disp, "empty file", 0, 0, 0, 0);
		goto out;
	}
	if (sn != SNIFF_NONE && !(sn == SNIFF_ZIP && is_epub(name, u, len))) {
		if (depth >= g->o->limits.max_depth) {
			char *m = xasprintf("archive nested deeper than %d levels; not opened",
			    g->o->limits.max_depth);
			report(g, STORE_DOC_FAILED, disp, m, 0, 0, 0, 0);
			free(m);
			goto out;
		}
		r = ingest_memory_archive(g, path, entry, data, len, depth + 1);
		goto out;
	}
	if (pdf_sniff(data, len) && !pdf_supported()) {
		report(g, STORE_DOC_SKIPPED, disp, "PDF is not supported: this quire was built "
		    "without PDF support (configure --with-pdf, needs libpoppler-glib-dev)", 0, 0, 0, 0);
		goto out;
	}
	char sha[65];
	sha256_hex(data, len, sha);
	int64_t same_source, dup;
	int same_content;
	if (lookup(g, path, entry, sha, &same_source, &same_content, &dup, &err) != 0)
		goto libfail;
	if ((same_source && same_content) || (!same_source && dup)) {
		int64_t id = same_source ? same_source : dup;
		uint64_t tokens;
		if (tokens_for_existing(g, id, &tokens, &err) != 0) {
			report(g, STORE_DOC_FAILED, disp, err, id, 0, 0, 0);
			goto out;
		}
		char *m = same_source ? xasprintf("unchanged (document %lld)", (long long)id) :
		    xasprintf("same content as document %lld", (long long)id);
		report(g, STORE_DOC_UNCHANGED, disp, m, id, 0, tokens, 0);
		free(m);
		goto out;
	}

	struct buf text = BUF_INIT;
	struct sections secs = { 0 };
	struct text_norm tn;
	struct html_map hmap = { 0 };
	struct epub_map emap = { 0 };
	int have_tn = 0;
	char *title = NULL;
	const char *format, *encoding;
	uint64_t lines;
	if (sn == SNIFF_ZIP) {
		format = "epub";
		encoding = "utf-8";
		if (epub_extract(data, len, &g->o->limits, &text, &secs, &title, &emap, &err) != 0)
			goto docfail;
		sections_finish(&secs, text.data ? text.data : "", text.len);
	} else if (pdf_sniff(data, len)) {
		format = "pdf";
		encoding = "utf-8";
		if (pdf_extract(data, len, &text, &secs, &title, &err) != 0) {
			if (strncmp(err, "encrypted", 9) == 0) {
				report(g, STORE_DOC_SKIPPED, disp, err, 0, 0, 0, 0);
				free(err);
				err = NULL;
				goto cleanup;
			}
			goto docfail;
		}
		sections_finish(&secs, text.data ? text.data : "", text.len);
	} else if (is_html(name, data, len)) {
		format = "html";
		encoding = "utf-8";
		if (text_is_binary(data, len)) {
			err = xstrdup("binary file (NUL bytes or control characters), not HTML");
			goto docfail;
		}
		if (html_extract(data, len, &text, &secs, 0, &title, &hmap, &err) != 0)
			goto docfail;
		sections_finish(&secs, text.data ? text.data : "", text.len);
	} else {
		format = is_markdown(name) ? "markdown" : "text";
		if (text_normalize(data, len, g->o->limits.max_line, &tn, &err) != 0) {
			if (strncmp(err, "binary file", 11) == 0) {
				report(g, STORE_DOC_SKIPPED, disp, err, 0, 0, 0, 0);
				free(err);
				err = NULL;
				goto cleanup;
			}
			goto docfail;
		}
		have_tn = 1;
		encoding = text_encoding_name(tn.enc);
		text = tn.text;
		memset(&tn.text, 0, sizeof tn.text);
		if (*format == 'm') {
			sections_detect_markdown(text.data, text.len, &secs);
			for (size_t i = 0; i < secs.n && !title; i++)
				if (secs.v[i].level == 1)
					title = xstrdup(secs.v[i].title);
		} else {
			sections_detect_text(text.data, text.len, &secs);
		}
	}
	if (text.data == NULL)
		buf_append(&text, "", 0);
	if (text.len == 0) {
		report(g, STORE_DOC_SKIPPED, disp, "no text in it", 0, 0, 0, 0);
		goto cleanup;
	}
	if (text.len > g->o->limits.max_doc_bytes || text.len > UINT32_MAX) {
		err = xasprintf("text is %zu bytes, more than the limit of %llu", text.len,
		    (unsigned long long)g->o->limits.max_doc_bytes);
		goto docfail;
	}
	lines = have_tn ? tn.lines : count_lines(text.data, text.len);
	char *fallback = strip_compression(base_name(name));
	struct doc_in d = {
		.title = title && *title ? title : fallback,
		.path = path,
		.entry = entry ? entry : "",
		.format = format,
		.encoding = encoding,
		.sha256 = sha,
		.bytes = len,
		.text = text.data,
		.text_len = text.len,
		.lines = lines,
		.map = have_tn && !tn.identical ? tn.map : hmap.n ? hmap.v :
		    emap.notes.n ? emap.notes.v : NULL,
		.map_len = have_tn && !tn.identical ? tn.map_len : hmap.n ? hmap.n : emap.notes.n,
		.files = emap.notes.n ? emap.files : NULL,
		.n_files = emap.notes.n ? emap.n_files : 0,
		.secs = &secs,
	};
	int64_t id;
	uint64_t tokens;
	progress(g, disp, 0);
	int wr = doc_write(g->s, &d, same_source, g->o->tokenize, g->o->tokenize_ctx,
	    g->o->fingerprint, &id, &tokens, &err);
	free(fallback);
	if (wr != 0) {
		int code = sqlite3_errcode(g->s->db) & 0xff;
		if (code == SQLITE_FULL || code == SQLITE_IOERR || code == SQLITE_CORRUPT ||
		    code == SQLITE_NOTADB || code == SQLITE_READONLY || code == SQLITE_BUSY)
			goto libfail;
		goto docfail;
	}
	if (have_tn && tn.enc == TEXT_CP1252) {
		report(g, same_source ? STORE_DOC_REPLACED : STORE_DOC_ADDED, disp,
		    "not UTF-8: read as Windows-1252", id, text.len, tokens, secs.n);
	} else {
		report(g, same_source ? STORE_DOC_REPLACED : STORE_DOC_ADDED, disp, NULL, id,
		    text.len, tokens, secs.n);
	}
	goto cleanup;
docfail:
	report(g, STORE_DOC_FAILED, disp, err ? err : "failed", 0, 0, 0, 0);
	free(err);
	err = NULL;
cleanup:
	buf_free(&text);
	sections_free(&secs);
	html_map_free(&hmap);
	epub_map_free(&emap);
	if (have_tn)
		text_norm_free(&tn);
	free(title);
	goto out;
libfail:
	g->stop = 1;
	g->fatal = err;
	err = NULL;
	r = -1;
out:
	free(err);
	free(disp);
	return r;
}

/* Member names must be relative paths of printable characters without "..". */
static const char *bad_name(const char *name)
{
	if (name == NULL || *name == '\0')
		return "empty member name";
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return "member name has control characters";
	for (const char *p = name; (p = strstr(p, "..")) != NULL; p += 2)
		if ((p == name || p[-1] == '/' || p[-1] == '\\') &&
		    (p[2] == '\0' || p[2] == '/' || p[2] == '\\'))
			return "member name contains \"..\"";
	return NULL;
}

/* A printable copy of a hostile name for messages. */
static char *safe_name(const char *name)
{
	struct buf b = BUF_INIT;
	for (const unsigned char *p = (const unsigned char *)(name ? name : ""); *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			buf_printf(&b, "\\x%02x", *p);
		else
			buf_append_char(&b, (char)*p);
	}
	if (b.data == NULL)
		buf_append(&b, "", 0);
	return buf_steal(&b);
}

static void support_formats(struct archive *a)
{
	archive_read_support_filter_all(a);
	archive_read_support_format_tar(a);
	archive_read_support_format_gnutar(a);
	archive_read_support_format_zip(a);
	archive_read_support_format_7zip(a);
	archive_read_support_format_cpio(a);
	archive_read_support_format_iso9660(a);
	archive_read_support_format_ar(a);
	archive_read_support_format_cab(a);
	archive_read_support_format_rar(a);
	archive_read_support_format_rar5(a);
	archive_read_support_format_xar(a);
	archive_read_support_format_lha(a);
	archive_read_support_format_raw(a);    /* single compressed files: gz, bz2, xz, zst, dz */
}

/* Read every member of an open archive. container is the archive's own entry ("" for a
 * file given on the command line) and name its file name. */
static int walk_archive(struct ingest *g, struct archive *a, const char *path,
    const char *container, const char *name, uint64_t packed, int depth)
{
	struct archive_entry *e;
	uint64_t produced = 0;               /* this archive's uncompressed bytes */
	char *block = xmalloc(65536);
	int r = 0, members = 0, broken = 0;
	for (;;) {
		if (g->stop)
			break;
		int rc = archive_read_next_header(a, &e);
		if (rc == ARCHIVE_EOF)
			break;
		members++;
		if (rc == ARCHIVE_RETRY)
			continue;
		if (rc < ARCHIVE_WARN) {
			char *disp = display_name(path, container);
			char *m = xasprintf("corrupt or unreadable archive: %s",
			    archive_error_string(a) ? archive_error_string(a) : "read error");
			report(g, STORE_DOC_FAILED, disp, m, 0, 0, 0, 0);
			free(m);
			free(disp);
			broken = 1;
			break;
		}
		int raw = archive_format(a) == ARCHIVE_FORMAT_RAW;
		const char *mname = archive_entry_pathname_utf8(e);
		if (mname == NULL)
			mname = archive_entry_pathname(e);
		char *member;
		if (raw) {
			member = xstrdup(container);
		} else {
			const char *why = bad_name(mname);
			char *sn = safe_name(mname);
			while (!why && *mname == '/')
				mname++;                 /* absolute names become relative */
			member = *container ? xasprintf("%s!/%s", container, why ? sn : mname) :
			    xstrdup(why ? sn : mname);
			free(sn);
			if (why) {
				char *disp = display_name(path, member);
				report(g, STORE_DOC_FAILED, disp, why, 0, 0, 0, 0);
				free(disp);
				free(member);
				continue;
			}
		}
		char *disp = display_name(path, member);
		int type = archive_entry_filetype(e);
		if (type == AE_IFDIR) {
			free(disp);
			free(member);
			continue;
		}
		if (++g->entries > g->o->limits.max_entries) {
			char *m = xasprintf("more than %llu archive members; the rest not read",
			    (unsigned long long)g->o->limits.max_entries);
			report(g, STORE_DOC_FAILED, disp, m, 0, 0, 0, 0);
			free(m);
			free(disp);
			free(member);
			break;
		}
		if (type == AE_IFLNK || archive_entry_hardlink(e) != NULL) {
			report(g, STORE_DOC_SKIPPED, disp, "link inside an archive, not followed", 0, 0,
			    0, 0);
			goto next;
		}
		/* ar members carry no file type; they are plain files. */
		if (type != AE_IFREG && type != 0) {
			report(g, STORE_DOC_SKIPPED, disp, "not a regular file", 0, 0, 0, 0);
			goto next;
		}
		if (archive_entry_is_encrypted(e)) {
			report(g, STORE_DOC_SKIPPED, disp, "encrypted member skipped", 0, 0, 0, 0);
			goto next;
		}
		if (archive_entry_size_is_set(e) && archive_entry_size(e) > 0 &&
		    (uint64_t)archive_entry_size(e) > g->o->limits.max_doc_bytes) {
			char *m = xasprintf("member is %lld bytes, more than the limit of %llu",
			    (long long)archive_entry_size(e),
			    (unsigned long long)g->o->limits.max_doc_bytes);
			report(g, STORE_DOC_FAILED, disp, m, 0, 0, 0, 0);
			free(m);
			goto next;
		}
		struct buf data = BUF_INIT;
		const char *fail = NULL;
		char *failmsg = NULL;
		int abandon = 0;
		for (;;) {
			la_ssize_t n = archive_read_data(a, block, 65536);
			if (n == 0)
				break;
			if (n < 0) {
				failmsg = xasprintf("%s: %s", archive_entry_is_encrypted(e) ?
				    "encrypted member" : "corrupt member", archive_error_string(a) ?
				    archive_error_string(a) : "read error");
				abandon = n == ARCHIVE_FATAL;
				break;
			}
			produced += (uint64_t)n;
			g->unpacked += (uint64_t)n;
			if (data.len + (size_t)n > g->o->limits.max_doc_bytes) {
				fail = "member unpacks to more than the size limit";
				break;
			}
			if (g->unpacked > g->o->limits.max_total_bytes) {
				fail = "total unpacked bytes over the limit; stopping";
				abandon = 1;
				break;
			}
			uint64_t in = packed ? packed : (uint64_t)archive_filter_bytes(a, -1);
			if (produced > g->o->limits.ratio_floor &&
			    produced / (in ? in : 1) > g->o->limits.max_ratio) {
				failmsg = xasprintf("compression ratio over %u:1 (a zip bomb?); archive "
				    "abandoned", g->o->limits.max_ratio);
				abandon = 1;
				break;
			}
			buf_append(&data, block, (size_t)n);
			progress(g, disp, 0);
			if (g->stop)
				break;
		}
		if (fail || failmsg) {
			report(g, archive_entry_is_encrypted(e) ? STORE_DOC_SKIPPED : STORE_DOC_FAILED,
			    disp, failmsg ? failmsg : fail, 0, 0, 0, 0);
			free(failmsg);
			buf_free(&data);
			free(disp);
			free(member);
			if (abandon)
				break;
			continue;
		}
		if (!g->stop) {
			const char *mbase = raw ? name : base_name(member);
			char *docname = raw ? strip_compression(mbase) : xstrdup(mbase);
			if (data.data == NULL)
				buf_append(&data, "", 0);
			r = ingest_bytes(g, path, member, docname, data.data, data.len, depth);
			free(docname);
		}
		buf_free(&data);
		progress(g, disp, 0);
		if (r != 0) {
			free(disp);
			free(member);
			break;
		}
		free(disp);
		free(member);
		continue;
next:
		archive_read_data_skip(a);
		free(disp);
		free(member);
	}
	if (members == 0 && !broken && !g->stop) {
		/* A zip whose central directory is gone reads as empty: say so. */
		char *disp = display_name(path, container);
		report(g, STORE_DOC_FAILED, disp, "no readable members (corrupt or empty archive)",
		    0, 0, 0, 0);
		free(disp);
	}
	free(block);
	return r;
}

static int ingest_memory_archive(struct ingest *g, const char *path, const char *entry,
    const char *data, size_t len, int depth)
{
	struct archive *a = archive_read_new();
	support_formats(a);
	int r = 0;
	if (archive_read_open_memory(a, data, len) != ARCHIVE_OK) {
		char *disp = display_name(path, entry);
		char *m = xasprintf("cannot open archive: %s", archive_error_string(a));
		report(g, STORE_DOC_FAILED, disp, m, 0, 0, 0, 0);
		free(m);
		free(disp);
	} else {
		/* Raw single-file members keep the outer entry as their own. */
		r = walk_archive(g, a, path, entry ? entry : "", base_name(entry), len, depth);
	}
	archive_read_free(a);
	return r;
}

static int ingest_file(struct ingest *g, const char *path, uint64_t size)
{
	unsigned char head[32800];
	char *err = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		report(g, STORE_DOC_FAILED, path, strerror(errno), 0, 0, 0, 0);
		return 0;
	}
	ssize_t n = pread(fd, head, sizeof head, 0);
	close(fd);
	if (n < 0) {
		report(g, STORE_DOC_FAILED, path, strerror(errno), 0, 0, 0, 0);
		return 0;
	}
	enum sniff sn = sniff(head, (size_t)n);
	g->top = path;
	int r = 0;
	progress(g, path, 1);
	if (sn == SNIFF_NONE || (sn == SNIFF_ZIP && is_epub(path, head, (size_t)n))) {
		char *data;
		size_t len;
		if (file_read_all(path, g->o->limits.max_doc_bytes, &data, &len, &err) != 0) {
			report(g, STORE_DOC_FAILED, path, err, 0, 0, 0, 0);
			free(err);
		} else {
			g->unpacked += len;
			r = ingest_bytes(g, path, "", base_name(path), data, len, 0);
			free(data);
		}
	} else {
		struct archive *a = archive_read_new();
		support_formats(a);
		if (archive_read_open_filename(a, path, 65536) != ARCHIVE_OK) {
			char *m = xasprintf("cannot open archive: %s", archive_error_string(a));
			report(g, STORE_DOC_FAILED, path, m, 0, 0, 0, 0);
			free(m);
		} else {
			g->top_archive = a;
			r = walk_archive(g, a, path, "", base_name(path), 0, 1);
			g->top_archive = NULL;
		}
		archive_read_free(a);
	}
	g->top_done += size;
	g->prog.bytes_in = g->top_done;
	progress(g, path, 1);
	return r;
}

static int walk_path(struct ingest *g, const char *path, int dir_depth, int count_only,
    uint64_t *total);

static int walk_dir(struct ingest *g, const char *path, int dir_depth, int count_only,
    uint64_t *total)
{
	struct dirent **names;
	int n = scandir(path, &names, NULL, alphasort);
	if (n < 0) {
		if (!count_only)
			report(g, STORE_DOC_FAILED, path, strerror(errno), 0, 0, 0, 0);
		return 0;
	}
	int r = 0;
	for (int i = 0; i < n; i++) {
		const char *nm = names[i]->d_name;
		if (r == 0 && !g->stop && nm[0] != '.') {
			char *child = xasprintf("%s/%s", path, nm);
			r = walk_path(g, child, dir_depth + 1, count_only, total);
			free(child);
		}
		free(names[i]);
	}
	free(names);
	return r;
}

static int walk_path(struct ingest *g, const char *path, int dir_depth, int count_only,
    uint64_t *total)
{
	struct stat st;
	if (lstat(path, &st) != 0) {
		if (!count_only)
			report(g, STORE_DOC_FAILED, path, strerror(errno), 0, 0, 0, 0);
		return 0;
	}
	if (S_ISLNK(st.st_mode)) {
		/* Links to files are followed; links to folders are not (no cycles). */
		if (stat(path, &st) != 0 || S_ISDIR(st.st_mode)) {
			if (!count_only && dir_depth > 0)
				report(g, STORE_DOC_SKIPPED, path, "link to a folder, not followed", 0, 0,
				    0, 0);
			if (dir_depth > 0 || stat(path, &st) != 0)
				return 0;
		}
	}
	if (S_ISDIR(st.st_mode)) {
		if (dir_depth > 64)
			return 0;
		return walk_dir(g, path, dir_depth, count_only, total);
	}
	if (!S_ISREG(st.st_mode)) {
		if (!count_only)
			report(g, STORE_DOC_SKIPPED, path, "not a regular file", 0, 0, 0, 0);
		return 0;
	}
	if (count_only) {
		*total += (uint64_t)st.st_size;
		return 0;
	}
	return ingest_file(g, path, (uint64_t)st.st_size);
}

int store_ingest(struct store *s, char *const *paths, int n, const struct store_ingest_opts *o,
    struct store_ingest_stats *st, char **err)
{
	struct ingest g;
	memset(&g, 0, sizeof g);
	memset(st, 0, sizeof *st);
	g.s = s;
	g.o = o;
	g.st = st;
	if (store_lock(s, err) != 0)
		return -1;
	uint64_t total = 0;
	char **abs = xcalloc((size_t)n + 1, sizeof *abs);
	for (int i = 0; i < n; i++) {
		char *rp = realpath(paths[i], NULL);
		abs[i] = rp ? rp : xstrdup(paths[i]);
		walk_path(&g, abs[i], 0, 1, &total);
	}
	g.prog.bytes_total = total;
	int r = 0;
	for (int i = 0; i < n && r == 0 && !g.stop; i++)
		r = walk_path(&g, abs[i], 0, 0, NULL);
	progress(&g, NULL, 1);
	for (int i = 0; i < n; i++)
		free(abs[i]);
	free(abs);
	if (g.fatal) {
		q_error(err, "%s", g.fatal);
		free(g.fatal);
		return -1;
	}
	return r;
}

int store_add_tokens(struct store *s, store_tokenize_fn tokenize, void *ctx,
    uint64_t fingerprint, uint64_t *docs_done, char **err)
{
	sqlite3_stmt *st;
	*docs_done = 0;
	if (store_lock(s, err) != 0)
		return -1;
	if (store_prepare(s, "SELECT id FROM documents WHERE id NOT IN (SELECT doc_id FROM corpus "
	    "WHERE fingerprint = ? AND removed = 0) ORDER BY id", &st, err) != 0)
		return -1;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)fingerprint);
	int64_t *ids = NULL;
	size_t n = 0, cap = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			ids = xreallocarray(ids, cap, sizeof *ids);
		}
		ids[n++] = sqlite3_column_int64(st, 0);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		free(ids);
		return store_sql_error(s, err, "list documents");
	}
	struct store_ingest_opts o = { .tokenize = tokenize, .tokenize_ctx = ctx,
		.fingerprint = fingerprint };
	struct store_ingest_stats stats = { 0 };
	struct ingest g = { .s = s, .o = &o, .st = &stats };
	for (size_t i = 0; i < n; i++) {
		uint64_t tokens;
		if (tokens_for_existing(&g, ids[i], &tokens, err) != 0) {
			free(ids);
			return -1;
		}
		(*docs_done)++;
	}
	free(ids);
	return 0;
}
