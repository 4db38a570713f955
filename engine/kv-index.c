/* kv-index.c: building the corpus cache: chunks of the corpus through the model, the KV
 * memory laid out as sinks + window (kv-index.h), blocks out to the KV file. */
#include "engine/kv-index.h"

#include <stdlib.h>
#include <string.h>

#include "engine/kv-cache.h"
#include "lib/util.h"

struct kv_index {
	struct context *c;
	struct kv_file *f;
	struct kv_file_params p;
	struct kv_index_opts o;
	uint32_t chunk;             /* tokens per forward call */
	uint32_t commit_blocks;     /* a commit after every this many blocks */
	uint64_t sw;                /* sinks + window: beyond it the memory is laid out anew */
	size_t row_bytes;           /* one position's K (or V) of one layer, file format */
	size_t kv_dim;              /* n_head_kv * head_dim */
	uint64_t pos;               /* the next position to compute */
	uint64_t start;             /* where this run began */
	uint64_t committed;         /* tokens of the last commit */
	uint64_t last_commit_blocks;/* blocks of the last commit */
	int32_t *pend;              /* tokens of the chunk being gathered */
	size_t n_pend;
	unsigned char *block;       /* the block being assembled, file layout */
	uint64_t block_index;       /* its index */
	unsigned char *sink_k;      /* the sinks' keys at their own positions: [layer][S][row] */
	uint64_t sinks_have;        /* of the S sinks, how many are in sink_k */
	unsigned char *move_k, *move_v; /* rows in flight between slots */
	float *sink_f;              /* the sinks' keys of one layer in fp32, to rotate */
	unsigned char *sink_rows;   /* the same back in the file format */
	void *sum;                  /* a block's summary */
	const void **sum_rows;      /* per layer: the block's K rows, for the summary */
	const struct rope_table **sum_rope; /* per layer: its RoPE table */
	uint64_t backfilled;        /* committed blocks whose summaries were missing or damaged */
};

#define MOVE_ROWS 256

uint32_t kv_index_chunk(uint32_t block_tokens)
{
	return block_tokens >= 512 ? block_tokens : block_tokens * (512 / block_tokens);
}

uint32_t kv_index_commit_blocks(uint32_t block_tokens)
{
	uint32_t chunk = kv_index_chunk(block_tokens);
	uint32_t chunks = chunk >= 1024 ? 1 : 1024 / chunk;
	return chunks * (chunk / block_tokens);
}

static uint64_t sinks_window(const struct kv_file_params *p)
{
	return (uint64_t)p->sinks + (uint64_t)p->window;
}

uint64_t kv_index_slots(const struct kv_file_params *p, uint64_t n_total)
{
	uint64_t sw = sinks_window(p);
	return (sw < n_total ? sw : n_total) + kv_index_chunk(p->block_tokens);
}

static size_t block_part_bytes(const struct kv_index *ix)
{
	return (size_t)ix->p.block_tokens * ix->row_bytes;
}

/* Where layer l's K (kind 0) or V (kind 1) rows start in a block. */
static unsigned char *block_rows(const struct kv_index *ix, uint32_t l, int kind)
{
	return ix->block + ((size_t)l * 2 + (size_t)kind) * block_part_bytes(ix);
}

/* Copy n slots src.. to dst.. in every layer (dst <= src: front to back is safe). */
static void move_slots(struct kv_index *ix, uint64_t src, uint64_t dst, uint64_t n)
{
	struct backend *be = ix->c->be;
	if (src == dst || n == 0)
		return;
	for (uint32_t l = 0; l < ix->p.n_layer; l++)
		for (uint64_t i = 0; i < n; i += MOVE_ROWS) {
			size_t m = n - i < MOVE_ROWS ? (size_t)(n - i) : MOVE_ROWS;
			be->ops->kv_read(be, l, (uint32_t)(src + i), m, ix->move_k, ix->move_v);
			be->ops->kv_write(be, l, (uint32_t)(dst + i), m, ix->move_k, ix->move_v);
		}
}

/* Put the sinks' keys in slots 0..S-1, rotated from their own positions to pos_base.. */
static void place_sinks(struct kv_index *ix, int64_t pos_base)
{
	struct backend *be = ix->c->be;
	size_t S = ix->p.sinks;
	for (uint32_t l = 0; l < ix->p.n_layer; l++) {
		const unsigned char *own = ix->sink_k + (size_t)l * S * ix->row_bytes;
		kv_cache_shift_keys(&ix->p, own, ix->sink_rows, S, pos_base,
		    context_layer_rope(ix->c, l), ix->sink_f);
		be->ops->kv_write(be, l, 0, S, ix->sink_rows, NULL);
	}
}

/* Lay the memory out for a chunk starting at position a: below sinks + window every earlier
 * token is in its own slot; beyond, the sinks and then the window [a - W, a). */
static void prepare_memory(struct kv_index *ix, uint64_t a)
{
	struct context *c = ix->c;
	if (a <= ix->sw) {
		c->pos_base = 0;
		c->n_past = (uint32_t)a;
		return;
	}
	int64_t base = (int64_t)(a - ix->sw);
	uint64_t W = ix->p.window, S = ix->p.sinks;
	/* the window's first token sits in slot (a - W) - old base */
	move_slots(ix, a - W - (uint64_t)c->pos_base, S, W);
	if (S > 0)
		place_sinks(ix, base);
	c->pos_base = base;
	c->n_past = (uint32_t)(S + W);
}

static int commit(struct kv_index *ix, uint64_t n_tokens, uint64_t n_blocks, char **err)
{
	if (ix->o.summaries != NULL && kv_summary_sync(ix->o.summaries, err) != 0)
		return -1;
	struct kv_file_commit cm = { 0 };
	cm.n_tokens = n_tokens;
	cm.n_blocks = n_blocks;
	if (ix->o.commit_info != NULL)
		ix->o.commit_info(ix->o.cb_ctx, n_tokens, &cm.n_docs, &cm.layout_hash);
	if (kv_file_commit(ix->f, &cm, err) != 0)
		return -1;
	ix->committed = n_tokens;
	ix->last_commit_blocks = n_blocks;
	return 0;
}

/* The block being assembled to the file, and its summary to the side file. */
static int append_block(struct kv_index *ix, uint32_t n_tok, char **err)
{
	if (kv_file_append_block(ix->f, ix->block_index, n_tok, ix->block, err) != 0)
		return -1;
	if (ix->o.summaries == NULL)
		return 0;
	for (uint32_t l = 0; l < ix->p.n_layer; l++) {
		ix->sum_rows[l] = block_rows(ix, l, 0);
		ix->sum_rope[l] = context_layer_rope(ix->c, l);
	}
	kv_summary_compute(&ix->p, ix->sum_rows, n_tok, ix->block_index * ix->p.block_tokens,
	    ix->sum_rope, ix->sum);
	return kv_summary_put(ix->o.summaries, ix->block_index, n_tok, ix->sum, err);
}

/* After a chunk [a, a + n): its rows into the block being assembled (and the sinks' keys
 * into sink_k); each block completed goes to the file, with a commit at the fixed counts. */
static int collect(struct kv_index *ix, uint64_t a, uint64_t n, char **err)
{
	struct backend *be = ix->c->be;
	uint32_t B = ix->p.block_tokens;
	for (uint64_t p = a; p < a + n;) {
		uint64_t r = p % B, run = B - r;
		if (run > a + n - p)
			run = a + n - p;
		uint32_t slot = (uint32_t)(p - (uint64_t)ix->c->pos_base);
		for (uint32_t l = 0; l < ix->p.n_layer; l++)
			be->ops->kv_read(be, l, slot, (size_t)run,
			    block_rows(ix, l, 0) + r * ix->row_bytes,
			    block_rows(ix, l, 1) + r * ix->row_bytes);
		p += run;
		if (p % B == 0) {
			if (append_block(ix, B, err) != 0)
				return -1;
			uint64_t blocks = ix->block_index + 1;
			if (blocks % ix->commit_blocks == 0 && commit(ix, p, blocks, err) != 0)
				return -1;
			ix->block_index++;
			memset(ix->block, 0, kv_file_block_bytes(&ix->p));
		}
	}
	/* the sinks' own keys, for placing them later */
	uint64_t S = ix->p.sinks;
	if (a < S) {
		uint64_t end = a + n < S ? a + n : S;
		for (uint32_t l = 0; l < ix->p.n_layer; l++)
			be->ops->kv_read(be, l, (uint32_t)a, (size_t)(end - a),
			    ix->sink_k + ((size_t)l * S + a) * ix->row_bytes, NULL);
		ix->sinks_have = end;
	}
	return 0;
}

static int run_chunk(struct kv_index *ix, char **err)
{
	uint64_t a = ix->pos, n = ix->n_pend;
	if (n == 0)
		return 0;
	prepare_memory(ix, a);
	if (forward(ix->c, ix->pend, (size_t)n, NULL, 0, err) != 0)
		return -1;
	if (collect(ix, a, n, err) != 0)
		return -1;
	ix->pos = a + n;
	ix->n_pend = 0;
	return 0;
}

/* The memory as an uninterrupted run would hold it at position a, from the file. */
static int restore(struct kv_index *ix, uint64_t a, char **err)
{
	struct context *c = ix->c;
	uint64_t S = ix->p.sinks, have = a < S ? a : S;
	for (uint32_t l = 0; l < ix->p.n_layer; l++)
		if (have > 0 && kv_cache_read_rows(ix->f, l, 0, 0, have,
		    ix->sink_k + (size_t)l * S * ix->row_bytes, err) != 0)
			return -1;
	ix->sinks_have = have;
	if (a <= ix->sw)
		return kv_cache_load(c, ix->f, 0, a, 0, err);
	if (kv_cache_load(c, ix->f, 0, S, 0, err) != 0 ||
	    kv_cache_load(c, ix->f, a - ix->p.window, a, S, err) != 0)
		return -1;
	/* as the run would have it after its last chunk: the window's slots hold [a - W, a),
	 * so prepare_memory() finds nothing to move */
	c->pos_base = (int64_t)(a - ix->sw);
	return 0;
}

/* The summaries of committed blocks that the side file lacks (a cache indexed before summaries
 * existed, or a damaged slot), computed again from the blocks. The file's rows of a writer
 * come through one buffer, so each layer's keys are copied into the block buffer first. */
static int backfill(struct kv_index *ix, uint64_t n_blocks, char **err)
{
	size_t part = block_part_bytes(ix);
	for (uint64_t b = 0; b < n_blocks; b++) {
		uint32_t n_tok = kv_file_block_tokens(ix->f, b);
		const void *have;
		char *e = NULL;
		if (kv_summary_get(ix->o.summaries, b, n_tok, &have, &e) == 0)
			continue;
		free(e);
		for (uint32_t l = 0; l < ix->p.n_layer; l++) {
			const void *rows;
			if (kv_file_block_rows(ix->f, b, l, 0, &rows, err) != 0)
				return -1;
			memcpy(block_rows(ix, l, 0), rows, part);
			ix->sum_rows[l] = block_rows(ix, l, 0);
			ix->sum_rope[l] = context_layer_rope(ix->c, l);
		}
		kv_summary_compute(&ix->p, ix->sum_rows, n_tok, b * ix->p.block_tokens, ix->sum_rope,
		    ix->sum);
		if (kv_summary_put(ix->o.summaries, b, n_tok, ix->sum, err) != 0)
			return -1;
		ix->backfilled++;
	}
	memset(ix->block, 0, kv_file_block_bytes(&ix->p));
	return ix->backfilled > 0 ? kv_summary_sync(ix->o.summaries, err) : 0;
}

int kv_index_begin(struct context *c, struct kv_file *f, const struct kv_index_opts *o,
    struct kv_index **out, char **err)
{
	*out = NULL;
	const struct kv_file_params *p = kv_file_get_params(f);
	const struct model_hparams *hp = &c->model->hp;
	if (p->n_layer != hp->n_layer || p->n_head_kv != hp->n_head_kv ||
	    p->head_dim != hp->head_dim || p->dtype != (uint32_t)c->kv_type)
		return q_error(err, "the KV file's shape does not match the model's");
	if (c->n_batch < kv_index_chunk(p->block_tokens))
		return q_error(err, "an index run needs batches of %u tokens",
		    kv_index_chunk(p->block_tokens));
	struct kv_file_commit last;
	kv_file_last_commit(f, &last);
	struct kv_index *ix = xcalloc(1, sizeof(*ix));
	ix->c = c;
	ix->f = f;
	ix->p = *p;
	ix->o = *o;
	ix->chunk = kv_index_chunk(p->block_tokens);
	ix->commit_blocks = kv_index_commit_blocks(p->block_tokens);
	ix->sw = sinks_window(p);
	ix->kv_dim = (size_t)p->n_head_kv * p->head_dim;
	ix->row_bytes = kv_file_row_bytes(p->dtype, (uint32_t)ix->kv_dim);
	ix->committed = last.n_tokens;
	ix->last_commit_blocks = last.n_blocks;
	uint64_t B = p->block_tokens;
	ix->pos = last.n_tokens / B * B;
	ix->block_index = ix->pos / B;
	ix->start = ix->pos;
	uint64_t need = (ix->pos < ix->sw ? ix->pos : ix->sw) + ix->chunk;
	if (need > c->n_ctx) {
		free(ix);
		return q_error(err, "the context holds %u slots; resuming at %llu needs %llu", c->n_ctx,
		    (unsigned long long)(last.n_tokens / B * B), (unsigned long long)need);
	}
	ix->pend = xreallocarray(NULL, ix->chunk, sizeof(int32_t));
	ix->block = xcalloc(1, kv_file_block_bytes(p));
	ix->sink_k = xcalloc((size_t)p->n_layer * (p->sinks ? p->sinks : 1), ix->row_bytes);
	ix->move_k = xreallocarray(NULL, MOVE_ROWS, ix->row_bytes);
	ix->move_v = xreallocarray(NULL, MOVE_ROWS, ix->row_bytes);
	ix->sink_f = xreallocarray(NULL, (size_t)(p->sinks ? p->sinks : 1) * ix->kv_dim,
	    sizeof(float));
	ix->sink_rows = xreallocarray(NULL, p->sinks ? p->sinks : 1, ix->row_bytes);
	ix->sum = xmalloc(kv_summary_bytes(p));
	ix->sum_rows = xreallocarray(NULL, p->n_layer, sizeof(*ix->sum_rows));
	ix->sum_rope = xreallocarray(NULL, p->n_layer, sizeof(*ix->sum_rope));
	context_reset(c);
	if (restore(ix, ix->pos, err) != 0 ||
	    (o->summaries != NULL && backfill(ix, last.n_blocks, err) != 0)) {
		kv_index_free(ix);
		return -1;
	}
	*out = ix;
	return 0;
}

uint64_t kv_index_backfilled(const struct kv_index *ix)
{
	return ix->backfilled;
}

uint64_t kv_index_start(const struct kv_index *ix)
{
	return ix->start;
}

int kv_index_feed(struct kv_index *ix, const int32_t *tokens, size_t n, char **err)
{
	while (n > 0) {
		/* chunks end at multiples of the chunk size, counted from position 0 */
		uint64_t room = ix->chunk - (ix->pos + ix->n_pend) % ix->chunk;
		size_t take = n < room ? n : (size_t)room;
		memcpy(ix->pend + ix->n_pend, tokens, take * sizeof(int32_t));
		ix->n_pend += take;
		tokens += take;
		n -= take;
		if ((ix->pos + ix->n_pend) % ix->chunk == 0) {
			if (run_chunk(ix, err) != 0)
				return -1;
			if (ix->o.progress != NULL &&
			    ix->o.progress(ix->o.cb_ctx, ix->pos, ix->o.n_total) != 0)
				return 1;
		}
	}
	return 0;
}

int kv_index_finish(struct kv_index *ix, int complete, char **err)
{
	uint32_t B = ix->p.block_tokens;
	if (!complete) {
		uint64_t blocks = ix->block_index;
		if (blocks * B > ix->committed)
			return commit(ix, blocks * B, blocks, err);
		return 0;
	}
	if (run_chunk(ix, err) != 0)
		return -1;
	if (ix->pos < ix->committed) {
		if (ix->pos == ix->start)
			return 0;        /* nothing fed: the cache stays as it was */
		return q_error(err, "the corpus ends at %llu tokens, before the %llu the cache holds",
		    (unsigned long long)ix->pos, (unsigned long long)ix->committed);
	}
	uint32_t tail = (uint32_t)(ix->pos % B);
	if (tail > 0) {
		if (append_block(ix, tail, err) != 0)
			return -1;
		return commit(ix, ix->pos, ix->block_index + 1, err);
	}
	if (ix->pos != ix->committed)
		return commit(ix, ix->pos, ix->block_index, err);
	return 0;
}

void kv_index_free(struct kv_index *ix)
{
	if (ix == NULL)
		return;
	free(ix->pend);
	free(ix->block);
	free(ix->sink_k);
	free(ix->move_k);
	free(ix->move_v);
	free(ix->sink_f);
	free(ix->sink_rows);
	free(ix->sum);
	free(ix->sum_rows);
	free(ix->sum_rope);
	free(ix);
}
