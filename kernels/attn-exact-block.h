/* attn-exact-block.h: llama.cpp's prefill attention (kernels/attn-exact.c's gemm path: q.K
 * and p.V in tinyBLAS's order, ggml's softmax) for a block of query rows against one KV head
 * at once, so each key and value is read and converted from fp16 once per block instead of
 * once per row; the bits are those of the per-row gemm path. */
#ifndef QUIRE_KERNELS_ATTN_EXACT_BLOCK_H
#define QUIRE_KERNELS_ATTN_EXACT_BLOCK_H

#include <stddef.h>
#include <stdint.h>

/* Most query rows per call, and the largest head dim (which must be a multiple of 16). */
#define ATTN_EXACT_BLOCK_ROWS 64
#define ATTN_EXACT_BLOCK_MAX_DIM 1024

/* For each row r < n_rows (<= ATTN_EXACT_BLOCK_ROWS): out[r] = softmax(scale * q[r].K^T) . V
 * over keys 0..n_keys[r]-1, exactly as attn_exact_kernels' qk_gemm, softmax and wv_gemm give
 * it for that row alone (q[r] is rounded to fp16 here, as the caller of those does). k and v
 * hold fp16 rows every kv_stride values; dim % 16 == 0, dim <= ATTN_EXACT_BLOCK_MAX_DIM.
 * A row with n_keys 0 gets zeros. scratch: attn_exact_block_scratch_floats() floats. */
typedef void (*attn_exact_block_fn)(const float *const *q, const uint32_t *n_keys,
    size_t n_rows, const uint16_t *k, const uint16_t *v, size_t kv_stride, size_t dim,
    float scale, float *const *out, float *scratch);

/* Scratch floats one call needs for n_rows rows of dim values and at most max_keys keys. */
size_t attn_exact_block_scratch_floats(size_t n_rows, size_t max_keys, size_t dim);

/* The kernel of a level (enum cpu_simd_level), or NULL if the CPU lacks it. */
attn_exact_block_fn attn_exact_block_for(int level);
/* The kernel of the active SIMD level (kernels/cpu-features.h). */
attn_exact_block_fn attn_exact_block_active(void);

#endif
