/* eval-niah.h: the passkey needle-in-a-haystack prompt (the template of landmark-attention's
 * llama/run_test.py, reused by YaRN and LongRoPE; laid out on UltraLong's length x depth grid,
 * arXiv 2504.06214): task line, filler before, information line, filler after, final
 * question, joined by "\n", with the filler amount searched until the prompt has the target
 * number of tokens under the model's own tokenizer. Building a prompt is kept apart from
 * running it, so a runner can sort the runs of one length by depth and reuse the KV cache of
 * the shared prefix: the tokens before needle_token are the task line and the first n_prefix
 * filler sentences, the same for every depth at or above this one. */
#ifndef QUIRE_TUI_EVAL_NIAH_H
#define QUIRE_TUI_EVAL_NIAH_H

#include <stddef.h>
#include <stdint.h>

#include "tui/eval.h"

#define NIAH_TASK "There is an important info hidden inside a lot of irrelevant text. Find it and " \
	"memorize them. I will quiz you about the important information there."
#define NIAH_QUESTION "What is the pass key? The pass key is"
#define NIAH_MAX_NEW_TOKENS 10

struct niah_params {
	size_t length;              /* target prompt tokens (BOS included); the prompt has at most
	                             * this many, within one filler sentence of it */
	double depth;               /* fraction of the filler sentences before the needle, [0, 1] */
	int digits;                 /* pass-key digits: 5 (10000-99999) or 6 (100000-999999) */
	uint64_t seed;              /* this run's seed; the key is drawn from it */
	int no_needle;              /* leave the information line out (negative control) */
	const struct eval_haystack *hay;
};

struct niah_prompt {
	char *text;                 /* the prompt, NUL-terminated */
	size_t len;
	int32_t *ids;               /* its tokens as the model reads them */
	size_t n_ids;
	char key[8];                /* the pass key, decimal */
	size_t needle_byte;         /* where the information line starts in text */
	size_t needle_token;        /* first token of the information line (SIZE_MAX: none) */
	size_t n_filler;            /* filler sentences in all */
	size_t n_prefix;            /* of which before the needle */
};

/* Depth j of n evenly spaced from 0 to 1 (linspace(0, 1, n); n = 1 gives 0). */
double niah_depth(size_t j, size_t n);
/* The key of a run seed (splitmix64 of the seed, uniform over the digits' range). */
void niah_key(uint64_t seed, int digits, char out[8]);
int niah_build(const struct eval_tokenizer *tk, const struct niah_params *p,
    struct niah_prompt *out, char **err);
void niah_prompt_free(struct niah_prompt *p);

#endif
