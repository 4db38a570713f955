/* db.c: opening a library: the directory, the writer lock, SQLite in WAL mode and the schema
 * migrations (forward only, one transaction each, recorded in PRAGMA user_version). */
#include "store/store-int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/file.h"
#include "lib/util.h"

/* Migration n takes user_version n-1 to n. Never edit a released one: add the next. */
static const char *const migrations[] = {
	/* 1: documents, text chunks, sections, tokens, corpus order, settings. */
	"CREATE TABLE documents("               /* AUTOINCREMENT: ids are never reused, the */
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"  /* corpus order and KV cache refer to them */
	"  title TEXT NOT NULL,"
	"  path TEXT NOT NULL,"             /* as given to ingest, absolute */
	"  entry TEXT NOT NULL DEFAULT '',"  /* member inside archives */
	"  format TEXT NOT NULL,"
	"  encoding TEXT NOT NULL,"
	"  bytes INTEGER NOT NULL,"          /* source bytes */
	"  text_bytes INTEGER NOT NULL,"
	"  lines INTEGER NOT NULL,"
	"  sha256 TEXT NOT NULL,"            /* of the source bytes */
	"  ingested INTEGER NOT NULL,"       /* unix time */
	"  srcmap BLOB"                      /* (text_off, src_off) u64 LE pairs; NULL: same */
	");"
	"CREATE UNIQUE INDEX documents_source ON documents(path, entry);"
	"CREATE INDEX documents_sha ON documents(sha256);"
	"CREATE TABLE chunks("               /* the text, in pieces that are also FTS rows */
	"  id INTEGER PRIMARY KEY,"
	"  doc_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,"
	"  byte_start INTEGER NOT NULL,"
	"  line INTEGER NOT NULL,"           /* line of byte_start */
	"  section_id INTEGER,"              /* innermost section at byte_start */
	"  body TEXT NOT NULL"
	");"
	"CREATE UNIQUE INDEX chunks_doc ON chunks(doc_id, byte_start);"
	"CREATE TABLE sections("
	"  id INTEGER PRIMARY KEY,"
	"  doc_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,"
	"  parent_id INTEGER,"
	"  level INTEGER NOT NULL,"
	"  title TEXT NOT NULL,"
	"  byte_start INTEGER NOT NULL,"
	"  byte_end INTEGER NOT NULL,"
	"  line INTEGER NOT NULL"
	");"
	"CREATE INDEX sections_doc ON sections(doc_id, byte_start);"
	"CREATE TABLE tokens("
	"  doc_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,"
	"  fingerprint INTEGER NOT NULL,"    /* tokenizer, u64 stored as i64 */
	"  seq INTEGER NOT NULL,"
	"  first_token INTEGER NOT NULL,"    /* index in the document of the first token here */
	"  n INTEGER NOT NULL,"
	"  ids BLOB NOT NULL,"               /* n x i32 LE */
	"  offsets BLOB NOT NULL,"           /* n x u32 LE, byte offsets in the text */
	"  PRIMARY KEY(doc_id, fingerprint, seq)"
	");"
	"CREATE TABLE corpus("                /* no foreign key: removed documents keep a place */
	"  fingerprint INTEGER NOT NULL,"
	"  doc_id INTEGER NOT NULL,"
	"  position INTEGER NOT NULL,"       /* of the first token; a separator sits before */
	"  n_tokens INTEGER NOT NULL,"
	"  removed INTEGER NOT NULL DEFAULT 0,"
	"  PRIMARY KEY(fingerprint, doc_id)"
	");"
	"CREATE TABLE settings(key TEXT PRIMARY KEY, value TEXT NOT NULL);",

	/* 2: full-text search over the chunks (external content, kept by triggers). */
	"CREATE VIRTUAL TABLE fts USING fts5(body, content='chunks', content_rowid='id',"
	"  tokenize='unicode61 remove_diacritics 2');"
	"CREATE TRIGGER chunks_ai AFTER INSERT ON chunks BEGIN"
	"  INSERT INTO fts(rowid, body) VALUES (new.id, new.body); END;"
	"CREATE TRIGGER chunks_ad AFTER DELETE ON chunks BEGIN"
	"  INSERT INTO fts(fts, rowid, body) VALUES ('delete', old.id, old.body); END;"
	"CREATE TRIGGER chunks_au AFTER UPDATE ON chunks BEGIN"
	"  INSERT INTO fts(fts, rowid, body) VALUES ('delete', old.id, old.body);"
	"  INSERT INTO fts(rowid, body) VALUES (new.id, new.body); END;"
	"INSERT INTO fts(fts) VALUES ('rebuild');",

	/* 3: the files inside a document's source that its byte map points into (an EPUB's
	 * spine files); srcmap offsets of such a document carry the file index above bit 40. */
	"CREATE TABLE srcfiles("
	"  doc_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,"
	"  idx INTEGER NOT NULL,"
	"  name TEXT NOT NULL,"              /* entry path inside the document's archive */
	"  PRIMARY KEY(doc_id, idx)"
	");",

	/* 4: sessions: their turns and the citations of each answer. A citation keeps the title
	 * and path its document had, and no foreign key to it: removing a document leaves the
	 * sessions that quoted it readable. */
	"CREATE TABLE sessions("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  name TEXT NOT NULL UNIQUE,"
	"  created INTEGER NOT NULL,"        /* unix time */
	"  updated INTEGER NOT NULL,"
	"  reader_state TEXT NOT NULL DEFAULT '',"  /* opaque to the store */
	"  kv_id TEXT NOT NULL DEFAULT ''"   /* corpus cache answered over */
	");"
	"CREATE INDEX sessions_updated ON sessions(updated);"
	"CREATE TABLE turns("
	"  id INTEGER PRIMARY KEY,"
	"  session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,"
	"  seq INTEGER NOT NULL,"            /* 1, 2, ... within the session */
	"  question TEXT NOT NULL,"
	"  answer TEXT NOT NULL,"
	"  tokens_prefilled INTEGER NOT NULL,"
	"  tokens_attended INTEGER NOT NULL,"
	"  ttft_ms REAL NOT NULL,"
	"  tokens_per_s REAL NOT NULL,"
	"  scope TEXT NOT NULL,"             /* which part of the library was used */
	"  created INTEGER NOT NULL"
	");"
	"CREATE UNIQUE INDEX turns_session ON turns(session_id, seq);"
	"CREATE TABLE citations("
	"  turn_id INTEGER NOT NULL REFERENCES turns(id) ON DELETE CASCADE,"
	"  idx INTEGER NOT NULL,"            /* order within the turn */
	"  n INTEGER NOT NULL,"              /* the [n] of the answer */
	"  ref TEXT NOT NULL,"
	"  doc_id INTEGER NOT NULL,"
	"  doc_title TEXT NOT NULL,"
	"  doc_path TEXT NOT NULL,"
	"  section TEXT,"                    /* NULL: none */
	"  line_start INTEGER NOT NULL,"
	"  line_end INTEGER NOT NULL,"
	"  byte_start INTEGER NOT NULL,"
	"  byte_end INTEGER NOT NULL,"
	"  text TEXT NOT NULL,"              /* the exact quoted bytes */
	"  score REAL NOT NULL,"
	"  PRIMARY KEY(turn_id, idx)"
	");",
};

int store_sql_error(struct store *s, char **err, const char *what)
{
	return q_error(err, "%s/library.db: %s: %s", s->dir, what, sqlite3_errmsg(s->db));
}

int store_exec(struct store *s, const char *sql, char **err)
{
	char *msg = NULL;
	if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		int r = q_error(err, "%s/library.db: %s", s->dir, msg ? msg : "SQL failed");
		sqlite3_free(msg);
		return r;
	}
	return 0;
}

int store_prepare(struct store *s, const char *sql, sqlite3_stmt **st, char **err)
{
	if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) != SQLITE_OK)
		return store_sql_error(s, err, "prepare");
	return 0;
}

int store_begin(struct store *s, char **err)
{
	return store_exec(s, "BEGIN IMMEDIATE", err);
}

int store_commit(struct store *s, char **err)
{
	return store_exec(s, "COMMIT", err);
}

void store_rollback(struct store *s)
{
	if (!sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

static int user_version(struct store *s, int *v, char **err)
{
	sqlite3_stmt *st;
	if (store_prepare(s, "PRAGMA user_version", &st, err) != 0)
		return -1;
	int rc = sqlite3_step(st);
	*v = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW)
		return store_sql_error(s, err, "read schema version");
	return 0;
}

int store_schema_version(struct store *s)
{
	int v = -1;
	char *err = NULL;
	if (user_version(s, &v, &err) != 0)
		free(err);
	return v;
}

int store_migrate(struct store *s, int target, char **err)
{
	int v;
	if (user_version(s, &v, err) != 0)
		return -1;
	if (v > STORE_SCHEMA_VERSION)
		return q_error(err, "%s/library.db: schema version %d is newer than this quire "
		    "understands (%d); use a newer quire", s->dir, v, STORE_SCHEMA_VERSION);
	for (; v < target; v++) {
		if (store_begin(s, err) != 0)
			return -1;
		char pragma[64];
		snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", v + 1);
		if (store_exec(s, migrations[v], err) != 0 || store_exec(s, pragma, err) != 0) {
			store_rollback(s);
			return -1;
		}
		if (store_commit(s, err) != 0) {
			store_rollback(s);
			return -1;
		}
	}
	return 0;
}

/* Read who holds the lock file, for the message a waiting writer gets. */
static char *lock_holder(int fd)
{
	char b[256];
	ssize_t r = pread(fd, b, sizeof b - 1, 0);
	if (r <= 0)
		return xstrdup("another process");
	b[r] = '\0';
	for (char *p = b; *p; p++)
		if (*p == '\n' || (unsigned char)*p < 0x20)
			*p = ' ';
	while (r > 0 && b[r - 1] == ' ')
		b[--r] = '\0';
	return xstrdup(b);
}

int store_lock(struct store *s, char **err)
{
	if (s->locked)
		return 0;
	if (s->lock_fd < 0) {
		char *path = xasprintf("%s/library.lock", s->dir);
		s->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (s->lock_fd < 0) {
			int e = errno;
			int r = q_error(err, "%s: %s", path, strerror(e));
			free(path);
			return r;
		}
		free(path);
	}
	double deadline = q_now() + s->busy_ms / 1000.0;
	while (flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno != EWOULDBLOCK && errno != EINTR)
			return q_error(err, "%s/library.lock: %s", s->dir, strerror(errno));
		if (q_now() >= deadline) {
			char *h = lock_holder(s->lock_fd);
			int r = q_error(err, "%s: the library is being written by %s (waited %.1f s)",
			    s->dir, h, s->busy_ms / 1000.0);
			free(h);
			return r;
		}
		struct timespec ts = { 0, 50 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	char line[256];
	int n = snprintf(line, sizeof line, "pid %ld (quire %s)\n", (long)getpid(),
	    s->who ? s->who : "?");
	if (ftruncate(s->lock_fd, 0) != 0 || pwrite(s->lock_fd, line, (size_t)n, 0) != n) {
		/* The note is a courtesy for other writers; the flock is what counts. */
	}
	s->locked = 1;
	return 0;
}

void store_unlock(struct store *s)
{
	if (!s->locked)
		return;
	if (ftruncate(s->lock_fd, 0) != 0) {
		/* a stale note is harmless: the next holder overwrites it */
	}
	flock(s->lock_fd, LOCK_UN);
	s->locked = 0;
}

int store_open(const char *dir, int flags, const char *who, struct store **out, char **err)
{
	*out = NULL;
	struct stat st;
	if (stat(dir, &st) != 0) {
		if (!(flags & STORE_CREATE))
			return q_error(err, "%s: no library here (quire ingest creates one)", dir);
		if (dir_make_all(dir, err) != 0)
			return -1;
	} else if (!S_ISDIR(st.st_mode)) {
		return q_error(err, "%s: not a directory", dir);
	}
	char *dbpath = xasprintf("%s/library.db", dir);
	if (!(flags & STORE_CREATE) && stat(dbpath, &st) != 0) {
		int r = q_error(err, "%s: no library here (quire ingest creates one)", dir);
		free(dbpath);
		return r;
	}
	struct store *s = xcalloc(1, sizeof *s);
	s->dir = xstrdup(dir);
	s->lock_fd = -1;
	s->who = xstrdup(who ? who : "?");
	s->busy_ms = 5000;
	const char *env = getenv("QUIRE_BUSY_MS");
	if (env && *env)
		s->busy_ms = atoi(env) < 0 ? 0 : atoi(env);
	int rc = sqlite3_open_v2(dbpath, &s->db, SQLITE_OPEN_READWRITE |
	    ((flags & STORE_CREATE) ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_NOMUTEX, NULL);
	free(dbpath);
	if (rc != SQLITE_OK) {
		q_error(err, "%s/library.db: %s", dir, s->db ? sqlite3_errmsg(s->db) :
		    "cannot open");
		store_close(s);
		return -1;
	}
	sqlite3_busy_timeout(s->db, s->busy_ms);
	sqlite3_extended_result_codes(s->db, 1);
	if ((flags & STORE_WRITE) && store_lock(s, err) != 0)
		goto fail;
	if (store_exec(s, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
	    "PRAGMA foreign_keys=ON;", err) != 0)
		goto fail;
	int v;
	if (user_version(s, &v, err) != 0)
		goto fail;
	if (v > STORE_SCHEMA_VERSION) {
		q_error(err, "%s/library.db: schema version %d is newer than this quire "
		    "understands (%d); use a newer quire", dir, v, STORE_SCHEMA_VERSION);
		goto fail;
	}
	if (v < STORE_SCHEMA_VERSION) {
		int was_locked = s->locked;
		if (store_lock(s, err) != 0 || store_migrate(s, STORE_SCHEMA_VERSION, err) != 0)
			goto fail;
		if (!was_locked)
			store_unlock(s);
	}
	*out = s;
	return 0;
fail:
	store_close(s);
	return -1;
}

void store_close(struct store *s)
{
	if (s == NULL)
		return;
	if (s->db)
		sqlite3_close_v2(s->db);
	store_unlock(s);
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	free(s->dir);
	free(s->who);
	free(s);
}

int store_setting_get(struct store *s, const char *key, char **value, char **err)
{
	sqlite3_stmt *st;
	*value = NULL;
	if (store_prepare(s, "SELECT value FROM settings WHERE key = ?", &st, err) != 0)
		return -1;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*value = xstrdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_sql_error(s, err, "read setting");
	return 0;
}

int store_setting_set(struct store *s, const char *key, const char *value, char **err)
{
	sqlite3_stmt *st;
	if (store_prepare(s, "INSERT INTO settings(key, value) VALUES (?, ?) "
	    "ON CONFLICT(key) DO UPDATE SET value = excluded.value", &st, err) != 0)
		return -1;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return store_sql_error(s, err, "write setting");
	return 0;
}

char *store_column_text(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	return xstrndup(t ? (const char *)t : "", (size_t)sqlite3_column_bytes(st, i));
}
