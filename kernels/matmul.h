/* matmul.h: the CPU matrix products of the forward pass: y = W x for one activation vector
 * (decode) and for a batch of them (prefill), W in any type quant.h computes with, split by
 * rows over a thread pool.
 *
 * W is n_rows rows of n_cols elements stored row after row (GGUF layout: ne[0] = n_cols);
 * n_cols must be a whole number of the type's blocks. X holds n_tokens rows of n_cols floats
 * and Y receives n_tokens rows of n_rows floats: Y[t*n_rows + r] = dot(W row r, X row t).
 * The activations are quantized once per call (Q8_0, Q8_1 or Q8_K, see quant.h); several
 * products sharing one input (q, k and v) can quantize once with quant_act_prepare() and go
 * through the pool together with matmul_many(). The kernels take up to four tokens per pass over a weight row (four weight rows
 * at a time where the SIMD level has a multi-row kernel) and keep a tile of weight rows in L1
 * while all the tokens go by. Every output is computed with ggml's order of operations for the
 * 32-element block types, whatever the tiling, so results do not depend on batch or threads. */
#ifndef QUIRE_KERNELS_MATMUL_H
#define QUIRE_KERNELS_MATMUL_H

#include <stddef.h>

#include "kernels/quant.h"

struct threadpool;

/* Y = W X as above; tp may be NULL (one thread). -1 with *err on an unsupported type, a bad
 * n_cols, a misaligned W (2 bytes, 4 for f32) or sizes that overflow. */
int matmul(struct threadpool *tp, enum ggml_type type, const void *w, size_t n_rows,
    size_t n_cols, const float *x, size_t n_tokens, float *y, char **err);

/* flags of matmul_act(): MATMUL_Q4_K_X8 sums q4_K weights in the order of llama.cpp's
 * repacked q4_K kernels instead of its vec_dot's (quant.h, dot_q4_K_x8); ignored for the other
 * types. llama.cpp repacks the q4_K matrices a matrix product reads whose row count is a
 * multiple of 8; a caller after its bits passes the flag for those. */
#define MATMUL_Q4_K_X8 1u

/* The same with activations already prepared for this weight type (act->n is n_cols). */
int matmul_act(struct threadpool *tp, enum ggml_type type, const void *w, size_t n_rows,
    const struct quant_act *act, unsigned flags, float *y, char **err);

/* One product of matmul_many(): n_rows rows of type at w (flags as for matmul_act()) into y. */
struct matmul_spec {
	enum ggml_type type;
	const void *w;
	size_t n_rows;
	unsigned flags;
	float *y;
};

#define MATMUL_MAX_PARTS 4

/* Up to MATMUL_MAX_PARTS products of the same prepared activations (q, k and v; gate and up)
 * in one pass of the pool, so its threads start and meet once for all of them. Each spec's
 * type must take act's type. The results are those of one matmul_act() call per spec. */
int matmul_many(struct threadpool *tp, const struct matmul_spec *specs, size_t n_specs,
    const struct quant_act *act, char **err);
int matmul_many_with(const struct quant_kernels *k, struct threadpool *tp,
    const struct matmul_spec *specs, size_t n_specs, const struct quant_act *act, char **err);

/* The same with an explicit kernel table (tests and benchmarks compare SIMD levels). */
int matmul_act_with(const struct quant_kernels *k, struct threadpool *tp, enum ggml_type type,
    const void *w, size_t n_rows, const struct quant_act *act, unsigned flags, float *y,
    char **err);

#endif
