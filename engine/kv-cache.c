/* kv-cache.c: moving the corpus cache from the KV file into a context's memory. */
#include "engine/kv-cache.h"

#include <stdlib.h>
#include <string.h>

#include "kernels/quant.h"
#include "lib/util.h"

/* Positions moved per piece: bounds the buffers, whatever the corpus. */
#define LOAD_ROWS 256

int kv_cache_read_rows(struct kv_file *f, uint32_t layer, int kind, uint64_t p0, uint64_t p1,
    void *dst, char **err)
{
	const struct kv_file_params *p = kv_file_get_params(f);
	size_t rb = kv_file_row_bytes(p->dtype, p->n_head_kv * p->head_dim);
	uint32_t B = p->block_tokens;
	unsigned char *out = dst;
	for (uint64_t pos = p0; pos < p1;) {
		uint64_t b = pos / B, r = pos % B, run = B - r;
		if (run > p1 - pos)
			run = p1 - pos;
		const void *rows;
		if (kv_file_block_rows(f, b, layer, kind, &rows, err) != 0)
			return -1;
		memcpy(out, (const unsigned char *)rows + r * rb, run * rb);
		out += run * rb;
		pos += run;
	}
	return 0;
}

int kv_cache_load(struct context *c, struct kv_file *f, uint64_t p0, uint64_t p1,
    uint64_t slot0, char **err)
{
	const struct kv_file_params *p = kv_file_get_params(f);
	size_t rb = kv_file_row_bytes(p->dtype, p->n_head_kv * p->head_dim);
	struct backend *be = c->be;
	unsigned char *k = xreallocarray(NULL, LOAD_ROWS, rb);
	unsigned char *v = xreallocarray(NULL, LOAD_ROWS, rb);
	int rc = 0;
	for (uint64_t pos = p0; pos < p1 && rc == 0; pos += LOAD_ROWS) {
		uint64_t m = p1 - pos < LOAD_ROWS ? p1 - pos : LOAD_ROWS;
		for (uint32_t l = 0; l < p->n_layer; l++) {
			if (kv_cache_read_rows(f, l, 0, pos, pos + m, k, err) != 0 ||
			    kv_cache_read_rows(f, l, 1, pos, pos + m, v, err) != 0) {
				rc = -1;
				break;
			}
			be->ops->kv_write(be, l, (uint32_t)(slot0 + pos - p0), (size_t)m, k, v);
		}
	}
	free(k);
	free(v);
	return rc;
}

void kv_cache_shift_keys(const struct kv_file_params *p, const void *src, void *dst, size_t n,
    int64_t delta, const struct rope_table *rt, float *scratch)
{
	size_t values = n * p->n_head_kv * p->head_dim;
	if (p->dtype == KV_Q8_0) {
		char *e = NULL;
		if (quant_dequantize_row(GGML_TYPE_Q8_0, src, scratch, values, &e) != 0)
			fatal("q8_0 keys: %s", e);
	} else {
		quant_fp16_to_f32_row(src, scratch, values);
	}
	rope_shift_rows(scratch, n, p->n_head_kv, p->head_dim, delta, rt);
	if (p->dtype == KV_Q8_0)
		quant_quantize_row_q8_0(scratch, dst, values);
	else
		quant_f32_to_fp16_row(scratch, dst, values);
}

int kv_cache_is_exact(const struct kv_file *f)
{
	const struct kv_file_params *p = kv_file_get_params(f);
	struct kv_file_commit last;
	kv_file_last_commit(f, &last);
	return (uint64_t)p->sinks + p->window >= last.n_tokens;
}

int kv_cache_load_exact(struct context *c, struct kv_file *f, char **err)
{
	const struct kv_file_params *p = kv_file_get_params(f);
	struct kv_file_commit last;
	kv_file_last_commit(f, &last);
	if (!kv_cache_is_exact(f))
		return q_error(err, "the cache was indexed with a window of %u tokens (and %u sinks), "
		    "shorter than its %llu tokens: exact attention over it would not be exact "
		    "(index with --window %llu or more)", p->window, p->sinks,
		    (unsigned long long)last.n_tokens, (unsigned long long)last.n_tokens);
	if (last.n_tokens >= c->n_ctx)
		return q_error(err, "the corpus holds %llu tokens; the context holds %u: exact "
		    "attention needs a window larger than the corpus",
		    (unsigned long long)last.n_tokens, c->n_ctx);
	context_reset(c);
	if (kv_cache_load(c, f, 0, last.n_tokens, 0, err) != 0)
		return -1;
	c->n_past = (uint32_t)last.n_tokens;
	return 0;
}
