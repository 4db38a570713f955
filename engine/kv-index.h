/* kv-index.h: building the corpus cache. The corpus's tokens stream through the model in
 * chunks; each token attends to the attention sinks (the corpus's first tokens) and a local
 * window of the tokens before its chunk, plus its chunk's earlier tokens; each layer's K and V
 * go into the KV file block by block, with a commit every few blocks.
 *
 * Positions: a key is stored rotated at its absolute corpus position, as a fresh forward pass
 * over the whole corpus would rotate it, so an exact cache (a window as long as the corpus)
 * is that pass's own memory. Past the window, the memory holds the sinks in slots 0..S-1 moved
 * (rope_shift_rows) to sit just before the window, whose keys keep their absolute positions:
 * every distance a query sees stays below S + window + chunk, inside the trained window. */
#ifndef QUIRE_ENGINE_KV_INDEX_H
#define QUIRE_ENGINE_KV_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "engine/context.h"
#include "engine/kv-file.h"
#include "engine/kv-summary.h"

/* Tokens per forward call: whole blocks, about 512 tokens. Chunks start at multiples of it,
 * so a run resumed at a commit computes the same chunks as one that never stopped. */
uint32_t kv_index_chunk(uint32_t block_tokens);
/* Commits fall every this many blocks (about 1024 tokens, whole chunks). */
uint32_t kv_index_commit_blocks(uint32_t block_tokens);
/* Slots of KV memory (the context's n_ctx) an index run of a corpus of n_total tokens needs:
 * sinks + window + a chunk, or the whole corpus plus a chunk when that is less. */
uint64_t kv_index_slots(const struct kv_file_params *p, uint64_t n_total);

struct kv_index_opts {
	uint64_t n_total;           /* corpus tokens in all after this run (sizes nothing; for
	                             * the progress callback) */
	/* After each chunk: tokens cached so far. Nonzero cancels: feed returns 1. */
	int (*progress)(void *ctx, uint64_t done, uint64_t total);
	/* For each commit: the documents the first n_tokens tokens reach into and the hash of
	 * their layout, as the caller counts them (the engine knows no documents). */
	void (*commit_info)(void *ctx, uint64_t n_tokens, uint64_t *n_docs, uint64_t *layout_hash);
	void *cb_ctx;
	struct kv_summary_file *summaries; /* the side file that gets each block's summary
	                             * (synced before each commit); NULL: none */
};

struct kv_index;

/* Start (or resume) filling f through c, a fresh context whose memory holds kv_index_slots()
 * slots and whose n_batch is at least kv_index_chunk(): reads the last commit, puts the sinks
 * and window it needs back into memory, and (with o->summaries) writes the summaries of
 * committed blocks that the side file lacks or holds damaged. The tokens fed next take positions from
 * kv_index_start() on (the last commit's end, or the start of its partial last block). */
int kv_index_begin(struct context *c, struct kv_file *f, const struct kv_index_opts *o,
    struct kv_index **out, char **err);
uint64_t kv_index_start(const struct kv_index *ix);
/* Committed blocks whose summaries begin found missing or damaged and wrote again. */
uint64_t kv_index_backfilled(const struct kv_index *ix);
/* Feed the next n tokens of the corpus. 0, 1 when the progress callback cancelled (nothing
 * more is computed; call kv_index_finish(ix, 0, ...)), -1 with *err. */
int kv_index_feed(struct kv_index *ix, const int32_t *tokens, size_t n, char **err);
/* complete: run what is buffered, write the partial last block, commit: the cache holds every
 * token fed. Not complete (cancelled): commit the whole blocks done so far; a later run
 * resumes there. */
int kv_index_finish(struct kv_index *ix, int complete, char **err);
void kv_index_free(struct kv_index *ix);

#endif
