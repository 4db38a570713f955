/* swiglu-cpu.c: SwiGLU rows with ggml's AVX-512 arithmetic in scalar C, AVX2 and AVX-512,
 * the same bits at every level (kernels/ggml-vec-math.h). */
#include "kernels/swiglu-cpu.h"

#include <math.h>

#include "kernels/cpu-features.h"
#include "kernels/ggml-vec-math.h"

/* ggml's scalar tail: libm's expf, not the vector polynomial. */
static void swiglu_tail(const float *gate, const float *up, float *out, size_t i, size_t n)
{
	for (; i < n; i++)
		out[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i];
}

static void swiglu_scalar(const float *gate, const float *up, float *out, size_t n)
{
	size_t body = n - n % 16;   /* what ggml's 16-lane loop covers */
	for (size_t i = 0; i < body; i++)
		out[i] = ggml_silu1(gate[i]) * up[i];
	swiglu_tail(gate, up, out, body, n);
}

#if defined(__x86_64__) || defined(__i386__)
GGML_VM_AVX2 static void swiglu_avx2(const float *gate, const float *up, float *out, size_t n)
{
	size_t i = 0;
	for (; i + 16 <= n; i += 16) {
		__m256 lo = ggml_silu8(_mm256_loadu_ps(gate + i));
		__m256 hi = ggml_silu8(_mm256_loadu_ps(gate + i + 8));
		_mm256_storeu_ps(out + i, _mm256_mul_ps(lo, _mm256_loadu_ps(up + i)));
		_mm256_storeu_ps(out + i + 8, _mm256_mul_ps(hi, _mm256_loadu_ps(up + i + 8)));
	}
	swiglu_tail(gate, up, out, i, n);
}

GGML_VM_AVX512 static void swiglu_avx512(const float *gate, const float *up, float *out,
    size_t n)
{
	size_t i = 0;
	for (; i + 16 <= n; i += 16)
		_mm512_storeu_ps(out + i, _mm512_mul_ps(ggml_silu16(_mm512_loadu_ps(gate + i)),
		    _mm512_loadu_ps(up + i)));
	swiglu_tail(gate, up, out, i, n);
}
#endif

swiglu_row_fn swiglu_row_for(int level)
{
	if (!cpu_simd_supported((enum cpu_simd_level)level))
		return NULL;
	switch (level) {
#if defined(__x86_64__) || defined(__i386__)
	case CPU_SIMD_AVX512: return swiglu_avx512;
	case CPU_SIMD_AVX2: return swiglu_avx2;
#endif
	case CPU_SIMD_SCALAR: return swiglu_scalar;
	default: return NULL;
	}
}

swiglu_row_fn swiglu_row_active(void)
{
	swiglu_row_fn f = swiglu_row_for(cpu_simd_level());
	return f ? f : swiglu_scalar;
}
