/* swiglu-cpu.c: SwiGLU rows with ggml's AVX-512 arithmetic, the same bits at every level
 * (kernels/ggml-vec-math.h): the portable form and the choice of level; the SIMD forms are in
 * swiglu-cpu-avx2.c and swiglu-cpu-avx512.c. */
#include "kernels/swiglu-cpu.h"

#include "kernels/ggml-vec-math.h"
#include "kernels/swiglu-cpu-impl.h"

static void swiglu_scalar(const float *gate, const float *up, float *out, size_t n)
{
	size_t body = n - n % 16;   /* what ggml's 16-lane loop covers */
	for (size_t i = 0; i < body; i++)
		out[i] = ggml_silu1(gate[i]) * up[i];
	swiglu_tail(gate, up, out, body, n);
}

static const swiglu_row_fn by_level[CPU_SIMD_COUNT_] = {
	swiglu_scalar, CPU_SIMD_X86_ONLY(swiglu_row_avx2), CPU_SIMD_X86_ONLY(swiglu_row_avx512)
};

swiglu_row_fn swiglu_row_for(int level)
{
	return CPU_SIMD_PICK(by_level, level);
}

swiglu_row_fn swiglu_row_active(void)
{
	return CPU_SIMD_PICK_ACTIVE(by_level);
}
