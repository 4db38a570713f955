/* session-fixture.c: not a test: writes into the library at argv[1], which already holds
 * kjv.txt (tests/data/store/kjv-genesis.txt), the sessions tests/t8001-sessions.sh reads, with
 * citations quoted from the stored text and QUIRE_NOW pinning every time, until `quire ask
 * -s` can write them itself. Prints nothing on success; exits 1 saying why otherwise. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"
#include "store/store.h"

static struct store *s;

static void die(char *err)
{
	fprintf(stderr, "session-fixture: %s\n", err);
	free(err);
	store_close(s);
	exit(1);
}

/* A citation of lines first..last of doc, quoted from the library as ask would. */
static void cite(const struct store_doc *d, int n, uint64_t first, uint64_t last, double score,
    struct store_citation *c)
{
	char *err = NULL;
	size_t len;
	memset(c, 0, sizeof *c);
	c->n = n;
	c->ref = first == last ? xasprintf("kjv.txt:%llu", (unsigned long long)first) :
	    xasprintf("kjv.txt:%llu-%llu", (unsigned long long)first, (unsigned long long)last);
	c->doc_id = d->id;
	c->doc_title = d->title;
	c->doc_path = d->path;
	c->line_start = first;
	c->line_end = last;
	c->score = score;
	if (store_line_range(s, d->id, first, last, &c->byte_start, &c->byte_end, &err) != 0 ||
	    store_text_range(s, d->id, c->byte_start, c->byte_end, &c->text, &len, &err) != 0 ||
	    store_section_at(s, d->id, c->byte_start, &c->section, &err) != 0)
		die(err);
}

static void cite_free(struct store_citation *c)
{
	free(c->ref);
	free(c->section);
	free(c->text);
}

int main(int argc, char **argv)
{
	char *err = NULL;
	if (argc != 2) {
		fprintf(stderr, "usage: session-fixture LIBRARY\n");
		return 2;
	}
	if (store_open(argv[1], STORE_WRITE, "session-fixture", &s, &err) != 0)
		die(err);
	struct store_doc d;
	if (store_find_doc(s, "kjv.txt", &d, &err) != 0)
		die(err);

	struct store_session a, b;
	setenv("QUIRE_NOW", "1767323045", 1);       /* 2026-01-02T03:04:05Z */
	if (store_session_open(s, "genesis", 1, &a, &err) != 0)
		die(err);
	struct store_citation c1[2];
	cite(&d, 1, 1, 1, 12.5, &c1[0]);
	cite(&d, 2, 3, 5, 7.25, &c1[1]);
	struct store_turn t1 = {
		.question = "What did God create in the beginning?",
		.answer = "The heaven and the earth [1]; then light, which He called Day [2].",
		.cites = c1, .n_cites = 2,
		.tokens_prefilled = 5437, .tokens_attended = 5391, .ttft_ms = 84.5,
		.tokens_per_s = 31.25, .scope = "all 1 documents (5391 tokens)",
	};
	setenv("QUIRE_NOW", "1767323100", 1);
	if (store_turn_add(s, a.id, &t1, &err) != 0)
		die(err);

	struct store_citation c2[1];
	cite(&d, 1, 8, 8, 3.5, &c2[0]);
	struct store_turn t2 = {
		.question = "And the \"firmament\" \xe2\x80\x94 what was it called?\nAnswer briefly.",
		.answer = "It was called \"Heaven\" [1].\n\nThat was the second day.",
		.cites = c2, .n_cites = 1,
		.tokens_prefilled = 5502, .tokens_attended = 5391, .ttft_ms = 91,
		.tokens_per_s = 30.5, .scope = "kjv.txt",
	};
	setenv("QUIRE_NOW", "1767323160", 1);
	if (store_turn_add(s, a.id, &t2, &err) != 0)
		die(err);

	/* A second session, older, whose one turn got no answer. */
	setenv("QUIRE_NOW", "1767236645", 1);       /* 2026-01-01T03:04:05Z */
	if (store_session_open(s, "caf\xc3\xa9 notes", 1, &b, &err) != 0)
		die(err);
	struct store_turn t3 = { .question = "Who named the stars? A question long enough that "
	    "the listing has to cut it short." };
	if (store_turn_add(s, b.id, &t3, &err) != 0)
		die(err);

	cite_free(&c1[0]);
	cite_free(&c1[1]);
	cite_free(&c2[0]);
	store_session_free(&a);
	store_session_free(&b);
	store_doc_free(&d);
	store_close(s);
	return 0;
}
