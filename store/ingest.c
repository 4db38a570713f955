/* ingest.c: from paths to documents. Folders are walked in name order; files and archive
 * members are sniffed by the format table (formats.c: first bytes, never a name alone, except
 * for formats without magic); archives stream through libarchive, nested ones from memory to
 * a bounded depth; every member passes the limits (size, total, ratio, entries, names) before
 * it becomes a document. One document is one transaction (doc.c). */
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
#include "store/formats.h"
#include "store/sha256.h"

/* Bytes asked of libarchive at a time. */
#define READ_BLOCK 65536

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

/* The kind decides: what is not a document this build can read is skipped, not an error. */
static enum store_doc_status err_status(enum store_err kind)
{
	switch (kind) {
	case STORE_ERR_NOT_DOCUMENT:
	case STORE_ERR_UNSUPPORTED:
	case STORE_ERR_ENCRYPTED:
		return STORE_DOC_SKIPPED;
	default:
		return STORE_DOC_FAILED;
	}
}

static void report(struct ingest *g, enum store_doc_status status, enum store_err kind,
    const char *name, const char *msg, int64_t id, uint64_t text_bytes, uint64_t tokens,
    uint64_t sections)
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
		struct store_doc_event ev = { .status = status, .name = name, .message = msg,
			.doc_id = id, .text_bytes = text_bytes, .tokens = tokens,
			.sections = sections, .err = kind };
		g->o->on_doc(g->o->cb_ctx, &ev);
	}
}

/* A document skipped or failed, by its kind. */
static void report_err(struct ingest *g, enum store_err kind, const char *name,
    const char *msg)
{
	report(g, err_status(kind), kind, name, msg, 0, 0, 0, 0);
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

/* One document's bytes: a container to open, or a document to extract and store. name is
 * what the document was called (member or file name); returns -1 only on a library failure. */
static int ingest_bytes(struct ingest *g, const char *path, const char *entry,
    const char *name, const char *data, size_t len, int depth)
{
	char *disp = display_name(path, entry);
	char *err = NULL, *fallback = NULL;
	enum store_err kind = STORE_ERR_NONE;   /* set: reported at out with err */
	int64_t kind_id = 0;                    /* the stored document the failure is about */
	struct format_doc doc;
	int r = 0;
	memset(&doc, 0, sizeof doc);
	if (len == 0) {
		kind = STORE_ERR_NOT_DOCUMENT;
		err = xstrdup("empty file");
		goto out;
	}
	const struct format *f = format_sniff(name, (const unsigned char *)data, len);
	if (f->extract == NULL) {
		if (depth >= g->o->limits.max_depth) {
			kind = STORE_ERR_TOO_LARGE;
			err = xasprintf("archive nested deeper than %d levels; not opened",
			    g->o->limits.max_depth);
			goto out;
		}
		r = ingest_memory_archive(g, path, entry, data, len, depth + 1);
		goto out;
	}
	/* Before the lookup: a document this build cannot read is not looked for either. */
	const char *unreadable = f->unavailable ? f->unavailable() : NULL;
	if (unreadable) {
		kind = STORE_ERR_UNSUPPORTED;
		err = xstrdup(unreadable);
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
			kind = STORE_ERR_WRITE;
			kind_id = id;
			goto out;
		}
		char *m = same_source ? xasprintf("unchanged (document %lld)", (long long)id) :
		    xasprintf("same content as document %lld", (long long)id);
		report(g, STORE_DOC_UNCHANGED, STORE_ERR_NONE, disp, m, id, 0, tokens, 0);
		free(m);
		goto out;
	}

	kind = f->extract(name, data, len, &g->o->limits, &doc, &err);
	if (kind != STORE_ERR_NONE)
		goto out;
	if (doc.text.len == 0) {
		kind = STORE_ERR_NOT_DOCUMENT;
		err = xstrdup("no text in it");
		goto out;
	}
	if (doc.text.len > g->o->limits.max_doc_bytes || doc.text.len > UINT32_MAX) {
		kind = STORE_ERR_TOO_LARGE;
		err = xasprintf("text is %zu bytes, more than the limit of %llu", doc.text.len,
		    (unsigned long long)g->o->limits.max_doc_bytes);
		goto out;
	}
	fallback = strip_compression(base_name(name));
	struct doc_in d = {
		.title = doc.title && *doc.title ? doc.title : fallback,
		.path = path,
		.entry = entry ? entry : "",
		.format = f->name,
		.encoding = doc.encoding,
		.sha256 = sha,
		.bytes = len,
		.text = doc.text.data,
		.text_len = doc.text.len,
		.lines = doc.lines,
		.map = doc.map,
		.map_len = doc.map_len,
		.files = doc.files,
		.n_files = doc.n_files,
		.secs = &doc.secs,
	};
	int64_t id;
	uint64_t tokens;
	progress(g, disp, 0);
	if (doc_write(g->s, &d, same_source, g->o->tokenize, g->o->tokenize_ctx,
	    g->o->fingerprint, &id, &tokens, &err) != 0) {
		int code = sqlite3_errcode(g->s->db) & 0xff;
		if (code == SQLITE_FULL || code == SQLITE_IOERR || code == SQLITE_CORRUPT ||
		    code == SQLITE_NOTADB || code == SQLITE_READONLY || code == SQLITE_BUSY)
			goto libfail;
		kind = STORE_ERR_WRITE;
		goto out;
	}
	report(g, same_source ? STORE_DOC_REPLACED : STORE_DOC_ADDED, STORE_ERR_NONE, disp,
	    doc.note, id, doc.text.len, tokens, doc.secs.n);
	goto out;
libfail:
	g->stop = 1;
	g->fatal = err;
	err = NULL;
	r = -1;
out:
	if (kind != STORE_ERR_NONE)
		report(g, err_status(kind), kind, disp, err ? err : "failed", kind_id, 0, 0, 0);
	format_doc_free(&doc);
	free(fallback);
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

/* A member's entry under its container: absolute names made relative, a bad name (bad is
 * why, or NULL) shown escaped. */
static char *member_entry(const char *container, const char *mname, const char *bad)
{
	char *shown = bad ? safe_name(mname) : NULL;
	const char *m = shown;
	if (!bad) {
		m = mname;
		while (*m == '/')
			m++;
	}
	char *entry = *container ? xasprintf("%s!/%s", container, m) : xstrdup(m);
	free(shown);
	return entry;
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

/* An open archive being read: what its members share. */
struct archive_walk {
	struct archive *a;
	const char *path;           /* the input given to ingest */
	const char *container;      /* the archive's own entry, "" for an input file */
	const char *name;           /* its file name: a raw member's name, less the suffix */
	uint64_t packed;            /* its size when read from memory; 0: libarchive counts */
	int depth;                  /* archives around its members */
	uint64_t produced;          /* its uncompressed bytes so far */
	char *block;                /* READ_BLOCK bytes to read into */
};

/* What the walk does after a member. */
enum walk_next {
	WALK_NEXT,                  /* read the next member */
	WALK_ABANDON,               /* leave the rest of this archive: a limit, or a fatal read */
	WALK_FAIL,                  /* the library failed: stop everything */
};

/* One member: its name and type checked, the limits applied while it is read into memory,
 * then handed to ingest_bytes. Every way out passes the one cleanup at out. */
static enum walk_next walk_member(struct ingest *g, struct archive_walk *w,
    struct archive_entry *e)
{
	struct archive *a = w->a;
	const struct store_limits *lim = &g->o->limits;
	struct buf data = BUF_INIT;
	char *member = NULL, *disp = NULL, *msg = NULL, *docname = NULL;
	const char *why = NULL;             /* the message, when it is a constant */
	enum store_err kind = STORE_ERR_NONE;
	enum walk_next next = WALK_NEXT;
	int skip = 0;                       /* leave its data unread */
	int raw = archive_format(a) == ARCHIVE_FORMAT_RAW;
	if (raw) {
		member = xstrdup(w->container);
	} else {
		const char *mname = archive_entry_pathname_utf8(e);
		if (mname == NULL)
			mname = archive_entry_pathname(e);
		why = bad_name(mname);
		member = member_entry(w->container, mname, why);
	}
	disp = display_name(w->path, member);
	if (why) {
		kind = STORE_ERR_MALFORMED;
		goto out;
	}
	int type = archive_entry_filetype(e);
	if (type == AE_IFDIR)
		goto out;
	if (++g->entries > lim->max_entries) {
		kind = STORE_ERR_TOO_LARGE;
		msg = xasprintf("more than %llu archive members; the rest not read",
		    (unsigned long long)lim->max_entries);
		next = WALK_ABANDON;
		goto out;
	}
	if (type == AE_IFLNK || archive_entry_hardlink(e) != NULL) {
		kind = STORE_ERR_NOT_DOCUMENT;
		why = "link inside an archive, not followed";
	} else if (type != AE_IFREG && type != 0) {
		/* ar members carry no file type (0); they are plain files. */
		kind = STORE_ERR_NOT_DOCUMENT;
		why = "not a regular file";
	} else if (archive_entry_is_encrypted(e)) {
		kind = STORE_ERR_ENCRYPTED;
		why = "encrypted member skipped";
	} else if (archive_entry_size_is_set(e) && archive_entry_size(e) > 0 &&
	    (uint64_t)archive_entry_size(e) > lim->max_doc_bytes) {
		kind = STORE_ERR_TOO_LARGE;
		msg = xasprintf("member is %lld bytes, more than the limit of %llu",
		    (long long)archive_entry_size(e), (unsigned long long)lim->max_doc_bytes);
	}
	if (kind != STORE_ERR_NONE) {
		skip = 1;
		goto out;
	}
	for (;;) {
		la_ssize_t n = archive_read_data(a, w->block, READ_BLOCK);
		if (n == 0)
			break;
		if (n < 0) {
			kind = STORE_ERR_MALFORMED;
			msg = xasprintf("%s: %s", archive_entry_is_encrypted(e) ?
			    "encrypted member" : "corrupt member", archive_error_string(a) ?
			    archive_error_string(a) : "read error");
			if (n == ARCHIVE_FATAL)
				next = WALK_ABANDON;
			break;
		}
		w->produced += (uint64_t)n;
		g->unpacked += (uint64_t)n;
		if (data.len + (size_t)n > lim->max_doc_bytes) {
			kind = STORE_ERR_TOO_LARGE;
			why = "member unpacks to more than the size limit";
			break;
		}
		if (g->unpacked > lim->max_total_bytes) {
			kind = STORE_ERR_TOO_LARGE;
			why = "total unpacked bytes over the limit; stopping";
			next = WALK_ABANDON;
			break;
		}
		uint64_t in = w->packed ? w->packed : (uint64_t)archive_filter_bytes(a, -1);
		if (w->produced > lim->ratio_floor && w->produced / (in ? in : 1) > lim->max_ratio) {
			kind = STORE_ERR_TOO_LARGE;
			msg = xasprintf("compression ratio over %u:1 (a zip bomb?); archive abandoned",
			    lim->max_ratio);
			next = WALK_ABANDON;
			break;
		}
		buf_append(&data, w->block, (size_t)n);
		progress(g, disp, 0);
		if (g->stop)
			break;
	}
	if (kind != STORE_ERR_NONE) {
		/* libarchive may learn only while reading that a member is encrypted: whatever
		 * stopped the read then, the member is skipped, not failed. */
		if (archive_entry_is_encrypted(e))
			kind = STORE_ERR_ENCRYPTED;
		goto out;
	}
	if (!g->stop) {
		const char *mbase = raw ? w->name : base_name(member);
		docname = raw ? strip_compression(mbase) : xstrdup(mbase);
		if (data.data == NULL)
			buf_append(&data, "", 0);
		if (ingest_bytes(g, w->path, member, docname, data.data, data.len, w->depth) != 0)
			next = WALK_FAIL;
	}
	progress(g, disp, 0);
out:
	if (kind != STORE_ERR_NONE)
		report_err(g, kind, disp, msg ? msg : why);
	if (skip)
		archive_read_data_skip(a);
	buf_free(&data);
	free(docname);
	free(msg);
	free(disp);
	free(member);
	return next;
}

/* Read every member of an open archive. container is the archive's own entry ("" for a
 * file given on the command line) and name its file name. */
static int walk_archive(struct ingest *g, struct archive *a, const char *path,
    const char *container, const char *name, uint64_t packed, int depth)
{
	struct archive_walk w = { .a = a, .path = path, .container = container, .name = name,
		.packed = packed, .depth = depth, .block = xmalloc(READ_BLOCK) };
	struct archive_entry *e;
	int r = 0, members = 0, broken = 0;
	while (!g->stop) {
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
			report_err(g, STORE_ERR_MALFORMED, disp, m);
			free(m);
			free(disp);
			broken = 1;
			break;
		}
		enum walk_next next = walk_member(g, &w, e);
		if (next == WALK_FAIL)
			r = -1;
		if (next != WALK_NEXT)
			break;
	}
	if (members == 0 && !broken && !g->stop) {
		/* A zip whose central directory is gone reads as empty: say so. */
		char *disp = display_name(path, container);
		report_err(g, STORE_ERR_MALFORMED, disp,
		    "no readable members (corrupt or empty archive)");
		free(disp);
	}
	free(w.block);
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
		report_err(g, STORE_ERR_MALFORMED, disp, m);
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
	unsigned char head[FORMAT_HEAD];
	char *err = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		report_err(g, STORE_ERR_IO, path, strerror(errno));
		return 0;
	}
	ssize_t n = pread(fd, head, sizeof head, 0);
	close(fd);
	if (n < 0) {
		report_err(g, STORE_ERR_IO, path, strerror(errno));
		return 0;
	}
	/* The head tells a container from a document; a document is read whole and sniffed
	 * again, on all its bytes, by ingest_bytes. */
	const struct format *f = format_sniff(path, head, (size_t)n);
	g->top = path;
	int r = 0;
	progress(g, path, 1);
	if (f->extract != NULL) {
		char *data;
		size_t len;
		if (file_read_all(path, g->o->limits.max_doc_bytes, &data, &len, &err) != 0) {
			report_err(g, size > g->o->limits.max_doc_bytes ? STORE_ERR_TOO_LARGE :
			    STORE_ERR_IO, path, err);
			free(err);
		} else {
			g->unpacked += len;
			r = ingest_bytes(g, path, "", base_name(path), data, len, 0);
			free(data);
		}
	} else {
		struct archive *a = archive_read_new();
		support_formats(a);
		if (archive_read_open_filename(a, path, READ_BLOCK) != ARCHIVE_OK) {
			char *m = xasprintf("cannot open archive: %s", archive_error_string(a));
			report_err(g, STORE_ERR_MALFORMED, path, m);
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
			report_err(g, STORE_ERR_IO, path, strerror(errno));
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
			report_err(g, STORE_ERR_IO, path, strerror(errno));
		return 0;
	}
	if (S_ISLNK(st.st_mode)) {
		/* Links to files are followed; links to folders are not (no cycles). */
		if (stat(path, &st) != 0 || S_ISDIR(st.st_mode)) {
			if (!count_only && dir_depth > 0)
				report_err(g, STORE_ERR_NOT_DOCUMENT, path,
				    "link to a folder, not followed");
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
			report_err(g, STORE_ERR_NOT_DOCUMENT, path, "not a regular file");
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
