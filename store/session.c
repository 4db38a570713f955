/* session.c: sessions, the conversations kept in library.db: named, listed, renamed and
 * removed, with each turn and its citations written in one transaction. */
#include "store/store-int.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/buf.h"
#include "lib/utf8.h"
#include "lib/util.h"

/* Now in unix seconds: QUIRE_NOW when it holds a whole number, so output can be pinned. */
static int64_t session_now(void)
{
	const char *env = getenv("QUIRE_NOW");
	if (env && *env) {
		char *end;
		errno = 0;
		long long v = strtoll(env, &end, 10);
		if (*end == '\0' && errno == 0 && v >= 0)
			return (int64_t)v;
	}
	return (int64_t)time(NULL);
}

/* A name as messages show it: each byte that would not print, or is not well-formed UTF-8,
 * as \xHH. Malloc'd. */
static char *name_shown(const char *name)
{
	struct buf b = BUF_INIT;
	size_t n = strlen(name);
	for (size_t i = 0; i < n; ) {
		uint32_t cp;
		size_t len = utf8_decode(name + i, n - i, &cp);
		if (len == 0 || cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0)) {
			if (len == 0)
				len = 1;
			for (size_t k = 0; k < len; k++)
				buf_printf(&b, "\\x%02x", (unsigned char)name[i + k]);
		} else {
			buf_append(&b, name + i, len);
		}
		i += len;
	}
	return buf_steal(&b);
}

/* Fill *err with "PREFIX 'NAME'SUFFIX", the name shown printable. Returns -1. */
static int name_error(char **err, const char *prefix, const char *name, const char *suffix)
{
	char *shown = name_shown(name);
	int r = q_error(err, "%s '%s'%s", prefix, shown, suffix);
	free(shown);
	return r;
}

#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)
#define SESSION_NAME_MAX_STR STRINGIFY(STORE_SESSION_NAME_MAX)

int store_session_name_check(const char *name, char **err)
{
	size_t n = strlen(name);
	const char *why = NULL;
	if (n == 0)
		return q_error(err, "a session name cannot be empty");
	if (n > STORE_SESSION_NAME_MAX)
		why = ": longer than " SESSION_NAME_MAX_STR " bytes";
	else if (!utf8_valid(name, n, NULL))
		why = ": not valid UTF-8";
	else if (name[0] == '-')
		why = ": starts with '-'";
	else if (strchr(name, '/'))
		why = ": holds a '/'";
	for (size_t i = 0; why == NULL && i < n; ) {
		uint32_t cp = 0;
		size_t len = utf8_decode(name + i, n - i, &cp);
		if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0))
			why = ": holds a control character";
		i += len;
	}
	if (why)
		return name_error(err, "bad session name", name, why);
	return 0;
}

void store_session_free(struct store_session *ss)
{
	free(ss->name);
	free(ss->last_question);
	free(ss->reader_state);
	free(ss->kv_id);
	memset(ss, 0, sizeof *ss);
}

void store_sessions_free(struct store_session *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		store_session_free(&v[i]);
	free(v);
}

#define SESSION_COLUMNS "s.id, s.name, s.created, s.updated, s.reader_state, s.kv_id, " \
	"(SELECT COUNT(*) FROM turns t WHERE t.session_id = s.id), " \
	"(SELECT question FROM turns t WHERE t.session_id = s.id ORDER BY t.seq DESC LIMIT 1)"

static void session_from_row(sqlite3_stmt *st, struct store_session *ss)
{
	ss->id = sqlite3_column_int64(st, 0);
	ss->name = store_column_text(st, 1);
	ss->created = sqlite3_column_int64(st, 2);
	ss->updated = sqlite3_column_int64(st, 3);
	ss->reader_state = store_column_text(st, 4);
	ss->kv_id = store_column_text(st, 5);
	ss->n_turns = (size_t)sqlite3_column_int64(st, 6);
	ss->last_question = store_column_text(st, 7);
}

int store_session_list(struct store *s, struct store_session **v, size_t *n, char **err)
{
	sqlite3_stmt *st;
	*v = NULL;
	*n = 0;
	if (store_prepare(s, "SELECT " SESSION_COLUMNS " FROM sessions s ORDER BY s.updated DESC, "
	    "s.id DESC", &st, err) != 0)
		return -1;
	size_t cap = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap ? 2 * cap : 16;
			*v = xreallocarray(*v, cap, sizeof **v);
		}
		session_from_row(st, &(*v)[(*n)++]);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		store_sessions_free(*v, *n);
		*v = NULL;
		*n = 0;
		return store_sql_error(s, err, "list sessions");
	}
	return 0;
}

/* Look name up: 0 with *found set (out filled when found), or -1. */
static int session_find(struct store *s, const char *name, struct store_session *out,
    int *found, char **err)
{
	sqlite3_stmt *st;
	memset(out, 0, sizeof *out);
	*found = 0;
	if (store_prepare(s, "SELECT " SESSION_COLUMNS " FROM sessions s WHERE s.name = ?", &st,
	    err) != 0)
		return -1;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		session_from_row(st, out);
		*found = 1;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_sql_error(s, err, "find session");
	return 0;
}

int store_session_get(struct store *s, const char *name, struct store_session *out,
    char **err)
{
	int found;
	memset(out, 0, sizeof *out);
	if (store_session_name_check(name, err) != 0 || session_find(s, name, out, &found, err))
		return -1;
	if (!found)
		return name_error(err, "no session named", name, "");
	return 0;
}

/* The id of the session called name (0 when there is none), or -1. */
static int session_id_of(struct store *s, const char *name, int64_t *id, char **err)
{
	struct store_session ss;
	int found;
	if (session_find(s, name, &ss, &found, err) != 0)
		return -1;
	*id = found ? ss.id : 0;
	store_session_free(&ss);
	return 0;
}

/* "session-N" with the smallest N >= 1 not taken, inside the caller's transaction. */
static int session_auto_name(struct store *s, char **name, char **err)
{
	for (unsigned long long k = 1; ; k++) {
		char *try = xasprintf("session-%llu", k);
		int64_t id;
		if (session_id_of(s, try, &id, err) != 0) {
			free(try);
			return -1;
		}
		if (id == 0) {
			*name = try;
			return 0;
		}
		free(try);
	}
}

int store_session_open(struct store *s, const char *name, int create,
    struct store_session *out, char **err)
{
	memset(out, 0, sizeof *out);
	if (name == NULL && !create)
		fatal("store_session_open: no name, and nothing to create");
	if (name != NULL) {
		if (!create)
			return store_session_get(s, name, out, err);
		int found;
		if (store_session_name_check(name, err) != 0 ||
		    session_find(s, name, out, &found, err) != 0)
			return -1;
		if (found)
			return 0;           /* no need of the writer lock */
	}
	if (store_lock(s, err) != 0 || store_begin(s, err) != 0)
		return -1;
	char *auto_name = NULL;
	if (name == NULL) {
		if (session_auto_name(s, &auto_name, err) != 0) {
			store_rollback(s);
			return -1;
		}
		name = auto_name;
	}
	sqlite3_stmt *st;
	if (store_prepare(s, "INSERT INTO sessions(name, created, updated) VALUES (?1, ?2, ?2) "
	    "ON CONFLICT(name) DO NOTHING", &st, err) != 0) {
		store_rollback(s);
		free(auto_name);
		return -1;
	}
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, session_now());
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	int found = 0;
	if (rc != SQLITE_DONE) {
		store_sql_error(s, err, "create session");
		store_rollback(s);
	} else if (store_commit(s, err) != 0) {
		store_rollback(s);
	} else if (session_find(s, name, out, &found, err) == 0 && !found) {
		name_error(err, "session", name, " vanished as it was made");
	}
	free(auto_name);
	return found ? 0 : -1;
}

int store_session_rename(struct store *s, const char *name, const char *new_name,
    char **err)
{
	if (store_session_name_check(name, err) != 0 ||
	    store_session_name_check(new_name, err) != 0)
		return -1;
	if (store_lock(s, err) != 0 || store_begin(s, err) != 0)
		return -1;
	int64_t id, taken;
	if (session_id_of(s, name, &id, err) != 0 || session_id_of(s, new_name, &taken, err) != 0)
		goto fail;
	if (id == 0) {
		name_error(err, "no session named", name, "");
		goto fail;
	}
	if (taken != 0 && taken != id) {
		name_error(err, "a session named", new_name, " already exists");
		goto fail;
	}
	sqlite3_stmt *st;
	if (store_prepare(s, "UPDATE sessions SET name = ?, updated = ? WHERE id = ?", &st, err))
		goto fail;
	sqlite3_bind_text(st, 1, new_name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, session_now());
	sqlite3_bind_int64(st, 3, id);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		store_sql_error(s, err, "rename session");
		goto fail;
	}
	if (store_commit(s, err) != 0)
		goto fail;
	return 0;
fail:
	store_rollback(s);
	return -1;
}

int store_session_remove(struct store *s, const char *name, char **err)
{
	if (store_session_name_check(name, err) != 0 || store_lock(s, err) != 0)
		return -1;
	sqlite3_stmt *st;
	if (store_prepare(s, "DELETE FROM sessions WHERE name = ?", &st, err) != 0)
		return -1;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return store_sql_error(s, err, "remove session");
	if (sqlite3_changes(s->db) == 0)
		return name_error(err, "no session named", name, "");
	return 0;
}

/* Set one text column of a session and mark it updated. */
static int session_set(struct store *s, int64_t id, const char *sql, const char *value,
    char **err)
{
	if (store_lock(s, err) != 0)
		return -1;
	sqlite3_stmt *st;
	if (store_prepare(s, sql, &st, err) != 0)
		return -1;
	sqlite3_bind_text(st, 1, value ? value : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, session_now());
	sqlite3_bind_int64(st, 3, id);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return store_sql_error(s, err, "update session");
	if (sqlite3_changes(s->db) == 0)
		return q_error(err, "%s: no session %lld", s->dir, (long long)id);
	return 0;
}

int store_session_set_reader_state(struct store *s, int64_t session_id, const char *state,
    char **err)
{
	return session_set(s, session_id, "UPDATE sessions SET reader_state = ?1, updated = ?2 "
	    "WHERE id = ?3", state, err);
}

int store_session_set_kv_id(struct store *s, int64_t session_id, const char *kv_id,
    char **err)
{
	return session_set(s, session_id, "UPDATE sessions SET kv_id = ?1, updated = ?2 "
	    "WHERE id = ?3", kv_id, err);
}

/* What a turn must satisfy before it is written: SQLite keeps integers signed and turns a NaN
 * into NULL, so both are refused here with the field named. */
static int turn_check(const struct store_turn *t, char **err)
{
	if (t->question == NULL)
		return q_error(err, "a turn needs a question");
	if (t->n_cites && t->cites == NULL)
		return q_error(err, "a turn says it has %zu citations but gives none", t->n_cites);
	if (t->tokens_prefilled > INT64_MAX || t->tokens_attended > INT64_MAX)
		return q_error(err, "turn token counts out of range");
	if (!isfinite(t->ttft_ms) || !isfinite(t->tokens_per_s))
		return q_error(err, "turn timing is not a finite number");
	for (size_t i = 0; i < t->n_cites; i++) {
		const struct store_citation *c = &t->cites[i];
		if (c->line_start > c->line_end || c->byte_start > c->byte_end)
			return q_error(err, "citation [%d]: lines %llu-%llu, bytes %llu-%llu: a range "
			    "ends before it starts", c->n, (unsigned long long)c->line_start,
			    (unsigned long long)c->line_end, (unsigned long long)c->byte_start,
			    (unsigned long long)c->byte_end);
		if (c->line_end > INT64_MAX || c->byte_end > INT64_MAX)
			return q_error(err, "citation [%d]: range out of range", c->n);
		if (!isfinite(c->score))
			return q_error(err, "citation [%d]: the score is not a finite number", c->n);
	}
	return 0;
}

static int cites_write(struct store *s, int64_t turn_id, const struct store_turn *t,
    char **err)
{
	sqlite3_stmt *st;
	if (store_prepare(s, "INSERT INTO citations(turn_id, idx, n, ref, doc_id, doc_title, "
	    "doc_path, section, line_start, line_end, byte_start, byte_end, text, score) VALUES "
	    "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", &st, err) != 0)
		return -1;
	for (size_t i = 0; i < t->n_cites; i++) {
		const struct store_citation *c = &t->cites[i];
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, turn_id);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)i);
		sqlite3_bind_int(st, 3, c->n);
		sqlite3_bind_text(st, 4, c->ref ? c->ref : "", -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 5, c->doc_id);
		sqlite3_bind_text(st, 6, c->doc_title ? c->doc_title : "", -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 7, c->doc_path ? c->doc_path : "", -1, SQLITE_STATIC);
		if (c->section)
			sqlite3_bind_text(st, 8, c->section, -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(st, 8);
		sqlite3_bind_int64(st, 9, (sqlite3_int64)c->line_start);
		sqlite3_bind_int64(st, 10, (sqlite3_int64)c->line_end);
		sqlite3_bind_int64(st, 11, (sqlite3_int64)c->byte_start);
		sqlite3_bind_int64(st, 12, (sqlite3_int64)c->byte_end);
		sqlite3_bind_text(st, 13, c->text ? c->text : "", -1, SQLITE_STATIC);
		sqlite3_bind_double(st, 14, c->score);
		if (sqlite3_step(st) != SQLITE_DONE) {
			sqlite3_finalize(st);
			return store_sql_error(s, err, "write citation");
		}
	}
	sqlite3_finalize(st);
	return 0;
}

int store_turn_add(struct store *s, int64_t session_id, struct store_turn *t, char **err)
{
	if (turn_check(t, err) != 0)
		return -1;
	if (store_lock(s, err) != 0 || store_begin(s, err) != 0)
		return -1;
	int64_t now = session_now();
	sqlite3_stmt *st;
	if (store_prepare(s, "SELECT (SELECT COALESCE(MAX(seq), 0) FROM turns WHERE session_id = "
	    "?1) FROM sessions WHERE id = ?1", &st, err) != 0)
		goto fail;
	sqlite3_bind_int64(st, 1, session_id);
	int rc = sqlite3_step(st);
	int64_t last = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_finalize(st);
	if (rc == SQLITE_DONE) {
		q_error(err, "%s: no session %lld", s->dir, (long long)session_id);
		goto fail;
	}
	if (rc != SQLITE_ROW) {
		store_sql_error(s, err, "read session");
		goto fail;
	}
	if (last >= INT32_MAX) {
		q_error(err, "%s: session %lld has too many turns", s->dir, (long long)session_id);
		goto fail;
	}
	if (store_prepare(s, "INSERT INTO turns(session_id, seq, question, answer, "
	    "tokens_prefilled, tokens_attended, ttft_ms, tokens_per_s, scope, created) VALUES "
	    "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", &st, err) != 0)
		goto fail;
	sqlite3_bind_int64(st, 1, session_id);
	sqlite3_bind_int64(st, 2, last + 1);
	sqlite3_bind_text(st, 3, t->question, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, t->answer ? t->answer : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)t->tokens_prefilled);
	sqlite3_bind_int64(st, 6, (sqlite3_int64)t->tokens_attended);
	sqlite3_bind_double(st, 7, t->ttft_ms);
	sqlite3_bind_double(st, 8, t->tokens_per_s);
	sqlite3_bind_text(st, 9, t->scope ? t->scope : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 10, now);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		store_sql_error(s, err, "write turn");
		goto fail;
	}
	int64_t turn_id = sqlite3_last_insert_rowid(s->db);
	if (cites_write(s, turn_id, t, err) != 0)
		goto fail;
	if (store_prepare(s, "UPDATE sessions SET updated = ? WHERE id = ?", &st, err) != 0)
		goto fail;
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int64(st, 2, session_id);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		store_sql_error(s, err, "update session");
		goto fail;
	}
	if (store_commit(s, err) != 0)
		goto fail;
	t->id = turn_id;
	t->seq = (int)(last + 1);
	t->created = now;
	return 0;
fail:
	store_rollback(s);
	return -1;
}

static void cite_free(struct store_citation *c)
{
	free(c->ref);
	free(c->doc_title);
	free(c->doc_path);
	free(c->section);
	free(c->text);
}

void store_turns_free(struct store_turn *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; k < v[i].n_cites; k++)
			cite_free(&v[i].cites[k]);
		free(v[i].cites);
		free(v[i].question);
		free(v[i].answer);
		free(v[i].scope);
	}
	free(v);
}

static void cite_from_row(sqlite3_stmt *st, struct store_citation *c)
{
	c->n = sqlite3_column_int(st, 1);
	c->ref = store_column_text(st, 2);
	c->doc_id = sqlite3_column_int64(st, 3);
	c->doc_title = store_column_text(st, 4);
	c->doc_path = store_column_text(st, 5);
	c->section = sqlite3_column_type(st, 6) == SQLITE_NULL ? NULL : store_column_text(st, 6);
	c->line_start = (uint64_t)sqlite3_column_int64(st, 7);
	c->line_end = (uint64_t)sqlite3_column_int64(st, 8);
	c->byte_start = (uint64_t)sqlite3_column_int64(st, 9);
	c->byte_end = (uint64_t)sqlite3_column_int64(st, 10);
	c->text = store_column_text(st, 11);
	c->score = sqlite3_column_double(st, 12);
}

/* Attach the citations of a session's turns (v[0, n), in seq order) to them. */
static int cites_read(struct store *s, int64_t session_id, struct store_turn *v, size_t n,
    char **err)
{
	sqlite3_stmt *st;
	if (store_prepare(s, "SELECT c.turn_id, c.n, c.ref, c.doc_id, c.doc_title, c.doc_path, "
	    "c.section, c.line_start, c.line_end, c.byte_start, c.byte_end, c.text, c.score FROM "
	    "citations c JOIN turns t ON t.id = c.turn_id WHERE t.session_id = ? ORDER BY t.seq, "
	    "c.idx", &st, err) != 0)
		return -1;
	sqlite3_bind_int64(st, 1, session_id);
	size_t i = 0, cap = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t turn = sqlite3_column_int64(st, 0);
		while (i < n && v[i].id != turn) {
			i++;
			cap = 0;
		}
		if (i == n)
			break;              /* not one of the turns read: changed meanwhile */
		struct store_turn *t = &v[i];
		if (t->n_cites == cap) {
			cap = cap ? 2 * cap : 4;
			t->cites = xreallocarray(t->cites, cap, sizeof *t->cites);
		}
		cite_from_row(st, &t->cites[t->n_cites++]);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return store_sql_error(s, err, "read citations");
	return 0;
}

int store_turns(struct store *s, int64_t session_id, struct store_turn **v, size_t *n,
    char **err)
{
	sqlite3_stmt *st;
	*v = NULL;
	*n = 0;
	/* One read transaction (a savepoint nests in the caller's), so turns and citations come
	 * from the same moment. */
	if (store_exec(s, "SAVEPOINT turns_read", err) != 0)
		return -1;
	if (store_prepare(s, "SELECT id, seq, question, answer, tokens_prefilled, tokens_attended, "
	    "ttft_ms, tokens_per_s, scope, created FROM turns WHERE session_id = ? ORDER BY seq",
	    &st, err) != 0) {
		sqlite3_exec(s->db, "RELEASE turns_read", NULL, NULL, NULL);
		return -1;
	}
	sqlite3_bind_int64(st, 1, session_id);
	size_t cap = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap ? 2 * cap : 16;
			*v = xreallocarray(*v, cap, sizeof **v);
		}
		struct store_turn *t = &(*v)[(*n)++];
		memset(t, 0, sizeof *t);
		t->id = sqlite3_column_int64(st, 0);
		t->seq = sqlite3_column_int(st, 1);
		t->question = store_column_text(st, 2);
		t->answer = store_column_text(st, 3);
		t->tokens_prefilled = (uint64_t)sqlite3_column_int64(st, 4);
		t->tokens_attended = (uint64_t)sqlite3_column_int64(st, 5);
		t->ttft_ms = sqlite3_column_double(st, 6);
		t->tokens_per_s = sqlite3_column_double(st, 7);
		t->scope = store_column_text(st, 8);
		t->created = sqlite3_column_int64(st, 9);
	}
	sqlite3_finalize(st);
	int r = rc == SQLITE_DONE ? 0 : store_sql_error(s, err, "read turns");
	if (r == 0)
		r = cites_read(s, session_id, *v, *n, err);
	sqlite3_exec(s->db, "RELEASE turns_read", NULL, NULL, NULL);
	if (r != 0) {
		store_turns_free(*v, *n);
		*v = NULL;
		*n = 0;
	}
	return r;
}
