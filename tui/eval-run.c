/* eval-run.c: running evaluation prompts on the model and the output helpers of the eval
 * commands. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "engine/sample.h"
#include "engine/tokenizer.h"
#include "lib/util.h"
#include "tui/eval-run.h"

static int run_encode(void *user, const char *text, size_t len, int32_t **ids, size_t **offsets,
    size_t *n, char **err)
{
	struct model *m = user;
	/* A prompt here is document text: no special-token parsing; BOS only if wanted. */
	unsigned flags = tokenizer_add_bos(m->tok) ? TOK_ADD_BOS : 0;
	return tokenizer_encode(m->tok, text, len, flags, ids, n, offsets, err);
}

void eval_run_tokenizer(struct model *m, struct eval_tokenizer *tk)
{
	tk->encode = run_encode;
	tk->user = m;
}

void eval_prefix_free(struct eval_prefix *pf)
{
	free(pf->ids);
	memset(pf, 0, sizeof *pf);
}

static void prefix_push(struct eval_prefix *pf, const int32_t *ids, size_t n)
{
	if (pf->n + n > pf->cap) {
		pf->cap = (pf->n + n) * 2;
		pf->ids = xreallocarray(pf->ids, pf->cap, sizeof(int32_t));
	}
	memcpy(pf->ids + pf->n, ids, n * sizeof(int32_t));
	pf->n += n;
}

int eval_generate(struct context *c, float *logits, int max_new, int32_t *gen,
    size_t *n_gen, struct buf *text, char **err)
{
	const struct model *m = c->model;
	for (int i = 0; i < max_new; i++) {
		int32_t t = sample_argmax(logits, m->hp.n_vocab);
		if (tokenizer_is_eog(m->tok, t))
			break;
		gen[(*n_gen)++] = t;
		tokenizer_decode_token(m->tok, t, text);
		if (i + 1 < max_new && forward(c, &t, 1, logits, 0, err) != 0)
			return -1;
	}
	if (text->data == NULL)
		buf_append(text, "", 0);
	return 0;
}

int eval_run_greedy(struct context *c, struct eval_prefix *pf, const int32_t *ids, size_t n,
    int max_new, int32_t *gen, size_t *n_gen, struct buf *text, char **err)
{
	const struct model *m = c->model;
	size_t n_vocab = m->hp.n_vocab;
	float *logits = xreallocarray(NULL, n_vocab, sizeof(float));
	int rc = -1;
	*n_gen = 0;
	buf_reset(text);
	size_t keep = 0;
	if (n == 0 || n + (size_t)max_new > c->n_ctx) {
		q_error(err, "a prompt of %zu tokens and %d to generate do not fit the context of %u",
		    n, max_new, c->n_ctx);
		goto out;
	}
	if (pf != NULL) {
		size_t lim = pf->n < n ? pf->n : n - 1;   /* at least one token runs: logits */
		while (keep < lim && pf->ids[keep] == ids[keep])
			keep++;
		keep -= keep % c->n_batch;   /* batches as a fresh run cuts them */
		pf->n = 0;
		pf->reused = keep;
	}
	c->n_past = (uint32_t)keep;
	if (forward(c, ids + keep, n - keep, logits, 0, err) != 0)
		goto out;
	if (pf != NULL)
		prefix_push(pf, ids, n);
	if (eval_generate(c, logits, max_new, gen, n_gen, text, err) != 0)
		goto out;
	if (pf != NULL)
		prefix_push(pf, gen, *n_gen < (size_t)max_new ? *n_gen : (size_t)max_new - 1);
	rc = 0;
out:
	if (rc != 0 && pf != NULL)
		pf->n = 0;
	free(logits);
	return rc;
}

uint64_t eval_tokens_fnv(const int32_t *ids, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (size_t i = 0; i < n; i++) {
		uint32_t v = (uint32_t)ids[i];
		for (int b = 0; b < 4; b++) {
			h ^= (v >> (8 * b)) & 0xFF;
			h *= 0x100000001b3ULL;
		}
	}
	return h;
}

void eval_fput_quoted(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", f);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(f, "\\x%02x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

void eval_fput_csv(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}
