/* attn-decode-q8.h: the split-K decode attention of kernels/attn-decode.h over a q8_0 KV
 * memory (--kv-type q8_0). Keys and values hold ggml's Q8_0 numbers: blocks of 32 int8 values
 * q with an fp16 scale d, x = d * q, about half the bytes of fp16. A KV head's int8 values
 * and its scales are kept apart, the scales of consecutive positions side by side, so that a
 * tile's scales are one vector load. The keys go in groups of 16 positions, in the order
 * VNNI multiplies them in (attn_q8_key_index): one 64-byte vector holds four dims of 16 keys,
 * and its product with four query values broadcast is 16 keys' partial dot products at once.
 *
 * As llama.cpp does before a q8_0 key (ggml's vec_dot_type), the query is quantized to Q8_0
 * numbers (quant_quantize_row_q8_0) and q.k runs in integers block by block, each block's
 * sum scaled by the two fp16 scales; the probabilities and the values meet in f32. */
#ifndef QUIRE_KERNELS_ATTN_DECODE_Q8_H
#define QUIRE_KERNELS_ATTN_DECODE_Q8_H

#include <stddef.h>
#include <stdint.h>

#define ATTN_DECODE_Q8_MAX_ROWS 32   /* query rows per call */
#define ATTN_DECODE_Q8_TILE 64       /* keys per tile of the online softmax */
#define ATTN_DECODE_Q8_MAX_DIM 256

/* Where value i of key j of a KV head sits among its keys (dim values each): groups of 16
 * keys, each dim/4 vectors of 64 bytes, vector e holding dims 4e..4e+3 of the 16 keys, key
 * j % 16's four at bytes 4(j % 16)..4(j % 16)+3. */
static inline size_t attn_q8_key_index(size_t j, size_t i, size_t dim)
{
	return j / 16 * 16 * dim + i / 4 * 64 + j % 16 * 4 + i % 4;
}

/* One KV head's keys and values from key 0 of a call's range, which starts a group of 16. */
struct attn_q8_kv {
	const int8_t *k;             /* the keys from key 0 on, as attn_q8_key_index says */
	const int8_t *v;             /* key j's values: v + j * v_stride (dim of them) */
	const uint16_t *ks, *vs;     /* key j's block b's scale (fp16): ks[b * s_stride + j] */
	size_t v_stride, s_stride;
};

/* A query row in Q8_0 numbers, made once for all the calls over its parts of the keys. */
struct attn_q8_query {
	_Alignas(64) int8_t q[ATTN_DECODE_Q8_MAX_DIM];
	float d[ATTN_DECODE_Q8_MAX_DIM / 32];   /* each block's fp16 scale times the score scale */
	int32_t c[ATTN_DECODE_Q8_MAX_DIM / 32]; /* 128 times each block's sum of q */
};

/* Query row x (dim values, a multiple of 32 up to ATTN_DECODE_Q8_MAX_DIM) quantized as
 * quant_quantize_row_q8_0 does, for scores scale * q.k. */
void attn_decode_q8_query(const float *x, size_t dim, float scale, struct attn_q8_query *out);

struct attn_decode_q8_kernels {
	const char *name;
	/* As attn_decode_kernels.run, with the queries made by attn_decode_q8_query: rows
	 * r < n_rows (1..ATTN_DECODE_Q8_MAX_ROWS) see keys j < lim[r] (lim[r] <= n_keys); o[r]
	 * and lse[r] as there. dim: the queries'. scratch: attn_decode_q8_scratch_floats(dim)
	 * floats, 64-byte aligned. */
	void (*run)(const struct attn_q8_query *const *q, const uint32_t *lim, size_t n_rows,
	    const struct attn_q8_kv *kv, size_t n_keys, size_t dim, float *const *o, float *lse,
	    float *scratch);
	/* Keys and values j0 <= j < j1 back to fp16, dequantized and
	 * rounded: key j's dim values to k_out + j * out_stride, its values to v_out + ...
	 * The same bits at every level. */
	void (*to_fp16)(const struct attn_q8_kv *kv, size_t dim, size_t j0, size_t j1,
	    uint16_t *k_out, uint16_t *v_out, size_t out_stride);
};

size_t attn_decode_q8_scratch_floats(size_t dim);

/* The kernels of the active SIMD level: AVX-512 (VNNI), AVX2 or portable. */
const struct attn_decode_q8_kernels *attn_decode_q8_active(void);
/* The kernels of a level (enum cpu_simd_level), or NULL if the CPU lacks it or there is none
 * for it. */
const struct attn_decode_q8_kernels *attn_decode_q8_for(int level);

#endif
