/* perplexity.c: per-token negative log-likelihood through the forward pass, one batch of
 * logits at a time. */
#include "engine/perplexity.h"

#include <math.h>
#include <stdlib.h>

#include "engine/context.h"
#include "lib/util.h"

double ppl_token_nll(const float *logits, size_t n_vocab, int32_t target)
{
	float mx = logits[0];
	for (size_t i = 1; i < n_vocab; i++)
		mx = logits[i] > mx ? logits[i] : mx;
	double sum = 0;
	for (size_t i = 0; i < n_vocab; i++)
		sum += exp((double)logits[i] - mx);
	return log(sum) - ((double)logits[target] - mx);
}

int ppl_score(struct context *c, const int32_t *tokens, size_t n, size_t first_scored,
    double *nll_sum, size_t *n_scored, double *nll_out, char **err)
{
	size_t n_vocab = c->model->hp.n_vocab;
	size_t nb = c->n_batch;
	float *logits = xreallocarray(NULL, nb * n_vocab, sizeof(float));
	int rc = 0;
	if (nll_out != NULL)
		for (size_t i = 0; i < n; i++)
			nll_out[i] = NAN;
	for (size_t done = 0; done < n && rc == 0;) {
		size_t chunk = n - done < nb ? n - done : nb;
		if (forward(c, tokens + done, chunk, logits, 1, err) != 0) {
			rc = -1;
			break;
		}
		/* The logits of row r predict token done + r + 1. */
		for (size_t r = 0; r < chunk; r++) {
			size_t target = done + r + 1;
			if (target >= n || target < first_scored)
				continue;
			double nll = ppl_token_nll(logits + r * n_vocab, n_vocab, tokens[target]);
			*nll_sum += nll;
			(*n_scored)++;
			if (nll_out != NULL)
				nll_out[target] = nll;
		}
		done += chunk;
	}
	free(logits);
	return rc;
}
