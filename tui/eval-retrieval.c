/* eval-retrieval.c: evaluation prompts answered through a temporary corpus cache. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/kv-index.h"
#include "engine/kv-summary.h"
#include "lib/util.h"
#include "tui/eval-retrieval.h"
#include "tui/eval-run.h"
#include "tui/kv-setup.h"
#include "tui/model-setup.h"

int eval_retrieval_init(struct eval_retrieval *er, const struct opts *o, struct model *m)
{
	memset(er, 0, sizeof(*er));
	er->o = o;
	er->m = m;
	const char *tmp = getenv("TMPDIR");
	er->path = xasprintf("%s/quire-eval-%ld.kv", tmp && *tmp ? tmp : "/tmp", (long)getpid());
	return 0;
}

static void remove_cache(const char *path)
{
	char *sum = kv_summary_path(path), *lock = xasprintf("%s.lock", path);
	unlink(path);
	unlink(sum);
	unlink(lock);
	free(sum);
	free(lock);
}

void eval_retrieval_free(struct eval_retrieval *er)
{
	if (er->path != NULL)
		remove_cache(er->path);
	free(er->path);
	free(er->selected);
	free(er->n_selected);
	er->path = NULL;
	er->selected = NULL;
	er->n_selected = NULL;
}

int eval_retrieval_index(struct eval_retrieval *er, const int32_t *ids, size_t n, char **err)
{
	struct kv_file_params p;
	if (kv_setup_params(er->o, er->m, &p) != 0)
		return q_error(err, "the cache's parameters");
	remove_cache(er->path);
	char *sum_path = kv_summary_path(er->path);
	struct kv_file *f = NULL;
	struct kv_summary_file *sf = NULL;
	struct context *c = NULL;
	struct kv_index *ix = NULL;
	int rc = -1;
	double t0 = q_now();
	uint64_t slots = kv_index_slots(&p, n);
	if (kv_file_open_write(er->path, &p, "eval", &f, err) != 0 ||
	    kv_summary_open(sum_path, &p, 1, &sf, err) != 0)
		goto out;
	if (slots > UINT32_MAX ||
	    model_setup_cache_context(er->o, er->m, (uint32_t)slots, kv_index_chunk(p.block_tokens),
	    &c) != 0) {
		q_error(err, "no context for indexing");
		goto out;
	}
	struct kv_index_opts io = { .n_total = n, .summaries = sf };
	if (kv_index_begin(c, f, &io, &ix, err) != 0 || kv_index_feed(ix, ids, n, err) != 0 ||
	    kv_index_finish(ix, 1, err) != 0)
		goto out;
	er->indexed += n;
	rc = 0;
out:
	er->index_s += q_now() - t0;
	kv_index_free(ix);
	context_free(c);
	kv_summary_close(sf);
	kv_file_close(f);
	free(sum_path);
	return rc;
}

int eval_retrieval_ask(struct eval_retrieval *er, enum kv_select_mode mode, const int32_t *q,
    size_t nq, int max_new, int32_t *gen, size_t *n_gen, struct buf *text, char **err)
{
	const struct opts *o = er->o;
	struct model *m = er->m;
	char *sum_path = kv_summary_path(er->path);
	struct kv_file *f = NULL;
	struct kv_summary_file *sf = NULL;
	struct context *c = NULL;
	struct kv_retrieve *rt = NULL;
	size_t n_vocab = m->hp.n_vocab;
	float *logits = xreallocarray(NULL, n_vocab, sizeof(float));
	int rc = -1;
	double t0 = q_now();
	*n_gen = 0;
	buf_reset(text);
	struct kv_retrieve_params rp = {
		.topk = (uint32_t)o->topk, .mode = mode, .seed = o->seed_set ? o->seed : 1,
	};
	if (kv_file_open_read(er->path, NULL, &f, err) != 0 ||
	    kv_summary_open(sum_path, kv_file_get_params(f), 0, &sf, err) != 0)
		goto out;
	if (model_setup_cache_context(o, m, model_setup_window(o, m), 0, &c) != 0) {
		q_error(err, "no context for the question");
		goto out;
	}
	if (kv_retrieve_begin(c, f, sf, &rp, &rt, err) != 0)
		goto out;
	if ((size_t)c->n_past + nq + (size_t)max_new > c->n_ctx) {
		q_error(err, "the question does not fit after the selection");
		goto out;
	}
	if (forward(c, q, nq, logits, 0, err) != 0 ||
	    eval_generate(c, logits, max_new, gen, n_gen, text, err) != 0)
		goto out;
	/* keep what each layer selected, for eval_retrieval_layers_with() */
	const struct kv_file_params *kp = kv_file_get_params(f);
	er->n_layer = kp->n_layer;
	er->block_tokens = kp->block_tokens;
	er->topk = rp.topk;
	er->selected = xreallocarray(er->selected, (size_t)kp->n_layer * rp.topk, sizeof(uint64_t));
	er->n_selected = xreallocarray(er->n_selected, kp->n_layer, sizeof(size_t));
	for (uint32_t l = 0; l < kp->n_layer; l++) {
		const uint64_t *sel = kv_retrieve_selected(rt, l, &er->n_selected[l]);
		memcpy(er->selected + (size_t)l * rp.topk, sel, er->n_selected[l] * sizeof(uint64_t));
	}
	rc = 0;
out:
	er->ask_s += q_now() - t0;
	kv_retrieve_free(rt);
	context_free(c);
	kv_summary_close(sf);
	kv_file_close(f);
	free(sum_path);
	free(logits);
	return rc;
}

int eval_retrieval_mode(const char *name, enum kv_select_mode *out)
{
	static const struct {
		const char *name;
		enum kv_select_mode mode;
	} modes[] = {
		{ "attention", KV_SELECT_ATTENTION }, { "lexical", KV_SELECT_LEXICAL },
		{ "combined", KV_SELECT_COMBINED }, { "random", KV_SELECT_RANDOM },
	};
	for (size_t i = 0; i < Q_ARRAY_LEN(modes); i++)
		if (strcmp(name, modes[i].name) == 0) {
			*out = modes[i].mode;
			return 0;
		}
	return -1;
}

uint32_t eval_retrieval_layers_with(const struct eval_retrieval *er, uint64_t pos)
{
	uint32_t n = 0;
	for (uint32_t l = 0; er->selected != NULL && l < er->n_layer; l++)
		for (size_t i = 0; i < er->n_selected[l]; i++)
			if (er->selected[(size_t)l * er->topk + i] == pos / er->block_tokens) {
				n++;
				break;
			}
	return n;
}
