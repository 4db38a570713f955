/* check.c: verifying a library: SQLite's integrity check and foreign keys (turns of a
 * session that no longer exists, citations of a missing turn), the FTS index against its
 * content, per document that the text chunks tile the text, sections and token offsets lie
 * inside it, and token counts agree with the corpus order; and that sessions have valid names
 * and citations ranges that do not end before they start. */
#include "store/store-int.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "lib/utf8.h"
#include "lib/util.h"
#include "store/text.h"

struct checker {
	void (*report)(void *ctx, int64_t doc_id, const char *msg);
	void *ctx;
	uint64_t problems;
};

static void problem(struct checker *c, int64_t doc, const char *fmt, ...) Q_PRINTF(3, 4);
static void problem(struct checker *c, int64_t doc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *m = xvasprintf(fmt, ap);
	va_end(ap);
	c->problems++;
	if (c->report)
		c->report(c->ctx, doc, m);
	free(m);
}

static int check_chunks(struct store *s, struct checker *c, int64_t id, uint64_t text_bytes,
    uint64_t lines, char **err)
{
	sqlite3_stmt *st;
	if (store_prepare(s, "SELECT byte_start, line, body FROM chunks WHERE doc_id = ? ORDER BY "
	    "byte_start", &st, err) != 0)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	uint64_t pos = 0, line = 1;
	int rc, last_nl = 1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		uint64_t cs = (uint64_t)sqlite3_column_int64(st, 0);
		uint64_t cl = (uint64_t)sqlite3_column_int64(st, 1);
		const char *b = sqlite3_column_blob(st, 2);
		size_t n = (size_t)sqlite3_column_bytes(st, 2);
		if (cs != pos)
			problem(c, id, "text chunk at byte %llu, expected %llu (gap or overlap)",
			    (unsigned long long)cs, (unsigned long long)pos);
		if (cl != line)
			problem(c, id, "text chunk at byte %llu says line %llu, counted %llu",
			    (unsigned long long)cs, (unsigned long long)cl, (unsigned long long)line);
		if (!utf8_valid(b, n, NULL))
			problem(c, id, "text chunk at byte %llu is not valid UTF-8",
			    (unsigned long long)cs);
		for (size_t i = 0; i < n; i++)
			if (b[i] == '\n')
				line++;
		if (n)
			last_nl = b[n - 1] == '\n';
		pos = cs + n;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return store_sql_error(s, err, "read text chunks");
	if (pos != text_bytes)
		problem(c, id, "text chunks hold %llu bytes, the document says %llu",
		    (unsigned long long)pos, (unsigned long long)text_bytes);
	uint64_t counted = pos == 0 ? 0 : line - 1 + (last_nl ? 0 : 1);
	if (counted != lines)
		problem(c, id, "text has %llu lines, the document says %llu",
		    (unsigned long long)counted, (unsigned long long)lines);
	return 0;
}

static int check_sections(struct store *s, struct checker *c, int64_t id, uint64_t text_bytes,
    char **err)
{
	sqlite3_stmt *st;
	if (store_prepare(s, "SELECT s.id, s.byte_start, s.byte_end, s.line, s.parent_id, "
	    "p.doc_id, p.byte_start, p.byte_end FROM sections s LEFT JOIN sections p ON "
	    "p.id = s.parent_id WHERE s.doc_id = ? ORDER BY s.byte_start", &st, err) != 0)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t sid = sqlite3_column_int64(st, 0);
		uint64_t a = (uint64_t)sqlite3_column_int64(st, 1);
		uint64_t b = (uint64_t)sqlite3_column_int64(st, 2);
		if (a > b || b > text_bytes)
			problem(c, id, "section %lld spans bytes %llu-%llu outside the text (%llu)",
			    (long long)sid, (unsigned long long)a, (unsigned long long)b,
			    (unsigned long long)text_bytes);
		if (sqlite3_column_type(st, 4) != SQLITE_NULL) {
			if (sqlite3_column_type(st, 5) == SQLITE_NULL ||
			    sqlite3_column_int64(st, 5) != id)
				problem(c, id, "section %lld has a parent outside the document",
				    (long long)sid);
			else if ((uint64_t)sqlite3_column_int64(st, 6) > a ||
			    (uint64_t)sqlite3_column_int64(st, 7) < b)
				problem(c, id, "section %lld is not inside its parent", (long long)sid);
		}
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return store_sql_error(s, err, "read sections");
	/* Section lines agree with the text (one query per section would be slow: sample). */
	if (store_prepare(s, "SELECT id, byte_start, line FROM sections WHERE doc_id = ? "
	    "ORDER BY random() LIMIT 20", &st, err) != 0)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		uint64_t a = (uint64_t)sqlite3_column_int64(st, 1), line = 0;
		char *e2 = NULL;
		if (a <= text_bytes && store_offset_line(s, id, a, &line, &e2) == 0 &&
		    line != (uint64_t)sqlite3_column_int64(st, 2))
			problem(c, id, "section %lld says line %lld, its byte is on line %llu",
			    (long long)sqlite3_column_int64(st, 0),
			    (long long)sqlite3_column_int64(st, 2), (unsigned long long)line);
		free(e2);
	}
	sqlite3_finalize(st);
	return 0;
}

static uint32_t get_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int check_tokens(struct store *s, struct checker *c, int64_t id, uint64_t text_bytes,
    char **err)
{
	sqlite3_stmt *st;
	if (store_prepare(s, "SELECT fingerprint, seq, first_token, n, offsets, length(ids) FROM "
	    "tokens WHERE doc_id = ? ORDER BY fingerprint, seq", &st, err) != 0)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	int64_t fp = 0;
	uint64_t next = 0, seq_next = 0;
	uint32_t prev = 0;
	int have = 0, rc;
	struct { int64_t fp; uint64_t n; } totals[16];
	int nt = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t f = sqlite3_column_int64(st, 0);
		if (!have || f != fp) {
			if (have && nt < 16) {
				totals[nt].fp = fp;
				totals[nt++].n = next;
			}
			fp = f;
			next = 0;
			seq_next = 0;
			prev = 0;
			have = 1;
		}
		uint64_t seq = (uint64_t)sqlite3_column_int64(st, 1);
		uint64_t first = (uint64_t)sqlite3_column_int64(st, 2);
		uint64_t n = (uint64_t)sqlite3_column_int64(st, 3);
		const unsigned char *o = sqlite3_column_blob(st, 4);
		uint64_t lo = (uint64_t)sqlite3_column_bytes(st, 4);
		uint64_t li = (uint64_t)sqlite3_column_int64(st, 5);
		if (seq != seq_next || first != next)
			problem(c, id, "token chunk %llu starts at token %llu, expected chunk %llu at "
			    "%llu", (unsigned long long)seq, (unsigned long long)first,
			    (unsigned long long)seq_next, (unsigned long long)next);
		if (lo != 4 * n || li != 4 * n) {
			problem(c, id, "token chunk %llu has %llu tokens but %llu/%llu bytes of ids/"
			    "offsets", (unsigned long long)seq, (unsigned long long)n,
			    (unsigned long long)li, (unsigned long long)lo);
		} else {
			for (uint64_t i = 0; i < n; i++) {
				uint32_t off = get_le32(o + 4 * i);
				if (off >= text_bytes || off < prev) {
					problem(c, id, "token %llu has offset %u outside the text (%llu "
					    "bytes) or out of order", (unsigned long long)(first + i), off,
					    (unsigned long long)text_bytes);
					break;
				}
				prev = off;
			}
		}
		seq_next = seq + 1;
		next = first + n;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return store_sql_error(s, err, "read tokens");
	if (have && nt < 16) {
		totals[nt].fp = fp;
		totals[nt++].n = next;
	}
	for (int i = 0; i < nt; i++) {
		if (store_prepare(s, "SELECT n_tokens FROM corpus WHERE doc_id = ? AND fingerprint = ? "
		    "AND removed = 0", &st, err) != 0)
			return -1;
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int64(st, 2, totals[i].fp);
		rc = sqlite3_step(st);
		if (rc != SQLITE_ROW)
			problem(c, id, "tokens for tokenizer %016llx have no corpus place",
			    (unsigned long long)totals[i].fp);
		else if ((uint64_t)sqlite3_column_int64(st, 0) != totals[i].n)
			problem(c, id, "corpus says %lld tokens, the chunks hold %llu",
			    (long long)sqlite3_column_int64(st, 0), (unsigned long long)totals[i].n);
		sqlite3_finalize(st);
	}
	return 0;
}

static int check_corpus(struct store *s, struct checker *c, char **err)
{
	sqlite3_stmt *st;
	if (store_prepare(s, "SELECT fingerprint, doc_id, position, n_tokens, removed, "
	    "(SELECT COUNT(*) FROM documents d WHERE d.id = corpus.doc_id) FROM corpus "
	    "ORDER BY fingerprint, position", &st, err) != 0)
		return -1;
	int64_t fp = 0;
	uint64_t end = 0;
	int have = 0, rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t f = sqlite3_column_int64(st, 0);
		int64_t doc = sqlite3_column_int64(st, 1);
		uint64_t pos = (uint64_t)sqlite3_column_int64(st, 2);
		uint64_t n = (uint64_t)sqlite3_column_int64(st, 3);
		if (!have || f != fp) {
			fp = f;
			end = 0;
			have = 1;
		}
		if (pos < end + 1)
			problem(c, doc, "corpus position %llu overlaps the previous document (ends "
			    "at %llu)", (unsigned long long)pos, (unsigned long long)end);
		if (!sqlite3_column_int(st, 4) && sqlite3_column_int(st, 5) == 0)
			problem(c, doc, "corpus place for a document that no longer exists");
		end = pos + n;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return store_sql_error(s, err, "read corpus order");
	return 0;
}

static int check_sessions(struct store *s, struct checker *c, char **err)
{
	sqlite3_stmt *st;
	if (store_prepare(s, "SELECT id, name FROM sessions ORDER BY id", &st, err) != 0)
		return -1;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 1);
		char *why = NULL;
		if (store_session_name_check(name ? name : "", &why) != 0)
			problem(c, 0, "session %lld: %s", (long long)sqlite3_column_int64(st, 0), why);
		free(why);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return store_sql_error(s, err, "read sessions");
	if (store_prepare(s, "SELECT t.session_id, t.seq, c.n, c.line_start, c.line_end, "
	    "c.byte_start, c.byte_end FROM citations c JOIN turns t ON t.id = c.turn_id WHERE "
	    "c.line_start > c.line_end OR c.byte_start > c.byte_end OR c.line_start < 0 OR "
	    "c.byte_start < 0 ORDER BY t.session_id, t.seq, c.idx", &st, err) != 0)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		problem(c, 0, "session %lld, turn %d: citation [%d] spans lines %lld-%lld, bytes "
		    "%lld-%lld: a range below 0 or ending before it starts",
		    (long long)sqlite3_column_int64(st, 0), sqlite3_column_int(st, 1),
		    sqlite3_column_int(st, 2),
		    (long long)sqlite3_column_int64(st, 3), (long long)sqlite3_column_int64(st, 4),
		    (long long)sqlite3_column_int64(st, 5), (long long)sqlite3_column_int64(st, 6));
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return store_sql_error(s, err, "read citations");
	return 0;
}

int store_check(struct store *s, void (*report)(void *ctx, int64_t doc_id, const char *msg),
    void *ctx, uint64_t *problems, char **err)
{
	struct checker c = { report, ctx, 0 };
	sqlite3_stmt *st;
	*problems = 0;
	if (store_prepare(s, "PRAGMA integrity_check", &st, err) != 0)
		return -1;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *m = (const char *)sqlite3_column_text(st, 0);
		if (m && strcmp(m, "ok") != 0)
			problem(&c, 0, "database: %s", m);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return store_sql_error(s, err, "integrity check");
	if (store_prepare(s, "PRAGMA foreign_key_check", &st, err) != 0)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		problem(&c, 0, "database: row %lld of %s points to a missing %s",
		    (long long)sqlite3_column_int64(st, 1), sqlite3_column_text(st, 0),
		    sqlite3_column_text(st, 2));
	sqlite3_finalize(st);
	/* FTS5 compares its index with the chunks (rank 1: against the content table). */
	char *msg = NULL;
	if (sqlite3_exec(s->db, "INSERT INTO fts(fts, rank) VALUES ('integrity-check', 1)", NULL,
	    NULL, &msg) != SQLITE_OK) {
		problem(&c, 0, "full-text index: %s", msg ? msg : sqlite3_errmsg(s->db));
		sqlite3_free(msg);
	}
	if (store_prepare(s, "SELECT id, text_bytes, lines FROM documents ORDER BY id", &st, err))
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0);
		uint64_t tb = (uint64_t)sqlite3_column_int64(st, 1);
		uint64_t lines = (uint64_t)sqlite3_column_int64(st, 2);
		if (check_chunks(s, &c, id, tb, lines, err) != 0 ||
		    check_sections(s, &c, id, tb, err) != 0 ||
		    check_tokens(s, &c, id, tb, err) != 0) {
			sqlite3_finalize(st);
			return -1;
		}
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return store_sql_error(s, err, "list documents");
	if (check_corpus(s, &c, err) != 0 || check_sessions(s, &c, err) != 0)
		return -1;
	*problems = c.problems;
	return 0;
}

int store_counts(struct store *s, struct store_counts *c, char **err)
{
	sqlite3_stmt *st;
	memset(c, 0, sizeof *c);
	if (store_prepare(s, "SELECT (SELECT COUNT(*) FROM documents), (SELECT COUNT(*) FROM "
	    "sections), (SELECT COUNT(*) FROM chunks), (SELECT COALESCE(SUM(n), 0) FROM tokens), "
	    "(SELECT COALESCE(SUM(text_bytes), 0) FROM documents)", &st, err) != 0)
		return -1;
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_finalize(st);
		return store_sql_error(s, err, "count");
	}
	c->documents = (uint64_t)sqlite3_column_int64(st, 0);
	c->sections = (uint64_t)sqlite3_column_int64(st, 1);
	c->chunks = (uint64_t)sqlite3_column_int64(st, 2);
	c->tokens = (uint64_t)sqlite3_column_int64(st, 3);
	c->text_bytes = (uint64_t)sqlite3_column_int64(st, 4);
	sqlite3_finalize(st);
	return 0;
}
