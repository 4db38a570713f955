/* geglu-cpu.h: the GeGLU activation out = gelu(gate) * up on the CPU, with llama.cpp's
 * arithmetic (ggml_vec_geglu_f32 of its CPU build, where GGML_GELU_FP16 is on). */
#ifndef QUIRE_KERNELS_GEGLU_CPU_H
#define QUIRE_KERNELS_GEGLU_CPU_H

#include <stddef.h>

/* GELU's tanh form in fp32: 0.5 x (1 + tanh(sqrt(2/pi) x (1 + 0.044715 x^2))), 1 + 0.044715 x^2
 * fused as fmaf(0.044715 x, x, 1). */
float gelu_tanh(float x);

/* out[i] = gelu(gate[i]) * up[i] for i < n as ggml computes it: gate <= -10 gives 0, gate >=
 * 10 gives gate * up, anything between is rounded to fp16 and looked up in a table of
 * gelu_tanh() over every fp16 value, itself rounded to fp16. out may be gate. */
void geglu_row(const float *gate, const float *up, float *out, size_t n);

#endif
