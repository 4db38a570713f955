/* replay.h: a fuzz target as a CI unit test (tests/t-fuzz-NAME.c includes the target, then
 * this): every file of tests/fuzz/NAME-corpus runs once, then seeded mutations of each (bit
 * flips, bytes that matter to markup and encodings, insertions of markup and heading
 * fragments, cut and repeated spans). The target aborts on any broken invariant and ASan
 * builds catch overreads; long runs use libFuzzer (tests/fuzz/README). */
#ifndef QUIRE_TESTS_FUZZ_REPLAY_H
#define QUIRE_TESTS_FUZZ_REPLAY_H

#include <dirent.h>

#include "engine/sample.h"
#include "tests/tap.h"

static const char *const replay_tokens[] = {
	"<", ">", "</", "/>", "&", "&#", "&#x", ";", "\"", "'", "=", "\n", "\r\n", "\t", "%%",
	"\n%%\n", "\xc3", "\xa9", "\xe2\x80", "\xef\xbb\xbf", "\xff\xfe", "\xfe\xff", "\x80",
	"\xf4\x90\x80\x80", "e\xcc\x81", "\xed\xa0\x80", "<h1>", "</h1>", "<h3>", "<p>", "<li>",
	"<ol>", "<ul>", "<table><tr><td>", "<script>", "<style>", "<title>", "<![CDATA[", "<!--",
	"-->", "<?xml version=\"1.0\"?>", "<!DOCTYPE x [<!ENTITY a \"aaaa\">]>", "&a;",
	"<itemref idref=\"c1\"/>", "href=\"", "../", "#", "Chapter 1\n", "ARTICLE II\n",
	"Section 3.\n", "\xc2\xa7 4\n", "1.1 ", "(a) ", "Ge1:1 ", "SSol2:3 ", "# ", "\n===\n",
	"```\n", "PK\3\4",
};

static void replay_mutate(uint8_t *buf, size_t *len, size_t cap, uint64_t *rng)
{
	int edits = 1 + (int)(splitmix64(rng) % 4);
	for (int e = 0; e < edits; e++) {
		size_t at = *len ? splitmix64(rng) % (*len + 1) : 0;
		switch (splitmix64(rng) % 6) {
		case 0:
			if (at < *len)
				buf[at] ^= (uint8_t)(1u << (splitmix64(rng) % 8));
			break;
		case 1:
			if (at < *len)
				buf[at] = (uint8_t)splitmix64(rng);
			break;
		case 2: case 3: {           /* insert a token */
			const char *t = replay_tokens[splitmix64(rng) % Q_ARRAY_LEN(replay_tokens)];
			size_t n = strlen(t);
			if (*len + n > cap)
				break;
			memmove(buf + at + n, buf + at, *len - at);
			memcpy(buf + at, t, n);
			*len += n;
			break;
		}
		case 4:                     /* cut a span */
			if (at < *len) {
				size_t n = 1 + splitmix64(rng) % (*len - at);
				memmove(buf + at, buf + at + n, *len - at - n);
				*len -= n;
			}
			break;
		default:                    /* repeat a span */
			if (at < *len) {
				size_t n = 1 + splitmix64(rng) % (*len - at < 64 ? *len - at : 64);
				if (*len + n > cap)
					break;
				memmove(buf + at + n, buf + at, *len - at);
				*len += n;
			}
			break;
		}
	}
}

/* With QUIRE_FUZZ_LAST=FILE set, each input is written there before it runs: after an
 * abort, FILE holds the input that caused it (replay it with the standalone target). */
static void replay_one(const uint8_t *data, size_t len)
{
	const char *last = getenv("QUIRE_FUZZ_LAST");
	if (last && *last) {
		FILE *f = fopen(last, "wb");
		if (f) {
			fwrite(data, 1, len, f);
			fclose(f);
		}
	}
	LLVMFuzzerTestOneInput(data, len);
}

/* Run the corpus of tests/fuzz/NAME-corpus and `mutations` mutations of each seed. */
static int replay_corpus(const char *name, int mutations, int min_seeds)
{
	const char *srcdir = getenv("srcdir") ? getenv("srcdir") : ".";
	char *dir = xasprintf("%s/tests/fuzz/%s-corpus", srcdir, name);
	struct dirent **ents;
	int ne = scandir(dir, &ents, NULL, alphasort);
	if (ne < 0) {
		free(dir);
		return skip_all("no fuzz corpus (srcdir not set?)");
	}
	uint64_t rng = 20261122;
	int seeds = 0;
	for (int k = 0; k < ne; k++) {
		const char *f = ents[k]->d_name;
		if (f[0] == '.')
			continue;
		char *path = xasprintf("%s/%s", dir, f), *data, *err = NULL;
		size_t len;
		if (file_read_all(path, 1u << 20, &data, &len, &err) != 0) {
			ok(0, "read %s: %s", f, err);
			free(err);
			free(path);
			continue;
		}
		replay_one((const uint8_t *)data, len);
		seeds++;
		size_t cap = len + 256;
		uint8_t *m = xmalloc(cap);
		for (int i = 0; i < mutations; i++) {
			size_t mlen = len;
			memcpy(m, data, len);
			replay_mutate(m, &mlen, cap, &rng);
			replay_one(m, mlen);
		}
		free(m);
		ok(1, "%s and %d mutations of it", f, mutations);
		free(data);
		free(path);
	}
	for (int k = 0; k < ne; k++)
		free(ents[k]);
	free(ents);
	free(dir);
	ok(seeds >= min_seeds, "ran the %s corpus (%d seeds)", name, seeds);
	done_testing();
	return exit_status();
}

#endif
