/* store.h: the library: one directory holding library.db (SQLite, WAL) with documents, their
 * normalised text, sections, token chunks per tokenizer, the corpus order, an FTS5 index,
 * settings and sessions; ingest of files, folders and archives; spans, search, sessions and
 * checks. The store never includes engine headers: tokens come through a callback tagged with
 * a fingerprint.
 *
 * Offsets are bytes of a document's stored text (UTF-8, NFC); lines are 1-based and split at
 * '\n' (a '\r' before it stays part of the line). Every function returns 0 on success or -1
 * with a malloc'd message in *err that names the file and the problem. */
#ifndef QUIRE_STORE_STORE_H
#define QUIRE_STORE_STORE_H

#include <stddef.h>
#include <stdint.h>

#define STORE_SCHEMA_VERSION 4

struct store;

/* Tokenizer callback: fill malloc'd arrays of n token ids and the byte offset where each token
 * starts in text (non-decreasing, < len); the store frees them with free(). 0 or -1 + *err. */
typedef int (*store_tokenize_fn)(void *ctx, const char *text, size_t len, int32_t **ids,
    uint32_t **offsets, size_t *n, char **err);

/* --- db.c --- */

enum {
	STORE_READ = 0,             /* readers never wait: WAL */
	STORE_WRITE = 1,            /* take the writer lock (waits up to busy_ms) */
	STORE_CREATE = 2,           /* create the directory and database if missing */
};

/* Open the library in dir. who is recorded in the lock file for other writers to read
 * ("ingest", ...). Migrates an older schema forward (taking the writer lock for that). A
 * writer waits for another up to QUIRE_BUSY_MS milliseconds (environment; default 5000). */
int store_open(const char *dir, int flags, const char *who, struct store **out, char **err);
void store_close(struct store *s);
int store_schema_version(struct store *s);
int store_setting_get(struct store *s, const char *key, char **value, char **err);
int store_setting_set(struct store *s, const char *key, const char *value, char **err);

/* --- ingest.c --- */

struct store_limits {
	uint64_t max_total_bytes;   /* uncompressed bytes read in one ingest call */
	uint64_t max_doc_bytes;     /* one document (entry or file), at most 2^32 - 1 */
	uint32_t max_ratio;         /* uncompressed / compressed bytes of an archive ... */
	uint64_t ratio_floor;       /* ... checked once it has produced this many bytes */
	int max_depth;              /* archives inside archives (1 = no nesting) */
	uint64_t max_entries;       /* archive entries in one ingest call */
	size_t max_line;            /* longest line of a plain-text document, bytes */
};

void store_limits_default(struct store_limits *l);

enum store_doc_status {
	STORE_DOC_ADDED,            /* new document */
	STORE_DOC_REPLACED,         /* same source, changed content: old version removed */
	STORE_DOC_UNCHANGED,        /* same content already stored (tokens added if missing) */
	STORE_DOC_SKIPPED,          /* not a document: binary, encrypted, link, empty; not an error */
	STORE_DOC_FAILED,           /* could not be ingested; nothing of it stored */
};

/* Why a document was skipped or failed. The format readers (text.c, html.c, epub.c, pdf.c)
 * return one with their message; ingest decides from the kind, never from the message:
 * NOT_DOCUMENT, UNSUPPORTED and ENCRYPTED are skipped, the others failed. */
enum store_err {
	STORE_ERR_NONE,             /* no error */
	STORE_ERR_NOT_DOCUMENT,     /* empty, binary, no text, a link or a special file */
	STORE_ERR_UNSUPPORTED,      /* a format this build cannot read (PDF without poppler) */
	STORE_ERR_ENCRYPTED,        /* needs a password */
	STORE_ERR_MALFORMED,        /* damaged, hostile, or not what its name or bytes claim */
	STORE_ERR_TOO_LARGE,        /* over a limit: size, line, entries, ratio, nesting */
	STORE_ERR_NO_TEXT,          /* read, but no text where the format promises some (OCR) */
	STORE_ERR_IO,               /* the file could not be read */
	STORE_ERR_WRITE,            /* the tokenizer or the database refused the document */
};

struct store_doc_event {
	enum store_doc_status status;
	const char *name;           /* path, and "!/entry" for archive members */
	const char *message;        /* why, for SKIPPED/FAILED/UNCHANGED; else NULL */
	int64_t doc_id;             /* 0 when none */
	uint64_t text_bytes;
	uint64_t tokens;
	uint64_t sections;
	enum store_err err;         /* why, for SKIPPED/FAILED; else STORE_ERR_NONE */
};

struct store_progress {
	uint64_t files;             /* documents handled (any status) */
	uint64_t bytes_in;          /* input bytes consumed from the given paths */
	uint64_t bytes_total;       /* total size of the given paths (0 if unknown) */
	uint64_t text_bytes;        /* stored text produced */
	uint64_t tokens;            /* tokens produced */
	uint64_t failed;            /* documents failed */
	const char *current;        /* name being read */
};

struct store_ingest_opts {
	struct store_limits limits;
	store_tokenize_fn tokenize; /* NULL: text and sections only */
	void *tokenize_ctx;
	uint64_t fingerprint;       /* of the tokenizer */
	void (*on_doc)(void *ctx, const struct store_doc_event *ev);
	/* Called often; returns nonzero to cancel (the current document is not stored). */
	int (*on_progress)(void *ctx, const struct store_progress *p);
	void *cb_ctx;
};

struct store_ingest_stats {
	uint64_t added, replaced, unchanged, skipped, failed;
	uint64_t text_bytes, tokens;
	int cancelled;
};

/* Ingest paths (files, folders, archives). Per-document failures are reported through
 * on_doc and counted; -1 only when the library itself fails (disk, database). */
int store_ingest(struct store *s, char *const *paths, int n, const struct store_ingest_opts *o,
    struct store_ingest_stats *st, char **err);

/* Tokenize every document that has no tokens for this fingerprint yet, in document order. */
int store_add_tokens(struct store *s, store_tokenize_fn tokenize, void *ctx,
    uint64_t fingerprint, uint64_t *docs_done, char **err);

/* --- query.c --- */

struct store_doc {
	int64_t id;
	char *title;
	char *path;                 /* the path given to ingest */
	char *entry;                /* member inside archives ("a.tar!/b.txt"), "" for none */
	char *format;               /* text, markdown, html, epub */
	char *encoding;
	char *sha256;
	uint64_t bytes;             /* source bytes */
	uint64_t text_bytes;
	uint64_t lines;
	uint64_t sections;
	uint64_t tokens;            /* for the fingerprint asked, 0 if none */
	int64_t ingested;           /* unix time */
	int tokenized;              /* 1 when it has tokens for the fingerprint asked */
};

void store_doc_free(struct store_doc *d);
void store_docs_free(struct store_doc *v, size_t n);
/* All documents in corpus order (id). fingerprint 0: the first tokenizer found per doc. */
int store_list(struct store *s, uint64_t fingerprint, struct store_doc **docs, size_t *n,
    char **err);
/* Look a document up by id, exact title, unique title prefix or file name. */
int store_find_doc(struct store *s, const char *ref, struct store_doc *out, char **err);
int store_remove(struct store *s, int64_t doc_id, char **err);

/* Bytes [start, end) of a document's text (end clamped to the text). Malloc'd. */
int store_text_range(struct store *s, int64_t doc_id, uint64_t start, uint64_t end,
    char **text, size_t *len, char **err);
/* Byte range of lines first..last (inclusive, 1-based; last clamped). */
int store_line_range(struct store *s, int64_t doc_id, uint64_t first, uint64_t last,
    uint64_t *start, uint64_t *end, char **err);
/* Line of a byte offset. */
int store_offset_line(struct store *s, int64_t doc_id, uint64_t off, uint64_t *line,
    char **err);
/* Title of the innermost section around off (malloc'd, NULL when none). */
int store_section_at(struct store *s, int64_t doc_id, uint64_t off, char **title,
    char **err);
/* Source offset of a text offset through the stored map: for text exact at line starts;
 * for HTML exact at the start of each text node and source line whose words appear verbatim
 * in the markup (else the start of their source line); approximate in between. For an EPUB
 * the offset is inside one of its files, which store_source_location names. */
int store_source_offset(struct store *s, int64_t doc_id, uint64_t off, uint64_t *src,
    char **err);
/* The same, with the file inside the document's source it lies in (malloc'd: an EPUB's
 * spine file such as "OEBPS/ch1.xhtml"; NULL for a document that is one file). */
int store_source_location(struct store *s, int64_t doc_id, uint64_t off, char **file,
    uint64_t *src, char **err);

struct store_section {
	int64_t id, parent;         /* parent 0 for none */
	int level;
	char *title;
	uint64_t byte_start, byte_end, line;
};
int store_sections(struct store *s, int64_t doc_id, struct store_section **v, size_t *n,
    char **err);
void store_sections_free(struct store_section *v, size_t n);
/* The first section (in document order) titled exactly title; *found 0 when none. */
int store_find_section(struct store *s, int64_t doc_id, const char *title,
    struct store_section *out, int *found, char **err);

struct store_hit {
	int64_t doc_id;
	char *title;                /* document title */
	char *path;
	char *section;              /* innermost section title, or NULL */
	uint64_t line;              /* line of the first match */
	uint64_t byte_start, byte_end; /* the first match */
	char *snippet;              /* with the matches between open and close */
	double score;               /* BM25 (higher is better) */
};

/* Full-text search. raw: query is FTS5 syntax; otherwise each word must occur. */
int store_search(struct store *s, const char *query, int raw, int limit, const char *open,
    const char *close, struct store_hit **hits, size_t *n, char **err);
void store_hits_free(struct store_hit *v, size_t n);

/* Corpus order for a tokenizer: position of each document's first token, one separator slot
 * before each document; removed documents keep their place, marked removed. */
struct store_corpus_doc {
	int64_t doc_id;
	uint64_t position;
	uint64_t n_tokens;
	int removed;
};
int store_corpus(struct store *s, uint64_t fingerprint, struct store_corpus_doc **v,
    size_t *n, char **err);
/* Token ids and text offsets of a document [first, first + count). Malloc'd arrays. */
int store_tokens(struct store *s, int64_t doc_id, uint64_t fingerprint, uint64_t first,
    uint64_t count, int32_t **ids, uint32_t **offsets, size_t *n, char **err);

/* --- check.c --- */

/* Verify the library; report(ctx, doc_id or 0, message) for each problem. *problems gets
 * the count; -1 only when the check itself cannot run. */
int store_check(struct store *s, void (*report)(void *ctx, int64_t doc_id, const char *msg),
    void *ctx, uint64_t *problems, char **err);

struct store_counts {
	uint64_t documents, sections, chunks, tokens, text_bytes;
};
int store_counts(struct store *s, struct store_counts *c, char **err);

/* --- session.c --- */

/* A session is one named conversation with the library: its turns (question, answer, the
 * citations with their exact quoted bytes, timing) saved as each one ends, and where the
 * reader was. Removing a session removes its turns and citations (ON DELETE CASCADE).
 *
 * Names are 1 to STORE_SESSION_NAME_MAX bytes of well-formed UTF-8 without control
 * characters or '/', and do not start with '-'. Times are unix seconds; the environment
 * variable QUIRE_NOW (a whole number of seconds) fixes "now" for reproducible output.
 * Writing functions take the writer lock themselves (store_open with STORE_WRITE takes it
 * up front). Messages about a session name the session, quoted, with any byte that would
 * not print written as \xHH. */

#define STORE_SESSION_NAME_MAX 64

struct store_citation {
	int n;                      /* the [n] the answer uses */
	char *ref;                  /* a reference quire show accepts: "kjv.txt:133-134" */
	int64_t doc_id;             /* the document cited (it may since have been removed) */
	char *doc_title;            /* title and path as they were when cited */
	char *doc_path;
	char *section;              /* innermost section title, NULL when none */
	uint64_t line_start;        /* lines, 1-based and inclusive */
	uint64_t line_end;
	uint64_t byte_start;        /* bytes [start, end) of the document's text */
	uint64_t byte_end;
	char *text;                 /* the exact quoted bytes */
	double score;               /* retrieval score, higher is better */
};

struct store_turn {
	int64_t id;
	int seq;                    /* 1, 2, ... within its session */
	char *question;
	char *answer;               /* "" when none came */
	struct store_citation *cites;
	size_t n_cites;
	uint64_t tokens_prefilled;  /* prompt tokens run through the model */
	uint64_t tokens_attended;   /* corpus-cache tokens attended to */
	double ttft_ms;             /* time to the first answer token */
	double tokens_per_s;        /* generation speed */
	char *scope;                /* which part of the library was used, "" if not said */
	int64_t created;            /* unix seconds */
};

struct store_session {
	int64_t id;
	char *name;
	int64_t created;            /* unix seconds */
	int64_t updated;            /* the last turn, rename or reader save */
	size_t n_turns;
	char *last_question;        /* of the last turn, "" when it has none */
	char *reader_state;         /* opaque text the reader saves: doc, line, layout; "" */
	char *kv_id;                /* fingerprint of the corpus cache it was answered over, "" */
};

/* 0 when name is a valid session name; otherwise -1 and *err says what is wrong with it. */
int store_session_name_check(const char *name, char **err);
void store_session_free(struct store_session *ss);
void store_sessions_free(struct store_session *v, size_t n);
/* All sessions, the most recently updated first. */
int store_session_list(struct store *s, struct store_session **v, size_t *n, char **err);
/* The session called name; -1 with "no session named 'NAME'" when there is none (and the
 * message of store_session_name_check for a name no session can have). */
int store_session_get(struct store *s, const char *name, struct store_session *out,
    char **err);
/* The session called name, created first when missing and create is set. A NULL name with
 * create makes a new session named "session-N", N the smallest number not taken. */
int store_session_open(struct store *s, const char *name, int create,
    struct store_session *out, char **err);
/* Refuses a new name that is invalid or already taken, naming it. */
int store_session_rename(struct store *s, const char *name, const char *new_name,
    char **err);
int store_session_remove(struct store *s, const char *name, char **err);
int store_session_set_reader_state(struct store *s, int64_t session_id, const char *state,
    char **err);
int store_session_set_kv_id(struct store *s, int64_t session_id, const char *kv_id,
    char **err);

/* Append a turn and its citations in one transaction and mark the session updated. Reads
 * question, answer (NULL: ""), cites, timing and scope (NULL: ""); sets t->id, t->seq and
 * t->created. Refuses ranges that end before they start and timing or scores that are not
 * finite numbers. */
int store_turn_add(struct store *s, int64_t session_id, struct store_turn *t, char **err);
/* The turns of a session in order, each with its citations in the order they were given. */
int store_turns(struct store *s, int64_t session_id, struct store_turn **v, size_t *n,
    char **err);
void store_turns_free(struct store_turn *v, size_t n);

#endif
