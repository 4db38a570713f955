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
 * reduces over positions, two 8-lane halves where it has one 16-lane vector. */
#include "kernels/attn-exact.h"

#include <float.h>
#include <math.h>
#include <string.h>

#include "kernels/cpu-features.h"
#include "kernels/ggml-vec-math.h"
#include "kernels/quant.h"

static float fp16_round(float x)
{
	return quant_fp16_to_f32(quant_f32_to_fp16(x));
}

/* ---- scalar: the definitions ------------------------------------------------------------ */

static void qk_gemm_scalar(const float *q, const uint16_t *k, size_t k_stride, size_t n,
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

static void wv_gemm_scalar(const float *w, const uint16_t *v, size_t v_stride, size_t n,
    size_t dim, float *out)
{
	for (size_t d = 0; d < dim; d++) {
		float acc[16] = { 0 };
		for (size_t p = 0; p < n; p++)
			acc[p % 16] = fmaf(quant_fp16_to_f32(v[p * v_stride + d]), w[p], acc[p % 16]);
		out[d] = ggml_hsum16(acc);
	}
}

/* The positions vec_dot covers with whole 64-element steps, after llama.cpp's padding. */
static size_t wv_vec_dot_steps(size_t n)
{
	size_t padded = (n + ATTN_EXACT_KV_PAD - 1) / ATTN_EXACT_KV_PAD * ATTN_EXACT_KV_PAD;
	size_t np = padded & ~(size_t)63;
	return np < n ? np : n;
}

static void wv_vec_dot_scalar(const float *w, const uint16_t *v, size_t v_stride, size_t n,
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

#if defined(__x86_64__) || defined(__i386__)

/* ---- AVX2: 8-lane halves of ggml's 16-lane vectors; over head dims for p.v -------------- */

#define A2 GGML_VM_AVX2

A2 static inline __m256 cvt8(const uint16_t *p)
{
	return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}

A2 static void qk_gemm_avx2(const float *q, const uint16_t *k, size_t k_stride, size_t n,
    size_t dim, float scale, float *scores)
{
	if (dim % 16 != 0) {
		qk_gemm_scalar(q, k, k_stride, n, dim, scale, scores);
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

A2 static void wv_gemm_avx2(const float *w, const uint16_t *v, size_t v_stride, size_t n,
    size_t dim, float *out)
{
	if (dim % 8 != 0) {
		wv_gemm_scalar(w, v, v_stride, n, dim, out);
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

A2 static void wv_vec_dot_avx2(const float *w, const uint16_t *v, size_t v_stride, size_t n,
    size_t dim, float *out)
{
	if (dim % 8 != 0) {
		wv_vec_dot_scalar(w, v, v_stride, n, dim, out);
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

/* ---- AVX-512: ggml's own vectors where it reduces over head dims ------------------------ */

#define A5 GGML_VM_AVX512

A5 static inline __m512 cvt16(const uint16_t *p)
{
	return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
}

A5 static void qk_gemm_avx512(const float *q, const uint16_t *k, size_t k_stride, size_t n,
    size_t dim, float scale, float *scores)
{
	if (dim % 16 != 0) {
		qk_gemm_scalar(q, k, k_stride, n, dim, scale, scores);
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
		wv_gemm_avx2(w, v, v_stride, n, dim, out);
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
		wv_vec_dot_avx2(w, v, v_stride, n, dim, out);
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
#endif

static const struct attn_exact_kernels exact_scalar = {
	"scalar", qk_gemm_scalar, qk_vec_dot_scalar, softmax_scalar, wv_gemm_scalar,
	wv_vec_dot_scalar
};
#if defined(__x86_64__) || defined(__i386__)
static const struct attn_exact_kernels exact_avx2 = {
	"avx2", qk_gemm_avx2, qk_vec_dot_avx2, softmax_avx2, wv_gemm_avx2, wv_vec_dot_avx2
};
static const struct attn_exact_kernels exact_avx512 = {
	"avx512", qk_gemm_avx512, qk_vec_dot_avx512, softmax_avx512, wv_gemm_avx512,
	wv_vec_dot_avx512
};
#endif

const struct attn_exact_kernels *attn_exact_for(int level)
{
	if (!cpu_simd_supported((enum cpu_simd_level)level))
		return NULL;
	switch (level) {
#if defined(__x86_64__) || defined(__i386__)
	case CPU_SIMD_AVX512: return &exact_avx512;
	case CPU_SIMD_AVX2: return &exact_avx2;
#endif
	case CPU_SIMD_SCALAR: return &exact_scalar;
	default: return NULL;
	}
}

const struct attn_exact_kernels *attn_exact_active(void)
{
	const struct attn_exact_kernels *k = attn_exact_for(cpu_simd_level());
	return k ? k : &exact_scalar;
}
