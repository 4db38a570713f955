/* t-tokenizer-mini.c: the tokenizer on tiny vocabularies built in memory as GGUF files, so the
 * SentencePiece-style path, byte fallback, special tokens, offsets, the fingerprint and the
 * load errors are checked without any model file. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/gguf.h"
#include "engine/tokenizer.h"
#include "lib/buf.h"
#include "lib/util.h"
#include "tests/tap.h"

/* --- a minimal GGUF v3 writer (metadata only) ----------------------------------------------- */

struct kv {
	const char *key;
	int type;                 /* 8 string, 7 bool, 4 u32, 9 array */
	const char *str;
	uint32_t u32;
	int arr_type;             /* array element type: 8 string, 5 i32, 6 f32 */
	const char *const *strs;
	const int32_t *i32s;
	const float *f32s;
	size_t n;
};

static void put(struct buf *b, const void *p, size_t n) { buf_append(b, p, n); }
static void put_u32(struct buf *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(struct buf *b, uint64_t v) { put(b, &v, 8); }
static void put_str(struct buf *b, const char *s)
{
	put_u64(b, strlen(s));
	put(b, s, strlen(s));
}

static struct buf make_gguf(const struct kv *kv, size_t n)
{
	struct buf b = BUF_INIT;
	put(&b, "GGUF", 4);
	put_u32(&b, 3);
	put_u64(&b, 0);
	put_u64(&b, n);
	for (size_t i = 0; i < n; i++) {
		put_str(&b, kv[i].key);
		put_u32(&b, (uint32_t)kv[i].type);
		if (kv[i].type == 8) {
			put_str(&b, kv[i].str);
		} else if (kv[i].type == 7) {
			unsigned char v = (unsigned char)kv[i].u32;
			put(&b, &v, 1);
		} else if (kv[i].type == 4) {
			put_u32(&b, kv[i].u32);
		} else {
			put_u32(&b, (uint32_t)kv[i].arr_type);
			put_u64(&b, kv[i].n);
			for (size_t j = 0; j < kv[i].n; j++) {
				if (kv[i].arr_type == 8)
					put_str(&b, kv[i].strs[j]);
				else if (kv[i].arr_type == 5)
					put(&b, &kv[i].i32s[j], 4);
				else
					put(&b, &kv[i].f32s[j], 4);
			}
		}
	}
	while (b.len % 32)
		buf_append_char(&b, 0);
	return b;
}

static struct tokenizer *load(const struct kv *kv, size_t n, char **err)
{
	struct buf b = make_gguf(kv, n);
	struct gguf_file *f;
	struct tokenizer *tok = NULL;
	if (gguf_open_buffer(b.data, b.len, "mini.gguf", &f, err) == 0) {
		if (tokenizer_from_gguf(f, &tok, err) < 0)
			tok = NULL;
		gguf_close(f);
	}
	buf_free(&b);
	return tok;
}

static int ids_are(const int32_t *got, size_t n, const int32_t *want, size_t m)
{
	if (n != m) {
		diag("got %zu tokens, want %zu", n, m);
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		if (got[i] != want[i]) {
			diag("token %zu: got %d, want %d", i, got[i], want[i]);
			return 0;
		}
	return 1;
}

static char *decode_all(const struct tokenizer *tok, const int32_t *ids, size_t n, unsigned fl)
{
	struct buf b = BUF_INIT;
	tokenizer_decode(tok, ids, n, fl, &b, NULL);
	buf_append(&b, "", 0);
	return buf_steal(&b);
}

/* --- SentencePiece-style ------------------------------------------------------------------ */

#define SPM_N 267
static char spm_text[SPM_N][8];
static const char *spm_tokens[SPM_N];
static int32_t spm_types[SPM_N];
static float spm_scores[SPM_N];

static void build_spm(void)
{
	static const char *const fixed[] = { "<unk>", "<s>", "</s>" };
	static const char *const words[] = { "\xe2\x96\x81", "a", "b", "\xe2\x96\x81" "a", "ab",
		"\xe2\x96\x81" "ab", "c", "<user>" };
	static const float wscore[] = { -1, -2, -2, -0.5f, -0.4f, -0.1f, -3, 0 };
	for (int i = 0; i < 3; i++) {
		spm_tokens[i] = fixed[i];
		spm_types[i] = i == 0 ? TOK_TYPE_UNKNOWN : TOK_TYPE_CONTROL;
	}
	for (int b = 0; b < 256; b++) {
		snprintf(spm_text[3 + b], sizeof(spm_text[0]), "<0x%02X>", b);
		spm_tokens[3 + b] = spm_text[3 + b];
		spm_types[3 + b] = TOK_TYPE_BYTE;
	}
	for (int i = 0; i < 8; i++) {
		spm_tokens[259 + i] = words[i];
		spm_types[259 + i] = i == 7 ? TOK_TYPE_USER_DEFINED : TOK_TYPE_NORMAL;
		spm_scores[259 + i] = wscore[i];
	}
}

static void test_spm(void)
{
	build_spm();
	struct kv kv[] = {
		{ .key = "tokenizer.ggml.model", .type = 8, .str = "llama" },
		{ .key = "tokenizer.ggml.tokens", .type = 9, .arr_type = 8, .strs = spm_tokens,
		  .n = SPM_N },
		{ .key = "tokenizer.ggml.token_type", .type = 9, .arr_type = 5, .i32s = spm_types,
		  .n = SPM_N },
		{ .key = "tokenizer.ggml.scores", .type = 9, .arr_type = 6, .f32s = spm_scores,
		  .n = SPM_N },
	};
	char *err = NULL;
	struct tokenizer *tok = load(kv, Q_ARRAY_LEN(kv), &err);
	if (!ok(tok != NULL, "spm: loads (%s)", err ? err : "no error")) {
		free(err);
		skip(12, "no tokenizer");
		return;
	}
	int32_t *ids;
	size_t n, *offs;
	tokenizer_encode(tok, "ab ab", 5, 0, &ids, &n, &offs, NULL);
	ok(ids_are(ids, n, (int32_t[]){ 264, 264 }, 2) && offs[0] == 0 && offs[1] == 2,
	    "spm: 'ab ab' merges by score into two '\xe2\x96\x81" "ab' at bytes 0 and 2");
	char *s = decode_all(tok, ids, n, 0);
	is_str(s, "ab ab", "spm: decode drops the space prefix");
	free(s);
	s = decode_all(tok, ids, n, TOK_DECODE_KEEP_PREFIX);
	is_str(s, " ab ab", "spm: decode can keep it");
	free(s);
	free(ids);
	free(offs);

	tokenizer_encode(tok, "a\xff" "c\xc3", 4, 0, &ids, &n, &offs, NULL);
	/* As in llama.cpp a lead byte claims the length it announces (0xFF: 4, cut at the end),
	 * so 'c' goes into the same unknown piece and falls back to bytes with it. */
	ok(ids_are(ids, n, (int32_t[]){ 262, 3 + 0xff, 3 + 'c', 3 + 0xc3 }, 4) &&
	    offs[1] == 1 && offs[2] == 2 && offs[3] == 3,
	    "spm: bytes without a token fall back to <0xXX>");
	s = decode_all(tok, ids, n, 0);
	is_str(s, "a\xff" "c\xc3", "spm: byte fallback decodes to the same bytes");
	free(s);
	free(ids);
	free(offs);

	tokenizer_encode(tok, "<s>a", 4, TOK_PARSE_SPECIAL, &ids, &n, NULL, NULL);
	ok(ids_are(ids, n, (int32_t[]){ 1, 262 }, 2), "spm: special on: <s>, then a space-prefixed a");
	free(ids);
	tokenizer_encode(tok, "<s>a", 4, 0, &ids, &n, NULL, NULL);
	int has = 0;
	for (size_t i = 0; i < n; i++)
		has |= ids[i] == 1;
	ok(!has, "spm: special off: <s> is text");
	s = decode_all(tok, ids, n, 0);
	is_str(s, "<s>a", "spm: special off: round trip");
	free(s);
	free(ids);
	tokenizer_encode(tok, "a<user>b", 8, 0, &ids, &n, &offs, NULL);
	ok(ids_are(ids, n, (int32_t[]){ 262, 266, 259, 261 }, 4) && offs[1] == 1 && offs[2] == 7,
	    "spm: USER_DEFINED tokens are matched even with special parsing off (and text after "
	    "one gets the space prefix again)");
	free(ids);
	free(offs);
	tokenizer_encode(tok, "a", 1, TOK_ADD_SPECIAL, &ids, &n, NULL, NULL);
	ok(ids_are(ids, n, (int32_t[]){ 1, 262 }, 2), "spm: TOK_ADD_SPECIAL adds BOS by default");
	free(ids);
	ok(tokenizer_add_bos(tok) && tokenizer_bos(tok) == 1 && tokenizer_eos(tok) == 2 &&
	    tokenizer_unk(tok) == 0, "spm: llama.cpp's default special ids");
	ok(tokenizer_is_control(tok, 0) && tokenizer_is_control(tok, 2) &&
	    !tokenizer_is_control(tok, 266), "spm: control tokens");
	tokenizer_free(tok);
}

/* A vocabulary shaped like gemma 3's: no space prefix, USER_DEFINED tokens that overlap
 * (whitespace runs), a bridge token with U+2581 after another character ("x\xe2\x96\x81y").
 * The expected ids are llama.cpp's for the same vocabulary. */
#define GEM_N 274
static char gem_text[256][8];
static const char *gem_tokens[GEM_N];
static int32_t gem_types[GEM_N];
static float gem_scores[GEM_N];

static void test_spm_gemma_like(void)
{
	static const char *const fixed[] = { "<unk>", "<s>", "</s>" };
	static const struct { const char *text; int type; float score; } words[] = {
		{ "\xe2\x96\x81", TOK_TYPE_NORMAL, -1 },                    /* 259 */
		{ "x", TOK_TYPE_NORMAL, -2 }, { "y", TOK_TYPE_NORMAL, -2 }, /* 260, 261 */
		{ "\xe2\x96\x81y", TOK_TYPE_NORMAL, -1.5f },                /* 262 */
		{ "x\xe2\x96\x81y", TOK_TYPE_NORMAL, -1 },                  /* 263: a bridge */
		{ "\xe2\x96\x81\xe2\x96\x81", TOK_TYPE_NORMAL, -0.5f },     /* 264 */
		{ "\n", TOK_TYPE_USER_DEFINED, 0 }, { "  ", TOK_TYPE_USER_DEFINED, 0 },
		{ "   ", TOK_TYPE_USER_DEFINED, 0 }, { "wx", TOK_TYPE_USER_DEFINED, 0 },
		{ "xyz", TOK_TYPE_USER_DEFINED, 0 }, { "aa", TOK_TYPE_USER_DEFINED, 0 }, /* ..270 */
		{ "w", TOK_TYPE_NORMAL, -2 }, { "z", TOK_TYPE_NORMAL, -2 }, /* 271, 272 */
		{ "a", TOK_TYPE_NORMAL, -2 },                               /* 273 */
	};
	for (int i = 0; i < 3; i++) {
		gem_tokens[i] = fixed[i];
		gem_types[i] = TOK_TYPE_CONTROL;
	}
	for (int b = 0; b < 256; b++) {
		snprintf(gem_text[b], sizeof(gem_text[0]), "<0x%02X>", b);
		gem_tokens[3 + b] = gem_text[b];
		gem_types[3 + b] = TOK_TYPE_BYTE;
	}
	for (size_t i = 0; i < Q_ARRAY_LEN(words); i++) {
		gem_tokens[259 + i] = words[i].text;
		gem_types[259 + i] = words[i].type;
		gem_scores[259 + i] = words[i].score;
	}
	struct kv kv[] = {
		{ .key = "tokenizer.ggml.model", .type = 8, .str = "llama" },
		{ .key = "tokenizer.ggml.tokens", .type = 9, .arr_type = 8, .strs = gem_tokens,
		  .n = GEM_N },
		{ .key = "tokenizer.ggml.token_type", .type = 9, .arr_type = 5, .i32s = gem_types,
		  .n = GEM_N },
		{ .key = "tokenizer.ggml.scores", .type = 9, .arr_type = 6, .f32s = gem_scores,
		  .n = GEM_N },
		{ .key = "tokenizer.ggml.add_space_prefix", .type = 7, .u32 = 0 },
	};
	char *err = NULL;
	struct tokenizer *tok = load(kv, Q_ARRAY_LEN(kv), &err);
	if (!ok(tok != NULL, "gemma-like: loads (%s)", err ? err : "no error")) {
		free(err);
		skip(9, "no tokenizer");
		return;
	}
	static const struct {
		const char *text, *what;
		int32_t ids[4];
		size_t offs[4], n;
	} cases[] = {
		{ "x y", "a bridge token joins two words, as merging the whole text would", { 263 },
		  { 0 }, 1 },
		{ "x\xe2\x96\x81 y", "a U+2581 in the text and a space make one word start",
		  { 260, 264, 261 }, { 0, 1, 5 }, 3 },
		{ "wxyz", "USER_DEFINED tokens longest first, not leftmost: w, xyz", { 271, 269 },
		  { 0, 1 }, 2 },
		{ "aaaaa", "a USER_DEFINED token overlapping itself: left to right", { 270, 270, 273 },
		  { 0, 2, 4 }, 3 },
		{ "       ", "seven spaces: two runs of three, then one space (no prefix)",
		  { 267, 267, 259 }, { 0, 3, 6 }, 3 },
	};
	for (size_t c = 0; c < Q_ARRAY_LEN(cases); c++) {
		int32_t *ids;
		size_t n, *offs;
		const char *text = cases[c].text;
		tokenizer_encode(tok, text, strlen(text), 0, &ids, &n, &offs, NULL);
		int good = ids_are(ids, n, cases[c].ids, cases[c].n);
		for (size_t i = 0; good && i < n; i++)
			good = offs[i] == cases[c].offs[i];
		char *back = decode_all(tok, ids, n, 0);
		/* a U+2581 in the text comes back as a space, as in llama.cpp */
		good = good && (strcmp(back, text) == 0 || strstr(text, "\xe2\x96\x81") != NULL);
		ok(good, "gemma-like: %s (%zu tokens)", cases[c].what, n);
		free(back);
		free(ids);
		free(offs);
	}

	/* Invalid UTF-8. llama.cpp merges the whole text, each character as long as its lead
	 * byte says (tokenizer-spm.c: spm_whole_chars): a surrogate or an overlong form is one
	 * character to it, so cutting words around one gives llama.cpp's tokens; a lone lead byte
	 * before a space takes the escaped space's first bytes, so that text is merged whole. */
	static const struct {
		const char *text, *what;
		int32_t ids[5];
		size_t offs[5], n;
	} bad[] = {
		{ "\xed\xa0\x80 y", "a surrogate (ED A0 80) is one character, then \xe2\x96\x81y",
		  { 240, 163, 131, 262 }, { 0, 1, 2, 3 }, 4 },
		{ "\xc0\x80 y", "an overlong NUL (C0 80) likewise", { 195, 131, 262 }, { 0, 1, 2 },
		  3 },
		{ "\xe2 y", "a lone E2 takes two bytes of the escaped space, as in llama.cpp",
		  { 229, 229, 153, 132, 261 }, { 0, 1, 1, 1, 2 }, 5 },
	};
	for (size_t c = 0; c < Q_ARRAY_LEN(bad); c++) {
		int32_t *ids;
		size_t n, *offs;
		tokenizer_encode(tok, bad[c].text, strlen(bad[c].text), 0, &ids, &n, &offs, NULL);
		int good = ids_are(ids, n, bad[c].ids, bad[c].n);
		for (size_t i = 0; good && i < n; i++)
			good = offs[i] == bad[c].offs[i];
		ok(good, "gemma-like: %s (%zu tokens)", bad[c].what, n);
		free(ids);
		free(offs);
	}

	/* 200002 spaces: one cluster of 400K overlapping occurrences of "  " and "   " (settled
	 * in passes over the cluster, without a list of them): runs of three, one space left */
	size_t big = 200002;
	char *spaces = xmalloc(big);
	memset(spaces, ' ', big);
	int32_t *ids;
	size_t n, *offs;
	tokenizer_encode(tok, spaces, big, 0, &ids, &n, &offs, NULL);
	int good = n == big / 3 + 1 && ids[n - 1] == 259 && offs[n - 1] == big - 1;
	for (size_t i = 0; good && i + 1 < n; i++)
		good = ids[i] == 267 && offs[i] == 3 * i;
	ok(good, "gemma-like: %zu spaces give runs of three and one space (%zu tokens)", big, n);
	free(ids);
	free(offs);
	free(spaces);
	tokenizer_free(tok);
}

/* --- byte-level BPE ------------------------------------------------------------------------- */

static void gpt2_char(int b, char *out)
{
	unsigned cp;
	if ((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE))
		cp = (unsigned)b;
	else if (b <= 0x20)
		cp = 0x100u + (unsigned)b;
	else if (b <= 0xA0)
		cp = 0x100u + 33 + (unsigned)(b - 0x7F);
	else
		cp = 0x143;
	if (cp < 0x80) {
		out[0] = (char)cp;
		out[1] = 0;
	} else {
		out[0] = (char)(0xC0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3F));
		out[2] = 0;
	}
}

static char bpe_text[256][4];
static const char *bpe_tokens[259];
static int32_t bpe_types[259];

static struct tokenizer *load_bpe(const char *pre, int n_merges, const char *model, char **err)
{
	static const char *const merges[] = { "a b", "\xc4\xa0 ab" };
	for (int b = 0; b < 256; b++) {
		gpt2_char(b, bpe_text[b]);
		bpe_tokens[b] = bpe_text[b];
		bpe_types[b] = TOK_TYPE_NORMAL;
	}
	bpe_tokens[256] = "ab";
	bpe_tokens[257] = "\xc4\xa0" "ab";
	bpe_tokens[258] = "<|end|>";
	bpe_types[256] = bpe_types[257] = TOK_TYPE_NORMAL;
	bpe_types[258] = TOK_TYPE_CONTROL;
	struct kv kv[] = {
		{ .key = "tokenizer.ggml.model", .type = 8, .str = model },
		{ .key = "tokenizer.ggml.pre", .type = 8, .str = pre },
		{ .key = "tokenizer.ggml.tokens", .type = 9, .arr_type = 8, .strs = bpe_tokens,
		  .n = 259 },
		{ .key = "tokenizer.ggml.token_type", .type = 9, .arr_type = 5, .i32s = bpe_types,
		  .n = 259 },
		{ .key = "tokenizer.ggml.eos_token_id", .type = 4, .u32 = 258 },
		{ .key = "tokenizer.ggml.merges", .type = 9, .arr_type = 8, .strs = merges,
		  .n = (size_t)n_merges },
	};
	return load(kv, Q_ARRAY_LEN(kv), err);
}

static void test_bpe(void)
{
	char *err = NULL;
	struct tokenizer *tok = load_bpe("gpt-2", 2, "gpt2", &err);
	if (!ok(tok != NULL, "bpe: loads (%s)", err ? err : "no error")) {
		free(err);
		skip(9, "no tokenizer");
		return;
	}
	int32_t *ids;
	size_t n, *offs;
	tokenizer_encode(tok, "ab ab", 5, 0, &ids, &n, &offs, NULL);
	ok(ids_are(ids, n, (int32_t[]){ 256, 257 }, 2) && offs[1] == 2,
	    "bpe: 'ab ab' -> ab, \xc4\xa0" "ab (merged by rank) at bytes 0 and 2");
	free(ids);
	free(offs);
	tokenizer_encode(tok, "\xc3\xa9\xff", 3, 0, &ids, &n, &offs, NULL);
	ok(ids_are(ids, n, (int32_t[]){ 0xC3, 0xA9, 0xEF, 0xBF, 0xBD }, 5) && offs[2] == 2 &&
	    offs[4] == 2, "bpe: an invalid byte becomes U+FFFD's bytes, offsets at the bad byte");
	free(ids);
	free(offs);
	tokenizer_encode(tok, "x<|end|>", 8, TOK_PARSE_SPECIAL | TOK_ADD_EOS, &ids, &n, &offs,
	    NULL);
	ok(ids_are(ids, n, (int32_t[]){ 'x', 258, 258 }, 3) && offs[1] == 1 && offs[2] == 8,
	    "bpe: special on, then EOS at the end");
	free(ids);
	free(offs);
	tokenizer_encode(tok, "x<|end|>", 8, 0, &ids, &n, NULL, NULL);
	ok(n == 8 && ids[1] == '<', "bpe: special off keeps <|end|> as 8 byte tokens");
	char *s = decode_all(tok, ids, n, 0);
	is_str(s, "x<|end|>", "bpe: round trip");
	free(s);
	free(ids);

	struct tokenizer *one = load_bpe("gpt-2", 1, "gpt2", NULL);
	struct tokenizer *other_pre = load_bpe("smollm", 2, "gpt2", NULL);
	ok(one && other_pre && tokenizer_fingerprint(tok) != tokenizer_fingerprint(one) &&
	    tokenizer_fingerprint(tok) != tokenizer_fingerprint(other_pre),
	    "bpe: fingerprint changes with the merges and with the pre-tokenizer");
	if (one) {
		tokenizer_encode(one, "ab ab", 5, 0, &ids, &n, NULL, NULL);
		ok(ids_are(ids, n, (int32_t[]){ 256, 0x120 - 0x100, 256 }, 3),
		    "bpe: without the second merge ' ab' stays two tokens");
		free(ids);
	} else {
		ok(0, "bpe: second tokenizer loads");
	}
	tokenizer_free(one);
	tokenizer_free(other_pre);
	tokenizer_free(tok);

	struct { const char *pre, *model; } bad[] = { { "deepseek-llm", "gpt2" },
		{ "gpt-2", "bert" } };
	for (size_t i = 0; i < Q_ARRAY_LEN(bad); i++) {
		err = NULL;
		tok = load_bpe(bad[i].pre, 2, bad[i].model, &err);
		ok(tok == NULL && err != NULL, "refused: pre '%s', model '%s' (%s)", bad[i].pre,
		    bad[i].model, err ? err : "no message");
		tokenizer_free(tok);
		free(err);
	}
	struct kv empty[] = { { .key = "general.name", .type = 8, .str = "x" } };
	err = NULL;
	tok = load(empty, 1, &err);
	ok(tok == NULL && err && strstr(err, "tokenizer.ggml.model"),
	    "a file without a vocabulary is refused (%s)", err ? err : "no message");
	free(err);
}

int main(void)
{
	test_spm();
	test_spm_gemma_like();
	test_bpe();
	done_testing();
	return exit_status();
}
