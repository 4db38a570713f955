/* geglu-cpu.c: GeGLU rows through ggml's fp16 GELU table (kernels/geglu-cpu.h). A table
 * lookup per element: there is nothing for SIMD to do that would keep ggml's bits. */
#include "kernels/geglu-cpu.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>

#include "kernels/quant.h"

static uint16_t gelu_table[1 << 16];     /* fp16 bits -> fp16 bits of gelu */
static pthread_once_t gelu_once = PTHREAD_ONCE_INIT;

/* ggml's 1 + a*x*x is compiled to one fused multiply-add (GCC contracts it on FMA machines,
 * where llama.cpp builds its table); the rest has nothing to fuse. */
float gelu_tanh(float x)
{
	const float a = 0.044715f, s = 0.79788456080286535587989211986876f;
	return 0.5f * x * (1.0f + tanhf(s * x * fmaf(a * x, x, 1.0f)));
}

static void gelu_table_fill(void)
{
	for (uint32_t i = 0; i < 1u << 16; i++)
		gelu_table[i] = quant_f32_to_fp16(gelu_tanh(quant_fp16_to_f32((uint16_t)i)));
}

void geglu_row(const float *gate, const float *up, float *out, size_t n)
{
	pthread_once(&gelu_once, gelu_table_fill);
	for (size_t i = 0; i < n; i++) {
		float g = gate[i];
		if (g <= -10.0f)
			out[i] = 0.0f;
		else if (g >= 10.0f)
			out[i] = g * up[i];
		else
			out[i] = quant_fp16_to_f32(gelu_table[quant_f32_to_fp16(g)]) * up[i];
	}
}
