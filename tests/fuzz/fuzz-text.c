/* fuzz-text.c: a libFuzzer target for encoding detection and NFC normalisation: every input
 * either normalises or fails with a message; what comes out is valid UTF-8 in NFC, its line
 * count and map back to the source agree with the bytes, and a source that was already UTF-8
 * NFC comes back byte for byte.
 *
 * Build with libFuzzer: `make fuzz-short` (see tests/fuzz/README), or by hand from the
 * repository root:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -I. tests/fuzz/fuzz-text.c
 *       store/text.c lib/alloc.c lib/error.c lib/buf.c lib/file.c -lutf8proc -o fuzz-text
 * With -DQUIRE_FUZZ_STANDALONE instead of -fsanitize=fuzzer it runs the files it is given. */
#include "tests/fuzz/fuzz-store.h"

static void check_norm(const char *src, size_t n, const struct text_norm *t)
{
	const char *x = t->text.data;
	size_t len = t->text.len;
	FCHECK(x != NULL && x[len] == '\0');
	FCHECK(utf8_valid(x, len, NULL));
	/* NFC: normalising again changes nothing. */
	char *again;
	size_t again_len;
	if (text_nfc(x, len, &again, &again_len) == 0) {
		FCHECK(again_len == len && memcmp(again, x, len) == 0);
		free(again);
	}
	uint64_t lines = 0;
	for (size_t i = 0; i < len; i++)
		lines += x[i] == '\n';
	if (len && x[len - 1] != '\n')
		lines++;
	FCHECK(t->lines == lines);
	/* The map: a pair wherever the drift between text and source changes, starting at
	 * (0, bytes skipped for a BOM), never going back; the drift after its last pair is the
	 * one between the ends. */
	FCHECK(t->map_len >= 1);
	FCHECK(t->map[0] == 0 && t->map[1] <= 3 && t->map[1] <= n);
	const uint64_t *last = t->map + 2 * (t->map_len - 1);
	FCHECK(last[0] <= len && last[1] <= n && len - last[0] == n - last[1]);
	for (size_t i = 1; i < t->map_len; i++) {
		FCHECK(t->map[2 * i] >= t->map[2 * i - 2] && t->map[2 * i] <= len);
		FCHECK(t->map[2 * i + 1] >= t->map[2 * i - 1] && t->map[2 * i + 1] <= n);
	}
	if (t->identical)
		FCHECK(len == n && memcmp(x, src, n) == 0);
	/* Plain ASCII without a BOM is stored exactly. */
	int ascii = 1;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)src[i] >= 0x80)
			ascii = 0;
	if (ascii)
		FCHECK(t->enc == TEXT_UTF8 && t->identical);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *src = fuzz_copy(data, size);
	enum text_encoding enc = text_detect(src, size);
	FCHECK(text_encoding_name(enc) != NULL);
	size_t bad = 0;
	int valid = utf8_valid(src, size, &bad);
	FCHECK(valid || bad < size);
	if (valid && enc != TEXT_UTF8_BOM && enc != TEXT_UTF16LE && enc != TEXT_UTF16BE)
		FCHECK(enc == TEXT_UTF8);
	(void)text_is_binary(src, size);

	/* Without a line limit, and with a small one (the first byte picks it). */
	size_t limits[2] = { 0, size ? 16 + (unsigned char)src[0] : 16 };
	for (int k = 0; k < 2; k++) {
		struct text_norm t;
		char *err = NULL;
		if (text_normalize(src, size, limits[k], &t, &err) == 0) {
			FCHECK(err == NULL);
			check_norm(src, size, &t);
			text_norm_free(&t);
		} else {
			FCHECK(err != NULL && *err != '\0');
			FCHECK(t.text.data == NULL && t.map == NULL);
			free(err);
		}
	}
	free(src);
	return 0;
}
