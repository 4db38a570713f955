/* swiglu-cpu-avx512.c: SwiGLU rows with AVX-512: ggml's own 16-lane silu
 * (kernels/ggml-vec-math.h). */
#include "kernels/swiglu-cpu-impl.h"

#if CPU_SIMD_X86
#include "kernels/ggml-vec-math.h"

GGML_VM_AVX512 void swiglu_row_avx512(const float *gate, const float *up, float *out,
    size_t n)
{
	size_t i = 0;
	for (; i + 16 <= n; i += 16)
		_mm512_storeu_ps(out + i, _mm512_mul_ps(ggml_silu16(_mm512_loadu_ps(gate + i)),
		    _mm512_loadu_ps(up + i)));
	swiglu_tail(gate, up, out, i, n);
}
#endif
