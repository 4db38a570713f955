/* swiglu-cpu.h: the SwiGLU activation out = silu(gate) * up on the CPU, with llama.cpp's
 * arithmetic (ggml_vec_swiglu_f32 of its AVX-512 build) at every SIMD level. */
#ifndef QUIRE_KERNELS_SWIGLU_CPU_H
#define QUIRE_KERNELS_SWIGLU_CPU_H

#include <stddef.h>

/* out[i] = silu(gate[i]) * up[i] for i < n, one row: chunks of 16 from the row's start take
 * ggml_v_silu, the last n % 16 elements ggml's scalar x / (1 + expf(-x)). out may be gate. */
typedef void (*swiglu_row_fn)(const float *gate, const float *up, float *out, size_t n);

/* The row function of the active SIMD level (kernels/cpu-features.h), or of a given level
 * (NULL if the CPU lacks it). */
swiglu_row_fn swiglu_row_active(void);
swiglu_row_fn swiglu_row_for(int level);

#endif
