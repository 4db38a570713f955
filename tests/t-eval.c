/* t-eval.c: the evaluation generators and scorers without a model: passkey and RULER /
 * InfiniteBench prompts built with a small deterministic fake tokenizer have the documented
 * shape and match the golden files under tests/data/eval/ for fixed seeds, and the scoring
 * rules give the reference answers on hand-made predictions.
 * EVAL_GOLDEN_WRITE=DIR rewrites the golden files into DIR instead of comparing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/file.h"
#include "lib/util.h"
#include "tests/tap.h"
#include "tui/eval-niah.h"
#include "tui/eval-ruler.h"
#include "tui/eval.h"

/* --- a fake tokenizer: a run of letters or digits with the white space before it is one
 * token, any other byte (with its white space) too; BOS (id 1) first when asked. ---------- */

static int is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static int fake_encode(void *user, const char *text, size_t len, int32_t **ids, size_t **offs,
    size_t *n, char **err)
{
	int bos = user != NULL;
	(void)err;
	size_t cap = len + 2, k = 0;
	*ids = xreallocarray(NULL, cap, sizeof(int32_t));
	size_t *o = xreallocarray(NULL, cap, sizeof(size_t));
	if (bos) {
		(*ids)[k] = 1;
		o[k++] = 0;
	}
	size_t i = 0;
	while (i < len) {
		size_t start = i;
		while (i < len && (text[i] == ' ' || text[i] == '\n'))
			i++;
		if (i == len) {
			if (i > start) {
				(*ids)[k] = 2;
				o[k++] = start;
			}
			break;
		}
		if (is_alnum(text[i]))
			while (i < len && is_alnum(text[i]))
				i++;
		else
			i++;
		uint32_t h = 2166136261u;
		for (size_t j = start; j < i; j++)
			h = (h ^ (unsigned char)text[j]) * 16777619u;
		(*ids)[k] = (int32_t)(3 + h % 5000);
		o[k++] = start;
	}
	*n = k;
	if (offs != NULL)
		*offs = o;
	else
		free(o);
	return 0;
}

static struct eval_tokenizer fake_tk = { fake_encode, (void *)1 };

static size_t fake_count(const char *s)
{
	int32_t *ids;
	size_t n;
	fake_encode((void *)1, s, strlen(s), &ids, NULL, &n, NULL);
	free(ids);
	return n;
}

/* --- golden files ------------------------------------------------------------------------- */

static const char *srcdir(void)
{
	const char *s = getenv("srcdir");
	return s ? s : ".";
}

static void golden_check(const char *name, const struct buf *got)
{
	const char *wdir = getenv("EVAL_GOLDEN_WRITE");
	char *err = NULL;
	if (wdir != NULL) {
		char *p = xasprintf("%s/%s", wdir, name);
		int r = file_replace_atomic(p, got->data, got->len, &err);
		ok(r == 0, "wrote %s", p);
		free(p);
		free(err);
		return;
	}
	char *path = xasprintf("%s/tests/data/eval/%s", srcdir(), name), *want;
	size_t wlen;
	if (file_read_all(path, (size_t)16 << 20, &want, &wlen, &err) != 0) {
		ok(0, "golden %s readable (%s)", name, err);
		free(err);
		free(path);
		return;
	}
	int same = wlen == got->len && memcmp(want, got->data, wlen) == 0;
	ok(same, "%s matches the golden file", name);
	if (!same) {
		size_t i = 0, line = 1;
		while (i < wlen && i < got->len && want[i] == got->data[i])
			line += want[i++] == '\n';
		diag("first difference at byte %zu (line %zu); EVAL_GOLDEN_WRITE=DIR rewrites", i,
		    line);
	}
	free(want);
	free(path);
}

/* --- scorers ------------------------------------------------------------------------------ */

static void test_scorers(void)
{
	ok(eval_passkey_correct(" 123456.\nThe", "123456"), "passkey: right");
	ok(!eval_passkey_correct(" 123465.", "123456"), "passkey: wrong digits");
	ok(!eval_passkey_correct(" 12345", "123456"), "passkey: partial key is wrong");
	ok(!eval_passkey_correct(" 1234567", "123456"), "passkey: longer number is wrong");
	ok(!eval_passkey_correct("", "123456"), "passkey: empty answer");
	ok(!eval_passkey_correct(" the pass key.", "123456"), "passkey: no digits");
	ok(eval_passkey_correct(" 00012345 is it", "12345"), "passkey: leading zeros (integer)");
	ok(!eval_passkey_correct(" 7, then 123456", "123456"), "passkey: only the first number");
	ok(eval_passkey_correct("123456789012345678901234567890", "123456789012345678901234567890"),
	    "passkey: long digit runs compare without overflow");
	size_t n;
	const char *d = eval_first_digits("ab 42x7", &n);
	ok(d != NULL && n == 2 && strncmp(d, "42", 2) == 0, "first digit run");
	ok(eval_first_digits("none", &n) == NULL && n == 0, "no digit run");

	ok(eval_first_int_match(" 01234.", "01234"), "first_int_match: exact with leading zero");
	ok(!eval_first_int_match(" 1234.", "01234"), "first_int_match: string compare");
	ok(!eval_first_int_match("", "01234"), "first_int_match: empty");
	ok(eval_kv_match(" \"1b4e28ba-2fa1-41d2-883f-0016d3cca427\".",
	    "1b4e28ba-2fa1-41d2-883f-0016d3cca427"), "kv: quoted uuid found");
	ok(!eval_kv_match(" 1b4e28ba-2fa1-41d2-883f", "1b4e28ba-2fa1-41d2-883f-0016d3cca427"),
	    "kv: partial uuid is wrong");
	ok(!eval_kv_match("x1b4e28bay", "1b4e28ba"), "kv: must be a whole word");
	ok(eval_kv_match("{key:abc}", "abc"), "kv: braces and colons separate words");

	char *c = eval_ruler_clean("  \x01hello\tworld \n");
	is_str(c, "hello\nworld", "ruler clean: strip, control bytes to newline, strip");
	free(c);
	const char *refs[] = { "1234567", "7654321", "1111111" };
	is_double(eval_match_all("numbers 1234567 and 7654321", refs, 3), 2.0 / 3, 1e-12,
	    "match_all: 2 of 3");
	is_double(eval_match_part("numbers 1234567 and 7654321", refs, 3), 1, 0, "match_part: any");
	is_double(eval_match_all("", refs, 3), 0, 0, "match_all: empty prediction");
	is_double(eval_match_part("none here", refs, 3), 0, 0, "match_part: none");
	const char *w[] = { "quiet-ocean" };
	is_double(eval_match_all("The Quiet-OCEAN.", w, 1), 1, 0, "match_all: case-insensitive");
	is_double(eval_match_all("x", refs, 0), 0, 0, "match_all: no refs");
}

/* --- helpers ------------------------------------------------------------------------------ */

static void test_helpers(void)
{
	uint64_t st = 5;
	int in_range = 1;
	for (int i = 0; i < 1000; i++) {
		uint64_t v = eval_rand_range(&st, 10000, 99999);
		in_range &= v >= 10000 && v <= 99999;
	}
	ok(in_range, "rand_range stays in range");
	size_t pick[10], seen[50] = { 0 };
	eval_sample(&st, 50, 10, pick);
	int distinct = 1;
	for (int i = 0; i < 10; i++)
		distinct &= pick[i] < 50 && seen[pick[i]]++ == 0;
	ok(distinct, "sample: distinct indexes");
	char u[37];
	eval_uuid(&st, u);
	ok(strlen(u) == 36 && u[8] == '-' && u[13] == '-' && u[14] == '4' && u[18] == '-' &&
	    strchr("89ab", u[19]) != NULL && u[23] == '-', "uuid v4 shape: %s", u);

	struct eval_haystack h;
	char *err = NULL;
	const char *book = "  In the beginning. God created\nthe heaven. And the earth.  Tail";
	ok(eval_haystack_text(book, strlen(book), &h, &err) == 0 && h.n == 4, "book: 4 sentences");
	if (h.n == 4) {
		is_str(h.sent[0], "In the beginning.", "book: sentence 1");
		is_str(h.sent[1], "God created\nthe heaven.", "book: sentence 2 keeps its newline");
		is_str(h.sent[3], "Tail", "book: the rest is a sentence");
	}
	struct buf b = BUF_INIT;
	eval_haystack_append(&h, 3, 6, " ", &b);
	is_str(b.data, "Tail In the beginning. God created\nthe heaven.", "haystack cycles");
	buf_free(&b);
	eval_haystack_free(&h);
	const char *verses = "Ge1:1 In the beginning God created.\nGe1:2 And the earth!\n\nPara two? yes\n"
	    "no stop\n\nnext";
	int vr = eval_haystack_text(verses, strlen(verses), &h, &err);
	ok(vr == 0 && h.n == 5,
	    "book: '.', '!', '?' before white space and blank lines end sentences (%zu)", h.n);
	if (h.n == 5) {
		is_str(h.sent[0], "Ge1:1 In the beginning God created.", "verse 1");
		is_str(h.sent[1], "Ge1:2 And the earth!", "verse 2");
		is_str(h.sent[2], "Para two?", "question");
		is_str(h.sent[3], "yes\nno stop", "a single line break does not end a sentence");
		is_str(h.sent[4], "next", "last paragraph");
	}
	eval_haystack_free(&h);
	ok(eval_haystack_text(" \n ", 3, &h, &err) != 0, "book without sentences fails");
	free(err);
	err = NULL;

	struct buf wl = BUF_INIT;
	buf_append_str(&wl, "# comment\nAlice\nbob's\nab\n");
	for (int i = 0; i < 120; i++)
		buf_printf(&wl, "word%d\n", i);
	struct eval_words ws;
	ok(eval_words_parse(wl.data, wl.len, &ws, &err) != 0, "words: digits make lines unusable");
	free(err);
	err = NULL;
	buf_reset(&wl);
	buf_append_str(&wl, "# comment\nAlice\nbob's\nab\n");
	for (int i = 0; i < 120; i++)
		buf_printf(&wl, "word%c%c\r\n", 'a' + i % 26, 'a' + i / 26);
	ok(eval_words_parse(wl.data, wl.len, &ws, &err) == 0 && ws.n == 120,
	    "words: proper nouns, possessives and short lines dropped (%zu)", ws.n);
	eval_words_free(&ws);
	buf_free(&wl);
	eval_words_builtin(&ws);
	is_int((long long)ws.n, 1000, "built-in word list");
	eval_words_free(&ws);
}

/* --- passkey prompts ---------------------------------------------------------------------- */

static void test_niah(void)
{
	struct eval_haystack hay;
	eval_haystack_repeat(&hay);
	struct buf gold = BUF_INIT;
	char *err = NULL;
	for (int digits = 5; digits <= 6; digits++) {
		for (size_t j = 0; j < 3; j++) {
			struct niah_params p = { 200, niah_depth(j, 3), digits, 7 + j, 0, &hay };
			struct niah_prompt np;
			if (niah_build(&fake_tk, &p, &np, &err) != 0) {
				ok(0, "niah_build: %s", err);
				free(err);
				err = NULL;
				continue;
			}
			ok(np.n_ids <= 200 && np.n_ids > 200 - 8,
			    "niah %d digits depth %.1f: %zu tokens, within a sentence of 200", digits,
			    p.depth, np.n_ids);
			ok(strlen(np.key) == (size_t)digits, "key %s has %d digits", np.key, digits);
			char *info = xasprintf("The pass key is %s. Remember it. %s is the pass key.\n",
			    np.key, np.key);
			ok(strncmp(np.text + np.needle_byte, info, strlen(info)) == 0,
			    "information line at needle_byte");
			ok(strncmp(np.text, NIAH_TASK "\n", strlen(NIAH_TASK) + 1) == 0,
			    "starts with the task line");
			ok(np.len > strlen(NIAH_QUESTION) &&
			    strcmp(np.text + np.len - strlen(NIAH_QUESTION), NIAH_QUESTION) == 0 &&
			    np.text[np.len - strlen(NIAH_QUESTION) - 1] == '\n',
			    "ends with \"\\n\" and the question");
			ok(np.needle_token < np.n_ids, "needle token inside the prompt");
			/* The needle's token offset: the prefix before it alone has that many. */
			char *prefix = xstrndup(np.text, np.needle_byte);
			is_int((long long)fake_count(prefix), (long long)np.needle_token,
			    "needle_token = tokens of the text before it");
			free(prefix);
			if (j == 0)
				is_int((long long)np.n_prefix, 0, "depth 0: no filler before the needle");
			if (j == 2)
				is_int((long long)np.n_prefix, (long long)np.n_filler,
				    "depth 1: all filler before the needle");
			struct niah_prompt again;
			niah_build(&fake_tk, &p, &again, &err);
			ok(again.len == np.len && memcmp(again.text, np.text, np.len) == 0,
			    "same seed, same prompt");
			niah_prompt_free(&again);
			buf_printf(&gold, "=== digits %d depth %.4f seed %llu key %s tokens %zu needle_token "
			    "%zu filler %zu prefix %zu\n%s\n", digits, p.depth,
			    (unsigned long long)p.seed, np.key, np.n_ids, np.needle_token, np.n_filler,
			    np.n_prefix, np.text);
			free(info);
			niah_prompt_free(&np);
		}
	}
	/* The negative control. */
	struct niah_params p = { 200, 0.5, 6, 7, 1, &hay };
	struct niah_prompt np;
	ok(niah_build(&fake_tk, &p, &np, &err) == 0 && strstr(np.text, "pass key is ") == NULL &&
	    strstr(np.text, np.key) == NULL && np.needle_token == SIZE_MAX,
	    "no-needle prompt has no information line");
	buf_printf(&gold, "=== no needle key %s tokens %zu\n%s\n", np.key, np.n_ids, np.text);
	niah_prompt_free(&np);
	p.length = 40;
	p.no_needle = 0;
	ok(niah_build(&fake_tk, &p, &np, &err) != 0, "too short a length fails: %s",
	    err ? err : "");
	free(err);
	err = NULL;
	/* The fit also works with a real book and sentence boundaries. */
	struct eval_haystack book;
	const char *text = "Call me Ishmael. Some years ago, never mind how long precisely, having "
	    "little money in my purse. And nothing particular to interest me on shore. I thought I "
	    "would sail about a little and see the watery part of the world.";
	eval_haystack_text(text, strlen(text), &book, &err);
	struct niah_params pb = { 300, 0.25, 5, 11, 0, &book };
	ok(niah_build(&fake_tk, &pb, &np, &err) == 0 && np.n_ids <= 300 && np.n_ids > 270,
	    "book haystack: %zu tokens", np.n_ids);
	buf_printf(&gold, "=== book key %s tokens %zu needle_token %zu\n%s\n", np.key, np.n_ids,
	    np.needle_token, np.text);
	niah_prompt_free(&np);
	eval_haystack_free(&book);
	golden_check("niah-golden.txt", &gold);
	buf_free(&gold);
	eval_haystack_free(&hay);
}

/* --- RULER and InfiniteBench -------------------------------------------------------------- */

static void test_ruler(void)
{
	struct eval_words words;
	eval_words_builtin(&words);
	struct ruler_env env = { &fake_tk, &words, NULL };
	struct buf gold = BUF_INIT;
	char *err = NULL;
	for (size_t i = 0; i < ruler_n_tasks; i++) {
		const struct ruler_task *t = &ruler_tasks[i];
		struct ruler_sample s;
		size_t length = 700;
		if (ruler_build(t, &env, length, 1000 + i, 0.3, &s, &err) != 0) {
			ok(0, "%s: %s", t->name, err);
			free(err);
			err = NULL;
			continue;
		}
		ok(s.n_ids + (size_t)t->max_new_tokens <= length &&
		    s.n_ids + (size_t)t->max_new_tokens > length - 60,
		    "%s: %zu prompt tokens + %d to generate fill %zu", t->name, s.n_ids,
		    t->max_new_tokens, length);
		int refs_in = s.n_refs > 0;
		for (size_t r = 0; r < s.n_refs; r++)
			refs_in &= strstr(s.text, s.refs[r]) != NULL;
		ok(refs_in, "%s: %zu answers, each in the prompt", t->name, s.n_refs);
		struct buf pred = BUF_INIT;
		buf_append_str(&pred, " ");
		for (size_t r = 0; r < s.n_refs; r++)
			buf_printf(&pred, "%s%s", r ? ", " : "", s.refs[r]);
		is_double(ruler_score(t, &s, pred.data), 1, 0, "%s: all answers score 1", t->name);
		is_double(ruler_score(t, &s, ""), 0, 0, "%s: an empty answer scores 0", t->name);
		buf_free(&pred);
		buf_printf(&gold, "=== %s seed %llu tokens %zu units %zu refs", t->name,
		    (unsigned long long)(1000 + i), s.n_ids, s.n_units);
		for (size_t r = 0; r < s.n_refs; r++)
			buf_printf(&gold, " %s", s.refs[r]);
		buf_printf(&gold, "\n%s\n", s.text);
		ruler_sample_free(&s);
	}
	/* Template details of the reference generators. */
	struct ruler_sample s;
	ruler_build(ruler_task_find("niah_single_1"), &env, 700, 3, 0, &s, &err);
	ok(strncmp(s.text, "A special magic number is hidden within the following text.", 59) == 0 &&
	    strstr(s.text, "One of the special magic numbers for ") != NULL &&
	    strstr(s.text, "What is the special magic number for ") != NULL &&
	    strstr(s.text, "mentioned in the provided text is") != NULL,
	    "niah_single_1: singular template, plural needle");
	ruler_sample_free(&s);
	ruler_build(ruler_task_find("niah_multiquery"), &env, 900, 3, 0, &s, &err);
	ok(s.n_refs == 4 && strncmp(s.text, "Some special magic numbers are hidden", 37) == 0 &&
	    strstr(s.text, ", and ") != NULL, "niah_multiquery: 4 answers, plural, joined queries");
	ruler_sample_free(&s);
	ruler_build(ruler_task_find("vt"), &env, 900, 3, 0, &s, &err);
	ok(s.n_refs == 5 && strstr(s.text, "variables are assgined the value") != NULL &&
	    strstr(s.text, "VAR ") != NULL, "vt: 5 names, the original's wording");
	ruler_sample_free(&s);
	ruler_build(ruler_task_find("number_string"), &env, 700, 3, 0.5, &s, &err);
	ok(s.n_refs == 1 && strlen(s.refs[0]) == 10, "number_string: 10 digits (%s)", s.refs[0]);
	ruler_sample_free(&s);
	ruler_build(ruler_task_find("kv_retrieval"), &env, 700, 3, 1.0, &s, &err);
	ok(s.n_refs == 1 && strlen(s.refs[0]) == 36, "kv_retrieval: a uuid value");
	ruler_sample_free(&s);
	ok(ruler_build(ruler_task_find("cwe"), &env, 100, 3, 0, &s, &err) != 0,
	    "a length below tokens to generate fails");
	free(err);
	golden_check("ruler-golden.txt", &gold);
	buf_free(&gold);
	eval_words_free(&words);
}

int main(void)
{
	test_scorers();
	test_helpers();
	test_niah();
	test_ruler();
	done_testing();
	return exit_status();
}
