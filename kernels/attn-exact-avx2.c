/* attn-exact-avx2.c: attn-exact.c's kernels for AVX2 + FMA + F16C, the same bits as the
 * portable forms there: 8-lane halves of ggml's 16-lane vectors, over head dims for p.v
 * (compiled per function with target attributes). */
#include "kernels/attn-exact-impl.h"

#if CPU_SIMD_X86
#include <math.h>
#include <string.h>

#include "kernels/ggml-vec-math.h"

#define A2 GGML_VM_AVX2

A2 static inline __m256 cvt8(const uint16_t *p)
{
	return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}

A2 static void qk_gemm_avx2(const float *q, const uint16_t *k, size_t k_stride, size_t n,
    size_t dim, float scale, float *scores)
{
	if (dim % 16 != 0) {
		attn_exact_qk_gemm_scalar(q, k, k_stride, n, dim, scale, scores);
		return;
	}
	for (size_t p = 0; p < n; p++) {
		const uint16_t *kp = k + p * k_stride;
		__m256 lo = _mm256_setzero_ps(), hi = _mm256_setzero_ps();
		for (size_t d = 0; d < dim; d += 16) {
			lo = _mm256_fmadd_ps(cvt8(kp + d), _mm256_loadu_ps(q + d), lo);
			hi = _mm256_fmadd_ps(cvt8(kp + d + 8), _mm256_loadu_ps(q + d + 8), hi);
		}
		scores[p] = ggml_hsum16_256(lo, hi) * scale;
	}
}

A2 static void qk_vec_dot_avx2(const float *q, const uint16_t *k, size_t k_stride, size_t n,
    size_t dim, float scale, float *scores)
{
	size_t np = dim & ~(size_t)63;
	for (size_t p = 0; p < n; p++) {
		const uint16_t *kp = k + p * k_stride;
		__m256 a[8];
		for (int j = 0; j < 8; j++)
			a[j] = _mm256_setzero_ps();
		for (size_t d = 0; d < np; d += 64)
			for (int j = 0; j < 8; j++)
				a[j] = _mm256_fmadd_ps(cvt8(kp + d + 8 * j), _mm256_loadu_ps(q + d + 8 * j),
				    a[j]);
		/* a[2j], a[2j+1]: accumulator j's lanes 0-7 and 8-15 */
		__m256 lo = _mm256_add_ps(_mm256_add_ps(a[0], a[4]), _mm256_add_ps(a[2], a[6]));
		__m256 hi = _mm256_add_ps(_mm256_add_ps(a[1], a[5]), _mm256_add_ps(a[3], a[7]));
		double sum = (double)ggml_hsum16_256(lo, hi);
		for (size_t d = np; d < dim; d++)
			sum += (double)(quant_fp16_to_f32(kp[d]) * q[d]);
		scores[p] = (float)sum * scale;
	}
}

A2 static void softmax_avx2(float *s, size_t n)
{
	__m256 mv = _mm256_set1_ps(-INFINITY);
	size_t p = 0;
	for (; p + 8 <= n; p += 8)
		mv = _mm256_max_ps(mv, _mm256_loadu_ps(s + p));
	float mx = -INFINITY, m8[8];
	_mm256_storeu_ps(m8, mv);
	for (int l = 0; l < 8; l++)
		mx = m8[l] > mx ? m8[l] : mx;
	for (; p < n; p++)
		mx = s[p] > mx ? s[p] : mx;
	__m256 mxv = _mm256_set1_ps(mx);
	double sum = 0.0;
	size_t c = 0;
	for (; c + 16 <= n; c += 16) {
		__m256 lo = ggml_expf8(_mm256_sub_ps(_mm256_loadu_ps(s + c), mxv));
		__m256 hi = ggml_expf8(_mm256_sub_ps(_mm256_loadu_ps(s + c + 8), mxv));
		_mm256_storeu_ps(s + c, lo);
		_mm256_storeu_ps(s + c + 8, hi);
		sum += (double)ggml_hsum16_256(lo, hi);
	}
	if (c < n) {
		/* The last, partial chunk: masked positions are e^-inf = 0, as in ggml. */
		float t[16];
		for (size_t l = 0; l < 16; l++)
			t[l] = c + l < n ? s[c + l] : -INFINITY;
		__m256 lo = ggml_expf8(_mm256_sub_ps(_mm256_loadu_ps(t), mxv));
		__m256 hi = ggml_expf8(_mm256_sub_ps(_mm256_loadu_ps(t + 8), mxv));
		_mm256_storeu_ps(t, lo);
		_mm256_storeu_ps(t + 8, hi);
		memcpy(s + c, t, (n - c) * sizeof(float));
		sum += (double)ggml_hsum16_256(lo, hi);
	}
	__m256 inv = _mm256_set1_ps((float)(1.0 / sum));
	for (p = 0; p + 8 <= n; p += 8)
		_mm256_storeu_ps(s + p, _mm256_cvtph_ps(_mm256_cvtps_ph(_mm256_mul_ps(
		    _mm256_loadu_ps(s + p), inv), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)));
	for (; p < n; p++)
		s[p] = fp16_round(s[p] * _mm256_cvtss_f32(inv));
}

/* The tree of ggml_hsum16 across 16 accumulators (lane l = acc[l]), elementwise. */
A2 static inline __m256 tree16_256(const __m256 *acc)
{
	__m256 t3[8], t6[4];
	for (int i = 0; i < 8; i++)
		t3[i] = _mm256_add_ps(acc[i + 8], acc[i]);
	for (int i = 0; i < 4; i++)
		t6[i] = _mm256_add_ps(t3[i + 4], t3[i]);
	return _mm256_add_ps(_mm256_add_ps(t6[0], t6[2]), _mm256_add_ps(t6[1], t6[3]));
}

/* acc[l] += w[p] * v[p][d0..d0+7] for p = first + 16c + l < end: one sweep of 16 lanes. */
A2 static inline void lanes16_256(const float *w, const uint16_t *v, size_t v_stride,
    size_t d0, size_t first, size_t step, size_t end, __m256 *acc)
{
	size_t c = first;
	for (; c + 16 <= end; c += step)
		for (size_t l = 0; l < 16; l++)
			acc[l] = _mm256_fmadd_ps(cvt8(v + (c + l) * v_stride + d0),
			    _mm256_set1_ps(w[c + l]), acc[l]);
	for (size_t l = 0; c + l < end && l < 16; l++)
		acc[l] = _mm256_fmadd_ps(cvt8(v + (c + l) * v_stride + d0), _mm256_set1_ps(w[c + l]),
		    acc[l]);
}

A2 void attn_exact_wv_gemm_avx2(const float *w, const uint16_t *v, size_t v_stride, size_t n,
    size_t dim, float *out)
{
	if (dim % 8 != 0) {
		attn_exact_wv_gemm_scalar(w, v, v_stride, n, dim, out);
		return;
	}
	for (size_t d0 = 0; d0 < dim; d0 += 8) {
		__m256 acc[16];
		for (int l = 0; l < 16; l++)
			acc[l] = _mm256_setzero_ps();
		lanes16_256(w, v, v_stride, d0, 0, 16, n, acc);
		_mm256_storeu_ps(out + d0, tree16_256(acc));
	}
}

A2 void attn_exact_wv_vec_dot_avx2(const float *w, const uint16_t *v, size_t v_stride, size_t n,
    size_t dim, float *out)
{
	if (dim % 8 != 0) {
		attn_exact_wv_vec_dot_scalar(w, v, v_stride, n, dim, out);
		return;
	}
	size_t np = wv_vec_dot_steps(n);
	for (size_t d0 = 0; d0 < dim; d0 += 8) {
		__m256 acc[4][16], fold[16];
		for (int j = 0; j < 4; j++) {
			for (int l = 0; l < 16; l++)
				acc[j][l] = _mm256_setzero_ps();
			/* accumulator j holds positions 64c + 16j + l */
			if (np > 16 * (size_t)j)
				lanes16_256(w, v, v_stride, d0, 16 * (size_t)j, 64, np, acc[j]);
		}
		for (int l = 0; l < 16; l++)
			fold[l] = _mm256_add_ps(_mm256_add_ps(acc[0][l], acc[2][l]),
			    _mm256_add_ps(acc[1][l], acc[3][l]));
		__m256 r = tree16_256(fold);
		__m256d s0 = _mm256_cvtps_pd(_mm256_castps256_ps128(r));
		__m256d s1 = _mm256_cvtps_pd(_mm256_extractf128_ps(r, 1));
		for (size_t p = np; p < n; p++) {
			__m256 prod = _mm256_mul_ps(cvt8(v + p * v_stride + d0), _mm256_set1_ps(w[p]));
			s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(prod)));
			s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(prod, 1)));
		}
		_mm_storeu_ps(out + d0, _mm256_cvtpd_ps(s0));
		_mm_storeu_ps(out + d0 + 4, _mm256_cvtpd_ps(s1));
	}
}
#undef A2

const struct attn_exact_kernels attn_exact_kernels_avx2 = {
	"avx2", qk_gemm_avx2, qk_vec_dot_avx2, softmax_avx2, attn_exact_wv_gemm_avx2,
	attn_exact_wv_vec_dot_avx2
};
#endif
