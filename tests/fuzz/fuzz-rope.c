/* fuzz-rope.c: a libFuzzer target for the two RoPE text formats quire reads from disk: LongRoPE
 * factor files (--longrope-factors, rope_factors_parse) and rope-search state files
 * (--resume, rope_search_state_parse). Whatever they accept must satisfy their documented
 * constraints and survive a write-and-read round trip unchanged.
 *
 * Build with libFuzzer: `make fuzz-short` (see tests/fuzz/README), or by hand:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -I. -Ibuild/default
 *       tests/fuzz/fuzz-rope.c engine/rope.c engine/rope-search.c engine/gguf.c
 *       lib/alloc.c lib/error.c lib/buf.c lib/file.c -lm -o fuzz-rope
 * With -DQUIRE_FUZZ_STANDALONE instead of -fsanitize=fuzzer it runs the files it is given. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/rope-search.h"
#include "engine/rope.h"
#include "lib/buf.h"
#include "lib/file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond) do { \
		if (!(cond)) { \
			fprintf(stderr, "fuzz-rope: check failed: %s (line %d)\n", #cond, __LINE__); \
			abort(); \
		} \
	} while (0)

/* Pair counts tried on every input: the header must name the same one. */
static const int pair_counts[] = { 1, 4, 32 };

static void factor_file(const char *text, size_t len, int n)
{
	float l[ROPE_MAX_PAIRS], s[ROPE_MAX_PAIRS], l2[ROPE_MAX_PAIRS], s2[ROPE_MAX_PAIRS];
	uint32_t keep = 0, keep2 = 0;
	char *err = NULL;
	if (rope_factors_parse(text, len, "fuzz", n, l, s, &keep, &err) != 0) {
		FUZZ_CHECK(err != NULL && strncmp(err, "fuzz", 4) == 0);   /* names the file */
		free(err);
		return;
	}
	FUZZ_CHECK(err == NULL);
	FUZZ_CHECK(keep <= ROPE_KEEP_MAX);
	for (int i = 0; i < n; i++)
		FUZZ_CHECK(isfinite(l[i]) && l[i] > 0.0f && isfinite(s[i]) && s[i] > 0.0f);
	struct buf b = BUF_INIT;
	rope_factors_format(&b, n, l, s, keep);
	FUZZ_CHECK(rope_factors_parse(b.data, b.len, "again", n, l2, s2, &keep2, &err) == 0);
	FUZZ_CHECK(keep2 == keep);
	FUZZ_CHECK(memcmp(l, l2, (size_t)n * sizeof(float)) == 0);
	FUZZ_CHECK(memcmp(s, s2, (size_t)n * sizeof(float)) == 0);
	buf_free(&b);
}

static void search_state(const char *text, size_t len)
{
	struct rope_search *s = calloc(2, sizeof *s);
	FUZZ_CHECK(s != NULL);
	char *err = NULL;
	if (rope_search_state_parse(&s[0], text, len, "fuzz", NULL, &err) != 0) {
		if (err == NULL || strncmp(err, "fuzz", 4) != 0)
			fprintf(stderr, "fuzz-rope: state error: %s\n", err ? err : "(none)");
		FUZZ_CHECK(err != NULL && strncmp(err, "fuzz", 4) == 0);
		free(err);
		free(s);
		return;
	}
	FUZZ_CHECK(err == NULL);
	FUZZ_CHECK(s[0].n >= 4 && s[0].n <= ROPE_SEARCH_MAX_POP);
	for (int k = 0; k < s[0].n; k++) {
		FUZZ_CHECK(rope_search_valid(s[0].pop[k].f, s[0].p.n_pairs, s[0].p.max_factor));
		FUZZ_CHECK(rope_search_keep_valid(s[0].pop[k].keep));
	}
	struct buf a = BUF_INIT, b = BUF_INIT;
	rope_search_state_format(&s[0], &a);
	FUZZ_CHECK(rope_search_state_parse(&s[1], a.data, a.len, "again", NULL, &err) == 0);
	rope_search_state_format(&s[1], &b);
	FUZZ_CHECK(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
	buf_free(&a);
	buf_free(&b);
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	for (size_t i = 0; i < sizeof pair_counts / sizeof pair_counts[0]; i++)
		factor_file(text, size, pair_counts[i]);
	search_state(text, size);
	return 0;
}

#ifdef QUIRE_FUZZ_STANDALONE
#include "tests/fuzz/standalone.h"

int main(int argc, char **argv)
{
	return fuzz_standalone_run(argc, argv, "fuzz-rope", (size_t)1 << 24);
}
#endif
