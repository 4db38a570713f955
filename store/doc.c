/* doc.c: writing one document (row, sections, text chunks that feed FTS, token chunks and
 * its corpus place) inside one transaction, so a crash leaves all of it or none. */
#include "store/store-int.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/buf.h"
#include "lib/utf8.h"
#include "lib/util.h"

static void put_le32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

static void put_le64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

int doc_delete(struct store *s, int64_t doc_id, char **err)
{
	sqlite3_stmt *st;
	if (store_prepare(s, "DELETE FROM documents WHERE id = ?", &st, err) != 0)
		return -1;
	sqlite3_bind_int64(st, 1, doc_id);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return store_sql_error(s, err, "delete document");
	if (store_prepare(s, "UPDATE corpus SET removed = 1 WHERE doc_id = ?", &st, err) != 0)
		return -1;
	sqlite3_bind_int64(st, 1, doc_id);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return store_sql_error(s, err, "mark corpus place removed");
	return 0;
}

int doc_has_tokens(struct store *s, int64_t doc_id, uint64_t fingerprint, int *has,
    char **err)
{
	sqlite3_stmt *st;
	if (store_prepare(s, "SELECT 1 FROM corpus WHERE doc_id = ? AND fingerprint = ? "
	    "AND removed = 0", &st, err) != 0)
		return -1;
	sqlite3_bind_int64(st, 1, doc_id);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)fingerprint);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_sql_error(s, err, "look up tokens");
	*has = rc == SQLITE_ROW;
	return 0;
}

int doc_text(struct store *s, int64_t doc_id, char **text, size_t *len, char **err)
{
	sqlite3_stmt *st;
	if (store_prepare(s, "SELECT body FROM chunks WHERE doc_id = ? ORDER BY byte_start",
	    &st, err) != 0)
		return -1;
	sqlite3_bind_int64(st, 1, doc_id);
	struct buf b = BUF_INIT;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		buf_append(&b, sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0));
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		buf_free(&b);
		return store_sql_error(s, err, "read text");
	}
	*len = b.len;
	*text = buf_steal(&b);
	return 0;
}

int doc_tokenize(struct store *s, int64_t doc_id, const char *text, size_t len,
    store_tokenize_fn tokenize, void *tctx, uint64_t fingerprint, uint64_t *tokens,
    char **err)
{
	int32_t *ids = NULL;
	uint32_t *offs = NULL;
	size_t n = 0;
	char *terr = NULL;
	*tokens = 0;
	if (tokenize(tctx, text, len, &ids, &offs, &n, &terr) != 0) {
		int r = q_error(err, "tokenizer: %s", terr ? terr : "failed");
		free(terr);
		return r;
	}
	int r = -1;
	for (size_t i = 0; i < n; i++) {
		if (offs[i] >= len || (i > 0 && offs[i] < offs[i - 1])) {
			q_error(err, "tokenizer returned offset %u for token %zu, outside the text "
			    "or out of order", offs[i], i);
			goto out;
		}
	}
	sqlite3_stmt *st = NULL;
	if (store_prepare(s, "INSERT INTO tokens(doc_id, fingerprint, seq, first_token, n, ids, "
	    "offsets) VALUES (?, ?, ?, ?, ?, ?, ?)", &st, err) != 0)
		goto out;
	unsigned char *bi = xmalloc((size_t)TOKEN_CHUNK * 4), *bo = xmalloc((size_t)TOKEN_CHUNK * 4);
	for (size_t first = 0, seq = 0; first < n; first += TOKEN_CHUNK, seq++) {
		size_t k = n - first < TOKEN_CHUNK ? n - first : TOKEN_CHUNK;
		for (size_t i = 0; i < k; i++) {
			put_le32(bi + 4 * i, (uint32_t)ids[first + i]);
			put_le32(bo + 4 * i, offs[first + i]);
		}
		sqlite3_bind_int64(st, 1, doc_id);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)fingerprint);
		sqlite3_bind_int64(st, 3, (sqlite3_int64)seq);
		sqlite3_bind_int64(st, 4, (sqlite3_int64)first);
		sqlite3_bind_int64(st, 5, (sqlite3_int64)k);
		sqlite3_bind_blob(st, 6, bi, (int)(4 * k), SQLITE_TRANSIENT);
		sqlite3_bind_blob(st, 7, bo, (int)(4 * k), SQLITE_TRANSIENT);
		if (sqlite3_step(st) != SQLITE_DONE) {
			store_sql_error(s, err, "write tokens");
			free(bi);
			free(bo);
			sqlite3_finalize(st);
			goto out;
		}
		sqlite3_reset(st);
	}
	free(bi);
	free(bo);
	sqlite3_finalize(st);
	/* The document's place in the corpus: after everything placed so far, removed
	 * documents included, so positions already cached never move. */
	if (store_prepare(s, "INSERT OR REPLACE INTO corpus(fingerprint, doc_id, position, "
	    "n_tokens, removed) VALUES (?1, ?2, (SELECT COALESCE(MAX(position + n_tokens), 0) + 1 "
	    "FROM corpus WHERE fingerprint = ?1), ?3, 0)", &st, err) != 0)
		goto out;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)fingerprint);
	sqlite3_bind_int64(st, 2, doc_id);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)n);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		store_sql_error(s, err, "write corpus order");
		goto out;
	}
	*tokens = n;
	r = 0;
out:
	free(ids);
	free(offs);
	return r;
}

/* Innermost section around pos, given sections sorted by start; *j advances monotonically. */
static long section_at(const struct sections *secs, size_t pos, size_t *j)
{
	if (secs == NULL)
		return -1;
	while (*j < secs->n && secs->v[*j].start <= pos)
		(*j)++;
	long k = (long)*j - 1;
	while (k >= 0 && secs->v[k].end <= pos)
		k = secs->v[k].parent;
	return k;
}

static int write_chunks(struct store *s, int64_t doc_id, const struct doc_in *d,
    const int64_t *sec_ids, char **err)
{
	sqlite3_stmt *st;
	if (store_prepare(s, "INSERT INTO chunks(doc_id, byte_start, line, section_id, body) "
	    "VALUES (?, ?, ?, ?, ?)", &st, err) != 0)
		return -1;
	const char *t = d->text;
	size_t len = d->text_len, pos = 0, sj = 0, next_sec = 0, cj = 0;
	uint64_t line = 1;
	const struct sections *secs = d->secs;
	while (pos < len) {
		while (secs && next_sec < secs->n && secs->v[next_sec].start <= pos)
			next_sec++;
		size_t hard = len - pos > CHUNK_MAX ? pos + CHUNK_MAX : len;
		if (secs && next_sec < secs->n && secs->v[next_sec].start < hard)
			hard = secs->v[next_sec].start;
		size_t end = pos, last_nl = 0;
		while (end < hard) {
			const char *nl = memchr(t + end, '\n', hard - end);
			if (nl == NULL) {
				end = hard;
				break;
			}
			end = (size_t)(nl - t) + 1;
			last_nl = end;
			if (end - pos >= CHUNK_TARGET)
				break;
		}
		if (end == pos + CHUNK_MAX && end < len && t[end - 1] != '\n') {
			if (last_nl > pos)
				end = last_nl;
			else
				end = utf8_cut_back(t, end, pos + 1);  /* never split a character */
		}
		long k = section_at(secs, pos, &sj);
		sqlite3_bind_int64(st, 1, doc_id);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)pos);
		sqlite3_bind_int64(st, 3, (sqlite3_int64)line);
		if (k >= 0)
			sqlite3_bind_int64(st, 4, sec_ids[k]);
		else
			sqlite3_bind_null(st, 4);
		sqlite3_bind_text(st, 5, t + pos, (int)(end - pos), SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE) {
			sqlite3_finalize(st);
			return store_sql_error(s, err, "write text");
		}
		sqlite3_reset(st);
		for (size_t i = pos; i < end; i++)
			if (t[i] == '\n')
				line++;
		pos = end;
		cj++;
	}
	sqlite3_finalize(st);
	return 0;
}

static int write_sections(struct store *s, int64_t doc_id, const struct sections *secs,
    int64_t *ids, char **err)
{
	sqlite3_stmt *st;
	if (store_prepare(s, "INSERT INTO sections(doc_id, parent_id, level, title, byte_start, "
	    "byte_end, line) VALUES (?, ?, ?, ?, ?, ?, ?)", &st, err) != 0)
		return -1;
	for (size_t i = 0; i < secs->n; i++) {
		const struct section *e = &secs->v[i];
		sqlite3_bind_int64(st, 1, doc_id);
		if (e->parent >= 0)
			sqlite3_bind_int64(st, 2, ids[e->parent]);
		else
			sqlite3_bind_null(st, 2);
		sqlite3_bind_int(st, 3, e->level);
		sqlite3_bind_text(st, 4, e->title, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 5, (sqlite3_int64)e->start);
		sqlite3_bind_int64(st, 6, (sqlite3_int64)e->end);
		sqlite3_bind_int64(st, 7, (sqlite3_int64)e->line);
		if (sqlite3_step(st) != SQLITE_DONE) {
			sqlite3_finalize(st);
			return store_sql_error(s, err, "write sections");
		}
		ids[i] = sqlite3_last_insert_rowid(s->db);
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	return 0;
}

int doc_write(struct store *s, const struct doc_in *d, int64_t replace_id,
    store_tokenize_fn tokenize, void *tctx, uint64_t fingerprint, int64_t *doc_id,
    uint64_t *tokens, char **err)
{
	sqlite3_stmt *st = NULL;
	int64_t *sec_ids = NULL;
	*tokens = 0;
	if (store_begin(s, err) != 0)
		return -1;
	if (replace_id && doc_delete(s, replace_id, err) != 0)
		goto fail;
	if (store_prepare(s, "INSERT INTO documents(title, path, entry, format, encoding, bytes, "
	    "text_bytes, lines, sha256, ingested, srcmap) VALUES (?,?,?,?,?,?,?,?,?,?,?)", &st,
	    err) != 0)
		goto fail;
	sqlite3_bind_text(st, 1, d->title, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, d->path, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, d->entry ? d->entry : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, d->format, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, d->encoding, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, (sqlite3_int64)d->bytes);
	sqlite3_bind_int64(st, 7, (sqlite3_int64)d->text_len);
	sqlite3_bind_int64(st, 8, (sqlite3_int64)d->lines);
	sqlite3_bind_text(st, 9, d->sha256, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 10, (sqlite3_int64)time(NULL));
	unsigned char *map = NULL;
	if (d->map && d->map_len) {
		map = xmalloc(d->map_len * 16);
		for (size_t i = 0; i < 2 * d->map_len; i++)
			put_le64(map + 8 * i, d->map[i]);
		sqlite3_bind_blob(st, 11, map, (int)(d->map_len * 16), free);
	} else {
		sqlite3_bind_null(st, 11);
	}
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		store_sql_error(s, err, "write document");
		goto fail;
	}
	*doc_id = sqlite3_last_insert_rowid(s->db);
	if (d->n_files) {
		if (store_prepare(s, "INSERT INTO srcfiles(doc_id, idx, name) VALUES (?, ?, ?)", &st,
		    err) != 0)
			goto fail;
		for (size_t i = 0; i < d->n_files; i++) {
			sqlite3_bind_int64(st, 1, *doc_id);
			sqlite3_bind_int64(st, 2, (sqlite3_int64)i);
			sqlite3_bind_text(st, 3, d->files[i], -1, SQLITE_STATIC);
			rc = sqlite3_step(st);
			sqlite3_reset(st);
			if (rc != SQLITE_DONE) {
				sqlite3_finalize(st);
				store_sql_error(s, err, "write source files");
				goto fail;
			}
		}
		sqlite3_finalize(st);
	}
	if (d->secs && d->secs->n) {
		sec_ids = xmalloc(d->secs->n * sizeof *sec_ids);
		if (write_sections(s, *doc_id, d->secs, sec_ids, err) != 0)
			goto fail;
	}
	if (write_chunks(s, *doc_id, d, sec_ids, err) != 0)
		goto fail;
	if (tokenize && d->text_len && doc_tokenize(s, *doc_id, d->text, d->text_len, tokenize,
	    tctx, fingerprint, tokens, err) != 0)
		goto fail;
	if (store_commit(s, err) != 0)
		goto fail;
	free(sec_ids);
	return 0;
fail:
	free(sec_ids);
	store_rollback(s);
	return -1;
}
