/* t-session.c: the session store (store/session.c): migration 4 on a new library and on a
 * version-3 one, session names, create, list, rename and remove, automatic names, turns and
 * citations written and read back field by field, refused turns leaving nothing behind,
 * cascading removal, another process adding a turn, the writer lock, QUIRE_NOW, and the
 * checker finding orphan turns and bad names. */
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/file.h"
#include "lib/util.h"
#include "store/store-int.h"
#include "tests/tap.h"

static char tmpdir[256];

static long long count(struct store *s, const char *sql)
{
	sqlite3_stmt *st;
	long long n = -1;
	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

static int has_table(struct store *s, const char *name)
{
	char *sql = xasprintf("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND "
	    "name = '%s'", name);
	long long n = count(s, sql);
	free(sql);
	return n == 1;
}

static void test_migration(void)
{
	char *dir = xasprintf("%s/new", tmpdir), *err = NULL;
	struct store *s;
	ok(store_open(dir, STORE_WRITE | STORE_CREATE, "t", &s, &err) == 0, "create a library");
	is_int(store_schema_version(s), 4, "a new library is at schema version 4");
	ok(has_table(s, "sessions") && has_table(s, "turns") && has_table(s, "citations"),
	    "sessions, turns and citations tables exist");
	is_int(count(s, "PRAGMA foreign_keys"), 1, "foreign keys are enforced");
	store_close(s);
	free(dir);

	/* A version-3 library with a document moves to version 4 on open, keeping it. */
	char *old = xasprintf("%s/v3", tmpdir);
	dir_make_all(old, &err);
	struct store raw = { 0 };
	raw.dir = old;
	raw.lock_fd = -1;
	char *dbp = xasprintf("%s/library.db", old);
	sqlite3_open(dbp, &raw.db);
	ok(store_migrate(&raw, 3, &err) == 0, "build a version-3 schema");
	ok(store_exec(&raw, "INSERT INTO documents(id, title, path, format, encoding, bytes, "
	    "text_bytes, lines, sha256, ingested) VALUES (1, 'old', '/x', 'text', 'utf-8', 12, 12, "
	    "1, 'abc', 0); INSERT INTO chunks(doc_id, byte_start, line, body) VALUES "
	    "(1, 0, 1, 'kept zebras\n');", &err) == 0, "version-3 rows inserted");
	ok(!has_table(&raw, "sessions"), "version 3 has no sessions table");
	sqlite3_close(raw.db);
	ok(store_open(old, STORE_READ, "t", &s, &err) == 0, "open the version-3 library");
	is_int(store_schema_version(s), 4, "migrated to version 4");
	struct store_doc *docs;
	size_t nd = 0;
	store_list(s, 0, &docs, &nd, &err);
	ok(nd == 1 && strcmp(docs[0].title, "old") == 0, "the document survived the migration");
	store_docs_free(docs, nd);
	struct store_hit *h;
	size_t nh = 0;
	store_search(s, "zebras", 0, 10, "[", "]", &h, &nh, &err);
	is_int((long long)nh, 1, "its text is still found");
	store_hits_free(h, nh);
	struct store_session ss;
	ok(store_session_open(s, "after-migration", 1, &ss, &err) == 0,
	    "a session is made in the migrated library");
	store_session_free(&ss);
	store_close(s);
	free(dbp);
	free(old);
}

static void test_names(void)
{
	static const char *const good[] = {
		"notes", "caf\xc3\xa9 \xe2\x9c\x8e", "a b", "x-1", "session-7",
		"0123456789012345678901234567890123456789012345678901234567890123",
	};
	for (size_t i = 0; i < Q_ARRAY_LEN(good); i++) {
		char *err = NULL;
		ok(store_session_name_check(good[i], &err) == 0, "good name '%s'", good[i]);
		free(err);
	}
	static const struct { const char *name, *why; } bad[] = {
		{ "", "empty" },
		{ "01234567890123456789012345678901234567890123456789012345678901234", "longer" },
		{ "-notes", "starts with '-'" },
		{ "a/b", "'/'" },
		{ "a\tb", "'a\\x09b'" },
		{ "bell\x07", "control" },
		{ "del\x7f", "control" },
		{ "c1\xc2\x85", "control" },
		{ "bad\xff", "'bad\\xff': not valid UTF-8" },
		{ "over\xc0\xaf", "not valid UTF-8" },
	};
	for (size_t i = 0; i < Q_ARRAY_LEN(bad); i++) {
		char *err = NULL;
		int r = store_session_name_check(bad[i].name, &err);
		ok(r != 0 && err && strstr(err, bad[i].why), "bad name %zu refused (%s)", i,
		    err ? err : "no message");
		free(err);
	}
}

static void cite_init(struct store_citation *c, int n, const char *ref, const char *section,
    uint64_t a, uint64_t b, const char *text, double score)
{
	memset(c, 0, sizeof *c);
	c->n = n;
	c->ref = (char *)ref;
	c->doc_id = 7;
	c->doc_title = (char *)"Le \"petit\" livre \xe2\x80\x94 \xc3\xa9t\xc3\xa9";
	c->doc_path = (char *)"/books/petit livre.txt";
	c->section = (char *)section;
	c->line_start = a;
	c->line_end = b;
	c->byte_start = a * 10;
	c->byte_end = b * 10 + 9;
	c->text = (char *)text;
	c->score = score;
}

static int same_cite(const struct store_citation *x, const struct store_citation *y)
{
	return x->n == y->n && strcmp(x->ref, y->ref) == 0 && x->doc_id == y->doc_id &&
	    strcmp(x->doc_title, y->doc_title) == 0 && strcmp(x->doc_path, y->doc_path) == 0 &&
	    ((x->section == NULL && y->section == NULL) ||
	    (x->section && y->section && strcmp(x->section, y->section) == 0)) &&
	    x->line_start == y->line_start && x->line_end == y->line_end &&
	    x->byte_start == y->byte_start && x->byte_end == y->byte_end &&
	    strcmp(x->text, y->text) == 0 && x->score == y->score;
}

static void test_sessions(void)
{
	char *dir = xasprintf("%s/lib", tmpdir), *err = NULL;
	struct store *s;
	store_open(dir, STORE_WRITE | STORE_CREATE, "t", &s, &err);
	struct store_session a, b;

	ok(store_session_open(s, "notes", 0, &a, &err) != 0 &&
	    strcmp(err, "no session named 'notes'") == 0, "opening a missing session fails: %s",
	    err ? err : "");
	free(err);
	err = NULL;
	setenv("QUIRE_NOW", "1000", 1);
	ok(store_session_open(s, "notes", 1, &a, &err) == 0, "create 'notes'");
	ok(a.id > 0 && strcmp(a.name, "notes") == 0 && a.n_turns == 0 && a.created == 1000 &&
	    a.updated == 1000 && strcmp(a.last_question, "") == 0 &&
	    strcmp(a.reader_state, "") == 0 && strcmp(a.kv_id, "") == 0,
	    "a new session: named, no turns, created at QUIRE_NOW");
	setenv("QUIRE_NOW", "1500", 1);
	ok(store_session_open(s, "notes", 1, &b, &err) == 0 && b.id == a.id && b.created == 1000,
	    "opening it again with create finds the same session");
	store_session_free(&b);
	ok(store_session_open(s, "-x", 1, &b, &err) != 0 && strstr(err, "'-x'"),
	    "a bad name is refused on create, named");
	free(err);
	err = NULL;

	/* Turns and citations round-trip, every field. */
	struct store_citation c[3];
	cite_init(&c[0], 1, "petit.txt:3-4", "Chapitre \xc3\xa9t\xc3\xa9", 3, 4,
	    "\"Quoted\" \xe2\x80\x94 text,\nwith a 'tab'\there.\n", 12.5);
	cite_init(&c[1], 2, "petit.txt:9", NULL, 9, 9, "", -0.25);
	cite_init(&c[2], 2, "petit.txt:9", "again", 9, 9, "same [2] twice", 1e-9);
	struct store_turn t1 = {
		.question = "Qu'est-ce que \"l'\xc3\xa9t\xc3\xa9\"?\nEt \\ ensuite?",
		.answer = "L'\xc3\xa9t\xc3\xa9 [1], puis [2].",
		.cites = c, .n_cites = 3,
		.tokens_prefilled = 123456789012ULL, .tokens_attended = 42, .ttft_ms = 84.5,
		.tokens_per_s = 31.25, .scope = "documents 1-3",
	};
	setenv("QUIRE_NOW", "2000", 1);
	ok(store_turn_add(s, a.id, &t1, &err) == 0, "add a turn with three citations");
	ok(t1.id > 0 && t1.seq == 1 && t1.created == 2000, "the turn got id, seq 1 and its time");
	struct store_turn t2 = { .question = "And the empty answer?" };
	setenv("QUIRE_NOW", "3000", 1);
	ok(store_turn_add(s, a.id, &t2, &err) == 0 && t2.seq == 2, "a turn with no answer is seq 2");

	struct store_turn *v;
	size_t n = 0;
	ok(store_turns(s, a.id, &v, &n, &err) == 0 && n == 2, "two turns read back");
	if (n == 2) {
		is_str(v[0].question, t1.question, "question bytes kept");
		is_str(v[0].answer, t1.answer, "answer bytes kept");
		ok(v[0].tokens_prefilled == t1.tokens_prefilled && v[0].tokens_attended == 42 &&
		    v[0].ttft_ms == 84.5 && v[0].tokens_per_s == 31.25, "timing kept");
		is_str(v[0].scope, "documents 1-3", "scope kept");
		ok(v[0].created == 2000 && v[0].seq == 1 && v[0].id == t1.id, "id, seq and time");
		is_int((long long)v[0].n_cites, 3, "three citations");
		for (size_t i = 0; i < 3 && i < v[0].n_cites; i++)
			ok(same_cite(&v[0].cites[i], &c[i]), "citation %zu kept field by field, in order",
			    i);
		ok(v[1].n_cites == 0 && v[1].cites == NULL && strcmp(v[1].answer, "") == 0 &&
		    strcmp(v[1].scope, "") == 0, "the empty answer reads back as \"\"");
	}
	store_turns_free(v, n);

	struct store_session g;
	ok(store_session_get(s, "notes", &g, &err) == 0 && g.n_turns == 2 && g.updated == 3000 &&
	    g.created == 1000 && strcmp(g.last_question, "And the empty answer?") == 0,
	    "the session counts its turns, its last question and when it was updated");
	store_session_free(&g);

	/* Refused turns leave nothing behind. */
	struct store_citation badc;
	cite_init(&badc, 1, "x", NULL, 5, 4, "backwards", 1);
	struct store_turn tb = { .question = "q", .cites = &badc, .n_cites = 1 };
	ok(store_turn_add(s, a.id, &tb, &err) != 0 && strstr(err, "[1]"),
	    "a citation ending before it starts is refused: %s", err ? err : "");
	free(err);
	err = NULL;
	cite_init(&badc, 1, "x", NULL, 4, 5, "nan", NAN);
	ok(store_turn_add(s, a.id, &tb, &err) != 0 && strstr(err, "score"),
	    "a NaN score is refused");
	free(err);
	err = NULL;
	struct store_turn tq = { .question = NULL };
	ok(store_turn_add(s, a.id, &tq, &err) != 0, "a turn without a question is refused");
	free(err);
	err = NULL;
	struct store_turn to = { .question = "orphan" };
	ok(store_turn_add(s, 999999, &to, &err) != 0 && strstr(err, "no session"),
	    "a turn for a missing session is refused");
	free(err);
	err = NULL;
	is_int(count(s, "SELECT COUNT(*) FROM turns"), 2, "refused turns wrote nothing");
	is_int(count(s, "SELECT COUNT(*) FROM citations"), 3, "nor citations");

	/* Reader state and KV id. */
	setenv("QUIRE_NOW", "3500", 1);
	ok(store_session_set_reader_state(s, a.id, "doc=7 line=120 layout=split", &err) == 0 &&
	    store_session_set_kv_id(s, a.id, "kv-0123abcd", &err) == 0, "reader state and KV id set");
	store_session_get(s, "notes", &g, &err);
	ok(strcmp(g.reader_state, "doc=7 line=120 layout=split") == 0 &&
	    strcmp(g.kv_id, "kv-0123abcd") == 0 && g.updated == 3500, "and read back");
	store_session_free(&g);
	ok(store_session_set_reader_state(s, 999999, "x", &err) != 0, "not for a missing session");
	free(err);
	err = NULL;

	/* Automatic names: the first free session-N. */
	struct store_session x1, x2, x3;
	setenv("QUIRE_NOW", "4000", 1);
	ok(store_session_open(s, NULL, 1, &x1, &err) == 0 && strcmp(x1.name, "session-1") == 0,
	    "the first automatic name is session-1");
	ok(store_session_open(s, NULL, 1, &x2, &err) == 0 && strcmp(x2.name, "session-2") == 0,
	    "then session-2");
	ok(store_session_remove(s, "session-1", &err) == 0, "remove session-1");
	ok(store_session_open(s, NULL, 1, &x3, &err) == 0 && strcmp(x3.name, "session-1") == 0 &&
	    x3.id != x1.id, "its name is free again and taken first");
	store_session_free(&x1);
	store_session_free(&x2);
	store_session_free(&x3);

	/* List: the most recently updated first. */
	struct store_session *l;
	size_t nl = 0;
	setenv("QUIRE_NOW", "5000", 1);
	struct store_turn t3 = { .question = "latest" };
	store_turn_add(s, a.id, &t3, &err);
	ok(store_session_list(s, &l, &nl, &err) == 0 && nl == 3, "three sessions listed");
	if (nl == 3)
		ok(strcmp(l[0].name, "notes") == 0 && l[0].n_turns == 3 &&
		    strcmp(l[0].last_question, "latest") == 0 && strcmp(l[1].name, "session-1") == 0 &&
		    strcmp(l[2].name, "session-2") == 0, "newest first, with counts");
	store_sessions_free(l, nl);

	/* Rename. */
	ok(store_session_rename(s, "notes", "session-2", &err) != 0 &&
	    strcmp(err, "a session named 'session-2' already exists") == 0,
	    "renaming onto a taken name is refused, naming it");
	free(err);
	err = NULL;
	ok(store_session_rename(s, "notes", "a/b", &err) != 0 && strstr(err, "'a/b'"),
	    "renaming to a bad name is refused");
	free(err);
	err = NULL;
	ok(store_session_rename(s, "nope", "fine", &err) != 0 &&
	    strcmp(err, "no session named 'nope'") == 0, "renaming a missing session fails");
	free(err);
	err = NULL;
	ok(store_session_rename(s, "notes", "\xc3\xa9t\xc3\xa9 notes", &err) == 0, "rename notes");
	ok(store_session_get(s, "notes", &g, &err) != 0, "the old name is gone");
	free(err);
	err = NULL;
	ok(store_session_get(s, "\xc3\xa9t\xc3\xa9 notes", &g, &err) == 0 && g.id == a.id &&
	    g.n_turns == 3, "the new name has the turns");
	store_session_free(&g);
	ok(store_session_rename(s, "\xc3\xa9t\xc3\xa9 notes", "\xc3\xa9t\xc3\xa9 notes", &err) == 0,
	    "renaming to its own name is no change");

	/* Remove cascades to turns and citations. */
	ok(store_session_remove(s, "\xc3\xa9t\xc3\xa9 notes", &err) == 0, "remove it");
	is_int(count(s, "SELECT COUNT(*) FROM turns"), 0, "its turns went with it");
	is_int(count(s, "SELECT COUNT(*) FROM citations"), 0, "and their citations");
	ok(store_session_remove(s, "\xc3\xa9t\xc3\xa9 notes", &err) != 0 &&
	    strstr(err, "no session named"), "removing it again fails");
	free(err);
	err = NULL;
	unsetenv("QUIRE_NOW");
	store_session_free(&a);
	store_close(s);
	free(dir);
}

/* A follow-up in a later process sees the earlier turns, and an open reader sees the new. */
static void test_processes(void)
{
	char *dir = xasprintf("%s/proc", tmpdir), *err = NULL;
	struct store *s;
	struct store_session a;
	store_open(dir, STORE_WRITE | STORE_CREATE, "t", &s, &err);
	store_session_open(s, "talk", 1, &a, &err);
	struct store_turn t = { .question = "first", .answer = "one" };
	store_turn_add(s, a.id, &t, &err);
	store_session_free(&a);
	store_close(s);

	ok(store_open(dir, STORE_READ, "t", &s, &err) == 0, "a reader opens the library");
	pid_t pid = fork();
	if (pid == 0) {
		struct store *c;
		struct store_session ca;
		struct store_turn *cv;
		size_t cn = 0;
		struct store_turn ct = { .question = "second", .answer = "two" };
		if (store_open(dir, STORE_WRITE, "child", &c, NULL) != 0 ||
		    store_session_open(c, "talk", 1, &ca, NULL) != 0 ||
		    store_turns(c, ca.id, &cv, &cn, NULL) != 0 || cn != 1 ||
		    strcmp(cv[0].answer, "one") != 0 || store_turn_add(c, ca.id, &ct, NULL) != 0)
			_exit(1);
		_exit(0);
	}
	int status = -1;
	waitpid(pid, &status, 0);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "another process saw the first turn and added a second");
	struct store_session g;
	struct store_turn *v;
	size_t n = 0;
	ok(store_session_get(s, "talk", &g, &err) == 0 && store_turns(s, g.id, &v, &n, &err) == 0 &&
	    n == 2 && strcmp(v[1].question, "second") == 0 && v[1].seq == 2,
	    "the open reader sees both turns");
	if (n)
		store_turns_free(v, n);
	store_session_free(&g);

	/* Writes wait for the writer lock; a reader is never blocked. */
	int p[2];
	if (pipe(p) != 0) {
		skip(3, "pipe");
		store_close(s);
		free(dir);
		return;
	}
	pid = fork();
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
	s->busy_ms = 200;
	ok(store_session_remove(s, "talk", &err) != 0 && strstr(err, "holder-cmd"),
	    "removing a session waits for the writer lock, then says who holds it");
	free(err);
	err = NULL;
	ok(store_session_get(s, "talk", &g, &err) == 0, "reading is not blocked");
	store_session_free(&g);
	waitpid(pid, NULL, 0);
	close(p[0]);
	close(p[1]);
	store_close(s);
	free(dir);
}

struct problems {
	int n;
	int orphan, bad_name, bad_range;
};

static void on_problem(void *ctx, int64_t doc, const char *msg)
{
	struct problems *p = ctx;
	(void)doc;
	diag("problem: %s", msg);
	p->n++;
	if (strstr(msg, "turns") && strstr(msg, "sessions"))
		p->orphan = 1;
	if (strstr(msg, "bad session name"))
		p->bad_name = 1;
	if (strstr(msg, "citation [4]"))
		p->bad_range = 1;
}

static void test_check(void)
{
	char *dir = xasprintf("%s/check", tmpdir), *err = NULL;
	struct store *s;
	struct store_session a;
	store_open(dir, STORE_WRITE | STORE_CREATE, "t", &s, &err);
	store_session_open(s, "fine", 1, &a, &err);
	struct store_citation c;
	cite_init(&c, 4, "r", NULL, 1, 2, "t", 1);
	struct store_turn t = { .question = "q", .cites = &c, .n_cites = 1 };
	store_turn_add(s, a.id, &t, &err);
	struct problems p = { 0 };
	uint64_t np = 99;
	ok(store_check(s, on_problem, &p, &np, &err) == 0 && np == 0,
	    "a library with sessions checks clean");
	ok(store_exec(s, "PRAGMA foreign_keys = OFF; INSERT INTO turns(session_id, seq, question, "
	    "answer, tokens_prefilled, tokens_attended, ttft_ms, tokens_per_s, scope, created) "
	    "VALUES (424242, 1, 'lost', '', 0, 0, 0, 0, '', 0); INSERT INTO sessions(name, created, "
	    "updated) VALUES ('-bad/name', 0, 0); UPDATE citations SET byte_start = 100; "
	    "PRAGMA foreign_keys = ON;", &err) == 0, "damage: an orphan turn, a bad name, a range");
	memset(&p, 0, sizeof p);
	ok(store_check(s, on_problem, &p, &np, &err) == 0 && np == 3, "three problems found");
	ok(p.orphan, "the orphan turn is reported");
	ok(p.bad_name, "the bad session name is reported");
	ok(p.bad_range, "the backwards citation is reported");
	store_session_free(&a);
	store_close(s);
	free(dir);
}

int main(void)
{
	if (tap_tmpdir("t-session", tmpdir, sizeof tmpdir) != 0) {
		skip_all("cannot make a temporary folder");
		return 0;
	}
	unsetenv("QUIRE_NOW");
	unsetenv("QUIRE_BUSY_MS");
	test_migration();
	test_names();
	test_sessions();
	test_processes();
	test_check();
	tap_tmpdir_remove(tmpdir);
	done_testing();
	return exit_status();
}
