/* attn-exact-block.c: the per-row gemm path of attn-exact.c for a block of query rows, with
 * each chunk of keys and values converted to fp32 once for all the rows.
 *
 * The sums are attn-exact.c's, element for element:
 *  - q.k: lane l of a key's 16-lane accumulator takes dims 16c + l by fma in order of c, then
 *    the lanes are summed in _mm512_reduce_add_ps's tree and multiplied by scale. Scalar and
 *    AVX2 store a tile of 16 keys dim-major (kt[d][key]), so lane l's accumulator is one
 *    vector over the 16 keys (acc_l = fma(bcast(q[16c + l]), kt[16c + l], acc_l)) and the
 *    tree runs across the 16 vectors. AVX-512 keeps qk_gemm's vectors over dims, four rows x
 *    four keys of them, and does the 16 trees together with shuffles (reduce16x16).
 *  - softmax: attn-exact.c's own, over the row's n_keys scores.
 *  - p.v: lane l takes positions 16c + l (keys counted from 0) up to the row's n_keys and no
 *    further (masked positions are not added as 0 * v: an inf in v would make it NaN), then
 *    the same tree. Scalar and AVX2 keep 16 lane arrays over dims per row; AVX-512 keeps one
 *    16-lane vector per (row, dim) over dim-major value tiles and sums it in reduce order at
 *    the end. The accumulators live in scratch between chunks of keys.
 * Keys past the block's largest n_keys are never read: tiles are filled with zeros there and
 * those scores are never used. */
#include "kernels/attn-exact-block.h"

#include <string.h>

#include "kernels/attn-exact.h"
#include "kernels/cpu-features.h"
#include "kernels/ggml-vec-math.h"
#include "kernels/quant.h"

/* The pieces one SIMD level supplies; the loops over chunks and rows are shared. */
struct block_ops {
	/* kt[d*16 + i] = k[(k0 + i) * stride + d] for i < n (<= 16), 0 for n <= i < 16. */
	void (*k_tile)(const uint16_t *k, size_t stride, size_t k0, size_t n, size_t dim,
	    float *kt);
	/* vf[i*dim + d] = v[(k0 + i) * stride + d] for i < n. */
	void (*v_rows)(const uint16_t *v, size_t stride, size_t k0, size_t n, size_t dim,
	    float *vf);
	/* s[16t + i] = scale * (q . key i of tile t) for t < n_tiles (tiles dim*16 floats). */
	void (*qk_tiles)(const float *q, const float *kt, size_t n_tiles, size_t dim, float scale,
	    float *s);
	/* acc[l*dim + d] += w[i] * vf[i*dim + d] for i < n, l = i % 16 (fma, in order of i). */
	void (*pv)(const float *w, const float *vf, size_t n, size_t dim, float *acc);
	/* out[d] = the reduce tree over the 16 lane accumulators of dim d. */
	void (*fold)(const float *acc, size_t dim, float *out);
	/* Instead of v_rows and pv, where not NULL: p.v over one chunk of cn values at key c0,
	 * converted by k_tile (dim-major tiles), for all rows at once; the accumulators of row r
	 * (16 * dim floats at acc + r*16*dim, laid out as fold reads them) take the products of
	 * positions c0..min(n_keys[r], c0 + cn) - 1; spare: 16 * dim floats to write at will. */
	void (*pv_rows)(const float *scores, size_t kpad, const uint32_t *n_keys, size_t n_rows,
	    size_t c0, size_t cn, const float *vt, size_t dim, float *acc, float *spare);
	/* Instead of k_tile and qk_tiles, where not NULL: k_rows converts a chunk of cn keys at
	 * k0 key-major (kf[i*dim + d], zeros up to the next multiple of 16 keys), and qk_rows
	 * writes scores[r*kpad + c0 + i] for every i < n_keys[r] - c0 (and at most up to the next
	 * multiple of 4 past it) of every row that sees key c0. */
	void (*k_rows)(const uint16_t *k, size_t stride, size_t k0, size_t n, size_t dim,
	    float *kf);
	void (*qk_rows)(const float *qr, size_t n_rows, const uint32_t *n_keys, size_t c0,
	    size_t cn, const float *kf, size_t dim, float scale, float *scores, size_t kpad);
};

static size_t round16(size_t n)
{
	return (n + 15) & ~(size_t)15;
}

/* Keys per chunk: a chunk's converted tile stays at 16 KiB, about a third of L1. */
static size_t chunk_keys(size_t dim)
{
	size_t ck = (4096 / dim) & ~(size_t)15;
	return ck < 16 ? 16 : ck;
}

size_t attn_exact_block_scratch_floats(size_t n_rows, size_t max_keys, size_t dim)
{
	return n_rows * dim + n_rows * round16(max_keys) + chunk_keys(dim) * dim +
	    (n_rows + 1) * 16 * dim;
}

static void block_run(const struct block_ops *ops, const struct attn_exact_kernels *ek,
    const float *const *q, const uint32_t *n_keys, size_t n_rows, const uint16_t *k,
    const uint16_t *v, size_t stride, size_t dim, float scale, float *const *out,
    float *scratch)
{
	size_t kmax = 0;
	for (size_t r = 0; r < n_rows; r++)
		kmax = n_keys[r] > kmax ? n_keys[r] : kmax;
	size_t kpad = round16(kmax), ck = chunk_keys(dim);
	float *qr = scratch;                    /* [row][dim]: q rounded to fp16 */
	float *scores = qr + n_rows * dim;      /* [row][kpad] */
	float *tile = scores + n_rows * kpad;   /* one chunk of keys or values */
	float *acc = tile + ck * dim;           /* [row][16 * dim]: p.v's accumulators, + spare */
	for (size_t r = 0; r < n_rows; r++)
		for (size_t d = 0; d < dim; d++)
			qr[r * dim + d] = quant_fp16_to_f32(quant_f32_to_fp16(q[r][d]));

	for (size_t c0 = 0; c0 < kmax; c0 += ck) {
		size_t cn = kmax - c0 < ck ? kmax - c0 : ck;
		if (ops->qk_rows != NULL) {
			ops->k_rows(k, stride, c0, cn, dim, tile);
			ops->qk_rows(qr, n_rows, n_keys, c0, cn, tile, dim, scale, scores, kpad);
			continue;
		}
		for (size_t i = 0; i < cn; i += 16)
			ops->k_tile(k, stride, c0 + i, cn - i < 16 ? cn - i : 16, dim, tile + i * dim);
		for (size_t r = 0; r < n_rows; r++) {
			size_t end = n_keys[r] < c0 + ck ? n_keys[r] : c0 + ck;
			if (end > c0)
				ops->qk_tiles(qr + r * dim, tile, (end - c0 + 15) / 16, dim, scale,
				    scores + r * kpad + c0);
		}
	}
	for (size_t r = 0; r < n_rows; r++)
		if (n_keys[r] > 0)
			ek->softmax(scores + r * kpad, n_keys[r]);

	memset(acc, 0, n_rows * 16 * dim * sizeof(float));
	for (size_t c0 = 0; c0 < kmax; c0 += ck) {
		size_t cn = kmax - c0 < ck ? kmax - c0 : ck;
		if (ops->pv_rows != NULL) {
			for (size_t i = 0; i < cn; i += 16)
				ops->k_tile(v, stride, c0 + i, cn - i < 16 ? cn - i : 16, dim, tile + i * dim);
			ops->pv_rows(scores, kpad, n_keys, n_rows, c0, cn, tile, dim, acc,
			    acc + n_rows * 16 * dim);
			continue;
		}
		ops->v_rows(v, stride, c0, cn, dim, tile);
		for (size_t r = 0; r < n_rows; r++) {
			size_t end = n_keys[r] < c0 + ck ? n_keys[r] : c0 + ck;
			if (end > c0)
				ops->pv(scores + r * kpad + c0, tile, end - c0, dim, acc + r * 16 * dim);
		}
	}
	for (size_t r = 0; r < n_rows; r++)
		ops->fold(acc + r * 16 * dim, dim, out[r]);
}

/* ---- scalar: the definitions ------------------------------------------------------------ */

static void k_tile_scalar(const uint16_t *k, size_t stride, size_t k0, size_t n, size_t dim,
    float *kt)
{
	for (size_t d = 0; d < dim; d++)
		for (size_t i = 0; i < 16; i++)
			kt[d * 16 + i] = i < n ? quant_fp16_to_f32(k[(k0 + i) * stride + d]) : 0.0f;
}

static void v_rows_scalar(const uint16_t *v, size_t stride, size_t k0, size_t n, size_t dim,
    float *vf)
{
	for (size_t i = 0; i < n; i++)
		for (size_t d = 0; d < dim; d++)
			vf[i * dim + d] = quant_fp16_to_f32(v[(k0 + i) * stride + d]);
}

static void qk_tiles_scalar(const float *q, const float *kt, size_t n_tiles, size_t dim,
    float scale, float *s)
{
	for (size_t t = 0; t < n_tiles; t++, kt += dim * 16)
		for (size_t i = 0; i < 16; i++) {
			float a[16] = { 0 };
			for (size_t d = 0; d < dim; d++)
				a[d % 16] = fmaf(kt[d * 16 + i], q[d], a[d % 16]);
			s[16 * t + i] = ggml_hsum16(a) * scale;
		}
}

static void pv_scalar(const float *w, const float *vf, size_t n, size_t dim, float *acc)
{
	for (size_t i = 0; i < n; i++)
		for (size_t d = 0; d < dim; d++)
			acc[(i % 16) * dim + d] = fmaf(vf[i * dim + d], w[i], acc[(i % 16) * dim + d]);
}

static void fold_scalar(const float *acc, size_t dim, float *out)
{
	for (size_t d = 0; d < dim; d++) {
		float a[16];
		for (size_t l = 0; l < 16; l++)
			a[l] = acc[l * dim + d];
		out[d] = ggml_hsum16(a);
	}
}

static const struct block_ops ops_scalar = {
	k_tile_scalar, v_rows_scalar, qk_tiles_scalar, pv_scalar, fold_scalar, NULL, NULL, NULL
};

#if defined(__x86_64__) || defined(__i386__)

/* ---- AVX2: 8-lane halves of the 16-key and 16-dim vectors ------------------------------- */

#define A2 GGML_VM_AVX2

/* The tree of ggml_hsum16 across 16 accumulators (lane l = a[l]), elementwise. */
A2 static inline __m256 tree16_256(const __m256 *a)
{
	__m256 t3[8], t6[4];
	for (int i = 0; i < 8; i++)
		t3[i] = _mm256_add_ps(a[i + 8], a[i]);
	for (int i = 0; i < 4; i++)
		t6[i] = _mm256_add_ps(t3[i + 4], t3[i]);
	return _mm256_add_ps(_mm256_add_ps(t6[0], t6[2]), _mm256_add_ps(t6[1], t6[3]));
}

A2 static void k_tile_avx2(const uint16_t *k, size_t stride, size_t k0, size_t n, size_t dim,
    float *kt)
{
	float rows[16 * 8];
	for (size_t d0 = 0; d0 < dim; d0 += 8) {
		for (size_t i = 0; i < 16; i++)
			_mm256_storeu_ps(rows + i * 8, i < n ? _mm256_cvtph_ps(_mm_loadu_si128(
			    (const __m128i *)(k + (k0 + i) * stride + d0))) : _mm256_setzero_ps());
		for (size_t j = 0; j < 8; j++)
			for (size_t i = 0; i < 16; i++)
				kt[(d0 + j) * 16 + i] = rows[i * 8 + j];
	}
}

A2 static void v_rows_avx2(const uint16_t *v, size_t stride, size_t k0, size_t n, size_t dim,
    float *vf)
{
	for (size_t i = 0; i < n; i++)
		for (size_t d = 0; d < dim; d += 8)
			_mm256_storeu_ps(vf + i * dim + d, _mm256_cvtph_ps(_mm_loadu_si128(
			    (const __m128i *)(v + (k0 + i) * stride + d))));
}

A2 static void qk_tiles_avx2(const float *q, const float *kt, size_t n_tiles, size_t dim,
    float scale, float *s)
{
	for (size_t t = 0; t < n_tiles; t++, kt += dim * 16)
		for (size_t h = 0; h < 16; h += 8) {
			__m256 a[16];
			for (int l = 0; l < 16; l++)
				a[l] = _mm256_setzero_ps();
			for (size_t d = 0; d < dim; d += 16) {
				_Pragma("GCC unroll 16")
				for (size_t l = 0; l < 16; l++)
					a[l] = _mm256_fmadd_ps(_mm256_set1_ps(q[d + l]),
					    _mm256_loadu_ps(kt + (d + l) * 16 + h), a[l]);
			}
			_mm256_storeu_ps(s + 16 * t + h, _mm256_mul_ps(tree16_256(a),
			    _mm256_set1_ps(scale)));
		}
}

A2 static void pv_avx2(const float *w, const float *vf, size_t n, size_t dim, float *acc)
{
	for (size_t d0 = 0; d0 < dim; d0 += 8) {
		__m256 a[16];
		for (size_t l = 0; l < 16; l++)
			a[l] = _mm256_loadu_ps(acc + l * dim + d0);
		size_t i = 0;
		for (; i + 16 <= n; i += 16) {
			_Pragma("GCC unroll 16")
			for (size_t l = 0; l < 16; l++)
				a[l] = _mm256_fmadd_ps(_mm256_loadu_ps(vf + (i + l) * dim + d0),
				    _mm256_set1_ps(w[i + l]), a[l]);
		}
		for (size_t l = 0; i + l < n; l++)
			a[l] = _mm256_fmadd_ps(_mm256_loadu_ps(vf + (i + l) * dim + d0),
			    _mm256_set1_ps(w[i + l]), a[l]);
		for (size_t l = 0; l < 16; l++)
			_mm256_storeu_ps(acc + l * dim + d0, a[l]);
	}
}

A2 static void fold_avx2(const float *acc, size_t dim, float *out)
{
	for (size_t d0 = 0; d0 < dim; d0 += 8) {
		__m256 a[16];
		for (size_t l = 0; l < 16; l++)
			a[l] = _mm256_loadu_ps(acc + l * dim + d0);
		_mm256_storeu_ps(out + d0, tree16_256(a));
	}
}
#undef A2

static const struct block_ops ops_avx2 = {
	k_tile_avx2, v_rows_avx2, qk_tiles_avx2, pv_avx2, fold_avx2, NULL, NULL, NULL
};

/* ---- AVX-512 ----------------------------------------------------------------------------- */

#define A5 GGML_VM_AVX512

A5 static inline __m512 tree16_512(const __m512 *a)
{
	__m512 t3[8], t6[4];
	for (int i = 0; i < 8; i++)
		t3[i] = _mm512_add_ps(a[i + 8], a[i]);
	for (int i = 0; i < 4; i++)
		t6[i] = _mm512_add_ps(t3[i + 4], t3[i]);
	return _mm512_add_ps(_mm512_add_ps(t6[0], t6[2]), _mm512_add_ps(t6[1], t6[3]));
}

/* 16 keys x 16 dims: rows of keys in, rows of dims out (unpacks, then 128-bit lane moves). */
A5 static void k_tile_avx512(const uint16_t *k, size_t stride, size_t k0, size_t n, size_t dim,
    float *kt)
{
	for (size_t d0 = 0; d0 < dim; d0 += 16) {
		__m512 r[16], a[16], b[16];
		for (size_t i = 0; i < 16; i++)
			r[i] = i < n ? _mm512_cvtph_ps(_mm256_loadu_si256(
			    (const __m256i *)(k + (k0 + i) * stride + d0))) : _mm512_setzero_ps();
		for (int i = 0; i < 8; i++) {
			a[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
			a[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
		}
		/* b[4g + m], 128-bit lane c: dim 4c + m of keys 4g..4g+3 */
		for (int g = 0; g < 4; g++) {
			__m512d x0 = _mm512_castps_pd(a[4 * g]), x1 = _mm512_castps_pd(a[4 * g + 1]);
			__m512d x2 = _mm512_castps_pd(a[4 * g + 2]), x3 = _mm512_castps_pd(a[4 * g + 3]);
			b[4 * g] = _mm512_castpd_ps(_mm512_unpacklo_pd(x0, x2));
			b[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(x0, x2));
			b[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(x1, x3));
			b[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(x1, x3));
		}
		for (int m = 0; m < 4; m++) {
			__m512 c0 = _mm512_shuffle_f32x4(b[m], b[4 + m], 0x44);
			__m512 c1 = _mm512_shuffle_f32x4(b[m], b[4 + m], 0xee);
			__m512 c2 = _mm512_shuffle_f32x4(b[8 + m], b[12 + m], 0x44);
			__m512 c3 = _mm512_shuffle_f32x4(b[8 + m], b[12 + m], 0xee);
			_mm512_storeu_ps(kt + (d0 + m) * 16, _mm512_shuffle_f32x4(c0, c2, 0x88));
			_mm512_storeu_ps(kt + (d0 + 4 + m) * 16, _mm512_shuffle_f32x4(c0, c2, 0xdd));
			_mm512_storeu_ps(kt + (d0 + 8 + m) * 16, _mm512_shuffle_f32x4(c1, c3, 0x88));
			_mm512_storeu_ps(kt + (d0 + 12 + m) * 16, _mm512_shuffle_f32x4(c1, c3, 0xdd));
		}
	}
}

A5 static void qk_tiles_avx512(const float *q, const float *kt, size_t n_tiles, size_t dim,
    float scale, float *s)
{
	for (size_t t = 0; t < n_tiles; t++, kt += dim * 16) {
		__m512 a[16];
		for (int l = 0; l < 16; l++)
			a[l] = _mm512_setzero_ps();
		for (size_t d = 0; d < dim; d += 16) {
			_Pragma("GCC unroll 16")
			for (size_t l = 0; l < 16; l++)
				a[l] = _mm512_fmadd_ps(_mm512_set1_ps(q[d + l]),
				    _mm512_loadu_ps(kt + (d + l) * 16), a[l]);
		}
		_mm512_storeu_ps(s + 16 * t, _mm512_mul_ps(tree16_512(a), _mm512_set1_ps(scale)));
	}
}

/* Rows three at a time and dims eight at a time: 24 accumulators in registers, each value
 * vector (16 positions of one dim) loaded once for the three rows and each row's 16 weights
 * once for the eight dims. Lane l of a row's accumulator for dim d holds positions 16c + l,
 * as in wv_gemm; positions at or past the row's n_keys are masked off the fma. */
A5 static void pv_rows_avx512(const float *scores, size_t kpad, const uint32_t *n_keys,
    size_t n_rows, size_t c0, size_t cn, const float *vt, size_t dim, float *acc, float *spare)
{
	size_t n_tiles = (cn + 15) / 16;
	for (size_t r0 = 0; r0 < n_rows; r0 += 3) {
		const float *w[3];
		float *a[3];
		size_t nv[3];              /* positions of this chunk the row sees */
		_Pragma("GCC unroll 3")
		for (size_t i = 0; i < 3; i++) {
			size_t r = r0 + i < n_rows ? r0 + i : r0;
			w[i] = scores + r * kpad + c0;
			a[i] = r0 + i < n_rows ? acc + r * 16 * dim : spare;
			nv[i] = r0 + i < n_rows && n_keys[r] > c0 ? n_keys[r] - c0 : 0;
			nv[i] = nv[i] < cn ? nv[i] : cn;
		}
		if (nv[0] + nv[1] + nv[2] == 0)
			continue;
		for (size_t d0 = 0; d0 < dim; d0 += 8) {
			__m512 A[3][8];
			_Pragma("GCC unroll 3")
			for (size_t i = 0; i < 3; i++)
				_Pragma("GCC unroll 8")
				for (size_t j = 0; j < 8; j++)
					A[i][j] = _mm512_loadu_ps(a[i] + (d0 + j) * 16);
			for (size_t t = 0; t < n_tiles; t++) {
				__mmask16 m[3];
				__m512 W[3];
				_Pragma("GCC unroll 3")
				for (size_t i = 0; i < 3; i++) {
					size_t left = nv[i] > 16 * t ? nv[i] - 16 * t : 0;
					m[i] = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
					W[i] = _mm512_maskz_loadu_ps(m[i], w[i] + 16 * t);
				}
				const float *vd = vt + t * dim * 16 + d0 * 16;
				_Pragma("GCC unroll 8")
				for (size_t j = 0; j < 8; j++) {
					__m512 x = _mm512_loadu_ps(vd + j * 16);
					_Pragma("GCC unroll 3")
					for (size_t i = 0; i < 3; i++)
						A[i][j] = _mm512_mask3_fmadd_ps(x, W[i], A[i][j], m[i]);
				}
			}
			_Pragma("GCC unroll 3")
			for (size_t i = 0; i < 3; i++)
				_Pragma("GCC unroll 8")
				for (size_t j = 0; j < 8; j++)
					_mm512_storeu_ps(a[i] + (d0 + j) * 16, A[i][j]);
		}
	}
}

/* Lane-major accumulators (acc[d*16 + l]): each dim's 16 lanes summed in reduce order. */
A5 static void fold_avx512(const float *acc, size_t dim, float *out)
{
	for (size_t d = 0; d < dim; d++)
		out[d] = ggml_hsum16_512(_mm512_loadu_ps(acc + d * 16));
}
A5 static void k_rows_avx512(const uint16_t *k, size_t stride, size_t k0, size_t n, size_t dim,
    float *kf)
{
	for (size_t i = 0; i < n; i++)
		for (size_t d = 0; d < dim; d += 16)
			_mm512_storeu_ps(kf + i * dim + d, _mm512_cvtph_ps(_mm256_loadu_si256(
			    (const __m256i *)(k + (k0 + i) * stride + d))));
	memset(kf + n * dim, 0, (round16(n) - n) * dim * sizeof(float));
}

/* The 16 sums of s[4p + r] (row r, key p) in _mm512_reduce_add_ps's order, as one vector whose
 * 128-bit lane r holds keys 0..3 of row r: halves (8 + 8) of pairs of vectors, quarters (4 + 4)
 * of fours, then (0 + 2) + (1 + 3) within the 128-bit lanes. */
A5 static inline __m512 reduce16x16(const __m512 *s)
{
	__m512 t[8], u[4];
	for (int j = 0; j < 8; j++)
		t[j] = _mm512_add_ps(_mm512_shuffle_f32x4(s[2 * j], s[2 * j + 1], 0x44),
		    _mm512_shuffle_f32x4(s[2 * j], s[2 * j + 1], 0xee));
	/* t[j]: the eight t3 of s[2j], then of s[2j+1] */
	for (int m = 0; m < 4; m++)
		u[m] = _mm512_add_ps(_mm512_shuffle_f32x4(t[2 * m], t[2 * m + 1], 0x88),
		    _mm512_shuffle_f32x4(t[2 * m], t[2 * m + 1], 0xdd));
	/* u[m], 128-bit lane L: the four t6 of s[4m + L] */
	__m512 v0 = _mm512_add_ps(_mm512_shuffle_ps(u[0], u[1], 0x44),
	    _mm512_shuffle_ps(u[0], u[1], 0xee));
	__m512 v1 = _mm512_add_ps(_mm512_shuffle_ps(u[2], u[3], 0x44),
	    _mm512_shuffle_ps(u[2], u[3], 0xee));
	/* v0 lane L: t6[0] + t6[2], t6[1] + t6[3] of s[L], then of s[4 + L]; v1 of s[8 + L],
	 * s[12 + L] */
	return _mm512_add_ps(_mm512_shuffle_ps(v0, v1, 0x88), _mm512_shuffle_ps(v0, v1, 0xdd));
}

/* q.k with 16-lane vectors over dims as qk_gemm has them, four rows x four keys at a time
 * (16 accumulators: each query and key vector loaded once for four products), the 16
 * horizontal sums done together by reduce16x16. */
A5 static void qk_rows_avx512(const float *qr, size_t n_rows, const uint32_t *n_keys,
    size_t c0, size_t cn, const float *kf, size_t dim, float scale, float *scores, size_t kpad)
{
	const __m512 sc = _mm512_set1_ps(scale);
	for (size_t r0 = 0; r0 < n_rows; r0 += 4) {
		const float *q[4];
		size_t end = 0;            /* keys of the chunk some row of the four sees */
		for (size_t i = 0; i < 4; i++) {
			size_t r = r0 + i < n_rows ? r0 + i : r0;
			q[i] = qr + r * dim;
			size_t e = n_keys[r] > c0 ? n_keys[r] - c0 : 0;
			e = e < cn ? e : cn;
			end = e > end ? e : end;
		}
		for (size_t p0 = 0; p0 < end; p0 += 4) {
			__m512 s[16];
			_Pragma("GCC unroll 16")
			for (int i = 0; i < 16; i++)
				s[i] = _mm512_setzero_ps();
			const float *kp = kf + p0 * dim;
			for (size_t d = 0; d < dim; d += 16) {
				__m512 qv[4], kv[4];
				_Pragma("GCC unroll 4")
				for (int i = 0; i < 4; i++) {
					qv[i] = _mm512_loadu_ps(q[i] + d);
					kv[i] = _mm512_loadu_ps(kp + (size_t)i * dim + d);
				}
				_Pragma("GCC unroll 4")
				for (int p = 0; p < 4; p++) {
					_Pragma("GCC unroll 4")
					for (int r = 0; r < 4; r++)
						s[4 * p + r] = _mm512_fmadd_ps(kv[p], qv[r], s[4 * p + r]);
				}
			}
			__m512 f = _mm512_mul_ps(reduce16x16(s), sc);
			float *o = scores + c0 + p0;
			if (r0 + 0 < n_rows)
				_mm_storeu_ps(o + (r0 + 0) * kpad, _mm512_castps512_ps128(f));
			if (r0 + 1 < n_rows)
				_mm_storeu_ps(o + (r0 + 1) * kpad, _mm512_extractf32x4_ps(f, 1));
			if (r0 + 2 < n_rows)
				_mm_storeu_ps(o + (r0 + 2) * kpad, _mm512_extractf32x4_ps(f, 2));
			if (r0 + 3 < n_rows)
				_mm_storeu_ps(o + (r0 + 3) * kpad, _mm512_extractf32x4_ps(f, 3));
		}
	}
}
#undef A5

static const struct block_ops ops_avx512 = {
	k_tile_avx512, NULL, qk_tiles_avx512, NULL, fold_avx512, pv_rows_avx512, k_rows_avx512,
	qk_rows_avx512
};
#endif

/* One entry point per level, so that callers hold a plain function pointer. */
#define BLOCK_ENTRY(name, ops, level)                                                         \
	static void name(const float *const *q, const uint32_t *n_keys, size_t n_rows,            \
	    const uint16_t *k, const uint16_t *v, size_t stride, size_t dim, float scale,        \
	    float *const *out, float *scratch)                                                    \
	{                                                                                         \
		block_run(&(ops), attn_exact_for(level), q, n_keys, n_rows, k, v, stride, dim, scale, \
		    out, scratch);                                                                    \
	}

BLOCK_ENTRY(block_scalar, ops_scalar, CPU_SIMD_SCALAR)
#if defined(__x86_64__) || defined(__i386__)
BLOCK_ENTRY(block_avx2, ops_avx2, CPU_SIMD_AVX2)
BLOCK_ENTRY(block_avx512, ops_avx512, CPU_SIMD_AVX512)
#endif

attn_exact_block_fn attn_exact_block_for(int level)
{
	if (!cpu_simd_supported((enum cpu_simd_level)level))
		return NULL;
	switch (level) {
#if defined(__x86_64__) || defined(__i386__)
	case CPU_SIMD_AVX512: return block_avx512;
	case CPU_SIMD_AVX2: return block_avx2;
#endif
	case CPU_SIMD_SCALAR: return block_scalar;
	default: return NULL;
	}
}

attn_exact_block_fn attn_exact_block_active(void)
{
	attn_exact_block_fn f = attn_exact_block_for(cpu_simd_level());
	return f ? f : block_scalar;
}
