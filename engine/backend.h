/* backend.h: the heavy operations the forward pass asks of a compute backend, and the KV
 * memory it keeps for them. The CPU backend (engine/backend-cpu.c) implements them now; a CUDA
 * backend implements the same table. The forward pass never touches a kernel directly. */
#ifndef QUIRE_ENGINE_BACKEND_H
#define QUIRE_ENGINE_BACKEND_H

#include <stddef.h>
#include <stdint.h>

struct gguf_tensor;
struct rope_table;
struct backend;

/* What the KV memory holds: fp16 values, or ggml's Q8_0 numbers (blocks of 32 int8 values
 * with an fp16 scale, about half the bytes; head_dim must be a multiple of 32). */
enum kv_type {
	KV_F16 = 0,
	KV_Q8_0,
};

/* The shape of the attention KV memory: per layer, n_ctx positions of n_head_kv heads of
 * head_dim values, for K and for V. */
struct kv_shape {
	uint32_t n_layer;
	uint32_t n_ctx;             /* positions it can hold */
	uint32_t n_head_kv;
	uint32_t head_dim;
	enum kv_type type;
};


struct backend_ops {
	const char *name;
	/* y[t][r] = sum_i W[r][i] * x[t][i] for t < n_tok: W is a GGUF weight tensor with
	 * ne[0] = n_in and ne[1] = n_out rows. */
	int (*matmul)(struct backend *be, const struct gguf_tensor *w, const float *x,
	    size_t n_tok, float *y, char **err);
	/* The same for n_w weight tensors with the same ne[0] over the same x (q, k and v; gate
	 * and up): y[i] gets w[i]'s product. Equal to n_w matmul calls, and cheaper: the backend
	 * may prepare x once and hand the products to its workers together. */
	int (*matmul_many)(struct backend *be, const struct gguf_tensor *const *w,
	    float *const *y, size_t n_w, const float *x, size_t n_tok, char **err);
	/* Row i of the embedding matrix, dequantized, for each token. */
	int (*embed)(struct backend *be, const struct gguf_tensor *emb, const int32_t *tokens,
	    size_t n_tok, float *out, char **err);
	/* y[t] = x[t] / rms(x[t]) * w, rows of n. x and y may be the same. */
	void (*rmsnorm)(struct backend *be, const float *x, const float *w, float *y,
	    size_t n_tok, size_t n, float eps);
	/* Rotate n_heads heads of head_dim in each of n_tok rows at positions pos[t]. */
	void (*rope)(struct backend *be, float *x, size_t n_tok, size_t n_heads, size_t head_dim,
	    const int64_t *pos, const struct rope_table *rt);
	/* out[t][j] = silu(gate[t][j]) * up[t][j] for rows of n at the given strides. */
	void (*swiglu)(struct backend *be, const float *gate, const float *up, size_t stride_in,
	    float *out, size_t n_tok, size_t n);
	/* The same with gelu (GELU's tanh form) in place of silu. */
	void (*geglu)(struct backend *be, const float *gate, const float *up, size_t stride_in,
	    float *out, size_t n_tok, size_t n);
	/* Allocate KV memory of this shape (replacing any earlier one). */
	int (*kv_alloc)(struct backend *be, const struct kv_shape *shape, char **err);
	/* Store n_tok rows of K and V (n_head_kv*head_dim each) of one layer at pos0.. */
	void (*kv_store)(struct backend *be, uint32_t layer, uint32_t pos0, size_t n_tok,
	    const float *k, const float *v);
	/* Copy n_tok positions pos0.. of one layer's K and V out as rows in the KV file's
	 * format (engine/kv-file.h): fp16 values, or per row ggml's Q8_0 blocks (an fp16 scale
	 * and 32 int8 values each). What kv_read gives, kv_write puts back bit for bit: that is
	 * how a cache leaves memory for the disk and comes back. Either side may be NULL: K or V
	 * alone. */
	void (*kv_read)(struct backend *be, uint32_t layer, uint32_t pos0, size_t n_tok,
	    void *k_rows, void *v_rows);
	void (*kv_write)(struct backend *be, uint32_t layer, uint32_t pos0, size_t n_tok,
	    const void *k_rows, const void *v_rows);
	/* Causal attention of n_tok query rows (n_head heads of head_dim, at positions
	 * pos0..pos0+n_tok-1) over the layer's stored keys 0..pos; out has the layout of q.
	 * scale multiplies the logits before the softmax. window > 0 makes it a sliding window:
	 * the query at pos sees only the keys pos-window+1..pos. */
	void (*attention)(struct backend *be, uint32_t layer, const float *q, size_t n_tok,
	    uint32_t pos0, uint32_t n_head, float scale, uint32_t window, float *out);
	void (*destroy)(struct backend *be);
};

struct backend {
	const struct backend_ops *ops;
	int n_threads;
};

/* backend-cpu.c: the CPU backend with n_threads workers (a persistent pool). */
int backend_cpu_create(int n_threads, struct backend **out, char **err);

#endif
