/* doc-tokens.h: the bridge from the engine's tokenizer to the store's token callback: the
 * command layer is the one place that joins engine and store. Document text is always
 * tokenized with special-token parsing off. */
#ifndef QUIRE_TUI_DOC_TOKENS_H
#define QUIRE_TUI_DOC_TOKENS_H

#include <stddef.h>
#include <stdint.h>

struct opts;
struct store;
struct tokenizer;

struct doc_tokens {
	struct tokenizer *tok;      /* the model's tokenizer; NULL when there is no model */
	uint64_t fingerprint;       /* tokenizer_fingerprint(tok) */
};

/* Load the tokenizer of -m, else of the default model. With no -m and no default model,
 * returns 0 with dt->tok NULL (text-only ingest); an unreadable model is an error (printed). */
int doc_tokens_open(const struct opts *o, struct doc_tokens *dt);
void doc_tokens_close(struct doc_tokens *dt);

/* A store_tokenize_fn: ctx is a struct doc_tokens. */
int doc_tokens_encode(void *ctx, const char *text, size_t len, int32_t **ids, uint32_t **offsets,
    size_t *n, char **err);

/* The library remembers the fingerprint its tokens were made with (setting "tokenizer"). */
int doc_tokens_remember(struct store *s, uint64_t fingerprint, char **err);
/* 0 when the library has none. */
uint64_t doc_tokens_recall(struct store *s);

#endif
