/* quant.h: ggml's block formats (byte-exact with GGUF files), their exact dequantization, fp16
 * and bf16 conversion, and the dot-product kernels the matrix products are built on.
 *
 * Like llama.cpp, a product with quantized weights first quantizes the f32 activations once
 * (to Q8_1 numbers for q4_1/q5_1, to Q8_0 numbers for the other 32-element block types, to Q8_K
 * numbers for the K-quants) and then takes integer dot products block by block; f32/f16/bf16
 * weights dot against f32 activations. The quantized activations are kept in quire's own row
 * layout (struct quant_act), which holds the same numbers as ggml's Q8_0/Q8_1/Q8_K blocks
 * (ggml's x86 rounding included, so that logits agree with llama.cpp's bit for bit where the
 * summation order allows) but puts the int8 values of a row contiguously and the per-block
 * scales and sums beside them, so SIMD kernels load them whole.
 *
 * Kernels exist per SIMD level (kernels/cpu-features.h); quant_kernels_active() follows the
 * active level. Weight rows must be aligned to 2 bytes (4 for f32); GGUF data always is. */
#ifndef QUIRE_KERNELS_QUANT_H
#define QUIRE_KERNELS_QUANT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kernels/cpu-features.h"
#include "kernels/ggml-types.h"

struct threadpool;

#define QK4_0 32
#define QK4_1 32
#define QK5_0 32
#define QK5_1 32
#define QK8_0 32
#define QK_K 256
#define K_SCALE_SIZE 12

/* The blocks, field for field as ggml stores them (little-endian, no padding). fp16 values are
 * kept as their raw 16 bits. */
struct block_q4_0 {
	uint16_t d;              /* scale (fp16): x = d * (q - 8) */
	uint8_t qs[QK4_0 / 2];   /* element j in the low nibble of qs[j], j+16 in the high one */
};
struct block_q4_1 {
	uint16_t d;              /* scale (fp16): x = d * q + m */
	uint16_t m;              /* minimum (fp16) */
	uint8_t qs[QK4_1 / 2];   /* nibbles as in q4_0 */
};
struct block_q5_0 {
	uint16_t d;              /* scale (fp16): x = d * (q - 16) */
	uint8_t qh[4];           /* bit j (little-endian u32) is bit 4 of element j */
	uint8_t qs[QK5_0 / 2];   /* the low 4 bits, nibbles as in q4_0 */
};
struct block_q5_1 {
	uint16_t d;              /* scale (fp16): x = d * q + m */
	uint16_t m;              /* minimum (fp16) */
	uint8_t qh[4];           /* as in q5_0 */
	uint8_t qs[QK5_1 / 2];
};
struct block_q8_0 {
	uint16_t d;              /* scale (fp16): x = d * q */
	int8_t qs[QK8_0];
};
struct block_q4_K {
	uint16_t d;              /* super-block scale for the 6-bit sub-block scales (fp16) */
	uint16_t dmin;           /* super-block scale for the 6-bit sub-block minimums (fp16) */
	uint8_t scales[K_SCALE_SIZE];   /* 8 scales + 8 mins of 6 bits, packed (get_scale_min_k4) */
	uint8_t qs[QK_K / 2];    /* per 64 elements: 32 bytes, low nibbles first 32, high next 32 */
};
struct block_q5_K {
	uint16_t d;              /* as in q4_K */
	uint16_t dmin;
	uint8_t scales[K_SCALE_SIZE];
	uint8_t qh[QK_K / 8];    /* bit 2i / 2i+1 of qh[l]: bit 4 of element l of sub-block 2i/2i+1 */
	uint8_t qs[QK_K / 2];    /* low 4 bits, as in q4_K */
};
struct block_q6_K {
	uint8_t ql[QK_K / 2];    /* low 4 bits */
	uint8_t qh[QK_K / 4];    /* high 2 bits */
	int8_t scales[QK_K / 16];/* one signed 8-bit scale per 16 elements */
	uint16_t d;              /* super-block scale (fp16): x = d * scale * (q - 32) */
};

_Static_assert(sizeof(struct block_q4_0) == 18, "q4_0 block size");
_Static_assert(sizeof(struct block_q4_1) == 20, "q4_1 block size");
_Static_assert(sizeof(struct block_q5_0) == 22, "q5_0 block size");
_Static_assert(sizeof(struct block_q5_1) == 24, "q5_1 block size");
_Static_assert(sizeof(struct block_q8_0) == 34, "q8_0 block size");
_Static_assert(sizeof(struct block_q4_K) == 144, "q4_K block size");
_Static_assert(sizeof(struct block_q5_K) == 176, "q5_K block size");
_Static_assert(sizeof(struct block_q6_K) == 210, "q6_K block size");

/* --- fp16 and bf16 ------------------------------------------------------------------------ */

/* Exact IEEE half -> single (subnormals and infinities exact; NaN payloads kept, quieted). */
static inline float quant_fp16_to_f32(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000) << 16;
	uint32_t exp = (h >> 10) & 0x1f;
	uint32_t man = h & 0x3ff;
	uint32_t bits;
	if (exp == 0x1f) {
		/* NaNs come out quiet, as F16C's vcvtph2ps makes them */
		bits = sign | 0x7f800000u | (man << 13) | (man ? 0x400000u : 0);
	} else if (exp != 0) {
		bits = sign | ((exp + 112) << 23) | (man << 13);
	} else if (man == 0) {
		bits = sign;
	} else {
		/* subnormal: value = man * 2^-24; normalise it */
		int shift = __builtin_clz(man) - 21;           /* bring the top bit to bit 10 */
		man = (man << shift) & 0x3ff;
		bits = sign | ((uint32_t)(113 - shift) << 23) | (man << 13);
	}
	float f;
	memcpy(&f, &bits, sizeof f);
	return f;
}

/* Single -> half, rounding to nearest even; overflow gives infinity, NaN stays NaN. */
static inline uint16_t quant_f32_to_fp16(float f)
{
	uint32_t x;
	memcpy(&x, &f, sizeof x);
	uint32_t sign = (x >> 16) & 0x8000;
	uint32_t ax = x & 0x7fffffffu;
	if (ax >= 0x7f800000u)                          /* inf or NaN */
		return (uint16_t)(sign | 0x7c00 | (ax > 0x7f800000u ? 0x200 | ((ax >> 13) & 0x3ff) : 0));
	if (ax >= 0x477ff000u)                          /* rounds to >= 65520: infinity */
		return (uint16_t)(sign | 0x7c00);
	if (ax < 0x38800000u) {                         /* below the smallest normal half */
		if (ax < 0x33000000u)                   /* below half the smallest subnormal */
			return (uint16_t)sign;
		uint32_t e = ax >> 23;
		uint32_t m = (ax & 0x7fffff) | 0x800000;
		uint32_t shift = 126 - e;               /* 14..24: value = m * 2^(e-150) */
		uint32_t q = m >> shift;
		uint32_t rem = m & ((1u << shift) - 1);
		uint32_t half = 1u << (shift - 1);
		if (rem > half || (rem == half && (q & 1)))
			q++;
		return (uint16_t)(sign | q);
	}
	uint32_t r = ax + 0xfff + ((ax >> 13) & 1);     /* round to nearest even at bit 13 */
	return (uint16_t)(sign | ((r - 0x38000000u) >> 13));
}

static inline float quant_bf16_to_f32(uint16_t h)
{
	uint32_t bits = (uint32_t)h << 16;
	float f;
	memcpy(&f, &bits, sizeof f);
	return f;
}

/* Single -> bf16, rounding to nearest even; NaN stays a (quiet) NaN. */
static inline uint16_t quant_f32_to_bf16(float f)
{
	uint32_t x;
	memcpy(&x, &f, sizeof x);
	if ((x & 0x7fffffffu) > 0x7f800000u)
		return (uint16_t)((x >> 16) | 0x40);
	return (uint16_t)((x + 0x7fff + ((x >> 16) & 1)) >> 16);
}

/* --- rows of weights ------------------------------------------------------------------------ */

/* 1 if the kernels can compute with this type (ggml_type_traits_of(t)->computable). */
int quant_type_supported(enum ggml_type type);
/* Bytes of a row of n elements; -1 with *err if the type is unsupported or n is not a whole
 * number of blocks. */
int quant_row_size(enum ggml_type type, size_t n, size_t *bytes, char **err);
/* Exact dequantization of n elements (a whole number of blocks) to f32, as ggml does it. */
int quant_dequantize_row(enum ggml_type type, const void *src, float *dst, size_t n, char **err);

/* Quantize rows for storage (the KV cache, tests). n must be a multiple of the block size. */
void quant_quantize_row_q8_0(const float *x, struct block_q8_0 *y, size_t n);
void quant_f32_to_fp16_row(const float *x, uint16_t *y, size_t n);   /* uses F16C if present */
void quant_fp16_to_f32_row(const uint16_t *x, float *y, size_t n);   /* uses F16C if present */
void quant_bf16_to_f32_row(const uint16_t *x, float *y, size_t n);

/* --- activations --------------------------------------------------------------------------- */

/* Activation rows ready for dot products with one weight type. Row r starts at
 * rows + r * stride. For f32 the rows are the caller's floats (not copied). For Q8_0 and Q8_1
 * a row is
 *   int8 q[n] | float d[n/32] | float s[n/32]     (d: the fp16-rounded block scale)
 * with, as ggml has it, s = d * sum of the block's q exactly for Q8_0, and for Q8_1
 * s = fp16(dd * sum of q) where dd = amax/127 is the scale before its rounding to fp16;
 * and for Q8_K
 *   int8 q[n] | float d[n/256] | int16 bsum[n/16] (bsum: sums of q per 16 elements)
 * padded to a multiple of 64 bytes. Every type rounds x * 127/amax to the nearest integer,
 * ties to even, as ggml's x86 code does. */
struct quant_act {
	enum ggml_type type;          /* GGML_TYPE_F32, _Q8_0, _Q8_1 or _Q8_K */
	size_t n;                     /* elements per row */
	size_t n_rows;
	size_t stride;                /* bytes from one row to the next */
	const unsigned char *rows;    /* the first row (64-byte aligned when quantized) */
	unsigned char *mem;           /* owned storage for quantized rows, or NULL */
	size_t cap;                   /* bytes in mem */
};

#define QUANT_ACT_INIT { GGML_TYPE_F32, 0, 0, 0, NULL, NULL, 0 }

/* The activation type that weights of this type dot against: F32, Q8_0, Q8_1 or Q8_K. */
enum ggml_type quant_act_type(enum ggml_type weight_type);
/* Prepare n_rows rows of n floats (row r at x + r*n) for weights of weight_type; quantizes in
 * parallel on tp when it is worth it (tp may be NULL). x must stay valid while a is used when
 * the weights are float types. Reuses a's memory. -1 with *err on an unsupported type or an n
 * that is not a whole number of the weight type's blocks. */
int quant_act_prepare(struct quant_act *a, enum ggml_type weight_type, const float *x,
    size_t n_rows, size_t n, struct threadpool *tp, char **err);
/* The values a row stands for (d * q), for tests. */
void quant_act_dequantize(const struct quant_act *a, size_t row, float *out);
/* The block sums s of a Q8_0/Q8_1 row (n/32 of them), for tests. */
void quant_act_block_sums(const struct quant_act *a, size_t row, float *out);
void quant_act_free(struct quant_act *a);

/* --- dot-product kernels -------------------------------------------------------------------- */

#define QUANT_MAX_NX 4   /* activation rows one kernel call handles */

/* out[t] = dot(weight row w, activation row t) for t < nx (1..QUANT_MAX_NX), where activation
 * row t starts at act + t * act_stride and has n elements in the layout of struct quant_act. */
typedef void (*quant_dot_fn)(size_t n, const void *w, const unsigned char *act,
    size_t act_stride, int nx, float *out);

/* The same for QUANT_ROWS_NW weight rows at once (row k at w + k * w_stride) and nx up to
 * QUANT_ROWS_MAX_NX: out[t * out_stride + k] = dot(weight row k, activation row t), each
 * exactly as quant_dot_fn computes it. Several weight rows per call let one activation load
 * serve them all and, with one activation row (decode), give the core independent chains of
 * additions to overlap; more activation rows share each unpacked block of weights. */
#define QUANT_ROWS_NW 4
#define QUANT_ROWS_MAX_NX 8
typedef void (*quant_dot_rows_fn)(size_t n, const void *w, size_t w_stride,
    const unsigned char *act, size_t act_stride, int nx, float *out, size_t out_stride);

struct quant_kernels {
	const char *name;                           /* the SIMD level's name */
	quant_dot_fn dot[GGML_TYPE_COUNT_];         /* NULL for types without kernels */
	quant_dot_rows_fn dot_rows[GGML_TYPE_COUNT_];  /* NULL where the level has none */
	const char *dot_level[GGML_TYPE_COUNT_];    /* which implementation dot[t] is */
	/* q4_K in the orders of llama.cpp's repacked q4_K kernels, not vec_dot's 8 lanes: [0]
	 * its gemv's (block by block), [1] its gemm's (64 elements at a time). Its CPU backend
	 * repacks every q4_K matrix with rows % 8 == 0 that a matrix product reads (matmul.h,
	 * MATMUL_Q4_K_X8) */
	quant_dot_fn dot_q4_K_x8[2];
	quant_dot_rows_fn dot_q4_K_x8g_rows;      /* [1]'s order, QUANT_ROWS_NW rows; or NULL */
	void (*fp16_to_f32)(const uint16_t *x, float *y, size_t n);
	void (*f32_to_fp16)(const float *x, uint16_t *y, size_t n);
	/* one activation row in the layout of struct quant_act; identical at every level */
	void (*act_q8_0)(const float *x, unsigned char *row, size_t n);
	void (*act_q8_1)(const float *x, unsigned char *row, size_t n);
	void (*act_q8_K)(const float *x, unsigned char *row, size_t n);
};

/* The kernels of a level, or NULL if this CPU cannot run it. */
const struct quant_kernels *quant_kernels_for(enum cpu_simd_level level);
/* The kernels of the active level (cpu_simd_level()). */
const struct quant_kernels *quant_kernels_active(void);

#endif
