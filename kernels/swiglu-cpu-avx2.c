/* swiglu-cpu-avx2.c: SwiGLU rows with AVX2 + FMA + F16C: ggml's 16-lane silu as two 8-lane
 * halves (kernels/ggml-vec-math.h), the same bits as the other levels. */
#include "kernels/swiglu-cpu-impl.h"

#if CPU_SIMD_X86
#include "kernels/ggml-vec-math.h"

GGML_VM_AVX2 void swiglu_row_avx2(const float *gate, const float *up, float *out, size_t n)
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
#endif
