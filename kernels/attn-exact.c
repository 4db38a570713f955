/* attn-exact.c: attention's products and softmax in llama.cpp's order of operations (its
 * AVX-512 build, no flash attention, fp16 KV), for scalar C, AVX2 and AVX-512, which all
 * give the same bits.
 *
 * What ggml does, and so what every kernel here reproduces:
 *  - gemm (tinyBLAS, two or more query tokens): each output element has ONE 16-lane
 *    accumulator; element k of the reduction goes into lane k % 16 by fma, in order of k; the
 *    result is the lanes' sum in _mm512_reduce_add_ps's order (ggml_hsum16). For q.k the
 *    reduction runs over the head's dims, for p.v over the key positions.
 *  - vec_dot (ggml_vec_dot_f16, one query token): four 16-lane accumulators over steps of 64
 *    elements (element k into accumulator (k % 64) / 16, lane k % 16), combined as
 *    (a0 + a2) + (a1 + a3), summed in reduce order, then widened to double; the elements past
 *    the last whole step are added one by one in double (as fp32 products); the double is
 *    rounded to fp32. For p.v the reduction length is the key count padded to
 *    ATTN_EXACT_KV_PAD, which moves that tail.
 *  - softmax (ggml_vec_soft_max_f32): e^(s - max) by ggml_v_expf in chunks of 16 positions
 *    from 0 (masked positions give 0), each chunk summed in reduce order in fp32 and added to
 *    a double; then every value times (float)(1/sum), and rounded to fp16 for the p.v product.
 * Only the lanes that hold data differ between the widths: a vector over head dims where ggml
 * reduces over positions, two 8-lane halves where it has one 16-lane vector.
 *
 * This file holds the portable forms (the definitions) and the choice of level; AVX2 and
 * AVX-512 are in attn-exact-avx2.c and attn-exact-avx512.c. */
#include "kernels/attn-exact.h"

#include <math.h>

#include "kernels/attn-exact-impl.h"
#include "kernels/ggml-vec-math.h"

/* ---- scalar: the definitions ------------------------------------------------------------ */

void attn_exact_qk_gemm_scalar(const float *q, const uint16_t *k, size_t k_stride, size_t n,
    size_t dim, float scale, float *scores)
{
	for (size_t p = 0; p < n; p++) {
		const uint16_t *kp = k + p * k_stride;
		float acc[16] = { 0 };
		for (size_t d = 0; d < dim; d++)
			acc[d % 16] = fmaf(quant_fp16_to_f32(kp[d]), q[d], acc[d % 16]);
		scores[p] = ggml_hsum16(acc) * scale;
	}
}

/* vec_dot's accumulators (k % 64) combined for lane l: (a0 + a2) + (a1 + a3). */
static void vec_dot_fold(const float *acc64, float *lanes)
{
	for (int l = 0; l < 16; l++)
		lanes[l] = (acc64[l] + acc64[32 + l]) + (acc64[16 + l] + acc64[48 + l]);
}

static void qk_vec_dot_scalar(const float *q, const uint16_t *k, size_t k_stride, size_t n,
    size_t dim, float scale, float *scores)
{
	size_t np = dim & ~(size_t)63;
	for (size_t p = 0; p < n; p++) {
		const uint16_t *kp = k + p * k_stride;
		float acc[64] = { 0 }, lanes[16];
		for (size_t d = 0; d < np; d++)
			acc[d % 64] = fmaf(quant_fp16_to_f32(kp[d]), q[d], acc[d % 64]);
		vec_dot_fold(acc, lanes);
		double sum = (double)ggml_hsum16(lanes);
		for (size_t d = np; d < dim; d++)
			sum += (double)(quant_fp16_to_f32(kp[d]) * q[d]);
		scores[p] = (float)sum * scale;
	}
}

static void softmax_scalar(float *s, size_t n)
{
	float mx = -INFINITY;
	for (size_t p = 0; p < n; p++)
		mx = s[p] > mx ? s[p] : mx;
	double sum = 0.0;
	for (size_t c = 0; c < n; c += 16) {
		float e[16];
		for (size_t l = 0; l < 16; l++)
			e[l] = c + l < n ? ggml_expf1(s[c + l] - mx) : 0.0f;
		for (size_t l = 0; l < 16 && c + l < n; l++)
			s[c + l] = e[l];
		sum += (double)ggml_hsum16(e);
	}
	float inv = (float)(1.0 / sum);
	for (size_t p = 0; p < n; p++)
		s[p] = fp16_round(s[p] * inv);
}

void attn_exact_wv_gemm_scalar(const float *w, const uint16_t *v, size_t v_stride, size_t n,
    size_t dim, float *out)
{
	for (size_t d = 0; d < dim; d++) {
		float acc[16] = { 0 };
		for (size_t p = 0; p < n; p++)
			acc[p % 16] = fmaf(quant_fp16_to_f32(v[p * v_stride + d]), w[p], acc[p % 16]);
		out[d] = ggml_hsum16(acc);
	}
}

void attn_exact_wv_vec_dot_scalar(const float *w, const uint16_t *v, size_t v_stride, size_t n,
    size_t dim, float *out)
{
	size_t np = wv_vec_dot_steps(n);
	for (size_t d = 0; d < dim; d++) {
		float acc[64] = { 0 }, lanes[16];
		for (size_t p = 0; p < np; p++)
			acc[p % 64] = fmaf(quant_fp16_to_f32(v[p * v_stride + d]), w[p], acc[p % 64]);
		vec_dot_fold(acc, lanes);
		double sum = (double)ggml_hsum16(lanes);
		for (size_t p = np; p < n; p++)
			sum += (double)(quant_fp16_to_f32(v[p * v_stride + d]) * w[p]);
		out[d] = (float)sum;
	}
}

static const struct attn_exact_kernels attn_exact_kernels_scalar = {
	"scalar", attn_exact_qk_gemm_scalar, qk_vec_dot_scalar, softmax_scalar,
	attn_exact_wv_gemm_scalar, attn_exact_wv_vec_dot_scalar
};

static const struct attn_exact_kernels *const by_level[CPU_SIMD_COUNT_] = {
	&attn_exact_kernels_scalar, CPU_SIMD_X86_ONLY(&attn_exact_kernels_avx2),
	CPU_SIMD_X86_ONLY(&attn_exact_kernels_avx512)
};

const struct attn_exact_kernels *attn_exact_for(int level)
{
	return CPU_SIMD_PICK(by_level, level);
}

const struct attn_exact_kernels *attn_exact_active(void)
{
	return CPU_SIMD_PICK_ACTIVE(by_level);
}
