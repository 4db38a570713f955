/* kv-retrieve.h: retrieval attention over a corpus cache longer than the model's window. Per
 * layer, the question's queries score every block of the cache through its summary (the
 * per-channel bounds of its keys, engine/kv-summary.h); the top-k blocks are placed in the
 * context's memory in corpus order after the attention sinks, and the session's own tokens
 * (the template, the question, the answer so far) follow them and attend exactly over sinks,
 * selection and themselves.
 *
 * Memory layout (slots = positions): the corpus's first block, which holds the attention
 * sinks, at 0..B-1 where the cache rotated it (always attended; a separate copy of the sinks
 * would put BOS twice in front of the model), block j of the selection at (j + 1)*B.. (its
 * keys moved there with rope_shift_rows), the session from (k + 1)*B on. The selection is made once per question, on its prefill, with the last few
 * question tokens' queries; the answer attends over the same blocks. */
#ifndef QUIRE_ENGINE_KV_RETRIEVE_H
#define QUIRE_ENGINE_KV_RETRIEVE_H

#include <stddef.h>
#include <stdint.h>

#include "engine/context.h"
#include "engine/kv-file.h"
#include "engine/kv-summary.h"

enum kv_select_mode {
	KV_SELECT_ATTENTION = 0,    /* the blocks whose bounds promise the most attention */
	KV_SELECT_LEXICAL,          /* the caller's candidates, in the caller's order (fewer than
	                             * k: attention fills the rest, as no slot may stay empty) */
	KV_SELECT_COMBINED,         /* the candidates first (at most half), then by attention */
	KV_SELECT_RANDOM,           /* seeded random blocks: the test that scoring matters */
};

struct kv_retrieve_params {
	uint32_t topk;              /* blocks per layer */
	enum kv_select_mode mode;
	const uint64_t *candidates; /* blocks the caller proposes (from lexical hits) */
	size_t n_candidates;
	uint32_t score_tokens;      /* the last this many question tokens score; 0 = 8 */
	uint64_t seed;              /* KV_SELECT_RANDOM */
};

struct kv_retrieve;

/* Slots of memory a question needs beyond the session: the first block and the selection. */
uint64_t kv_retrieve_slots(const struct kv_file_params *p, uint32_t topk);
/* Prepare c (a fresh context of at least kv_retrieve_slots() + the session's slots) to answer
 * over f: the first block goes into memory, the selection's slots are reserved (n_past moves past
 * them), and c's attention hook selects and places each layer's blocks on the next forward
 * call. Whole blocks only: a partial last block (fewer than B tokens) cannot be placed
 * without a gap and is never selected. */
int kv_retrieve_begin(struct context *c, struct kv_file *f, struct kv_summary_file *sf,
    const struct kv_retrieve_params *rp, struct kv_retrieve **out, char **err);
/* The blocks layer l selected, in corpus order (n of them; 0 before the first forward). */
const uint64_t *kv_retrieve_selected(const struct kv_retrieve *r, uint32_t layer, size_t *n);
/* Seconds spent scoring and placing, all layers. */
double kv_retrieve_seconds(const struct kv_retrieve *r);
/* Summaries rebuilt from their blocks because the side file lacked them or they were
 * damaged (the damaged ones are never used). */
size_t kv_retrieve_recomputed(const struct kv_retrieve *r);
/* Detach from the context and free. */
void kv_retrieve_free(struct kv_retrieve *r);

#endif
