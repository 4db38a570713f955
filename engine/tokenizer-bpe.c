/* tokenizer-bpe.c: byte-level BPE (GPT-2 style): the byte <-> character alphabet, the merge
 * table and merging one pre-tokenized piece by rank with a priority queue, behind a cache. */
#include <stdlib.h>
#include <string.h>

#include "engine/gguf.h"
#include "engine/tokenizer-impl.h"
#include "lib/buf.h"
#include "lib/util.h"

/* GPT-2's alphabet gives every byte a printable character: printable Latin-1 bytes stand for
 * themselves, the other 68 (controls, space, DEL, NBSP, soft hyphen) take U+0100..U+0143 in
 * byte order. Returns the byte a code point stands for, or -1. */
static int gpt2_cp_to_byte(uint32_t cp)
{
	if ((cp >= 0x21 && cp <= 0x7E) || (cp >= 0xA1 && cp <= 0xAC) || (cp >= 0xAE && cp <= 0xFF))
		return (int)cp;
	if (cp < 0x100 || cp > 0x143)
		return -1;
	uint32_t n = cp - 0x100;
	if (n <= 32)
		return (int)n;             /* 0x00..0x20 */
	if (n <= 66)
		return (int)(n - 33 + 0x7F); /* 0x7F..0xA0 */
	return 0xAD;
}

/* Decode one character of token text and map it to its byte. *used is the length of the
 * character (1 for a byte that is not valid UTF-8). Returns the byte or -1. */
int tok_gpt2_utf8_to_byte(const char *s, size_t n, size_t *used)
{
	const unsigned char *u = (const unsigned char *)s;
	*used = 1;
	if (u[0] < 0x80)
		return gpt2_cp_to_byte(u[0]);
	if (u[0] >= 0xC2 && u[0] <= 0xDF && n >= 2 && (u[1] & 0xC0) == 0x80) {
		*used = 2;
		return gpt2_cp_to_byte(((uint32_t)(u[0] & 0x1F) << 6) | (u[1] & 0x3F));
	}
	/* Everything the alphabet uses is below U+0800; longer sequences are kept whole. */
	size_t len = u[0] >= 0xF0 ? 4 : u[0] >= 0xE0 ? 3 : 1;
	size_t k = 1;
	while (k < len && k < n && (u[k] & 0xC0) == 0x80)
		k++;
	*used = k;
	return -1;
}

/* --- merges --------------------------------------------------------------------------------- */

static uint64_t merge_key(int32_t l, int32_t r)
{
	return (uint64_t)(uint32_t)l << 32 | (uint32_t)r;
}

static struct tok_merge_slot *merge_find(const struct tokenizer *tok, int32_t l, int32_t r)
{
	uint64_t key = merge_key(l, r);
	uint64_t h = key * 0x9E3779B97F4A7C15ull;
	uint32_t i = (uint32_t)(h >> 32) & tok->merges_mask;
	for (;;) {
		struct tok_merge_slot *s = &tok->merges[i];
		if (s->key == key || s->key == UINT64_MAX)
			return s;
		i = (i + 1) & tok->merges_mask;
	}
}

int tok_bpe_load_merges(struct tokenizer *tok, const struct gguf_file *f, const char *path,
    char **err)
{
	int k = gguf_find_key(f, "tokenizer.ggml.merges");
	if (k < 0)
		return q_error(err, "%s: missing key 'tokenizer.ggml.merges' (needed by gpt2 "
		    "tokenizers)", path);
	enum gguf_type et;
	uint64_t n;
	if (gguf_get_arr(f, k, &et, &n, err) < 0)
		return -1;
	if (et != GGUF_TYPE_STRING)
		return q_error(err, "%s: tokenizer.ggml.merges is not an array of strings", path);
	if (n > (uint64_t)INT32_MAX / 4)
		return q_error(err, "%s: tokenizer.ggml.merges has %llu entries", path,
		    (unsigned long long)n);
	uint32_t size = 16;
	while (size < (uint32_t)n * 2u + 16u)
		size *= 2;
	tok->merges = xmalloc(sizeof(*tok->merges) * size);
	tok->merges_mask = size - 1;
	for (uint32_t i = 0; i < size; i++)
		tok->merges[i].key = UINT64_MAX;

	uint64_t h = 0xcbf29ce484222325ull;
	struct buf both = BUF_INIT;
	for (uint64_t i = 0; i < n; i++) {
		const char *s;
		size_t len;
		if (gguf_get_arr_str(f, k, i, &s, &len, err) < 0) {
			buf_free(&both);
			return -1;
		}
		h ^= len;
		h *= 0x100000001b3ull;
		for (size_t j = 0; j < len; j++) {
			h ^= (unsigned char)s[j];
			h *= 0x100000001b3ull;
		}
		/* "A B": the separator is the first space after the first byte, as in llama.cpp. */
		const char *sp = len > 1 ? memchr(s + 1, ' ', len - 1) : NULL;
		if (sp == NULL)
			continue;
		size_t la = (size_t)(sp - s), lb = len - la - 1;
		int32_t l = tok_strmap_find(&tok->by_text, tok->text, tok->text_off, s, la);
		int32_t r = tok_strmap_find(&tok->by_text, tok->text, tok->text_off, sp + 1, lb);
		buf_reset(&both);
		buf_append(&both, s, la);
		buf_append(&both, sp + 1, lb);
		int32_t m = tok_strmap_find(&tok->by_text, tok->text, tok->text_off, both.data,
		    both.len);
		/* A rule whose parts or result are not tokens can never fire on token ids. */
		if (l < 0 || r < 0 || m < 0)
			continue;
		struct tok_merge_slot *slot = merge_find(tok, l, r);
		if (slot->key != UINT64_MAX)
			continue;   /* the first (lowest) rank of a repeated rule stands */
		slot->key = merge_key(l, r);
		slot->rank = (int32_t)i;
		slot->result = m;
		tok->n_merges++;
	}
	buf_free(&both);
	tok->merges_hash = h;
	return 0;
}

/* --- the priority queue: lowest rank first, then leftmost ------------------------------------ */

static int bigram_before(const struct tok_bigram *a, const struct tok_bigram *b)
{
	return a->rank < b->rank || (a->rank == b->rank && a->left < b->left);
}

static void try_pair(struct tokenizer *tok, size_t *nheap, int32_t l, int32_t r)
{
	if (l < 0 || r < 0)
		return;
	int32_t li = tok->syms[l].id, ri = tok->syms[r].id;
	if (li < 0 || ri < 0)
		return;
	const struct tok_merge_slot *s = merge_find(tok, li, ri);
	if (s->key == UINT64_MAX)
		return;
	struct tok_bigram bg = { 0 };
	bg.rank = s->rank;
	bg.left = l;
	bg.right = r;
	bg.left_id = li;
	bg.right_id = ri;
	bg.result = s->result;
	tok_heap_push(tok, nheap, bg, bigram_before);
}

/* --- merging one piece ---------------------------------------------------------------------- */

static size_t orig_offset(const size_t *map, size_t base, size_t i)
{
	return map ? map[i] : base + i;
}

void tok_bpe_piece(struct tokenizer *tok, const char *p, size_t n, const size_t *map,
    size_t base, struct tok_out *o)
{
	if (n == 0)
		return;
	struct tok_cache *c = &tok->cache;
	uint64_t h = 0;
	uint32_t slot = 0;
	int cacheable = n <= TOK_CACHE_MAX_KEY;
	if (cacheable) {
		if (c->slots == NULL || c->n_entries >= TOK_CACHE_MAX_ENTRIES)
			tok_cache_reset(c);
		h = tok_hash_bytes(p, n);
		const struct tok_cache_entry *e = tok_cache_find(c, p, n, h, &slot);
		if (e) {
			const int32_t *v = c->vals + e->val_off;
			for (uint32_t i = 0; i < e->n_tokens; i++)
				tok_out_push(o, v[i], orig_offset(map, base, (size_t)v[e->n_tokens + i]));
			return;
		}
	}

	size_t first = o->n;
	int32_t whole = tok->ignore_merges ? tok_strmap_find(&tok->by_bytes, tok->bkey,
	    tok->bkey_off, p, n) : -1;
	if (whole >= 0) {
		tok_out_push(o, whole, orig_offset(map, base, 0));
	} else {
		tok->syms = tok_grow(tok->syms, &tok->syms_cap, n, sizeof(*tok->syms));
		struct tok_sym *sy = tok->syms;
		for (size_t i = 0; i < n; i++) {
			sy[i].prev = (int32_t)i - 1;
			sy[i].next = i + 1 < n ? (int32_t)i + 1 : -1;
			sy[i].start = (uint32_t)i;
			sy[i].len = 1;
			sy[i].id = tok->byte_token[(unsigned char)p[i]];
		}
		size_t nheap = 0;
		for (size_t i = 1; i < n; i++)
			try_pair(tok, &nheap, (int32_t)i - 1, (int32_t)i);
		while (nheap > 0) {
			struct tok_bigram bg = tok_heap_pop(tok, &nheap, bigram_before);
			sy = tok->syms;
			struct tok_sym *l = &sy[bg.left], *r = &sy[bg.right];
			/* Skip pairs that changed since they were queued. */
			if (l->len == 0 || r->len == 0 || l->next != bg.right ||
			    l->id != bg.left_id || r->id != bg.right_id)
				continue;
			tok_sym_merge(sy, &bg);
			try_pair(tok, &nheap, l->prev, bg.left);
			try_pair(tok, &nheap, bg.left, l->next);
		}
		sy = tok->syms;
		/* A byte without a token of its own is dropped, as llama.cpp drops it. */
		for (int32_t i = 0; i >= 0; i = sy[i].next)
			if (sy[i].id >= 0)
				tok_out_push(o, sy[i].id, orig_offset(map, base, sy[i].start));
	}

	if (cacheable) {
		uint32_t k = (uint32_t)(o->n - first);
		int32_t ids[TOK_CACHE_MAX_KEY], starts[TOK_CACHE_MAX_KEY];
		for (uint32_t i = 0; i < k; i++) {
			ids[i] = o->ids[first + i];
			starts[i] = 0;
		}
		/* Offsets within the piece: recompute from the symbols (or 0 for a whole match). */
		if (whole < 0) {
			uint32_t j = 0;
			for (int32_t i = 0; i >= 0; i = tok->syms[i].next)
				if (tok->syms[i].id >= 0)
					starts[j++] = (int32_t)tok->syms[i].start;
		}
		tok_cache_add(c, slot, p, n, h, ids, starts, k);
	}
}
