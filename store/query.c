/* query.c: reading the library: document lists and lookups, exact text of byte and line
 * ranges, offsets to lines, sections and source offsets, full-text search, corpus order and
 * tokens. */
#include "store/store-int.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/util.h"

void store_doc_free(struct store_doc *d)
{
	free(d->title);
	free(d->path);
	free(d->entry);
	free(d->format);
	free(d->encoding);
	free(d->sha256);
	memset(d, 0, sizeof *d);
}

void store_docs_free(struct store_doc *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		store_doc_free(&v[i]);
	free(v);
}

#define DOC_COLUMNS "d.id, d.title, d.path, d.entry, d.format, d.encoding, d.sha256, d.bytes, " \
	"d.text_bytes, d.lines, d.ingested, (SELECT COUNT(*) FROM sections s WHERE s.doc_id = d.id), " \
	"(SELECT n_tokens FROM corpus c WHERE c.doc_id = d.id AND c.removed = 0 AND " \
	"(?1 = 0 OR c.fingerprint = ?1) ORDER BY c.rowid LIMIT 1)"

static void doc_from_row(sqlite3_stmt *st, struct store_doc *d)
{
	d->id = sqlite3_column_int64(st, 0);
	d->title = store_column_text(st, 1);
	d->path = store_column_text(st, 2);
	d->entry = store_column_text(st, 3);
	d->format = store_column_text(st, 4);
	d->encoding = store_column_text(st, 5);
	d->sha256 = store_column_text(st, 6);
	d->bytes = (uint64_t)sqlite3_column_int64(st, 7);
	d->text_bytes = (uint64_t)sqlite3_column_int64(st, 8);
	d->lines = (uint64_t)sqlite3_column_int64(st, 9);
	d->ingested = sqlite3_column_int64(st, 10);
	d->sections = (uint64_t)sqlite3_column_int64(st, 11);
	d->tokenized = sqlite3_column_type(st, 12) != SQLITE_NULL;
	d->tokens = (uint64_t)sqlite3_column_int64(st, 12);
}

int store_list(struct store *s, uint64_t fingerprint, struct store_doc **docs, size_t *n,
    char **err)
{
	sqlite3_stmt *st;
	*docs = NULL;
	*n = 0;
	if (store_prepare(s, "SELECT " DOC_COLUMNS " FROM documents d ORDER BY d.id", &st, err))
		return -1;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)fingerprint);
	size_t cap = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap ? 2 * cap : 32;
			*docs = xreallocarray(*docs, cap, sizeof **docs);
		}
		doc_from_row(st, &(*docs)[(*n)++]);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		store_docs_free(*docs, *n);
		*docs = NULL;
		*n = 0;
		return store_sql_error(s, err, "list documents");
	}
	return 0;
}

/* Run a lookup that should match one document; returns matches found (0, 1 or 2 = many). */
static int find_one(struct store *s, const char *where, const char *arg, int64_t id,
    struct store_doc *out, char **err)
{
	sqlite3_stmt *st;
	char *sql = xasprintf("SELECT " DOC_COLUMNS " FROM documents d WHERE %s ORDER BY d.id "
	    "LIMIT 2", where);
	int r = store_prepare(s, sql, &st, err);
	free(sql);
	if (r != 0)
		return -1;
	sqlite3_bind_int64(st, 1, 0);
	if (arg)
		sqlite3_bind_text(st, 2, arg, -1, SQLITE_STATIC);
	else
		sqlite3_bind_int64(st, 2, id);
	int found = 0, rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (found == 0)
			doc_from_row(st, out);
		found++;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		if (found)
			store_doc_free(out);
		return store_sql_error(s, err, "find document");
	}
	if (found > 1)
		store_doc_free(out);
	return found;
}

int store_find_doc(struct store *s, const char *ref, struct store_doc *out, char **err)
{
	memset(out, 0, sizeof *out);
	int digits = *ref != '\0';
	for (const char *p = ref; *p; p++)
		if (!isdigit((unsigned char)*p))
			digits = 0;
	int f;
	if (digits && strlen(ref) < 19) {
		f = find_one(s, "d.id = ?2", NULL, strtoll(ref, NULL, 10), out, err);
		if (f < 0 || f == 1)
			return f < 0 ? -1 : 0;
	}
	static const char *const tries[] = {
		"d.title = ?2",
		"d.entry = ?2 OR d.path = ?2",
		"(d.entry = '' AND (d.path LIKE '%/' || ?2)) OR d.entry LIKE '%/' || ?2 "
		"OR d.entry = ?2",
		"substr(d.title, 1, length(?2)) = ?2",
	};
	for (size_t i = 0; i < Q_ARRAY_LEN(tries); i++) {
		f = find_one(s, tries[i], ref, 0, out, err);
		if (f < 0)
			return -1;
		if (f == 1)
			return 0;
		if (f > 1)
			return q_error(err, "%s: more than one document matches \"%s\"; use its id "
			    "(quire ls)", s->dir, ref);
	}
	return q_error(err, "%s: no document \"%s\" (quire ls lists them)", s->dir, ref);
}

int store_remove(struct store *s, int64_t doc_id, char **err)
{
	if (store_lock(s, err) != 0 || store_begin(s, err) != 0)
		return -1;
	sqlite3_stmt *st;
	if (store_prepare(s, "SELECT 1 FROM documents WHERE id = ?", &st, err) != 0) {
		store_rollback(s);
		return -1;
	}
	sqlite3_bind_int64(st, 1, doc_id);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW) {
		store_rollback(s);
		return q_error(err, "%s: no document %lld", s->dir, (long long)doc_id);
	}
	if (doc_delete(s, doc_id, err) != 0 || store_commit(s, err) != 0) {
		store_rollback(s);
		return -1;
	}
	return 0;
}

static int text_bytes_of(struct store *s, int64_t doc_id, uint64_t *len, char **err)
{
	sqlite3_stmt *st;
	if (store_prepare(s, "SELECT text_bytes FROM documents WHERE id = ?", &st, err) != 0)
		return -1;
	sqlite3_bind_int64(st, 1, doc_id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*len = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW)
		return q_error(err, "%s: no document %lld", s->dir, (long long)doc_id);
	return 0;
}

/* Chunks from the one holding byte `from` onwards, in order. */
static int chunks_from(struct store *s, int64_t doc_id, uint64_t from, sqlite3_stmt **st,
    char **err)
{
	if (store_prepare(s, "SELECT byte_start, line, body FROM chunks WHERE doc_id = ?1 AND "
	    "byte_start >= COALESCE((SELECT MAX(byte_start) FROM chunks WHERE doc_id = ?1 AND "
	    "byte_start <= ?2), 0) ORDER BY byte_start", st, err) != 0)
		return -1;
	sqlite3_bind_int64(*st, 1, doc_id);
	sqlite3_bind_int64(*st, 2, (sqlite3_int64)from);
	return 0;
}

int store_text_range(struct store *s, int64_t doc_id, uint64_t start, uint64_t end,
    char **text, size_t *len, char **err)
{
	uint64_t total = 0;
	if (text_bytes_of(s, doc_id, &total, err) != 0)
		return -1;
	if (end > total)
		end = total;
	if (start > end)
		return q_error(err, "%s: byte %llu is past the end of document %lld (%llu bytes)",
		    s->dir, (unsigned long long)start, (long long)doc_id,
		    (unsigned long long)total);
	sqlite3_stmt *st;
	if (chunks_from(s, doc_id, start, &st, err) != 0)
		return -1;
	struct buf b = BUF_INIT;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		uint64_t cs = (uint64_t)sqlite3_column_int64(st, 0);
		const char *body = sqlite3_column_blob(st, 2);
		uint64_t cl = (uint64_t)sqlite3_column_bytes(st, 2);
		if (cs >= end)
			break;
		uint64_t a = start > cs ? start - cs : 0;
		uint64_t z = end - cs < cl ? end - cs : cl;
		if (z > a)
			buf_append(&b, body + a, (size_t)(z - a));
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		buf_free(&b);
		return store_sql_error(s, err, "read text");
	}
	*len = b.len;
	*text = buf_steal(&b);
	return 0;
}

int store_line_range(struct store *s, int64_t doc_id, uint64_t first, uint64_t last,
    uint64_t *start, uint64_t *end, char **err)
{
	if (first == 0 || last < first)
		return q_error(err, "%s: bad line range %llu-%llu", s->dir,
		    (unsigned long long)first, (unsigned long long)last);
	sqlite3_stmt *st;
	if (store_prepare(s, "SELECT byte_start, line, body FROM chunks WHERE doc_id = ?1 AND "
	    "byte_start >= COALESCE((SELECT MAX(byte_start) FROM chunks WHERE doc_id = ?1 AND "
	    "line < ?2), 0) ORDER BY byte_start", &st, err) != 0)
		return -1;
	sqlite3_bind_int64(st, 1, doc_id);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)first);
	int found_start = first == 1, rc;
	uint64_t total = 0, line = 0;
	*start = 0;
	*end = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		uint64_t cs = (uint64_t)sqlite3_column_int64(st, 0);
		if (line == 0)
			line = (uint64_t)sqlite3_column_int64(st, 1);
		const char *body = sqlite3_column_blob(st, 2);
		uint64_t cl = (uint64_t)sqlite3_column_bytes(st, 2);
		total = cs + cl;
		for (uint64_t i = 0; i < cl; i++) {
			if (body[i] != '\n')
				continue;
			if (line == last) {
				*end = cs + i + 1;
				sqlite3_finalize(st);
				return found_start ? 0 : q_error(err, "line range not found");
			}
			line++;
			if (line == first && !found_start) {
				*start = cs + i + 1;
				found_start = 1;
			}
		}
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return store_sql_error(s, err, "read lines");
	if (!found_start || (*start >= total && total > 0 && first > 1) || (total == 0))
		return q_error(err, "%s: line %llu is past the end of document %lld", s->dir,
		    (unsigned long long)first, (long long)doc_id);
	*end = total;                       /* last line without '\n', or last clamped */
	return 0;
}

int store_offset_line(struct store *s, int64_t doc_id, uint64_t off, uint64_t *line,
    char **err)
{
	sqlite3_stmt *st;
	if (store_prepare(s, "SELECT byte_start, line, body FROM chunks WHERE doc_id = ? AND "
	    "byte_start <= ? ORDER BY byte_start DESC LIMIT 1", &st, err) != 0)
		return -1;
	sqlite3_bind_int64(st, 1, doc_id);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)off);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_finalize(st);
		return q_error(err, "%s: document %lld has no text at byte %llu", s->dir,
		    (long long)doc_id, (unsigned long long)off);
	}
	uint64_t cs = (uint64_t)sqlite3_column_int64(st, 0);
	uint64_t l = (uint64_t)sqlite3_column_int64(st, 1);
	const char *body = sqlite3_column_blob(st, 2);
	uint64_t cl = (uint64_t)sqlite3_column_bytes(st, 2);
	if (off - cs > cl) {
		sqlite3_finalize(st);
		return q_error(err, "%s: byte %llu is past the end of document %lld", s->dir,
		    (unsigned long long)off, (long long)doc_id);
	}
	for (uint64_t i = 0; i < off - cs; i++)
		if (body[i] == '\n')
			l++;
	sqlite3_finalize(st);
	*line = l;
	return 0;
}

int store_section_at(struct store *s, int64_t doc_id, uint64_t off, char **title, char **err)
{
	sqlite3_stmt *st;
	*title = NULL;
	if (store_prepare(s, "SELECT title FROM sections WHERE doc_id = ? AND byte_start <= ?2 "
	    "AND byte_end > ?2 ORDER BY level DESC, byte_start DESC LIMIT 1", &st, err) != 0)
		return -1;
	sqlite3_bind_int64(st, 1, doc_id);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)off);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*title = store_column_text(st, 0);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_sql_error(s, err, "read sections");
	return 0;
}

static uint64_t get_le64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

int store_source_offset(struct store *s, int64_t doc_id, uint64_t off, uint64_t *src,
    char **err)
{
	char *file = NULL;
	int r = store_source_location(s, doc_id, off, &file, src, err);
	free(file);
	return r;
}

int store_source_location(struct store *s, int64_t doc_id, uint64_t off, char **file,
    uint64_t *src, char **err)
{
	*file = NULL;
	sqlite3_stmt *st;
	if (store_prepare(s, "SELECT format, srcmap, bytes FROM documents WHERE id = ?", &st,
	    err) != 0)
		return -1;
	sqlite3_bind_int64(st, 1, doc_id);
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_finalize(st);
		return q_error(err, "%s: no document %lld", s->dir, (long long)doc_id);
	}
	const char *format = (const char *)sqlite3_column_text(st, 0);
	uint64_t bytes = (uint64_t)sqlite3_column_int64(st, 2);
	int epub = format && strcmp(format, "epub") == 0;
	if (epub && sqlite3_column_type(st, 1) == SQLITE_NULL) {
		sqlite3_finalize(st);
		return q_error(err, "%s: document %lld is an EPUB ingested without a byte map to "
		    "its files (ingest it again)", s->dir, (long long)doc_id);
	}
	const unsigned char *m = sqlite3_column_blob(st, 1);
	size_t pairs = (size_t)sqlite3_column_bytes(st, 1) / 16;
	uint64_t best_t = 0, best_s = 0;
	for (size_t i = 0; m && i < pairs; i++) {
		uint64_t t = get_le64(m + 16 * i);
		if (t > off)
			break;
		best_t = t;
		best_s = get_le64(m + 16 * i + 8);
	}
	sqlite3_finalize(st);
	if (!epub) {
		*src = best_s + (off - best_t);
		if (*src > bytes)
			*src = bytes;       /* past the last note of an HTML map */
		return 0;
	}
	/* EPUB: the note's file, and the offset inside it (not clamped: the file's size is not
	 * kept; within a line the offset is approximate as for HTML). */
	if (store_prepare(s, "SELECT name FROM srcfiles WHERE doc_id = ? AND idx = ?", &st,
	    err) != 0)
		return -1;
	sqlite3_bind_int64(st, 1, doc_id);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)(best_s >> 40));
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*file = store_column_text(st, 0);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW)
		return rc == SQLITE_DONE ? q_error(err, "%s: document %lld: its byte map names "
		    "file %llu, which is not recorded", s->dir, (long long)doc_id,
		    (unsigned long long)(best_s >> 40)) : store_sql_error(s, err, "read source files");
	*src = (best_s & ((UINT64_C(1) << 40) - 1)) + (off - best_t);
	return 0;
}

int store_sections(struct store *s, int64_t doc_id, struct store_section **v, size_t *n,
    char **err)
{
	sqlite3_stmt *st;
	*v = NULL;
	*n = 0;
	if (store_prepare(s, "SELECT id, COALESCE(parent_id, 0), level, title, byte_start, "
	    "byte_end, line FROM sections WHERE doc_id = ? ORDER BY byte_start, level", &st, err))
		return -1;
	sqlite3_bind_int64(st, 1, doc_id);
	size_t cap = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap ? 2 * cap : 64;
			*v = xreallocarray(*v, cap, sizeof **v);
		}
		struct store_section *e = &(*v)[(*n)++];
		e->id = sqlite3_column_int64(st, 0);
		e->parent = sqlite3_column_int64(st, 1);
		e->level = sqlite3_column_int(st, 2);
		e->title = store_column_text(st, 3);
		e->byte_start = (uint64_t)sqlite3_column_int64(st, 4);
		e->byte_end = (uint64_t)sqlite3_column_int64(st, 5);
		e->line = (uint64_t)sqlite3_column_int64(st, 6);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		store_sections_free(*v, *n);
		*v = NULL;
		*n = 0;
		return store_sql_error(s, err, "read sections");
	}
	return 0;
}

int store_find_section(struct store *s, int64_t doc_id, const char *title,
    struct store_section *out, int *found, char **err)
{
	sqlite3_stmt *st;
	memset(out, 0, sizeof *out);
	*found = 0;
	if (store_prepare(s, "SELECT id, COALESCE(parent_id, 0), level, title, byte_start, "
	    "byte_end, line FROM sections WHERE doc_id = ? AND title = ? "
	    "ORDER BY byte_start, level LIMIT 1", &st, err))
		return -1;
	sqlite3_bind_int64(st, 1, doc_id);
	sqlite3_bind_text(st, 2, title, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		out->id = sqlite3_column_int64(st, 0);
		out->parent = sqlite3_column_int64(st, 1);
		out->level = sqlite3_column_int(st, 2);
		out->title = store_column_text(st, 3);
		out->byte_start = (uint64_t)sqlite3_column_int64(st, 4);
		out->byte_end = (uint64_t)sqlite3_column_int64(st, 5);
		out->line = (uint64_t)sqlite3_column_int64(st, 6);
		*found = 1;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_sql_error(s, err, "find a section");
	return 0;
}

void store_sections_free(struct store_section *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].title);
	free(v);
}

void store_hits_free(struct store_hit *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].title);
		free(v[i].path);
		free(v[i].section);
		free(v[i].snippet);
	}
	free(v);
}

/* Each blank-separated word becomes a quoted FTS5 string: every word must occur. */
static char *quote_query(const char *q)
{
	struct buf b = BUF_INIT;
	const char *p = q;
	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
			p++;
		if (*p == '\0')
			break;
		if (b.len)
			buf_append_char(&b, ' ');
		buf_append_char(&b, '"');
		for (; *p && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r'; p++) {
			if (*p == '"')
				buf_append_char(&b, '"');
			buf_append_char(&b, *p);
		}
		buf_append_char(&b, '"');
	}
	if (b.data == NULL)
		buf_append(&b, "", 0);
	return buf_steal(&b);
}

int store_search(struct store *s, const char *query, int raw, int limit, const char *open,
    const char *close, struct store_hit **hits, size_t *n, char **err)
{
	*hits = NULL;
	*n = 0;
	char *q = raw ? xstrdup(query) : quote_query(query);
	if (*q == '\0') {
		free(q);
		return q_error(err, "empty search query");
	}
	sqlite3_stmt *st;
	if (store_prepare(s, "SELECT c.doc_id, d.title, d.path, c.byte_start, c.line, "
	    "highlight(fts, 0, char(1), char(2)), snippet(fts, 0, ?2, ?3, '…', 16), bm25(fts) "
	    "FROM fts JOIN chunks c ON c.id = fts.rowid JOIN documents d ON d.id = c.doc_id "
	    "WHERE fts MATCH ?1 ORDER BY bm25(fts) LIMIT ?4", &st, err) != 0) {
		free(q);
		return -1;
	}
	sqlite3_bind_text(st, 1, q, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, open, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, close, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, limit > 0 ? limit : 20);
	size_t cap = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap ? 2 * cap : 16;
			*hits = xreallocarray(*hits, cap, sizeof **hits);
		}
		struct store_hit *h = &(*hits)[(*n)++];
		memset(h, 0, sizeof *h);
		h->doc_id = sqlite3_column_int64(st, 0);
		h->title = store_column_text(st, 1);
		h->path = store_column_text(st, 2);
		uint64_t cs = (uint64_t)sqlite3_column_int64(st, 3);
		h->line = (uint64_t)sqlite3_column_int64(st, 4);
		const char *hl = (const char *)sqlite3_column_text(st, 5);
		/* Where the first match sits: count bytes before the first marker. */
		uint64_t at = 0, len = 0;
		int in = 0, seen = 0;
		for (const char *p = hl ? hl : ""; *p; p++) {
			if (*p == '\x01') {
				if (seen)
					break;
				in = 1;
				continue;
			}
			if (*p == '\x02') {
				if (in) {
					seen = 1;
					in = 0;
					break;
				}
				continue;
			}
			if (in)
				len++;
			else {
				if (*p == '\n')
					h->line++;
				at++;
			}
		}
		h->byte_start = cs + at;
		h->byte_end = cs + at + len;
		h->snippet = store_column_text(st, 6);
		h->score = -sqlite3_column_double(st, 7);
		char *e2 = NULL;
		if (store_section_at(s, h->doc_id, h->byte_start, &h->section, &e2) != 0)
			free(e2);
	}
	const char *msg = sqlite3_errmsg(s->db);
	if (rc != SQLITE_DONE) {
		q_error(err, "search \"%s\": %s", query, msg);
		sqlite3_finalize(st);
		free(q);
		store_hits_free(*hits, *n);
		*hits = NULL;
		*n = 0;
		return -1;
	}
	sqlite3_finalize(st);
	free(q);
	return 0;
}

int store_corpus(struct store *s, uint64_t fingerprint, struct store_corpus_doc **v,
    size_t *n, char **err)
{
	sqlite3_stmt *st;
	*v = NULL;
	*n = 0;
	if (store_prepare(s, "SELECT doc_id, position, n_tokens, removed FROM corpus WHERE "
	    "fingerprint = ? ORDER BY position", &st, err) != 0)
		return -1;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)fingerprint);
	size_t cap = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap ? 2 * cap : 64;
			*v = xreallocarray(*v, cap, sizeof **v);
		}
		struct store_corpus_doc *c = &(*v)[(*n)++];
		c->doc_id = sqlite3_column_int64(st, 0);
		c->position = (uint64_t)sqlite3_column_int64(st, 1);
		c->n_tokens = (uint64_t)sqlite3_column_int64(st, 2);
		c->removed = sqlite3_column_int(st, 3);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		free(*v);
		*v = NULL;
		*n = 0;
		return store_sql_error(s, err, "read corpus order");
	}
	return 0;
}

static uint32_t get_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int store_tokens(struct store *s, int64_t doc_id, uint64_t fingerprint, uint64_t first,
    uint64_t count, int32_t **ids, uint32_t **offsets, size_t *n, char **err)
{
	sqlite3_stmt *st;
	*ids = NULL;
	*offsets = NULL;
	*n = 0;
	if (count > (1ULL << 32))
		count = 1ULL << 32;
	if (store_prepare(s, "SELECT first_token, n, ids, offsets FROM tokens WHERE doc_id = ?1 "
	    "AND fingerprint = ?2 AND first_token + n > ?3 AND first_token < ?4 ORDER BY seq",
	    &st, err) != 0)
		return -1;
	sqlite3_bind_int64(st, 1, doc_id);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)fingerprint);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)first);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)(first + count));
	size_t cap = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		uint64_t f = (uint64_t)sqlite3_column_int64(st, 0);
		uint64_t k = (uint64_t)sqlite3_column_int64(st, 1);
		const unsigned char *bi = sqlite3_column_blob(st, 2);
		size_t li = (size_t)sqlite3_column_bytes(st, 2);
		const unsigned char *bo = sqlite3_column_blob(st, 3);
		size_t lo = (size_t)sqlite3_column_bytes(st, 3);
		if (li != 4 * k || lo != 4 * k) {
			sqlite3_finalize(st);
			free(*ids);
			free(*offsets);
			*ids = NULL;
			*offsets = NULL;
			*n = 0;
			return q_error(err, "%s: token chunk of document %lld has a bad size", s->dir,
			    (long long)doc_id);
		}
		for (uint64_t i = 0; i < k; i++) {
			uint64_t t = f + i;
			if (t < first || t >= first + count)
				continue;
			if (*n == cap) {
				cap = cap ? 2 * cap : 1024;
				*ids = xreallocarray(*ids, cap, sizeof **ids);
				*offsets = xreallocarray(*offsets, cap, sizeof **offsets);
			}
			(*ids)[*n] = (int32_t)get_le32(bi + 4 * i);
			(*offsets)[*n] = get_le32(bo + 4 * i);
			(*n)++;
		}
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return store_sql_error(s, err, "read tokens");
	return 0;
}
