/* eval-run.h: what `quire niah` and `quire ruler` share to run prompts on the model: the
 * model's tokenizer as an eval_tokenizer (BOS only when the model wants it; document text, so
 * special-token strings stay text), greedy generation that reuses the KV of the previous
 * prompt's shared prefix, and small output helpers (quoting, CSV fields, a stable hash of a
 * prompt's tokens). */
#ifndef QUIRE_TUI_EVAL_RUN_H
#define QUIRE_TUI_EVAL_RUN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "engine/context.h"
#include "engine/model.h"
#include "lib/buf.h"
#include "tui/eval.h"

/* An eval_tokenizer over m's tokenizer. */
void eval_run_tokenizer(struct model *m, struct eval_tokenizer *tk);

/* The tokens whose keys and values a context holds, positions 0..n-1 (a zeroed struct is
 * empty; eval_prefix_free releases it). */
struct eval_prefix {
	int32_t *ids;
	size_t n, cap;
	size_t reused;              /* prompt tokens the last call did not run again */
};
void eval_prefix_free(struct eval_prefix *pf);

/* Run the prompt and generate greedily up to max_new tokens, stopping at an end-of-generation
 * token (not kept). gen (max_new ids) receives the tokens, text their decoded bytes (reset
 * first). With pf NULL the context starts empty. Otherwise pf says what c holds: the prompt's
 * first tokens that equal it are not run again, from a multiple of the context's batch size
 * on, so every batch is the one a fresh run makes and the results are the same bits; pf is
 * updated. Returns 0, or -1 with *err (then pf is empty). */
int eval_run_greedy(struct context *c, struct eval_prefix *pf, const int32_t *ids, size_t n,
    int max_new, int32_t *gen, size_t *n_gen, struct buf *text, char **err);

/* Greedy generation after a forward call that left the next token's logits in logits: up to
 * max_new tokens appended to gen and *n_gen (which the caller zeroes) and their bytes to
 * text, stopping at an end-of-generation token (not kept). Every token but the last is run
 * through c. 0, or -1 with *err. */
int eval_generate(struct context *c, float *logits, int max_new, int32_t *gen,
    size_t *n_gen, struct buf *text, char **err);

/* FNV-1a 64 over the tokens as 4-byte little-endian integers. */
uint64_t eval_tokens_fnv(const int32_t *ids, size_t n);
/* Write s in double quotes with C escapes for ", \ and control bytes. */
void eval_fput_quoted(FILE *f, const char *s);
/* Write s as one CSV field (quoted, quotes doubled). */
void eval_fput_csv(FILE *f, const char *s);

#endif
