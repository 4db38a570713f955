/* fuzz-sections.c: a libFuzzer target for section detection: the plain-text detector
 * (chapters, articles, §, numbered clauses, verse references) and the Markdown one run over
 * the raw bytes and over their normalised text; every section list they make has ranges inside
 * the text, a consistent hierarchy and the right line numbers.
 *
 * Build with libFuzzer: `make fuzz-short` (see tests/fuzz/README), or by hand:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -I.
 *       tests/fuzz/fuzz-sections.c store/sections.c store/text.c lib/alloc.c lib/error.c
 *       lib/buf.c lib/file.c -lutf8proc -o fuzz-sections
 * With -DQUIRE_FUZZ_STANDALONE instead of -fsanitize=fuzzer it runs the files it is given. */
#include "tests/fuzz/fuzz-store.h"

static void detect_both(const char *text, size_t len, int utf8)
{
	struct sections s = { 0 };
	sections_detect_text(text, len, &s);
	fuzz_check_sections(&s, text, len, utf8);
	sections_free(&s);
	sections_detect_markdown(text, len, &s);
	fuzz_check_sections(&s, text, len, utf8);
	sections_free(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *raw = fuzz_copy(data, size);
	detect_both(raw, size, 0);
	free(raw);

	struct text_norm t;
	char *err = NULL;
	if (text_normalize((const char *)data, size, 0, &t, &err) == 0) {
		/* What ingest gives the detectors: exact length, UTF-8, NFC. */
		char *x = fuzz_copy((const uint8_t *)t.text.data, t.text.len);
		detect_both(x, t.text.len, 1);
		free(x);
		text_norm_free(&t);
	}
	free(err);
	return 0;
}
