/* context.h: a model ready to run: a backend, its KV memory for one sequence, the effective
 * RoPE table, and scratch buffers sized for a batch. forward.c runs tokens through it. */
#ifndef QUIRE_ENGINE_CONTEXT_H
#define QUIRE_ENGINE_CONTEXT_H

#include <stddef.h>
#include <stdint.h>

#include "engine/backend.h"
#include "engine/model.h"
#include "engine/rope.h"

struct context_params {
	uint32_t n_ctx;             /* positions the KV memory holds; 0 = the model's window */
	uint32_t n_batch;           /* tokens per forward call at most; 0 = 512 */
	int n_threads;              /* CPU workers; 0 = 1 */
	const struct rope_overrides *rope_overrides; /* NULL = the model's RoPE as it is */
	enum kv_type kv_type;       /* KV_F16 (the default) or KV_Q8_0 */
	uint32_t rope_ctx;          /* the length RoPE is set up for (LongRoPE picks its factors
	                             * by it); 0 = n_ctx. The corpus cache fixes it to the model's
	                             * window, whatever memory a run allocates. */
};

/* "f16" or "q8_0" (--kv-type); -1 with *err for any other name. */
int kv_type_parse(const char *name, enum kv_type *out, char **err);

struct context {
	const struct model *model;
	struct backend *be;
	struct rope_config rope;    /* effective (model + overrides, finished for n_ctx) */
	struct rope_table rope_table;
	struct rope_table rope_table_swa; /* sliding-window layers (gemma3): plain RoPE at the
	                                   * model's base for them, never scaled */
	uint32_t n_ctx;
	enum kv_type kv_type;
	uint32_t n_batch;
	uint32_t n_past;            /* slots of the KV memory already filled */
	int64_t pos_base;           /* the position of slot 0: a token in slot i sits at pos_base
	                             * + i (0 unless a caller lays a corpus window out, see
	                             * engine/kv-index.c) */
	/* Called in each layer after Q and K are rotated and before the batch's K and V are
	 * stored: a caller that lays the corpus cache out per layer (engine/kv-retrieve.c) fills
	 * the layer's memory here, from the queries of the n_tok rows in q. NULL: none. */
	int (*before_attention)(void *ctx, struct context *c, uint32_t layer, const float *q,
	    size_t n_tok, char **err);
	void *hook_ctx;
	/* scratch, n_batch rows each */
	float *x, *xb, *q, *k, *v, *att, *hb, *hb2;
	int64_t *pos;
};

/* The RoPE configuration a context gets: the model's, with the overrides, finished for
 * rope_ctx positions. */
int context_rope_config(const struct model *m, const struct rope_overrides *ov,
    uint32_t rope_ctx, struct rope_config *out, char **err);

/* The RoPE table that rotates layer l: the sliding-window one for gemma3's local layers. */
const struct rope_table *context_layer_rope(const struct context *c, uint32_t l);

int context_create(const struct model *m, const struct context_params *p,
    struct context **out, char **err);
void context_free(struct context *c);
/* Forget the sequence (n_past = 0); the KV memory is reused. */
void context_reset(struct context *c);

/* forward.c: run n tokens at positions n_past.. and advance n_past. Writes the logits of the
 * last token to logits (n_vocab floats) or, when all_logits is set, of every token
 * (n * n_vocab floats); logits may be NULL. Batches larger than n_batch are split. */
int forward(struct context *c, const int32_t *tokens, size_t n, float *logits, int all_logits,
    char **err);

#endif
