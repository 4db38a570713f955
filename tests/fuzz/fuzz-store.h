/* fuzz-store.h: what the text-extractor fuzz targets (fuzz-html, fuzz-epub, fuzz-text,
 * fuzz-sections) share: an abort-on-failure CHECK, the invariants of a section list, and the
 * standalone main that runs each file named on the command line once (-DQUIRE_FUZZ_STANDALONE;
 * libFuzzer brings its own main otherwise). Include it once, from the target's .c file. */
#ifndef QUIRE_TESTS_FUZZ_STORE_H
#define QUIRE_TESTS_FUZZ_STORE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/file.h"
#include "lib/utf8.h"
#include "lib/util.h"
#include "store/sections.h"
#include "store/text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FCHECK(cond)                                                                        \
	do {                                                                                    \
		if (!(cond)) {                                                                      \
			fprintf(stderr, "%s: check failed at line %d: %s\n", __FILE__, __LINE__, #cond); \
			abort();                                                                        \
		}                                                                                   \
	} while (0)

/* A finished section list over text[0..len): ranges inside the text and ordered, each
 * parent before its child, shallower and around it, lines counted from the text, titles
 * short (and valid UTF-8 when the text is). */
static inline void fuzz_check_sections(const struct sections *s, const char *text, size_t len,
    int utf8)
{
	uint64_t line = 1;
	size_t at = 0;
	for (size_t i = 0; i < s->n; i++) {
		const struct section *e = &s->v[i];
		FCHECK(e->start <= e->end && e->end <= len);
		FCHECK(i == 0 || s->v[i - 1].start <= e->start);
		FCHECK(e->parent >= -1 && e->parent < (long)i);
		if (e->parent >= 0) {
			const struct section *p = &s->v[e->parent];
			FCHECK(p->level < e->level);
			FCHECK(p->start <= e->start && e->end <= p->end);
		}
		for (; at < e->start; at++)
			if (text[at] == '\n')
				line++;
		FCHECK(e->line == line);
		FCHECK(e->title != NULL && strlen(e->title) <= SECTION_TITLE_MAX);
		if (utf8)
			FCHECK(utf8_valid(e->title, strlen(e->title), NULL));
	}
}

/* A copy of exactly size bytes on the heap, so ASan sees an overread past the input. */
static inline char *fuzz_copy(const uint8_t *data, size_t size)
{
	char *c = xmalloc(size ? size : 1);
	if (size)
		memcpy(c, data, size);
	return c;
}

#ifdef QUIRE_FUZZ_STANDALONE
#include "tests/fuzz/standalone.h"
int main(int argc, char **argv)
{
	return fuzz_standalone_run(argc, argv, argv[0], 1u << 26);
}
#endif

#endif
