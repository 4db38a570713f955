/* eval-retrieval.h: running evaluation prompts through the corpus cache (`niah --attn
 * retrieval`): a prompt's text before its question is indexed into a temporary cache with the
 * run's index policy (--window, --sinks, --block, --kv-type), and the question is answered
 * over it by retrieval attention (--topk), once per selection mode asked for. */
#ifndef QUIRE_TUI_EVAL_RETRIEVAL_H
#define QUIRE_TUI_EVAL_RETRIEVAL_H

#include <stddef.h>
#include <stdint.h>

#include "engine/kv-retrieve.h"
#include "engine/model.h"
#include "lib/buf.h"
#include "tui/cmd.h"

struct eval_retrieval {
	const struct opts *o;
	struct model *m;
	char *path;                 /* the temporary cache (and its summaries beside it) */
	double index_s;             /* seconds spent indexing, all prompts */
	double ask_s;               /* seconds spent selecting and answering */
	uint64_t indexed;           /* tokens indexed, all prompts */
	uint64_t *selected;         /* the last question's selection: [layer][topk] */
	size_t *n_selected;         /* per layer */
	uint32_t n_layer, block_tokens, topk;
};

/* Set up: a temporary folder for the cache. Prints the error and returns -1 on failure. */
int eval_retrieval_init(struct eval_retrieval *er, const struct opts *o, struct model *m);
void eval_retrieval_free(struct eval_retrieval *er);
/* Index n tokens as the cache the next questions attend over (replacing the last one). */
int eval_retrieval_index(struct eval_retrieval *er, const int32_t *ids, size_t n, char **err);
/* Answer the question q (nq tokens) over the cache greedily, up to max_new tokens (gen and
 * text as eval_run_greedy gives them), selecting blocks by mode. */
int eval_retrieval_ask(struct eval_retrieval *er, enum kv_select_mode mode, const int32_t *q,
    size_t nq, int max_new, int32_t *gen, size_t *n_gen, struct buf *text, char **err);
/* Of the last question's layers, how many selected the block holding position pos. */
uint32_t eval_retrieval_layers_with(const struct eval_retrieval *er, uint64_t pos);
/* "attention", "lexical", "combined", "random" -> mode; -1 for another name. Lexical and
 * combined need a library's full-text index, which an evaluation prompt has not: niah refuses
 * them. */
int eval_retrieval_mode(const char *name, enum kv_select_mode *out);

#endif
