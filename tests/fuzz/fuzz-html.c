/* fuzz-html.c: a libFuzzer target for the HTML extractor (libxml2's HTML parser and our walk
 * over its tree): every input gives text or a message; the text appended after what the
 * buffer held is valid UTF-8 ending in one newline, headings become sections inside it with a
 * consistent hierarchy, the title is valid UTF-8 and the byte map's notes are in text order
 * and inside both texts.
 *
 * Build with libFuzzer: `make fuzz-short` (see tests/fuzz/README), or by hand:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -I. $(xml2-config --cflags)
 *       tests/fuzz/fuzz-html.c store/html.c store/sections.c store/text.c lib/alloc.c
 *       lib/error.c lib/buf.c lib/file.c $(xml2-config --libs) -lutf8proc -o fuzz-html
 * With -DQUIRE_FUZZ_STANDALONE instead of -fsanitize=fuzzer it runs the files it is given. */
#include "tests/fuzz/fuzz-store.h"
#include "store/html.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *src = fuzz_copy(data, size);
	/* As EPUB chapters do: append to a buffer that already holds text, one level down. */
	static const char before[] = "Earlier chapter.\n";
	struct buf text = BUF_INIT;
	buf_append_str(&text, before);
	struct sections secs = { 0 };
	char *title = NULL, *err = NULL;
	int level_offset = size & 1;
	struct html_map map = { 0 };
	if (html_extract(src, size, &text, &secs, level_offset, &title, &map, &err) == 0) {
		/* The map: notes in text order, inside the new text and the source. */
		for (size_t i = 0; i < map.n; i++) {
			FCHECK(i == 0 || map.v[2 * i] > map.v[2 * i - 2]);
			FCHECK(map.v[2 * i] >= sizeof before - 1 && map.v[2 * i] < text.len);
			FCHECK(map.v[2 * i + 1] < size);
		}
		FCHECK(err == NULL);
		FCHECK(text.len >= sizeof before - 1 && memcmp(text.data, before, sizeof before - 1) == 0);
		FCHECK(utf8_valid(text.data, text.len, NULL));
		const char *mine = text.data + sizeof before - 1;
		size_t n = text.len - (sizeof before - 1);
		FCHECK(n == 0 || (mine[n - 1] == '\n' && (n == 1 || mine[n - 2] != '\n')));
		for (size_t i = 0; i < secs.n; i++) {
			FCHECK(secs.v[i].start >= sizeof before - 1 && secs.v[i].start <= text.len);
			FCHECK(secs.v[i].level >= 1 + level_offset && secs.v[i].level <= 6 + level_offset);
		}
		sections_finish(&secs, text.data, text.len);
		fuzz_check_sections(&secs, text.data, text.len, 1);
		if (title)
			FCHECK(*title != '\0' && utf8_valid(title, strlen(title), NULL));
		char *z = xstrndup(src, size), *c = html_collapse_ws(z);
		FCHECK(c != NULL && utf8_valid(c, strlen(c), NULL));
		free(c);
		free(z);
	} else {
		FCHECK(err != NULL && title == NULL);
	}
	free(title);
	free(err);
	html_map_free(&map);
	sections_free(&secs);
	buf_free(&text);
	free(src);
	return 0;
}
