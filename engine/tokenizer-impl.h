/* tokenizer-impl.h: the tokenizer's insides, shared by tokenizer.c (loading, special tokens,
 * decoding), tokenizer-pre.c (regex pre-tokenizer), tokenizer-bpe.c (byte-level BPE) and
 * tokenizer-spm.c (SentencePiece-style BPE). Not for use outside engine/tokenizer*.c. */
#ifndef QUIRE_ENGINE_TOKENIZER_IMPL_H
#define QUIRE_ENGINE_TOKENIZER_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "engine/tokenizer.h"

enum tok_model { TOK_MODEL_BPE, TOK_MODEL_SPM };

/* A hash index from byte strings to token ids; the strings live in a pool the caller owns. */
struct tok_strmap_slot {
	int32_t id;               /* token id or -1 */
	uint32_t tag;             /* high bits of the string's hash: most misses stop here,
	                           * without touching the pool (a 262K vocabulary is 4 MB) */
};
struct tok_strmap {
	struct tok_strmap_slot *slots;   /* open addressing */
	uint32_t mask;            /* slot count - 1 (a power of two) */
};

/* Merge rules as (left id, right id) -> (rank, merged id). */
struct tok_merge_slot {
	uint64_t key;             /* (uint64)left << 32 | right; UINT64_MAX when empty */
	int32_t rank;             /* position in tokenizer.ggml.merges: lower merges first */
	int32_t result;           /* id of the merged token */
};

/* Results of BPE (or SPM) for recently seen pieces, so frequent words are merged once. */
#define TOK_CACHE_MAX_KEY 96          /* longer pieces are rare and not worth keeping */
#define TOK_CACHE_MAX_ENTRIES (1u << 19)   /* then it starts again empty */
struct tok_cache {
	uint32_t *slots;          /* 1 + index into entries, 0 when empty */
	uint32_t mask;            /* slot count - 1 */
	uint32_t used;            /* occupied slots */
	struct tok_cache_entry *entries;
	uint32_t n_entries, cap_entries;
	char *keys;               /* key bytes of all entries */
	size_t keys_len, keys_cap;
	int32_t *vals;            /* per entry: ids then start offsets within the piece */
	size_t vals_len, vals_cap;
};

struct tok_cache_entry {
	uint64_t hash;
	size_t key_off;           /* into keys */
	size_t val_off;           /* into vals */
	uint32_t key_len;
	uint32_t n_tokens;
};

/* The pre-tokenizer: regexes applied one after another, each splitting the pieces of the one
 * before (matches and the text between matches both become pieces), as llama.cpp does. */
#define TOK_PRE_MAX 4
struct tok_pre {
	int n;                    /* number of regexes */
	void *code[TOK_PRE_MAX];  /* pcre2_code_8 * */
	void *match;              /* pcre2_match_data_8 *, sized for the largest */
	void *jit_stack;          /* pcre2_jit_stack_8 * */
	void *mctx;               /* pcre2_match_context_8 * */
};

/* Output being built by one encode call. */
struct tok_out {
	int32_t *ids;
	size_t *offs;             /* NULL when the caller did not ask for offsets */
	size_t n, cap;
};

struct tokenizer {
	enum tok_model model;
	char *model_name;         /* "gpt2" or "llama" */
	char *pre_name;           /* tokenizer.ggml.pre as written, "" when absent */
	int32_t n_vocab;

	char *text;               /* all token texts as stored in the file, back to back */
	size_t *text_off;         /* n_vocab + 1 offsets into text */
	char *bytes;              /* what each token decodes to (tokenizer_decode_token) */
	size_t *bytes_off;        /* n_vocab + 1 offsets into bytes */
	float *scores;            /* tokenizer.ggml.scores, 0 when absent */
	uint8_t *types;           /* enum tok_type per token */

	struct tok_strmap by_text;   /* file text -> id (last duplicate wins, as in llama.cpp) */
	char *bkey;               /* byte-level BPE: each text with the BPE alphabet undone,
	                           * empty when the text has a character outside it */
	size_t *bkey_off;         /* n_vocab + 1 offsets into bkey */
	struct tok_strmap by_bytes;  /* bkey -> id (byte-level BPE only) */

	struct tok_merge_slot *merges;  /* hash table */
	uint32_t merges_mask;
	uint32_t n_merges;           /* rules kept */
	uint64_t merges_hash;        /* hash of the merges as written, for the fingerprint */

	int32_t byte_token[256];     /* token for a single byte (BPE) or <0xXX> (SPM), -1 */

	int32_t *special;            /* CONTROL/USER_DEFINED/UNKNOWN ids, longest text first */
	int32_t n_special;
	/* A byte trie of the special tokens' texts, so one walk from each input position finds
	 * every special token starting there (gemma has 6414, most of them "<unusedN>"). */
	int32_t special_root[256];   /* node for a text's first byte, -1 when none starts so */
	struct tok_trie_node *trie;  /* nodes below the root */
	int32_t n_trie;
	int has_user_defined;        /* USER_DEFINED tokens exist (matched even in documents) */

	int32_t bos, eos, eot, unk, pad;   /* -1 when none */
	int add_bos, add_eos;        /* what the model asks for (TOK_ADD_SPECIAL) */
	int add_space_prefix;        /* "llama": put a space before the text */
	int ignore_merges;           /* llama3-style: a piece that is a token is taken whole */
	int spm_split_words;         /* "llama": the text is cut into words before each U+2581
	                              * that follows another character, and each word is merged
	                              * on its own (and cached); 0 when too many bridges */
	struct tok_spm_bridge *spm_bridges;   /* tokens that could join two such words */
	int32_t n_spm_bridges;

	struct tok_pre pre;          /* byte-level BPE only */
	struct tok_cache cache;

	/* scratch reused between calls */
	char *san;                   /* input with bad UTF-8 replaced (regex view) */
	char *san_bytes;             /* the same with surrogates kept (bytes that get merged) */
	size_t *san_map;             /* sanitized offset -> input offset */
	size_t san_cap;
	struct tok_sym *syms;        /* BPE/SPM symbols */
	size_t syms_cap;
	struct tok_bigram *heap;
	size_t heap_cap;
	char *spm_buf;               /* escaped SPM text */
	size_t *spm_map;             /* escaped offset -> input offset */
	size_t spm_cap;

	uint64_t fingerprint;
};

/* A "llama" token with U+2581 after another character (gemma's ">\xe2\x96\x81</"): a merge
 * could make it across a word cut, so no cut is made where it matches. */
struct tok_spm_bridge {
	int32_t id;
	uint32_t at;              /* byte offset of that U+2581 in the token's text */
};

struct tok_trie_node {
	int32_t child;            /* first node one byte further, -1 when none */
	int32_t sibling;          /* next node with the same parent, -1 at the end */
	int32_t special;          /* index into tok->special of the token ending here, or -1 */
	unsigned char byte;       /* the byte this node adds */
};

struct tok_sym {
	int32_t prev, next;       /* neighbours in the live chain, -1 at the ends */
	uint32_t start, len;      /* bytes of the piece; len 0 once merged into the left one */
	int32_t id;               /* token id, -1 when the bytes are not a token (SPM: or not
	                           * looked up yet) */
};

struct tok_bigram {
	float score;              /* SPM: higher first */
	int32_t rank;             /* BPE: lower first */
	int32_t left, right;      /* symbol indices */
	uint32_t size;            /* SPM: bytes of the pair when pushed */
	int32_t left_id, right_id;/* BPE: ids when pushed, to skip stale pairs */
	int32_t result;           /* the merged token's id */
};

/* Merge a live pair of the chain (BPE and SPM alike): the left symbol takes the right one's
 * bytes and the pair's token id, and the right one leaves the chain. */
static inline void tok_sym_merge(struct tok_sym *sy, const struct tok_bigram *bg)
{
	struct tok_sym *l = &sy[bg->left], *r = &sy[bg->right];
	l->len += r->len;
	l->id = bg->result;
	r->len = 0;
	l->next = r->next;
	if (r->next >= 0)
		sy[r->next].prev = bg->left;
}

/* tokenizer.c */
uint64_t tok_hash_bytes(const void *p, size_t n);
/* Index ids [0, n) by pool[off[id], off[id+1]); ids whose string is empty are left out. */
void tok_strmap_build(struct tok_strmap *m, const char *pool, const size_t *off, int32_t n);
int32_t tok_strmap_find(const struct tok_strmap *m, const char *pool, const size_t *off,
    const char *s, size_t n);
void tok_out_push(struct tok_out *o, int32_t id, size_t off);
void *tok_grow(void *p, size_t *cap, size_t need, size_t elem);
/* The cache: reset (allocating it the first time), look a piece up (NULL, and *slot where to
 * add it, when it is not there), add a piece's k ids and start offsets within it. */
void tok_cache_reset(struct tok_cache *c);
const struct tok_cache_entry *tok_cache_find(const struct tok_cache *c, const char *p,
    size_t n, uint64_t h, uint32_t *slot);
void tok_cache_add(struct tok_cache *c, uint32_t slot, const char *p, size_t n, uint64_t h,
    const int32_t *ids, const int32_t *starts, uint32_t k);
void tok_cache_free(struct tok_cache *c);

/* The merge queue both BPE (lowest rank first) and SPM (highest score first) use: a binary heap
 * in tok->heap ordered by before(a, b) ("a comes out first"). */
typedef int (*tok_bigram_order)(const struct tok_bigram *a, const struct tok_bigram *b);
void tok_heap_push(struct tokenizer *tok, size_t *n, struct tok_bigram bg, tok_bigram_order before);
struct tok_bigram tok_heap_pop(struct tokenizer *tok, size_t *n, tok_bigram_order before);

/* tokenizer-pre.c */
int tok_pre_init(struct tokenizer *tok, char **err);   /* from tok->pre_name */
void tok_pre_free(struct tok_pre *pre);
/* Tokenize one fragment of raw input (no special tokens inside) with byte-level BPE. base is
 * the fragment's offset in the caller's input. */
int tok_bpe_fragment(struct tokenizer *tok, const char *s, size_t n, size_t base,
    struct tok_out *o, char **err);

/* tokenizer-bpe.c */
int tok_bpe_load_merges(struct tokenizer *tok, const struct gguf_file *f, const char *path,
    char **err);
/* Merge the bytes of one piece; its byte i came from input offset map(i). */
void tok_bpe_piece(struct tokenizer *tok, const char *p, size_t n, const size_t *map,
    size_t base, struct tok_out *o);
int tok_gpt2_utf8_to_byte(const char *s, size_t n, size_t *used);

/* tokenizer-spm.c */
void tok_spm_init(struct tokenizer *tok);
void tok_spm_fragment(struct tokenizer *tok, const char *s, size_t n, size_t base,
    int space_prefix, struct tok_out *o);

#endif
