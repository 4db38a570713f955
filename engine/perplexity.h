/* perplexity.h: scoring a token sequence with the model: the negative log-likelihood of each
 * token given the ones before it, the building block of `quire perplexity` (LongRoPE's sliding
 * windows) and, with the persistent cache (planned), of the mean NLL per position bucket over
 * one streaming pass of a whole book. */
#ifndef QUIRE_ENGINE_PERPLEXITY_H
#define QUIRE_ENGINE_PERPLEXITY_H

#include <stddef.h>
#include <stdint.h>

struct context;

/* Run tokens[0..n) from the context's current position (n_past) and add, for every i in
 * [max(first_scored, 1), n), -log p(tokens[i] | everything before) to
 * nll_sum and 1 to n_scored. When nll_out is not NULL, nll_out[i] receives each token's NLL
 * (NAN where not scored). Works in batches, so memory stays at one batch of logits. */
int ppl_score(struct context *c, const int32_t *tokens, size_t n, size_t first_scored,
    double *nll_sum, size_t *n_scored, double *nll_out, char **err);

/* -log softmax(logits)[target] in double, with the max subtracted. */
double ppl_token_nll(const float *logits, size_t n_vocab, int32_t target);

#endif
