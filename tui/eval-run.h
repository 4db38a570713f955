/* eval-run.h: what `quire niah` and `quire ruler` share to run prompts on the model: the
 * model's tokenizer as an eval_tokenizer (BOS only when the model wants it; document text, so
 * special-token strings stay text), greedy generation from a fresh context, and small output
 * helpers (quoting, CSV fields, a stable hash of a prompt's tokens). */
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

/* Forget the context, run the prompt and generate greedily up to max_new tokens, stopping at
 * an end-of-generation token (not kept). gen (max_new ids) receives the tokens, text their
 * decoded bytes (reset first). Returns 0, or -1 with *err. */
int eval_run_greedy(struct context *c, const int32_t *ids, size_t n, int max_new,
    int32_t *gen, size_t *n_gen, struct buf *text, char **err);

/* FNV-1a 64 over the tokens as 4-byte little-endian integers. */
uint64_t eval_tokens_fnv(const int32_t *ids, size_t n);
/* Write s in double quotes with C escapes for ", \ and control bytes. */
void eval_fput_quoted(FILE *f, const char *s);
/* Write s as a JSON string (bytes >= 0x80 as they are). */
void eval_fput_json(FILE *f, const char *s, size_t len);
/* Write s as one CSV field (quoted, quotes doubled). */
void eval_fput_csv(FILE *f, const char *s);

#endif
