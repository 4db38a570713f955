/* kv-setup.h: what the commands over the corpus cache (index, ask, check, info) share: the
 * cache's parameters from the options and the model, its file in the library's kv/ folder,
 * and the corpus layout that joins the store's documents to the engine's token positions. */
#ifndef QUIRE_TUI_KV_SETUP_H
#define QUIRE_TUI_KV_SETUP_H

#include <stdint.h>

#include "engine/kv-file.h"
#include "engine/model.h"
#include "store/store.h"
#include "tui/cmd.h"

/* The parameters this run's options give with this model. Prints the error and returns -1
 * when the RoPE configuration cannot be cached (dynamic NTK) or is invalid. */
int kv_setup_params(const struct opts *o, const struct model *m, struct kv_file_params *p);
/* The library's kv/ folder (malloc'd) and the cache file for p in it (malloc'd). */
char *kv_setup_dir(const struct opts *o);
char *kv_setup_path(const struct opts *o, const struct kv_file_params *p);

/* Call fn with the path of every cache file (*.kv) in the library's kv/ folder. 0 (also when
 * there is no folder), or -1 with "DIR: why" in *err. */
int kv_setup_each_cache(const struct opts *o, void (*fn)(void *ctx, const char *path),
    void *ctx, char **err);

/* The corpus as the engine sees it: the documents in order, each after one separator token. */
struct kv_corpus {
	struct store_corpus_doc *docs;
	size_t n_docs;
	uint64_t n_tokens;          /* positions in all: the last document's end */
	int32_t separator;          /* the token before each document (BOS, else EOS) */
	uint64_t fingerprint;       /* the tokenizer's */
};

/* Read the corpus of the model's tokenizer; prints the error and returns -1 on failure. */
int kv_corpus_load(struct store *s, const struct model *m, struct kv_corpus *c);
/* The same for a tokenizer fingerprint, without a separator (for checks). */
int kv_corpus_read(struct store *s, uint64_t fingerprint, struct kv_corpus *c);
void kv_corpus_free(struct kv_corpus *c);
/* The documents the first n_tokens positions reach into (their separators lie below
 * n_tokens) and the hash of their ids, positions and lengths. */
uint64_t kv_corpus_layout_hash(const struct kv_corpus *c, uint64_t n_tokens, uint64_t *n_docs);
/* The document at corpus position pos (its separator counts as its own); -1 when none. */
long kv_corpus_doc_at(const struct kv_corpus *c, uint64_t pos);

/* The corpus position of the token holding byte off of a document (its last token that
 * starts at or before off); -1 when the document is not in the corpus (printed). */
int64_t kv_corpus_position_of(struct store *s, const struct kv_corpus *c, int64_t doc_id,
    uint64_t off);

/* 1 when the cache comes from this corpus (or holds nothing yet), else 0. */
int kv_corpus_matches(struct kv_file *f, const struct kv_corpus *c);
/* The cache must come from this corpus: the documents of its last commit are the library's
 * first ones, with the same ids, positions and lengths. Prints why not and returns -1. */
int kv_corpus_check(const char *path, struct kv_file *f, const struct kv_corpus *c);

#endif
