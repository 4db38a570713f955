/* tokenizer-spm.c: SentencePiece-style BPE for "llama" vocabularies (llama 2, mistral, gemma):
 * spaces become U+2581, neighbouring pieces merge while their concatenation is a token, best
 * score first, and whatever is left that is not a token falls back to <0xXX> byte tokens. */
#include <stdlib.h>
#include <string.h>

#include "engine/tokenizer-impl.h"
#include "lib/utf8.h"
#include "lib/util.h"

#define ESC "\xE2\x96\x81"   /* U+2581, SentencePiece's visible space */
#define SPM_MAX_BRIDGES 64    /* tokens that join words; with more, words are not cut */

static int is_esc(const char *p)
{
	return memcmp(p, ESC, 3) == 0;
}

void tok_spm_init(struct tokenizer *tok)
{
	static const char hex[] = "0123456789ABCDEF";
	for (int b = 0; b < 256; b++) {
		char name[7] = { '<', '0', 'x', hex[b >> 4], hex[b & 15], '>', 0 };
		int32_t id = tok_strmap_find(&tok->by_text, tok->text, tok->text_off, name, 6);
		if (id < 0) {
			char c = (char)b;
			id = tok_strmap_find(&tok->by_text, tok->text, tok->text_off, &c, 1);
		}
		tok->byte_token[b] = id;
	}
	/* A merge can join two words (a word starts at a U+2581 after another character) only
	 * into a token with U+2581 after another character, a bridge. Words are merged one by one
	 * (and cached), with the same result as merging the whole text at once, when no cut is
	 * made where a bridge matches; with too many bridges to check, the text is merged whole. */
	tok->spm_split_words = 1;
	size_t cap = 0;
	for (int32_t id = 0; id < tok->n_vocab && tok->spm_split_words; id++) {
		const char *s = tok->text + tok->text_off[id];
		size_t len = tok->text_off[id + 1] - tok->text_off[id];
		for (size_t i = 1; i + 3 <= len; i++) {
			if (!is_esc(s + i) || (i >= 3 && is_esc(s + i - 3)))
				continue;
			if (tok->n_spm_bridges == SPM_MAX_BRIDGES) {
				tok->spm_split_words = 0;
				break;
			}
			tok->spm_bridges = tok_grow(tok->spm_bridges, &cap,
			    (size_t)tok->n_spm_bridges + 1, sizeof(*tok->spm_bridges));
			tok->spm_bridges[tok->n_spm_bridges++] =
			    (struct tok_spm_bridge){ id, (uint32_t)i };
		}
	}
}

/* --- the priority queue: highest score first, then leftmost --------------------------------- */

static int bigram_before(const struct tok_bigram *a, const struct tok_bigram *b)
{
	return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static void try_pair(struct tokenizer *tok, const char *p, size_t *nheap, int32_t l, int32_t r)
{
	if (l < 0 || r < 0)
		return;
	const struct tok_sym *sl = &tok->syms[l], *sr = &tok->syms[r];
	size_t size = (size_t)sl->len + sr->len;
	int32_t id = tok_strmap_find(&tok->by_text, tok->text, tok->text_off, p + sl->start, size);
	if (id < 0)
		return;
	struct tok_bigram bg = { 0 };
	bg.score = tok->scores[id];
	bg.left = l;
	bg.right = r;
	bg.size = (uint32_t)size;
	bg.result = id;
	tok_heap_push(tok, nheap, bg, bigram_before);
}

/* Length of the character starting with byte c, from its high bits alone (llama.cpp's rule,
 * which also decides how invalid UTF-8 is cut). */
static size_t char_len(unsigned char c)
{
	static const unsigned char lookup[16] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4 };
	return lookup[c >> 4];
}

/* Merge one escaped piece p[0, n); byte i came from input offset map[i]. When starts is not
 * NULL, each token's start within p goes there too (at most n of them). */
static void spm_piece(struct tokenizer *tok, const char *p, size_t n, const size_t *map,
    struct tok_out *o, int32_t *starts)
{
	if (n == 0)
		return;
	tok->syms = tok_grow(tok->syms, &tok->syms_cap, n, sizeof(*tok->syms));
	struct tok_sym *sy = tok->syms;
	int32_t ns = 0;
	for (size_t off = 0; off < n;) {
		size_t len = char_len((unsigned char)p[off]);
		if (len > n - off)
			len = n - off;
		sy[ns].prev = ns - 1;
		sy[ns].next = off + len < n ? ns + 1 : -1;
		sy[ns].start = (uint32_t)off;
		sy[ns].len = (uint32_t)len;
		sy[ns].id = -1;
		ns++;
		off += len;
	}
	size_t nheap = 0;
	for (int32_t i = 1; i < ns; i++)
		try_pair(tok, p, &nheap, i - 1, i);
	while (nheap > 0) {
		struct tok_bigram bg = tok_heap_pop(tok, &nheap, bigram_before);
		sy = tok->syms;
		struct tok_sym *l = &sy[bg.left], *r = &sy[bg.right];
		if (l->len == 0 || r->len == 0 || l->len + r->len != bg.size)
			continue;
		tok_sym_merge(sy, &bg);
		try_pair(tok, p, &nheap, l->prev, bg.left);
		try_pair(tok, p, &nheap, bg.left, l->next);
	}
	sy = tok->syms;
	size_t k = 0;
	for (int32_t i = 0; i >= 0; i = sy[i].next) {
		int32_t id = sy[i].id >= 0 ? sy[i].id : tok_strmap_find(&tok->by_text, tok->text,
		    tok->text_off, p + sy[i].start, sy[i].len);
		if (id >= 0) {
			tok_out_push(o, id, map[sy[i].start]);
			if (starts)
				starts[k++] = (int32_t)sy[i].start;
			continue;
		}
		for (uint32_t j = 0; j < sy[i].len; j++) {
			int32_t b = tok->byte_token[(unsigned char)p[sy[i].start + j]];
			if (b < 0)
				b = tok->unk;
			if (b < 0)
				continue;
			tok_out_push(o, b, map[sy[i].start + j]);
			if (starts)
				starts[k++] = (int32_t)(sy[i].start + j);
		}
	}
}

/* Merge one word through the cache, which is keyed by its escaped bytes. */
static void spm_word(struct tokenizer *tok, const char *p, size_t n, const size_t *map,
    struct tok_out *o)
{
	if (n == 0)
		return;
	if (n > TOK_CACHE_MAX_KEY) {
		spm_piece(tok, p, n, map, o, NULL);
		return;
	}
	struct tok_cache *c = &tok->cache;
	if (c->slots == NULL || c->n_entries >= TOK_CACHE_MAX_ENTRIES)
		tok_cache_reset(c);
	uint64_t h = tok_hash_bytes(p, n);
	uint32_t slot;
	const struct tok_cache_entry *e = tok_cache_find(c, p, n, h, &slot);
	if (e) {
		const int32_t *v = c->vals + e->val_off;
		for (uint32_t i = 0; i < e->n_tokens; i++)
			tok_out_push(o, v[i], map[v[e->n_tokens + i]]);
		return;
	}
	size_t first = o->n;
	int32_t starts[TOK_CACHE_MAX_KEY];
	spm_piece(tok, p, n, map, o, starts);
	tok_cache_add(c, slot, p, n, h, o->ids + first, starts, (uint32_t)(o->n - first));
}

/* Escape s[0, n) into tok->spm_buf (with a leading U+2581 when prefix) and fill tok->spm_map;
 * returns the escaped length. */
static size_t spm_escape(struct tokenizer *tok, const char *s, size_t n, size_t base,
    int prefix)
{
	size_t need;
	if (q_mul_size(n + 1, 3, &need) < 0)
		fatal("tokenizer: input too large");
	if (need > tok->spm_cap) {
		tok->spm_buf = xrealloc(tok->spm_buf, need);
		tok->spm_map = xreallocarray(tok->spm_map, need, sizeof(size_t));
		tok->spm_cap = need;
	}
	char *e = tok->spm_buf;
	size_t k = 0;
	if (prefix) {
		memcpy(e, ESC, 3);
		tok->spm_map[0] = tok->spm_map[1] = tok->spm_map[2] = base;
		k = 3;
	}
	for (size_t i = 0; i < n; i++) {
		if (s[i] == ' ') {
			memcpy(e + k, ESC, 3);
			tok->spm_map[k] = tok->spm_map[k + 1] = tok->spm_map[k + 2] = base + i;
			k += 3;
		} else {
			e[k] = s[i];
			tok->spm_map[k++] = base + i;
		}
	}
	return k;
}

/* Whether s[0, n) is whole characters to llama.cpp, so that cutting it into words cannot
 * change a character's bytes. llama.cpp's SPM tokenizer (llm_tokenizer_spm_session::tokenize
 * in src/llama-vocab.cpp) never checks UTF-8: it takes each character's length from the lead
 * byte's high bits alone (char_len above, its unicode_len_utf8) and merges the whole text.
 * Cutting words gives the same tokens only where no such character reaches past a cut, which
 * holds when every lead byte is followed by the continuation bytes its length asks for: what
 * utf8_decode_lenient accepts, each sequence exactly char_len bytes long. A surrogate (ED A0
 * 80) or an overlong form is one character to llama.cpp like any other, so it is accepted here
 * on purpose; a strict check would only send such text down the slower whole-text path. */
static int spm_whole_chars(const char *s, size_t n)
{
	uint32_t cp;
	for (size_t i = 0, k; i < n; i += k)
		if ((k = utf8_decode_lenient(s + i, n - i, &cp)) == 0)
			return 0;
	return 1;
}

/* Some bridge token matches e[0, n) across a cut before the U+2581 at e + i. */
static int bridged(const struct tokenizer *tok, const char *e, size_t n, size_t i)
{
	for (int32_t b = 0; b < tok->n_spm_bridges; b++) {
		const struct tok_spm_bridge *br = &tok->spm_bridges[b];
		size_t len = tok->text_off[br->id + 1] - tok->text_off[br->id];
		if (br->at <= i && len - br->at <= n - i &&
		    memcmp(e + i - br->at, tok->text + tok->text_off[br->id], len) == 0)
			return 1;
	}
	return 0;
}

void tok_spm_fragment(struct tokenizer *tok, const char *s, size_t n, size_t base,
    int space_prefix, struct tok_out *o)
{
	size_t k = spm_escape(tok, s, n, base, space_prefix);
	const char *e = tok->spm_buf;
	const size_t *map = tok->spm_map;
	/* With invalid UTF-8 a character's length can reach past a cut, so then (and when words
	 * are not cut at all) the fragment is merged whole. */
	if (!tok->spm_split_words || !spm_whole_chars(s, n)) {
		spm_piece(tok, e, k, map, o, NULL);
		return;
	}
	/* Cut before each U+2581 (space or a literal U+2581 in the text) that follows another
	 * character, unless a bridge token matches across it. */
	size_t start = 0;
	for (const char *hit = e; (hit = memchr(hit, 0xE2, k - (size_t)(hit - e))) != NULL; hit++) {
		size_t i = (size_t)(hit - e);
		if (i == 0 || i + 3 > k || !is_esc(hit) || (i >= 3 && is_esc(hit - 3)) ||
		    bridged(tok, e, k, i))
			continue;
		spm_word(tok, e + start, i - start, map + start, o);
		start = i;
	}
	spm_word(tok, e + start, k - start, map + start, o);
}
