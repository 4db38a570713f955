/* t-tokenizer.c: the tokenizer against llama.cpp's ids on a 6.8 MB corpus, plus round trips,
 * byte offsets, special tokens and invalid UTF-8, for two vocabularies:
 *   QUIRE_TEST_MODEL   the default model (SmolLM2: gpt2 byte-level BPE, pre "smollm"), ids in
 *                      tests/data/tokenizer/
 *   QUIRE_TEST_GEMMA3  gemma 3 270M ("llama" SentencePiece, 262144 tokens, no space prefix,
 *                      whitespace runs as USER_DEFINED tokens), ids in tests/data/tokenizer-gemma3/
 * Both use the corpus committed in tests/data/tokenizer/ (tests/ref/make-tokenizer-ref.py, with
 * --reuse-corpus for gemma 3). Each part is one SKIP when its variable is empty or unset. */
#include <lzma.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/gguf.h"
#include "engine/tokenizer.h"
#include "lib/buf.h"
#include "lib/file.h"
#include "lib/util.h"
#include "tests/tap.h"

/* Decompress a whole .xz file into memory. */
static int read_xz(const char *path, struct buf *out, char **err)
{
	char *raw;
	size_t raw_len;
	if (file_read_all(path, (size_t)64 << 20, &raw, &raw_len, err) < 0)
		return -1;
	lzma_stream s = LZMA_STREAM_INIT;
	if (lzma_stream_decoder(&s, UINT64_MAX, 0) != LZMA_OK) {
		free(raw);
		return q_error(err, "%s: cannot start the xz decoder", path);
	}
	s.next_in = (const uint8_t *)raw;
	s.avail_in = raw_len;
	lzma_ret r;
	do {
		buf_reserve(out, 1 << 20);
		s.next_out = (uint8_t *)out->data + out->len;
		s.avail_out = out->cap - out->len - 1;
		size_t before = s.avail_out;
		r = lzma_code(&s, LZMA_FINISH);
		out->len += before - s.avail_out;
		out->data[out->len] = '\0';
	} while (r == LZMA_OK);
	lzma_end(&s);
	free(raw);
	if (r != LZMA_STREAM_END)
		return q_error(err, "%s: xz data is damaged (lzma error %d)", path, (int)r);
	return 0;
}

struct reader {
	const unsigned char *p, *end;
	int bad;
};

static uint64_t rd_varint(struct reader *r)
{
	uint64_t v = 0;
	for (int shift = 0; shift < 64; shift += 7) {
		if (r->p >= r->end) {
			r->bad = 1;
			return 0;
		}
		unsigned char b = *r->p++;
		v |= (uint64_t)(b & 0x7F) << shift;
		if (!(b & 0x80))
			return v;
	}
	r->bad = 1;
	return 0;
}

static int rd_ids(struct reader *r, int32_t **ids, size_t *n)
{
	uint64_t k = rd_varint(r);
	if (r->bad || k > (uint64_t)(r->end - r->p))
		return -1;
	*ids = xmalloc(sizeof(int32_t) * (k + 1));
	for (uint64_t i = 0; i < k; i++)
		(*ids)[i] = (int32_t)rd_varint(r);
	*n = (size_t)k;
	return r->bad ? -1 : 0;
}

static int same_ids(const int32_t *a, size_t na, const int32_t *b, size_t nb, size_t *first)
{
	size_t i = 0;
	while (i < na && i < nb && a[i] == b[i])
		i++;
	*first = i;
	return na == nb && i == na;
}

static void show_ids(const char *what, const int32_t *ids, size_t n, size_t at)
{
	struct buf b = BUF_INIT;
	size_t from = at > 5 ? at - 5 : 0;
	for (size_t i = from; i < n && i < at + 8; i++)
		buf_printf(&b, "%s%d", i == from ? "" : " ", ids[i]);
	diag("%s (from token %zu of %zu): %s", what, from, n, b.data ? b.data : "");
	buf_free(&b);
}

static void show_text(const char *text, size_t len)
{
	struct buf b = BUF_INIT;
	for (size_t i = 0; i < len && i < 120; i++) {
		unsigned char c = (unsigned char)text[i];
		if (c >= 0x20 && c != 0x7F && c != '\\')
			buf_append_char(&b, (char)c);
		else
			buf_printf(&b, "\\x%02x", c);
	}
	diag("text: \"%s\"%s", b.data ? b.data : "", len > 120 ? "..." : "");
	buf_free(&b);
}

/* Token i's decoded bytes must be exactly the input from its offset to the next token's. */
static int offsets_consistent(const struct tokenizer *tok, const char *text, size_t len,
    const int32_t *ids, const size_t *offs, size_t n)
{
	struct buf piece = BUF_INIT;
	int good = n == 0 || offs[0] == 0;
	for (size_t i = 0; i < n && good; i++) {
		size_t end = i + 1 < n ? offs[i + 1] : len;
		if (end < offs[i] || end > len) {
			good = 0;
			break;
		}
		buf_reset(&piece);
		tokenizer_decode_token(tok, ids[i], &piece);
		good = piece.len == end - offs[i] && memcmp(piece.data, text + offs[i], piece.len) == 0;
	}
	buf_free(&piece);
	return good;
}

/* Check tok against the ids in ids_dir/ids.bin.xz, over the corpus in corpus_dir. */
static void test_corpus(struct tokenizer *tok, const char *corpus_dir, const char *ids_dir)
{
	char *err = NULL;
	struct buf corpus = BUF_INIT, ref = BUF_INIT;
	char *cpath = xasprintf("%s/corpus.txt.xz", corpus_dir);
	char *rpath = xasprintf("%s/ids.bin.xz", ids_dir);
	int loaded = read_xz(cpath, &corpus, &err) == 0 && read_xz(rpath, &ref, &err) == 0;
	if (!ok(loaded, "reference data decompresses"))
		diag("%s", err);
	free(err);
	free(cpath);
	free(rpath);
	if (!loaded) {
		skip(9, "no reference data");
		return;
	}

	struct reader r = { (const unsigned char *)ref.data,
		(const unsigned char *)ref.data + ref.len, 0 };
	ok(ref.len > 8 && memcmp(ref.data, "QTOKREF1", 8) == 0, "reference magic");
	r.p += 8;
	is_int((long long)rd_varint(&r), tokenizer_n_vocab(tok), "reference n_vocab matches");

	size_t pos = 0, n_chunks = 0, bad = 0, bad_round = 0, bad_offs = 0, n_tok = 0;
	size_t n_extra = 0, bad_extra = 0, bad_extra_offs = 0;
	double t_enc = 0;
	struct buf dec = BUF_INIT;
	while (r.p < r.end && !r.bad) {
		unsigned char kind = *r.p++;
		if (kind == 'E')
			break;
		unsigned flags = 0;
		const char *text;
		size_t len;
		if (kind == 'C') {
			len = (size_t)rd_varint(&r);
			if (r.bad || len > corpus.len - pos) {
				r.bad = 1;
				break;
			}
			text = corpus.data + pos;
			pos += len;
		} else if (kind == 'X') {
			if (r.p >= r.end) {
				r.bad = 1;
				break;
			}
			flags = *r.p++ & 1 ? TOK_PARSE_SPECIAL : 0;
			len = (size_t)rd_varint(&r);
			if (r.bad || len > (size_t)(r.end - r.p)) {
				r.bad = 1;
				break;
			}
			text = (const char *)r.p;
			r.p += len;
		} else {
			r.bad = 1;
			break;
		}
		int32_t *want;
		size_t n_want;
		if (rd_ids(&r, &want, &n_want) < 0) {
			r.bad = 1;
			break;
		}
		int32_t *got;
		size_t n_got, *offs;
		double t0 = q_now();
		if (tokenizer_encode(tok, text, len, flags, &got, &n_got, &offs, &err) < 0) {
			diag("encode failed: %s", err);
			free(err);
			err = NULL;
			got = NULL;
			offs = NULL;
			n_got = (size_t)-1;
		}
		t_enc += q_now() - t0;
		size_t first = 0;
		int same = got && same_ids(got, n_got, want, n_want, &first);
		if (kind == 'C') {
			n_chunks++;
			n_tok += n_want;
			if (!same && bad++ == 0) {
				diag("first mismatching chunk: #%zu at corpus byte %zu (%zu bytes)",
				    n_chunks - 1, pos - len, len);
				show_text(text, len);
				if (got)
					show_ids("got", got, n_got, first);
				show_ids("llama.cpp", want, n_want, first);
			}
			if (got) {
				buf_reset(&dec);
				int dr = tokenizer_decode(tok, got, n_got, 0, &dec, NULL);
				if (dr < 0 || dec.len != len || memcmp(dec.data, text, len) != 0) {
					if (bad_round++ == 0)
						diag("first round-trip failure: chunk #%zu", n_chunks - 1);
				}
				if (!offsets_consistent(tok, text, len, got, offs, n_got) &&
				    bad_offs++ == 0)
					diag("first byte-offset failure: chunk #%zu", n_chunks - 1);
			}
		} else {
			n_extra++;
			if (!same && bad_extra++ == 0) {
				diag("first mismatching extra sample (#%zu, %s):", n_extra - 1,
				    flags ? "special on" : "special off");
				show_text(text, len);
				if (got)
					show_ids("got", got, n_got, first);
				show_ids("llama.cpp", want, n_want, first);
			}
			/* offsets stay inside the input and never go back */
			int good = got != NULL;
			for (size_t i = 0; good && i < n_got; i++)
				good = offs[i] <= len && (i == 0 || offs[i] >= offs[i - 1]);
			if (!good)
				bad_extra_offs++;
		}
		free(want);
		free(got);
		free(offs);
	}
	buf_free(&dec);
	ok(!r.bad && pos == corpus.len, "reference file parsed to its end (%zu of %zu corpus bytes)",
	    pos, corpus.len);
	ok(n_chunks > 1000 && corpus.len >= 5000000, "corpus: %zu chunks, %zu bytes, %zu tokens",
	    n_chunks, corpus.len, n_tok);
	if (!is_int((long long)bad, 0, "corpus ids identical to llama.cpp (%zu chunks)", n_chunks))
		diag("%zu of %zu chunks differ", bad, n_chunks);
	is_int((long long)bad_round, 0, "decode(encode(x)) == x for every chunk");
	is_int((long long)bad_offs, 0, "byte offsets: each token's bytes start at its offset");
	ok(n_extra > 100, "%zu extra samples (invalid UTF-8, chat markup)", n_extra);
	if (!is_int((long long)bad_extra, 0, "invalid UTF-8 and special-token samples match "
	    "llama.cpp"))
		diag("%zu of %zu samples differ", bad_extra, n_extra);
	is_int((long long)bad_extra_offs, 0, "offsets of extra samples stay inside the input");
	diag("corpus encode: %.2f MB/s (with offsets, cache warm after the first chunks)",
	    t_enc > 0 ? (double)corpus.len / t_enc / 1e6 : 0.0);
	buf_free(&corpus);
	buf_free(&ref);
}

/* ctl: the model's end-of-turn control token, which "Hi" followed by it and a newline must
 * show: text with special parsing off, one token with it on. */
static void test_special(struct tokenizer *tok, const char *ctl)
{
	char *text = xasprintf("Hi%s\n", ctl);
	size_t ctl_len = strlen(ctl);
	int32_t eot = tokenizer_find(tok, ctl, ctl_len);
	ok(eot >= 0, "%s is in the vocabulary (%d)", ctl, eot);
	ok(tokenizer_is_control(tok, eot), "%s is a control token", ctl);
	ok(tokenizer_is_eog(tok, eot), "%s ends generation", ctl);
	ok(!tokenizer_is_control(tok, tokenizer_find(tok, "Hi", 2)), "Hi is not a control token");

	int32_t *ids;
	size_t n, *offs;
	int has = 0;
	tokenizer_encode(tok, text, strlen(text), 0, &ids, &n, &offs, NULL);
	for (size_t i = 0; i < n; i++)
		has |= ids[i] == eot;
	ok(!has && n > 3, "special parsing off: %s stays text (%zu tokens)", ctl, n);
	struct buf b = BUF_INIT;
	tokenizer_decode(tok, ids, n, 0, &b, NULL);
	is_str(b.data, text, "special parsing off: decodes back to the text");
	free(ids);
	free(offs);

	tokenizer_encode(tok, text, strlen(text), TOK_PARSE_SPECIAL | TOK_ADD_BOS, &ids, &n, &offs,
	    NULL);
	ok(n == 4 && ids[0] == tokenizer_bos(tok) && ids[2] == eot && offs[2] == 2 &&
	    offs[3] == 2 + ctl_len, "special parsing on: BOS, Hi, %s at byte 2, newline at %zu",
	    ctl, 2 + ctl_len);
	buf_reset(&b);
	tokenizer_decode(tok, ids, n, TOK_DECODE_SKIP_SPECIAL, &b, NULL);
	is_str(b.data, "Hi\n", "decode can leave control tokens out");
	buf_reset(&b);
	tokenizer_decode(tok, ids + 1, n - 1, 0, &b, NULL);
	is_str(b.data, text, "decode renders control tokens as their text");
	free(ids);
	free(offs);

	char *err = NULL;
	int32_t badid = tokenizer_n_vocab(tok);
	buf_reset(&b);
	ok(tokenizer_decode(tok, &badid, 1, 0, &b, &err) < 0 && err != NULL,
	    "decode refuses an id outside the vocabulary");
	free(err);
	ok(tokenizer_decode_token(tok, -1, &b) < 0, "decode_token refuses -1");
	buf_free(&b);

	/* empty input and a lone invalid byte */
	tokenizer_encode(tok, "", 0, 0, &ids, &n, NULL, NULL);
	ok(n == 0 && ids != NULL, "empty input gives no tokens");
	free(ids);
	tokenizer_encode(tok, "\xf7\xbf\xbf\xbf", 4, 0, &ids, &n, &offs, NULL);
	ok(n > 0 && offs[n - 1] <= 3, "bytes past U+10FFFF (llama.cpp aborts) give %zu tokens", n);
	free(ids);
	free(offs);
	free(text);
}

/* What one model's vocabulary must say about itself. */
struct expect {
	const char *env;          /* the variable naming the model file */
	const char *name;         /* for messages */
	const char *model_kind;   /* tokenizer.ggml.model */
	const char *pre;          /* tokenizer.ggml.pre */
	int32_t n_vocab, bos, eos;
	int add_bos;
	const char *eot_text;     /* its end-of-turn control token */
	const char *ids_dir;      /* reference ids under tests/data/ */
};

/* gemma 3 only: whitespace runs are USER_DEFINED tokens, split out even from documents. */
static void test_gemma3_whitespace(struct tokenizer *tok)
{
	int32_t two = tokenizer_find(tok, "  ", 2), nl = tokenizer_find(tok, "\n", 1);
	ok(tokenizer_token_type(tok, two) == TOK_TYPE_USER_DEFINED &&
	    tokenizer_token_type(tok, nl) == TOK_TYPE_USER_DEFINED,
	    "gemma3: two spaces (%d) and a newline (%d) are USER_DEFINED tokens", two, nl);
	const char *text = "a  b\nc";
	int32_t *ids;
	size_t n, *offs;
	tokenizer_encode(tok, text, strlen(text), 0, &ids, &n, &offs, NULL);
	ok(n == 5 && ids[1] == two && offs[1] == 1 && ids[3] == nl && offs[3] == 4,
	    "gemma3: special parsing off still splits out \"  \" and \"\\n\" (%zu tokens)", n);
	struct buf b = BUF_INIT;
	tokenizer_decode(tok, ids, n, 0, &b, NULL);
	is_str(b.data, text, "gemma3: no space prefix to add or strip");
	buf_free(&b);
	free(ids);
	free(offs);
}

/* The checks for one model; one SKIP when its variable is empty or unset. */
static void test_model(const struct expect *e, const char *srcdir)
{
	const char *model = getenv(e->env);
	FILE *probe = model && *model ? fopen(model, "rb") : NULL;
	if (probe == NULL) {
		char *why = xasprintf("%s: %s %s", e->name, e->env,
		    model && *model ? "names no readable file" : "is not set");
		skip(1, why);
		free(why);
		return;
	}
	fclose(probe);
	char *err = NULL;
	struct gguf_file *f = NULL;
	struct tokenizer *tok = NULL, *tok2 = NULL;
	if (gguf_open(model, &f, &err) < 0 || tokenizer_from_gguf(f, &tok, &err) < 0 ||
	    tokenizer_from_gguf(f, &tok2, &err) < 0) {
		ok(0, "%s: load the tokenizer: %s", e->name, err);
		free(err);
		gguf_close(f);
		tokenizer_free(tok);
		return;
	}
	gguf_close(f);
	ok(1, "%s: tokenizer loads from %s", e->name, model);
	is_str(tokenizer_model_name(tok), e->model_kind, "model kind");
	is_str(tokenizer_pre_name(tok), e->pre, "pre-tokenizer");
	is_int(tokenizer_n_vocab(tok), e->n_vocab, "n_vocab");
	is_int(tokenizer_bos(tok), e->bos, "bos id");
	is_int(tokenizer_eos(tok), e->eos, "eos id");
	is_int(tokenizer_add_bos(tok), e->add_bos, "add_bos");
	ok(tokenizer_fingerprint(tok) == tokenizer_fingerprint(tok2) && tokenizer_fingerprint(tok),
	    "fingerprint is stable across loads (%016llx)",
	    (unsigned long long)tokenizer_fingerprint(tok));
	tokenizer_free(tok2);

	test_special(tok, e->eot_text);
	if (strcmp(e->ids_dir, "tokenizer-gemma3") == 0)
		test_gemma3_whitespace(tok);
	char *corpus_dir = xasprintf("%s/tests/data/tokenizer", srcdir);
	char *ids_dir = xasprintf("%s/tests/data/%s", srcdir, e->ids_dir);
	test_corpus(tok, corpus_dir, ids_dir);
	free(corpus_dir);
	free(ids_dir);
	tokenizer_free(tok);
}

int main(void)
{
	static const struct expect models[] = {
		{ "QUIRE_TEST_MODEL", "SmolLM2", "gpt2", "smollm", 49152, 1, 2, 0, "<|im_end|>",
		  "tokenizer" },
		{ "QUIRE_TEST_GEMMA3", "gemma3", "llama", "default", 262144, 2, 1, 1,
		  "<end_of_turn>", "tokenizer-gemma3" },
	};
	const char *srcdir = getenv("srcdir");
	if (srcdir == NULL || *srcdir == '\0')
		srcdir = ".";
	for (size_t i = 0; i < Q_ARRAY_LEN(models); i++)
		test_model(&models[i], srcdir);
	done_testing();
	return exit_status();
}
