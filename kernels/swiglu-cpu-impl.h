/* swiglu-cpu-impl.h: what the swiglu-cpu*.c files share and nothing else includes: the row's
 * scalar tail and the SIMD levels' row functions. */
#ifndef QUIRE_KERNELS_SWIGLU_CPU_IMPL_H
#define QUIRE_KERNELS_SWIGLU_CPU_IMPL_H

#include <math.h>
#include <stddef.h>

#include "kernels/cpu-features.h"
#include "kernels/swiglu-cpu.h"

/* ggml's scalar tail: libm's expf, not the vector polynomial. */
static inline void swiglu_tail(const float *gate, const float *up, float *out, size_t i,
    size_t n)
{
	for (; i < n; i++)
		out[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i];
}

#if CPU_SIMD_X86
/* swiglu-cpu-avx2.c, swiglu-cpu-avx512.c */
void swiglu_row_avx2(const float *gate, const float *up, float *out, size_t n);
void swiglu_row_avx512(const float *gate, const float *up, float *out, size_t n);
#endif

#endif
