/* store-int.h: what the store's own files share and nothing else sees: the handle, the
 * schema migrations and small SQLite helpers. */
#ifndef QUIRE_STORE_STORE_INT_H
#define QUIRE_STORE_STORE_INT_H

#include <sqlite3.h>
#include <stdint.h>

#include "store/sections.h"
#include "store/store.h"

struct store {
	sqlite3 *db;                /* library.db */
	char *dir;                  /* the library directory */
	int lock_fd;                /* library.lock, -1 when not open */
	int locked;                 /* we hold the writer lock */
	int busy_ms;                /* how long a writer waits for another */
	char *who;                  /* recorded in the lock file */
};

/* db.c */
int store_lock(struct store *s, char **err);
void store_unlock(struct store *s);
/* Run the migrations from the current user_version up to target (tests use targets below
 * STORE_SCHEMA_VERSION to build old libraries). */
int store_migrate(struct store *s, int target, char **err);
/* Message for the last SQLite error on s->db, with what we were doing. */
int store_sql_error(struct store *s, char **err, const char *what);
int store_exec(struct store *s, const char *sql, char **err);
int store_prepare(struct store *s, const char *sql, sqlite3_stmt **st, char **err);
/* Column i of the current row as a malloc'd string ("" for NULL), all its bytes. */
char *store_column_text(sqlite3_stmt *st, int i);
int store_begin(struct store *s, char **err);   /* BEGIN IMMEDIATE */
int store_commit(struct store *s, char **err);
void store_rollback(struct store *s);

/* doc.c: one document written in one transaction. */
struct doc_in {
	const char *title;
	const char *path;
	const char *entry;
	const char *format;
	const char *encoding;
	const char *sha256;
	uint64_t bytes;             /* source bytes */
	const char *text;           /* stored text */
	size_t text_len;
	uint64_t lines;
	const uint64_t *map;        /* text->source pairs or NULL when identical */
	size_t map_len;
	char *const *files;         /* files the map points into (src >> 40 indexes), or NULL */
	size_t n_files;
	const struct sections *secs;
};
/* Insert (replacing replace_id when nonzero) and tokenize if a tokenizer is given. */
int doc_write(struct store *s, const struct doc_in *d, int64_t replace_id,
    store_tokenize_fn tokenize, void *tctx, uint64_t fingerprint, int64_t *doc_id,
    uint64_t *tokens, char **err);
/* Tokens for an existing document inside the caller's transaction. */
int doc_tokenize(struct store *s, int64_t doc_id, const char *text, size_t len,
    store_tokenize_fn tokenize, void *tctx, uint64_t fingerprint, uint64_t *tokens,
    char **err);
int doc_has_tokens(struct store *s, int64_t doc_id, uint64_t fingerprint, int *has,
    char **err);
/* The whole stored text of a document (malloc'd). */
int doc_text(struct store *s, int64_t doc_id, char **text, size_t *len, char **err);
int doc_delete(struct store *s, int64_t doc_id, char **err);   /* inside a transaction */

/* Bytes per text chunk (FTS row): chunks end at line ends past the target, at section
 * starts, or at a UTF-8 boundary past the hard limit. */
#define CHUNK_TARGET 2048
#define CHUNK_MAX 16384
/* Tokens per stored token chunk. */
#define TOKEN_CHUNK 8192

#endif
