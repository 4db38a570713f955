/* backend-cpu.c: the CPU backend: matrix products through kernels/matmul, attention over an
 * fp16 or q8_0 KV memory through kernels/attn-*, everything split over a persistent thread
 * pool. */
#include "engine/backend.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "engine/gguf.h"
#include "engine/rope.h"
#include "kernels/attn-cpu.h"
#include "kernels/attn-decode-q8.h"
#include "kernels/attn-decode.h"
#include "kernels/attn-exact-block.h"
#include "kernels/attn-exact.h"
#include "kernels/attn-merge-math.h"
#include "kernels/cpu-features.h"
#include "kernels/geglu-cpu.h"
#include "kernels/matmul.h"
#include "kernels/norm-math.h"
#include "kernels/quant.h"
#include "kernels/swiglu-cpu.h"
#include "lib/threadpool.h"
#include "lib/util.h"

struct cpu_backend {
	struct backend base;
	struct threadpool *pool;
	struct quant_act act;          /* activations prepared for the last matrix product */
	const struct attn_kernels *ak;
	const struct attn_exact_kernels *ek; /* llama.cpp's order, up to ATTN_EXACT_MAX_KEYS */
	swiglu_row_fn swiglu;           /* SwiGLU rows with ggml's arithmetic */
	struct kv_shape shape;
	uint16_t *k, *v;               /* fp16: [layer][pos][n_head_kv*head_dim] */
	/* q8_0 (shape.type == KV_Q8_0) instead, one KV head after the other: the int8 values
	 * [layer][head][n_ctx16 positions][head_dim] (the keys in kernels/attn-decode-q8.h's
	 * groups of 16 positions, n_ctx16 = n_ctx rounded up to 16) and their block scales
	 * (fp16) [layer][head][block][n_ctx], a block's scales of consecutive positions side by
	 * side. The paths without a q8_0 kernel read one layer's keys and values converted to
	 * fp16 in stage_k and stage_v. */
	size_t n_ctx16;
	int8_t *kq, *vq;
	uint16_t *ks, *vs;
	uint16_t *stage_k, *stage_v;   /* fp16: [pos][n_head_kv*head_dim], one layer */
	const struct attn_decode_q8_kernels *dq;
	struct attn_q8_query *dec_q8;  /* q8_0 decode: the query rows in Q8_0 numbers */
	size_t dec_q8_cap;             /* rows it holds */
	float *scores;                 /* per thread: n_ctx logits */
	float *head_out;               /* per thread: head_dim accumulators */
	float *flash_scratch;          /* per thread: attn_flash_scratch_floats(), 64-aligned */
	size_t flash_floats;           /* floats of one thread's share, a multiple of 16 */
	const struct attn_decode_kernels *dk;   /* split-K decode kernels of the active level */
	float *dec_scratch;            /* per thread: attn_decode_scratch_floats(), 64-aligned */
	size_t dec_floats;             /* floats of one thread's share, a multiple of 16 */
	float *dec_o, *dec_lse;        /* split-K partial results: [part][row][head_dim], [part][row] */
	size_t dec_cap;                /* part-rows that dec_o and dec_lse hold */
	float *blk_scratch;            /* exact block kernel: every thread's share, grown to fit */
	size_t blk_cap;                /* floats it holds */
};

static struct cpu_backend *cpu(struct backend *be)
{
	return (struct cpu_backend *)be;
}

/* Split [0, n) evenly: this thread's share. */
static void share(size_t n, int ti, int nt, size_t *lo, size_t *hi)
{
	*lo = n * (size_t)ti / (size_t)nt;
	*hi = n * (size_t)(ti + 1) / (size_t)nt;
}

/* llama.cpp's CPU backend repacks a q4_K matrix with rows % 8 == 0 for its matrix products
 * (a tied output matrix too: it loads a second copy of the embeddings for it), which changes
 * its order of summation. Follow it, for its bits. */
static unsigned matmul_flags(const struct gguf_tensor *w)
{
	return w->type == GGML_TYPE_Q4_K && w->ne[1] % 8 == 0 ? MATMUL_Q4_K_X8 : 0;
}

static int cpu_matmul(struct backend *be, const struct gguf_tensor *w, const float *x,
    size_t n_tok, float *y, char **err)
{
	struct cpu_backend *c = cpu(be);
	if (quant_act_prepare(&c->act, w->type, x, n_tok, (size_t)w->ne[0], c->pool, err) != 0)
		return -1;
	return matmul_act(c->pool, w->type, w->data, (size_t)w->ne[1], &c->act, matmul_flags(w),
	    y, err);
}

static int cpu_matmul_many(struct backend *be, const struct gguf_tensor *const *w,
    float *const *y, size_t n_w, const float *x, size_t n_tok, char **err)
{
	struct cpu_backend *c = cpu(be);
	struct matmul_spec spec[MATMUL_MAX_PARTS];
	int together = n_w <= MATMUL_MAX_PARTS;
	for (size_t i = 0; together && i < n_w; i++) {
		together = quant_act_type(w[i]->type) == quant_act_type(w[0]->type) &&
		    w[i]->ne[0] == w[0]->ne[0];
		spec[i] = (struct matmul_spec){ w[i]->type, w[i]->data, (size_t)w[i]->ne[1],
		    matmul_flags(w[i]), y[i] };
	}
	if (!together) {   /* inputs of different kinds: one product at a time */
		for (size_t i = 0; i < n_w; i++)
			if (cpu_matmul(be, w[i], x, n_tok, y[i], err) != 0)
				return -1;
		return 0;
	}
	if (n_w == 0)
		return 0;
	if (quant_act_prepare(&c->act, w[0]->type, x, n_tok, (size_t)w[0]->ne[0], c->pool,
	    err) != 0)
		return -1;
	return matmul_many(c->pool, spec, n_w, &c->act, err);
}

static int cpu_embed(struct backend *be, const struct gguf_tensor *emb, const int32_t *tokens,
    size_t n_tok, float *out, char **err)
{
	size_t n = (size_t)emb->ne[0];
	for (size_t t = 0; t < n_tok; t++) {
		const unsigned char *row = (const unsigned char *)emb->data +
		    (size_t)tokens[t] * emb->row_bytes;
		if (quant_dequantize_row(emb->type, row, out + t * n, n, err) != 0)
			return -1;
	}
	return 0;
}

struct norm_job {
	const float *x, *w;
	float *y;
	size_t n_tok, n;
	float eps;
};

static void norm_run(void *ctx, int ti, int nt)
{
	struct norm_job *j = ctx;
	size_t lo, hi;
	share(j->n_tok, ti, nt, &lo, &hi);
	for (size_t t = lo; t < hi; t++)
		rmsnorm_row(j->x + t * j->n, j->w, j->y + t * j->n, (int)j->n, j->eps);
}

static void cpu_rmsnorm(struct backend *be, const float *x, const float *w, float *y,
    size_t n_tok, size_t n, float eps)
{
	struct norm_job j = { x, w, y, n_tok, n, eps };
	threadpool_run(n_tok > 1 ? cpu(be)->pool : NULL, norm_run, &j);
}

/* Angles by kernels/rope-math.h's rule (ggml's fp32 ones at small positions; LongRoPE's
 * n^ leading positions without the factors), then the rotation of every head. */
__attribute__((always_inline))
static inline void rope_rows(float *x, size_t n_tok, size_t n_heads, size_t head_dim,
    const int64_t *pos, const struct rope_table *rt)
{
	float cs[ROPE_MAX_PAIRS], sn[ROPE_MAX_PAIRS];
	for (size_t t = 0; t < n_tok; t++) {
		rope_cos_sin_at((double)pos[t], rope_table_freq_at(rt, (double)pos[t]),
		    rt->ggml_theta_scale, rt->ggml_has_div ? rt->ggml_div : NULL, rt->n_pairs,
		    rt->m_f32, cs, sn);
		float *row = x + t * n_heads * head_dim;
		for (size_t h = 0; h < n_heads; h++)
			rope_rotate(row + h * head_dim, rt->n_rot, rt->pairing, cs, sn);
	}
}

static void rope_rows_plain(float *x, size_t n_tok, size_t n_heads, size_t head_dim,
    const int64_t *pos, const struct rope_table *rt)
{
	rope_rows(x, n_tok, n_heads, head_dim, pos, rt);
}

#if defined(__x86_64__) || defined(__i386__)
/* The same with fmaf as one instruction instead of a libm call: the same numbers. */
__attribute__((target("fma")))
static void rope_rows_fma(float *x, size_t n_tok, size_t n_heads, size_t head_dim,
    const int64_t *pos, const struct rope_table *rt)
{
	rope_rows(x, n_tok, n_heads, head_dim, pos, rt);
}
#endif

static void cpu_rope(struct backend *be, float *x, size_t n_tok, size_t n_heads,
    size_t head_dim, const int64_t *pos, const struct rope_table *rt)
{
	(void)be;
#if defined(__x86_64__) || defined(__i386__)
	if (cpu_simd_level() >= CPU_SIMD_AVX2) {
		rope_rows_fma(x, n_tok, n_heads, head_dim, pos, rt);
		return;
	}
#endif
	rope_rows_plain(x, n_tok, n_heads, head_dim, pos, rt);
}

struct swiglu_job {
	const float *gate, *up;
	size_t stride_in;
	float *out;
	size_t n_tok, n;
	swiglu_row_fn fn;              /* one row segment, ggml's arithmetic */
};

/* The work is split in pieces of 16 elements counted from each row's start, so that every
 * thread's segment keeps the row's 16-element chunks (and its tail) as ggml has them. */
static void swiglu_run(void *ctx, int ti, int nt)
{
	struct swiglu_job *j = ctx;
	size_t per_row = (j->n + 15) / 16, lo, hi;
	share(j->n_tok * per_row, ti, nt, &lo, &hi);
	while (lo < hi) {
		size_t t = lo / per_row, first = lo % per_row;
		size_t last = hi - t * per_row < per_row ? hi - t * per_row : per_row;
		size_t e0 = first * 16, e1 = last * 16 < j->n ? last * 16 : j->n;
		j->fn(j->gate + t * j->stride_in + e0, j->up + t * j->stride_in + e0,
		    j->out + t * j->n + e0, e1 - e0);
		lo = t * per_row + last;
	}
}

/* The pool for a GLU of n_tok rows of n, or NULL where one thread is done sooner than the
 * pool would start (a decode step's row of a few thousand takes well under a microsecond). */
static struct threadpool *glu_pool(struct backend *be, size_t n_tok, size_t n)
{
	return n_tok * n >= 16384 ? cpu(be)->pool : NULL;
}

static void cpu_swiglu(struct backend *be, const float *gate, const float *up,
    size_t stride_in, float *out, size_t n_tok, size_t n)
{
	struct swiglu_job j = { gate, up, stride_in, out, n_tok, n, cpu(be)->swiglu };
	threadpool_run(glu_pool(be, n_tok, n), swiglu_run, &j);
}

/* GeGLU is element-wise without chunks to respect: the same split serves. */
static void cpu_geglu(struct backend *be, const float *gate, const float *up,
    size_t stride_in, float *out, size_t n_tok, size_t n)
{
	struct swiglu_job j = { gate, up, stride_in, out, n_tok, n, geglu_row };
	threadpool_run(glu_pool(be, n_tok, n), swiglu_run, &j);
}

static void kv_release(struct cpu_backend *c)
{
	free(c->k);
	free(c->v);
	free(c->kq);
	free(c->vq);
	free(c->ks);
	free(c->vs);
	free(c->stage_k);
	free(c->stage_v);
	free(c->dec_q8);
	c->dec_q8 = NULL;
	c->dec_q8_cap = 0;
	free(c->scores);
	free(c->head_out);
	free(c->flash_scratch);
	free(c->dec_scratch);
	free(c->dec_o);
	free(c->dec_lse);
	free(c->blk_scratch);
	c->k = c->v = c->ks = c->vs = c->stage_k = c->stage_v = NULL;
	c->kq = c->vq = NULL;
	c->scores = c->head_out = c->flash_scratch = c->dec_scratch = NULL;
	c->dec_o = c->dec_lse = c->blk_scratch = NULL;
	c->dec_cap = c->blk_cap = 0;
}

/* KV memory on 2 MiB boundaries, with transparent huge pages asked for: attention at depth
 * streams through it in short strided pieces (one KV head of each position), and with 4 KiB
 * pages both the TLB and the hardware prefetcher (which stops at page edges) fall behind. */
static void *kv_mem(size_t bytes)
{
	void *p = NULL;
	if (posix_memalign(&p, (size_t)1 << 21, bytes) != 0)
		return NULL;
#ifdef MADV_HUGEPAGE
	(void)madvise(p, bytes, MADV_HUGEPAGE);   /* advice: without it, small pages */
#endif
	return p;
}

static int cpu_kv_alloc(struct backend *be, const struct kv_shape *shape, char **err)
{
	struct cpu_backend *c = cpu(be);
	kv_release(c);
	size_t per_layer, total;
	size_t row = (size_t)shape->n_head_kv * shape->head_dim;
	if (q_mul_size(row, shape->n_ctx, &per_layer) != 0 ||
	    q_mul_size(per_layer, shape->n_layer, &total) != 0 ||
	    total > ((size_t)1 << 40) / sizeof(uint16_t))
		return q_error(err, "KV memory for %u positions does not fit in memory", shape->n_ctx);
	size_t bytes;
	if (shape->type == KV_Q8_0) {
		if (shape->head_dim % 32 != 0 || shape->head_dim > ATTN_DECODE_Q8_MAX_DIM)
			return q_error(err, "a q8_0 KV cache needs a head size that is a multiple of 32 "
			    "up to %d (this model's: %u); use --kv-type f16", ATTN_DECODE_Q8_MAX_DIM,
			    shape->head_dim);
		size_t n_ctx16 = ((size_t)shape->n_ctx + 15) & ~(size_t)15;
		size_t total16 = total / shape->n_ctx * n_ctx16;
		bytes = total16 + total / 32 * sizeof(uint16_t);
		c->n_ctx16 = n_ctx16;
		c->kq = kv_mem(total16);
		c->vq = kv_mem(total16);
		c->ks = kv_mem(total / 32 * sizeof(uint16_t));
		c->vs = kv_mem(total / 32 * sizeof(uint16_t));
		c->stage_k = kv_mem(per_layer * sizeof(uint16_t));
		c->stage_v = kv_mem(per_layer * sizeof(uint16_t));
		if (c->kq == NULL || c->vq == NULL || c->ks == NULL || c->vs == NULL ||
		    c->stage_k == NULL || c->stage_v == NULL)
			goto oom;
	} else {
		bytes = total * sizeof(uint16_t);
		c->k = kv_mem(bytes);
		c->v = kv_mem(bytes);
		if (c->k == NULL || c->v == NULL)
			goto oom;
	}
	int nt = threadpool_size(c->pool);
	c->scores = xreallocarray(NULL, (size_t)nt * shape->n_ctx, sizeof(float));
	c->head_out = xreallocarray(NULL, (size_t)nt * shape->head_dim, sizeof(float));
	if (c->ak->flash != NULL && shape->head_dim % 16 == 0 && shape->head_dim <= 256) {
		c->flash_floats = (attn_flash_scratch_floats(shape->head_dim) + 15) & ~(size_t)15;
		c->flash_scratch = aligned_alloc(64, (size_t)nt * c->flash_floats * sizeof(float));
		if (c->flash_scratch == NULL)
			fatal("out of memory");
	}
	if (shape->head_dim % 16 == 0 && shape->head_dim <= 256) {
		size_t f = shape->type == KV_Q8_0 ? attn_decode_q8_scratch_floats(shape->head_dim) :
		    attn_decode_scratch_floats(shape->head_dim);
		c->dec_floats = (f + 15) & ~(size_t)15;
		c->dec_scratch = aligned_alloc(64, (size_t)nt * c->dec_floats * sizeof(float));
		if (c->dec_scratch == NULL)
			fatal("out of memory");
	}
	c->shape = *shape;
	return 0;
oom:
	kv_release(c);
	return q_error(err, "cannot allocate %zu MiB of KV memory for %u positions",
	    2 * bytes >> 20, shape->n_ctx);
}

/* Where KV head g of a layer starts in the q8_0 memory: its int8 values in kq and vq, its
 * scales in ks and vs. */
static size_t q8_vals_at(const struct cpu_backend *c, uint32_t layer, size_t g)
{
	return ((size_t)layer * c->shape.n_head_kv + g) * c->n_ctx16 * c->shape.head_dim;
}

static size_t q8_scales_at(const struct cpu_backend *c, uint32_t layer, size_t g)
{
	return ((size_t)layer * c->shape.n_head_kv + g) * (c->shape.head_dim / 32) *
	    c->shape.n_ctx;
}

/* KV head g of a layer from key k0 on (a multiple of 16), as the q8_0 kernels read it. */
static struct attn_q8_kv q8_head(const struct cpu_backend *c, uint32_t layer, size_t g,
    size_t k0)
{
	size_t hd = c->shape.head_dim, v = q8_vals_at(c, layer, g) + k0 * hd;
	size_t sc = q8_scales_at(c, layer, g) + k0;
	struct attn_q8_kv kv = { c->kq + v, c->vq + v, c->ks + sc, c->vs + sc, hd, c->shape.n_ctx };
	return kv;
}

static void cpu_kv_store(struct backend *be, uint32_t layer, uint32_t pos0, size_t n_tok,
    const float *k, const float *v)
{
	struct cpu_backend *c = cpu(be);
	size_t row = (size_t)c->shape.n_head_kv * c->shape.head_dim;
	size_t base = ((size_t)layer * c->shape.n_ctx + pos0) * row;
	if (c->shape.type != KV_Q8_0) {
		quant_f32_to_fp16_row(k, c->k + base, n_tok * row);
		quant_f32_to_fp16_row(v, c->v + base, n_tok * row);
		return;
	}
	size_t hd = c->shape.head_dim, nb = hd / 32, n_ctx = c->shape.n_ctx;
	struct block_q8_0 blk[ATTN_DECODE_Q8_MAX_DIM / 32];
	for (size_t t = 0; t < n_tok; t++)
		for (size_t g = 0; g < c->shape.n_head_kv; g++) {
			size_t pos = pos0 + t;
			int8_t *kh = c->kq + q8_vals_at(c, layer, g), *vh = c->vq + q8_vals_at(c, layer, g);
			uint16_t *ksh = c->ks + q8_scales_at(c, layer, g);
			uint16_t *vsh = c->vs + q8_scales_at(c, layer, g);
			quant_quantize_row_q8_0(k + t * row + g * hd, blk, hd);
			for (size_t i = 0; i < hd; i++)
				kh[attn_q8_key_index(pos, i, hd)] = blk[i / 32].qs[i % 32];
			for (size_t b = 0; b < nb; b++)
				ksh[b * n_ctx + pos] = blk[b].d;
			quant_quantize_row_q8_0(v + t * row + g * hd, blk, hd);
			for (size_t b = 0; b < nb; b++) {
				memcpy(vh + pos * hd + b * 32, blk[b].qs, 32);
				vsh[b * n_ctx + pos] = blk[b].d;
			}
		}
}

/* The KV file's rows are the memory's own for fp16; for q8_0 each row is its KV heads' Q8_0
 * blocks in order, gathered from (or scattered to) the grouped keys, the values and the
 * separate scales. */
static void cpu_kv_read(struct backend *be, uint32_t layer, uint32_t pos0, size_t n_tok,
    void *k_rows, void *v_rows)
{
	struct cpu_backend *c = cpu(be);
	size_t row = (size_t)c->shape.n_head_kv * c->shape.head_dim;
	size_t base = ((size_t)layer * c->shape.n_ctx + pos0) * row;
	if (c->shape.type != KV_Q8_0) {
		if (k_rows != NULL)
			memcpy(k_rows, c->k + base, n_tok * row * sizeof(uint16_t));
		if (v_rows != NULL)
			memcpy(v_rows, c->v + base, n_tok * row * sizeof(uint16_t));
		return;
	}
	size_t hd = c->shape.head_dim, nb = hd / 32, n_ctx = c->shape.n_ctx;
	struct block_q8_0 *kb = k_rows, *vb = v_rows;
	for (size_t t = 0; t < n_tok; t++)
		for (size_t g = 0; g < c->shape.n_head_kv; g++) {
			size_t pos = pos0 + t;
			const int8_t *kh = c->kq + q8_vals_at(c, layer, g);
			const int8_t *vh = c->vq + q8_vals_at(c, layer, g);
			const uint16_t *ksh = c->ks + q8_scales_at(c, layer, g);
			const uint16_t *vsh = c->vs + q8_scales_at(c, layer, g);
			struct block_q8_0 *kr = kb ? kb + (t * c->shape.n_head_kv + g) * nb : NULL;
			struct block_q8_0 *vr = vb ? vb + (t * c->shape.n_head_kv + g) * nb : NULL;
			if (kb != NULL) {
				for (size_t i = 0; i < hd; i++)
					kr[i / 32].qs[i % 32] = kh[attn_q8_key_index(pos, i, hd)];
				for (size_t b = 0; b < nb; b++)
					kr[b].d = ksh[b * n_ctx + pos];
			}
			if (vb != NULL)
				for (size_t b = 0; b < nb; b++) {
					memcpy(vr[b].qs, vh + pos * hd + b * 32, 32);
					vr[b].d = vsh[b * n_ctx + pos];
				}
		}
}

static void cpu_kv_write(struct backend *be, uint32_t layer, uint32_t pos0, size_t n_tok,
    const void *k_rows, const void *v_rows)
{
	struct cpu_backend *c = cpu(be);
	size_t row = (size_t)c->shape.n_head_kv * c->shape.head_dim;
	size_t base = ((size_t)layer * c->shape.n_ctx + pos0) * row;
	if (c->shape.type != KV_Q8_0) {
		if (k_rows != NULL)
			memmove(c->k + base, k_rows, n_tok * row * sizeof(uint16_t));
		if (v_rows != NULL)
			memmove(c->v + base, v_rows, n_tok * row * sizeof(uint16_t));
		return;
	}
	size_t hd = c->shape.head_dim, nb = hd / 32, n_ctx = c->shape.n_ctx;
	const struct block_q8_0 *kb = k_rows, *vb = v_rows;
	for (size_t t = 0; t < n_tok; t++)
		for (size_t g = 0; g < c->shape.n_head_kv; g++) {
			size_t pos = pos0 + t;
			int8_t *kh = c->kq + q8_vals_at(c, layer, g), *vh = c->vq + q8_vals_at(c, layer, g);
			uint16_t *ksh = c->ks + q8_scales_at(c, layer, g);
			uint16_t *vsh = c->vs + q8_scales_at(c, layer, g);
			const struct block_q8_0 *kr = kb ? kb + (t * c->shape.n_head_kv + g) * nb : NULL;
			const struct block_q8_0 *vr = vb ? vb + (t * c->shape.n_head_kv + g) * nb : NULL;
			if (kb != NULL) {
				for (size_t i = 0; i < hd; i++)
					kh[attn_q8_key_index(pos, i, hd)] = kr[i / 32].qs[i % 32];
				for (size_t b = 0; b < nb; b++)
					ksh[b * n_ctx + pos] = kr[b].d;
			}
			if (vb != NULL)
				for (size_t b = 0; b < nb; b++) {
					memcpy(vh + pos * hd + b * 32, vr[b].qs, 32);
					vsh[b * n_ctx + pos] = vr[b].d;
				}
		}
}

/* One layer's keys and values as fp16 rows [pos][n_head_kv*head_dim]: the KV memory itself,
 * or for q8_0 the staging copy that kv_stage filled. */
static const uint16_t *layer_k(const struct cpu_backend *c, uint32_t layer)
{
	if (c->shape.type == KV_Q8_0)
		return c->stage_k;
	return c->k + (size_t)layer * c->shape.n_ctx * c->shape.n_head_kv * c->shape.head_dim;
}

static const uint16_t *layer_v(const struct cpu_backend *c, uint32_t layer)
{
	if (c->shape.type == KV_Q8_0)
		return c->stage_v;
	return c->v + (size_t)layer * c->shape.n_ctx * c->shape.n_head_kv * c->shape.head_dim;
}

struct stage_job {
	struct cpu_backend *c;
	uint32_t layer;
	size_t lo, hi;                 /* positions */
};

static void stage_run(void *ctx, int ti, int nt)
{
	struct stage_job *j = ctx;
	struct cpu_backend *c = j->c;
	size_t hd = c->shape.head_dim, n_kv = c->shape.n_head_kv, row = n_kv * hd, lo, hi;
	/* whole groups of 16 positions each */
	size_t g0 = j->lo / 16, n_groups = (j->hi + 15) / 16 - g0;
	share(n_groups, ti, nt, &lo, &hi);
	size_t p0 = (g0 + lo) * 16, p1 = (g0 + hi) * 16;
	p0 = p0 < j->lo ? j->lo : p0;
	p1 = p1 > j->hi ? j->hi : p1;
	if (p0 >= p1)
		return;
	for (size_t g = 0; g < n_kv; g++) {
		struct attn_q8_kv kv = q8_head(c, j->layer, g, 0);
		c->dq->to_fp16(&kv, hd, p0, p1, c->stage_k + g * hd, c->stage_v + g * hd, row);
	}
}

/* For the paths that read fp16 (prefill, sliding windows): positions lo..hi-1 of a q8_0
 * layer converted into the staging rows. */
static void kv_stage(struct cpu_backend *c, uint32_t layer, size_t lo, size_t hi)
{
	struct stage_job j = { c, layer, lo, hi };
	threadpool_run(hi - lo >= 64 ? c->pool : NULL, stage_run, &j);
}

/* Up to this many keys (the query's position + 1) attention takes the exact path, which
 * gives llama.cpp's bits: the default model's whole trained window, with room for the
 * longest prompts tests/t4001-niah.sh compares (4096 tokens plus the answer). Beyond it the
 * fast paths take over; they agree with it to about 1e-5 per output. */
#define ATTN_EXACT_MAX_KEYS 8192

struct attn_job {
	struct cpu_backend *c;
	uint32_t layer;
	const float *q;
	size_t n_tok;
	uint32_t pos0, n_head;
	float scale;
	float *out;
	uint32_t window;               /* sliding window in keys; 0 = every earlier key */
};

/* The first key position a query at pos sees. */
static size_t window_start(size_t pos, uint32_t window)
{
	return window != 0 && pos + 1 > window ? pos + 1 - window : 0;
}

/* One (token, head) pair: softmax(scale * q.K^T) . V over positions 0..pos, for steps beyond
 * the exact window. Like llama.cpp's CPU path, the query and the probabilities are rounded to
 * fp16 before they meet the fp16 keys and values; the sums run in this kernel's own order. */
static void attend_one(struct attn_job *j, size_t t, uint32_t h, float *scores, float *acc)
{
	struct cpu_backend *c = j->c;
	size_t hd = c->shape.head_dim;
	size_t row = (size_t)c->shape.n_head_kv * hd;
	uint32_t g = h / (j->n_head / c->shape.n_head_kv);
	size_t n = (size_t)j->pos0 + t + 1;
	const uint16_t *kb = layer_k(c, j->layer) + g * hd, *vb = layer_v(c, j->layer) + g * hd;

	float q[1024];
	const float *qh = j->q + (t * j->n_head + h) * hd;
	for (size_t d = 0; d < hd; d++)
		q[d] = quant_fp16_to_f32(quant_f32_to_fp16(qh[d]));
	c->ak->qk(q, kb, row, n, hd, j->scale, scores);
	float mx = -FLT_MAX;
	for (size_t p = 0; p < n; p++)
		mx = scores[p] > mx ? scores[p] : mx;
	double sum = 0.0;
	for (size_t p = 0; p < n; p++) {
		scores[p] = expf(scores[p] - mx);
		sum += scores[p];
	}
	float inv = (float)(1.0 / sum);
	for (size_t p = 0; p < n; p++)
		scores[p] = quant_fp16_to_f32(quant_f32_to_fp16(scores[p] * inv));
	memset(acc, 0, hd * sizeof(float));
	c->ak->wv(scores, vb, row, n, hd, acc);
	memcpy(j->out + (t * j->n_head + h) * hd, acc, hd * sizeof(float));
}

/* One (token, head) pair as llama.cpp computes it without flash attention (kernels/
 * attn-exact.c): q and the probabilities rounded to fp16, q.K and p.V in tinyBLAS's order for
 * a batch of two or more tokens and in ggml_vec_dot_f16's for a single one, ggml's softmax. */
static void attend_exact(struct attn_job *j, size_t t, uint32_t h, float *scores)
{
	struct cpu_backend *c = j->c;
	const struct attn_exact_kernels *ek = c->ek;
	size_t hd = c->shape.head_dim;
	size_t row = (size_t)c->shape.n_head_kv * hd;
	uint32_t g = h / (j->n_head / c->shape.n_head_kv);
	/* A sliding window within the exact window runs as llama.cpp's full-size window cache
	 * does: over every key from 0 with the ones before the window masked, so that the keys
	 * it sees fall into the same lanes and chunks of every sum. The masked keys add exact
	 * zeros (probability 0) to those sums, so whole 64-key steps of them from key 0 are
	 * skipped: every lane (p % 16 in gemm and the softmax, p % 64 in vec_dot) and vec_dot's
	 * tail stay where they were. Beyond the exact window, the window alone. */
	size_t pos = (size_t)j->pos0 + t, k0 = window_start(pos, j->window), masked = 0;
	if (k0 > 0 && pos < ATTN_EXACT_MAX_KEYS) {
		masked = k0 % 64;
		k0 -= masked;
	}
	size_t n = pos + 1 - k0;
	const uint16_t *kb = layer_k(c, j->layer) + k0 * row + g * hd;
	const uint16_t *vb = layer_v(c, j->layer) + k0 * row + g * hd;
	int gemm = j->n_tok >= 2;

	float q[1024];
	const float *qh = j->q + (t * j->n_head + h) * hd;
	for (size_t d = 0; d < hd; d++)
		q[d] = quant_fp16_to_f32(quant_f32_to_fp16(qh[d]));
	if (gemm && hd % 16 == 0)
		ek->qk_gemm(q, kb, row, n, hd, j->scale, scores);
	else
		ek->qk_vec_dot(q, kb, row, n, hd, j->scale, scores);
	for (size_t p = 0; p < masked; p++)
		scores[p] = -INFINITY;
	ek->softmax(scores, n);
	float *out = j->out + (t * j->n_head + h) * hd;
	if (gemm && hd % 4 == 0)
		ek->wv_gemm(scores, vb, row, n, hd, out);
	else
		ek->wv_vec_dot(scores, vb, row, n, hd, out);
}

static void attn_exact_run(void *ctx, int ti, int nt)
{
	struct attn_job *j = ctx;
	struct cpu_backend *c = j->c;
	float *scores = c->scores + (size_t)ti * c->shape.n_ctx;
	size_t tasks = j->n_tok * j->n_head;
	for (size_t i = (size_t)ti; i < tasks; i += (size_t)nt)
		attend_exact(j, i / j->n_head, (uint32_t)(i % j->n_head), scores);
}

static void attn_run(void *ctx, int ti, int nt)
{
	struct attn_job *j = ctx;
	struct cpu_backend *c = j->c;
	float *scores = c->scores + (size_t)ti * c->shape.n_ctx;
	float *acc = c->head_out + (size_t)ti * c->shape.head_dim;
	size_t tasks = j->n_tok * j->n_head;
	/* Later tokens attend to more positions: deal tasks round-robin to even out the work. */
	for (size_t i = (size_t)ti; i < tasks; i += (size_t)nt)
		attend_one(j, i / j->n_head, (uint32_t)(i % j->n_head), scores, acc);
}

/* Prefill in blocks: query tokens times the heads of one KV group go through a block kernel
 * together (the flash kernel past ATTN_EXACT_MAX_KEYS, kernels/attn-exact-block within it),
 * so the group's keys and values are read and converted once per block rather than once per
 * (token, head). Blocks are taken from a shared counter, latest (largest) first. */
#define BLOCK_MAX_ROWS (ATTN_FLASH_ROWS > ATTN_EXACT_BLOCK_ROWS ? ATTN_FLASH_ROWS : \
    ATTN_EXACT_BLOCK_ROWS)

struct block_job {
	struct cpu_backend *c;
	uint32_t layer;
	const float *q;
	size_t n_tok;
	uint32_t pos0, n_head;
	float scale;
	float *out;
	attn_exact_block_fn fn;        /* the block kernel: same signature for both kinds */
	float *scratch;                /* per thread: scratch_floats */
	size_t scratch_floats;         /* floats of one thread's scratch */
	size_t tok_per_block;          /* query tokens per block */
	size_t n_blocks;               /* blocks over n_tok */
	_Atomic size_t next;           /* next (block, group) task, shared by the threads */
};

static void block_run(void *ctx, int ti, int nt)
{
	(void)nt;
	struct block_job *j = ctx;
	struct cpu_backend *c = j->c;
	size_t hd = c->shape.head_dim, n_kv = c->shape.n_head_kv;
	size_t row = n_kv * hd, grp = j->n_head / n_kv;
	float *scratch = j->scratch + (size_t)ti * j->scratch_floats;
	const float *qp[BLOCK_MAX_ROWS];
	float *op[BLOCK_MAX_ROWS];
	uint32_t nk[BLOCK_MAX_ROWS];
	for (;;) {
		size_t i = j->next++;
		if (i >= j->n_blocks * n_kv)
			break;
		size_t b = j->n_blocks - 1 - i / n_kv, g = i % n_kv;
		size_t t0 = b * j->tok_per_block;
		size_t t1 = t0 + j->tok_per_block < j->n_tok ? t0 + j->tok_per_block : j->n_tok;
		size_t n_rows = 0;
		for (size_t t = t0; t < t1; t++)
			for (size_t h = g * grp; h < (g + 1) * grp; h++) {
				qp[n_rows] = j->q + (t * j->n_head + h) * hd;
				op[n_rows] = j->out + (t * j->n_head + h) * hd;
				nk[n_rows++] = j->pos0 + (uint32_t)t + 1;
			}
		j->fn(qp, nk, n_rows, layer_k(c, j->layer) + g * hd, layer_v(c, j->layer) + g * hd,
		    row, hd, j->scale, op, scratch);
	}
}

/* From this many query tokens on, exact prefill goes through the block kernel; a block holds
 * up to EXACT_BLOCK_ROWS rows (fewer when there are too few tasks to share among the threads). */
#define EXACT_BLOCK_MIN_TOKENS 4
#define EXACT_BLOCK_ROWS 48

/* Beyond ATTN_EXACT_MAX_KEYS (below) the split-K decode kernel (a few query tokens) or the
 * flash kernel (prefill) takes over from the exact path. Both agree with it to about 1e-5 per
 * attention output but not bit for bit, and the model's 8-bit activation rounding turns such
 * differences into perplexity changes of up to ~1% on a 512-token text. */
/* Below this many query tokens too few rows fill the flash kernel's vectors: decode path. */
#define FLASH_MIN_TOKENS 8
/* Keys per split-K part. Fixed, not derived from the thread count, so that the result of a
 * call does not depend on how many threads computed it. */
#define DECODE_PART_KEYS 512
_Static_assert(DECODE_PART_KEYS % 16 == 0, "q8_0 decode ranges start on groups of 16 keys");

/* Decode at depth: the keys are cut into parts of DECODE_PART_KEYS, dealt to the threads in
 * runs of consecutive parts (lib/threadpool.h: a thread's reads stay one stream per KV head,
 * and the kernel's prefetch past a part's end fetches its own next keys); a part runs every
 * KV group over its keys and leaves each query row's partial output and log-sum-exp, which
 * the caller merges part by part in order. */
struct decode_job {
	struct cpu_backend *c;
	uint32_t layer;
	const float *q;
	size_t n_tok;
	uint32_t pos0, n_head;
	float scale;
	size_t n_keys;                 /* pos0 + n_tok */
	size_t n_parts;
	struct threadpool_runs runs;   /* the parts, a run per thread */
};

static void decode_part(struct decode_job *j, size_t part, float *scratch)
{
	struct cpu_backend *c = j->c;
	size_t hd = c->shape.head_dim, n_kv = c->shape.n_head_kv;
	size_t row = n_kv * hd, grp = j->n_head / n_kv, rows = j->n_tok * j->n_head;
	size_t k0 = part * DECODE_PART_KEYS;
	size_t nk = j->n_keys - k0 < DECODE_PART_KEYS ? j->n_keys - k0 : DECODE_PART_KEYS;
	float *po = c->dec_o + part * rows * hd, *plse = c->dec_lse + part * rows;
	_Static_assert(ATTN_DECODE_MAX_ROWS == ATTN_DECODE_Q8_MAX_ROWS, "decode row batches");
	const float *qp[ATTN_DECODE_MAX_ROWS];
	const struct attn_q8_query *qq[ATTN_DECODE_MAX_ROWS];
	float *op[ATTN_DECODE_MAX_ROWS];
	uint32_t lim[ATTN_DECODE_MAX_ROWS], ri[ATTN_DECODE_MAX_ROWS];
	/* One KV head at a time (measured faster than all of them side by side), its rows in
	 * batches of at most ATTN_DECODE_MAX_ROWS. */
	for (size_t g = 0; g < n_kv; g++) {
		size_t base = ((size_t)j->layer * c->shape.n_ctx + k0) * row + g * hd;
		size_t n = 0;
		for (size_t t = 0; t < j->n_tok; t++)
			for (size_t h = g * grp; h < (g + 1) * grp; h++) {
				size_t r = t * j->n_head + h;
				/* token t sees keys 0..pos0+t: this part's keys below that end */
				size_t end = (size_t)j->pos0 + t + 1;
				qp[n] = j->q + r * hd;
				qq[n] = c->dec_q8 + r;
				op[n] = po + r * hd;
				lim[n] = (uint32_t)(end <= k0 ? 0 : end - k0 < nk ? end - k0 : nk);
				ri[n++] = (uint32_t)r;
				if (n < ATTN_DECODE_MAX_ROWS && !(t + 1 == j->n_tok &&
				    h + 1 == (g + 1) * grp))
					continue;
				float lse[ATTN_DECODE_MAX_ROWS];
				if (c->shape.type == KV_Q8_0) {
					struct attn_q8_kv kv = q8_head(c, j->layer, g, k0);
					c->dq->run(qq, lim, n, &kv, nk, hd, op, lse, scratch);
				} else {
					c->dk->run(qp, lim, n, c->k + base, c->v + base, row, nk, hd,
					    j->scale, op, lse, scratch);
				}
				for (size_t i = 0; i < n; i++)
					plse[ri[i]] = lse[i];
				n = 0;
			}
	}
}

static void decode_run(void *ctx, int ti, int nt)
{
	(void)nt;
	struct decode_job *j = ctx;
	float *scratch = j->c->dec_scratch + (size_t)ti * j->c->dec_floats;
	unsigned cursor = 0;
	for (long p; (p = threadpool_runs_take(&j->runs, ti, &cursor)) >= 0;)
		decode_part(j, (size_t)p, scratch);
}

static void decode_attention(struct cpu_backend *c, uint32_t layer, const float *q,
    size_t n_tok, uint32_t pos0, uint32_t n_head, float scale, float *out)
{
	size_t hd = c->shape.head_dim, rows = n_tok * n_head;
	struct decode_job j = { .c = c, .layer = layer, .q = q, .n_tok = n_tok, .pos0 = pos0,
	    .n_head = n_head, .scale = scale };
	j.n_keys = (size_t)pos0 + n_tok;
	j.n_parts = (j.n_keys + DECODE_PART_KEYS - 1) / DECODE_PART_KEYS;
	threadpool_runs_init(&j.runs, j.n_parts, threadpool_size(c->pool));
	if (j.n_parts * rows > c->dec_cap) {
		c->dec_cap = j.n_parts * rows;
		c->dec_o = xreallocarray(c->dec_o, c->dec_cap, hd * sizeof(float));
		c->dec_lse = xreallocarray(c->dec_lse, c->dec_cap, sizeof(float));
	}
	if (c->shape.type == KV_Q8_0) {
		if (rows > c->dec_q8_cap) {
			free(c->dec_q8);
			c->dec_q8 = aligned_alloc(64, rows * sizeof(*c->dec_q8));
			if (c->dec_q8 == NULL)
				fatal("out of memory");
			c->dec_q8_cap = rows;
		}
		for (size_t r = 0; r < rows; r++)
			attn_decode_q8_query(q + r * hd, hd, scale, &c->dec_q8[r]);
	}
	threadpool_run_greedy(c->pool, decode_run, &j);
	for (size_t r = 0; r < rows; r++) {
		float lse;
		attn_merge_strided((int)j.n_parts, c->dec_o + r * hd, rows * hd, c->dec_lse + r, rows,
		    (int)hd, out + r * hd, &lse);
	}
}


static void cpu_attention(struct backend *be, uint32_t layer, const float *q, size_t n_tok,
    uint32_t pos0, uint32_t n_head, float scale, uint32_t window, float *out)
{
	struct cpu_backend *c = cpu(be);
	if (c->shape.type == KV_Q8_0) {
		/* q8_0: a few query tokens that see every earlier key go through the q8_0 decode
		 * kernel at any depth (there is no llama.cpp order to keep); everything else reads
		 * the keys it needs converted to fp16. */
		int cut = window != 0 && (size_t)pos0 + n_tok > window;
		if (!cut && n_tok < FLASH_MIN_TOKENS && c->dec_scratch != NULL) {
			decode_attention(c, layer, q, n_tok, pos0, n_head, scale, out);
			return;
		}
		/* a window's keys from its first query's start, down to the 64-key step from which
		 * attend_exact reads within the exact bound */
		size_t lo = cut ? window_start(pos0, window) & ~(size_t)63 : 0;
		kv_stage(c, layer, lo, (size_t)pos0 + n_tok);
	}
	if (window != 0 && (size_t)pos0 + n_tok > window) {
		/* A sliding window cuts keys off the front, differently for each query: every
		 * (token, head) pair goes through the exact path, which masks the keys before its
		 * window up to ATTN_EXACT_MAX_KEYS and past it reads the window alone (attend_exact).
		 * While no query's window cuts anything the paths below serve. */
		struct attn_job j = { c, layer, q, n_tok, pos0, n_head, scale, out, window };
		threadpool_run(c->pool, attn_exact_run, &j);
		return;
	}
	if ((size_t)pos0 + n_tok <= ATTN_EXACT_MAX_KEYS) {
		size_t hd = c->shape.head_dim, n_kv = c->shape.n_head_kv, gsz = n_head / n_kv;
		if (n_tok >= EXACT_BLOCK_MIN_TOKENS && hd % 16 == 0 &&
		    hd <= ATTN_EXACT_BLOCK_MAX_DIM && gsz <= EXACT_BLOCK_ROWS) {
			struct block_job j = { c, layer, q, n_tok, pos0, n_head, scale, out,
			    attn_exact_block_active(), NULL, 0, EXACT_BLOCK_ROWS / gsz, 0, 0 };
			/* at least four tasks per thread where the tokens allow it */
			size_t nt = (size_t)threadpool_size(c->pool), want = 4 * nt;
			size_t per = n_tok * n_kv / want;
			j.tok_per_block = per < j.tok_per_block ? (per ? per : 1) : j.tok_per_block;
			j.n_blocks = (n_tok + j.tok_per_block - 1) / j.tok_per_block;
			j.scratch_floats = attn_exact_block_scratch_floats(j.tok_per_block * gsz,
			    (size_t)pos0 + n_tok, hd);
			if (nt * j.scratch_floats > c->blk_cap) {
				c->blk_cap = nt * j.scratch_floats;
				free(c->blk_scratch);
				c->blk_scratch = xreallocarray(NULL, c->blk_cap, sizeof(float));
			}
			j.scratch = c->blk_scratch;
			threadpool_run_greedy(c->pool, block_run, &j);
			return;
		}
		struct attn_job j = { c, layer, q, n_tok, pos0, n_head, scale, out, 0 };
		threadpool_run(c->pool, attn_exact_run, &j);
		return;
	}
	size_t grp = n_head / c->shape.n_head_kv;
	if (c->flash_scratch != NULL && n_tok >= FLASH_MIN_TOKENS && grp <= ATTN_FLASH_ROWS) {
		struct block_job j = { c, layer, q, n_tok, pos0, n_head, scale, out, c->ak->flash,
		    c->flash_scratch, c->flash_floats, ATTN_FLASH_ROWS / grp, 0, 0 };
		j.n_blocks = (n_tok + j.tok_per_block - 1) / j.tok_per_block;
		threadpool_run_greedy(c->pool, block_run, &j);
		return;
	}
	if (c->dec_scratch != NULL) {
		decode_attention(c, layer, q, n_tok, pos0, n_head, scale, out);
		return;
	}
	struct attn_job j = { c, layer, q, n_tok, pos0, n_head, scale, out, 0 };
	threadpool_run(c->pool, attn_run, &j);
}

static void cpu_destroy(struct backend *be)
{
	struct cpu_backend *c = cpu(be);
	kv_release(c);
	quant_act_free(&c->act);
	threadpool_destroy(c->pool);
	free(c);
}

static const struct backend_ops cpu_ops = {
	.name = "cpu",
	.matmul = cpu_matmul,
	.matmul_many = cpu_matmul_many,
	.embed = cpu_embed,
	.rmsnorm = cpu_rmsnorm,
	.rope = cpu_rope,
	.swiglu = cpu_swiglu,
	.geglu = cpu_geglu,
	.kv_alloc = cpu_kv_alloc,
	.kv_store = cpu_kv_store,
	.kv_read = cpu_kv_read,
	.kv_write = cpu_kv_write,
	.attention = cpu_attention,
	.destroy = cpu_destroy,
};

int backend_cpu_create(int n_threads, struct backend **out, char **err)
{
	*out = NULL;
	struct cpu_backend *c = xcalloc(1, sizeof(*c));
	if (threadpool_create(n_threads, &c->pool, err) != 0) {
		free(c);
		return -1;
	}
	c->act = (struct quant_act)QUANT_ACT_INIT;
	c->ak = attn_kernels_active();
	c->ek = attn_exact_active();
	c->swiglu = swiglu_row_active();
	c->dk = attn_decode_active();
	c->dq = attn_decode_q8_active();
	c->base.ops = &cpu_ops;
	c->base.n_threads = n_threads;
	*out = &c->base;
	return 0;
}
