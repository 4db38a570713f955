/* kv-retrieve.c: choosing and placing the corpus cache's blocks for a question (kv-retrieve.h).
 *
 * Scoring: a block's summary bounds every key of it per channel, before rotation. A query
 * rotated back to the distance it will have from the middle of the selection, q', bounds its
 * logit with any key of the block by sum_c max(q'_c min_c, q'_c max_c) (Quest). For each query
 * head and scoring token the bounds of all blocks go through a softmax, which turns them into
 * the share of attention each block could draw; a block's score is its share summed over heads
 * and tokens, so that no head with large logits decides alone. */
#include "engine/kv-retrieve.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/kv-cache.h"
#include "kernels/quant.h"
#include "lib/util.h"

struct kv_retrieve {
	struct context *c;
	struct kv_file *f;
	struct kv_summary_file *sf;
	struct kv_file_params p;
	struct kv_retrieve_params rp;
	uint64_t n_full;            /* whole blocks: the ones that can be selected */
	uint64_t *selected;         /* [n_layer][topk], corpus order */
	size_t *n_selected;         /* per layer */
	int *done;                  /* per layer: selected and placed */
	uint64_t *candidates;       /* the caller's, filtered to whole blocks */
	size_t n_candidates;
	size_t recomputed;          /* summaries rebuilt from their blocks */
	void **rebuilt;             /* per block: its rebuilt summary, kept for the other layers
	                             * and heads; NULL when the side file had it */
	double seconds;
	/* scratch */
	float *mins, *maxs;         /* one KV head's summaries of every block, f32 */
	float *scores, *bounds;     /* per block */
	float *qrow;                /* one token's queries, rotated for scoring */
	float *kf;                  /* one block's keys of one layer, f32 */
	unsigned char *krows;       /* the same in the file's format */
};

uint64_t kv_retrieve_slots(const struct kv_file_params *p, uint32_t topk)
{
	return ((uint64_t)topk + 1) * p->block_tokens;
}

static size_t row_bytes(const struct kv_file_params *p)
{
	return kv_file_row_bytes(p->dtype, p->n_head_kv * p->head_dim);
}

/* Block b's summary: from the side file, or rebuilt from the block when the file lacks it
 * or it is damaged (it is derived data; the block itself is checked by its checksum). */
static int block_summary(struct kv_retrieve *r, uint64_t b, const void **sum, char **err)
{
	uint32_t n_tok = kv_file_block_tokens(r->f, b);
	char *e = NULL;
	if (r->rebuilt[b] != NULL) {
		*sum = r->rebuilt[b];
		return 0;
	}
	if (r->sf != NULL && kv_summary_get(r->sf, b, n_tok, sum, &e) == 0)
		return 0;
	free(e);
	const void *rows[1024];
	const struct rope_table *rt[1024];
	for (uint32_t l = 0; l < r->p.n_layer; l++) {
		if (kv_file_block_rows(r->f, b, l, 0, &rows[l], err) != 0)
			return -1;
		rt[l] = context_layer_rope(r->c, l);
	}
	/* kv_file_block_rows of a writer reuses one buffer: a reader's rows stay mapped */
	r->rebuilt[b] = xmalloc(kv_summary_bytes(&r->p));
	kv_summary_compute(&r->p, rows, n_tok, b * r->p.block_tokens, rt, r->rebuilt[b]);
	*sum = r->rebuilt[b];
	r->recomputed++;
	return 0;
}

/* Scores of every whole block for layer l from the last rows of q. */
static int score_blocks(struct kv_retrieve *r, uint32_t l, const float *q, size_t n_tok,
    char **err)
{
	const struct model_hparams *hp = &r->c->model->hp;
	size_t hd = hp->head_dim, nb = r->n_full, group = hp->n_head / hp->n_head_kv;
	size_t nt = r->rp.score_tokens ? r->rp.score_tokens : 8;
	if (nt > n_tok)
		nt = n_tok;
	memset(r->scores, 0, nb * sizeof(float));
	/* the queries, moved from their positions to their distance from the selection's
	 * middle: R(P)q0 -> R(P - mid)q0 */
	int64_t mid = (int64_t)r->p.block_tokens + (int64_t)r->rp.topk * r->p.block_tokens / 2;
	for (uint32_t g = 0; g < hp->n_head_kv; g++) {
		for (uint64_t b = 0; b < nb; b++) {
			const void *sum;
			if (block_summary(r, b, &sum, err) != 0)
				return -1;
			for (size_t i = 0; i < hd; i++) {
				r->mins[b * hd + i] = quant_fp16_to_f32(kv_summary_min(&r->p, sum, l, g)[i]);
				r->maxs[b * hd + i] = quant_fp16_to_f32(kv_summary_max(&r->p, sum, l, g)[i]);
			}
		}
		for (size_t t = n_tok - nt; t < n_tok; t++)
			for (size_t h = g * group; h < (g + 1) * group; h++) {
				memcpy(r->qrow, q + (t * hp->n_head + h) * hd, hd * sizeof(float));
				rope_shift_rows(r->qrow, 1, 1, hd, -mid, context_layer_rope(r->c, l));
				float top = -INFINITY;
				for (uint64_t b = 0; b < nb; b++) {
					const float *mn = r->mins + b * hd, *mx = r->maxs + b * hd;
					float s = 0;
					for (size_t i = 0; i < hd; i++)
						s += r->qrow[i] >= 0 ? r->qrow[i] * mx[i] : r->qrow[i] * mn[i];
					s *= hp->attn_scale;
					r->bounds[b] = s;
					if (s > top)
						top = s;
				}
				double total = 0;
				for (uint64_t b = 0; b < nb; b++) {
					r->bounds[b] = expf(r->bounds[b] - top);
					total += r->bounds[b];
				}
				for (uint64_t b = 0; b < nb; b++)
					r->scores[b] += (float)(r->bounds[b] / total);
			}
	}
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int chosen(const uint64_t *sel, size_t n, uint64_t b)
{
	for (size_t i = 0; i < n; i++)
		if (sel[i] == b)
			return 1;
	return 0;
}

/* Layer l's selection into sel (sorted), by the mode. */
static int select_blocks(struct kv_retrieve *r, uint32_t l, const float *q, size_t n_tok,
    uint64_t *sel, size_t *n_sel, char **err)
{
	/* block 0 is always there (it holds the sinks): the others compete */
	size_t k = r->rp.topk < r->n_full - 1 ? r->rp.topk : (size_t)r->n_full - 1, n = 0;
	enum kv_select_mode mode = r->rp.mode;
	if (mode == KV_SELECT_RANDOM) {
		uint64_t x = r->rp.seed * 0x9e3779b97f4a7c15ull + l + 1;
		while (n < k) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			uint64_t b = 1 + x % (r->n_full - 1);
			if (!chosen(sel, n, b))
				sel[n++] = b;
		}
	} else {
		/* combined: the candidates take at most half the places, attention the rest */
		size_t lex = mode == KV_SELECT_LEXICAL ? k : mode == KV_SELECT_COMBINED ? (k + 1) / 2 : 0;
		for (size_t i = 0; i < r->n_candidates && n < lex; i++)
				if (r->candidates[i] > 0 && !chosen(sel, n, r->candidates[i]))
					sel[n++] = r->candidates[i];
		/* every reserved slot must hold a block: the attention fills what the hits
		 * leave (a slot left empty would still be attended) */
		if (n < k) {
			if (score_blocks(r, l, q, n_tok, err) != 0)
				return -1;
			while (n < k) {
				uint64_t best = UINT64_MAX;
				for (uint64_t b = 1; b < r->n_full; b++)
					if (!chosen(sel, n, b) &&
					    (best == UINT64_MAX || r->scores[b] > r->scores[best]))
						best = b;
				sel[n++] = best;
			}
		}
	}
	qsort(sel, n, sizeof(uint64_t), cmp_u64);
	*n_sel = n;
	return 0;
}

/* The selected blocks of layer l into slots (j + 1)*B, after the first block: keys moved
 * from their positions to those slots, values as they are. */
static int place_blocks(struct kv_retrieve *r, uint32_t l, const uint64_t *sel, size_t n,
    char **err)
{
	struct backend *be = r->c->be;
	uint32_t B = r->p.block_tokens;
	for (size_t j = 0; j < n; j++) {
		const void *k, *v;
		if (kv_file_block_rows(r->f, sel[j], l, 0, &k, err) != 0)
			return -1;
		uint64_t slot = (j + 1) * B;
		int64_t delta = (int64_t)slot - (int64_t)(sel[j] * B);
		kv_cache_shift_keys(&r->p, k, r->krows, B, delta, context_layer_rope(r->c, l), r->kf);
		if (kv_file_block_rows(r->f, sel[j], l, 1, &v, err) != 0)
			return -1;
		be->ops->kv_write(be, l, (uint32_t)slot, B, r->krows, v);
	}
	return 0;
}

static int on_layer(void *ctx, struct context *c, uint32_t l, const float *q, size_t n_tok,
    char **err)
{
	struct kv_retrieve *r = ctx;
	(void)c;
	if (r->done[l])
		return 0;
	double t0 = q_now();
	uint64_t *sel = r->selected + (size_t)l * r->rp.topk;
	if (select_blocks(r, l, q, n_tok, sel, &r->n_selected[l], err) != 0 ||
	    place_blocks(r, l, sel, r->n_selected[l], err) != 0)
		return -1;
	r->done[l] = 1;
	r->seconds += q_now() - t0;
	return 0;
}

int kv_retrieve_begin(struct context *c, struct kv_file *f, struct kv_summary_file *sf,
    const struct kv_retrieve_params *rp, struct kv_retrieve **out, char **err)
{
	*out = NULL;
	const struct kv_file_params *p = kv_file_get_params(f);
	struct kv_file_commit last;
	kv_file_last_commit(f, &last);
	uint64_t n_full = last.n_tokens / p->block_tokens;
	if (rp->topk == 0)
		return q_error(err, "retrieval needs --topk of 1 or more");
	if (n_full < 2)
		return q_error(err, "the cache holds fewer than two whole blocks: nothing to retrieve");
	uint64_t need = kv_retrieve_slots(p, rp->topk < n_full - 1 ? rp->topk :
	    (uint32_t)(n_full - 1));
	if (need >= c->n_ctx)
		return q_error(err, "the first block and %u more of %u tokens do not leave room for "
		    "the question in a context of %u", rp->topk, p->block_tokens, c->n_ctx);
	struct kv_retrieve *r = xcalloc(1, sizeof(*r));
	r->c = c;
	r->f = f;
	r->sf = sf;
	r->p = *p;
	r->rp = *rp;
	if (r->rp.topk > n_full - 1)
		r->rp.topk = (uint32_t)(n_full - 1);
	r->n_full = n_full;
	const struct model_hparams *hp = &c->model->hp;
	size_t hd = hp->head_dim, kv_dim = (size_t)hp->n_head_kv * hd;
	r->selected = xcalloc((size_t)p->n_layer * r->rp.topk, sizeof(uint64_t));
	r->n_selected = xcalloc(p->n_layer, sizeof(size_t));
	r->done = xcalloc(p->n_layer, sizeof(int));
	r->candidates = xreallocarray(NULL, rp->n_candidates ? rp->n_candidates : 1,
	    sizeof(uint64_t));
	for (size_t i = 0; i < rp->n_candidates; i++)
		if (rp->candidates[i] < n_full)
			r->candidates[r->n_candidates++] = rp->candidates[i];
	r->mins = xreallocarray(NULL, n_full * hd, sizeof(float));
	r->maxs = xreallocarray(NULL, n_full * hd, sizeof(float));
	r->scores = xreallocarray(NULL, n_full, sizeof(float));
	r->bounds = xreallocarray(NULL, n_full, sizeof(float));
	r->qrow = xreallocarray(NULL, hd, sizeof(float));
	r->kf = xreallocarray(NULL, (size_t)p->block_tokens * kv_dim, sizeof(float));
	r->krows = xreallocarray(NULL, p->block_tokens, row_bytes(p));
	r->rebuilt = xcalloc(n_full, sizeof(void *));
	context_reset(c);
	/* the first block, which holds the sinks, sits where the cache rotated it */
	if (kv_cache_load(c, f, 0, p->block_tokens, 0, err) != 0) {
		kv_retrieve_free(r);
		return -1;
	}
	c->n_past = (uint32_t)kv_retrieve_slots(p, r->rp.topk);
	c->before_attention = on_layer;
	c->hook_ctx = r;
	*out = r;
	return 0;
}

const uint64_t *kv_retrieve_selected(const struct kv_retrieve *r, uint32_t layer, size_t *n)
{
	*n = r->n_selected[layer];
	return r->selected + (size_t)layer * r->rp.topk;
}

double kv_retrieve_seconds(const struct kv_retrieve *r)
{
	return r->seconds;
}

size_t kv_retrieve_recomputed(const struct kv_retrieve *r)
{
	return r->recomputed;
}

void kv_retrieve_free(struct kv_retrieve *r)
{
	if (r == NULL)
		return;
	if (r->c->hook_ctx == r) {
		r->c->before_attention = NULL;
		r->c->hook_ctx = NULL;
	}
	free(r->selected);
	free(r->n_selected);
	free(r->done);
	free(r->candidates);
	free(r->mins);
	free(r->maxs);
	free(r->scores);
	free(r->bounds);
	free(r->qrow);
	free(r->kf);
	free(r->krows);
	for (uint64_t b = 0; r->rebuilt != NULL && b < r->n_full; b++)
		free(r->rebuilt[b]);
	free(r->rebuilt);
	free(r);
}
