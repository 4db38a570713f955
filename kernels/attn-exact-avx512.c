/* attn-exact-avx512.c: attn-exact.c's kernels for AVX-512, the same bits as the portable
 * forms there: ggml's own vectors where it reduces over head dims (compiled per function with
 * target attributes). */
#include "kernels/attn-exact-impl.h"

#if CPU_SIMD_X86
#include <math.h>

#include "kernels/ggml-vec-math.h"

#define A5 GGML_VM_AVX512

A5 static inline __m512 cvt16(const uint16_t *p)
{
	return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
}

A5 static void qk_gemm_avx512(const float *q, const uint16_t *k, size_t k_stride, size_t n,
    size_t dim, float scale, float *scores)
{
	if (dim % 16 != 0) {
		attn_exact_qk_gemm_scalar(q, k, k_stride, n, dim, scale, scores);
		return;
	}
	/* Four positions at a time keep four independent accumulator chains busy. */
	size_t p = 0;
	for (; p + 4 <= n; p += 4) {
		const uint16_t *k0 = k + p * k_stride;
		__m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
		__m512 a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
		for (size_t d = 0; d < dim; d += 16) {
			__m512 qd = _mm512_loadu_ps(q + d);
			a0 = _mm512_fmadd_ps(cvt16(k0 + d), qd, a0);
			a1 = _mm512_fmadd_ps(cvt16(k0 + k_stride + d), qd, a1);
			a2 = _mm512_fmadd_ps(cvt16(k0 + 2 * k_stride + d), qd, a2);
			a3 = _mm512_fmadd_ps(cvt16(k0 + 3 * k_stride + d), qd, a3);
		}
		scores[p] = ggml_hsum16_512(a0) * scale;
		scores[p + 1] = ggml_hsum16_512(a1) * scale;
		scores[p + 2] = ggml_hsum16_512(a2) * scale;
		scores[p + 3] = ggml_hsum16_512(a3) * scale;
	}
	for (; p < n; p++) {
		const uint16_t *kp = k + p * k_stride;
		__m512 a0 = _mm512_setzero_ps();
		for (size_t d = 0; d < dim; d += 16)
			a0 = _mm512_fmadd_ps(cvt16(kp + d), _mm512_loadu_ps(q + d), a0);
		scores[p] = ggml_hsum16_512(a0) * scale;
	}
}

A5 static void qk_vec_dot_avx512(const float *q, const uint16_t *k, size_t k_stride, size_t n,
    size_t dim, float scale, float *scores)
{
	size_t np = dim & ~(size_t)63;
	for (size_t p = 0; p < n; p++) {
		const uint16_t *kp = k + p * k_stride;
		__m512 a[4];
		for (int j = 0; j < 4; j++)
			a[j] = _mm512_setzero_ps();
		for (size_t d = 0; d < np; d += 64)
			for (int j = 0; j < 4; j++)
				a[j] = _mm512_fmadd_ps(cvt16(kp + d + 16 * j), _mm512_loadu_ps(q + d + 16 * j),
				    a[j]);
		double sum = (double)ggml_hsum16_512(_mm512_add_ps(_mm512_add_ps(a[0], a[2]),
		    _mm512_add_ps(a[1], a[3])));
		for (size_t d = np; d < dim; d++)
			sum += (double)(quant_fp16_to_f32(kp[d]) * q[d]);
		scores[p] = (float)sum * scale;
	}
}

A5 static void softmax_avx512(float *s, size_t n)
{
	__m512 mv = _mm512_set1_ps(-INFINITY);
	size_t c = 0;
	for (; c + 16 <= n; c += 16)
		mv = _mm512_max_ps(mv, _mm512_loadu_ps(s + c));
	__mmask16 tail = (__mmask16)((1u << (n - c)) - 1);
	mv = _mm512_max_ps(mv, _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), tail, s + c));
	__m512 mxv = _mm512_set1_ps(_mm512_reduce_max_ps(mv));
	double sum = 0.0;
	for (c = 0; c + 16 <= n; c += 16) {
		__m512 e = ggml_expf16(_mm512_sub_ps(_mm512_loadu_ps(s + c), mxv));
		_mm512_storeu_ps(s + c, e);
		sum += (double)ggml_hsum16_512(e);
	}
	if (c < n) {
		/* The last, partial chunk: masked positions are e^-inf = 0, as in ggml. */
		__m512 e = ggml_expf16(_mm512_sub_ps(_mm512_mask_loadu_ps(
		    _mm512_set1_ps(-INFINITY), tail, s + c), mxv));
		_mm512_mask_storeu_ps(s + c, tail, e);
		sum += (double)ggml_hsum16_512(e);
	}
	__m512 inv = _mm512_set1_ps((float)(1.0 / sum));
	for (c = 0; c < n; c += 16) {
		__mmask16 m = n - c >= 16 ? (__mmask16)0xffff : tail;
		__m512 x = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, s + c), inv);
		_mm512_mask_storeu_ps(s + c, m, _mm512_cvtph_ps(_mm512_cvtps_ph(x,
		    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)));
	}
}

A5 static inline __m512 tree16_512(const __m512 *acc)
{
	__m512 t3[8], t6[4];
	for (int i = 0; i < 8; i++)
		t3[i] = _mm512_add_ps(acc[i + 8], acc[i]);
	for (int i = 0; i < 4; i++)
		t6[i] = _mm512_add_ps(t3[i + 4], t3[i]);
	return _mm512_add_ps(_mm512_add_ps(t6[0], t6[2]), _mm512_add_ps(t6[1], t6[3]));
}

/* acc[l] += w[p] * v[p][d0..d0+15] for p = first + step*c + l < end (16 lanes). */
A5 static inline void lanes16_512(const float *w, const uint16_t *v, size_t v_stride,
    size_t d0, size_t first, size_t step, size_t end, __m512 *acc)
{
	size_t c = first;
	for (; c + 16 <= end; c += step) {
		const uint16_t *vc = v + c * v_stride + d0;
		_Pragma("GCC unroll 16")
		for (size_t l = 0; l < 16; l++)
			acc[l] = _mm512_fmadd_ps(cvt16(vc + l * v_stride), _mm512_set1_ps(w[c + l]),
			    acc[l]);
	}
	for (size_t l = 0; c + l < end && l < 16; l++)
		acc[l] = _mm512_fmadd_ps(cvt16(v + (c + l) * v_stride + d0), _mm512_set1_ps(w[c + l]),
		    acc[l]);
}

A5 static void wv_gemm_avx512(const float *w, const uint16_t *v, size_t v_stride, size_t n,
    size_t dim, float *out)
{
	if (dim % 16 != 0) {
		attn_exact_wv_gemm_avx2(w, v, v_stride, n, dim, out);
		return;
	}
	for (size_t d0 = 0; d0 < dim; d0 += 16) {
		__m512 acc[16];
		for (int l = 0; l < 16; l++)
			acc[l] = _mm512_setzero_ps();
		lanes16_512(w, v, v_stride, d0, 0, 16, n, acc);
		_mm512_storeu_ps(out + d0, tree16_512(acc));
	}
}

A5 static void wv_vec_dot_avx512(const float *w, const uint16_t *v, size_t v_stride, size_t n,
    size_t dim, float *out)
{
	if (dim % 16 != 0) {
		attn_exact_wv_vec_dot_avx2(w, v, v_stride, n, dim, out);
		return;
	}
	size_t np = wv_vec_dot_steps(n);
	for (size_t d0 = 0; d0 < dim; d0 += 16) {
		__m512 acc[4][16], fold[16];
		for (int j = 0; j < 4; j++) {
			for (int l = 0; l < 16; l++)
				acc[j][l] = _mm512_setzero_ps();
			/* accumulator j holds positions 64c + 16j + l */
			if (np > 16 * (size_t)j)
				lanes16_512(w, v, v_stride, d0, 16 * (size_t)j, 64, np, acc[j]);
		}
		for (int l = 0; l < 16; l++)
			fold[l] = _mm512_add_ps(_mm512_add_ps(acc[0][l], acc[2][l]),
			    _mm512_add_ps(acc[1][l], acc[3][l]));
		__m512 r = tree16_512(fold);
		__m512d s0 = _mm512_cvtps_pd(_mm512_castps512_ps256(r));
		__m512d s1 = _mm512_cvtps_pd(_mm512_extractf32x8_ps(r, 1));
		for (size_t p = np; p < n; p++) {
			__m512 prod = _mm512_mul_ps(cvt16(v + p * v_stride + d0), _mm512_set1_ps(w[p]));
			s0 = _mm512_add_pd(s0, _mm512_cvtps_pd(_mm512_castps512_ps256(prod)));
			s1 = _mm512_add_pd(s1, _mm512_cvtps_pd(_mm512_extractf32x8_ps(prod, 1)));
		}
		_mm256_storeu_ps(out + d0, _mm512_cvtpd_ps(s0));
		_mm256_storeu_ps(out + d0 + 8, _mm512_cvtpd_ps(s1));
	}
}
#undef A5

const struct attn_exact_kernels attn_exact_kernels_avx512 = {
	"avx512", qk_gemm_avx512, qk_vec_dot_avx512, softmax_avx512, wv_gemm_avx512,
	wv_vec_dot_avx512
};
#endif
