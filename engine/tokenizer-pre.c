/* tokenizer-pre.c: the byte-level BPE pre-tokenizer: the split regexes each tokenizer.ggml.pre
 * name stands for (PCRE2, JIT-compiled), the views of invalid UTF-8 that llama.cpp's lenient
 * decoding gives (lib/utf8.h), and the walk that hands each piece to the merger. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <stdlib.h>
#include <string.h>

#include "engine/tokenizer-impl.h"
#include "lib/utf8.h"
#include "lib/util.h"

/* llama.cpp's \s is the Unicode White_Space set; PCRE2's \s differs (no U+0085 in some modes,
 * U+180E in old tables), so the class is spelled out. */
#define WS "\\t-\\r \\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}" \
	"\\x{205F}\\x{3000}"

#define RE_GPT2 \
	"'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^" WS "\\p{L}\\p{N}]+|[" WS "]+(?![^" WS "])"
#define RE_LLAMA3_HEAD \
	"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"
#define RE_LLAMA3_TAIL \
	"| ?[^" WS "\\p{L}\\p{N}]+[\\r\\n]*|[" WS "]*[\\r\\n]+|[" WS "]+(?![^" WS "])|[" WS "]+"
#define RE_LLAMA3 RE_LLAMA3_HEAD "\\p{N}{1,3}" RE_LLAMA3_TAIL
#define RE_QWEN2 RE_LLAMA3_HEAD "\\p{N}" RE_LLAMA3_TAIL

struct pre_kind {
	const char *names;        /* space-separated tokenizer.ggml.pre values */
	int ignore_merges;        /* a piece that is a whole token skips merging */
	const char *re[TOK_PRE_MAX];
};

/* Which regexes llama.cpp (llama-vocab.cpp, llm_tokenizer_bpe) applies for each pre name. */
static const struct pre_kind pre_kinds[] = {
	{ "default", 0, { "[\\p{P}\\$\\+<=>\\^~\\|]+", RE_GPT2, "\\p{N}+", "[0-9][0-9][0-9]" } },
	{ "llama3 llama-v3 llama-bpe falcon3 falcon-h1 pixtral midm-2.0 lfm2", 1,
	    { RE_LLAMA3 } },
	{ "dbrx smaug-bpe chatglm-bpe glm4", 0, { RE_LLAMA3 } },
	{ "qwen2 deepseek-r1-qwen kormo stablelm2 megrez hunyuan grok-2", 0, { RE_QWEN2 } },
	{ "starcoder refact command-r smollm codeshell exaone minerva-7b", 0,
	    { "\\p{N}", RE_GPT2 } },
	{ "gpt-2 phi-2 jina-es jina-de gigachat jina-v2-es jina-v2-de a.x-4.0 mellum jina-v1-en "
	    "jina-v2-code roberta-bpe mpt olmo jais exaone4 trillion granite-docling", 0,
	    { RE_GPT2 } },
	{ "falcon", 0, { "[\\p{P}\\$\\+<=>\\^~\\|`]+", RE_GPT2, "[0-9][0-9][0-9]" } },
};

/* Names llama.cpp splits with regexes not written here: refusing them beats silently
 * producing ids the model was not trained on. */
static const char *const pre_unsupported =
	" deepseek-llm deepseek-coder deepseek-v3 poro-chat bloom gpt3-finnish viking tekken "
	"chameleon gpt-4o llama4 superbpe bailingmoe bailingmoe2 llada-moe seed-coder "
	"hunyuan-dense kimi-k2 afmoe minimax-m2 ";

static int name_in(const char *list, const char *name)
{
	size_t n = strlen(name);
	if (n == 0)
		return 0;
	for (const char *p = list; (p = strstr(p, name)) != NULL; p++) {
		int start_ok = p == list || p[-1] == ' ';
		int end_ok = p[n] == '\0' || p[n] == ' ';
		if (start_ok && end_ok)
			return 1;
	}
	return 0;
}

int tok_pre_init(struct tokenizer *tok, char **err)
{
	const char *name = tok->pre_name;
	if (name_in(pre_unsupported, name))
		return q_error(err, "tokenizer pre-tokenizer '%s' is not supported", name);
	const struct pre_kind *kind = &pre_kinds[0];   /* missing or unknown: default */
	for (size_t i = 0; i < Q_ARRAY_LEN(pre_kinds); i++)
		if (name_in(pre_kinds[i].names, name))
			kind = &pre_kinds[i];
	tok->ignore_merges = kind->ignore_merges;
	/* llama.cpp: llama3-style vocabularies want BOS by default (the file may override). */
	if (kind->ignore_merges)
		tok->add_bos = 1;

	struct tok_pre *pre = &tok->pre;
	for (int i = 0; i < TOK_PRE_MAX && kind->re[i]; i++) {
		int ec;
		PCRE2_SIZE eo;
		pcre2_code *code = pcre2_compile((PCRE2_SPTR)kind->re[i], PCRE2_ZERO_TERMINATED,
		    PCRE2_UTF, &ec, &eo, NULL);
		if (code == NULL) {
			PCRE2_UCHAR msg[256];
			pcre2_get_error_message(ec, msg, sizeof(msg));
			return q_error(err, "tokenizer: regex %d for pre-tokenizer '%s' does not "
			    "compile at %zu: %s", i, name, (size_t)eo, (char *)msg);
		}
		/* Without JIT (unsupported CPU) pcre2_match interprets; results are the same. */
		(void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
		pre->code[pre->n++] = code;
	}
	pre->match = pcre2_match_data_create(4, NULL);
	pre->mctx = pcre2_match_context_create(NULL);
	pre->jit_stack = pcre2_jit_stack_create(32 * 1024, 4 * 1024 * 1024, NULL);
	if (pre->match == NULL || pre->mctx == NULL || pre->jit_stack == NULL)
		fatal("out of memory creating PCRE2 match state");
	pcre2_jit_stack_assign(pre->mctx, NULL, pre->jit_stack);
	return 0;
}

void tok_pre_free(struct tok_pre *pre)
{
	for (int i = 0; i < pre->n; i++)
		pcre2_code_free(pre->code[i]);
	pcre2_match_data_free(pre->match);
	pcre2_match_context_free(pre->mctx);
	pcre2_jit_stack_free(pre->jit_stack);
	memset(pre, 0, sizeof(*pre));
}

/* --- UTF-8 ---------------------------------------------------------------------------------- */

/* Build the two views of an input that is not strictly valid UTF-8, decoded leniently as
 * llama.cpp does (utf8_decode_lenient: overlong forms and surrogates read as spelled, U+FFFD
 * for one byte otherwise): tok->san for the regexes (valid UTF-8: bad bytes as U+FFFD,
 * surrogates as U+E000, which falls in the same classes) and tok->san_bytes for merging
 * (surrogates re-encoded as themselves, as llama.cpp does), byte for byte the same length,
 * with tok->san_map back to input offsets. */
static size_t sanitize(struct tokenizer *tok, const char *in, size_t n, size_t base)
{
	size_t need;
	if (q_mul_size(n, 3, &need) < 0)
		fatal("tokenizer: input too large");
	if (need > tok->san_cap) {
		tok->san = xrealloc(tok->san, need);
		tok->san_bytes = xrealloc(tok->san_bytes, need);
		tok->san_map = xreallocarray(tok->san_map, need, sizeof(size_t));
		tok->san_cap = need;
	}
	char *re = tok->san, *by = tok->san_bytes;
	size_t o = 0;
	for (size_t i = 0; i < n;) {
		uint32_t cp;
		size_t len = utf8_decode_lenient(in + i, n - i, &cp);
		size_t w;
		if (len == 0) {
			w = utf8_encode(0xFFFD, re + o);
			memcpy(by + o, re + o, w);
			len = 1;
		} else if (cp >= 0xD800 && cp <= 0xDFFF) {
			w = utf8_encode(cp, by + o);
			utf8_encode(0xE000, re + o);
		} else {
			w = utf8_encode(cp, re + o);
			memcpy(by + o, re + o, w);
		}
		for (size_t k = 0; k < w; k++)
			tok->san_map[o + k] = base + i;
		o += w;
		i += len;
	}
	return o;
}

/* --- splitting ------------------------------------------------------------------------------ */

struct split_ctx {
	struct tokenizer *tok;
	const char *re;           /* text the regexes see */
	const char *by;           /* bytes that get merged (same offsets) */
	const size_t *map;        /* offset -> input offset, NULL for base + offset */
	size_t base;
	struct tok_out *o;
	char **err;
};

static int split(struct split_ctx *c, int stage, size_t start, size_t end)
{
	struct tokenizer *tok = c->tok;
	if (stage == tok->pre.n) {
		tok_bpe_piece(tok, c->by + start, end - start, c->map ? c->map + start : NULL,
		    c->base + start, c->o);
		return 0;
	}
	pcre2_code *code = tok->pre.code[stage];
	pcre2_match_data *md = tok->pre.match;
	PCRE2_SPTR subj = (PCRE2_SPTR)(c->re + start);
	size_t len = end - start, pos = 0, from = 0;
	while (from < len) {
		int rc = pcre2_match(code, subj, len, from, PCRE2_NO_UTF_CHECK, md, tok->pre.mctx);
		if (rc == PCRE2_ERROR_NOMATCH)
			break;
		if (rc < 0) {
			PCRE2_UCHAR msg[256];
			pcre2_get_error_message(rc, msg, sizeof(msg));
			return q_error(c->err, "tokenizer: pre-tokenizer regex failed at byte %zu: %s",
			    c->base + start + from, (char *)msg);
		}
		PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
		size_t ms = ov[0], me = ov[1];
		if (me == ms) {
			/* An empty match splits nothing; step over one character. */
			from = me + 1;
			while (from < len && ((unsigned char)c->re[start + from] & 0xC0) == 0x80)
				from++;
			continue;
		}
		if (ms > pos && split(c, stage + 1, start + pos, start + ms) < 0)
			return -1;
		if (split(c, stage + 1, start + ms, start + me) < 0)
			return -1;
		pos = from = me;
	}
	if (pos < len && split(c, stage + 1, start + pos, end) < 0)
		return -1;
	return 0;
}

int tok_bpe_fragment(struct tokenizer *tok, const char *s, size_t n, size_t base,
    struct tok_out *o, char **err)
{
	struct split_ctx c = { tok, s, s, NULL, base, o, err };
	size_t len = n;
	if (!utf8_valid(s, n, NULL)) {
		len = sanitize(tok, s, n, base);
		c.re = tok->san;
		c.by = tok->san_bytes;
		c.map = tok->san_map;
	}
	return split(&c, 0, 0, len);
}
