/* tokenizer.c: loading a tokenizer from GGUF metadata, splitting out special tokens, dispatching
 * text to the byte-level BPE or SentencePiece-style encoder, decoding and the fingerprint. */
#include "engine/tokenizer.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "engine/gguf.h"
#include "engine/tokenizer-impl.h"
#include "lib/buf.h"
#include "lib/util.h"

/* --- small shared helpers ------------------------------------------------------------------ */

/* FNV-1a, then a final mix so that short keys spread over the table. */
uint64_t tok_hash_bytes(const void *p, size_t n)
{
	const unsigned char *s = p;
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < n; i++) {
		h ^= s[i];
		h *= 0x100000001b3ull;
	}
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 32;
	return h;
}

void *tok_grow(void *p, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return p;
	size_t c = *cap ? *cap : 64;
	while (c < need) {
		if (c > SIZE_MAX / 2)
			fatal("tokenizer: buffer size overflow");
		c *= 2;
	}
	p = xreallocarray(p, c, elem);
	*cap = c;
	return p;
}

void tok_heap_push(struct tokenizer *tok, size_t *n, struct tok_bigram bg, tok_bigram_order before)
{
	tok->heap = tok_grow(tok->heap, &tok->heap_cap, *n + 1, sizeof(*tok->heap));
	struct tok_bigram *h = tok->heap;
	size_t i = (*n)++;
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (!before(&bg, &h[p]))
			break;
		h[i] = h[p];
		i = p;
	}
	h[i] = bg;
}

struct tok_bigram tok_heap_pop(struct tokenizer *tok, size_t *n, tok_bigram_order before)
{
	struct tok_bigram *h = tok->heap;
	struct tok_bigram top = h[0], last = h[--(*n)];
	size_t i = 0;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= *n)
			break;
		if (c + 1 < *n && before(&h[c + 1], &h[c]))
			c++;
		if (!before(&h[c], &last))
			break;
		h[i] = h[c];
		i = c;
	}
	if (*n > 0)
		h[i] = last;
	return top;
}

void tok_out_push(struct tok_out *o, int32_t id, size_t off)
{
	if (o->n == o->cap) {
		if (o->cap > SIZE_MAX / 4)
			fatal("tokenizer: output size overflow");
		size_t cap = o->cap ? o->cap * 2 : 64;
		o->ids = xreallocarray(o->ids, cap, sizeof(*o->ids));
		if (o->offs)
			o->offs = xreallocarray(o->offs, cap, sizeof(*o->offs));
		o->cap = cap;
	}
	o->ids[o->n] = id;
	if (o->offs)
		o->offs[o->n] = off;
	o->n++;
}

void tok_strmap_build(struct tok_strmap *m, const char *pool, const size_t *off, int32_t n)
{
	uint32_t size = 16;
	while (size < (uint32_t)n * 2u)
		size *= 2;
	m->mask = size - 1;
	m->slots = xmalloc(sizeof(*m->slots) * size);
	for (uint32_t i = 0; i < size; i++)
		m->slots[i] = (struct tok_strmap_slot){ -1, 0 };
	for (int32_t id = 0; id < n; id++) {
		size_t len = off[id + 1] - off[id];
		if (len == 0)
			continue;
		const char *s = pool + off[id];
		uint64_t h = tok_hash_bytes(s, len);
		uint32_t i = (uint32_t)h & m->mask, tag = (uint32_t)(h >> 32);
		for (;;) {
			int32_t o = m->slots[i].id;
			if (o < 0) {
				m->slots[i] = (struct tok_strmap_slot){ id, tag };
				break;
			}
			/* A later duplicate replaces the earlier one, as llama.cpp's map does. */
			if (m->slots[i].tag == tag && off[o + 1] - off[o] == len &&
			    memcmp(pool + off[o], s, len) == 0) {
				m->slots[i].id = id;
				break;
			}
			i = (i + 1) & m->mask;
		}
	}
}

int32_t tok_strmap_find(const struct tok_strmap *m, const char *pool, const size_t *off,
    const char *s, size_t n)
{
	if (n == 0 || m->slots == NULL)
		return -1;
	uint64_t h = tok_hash_bytes(s, n);
	uint32_t i = (uint32_t)h & m->mask, tag = (uint32_t)(h >> 32);
	for (;;) {
		const struct tok_strmap_slot *sl = &m->slots[i];
		if (sl->id < 0)
			return -1;
		if (sl->tag == tag && off[sl->id + 1] - off[sl->id] == n &&
		    memcmp(pool + off[sl->id], s, n) == 0)
			return sl->id;
		i = (i + 1) & m->mask;
	}
}

/* --- the word cache (both encoders) --------------------------------------------------------- */

void tok_cache_free(struct tok_cache *c)
{
	free(c->slots);
	free(c->entries);
	free(c->keys);
	free(c->vals);
	memset(c, 0, sizeof(*c));
}

void tok_cache_reset(struct tok_cache *c)
{
	if (c->slots == NULL) {
		c->mask = (TOK_CACHE_MAX_ENTRIES * 2) - 1;
		c->slots = xmalloc(sizeof(*c->slots) * (c->mask + 1));
	}
	memset(c->slots, 0, sizeof(*c->slots) * (c->mask + 1));
	c->used = 0;
	c->n_entries = 0;
	c->keys_len = 0;
	c->vals_len = 0;
}

const struct tok_cache_entry *tok_cache_find(const struct tok_cache *c, const char *p,
    size_t n, uint64_t h, uint32_t *slot)
{
	uint32_t i = (uint32_t)h & c->mask;
	for (;;) {
		uint32_t e = c->slots[i];
		if (e == 0) {
			*slot = i;
			return NULL;
		}
		const struct tok_cache_entry *ent = &c->entries[e - 1];
		if (ent->hash == h && ent->key_len == n && memcmp(c->keys + ent->key_off, p, n) == 0)
			return ent;
		i = (i + 1) & c->mask;
	}
}

void tok_cache_add(struct tok_cache *c, uint32_t slot, const char *p, size_t n, uint64_t h,
    const int32_t *ids, const int32_t *starts, uint32_t k)
{
	if (c->n_entries == c->cap_entries) {
		size_t cap = c->cap_entries;
		c->entries = tok_grow(c->entries, &cap, cap + 1, sizeof(*c->entries));
		c->cap_entries = (uint32_t)cap;
	}
	c->keys = tok_grow(c->keys, &c->keys_cap, c->keys_len + n, 1);
	c->vals = tok_grow(c->vals, &c->vals_cap, c->vals_len + 2 * (size_t)k, sizeof(int32_t));
	struct tok_cache_entry *e = &c->entries[c->n_entries];
	e->hash = h;
	e->key_off = c->keys_len;
	e->key_len = (uint32_t)n;
	e->val_off = c->vals_len;
	e->n_tokens = k;
	memcpy(c->keys + c->keys_len, p, n);
	c->keys_len += n;
	memcpy(c->vals + c->vals_len, ids, sizeof(int32_t) * k);
	memcpy(c->vals + c->vals_len + k, starts, sizeof(int32_t) * k);
	c->vals_len += 2 * (size_t)k;
	c->slots[slot] = ++c->n_entries;
	c->used++;
}

/* --- loading -------------------------------------------------------------------------------- */

static int is_special_type(uint8_t t)
{
	return t == TOK_TYPE_CONTROL || t == TOK_TYPE_USER_DEFINED || t == TOK_TYPE_UNKNOWN;
}

/* Read a token id key; an id outside the vocabulary keeps the default (llama.cpp warns and
 * does the same). */
static int load_id(const struct gguf_file *f, const char *key, int32_t n_vocab, int32_t *id,
    char **err)
{
	uint32_t v;
	int r = gguf_get_u32(f, key, &v, err);
	if (r < 0)
		return -1;
	if (r == 0 && v < (uint32_t)n_vocab)
		*id = (int32_t)v;
	if (*id >= n_vocab)
		*id = -1;
	return 0;
}

static int load_bool(const struct gguf_file *f, const char *key, int *out, char **err)
{
	int v;
	int r = gguf_get_bool(f, key, &v, err);
	if (r < 0)
		return -1;
	if (r == 0)
		*out = v != 0;
	return 0;
}

static int load_tokens(struct tokenizer *tok, const struct gguf_file *f, const char *path,
    char **err)
{
	int k = gguf_find_key(f, "tokenizer.ggml.tokens");
	if (k < 0)
		return q_error(err, "%s: missing key 'tokenizer.ggml.tokens'", path);
	enum gguf_type et;
	uint64_t n;
	if (gguf_get_arr(f, k, &et, &n, err) < 0)
		return -1;
	if (et != GGUF_TYPE_STRING)
		return q_error(err, "%s: tokenizer.ggml.tokens is not an array of strings", path);
	if (n == 0 || n > (uint64_t)INT32_MAX / 4)
		return q_error(err, "%s: tokenizer.ggml.tokens has %llu entries", path,
		    (unsigned long long)n);
	tok->n_vocab = (int32_t)n;

	struct buf pool = BUF_INIT;
	tok->text_off = xmalloc(sizeof(size_t) * (n + 1));
	for (uint64_t i = 0; i < n; i++) {
		const char *s;
		size_t len;
		if (gguf_get_arr_str(f, k, i, &s, &len, err) < 0) {
			buf_free(&pool);
			return -1;
		}
		tok->text_off[i] = pool.len;
		if (len == 0)
			buf_printf(&pool, "[EMPTY_%llu]", (unsigned long long)i);
		else
			buf_append(&pool, s, len);
	}
	tok->text_off[n] = pool.len;
	tok->text = buf_steal(&pool);

	tok->scores = xcalloc(n, sizeof(float));
	k = gguf_find_key(f, "tokenizer.ggml.scores");
	if (k >= 0) {
		uint64_t m;
		if (gguf_get_arr(f, k, &et, &m, err) < 0)
			return -1;
		if (m != n)
			return q_error(err, "%s: tokenizer.ggml.scores has %llu entries for %llu tokens",
			    path, (unsigned long long)m, (unsigned long long)n);
		if (gguf_get_arr_f32(f, k, tok->scores, n, err) < 0)
			return -1;
	}

	tok->types = xmalloc(n);
	memset(tok->types, TOK_TYPE_NORMAL, n);
	k = gguf_find_key(f, "tokenizer.ggml.token_type");
	if (k >= 0) {
		uint64_t m;
		if (gguf_get_arr(f, k, &et, &m, err) < 0)
			return -1;
		if (m != n)
			return q_error(err,
			    "%s: tokenizer.ggml.token_type has %llu entries for %llu tokens", path,
			    (unsigned long long)m, (unsigned long long)n);
		int32_t *t = xmalloc(sizeof(int32_t) * n);
		if (gguf_get_arr_i32(f, k, t, n, err) < 0) {
			free(t);
			return -1;
		}
		for (uint64_t i = 0; i < n; i++)
			tok->types[i] = (t[i] >= 1 && t[i] <= 6) ? (uint8_t)t[i] : TOK_TYPE_UNDEFINED;
		free(t);
	}
	return 0;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* What each token decodes to, and for byte-level BPE the undone-alphabet key index. */
static void build_pieces(struct tokenizer *tok)
{
	int32_t n = tok->n_vocab;
	struct buf pieces = BUF_INIT, keys = BUF_INIT;
	tok->bytes_off = xmalloc(sizeof(size_t) * ((size_t)n + 1));
	if (tok->model == TOK_MODEL_BPE)
		tok->bkey_off = xmalloc(sizeof(size_t) * ((size_t)n + 1));
	for (int32_t id = 0; id < n; id++) {
		const char *s = tok->text + tok->text_off[id];
		size_t len = tok->text_off[id + 1] - tok->text_off[id];
		uint8_t type = tok->types[id];
		tok->bytes_off[id] = pieces.len;
		if (tok->model == TOK_MODEL_BPE) {
			/* Undo the alphabet; a character outside it stays as it is in the piece
			 * and keeps the token out of the byte index. */
			size_t key_start = keys.len, piece_start = pieces.len;
			int decodable = 1;
			for (size_t i = 0; i < len;) {
				size_t used;
				int b = tok_gpt2_utf8_to_byte(s + i, len - i, &used);
				if (b < 0) {
					decodable = 0;
					buf_append(&pieces, s + i, used);
				} else {
					char c = (char)b;
					buf_append(&keys, &c, 1);
					buf_append(&pieces, &c, 1);
				}
				i += used;
			}
			tok->bkey_off[id] = key_start;
			if (!decodable)
				keys.len = key_start;
			if (is_special_type(type)) {
				pieces.len = piece_start;
				buf_append(&pieces, s, len);
			}
		} else {
			if (type == TOK_TYPE_BYTE && len == 6 && memcmp(s, "<0x", 3) == 0 &&
			    s[5] == '>' && hexval(s[3]) >= 0 && hexval(s[4]) >= 0) {
				char c = (char)(hexval(s[3]) * 16 + hexval(s[4]));
				buf_append(&pieces, &c, 1);
			} else if (is_special_type(type)) {
				buf_append(&pieces, s, len);
			} else {
				for (size_t i = 0; i < len;) {
					if (i + 3 <= len && memcmp(s + i, "\xE2\x96\x81", 3) == 0) {
						buf_append_char(&pieces, ' ');
						i += 3;
					} else {
						buf_append(&pieces, s + i, 1);
						i++;
					}
				}
			}
		}
	}
	tok->bytes_off[n] = pieces.len;
	if (pieces.data == NULL)
		buf_append(&pieces, "", 0);
	tok->bytes = buf_steal(&pieces);
	if (tok->model == TOK_MODEL_BPE) {
		tok->bkey_off[n] = keys.len;
		tok->bkey = buf_steal(&keys);
	} else {
		buf_free(&keys);
	}
}

static int cmp_special(const void *a, const void *b, void *arg)
{
	const struct tokenizer *tok = arg;
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
	size_t lx = tok->text_off[x + 1] - tok->text_off[x];
	size_t ly = tok->text_off[y + 1] - tok->text_off[y];
	if (lx != ly)
		return lx > ly ? -1 : 1;
	return x < y ? -1 : x > y;
}

static int text_is(const struct tokenizer *tok, int32_t id, const char *s)
{
	size_t len = tok->text_off[id + 1] - tok->text_off[id];
	return strlen(s) == len && memcmp(tok->text + tok->text_off[id], s, len) == 0;
}

/* Texts llama.cpp takes for end-of-turn / end-of-generation when the file names none. */
static const char *const eot_texts[] = {
	"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
	"<|end_of_text|>", "<EOT>", "_<EOT>", "<\xef\xbd\x9c" "end\xe2\x96\x81" "of"
	"\xe2\x96\x81" "sentence\xef\xbd\x9c>", "<end_of_utterance>",
};
static const char *const eog_texts[] = {
	"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
	"<|eom_id|>", "<EOT>", "_<EOT>", "<|return|>", "<|call|>",
};

static void fp_mix(uint64_t *h, const void *p, size_t n)
{
	uint64_t len = n;
	const unsigned char *s = (const unsigned char *)&len;
	for (size_t i = 0; i < sizeof(len); i++) {
		*h ^= s[i];
		*h *= 0x100000001b3ull;
	}
	s = p;
	for (size_t i = 0; i < n; i++) {
		*h ^= s[i];
		*h *= 0x100000001b3ull;
	}
}

static void compute_fingerprint(struct tokenizer *tok)
{
	uint64_t h = 0xcbf29ce484222325ull;
	fp_mix(&h, "quire-tokenizer-1", 17);
	fp_mix(&h, tok->model_name, strlen(tok->model_name));
	/* Bumped when the SentencePiece-style encoder's ids change for some input, so ids stored
	 * under the old fingerprint are not taken for new ones. 2: a U+2581 written in the text
	 * just before a space no longer starts a word of its own. */
	if (tok->model == TOK_MODEL_SPM)
		fp_mix(&h, "spm-2", 5);
	fp_mix(&h, tok->pre_name, strlen(tok->pre_name));
	unsigned char flag = (unsigned char)tok->add_space_prefix;
	fp_mix(&h, &flag, 1);
	for (int32_t id = 0; id < tok->n_vocab; id++) {
		fp_mix(&h, tok->text + tok->text_off[id], tok->text_off[id + 1] - tok->text_off[id]);
		fp_mix(&h, &tok->types[id], 1);
		uint32_t bits;
		memcpy(&bits, &tok->scores[id], sizeof(bits));
		unsigned char le[4] = { (unsigned char)bits, (unsigned char)(bits >> 8),
			(unsigned char)(bits >> 16), (unsigned char)(bits >> 24) };
		fp_mix(&h, le, 4);
	}
	unsigned char mh[8];
	for (int i = 0; i < 8; i++)
		mh[i] = (unsigned char)(tok->merges_hash >> (8 * i));
	fp_mix(&h, mh, 8);
	tok->fingerprint = h;
}

/* The child of node (-1: the root) for byte c, added when there is none yet. */
static int32_t trie_child(struct tokenizer *tok, int32_t node, unsigned char c, size_t *cap)
{
	int32_t last = -1;   /* the last child seen, to link a new one after */
	for (int32_t n = node < 0 ? tok->special_root[c] : tok->trie[node].child; n >= 0;
	    n = tok->trie[n].sibling) {
		if (tok->trie[n].byte == c)
			return n;
		last = n;
	}
	tok->trie = tok_grow(tok->trie, cap, (size_t)tok->n_trie + 1, sizeof(*tok->trie));
	int32_t n = tok->n_trie++;
	tok->trie[n] = (struct tok_trie_node){ -1, -1, -1, c };
	if (last >= 0)
		tok->trie[last].sibling = n;
	else if (node >= 0)
		tok->trie[node].child = n;
	else
		tok->special_root[c] = n;
	return n;
}

static void build_special_trie(struct tokenizer *tok)
{
	size_t cap = 0;
	for (int c = 0; c < 256; c++)
		tok->special_root[c] = -1;
	for (int32_t k = 0; k < tok->n_special; k++) {
		int32_t id = tok->special[k];
		const unsigned char *s = (const unsigned char *)tok->text + tok->text_off[id];
		size_t len = tok->text_off[id + 1] - tok->text_off[id];
		int32_t node = -1;
		for (size_t i = 0; i < len; i++)
			node = trie_child(tok, node, s[i], &cap);
		/* Of two special tokens with one text the first (lower id) takes every occurrence
		 * in split_special(), so only it need be found. */
		if (node >= 0 && tok->trie[node].special < 0)
			tok->trie[node].special = k;
	}
}

int tokenizer_from_gguf(const struct gguf_file *f, struct tokenizer **out, char **err)
{
	const char *path = gguf_path(f);
	*out = NULL;
	struct tokenizer *tok = xcalloc(1, sizeof(*tok));
	int r = gguf_get_strdup(f, "tokenizer.ggml.model", &tok->model_name, err);
	if (r < 0)
		goto fail;
	if (r == 1) {
		q_error(err, "%s: missing key 'tokenizer.ggml.model' (no vocabulary)", path);
		goto fail;
	}
	if (strcmp(tok->model_name, "gpt2") == 0) {
		tok->model = TOK_MODEL_BPE;
	} else if (strcmp(tok->model_name, "llama") == 0) {
		tok->model = TOK_MODEL_SPM;
	} else {
		q_error(err, "%s: tokenizer model '%s' is not supported (only gpt2 and llama)", path,
		    tok->model_name);
		goto fail;
	}
	r = gguf_get_strdup(f, "tokenizer.ggml.pre", &tok->pre_name, err);
	if (r < 0)
		goto fail;
	if (r == 1)
		tok->pre_name = xstrdup("");

	if (load_tokens(tok, f, path, err) < 0)
		goto fail;
	for (int i = 0; i < 256; i++)
		tok->byte_token[i] = -1;
	build_pieces(tok);
	tok_strmap_build(&tok->by_text, tok->text, tok->text_off, tok->n_vocab);

	/* Defaults as llama.cpp sets them before reading the keys. */
	tok->eot = tok->pad = -1;
	if (tok->model == TOK_MODEL_SPM) {
		tok->bos = 1;
		tok->eos = 2;
		tok->unk = 0;
		tok->add_space_prefix = 1;
		tok->add_bos = 1;
	} else {
		tok->bos = 11;
		tok->eos = 11;
		tok->unk = -1;
	}
	if (tok->bos >= tok->n_vocab)
		tok->bos = -1;
	if (tok->eos >= tok->n_vocab)
		tok->eos = -1;
	if (tok->unk >= tok->n_vocab)
		tok->unk = -1;

	if (tok->model == TOK_MODEL_BPE) {
		tok_strmap_build(&tok->by_bytes, tok->bkey, tok->bkey_off, tok->n_vocab);
		for (int b = 0; b < 256; b++) {
			char c = (char)b;
			tok->byte_token[b] = tok_strmap_find(&tok->by_bytes, tok->bkey, tok->bkey_off,
			    &c, 1);
		}
		if (tok_pre_init(tok, err) < 0)
			goto fail;
		if (tok_bpe_load_merges(tok, f, path, err) < 0)
			goto fail;
	} else {
		tok_spm_init(tok);
	}

	if (load_bool(f, "tokenizer.ggml.add_space_prefix", &tok->add_space_prefix, err) < 0 ||
	    load_id(f, "tokenizer.ggml.bos_token_id", tok->n_vocab, &tok->bos, err) < 0 ||
	    load_id(f, "tokenizer.ggml.eos_token_id", tok->n_vocab, &tok->eos, err) < 0 ||
	    load_id(f, "tokenizer.ggml.eot_token_id", tok->n_vocab, &tok->eot, err) < 0 ||
	    load_id(f, "tokenizer.ggml.unknown_token_id", tok->n_vocab, &tok->unk, err) < 0 ||
	    load_id(f, "tokenizer.ggml.padding_token_id", tok->n_vocab, &tok->pad, err) < 0 ||
	    load_bool(f, "tokenizer.ggml.add_bos_token", &tok->add_bos, err) < 0 ||
	    load_bool(f, "tokenizer.ggml.add_eos_token", &tok->add_eos, err) < 0)
		goto fail;
	if (tok->eot < 0) {
		for (size_t i = 0; i < Q_ARRAY_LEN(eot_texts) && tok->eot < 0; i++)
			tok->eot = tok_strmap_find(&tok->by_text, tok->text, tok->text_off,
			    eot_texts[i], strlen(eot_texts[i]));
	}

	/* Special tokens, longest first: a longer one wins where two overlap, as in llama.cpp. */
	tok->special = xmalloc(sizeof(int32_t) * (size_t)tok->n_vocab);
	for (int32_t id = 0; id < tok->n_vocab; id++)
		if (is_special_type(tok->types[id])) {
			tok->special[tok->n_special++] = id;
			tok->has_user_defined |= tok->types[id] == TOK_TYPE_USER_DEFINED;
		}
	qsort_r(tok->special, (size_t)tok->n_special, sizeof(int32_t), cmp_special, tok);
	build_special_trie(tok);

	compute_fingerprint(tok);
	*out = tok;
	return 0;
fail:
	tokenizer_free(tok);
	return -1;
}

void tokenizer_free(struct tokenizer *tok)
{
	if (tok == NULL)
		return;
	free(tok->model_name);
	free(tok->pre_name);
	free(tok->text);
	free(tok->text_off);
	free(tok->bytes);
	free(tok->bytes_off);
	free(tok->bkey);
	free(tok->bkey_off);
	free(tok->scores);
	free(tok->types);
	free(tok->by_text.slots);
	free(tok->by_bytes.slots);
	free(tok->merges);
	free(tok->special);
	free(tok->trie);
	tok_pre_free(&tok->pre);
	tok_cache_free(&tok->cache);
	free(tok->san);
	free(tok->san_bytes);
	free(tok->san_map);
	free(tok->syms);
	free(tok->heap);
	free(tok->spm_buf);
	free(tok->spm_map);
	free(tok->spm_bridges);
	free(tok);
}

/* --- encoding ------------------------------------------------------------------------------- */

struct fragment {
	size_t start, len;        /* bytes of the input */
	int32_t token;            /* a special token, or -1 for text */
};

static int cmp_int32(const void *a, const void *b)
{
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
	return x < y ? -1 : x > y;
}

/* The special-token splitting of one input: the fragments so far, and a cluster, occurrences
 * that overlap one another (directly or through others), not settled yet. Which of those are
 * cut out is decided together; the rest of the input is not involved. */
struct splitter {
	const struct tokenizer *tok;
	const char *text;
	struct fragment *fr;
	size_t n, cap;
	size_t at;                /* input before this is in fr */
	size_t n_occ;             /* occurrences in the cluster */
	size_t start, end;        /* the cluster's bytes: from its first occurrence to the furthest
	                           * byte one reaches */
	int32_t *ks;              /* the special tokens occurring in it (indices into tok->special) */
	size_t n_ks, ks_cap;
	uint8_t *in_ks;           /* per special token: it is in ks */
};

static void split_push(struct splitter *sp, size_t start, size_t len, int32_t token)
{
	sp->fr = tok_grow(sp->fr, &sp->cap, sp->n + 1, sizeof(*sp->fr));
	sp->fr[sp->n++] = (struct fragment){ start, len, token };
}

static void split_add(struct splitter *sp, int32_t k, size_t pos, size_t len)
{
	if (sp->in_ks == NULL)
		sp->in_ks = xcalloc((size_t)sp->tok->n_special, 1);
	if (sp->n_occ++ == 0) {
		sp->start = pos;
		sp->end = pos + len;
	} else if (pos + len > sp->end) {
		sp->end = pos + len;
	}
	if (!sp->in_ks[k]) {
		sp->in_ks[k] = 1;
		sp->ks = tok_grow(sp->ks, &sp->ks_cap, sp->n_ks + 1, sizeof(*sp->ks));
		sp->ks[sp->n_ks++] = k;
	}
}

/* Settle the cluster as llama.cpp does: one pass per token occurring in it, longest first,
 * each cutting it out of the text not cut yet, left to right. Its tokens go to the fragments,
 * with the text before each. */
static void split_settle(struct splitter *sp)
{
	const struct tokenizer *tok = sp->tok;
	size_t n = 0, cap = 4;
	struct fragment *fr = xmalloc(sizeof(*fr) * cap);
	if (sp->n_occ == 1) {
		fr[n++] = (struct fragment){ sp->start, sp->end - sp->start, tok->special[sp->ks[0]] };
	} else {
		fr[n++] = (struct fragment){ sp->start, sp->end - sp->start, -1 };
		qsort(sp->ks, sp->n_ks, sizeof(*sp->ks), cmp_int32);
	}
	for (size_t g = 0; g < sp->n_ks && sp->n_occ > 1; g++) {
		int32_t id = tok->special[sp->ks[g]];
		const char *st = tok->text + tok->text_off[id];
		size_t sl = tok->text_off[id + 1] - tok->text_off[id];
		size_t m = 0, mcap = n + 4;
		struct fragment *nf = xmalloc(sizeof(*nf) * mcap);
		for (size_t i = 0; i < n; i++) {
			struct fragment f = fr[i];
			size_t pos = f.start, end = f.start + f.len;
			const char *hit;
			while (f.token < 0 &&
			    (hit = memmem(sp->text + pos, end - pos, st, sl)) != NULL) {
				size_t h = (size_t)(hit - sp->text);
				nf = tok_grow(nf, &mcap, m + 2, sizeof(*nf));
				if (h > pos)
					nf[m++] = (struct fragment){ pos, h - pos, -1 };
				nf[m++] = (struct fragment){ h, sl, id };
				pos = h + sl;
			}
			if (pos < end) {
				nf = tok_grow(nf, &mcap, m + 1, sizeof(*nf));
				nf[m++] = (struct fragment){ pos, end - pos, f.token };
			}
		}
		free(fr);
		fr = nf;
		n = m;
	}
	/* Text left inside the cluster joins the text around it, as it is one fragment there. */
	for (size_t i = 0; i < n; i++) {
		if (fr[i].token < 0)
			continue;
		if (fr[i].start > sp->at)
			split_push(sp, sp->at, fr[i].start - sp->at, -1);
		split_push(sp, fr[i].start, fr[i].len, fr[i].token);
		sp->at = fr[i].start + fr[i].len;
	}
	free(fr);
	for (size_t g = 0; g < sp->n_ks; g++)
		sp->in_ks[sp->ks[g]] = 0;
	sp->n_ks = 0;
	sp->n_occ = 0;
}

/* Split the input around special-token strings as llama.cpp does: each eligible token in turn
 * (longest first) cuts every text fragment, left to right, where it occurs. A walk down the
 * trie from each position finds the occurrences, so the passes run only over clusters of
 * overlapping ones (a newline, a run of spaces) and only for the tokens found there. */
static struct fragment *split_special(const struct tokenizer *tok, const char *text,
    size_t len, int parse_special, size_t *n_frag)
{
	struct splitter sp = { .tok = tok, .text = text };
	for (size_t i = 0; i < len && (parse_special || tok->has_user_defined); i++) {
		int32_t node = tok->special_root[(unsigned char)text[i]];
		for (size_t j = i + 1; node >= 0; j++) {
			const struct tok_trie_node *nd = &tok->trie[node];
			uint8_t t = nd->special >= 0 ? tok->types[tok->special[nd->special]] : 0;
			if (nd->special >= 0 &&
			    (parse_special || (t != TOK_TYPE_CONTROL && t != TOK_TYPE_UNKNOWN))) {
				if (sp.n_occ > 0 && i >= sp.end)
					split_settle(&sp);
				split_add(&sp, nd->special, i, j - i);
			}
			if (j == len)
				break;
			unsigned char c = (unsigned char)text[j];
			for (node = nd->child; node >= 0 && tok->trie[node].byte != c;
			    node = tok->trie[node].sibling)
				;
		}
	}
	if (sp.n_occ > 0)
		split_settle(&sp);
	if (sp.at < len)
		split_push(&sp, sp.at, len - sp.at, -1);
	free(sp.ks);
	free(sp.in_ks);
	*n_frag = sp.n;
	return sp.fr;
}

int tokenizer_encode(struct tokenizer *tok, const char *text, size_t len, unsigned flags,
    int32_t **ids, size_t *n, size_t **byte_offsets, char **err)
{
	struct tok_out o = { NULL, NULL, 0, 0 };
	size_t cap = len / 3 + 16;
	o.ids = xmalloc(sizeof(int32_t) * cap);
	if (byte_offsets)
		o.offs = xmalloc(sizeof(size_t) * cap);
	o.cap = cap;

	int add_bos = (flags & TOK_ADD_BOS) || ((flags & TOK_ADD_SPECIAL) && tok->add_bos);
	int add_eos = (flags & TOK_ADD_EOS) || ((flags & TOK_ADD_SPECIAL) && tok->add_eos);
	if (add_bos && tok->bos >= 0)
		tok_out_push(&o, tok->bos, 0);

	size_t n_frag;
	struct fragment *fr = split_special(tok, text, len, (flags & TOK_PARSE_SPECIAL) != 0,
	    &n_frag);
	int prev_special = 1;   /* SPM puts a space before the first text and after specials */
	for (size_t i = 0; i < n_frag; i++) {
		if (fr[i].token >= 0) {
			tok_out_push(&o, fr[i].token, fr[i].start);
			prev_special = 1;
			continue;
		}
		if (tok->model == TOK_MODEL_BPE) {
			if (tok_bpe_fragment(tok, text + fr[i].start, fr[i].len, fr[i].start, &o,
			    err) < 0) {
				free(fr);
				free(o.ids);
				free(o.offs);
				return -1;
			}
		} else {
			tok_spm_fragment(tok, text + fr[i].start, fr[i].len, fr[i].start,
			    tok->add_space_prefix && prev_special, &o);
		}
		prev_special = 0;
	}
	free(fr);
	if (add_eos && tok->eos >= 0)
		tok_out_push(&o, tok->eos, len);

	*ids = o.ids;
	*n = o.n;
	if (byte_offsets)
		*byte_offsets = o.offs;
	return 0;
}

/* --- decoding ------------------------------------------------------------------------------- */

int tokenizer_decode_token(const struct tokenizer *tok, int32_t id, struct buf *out)
{
	if (id < 0 || id >= tok->n_vocab)
		return -1;
	buf_append(out, tok->bytes + tok->bytes_off[id], tok->bytes_off[id + 1] -
	    tok->bytes_off[id]);
	return 0;
}

int tokenizer_decode(const struct tokenizer *tok, const int32_t *ids, size_t n, unsigned flags,
    struct buf *out, char **err)
{
	int strip = tok->model == TOK_MODEL_SPM && tok->add_space_prefix &&
	    !(flags & TOK_DECODE_KEEP_PREFIX);
	int at_start = 1;
	buf_append(out, "", 0);
	for (size_t i = 0; i < n; i++) {
		int32_t id = ids[i];
		if (id < 0 || id >= tok->n_vocab)
			return q_error(err, "token id %d at position %zu is outside the vocabulary "
			    "(%d tokens)", id, i, tok->n_vocab);
		uint8_t t = tok->types[id];
		if (id == tok->bos && i == 0) {
			if (!(flags & TOK_DECODE_SKIP_SPECIAL) && t != TOK_TYPE_NORMAL)
				tokenizer_decode_token(tok, id, out);
			continue;
		}
		if (is_special_type(t)) {
			if (!((flags & TOK_DECODE_SKIP_SPECIAL) &&
			    (t == TOK_TYPE_CONTROL || t == TOK_TYPE_UNKNOWN)))
				tokenizer_decode_token(tok, id, out);
			at_start = 1;
			continue;
		}
		const char *p = tok->bytes + tok->bytes_off[id];
		size_t len = tok->bytes_off[id + 1] - tok->bytes_off[id];
		if (strip && at_start && len > 0 && p[0] == ' ') {
			p++;
			len--;
		}
		at_start = 0;
		buf_append(out, p, len);
	}
	return 0;
}

/* --- facts ---------------------------------------------------------------------------------- */

uint64_t tokenizer_fingerprint(const struct tokenizer *tok) { return tok->fingerprint; }
int32_t tokenizer_n_vocab(const struct tokenizer *tok) { return tok->n_vocab; }
int32_t tokenizer_bos(const struct tokenizer *tok) { return tok->bos; }
int32_t tokenizer_eos(const struct tokenizer *tok) { return tok->eos; }
int32_t tokenizer_eot(const struct tokenizer *tok) { return tok->eot; }
int32_t tokenizer_unk(const struct tokenizer *tok) { return tok->unk; }
int32_t tokenizer_pad(const struct tokenizer *tok) { return tok->pad; }
int tokenizer_add_bos(const struct tokenizer *tok) { return tok->add_bos; }
const char *tokenizer_model_name(const struct tokenizer *tok) { return tok->model_name; }
const char *tokenizer_pre_name(const struct tokenizer *tok) { return tok->pre_name; }

enum tok_type tokenizer_token_type(const struct tokenizer *tok, int32_t id)
{
	if (id < 0 || id >= tok->n_vocab)
		return TOK_TYPE_UNDEFINED;
	return (enum tok_type)tok->types[id];
}

int tokenizer_is_control(const struct tokenizer *tok, int32_t id)
{
	enum tok_type t = tokenizer_token_type(tok, id);
	return t == TOK_TYPE_CONTROL || t == TOK_TYPE_UNKNOWN;
}

int tokenizer_is_eog(const struct tokenizer *tok, int32_t id)
{
	if (id < 0 || id >= tok->n_vocab)
		return 0;
	if (id == tok->eos || id == tok->eot)
		return 1;
	if (tok->types[id] != TOK_TYPE_CONTROL)
		return 0;
	for (size_t i = 0; i < Q_ARRAY_LEN(eog_texts); i++)
		if (text_is(tok, id, eog_texts[i]))
			return 1;
	return 0;
}

int32_t tokenizer_find(const struct tokenizer *tok, const char *text, size_t len)
{
	return tok_strmap_find(&tok->by_text, tok->text, tok->text_off, text, len);
}
