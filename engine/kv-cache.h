/* kv-cache.h: the corpus cache between the KV file and a context's memory: rows out of the
 * file's blocks, positions into slots, and the whole of an exact cache loaded for a question
 * that attends over it. */
#ifndef QUIRE_ENGINE_KV_CACHE_H
#define QUIRE_ENGINE_KV_CACHE_H

#include <stdint.h>

#include "engine/context.h"
#include "engine/kv-file.h"

/* Rows of positions [p0, p1) of the committed cache, one layer's K (kind 0) or V (kind 1),
 * into dst in the file's row format. A damaged block is an error naming it. */
int kv_cache_read_rows(struct kv_file *f, uint32_t layer, int kind, uint64_t p0, uint64_t p1,
    void *dst, char **err);
/* Positions [p0, p1) of the committed cache into c's memory from slot0 on, every layer. */
int kv_cache_load(struct context *c, struct kv_file *f, uint64_t p0, uint64_t p1,
    uint64_t slot0, char **err);
/* Keys moved by delta positions (rope_shift_rows with layer table rt): n rows of the file's
 * format from src into dst (which may be src), through scratch of n * kv_dim floats. The
 * index moves its sinks so, retrieval the blocks it places. */
void kv_cache_shift_keys(const struct kv_file_params *p, const void *src, void *dst, size_t n,
    int64_t delta, const struct rope_table *rt, float *scratch);
/* True when the cache is exact: built with a window at least as long as what it holds, so
 * every cached token attended to every token before it. */
int kv_cache_is_exact(const struct kv_file *f);
/* Load an exact cache whole into c (positions = slots, n_past = its tokens), for questions
 * with full causal attention after it. Refuses a cache that is not exact or does not leave
 * room in c's memory, saying why. */
int kv_cache_load_exact(struct context *c, struct kv_file *f, char **err);

#endif
