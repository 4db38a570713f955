/* attn-cpu-impl.h: what the attn-cpu*.c files share and nothing else includes: the flash
 * kernels' sizes, the forms a level falls back on for head sizes its own does not take, and
 * the SIMD levels' kernel tables. */
#ifndef QUIRE_KERNELS_ATTN_CPU_IMPL_H
#define QUIRE_KERNELS_ATTN_CPU_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/attn-cpu.h"
#include "kernels/cpu-features.h"

#define FL_R ATTN_FLASH_ROWS
#define FL_T ATTN_FLASH_TILE

/* attn-cpu.c: the portable qk and wv */
void attn_qk_scalar(const float *q, const uint16_t *k, size_t k_stride, size_t n, size_t dim,
    float scale, float *scores);
void attn_wv_scalar(const float *w, const uint16_t *v, size_t v_stride, size_t n, size_t dim,
    float *out);

#if CPU_SIMD_X86
/* attn-cpu-avx2.c: its qk and wv (AVX-512's for head sizes that are not multiples of 16) */
void attn_qk_avx2(const float *q, const uint16_t *k, size_t k_stride, size_t n, size_t dim,
    float scale, float *scores);
void attn_wv_avx2(const float *w, const uint16_t *v, size_t v_stride, size_t n, size_t dim,
    float *out);

/* attn-cpu-avx2.c, attn-cpu-avx512.c */
extern const struct attn_kernels attn_kernels_avx2;
extern const struct attn_kernels attn_kernels_avx512;
#endif

#endif
