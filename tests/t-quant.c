/* t-quant.c: the quantization kernels: exact dequantization against gguf-py, every SIMD level's
 * dot products against the scalar ones and the scalar ones against double-precision math,
 * fp16/bf16 conversion, matrix products against a naive reference, and rows of the default
 * model against gguf-py. QUIRE_SIMD caps the SIMD levels tested. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/gguf.h"
#include "kernels/cpu-features.h"
#include "kernels/matmul.h"
#include "kernels/quant.h"
#include "lib/file.h"
#include "lib/threadpool.h"
#include "lib/util.h"
#include "tests/tap.h"

static const enum ggml_type all_types[] = {
	GGML_TYPE_F32, GGML_TYPE_F16, GGML_TYPE_BF16, GGML_TYPE_Q8_0, GGML_TYPE_Q4_0,
	GGML_TYPE_Q4_1, GGML_TYPE_Q5_0, GGML_TYPE_Q5_1, GGML_TYPE_Q4_K, GGML_TYPE_Q5_K,
	GGML_TYPE_Q6_K,
};

static enum cpu_simd_level max_level;   /* the active level: QUIRE_SIMD or the best */

static const char *tname(enum ggml_type t)
{
	return ggml_type_traits_of(t)->name;
}

/* --- random numbers and blocks ------------------------------------------------------------ */

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dULL;
}

static float rnd_uniform(float lo, float hi)
{
	return lo + (hi - lo) * (float)((rnd() >> 11) * (1.0 / 9007199254740992.0));
}

static float rnd_signed(float lo, float hi)
{
	return (rnd() & 1 ? -1.0f : 1.0f) * rnd_uniform(lo, hi);
}

static void put_fp16(uint8_t *p, float v)
{
	uint16_t h = quant_f32_to_fp16(v);
	memcpy(p, &h, 2);
}

/* A row of n elements of type t: random bytes, with finite scales of sensible size. */
static void *random_row(enum ggml_type t, size_t n)
{
	size_t bytes;
	if (quant_row_size(t, n, &bytes, NULL) < 0)
		fatal("bad test row size");
	uint8_t *p = xmalloc(bytes);
	for (size_t i = 0; i < bytes; i++)
		p[i] = (uint8_t)rnd();
	const struct ggml_type_traits *tr = ggml_type_traits_of(t);
	size_t nb = n / tr->block_elems;
	for (size_t i = 0; i < nb; i++) {
		uint8_t *b = p + i * tr->block_bytes;
		switch (t) {
		case GGML_TYPE_F32: {
			float v = rnd_signed(0, 2);
			memcpy(b, &v, 4);
			break;
		}
		case GGML_TYPE_F16:
			put_fp16(b, rnd_signed(0, 2));
			break;
		case GGML_TYPE_BF16: {
			uint16_t h = quant_f32_to_bf16(rnd_signed(0, 2));
			memcpy(b, &h, 2);
			break;
		}
		case GGML_TYPE_Q4_0: case GGML_TYPE_Q5_0: case GGML_TYPE_Q8_0:
			put_fp16(b, rnd_signed(1e-3f, 0.2f));
			break;
		case GGML_TYPE_Q4_1: case GGML_TYPE_Q5_1:
			put_fp16(b, rnd_uniform(1e-3f, 0.2f));
			put_fp16(b + 2, rnd_signed(0.01f, 1.0f));
			break;
		case GGML_TYPE_Q4_K: case GGML_TYPE_Q5_K:
			put_fp16(b, rnd_uniform(1e-4f, 0.01f));
			put_fp16(b + 2, rnd_uniform(1e-4f, 0.01f));
			break;
		case GGML_TYPE_Q6_K:
			put_fp16(b + 208, rnd_signed(1e-4f, 0.01f));
			break;
		default:
			fatal("no random blocks for type %d", (int)t);
		}
	}
	return p;
}

static float *random_floats(size_t n, float scale)
{
	float *x = xmalloc(n * sizeof *x);
	for (size_t i = 0; i < n; i++)
		x[i] = rnd_signed(0, scale);
	/* a few outliers, as real activations have */
	for (size_t i = 0; i < n / 97; i++)
		x[rnd() % n] *= 8;
	return x;
}

/* q4_1 and q5_1 dot against Q8_1 activations, whose block sums are ggml's
 * s = fp16(amax/127 * sum of q), not the d * sum of q of the dequantized row: what a double
 * reference over dequantized rows must add, the block minimums times the difference. */
static double q8_1_sum_fix(enum ggml_type t, const uint8_t *wrow, size_t n,
    const struct quant_act *act, size_t k, const float *af)
{
	if (act->type != GGML_TYPE_Q8_1)
		return 0;
	size_t bs = ggml_type_traits_of(t)->block_bytes;
	float *s = xmalloc(n / 32 * sizeof *s);
	quant_act_block_sums(act, k, s);
	double fix = 0;
	for (size_t b = 0; b < n / 32; b++) {
		uint16_t m;
		memcpy(&m, wrow + b * bs + 2, 2);
		double sum = 0;
		for (size_t i = 32 * b; i < 32 * b + 32; i++)
			sum += af[i];
		fix += (double)quant_fp16_to_f32(m) * ((double)s[b] - sum);
	}
	free(s);
	return fix;
}

/* --- reference files ---------------------------------------------------------------------- */

struct ref_rows {
	enum ggml_type type;
	uint32_t n_rows, row_elems, raw_bytes;
	const uint8_t *p;   /* first row record: u64 index, raw bytes, f32 values */
};

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Parse one record at *pos of data[len]; advances *pos. 0 or -1. */
static int parse_record(const uint8_t *data, size_t len, size_t *pos, struct ref_rows *r)
{
	if (len - *pos < 24 || memcmp(data + *pos, "QREF", 4) != 0 || get_u32(data + *pos + 4) != 1)
		return -1;
	const uint8_t *h = data + *pos;
	r->type = (enum ggml_type)get_u32(h + 8);
	r->n_rows = get_u32(h + 12);
	r->row_elems = get_u32(h + 16);
	r->raw_bytes = get_u32(h + 20);
	size_t row_rec = 8 + (size_t)r->raw_bytes + 4 * (size_t)r->row_elems;
	if (r->n_rows > 1024 || r->row_elems > (1u << 20) || r->raw_bytes > (1u << 24) ||
	    (len - *pos - 24) / row_rec < r->n_rows)
		return -1;
	r->p = h + 24;
	*pos += 24 + row_rec * r->n_rows;
	return 0;
}

static char *data_path(const char *name)
{
	const char *src = getenv("srcdir");
	return xasprintf("%s/tests/data/quant/%s", src && *src ? src : ".", name);
}

/* Bit-exact float comparison; returns the first mismatching index or -1. */
static long first_mismatch(const float *a, const float *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (memcmp(&a[i], &b[i], 4) != 0)
			return (long)i;
	return -1;
}

static void test_dequant_refs(void)
{
	for (size_t ti = 0; ti < Q_ARRAY_LEN(all_types); ti++) {
		enum ggml_type t = all_types[ti];
		char *fname = xasprintf("%s.bin", tname(t));
		for (char *c = fname; *c; c++)
			*c = (char)(*c == 'K' ? 'k' : *c);
		char *path = data_path(fname);
		char *data = NULL, *err = NULL;
		size_t len = 0, pos = 0;
		struct ref_rows r;
		if (file_read_all(path, 1 << 24, &data, &len, &err) < 0 ||
		    parse_record((const uint8_t *)data, len, &pos, &r) < 0 || r.type != t) {
			ok(0, "read reference %s: %s", path, err ? err : "bad format");
			free(err);
			free(data);
			free(path);
			free(fname);
			continue;
		}
		const uint8_t *raw = r.p + 8;
		float *want = xmalloc(4 * (size_t)r.row_elems), *got = xmalloc(4 * (size_t)r.row_elems);
		memcpy(want, raw + r.raw_bytes, 4 * (size_t)r.row_elems);
		/* f16 goes through the SIMD conversion, so check it at every level */
		for (int l = 0; l <= (int)max_level; l++) {
			if (!cpu_simd_supported((enum cpu_simd_level)l))
				continue;
			cpu_simd_set((enum cpu_simd_level)l, NULL);
			memset(got, 0xff, 4 * (size_t)r.row_elems);
			int rc = quant_dequantize_row(t, raw, got, r.row_elems, &err);
			long bad = rc < 0 ? 0 : first_mismatch(got, want, r.row_elems);
			ok(rc == 0 && bad < 0, "dequantize %s (%u values) == gguf-py, %s", tname(t),
			    r.row_elems, cpu_simd_name((enum cpu_simd_level)l));
			if (bad >= 0)
				diag("element %ld: got %.9g want %.9g %s", bad, got[bad], want[bad],
				    err ? err : "");
			free(err);
			err = NULL;
		}
		cpu_simd_set(max_level, NULL);
		free(want);
		free(got);
		free(data);
		free(path);
		free(fname);
	}
}

/* --- fp16 / bf16 ------------------------------------------------------------------------ */

static double fp16_value(uint16_t h)   /* independent decoding, in double */
{
	int e = (h >> 10) & 0x1f, m = h & 0x3ff;
	double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(1024 + m, e - 25);
	return h & 0x8000 ? -v : v;
}

static void test_fp16(void)
{
	int bad_dec = 0, bad_rt = 0;
	for (uint32_t h = 0; h < 65536; h++) {
		float f = quant_fp16_to_f32((uint16_t)h);
		double want = fp16_value((uint16_t)h);
		if (isnan(want) ? !isnan(f) : (double)f != want || !signbit(f) != !signbit(want))
			bad_dec++;
		if (!isnan(want) && quant_f32_to_fp16(f) != h)
			bad_rt++;
	}
	is_int(bad_dec, 0, "fp16 -> f32 exact for all 65536 halves");
	is_int(bad_rt, 0, "f32 -> fp16 round-trips every non-NaN half");

	/* rounding: compare against the nearest-even choice computed in double */
	int bad_round = 0;
	for (int i = 0; i < 200000; i++) {
		uint32_t bits = (uint32_t)rnd();
		if (i < 100000)   /* concentrate on the half range, ties included */
			bits = (bits & 0x8000ffffu) | (uint32_t)(0x33000000u + (rnd() % 0x15000000u)) ;
		float f;
		memcpy(&f, &bits, 4);
		if (isnan(f))
			continue;
		uint16_t h = quant_f32_to_fp16(f);
		double v = fp16_value(h), x = (double)f;
		/* neighbours of h in magnitude */
		uint16_t up = (uint16_t)((h & 0x7fff) + 1), dn = (uint16_t)((h & 0x7fff) - 1);
		double vu = (h & 0x7fff) < 0x7c00 ? fp16_value(up) : INFINITY;
		double vd = (h & 0x7fff) > 0 ? fp16_value(dn) : 0;
		double ax = fabs(x), av = fabs(v);
		int good;
		if (isinf(av))
			good = ax >= 65520.0;
		else
			good = fabs(av - ax) <= fabs(vu - ax) && fabs(av - ax) <= fabs(vd - ax) &&
			    (fabs(av - ax) < fabs(vu - ax) || (h & 1) == 0) &&
			    (fabs(av - ax) < fabs(vd - ax) || (h & 1) == 0 || (h & 0x7fff) == 0) &&
			    (av == 0 || !signbit(v) == !signbit(x));
		if (!good && bad_round++ < 3)
			diag("f32 %.9g (0x%08x) -> fp16 0x%04x", f, bits, h);
	}
	is_int(bad_round, 0, "f32 -> fp16 rounds to nearest even (200000 values)");

	/* the SIMD row conversions (F16C) agree with the scalar ones bit for bit */
	enum { N = 4099 };
	float *x = xmalloc(N * sizeof *x), *y = xmalloc(N * sizeof *y);
	uint16_t *h = xmalloc(N * sizeof *h);
	for (int i = 0; i < N; i++) {
		uint32_t bits = (uint32_t)rnd();
		if (i % 3)
			bits = (bits & 0x8000ffffu) | (uint32_t)(0x33000000u + (rnd() % 0x15000000u));
		memcpy(&x[i], &bits, 4);
		if (isnan(x[i]))
			x[i] = 1;
	}
	for (int l = 1; l <= (int)max_level; l++) {
		const struct quant_kernels *k = quant_kernels_for((enum cpu_simd_level)l);
		if (k == NULL)
			continue;
		int bad = 0;
		k->f32_to_fp16(x, h, N);
		for (int i = 0; i < N; i++)
			bad += h[i] != quant_f32_to_fp16(x[i]);
		for (int i = 0; i < N; i++)
			h[i] = (uint16_t)rnd();
		k->fp16_to_f32(h, y, N);
		for (int i = 0; i < N; i++) {
			float want = quant_fp16_to_f32(h[i]);
			bad += memcmp(&want, &y[i], 4) != 0;
		}
		is_int(bad, 0, "%s fp16 row conversions == scalar", k->name);
	}
	free(x);
	free(y);
	free(h);

	is_int(quant_f32_to_bf16(1.0f), 0x3f80, "bf16(1.0)");
	is_int(quant_f32_to_bf16(1.00390625f), 0x3f80, "bf16 ties to even (down)");
	is_int(quant_f32_to_bf16(1.01171875f), 0x3f82, "bf16 ties to even (up)");
	ok(isnan(quant_bf16_to_f32(quant_f32_to_bf16(NAN))), "bf16 keeps NaN");
	ok(quant_bf16_to_f32(0xc0a0) == -5.0f, "bf16 -> f32");
}

/* --- dot products --------------------------------------------------------------------------- */

/* The row length used for a type: odd block counts exercise the SIMD tails. */
static size_t test_cols(enum ggml_type t)
{
	uint32_t be = ggml_type_traits_of(t)->block_elems;
	return be == 1 ? 611 : be == 32 ? 32 * 19 : 256 * 3;
}

static void test_dots(void)
{
	enum { ROWS = 6, NX = 9 };   /* NX > QUANT_ROWS_MAX_NX: every split */
	_Static_assert(ROWS >= QUANT_ROWS_NW + 1, "enough rows for dot_rows");
	for (size_t ti = 0; ti < Q_ARRAY_LEN(all_types); ti++) {
		enum ggml_type t = all_types[ti];
		size_t n = test_cols(t), row_bytes;
		quant_row_size(t, n, &row_bytes, NULL);
		uint8_t *w = xmalloc(row_bytes * ROWS);
		for (int r = 0; r < ROWS; r++) {
			void *row = random_row(t, n);
			memcpy(w + r * row_bytes, row, row_bytes);
			free(row);
		}
		float *x = random_floats(n * NX, 1.0f);
		struct quant_act act = QUANT_ACT_INIT;
		char *err = NULL;
		if (quant_act_prepare(&act, t, x, NX, n, NULL, &err) < 0)
			fatal("%s", err);

		/* scalar vs double: dot(dequantize(W), dequantize(activations)) */
		float *wf = xmalloc(n * sizeof *wf), *af = xmalloc(n * sizeof *af);
		float ref_out[ROWS][NX];
		double worst = 0;
		int bad = 0;
		for (int r = 0; r < ROWS; r++) {
			quant_dequantize_row(t, w + r * row_bytes, wf, n, NULL);
			const struct quant_kernels *ks = quant_kernels_for(CPU_SIMD_SCALAR);
			ks->dot[t](n, w + r * row_bytes, act.rows, act.stride, NX, ref_out[r]);
			for (int k = 0; k < NX; k++) {
				quant_act_dequantize(&act, (size_t)k, af);
				double sum = 0, mag = 0;
				for (size_t i = 0; i < n; i++) {
					sum += (double)wf[i] * af[i];
					mag += fabs((double)wf[i] * af[i]);
				}
				sum += q8_1_sum_fix(t, w + r * row_bytes, n, &act, (size_t)k, af);
				double e = fabs(ref_out[r][k] - sum) / (mag + 1e-30);
				if (e > worst)
					worst = e;
				bad += e > 2e-6;
			}
		}
		ok(bad == 0, "scalar %s dot == double dot of dequantized rows (n=%zu, worst rel %.2g)",
		    tname(t), n, worst);

		/* activations quantized well: the quantized dot is near the f32 one */
		if (act.type != GGML_TYPE_F32) {
			double mag = 0, sum = 0;
			quant_dequantize_row(t, w, wf, n, NULL);
			for (size_t i = 0; i < n; i++) {
				sum += (double)wf[i] * x[i];
				mag += fabs((double)wf[i] * x[i]);
			}
			ok(fabs(ref_out[0][0] - sum) <= 0.02 * mag, "%s activation quantization error "
			    "small (%.3g of %.3g)", tname(t), fabs(ref_out[0][0] - sum), mag);
		}

		/* every SIMD level vs scalar, with 1..NX activation rows per call */
		for (int l = 1; l <= (int)max_level; l++) {
			const struct quant_kernels *k = quant_kernels_for((enum cpu_simd_level)l);
			if (k == NULL)
				continue;
			double worst_l = 0;
			int bad_l = 0;
			int exact = ggml_type_traits_of(t)->block_elems == 32;
			for (int r = 0; r < ROWS; r++) {
				for (int nx = 1; nx <= NX; nx++) {
					float out[NX];
					k->dot[t](n, w + r * row_bytes, act.rows, act.stride, nx, out);
					for (int j = 0; j < nx; j++) {
						quant_act_dequantize(&act, (size_t)j, af);
						quant_dequantize_row(t, w + r * row_bytes, wf, n, NULL);
						double mag = 0;
						for (size_t i = 0; i < n; i++)
							mag += fabs((double)wf[i] * af[i]);
						double e = fabs(out[j] - ref_out[r][j]) / (mag + 1e-30);
						if (e > worst_l)
							worst_l = e;
						/* the 32-element block types follow ggml's order of
						 * operations at every level: bit-identical */
						bad_l += exact ? out[j] != ref_out[r][j] : e > 2e-6;
					}
				}
			}
			ok(bad_l == 0, "%s %s dot == scalar%s (%s kernel, worst rel %.2g)", k->name,
			    tname(t), exact ? ", bit for bit" : "", k->dot_level[t], worst_l);
			if (k->dot_rows[t] != NULL) {
				/* the multi-row kernel gives each row's dot bit for bit */
				int bad_r = 0;
				for (int nx = 1; nx <= NX; nx++) {
					float rows_out[NX][QUANT_ROWS_NW], one[NX];
					k->dot_rows[t](n, w + row_bytes, row_bytes, act.rows, act.stride,
					    nx, &rows_out[0][0], QUANT_ROWS_NW);
					for (int r = 0; r < QUANT_ROWS_NW; r++) {
						k->dot[t](n, w + (size_t)(r + 1) * row_bytes, act.rows,
						    act.stride, nx, one);
						for (int j = 0; j < nx; j++)
							bad_r += rows_out[j][r] != one[j];
					}
				}
				is_int(bad_r, 0, "%s %s: %d rows at once == one at a time, bit for bit",
				    k->name, tname(t), QUANT_ROWS_NW);
			}
		}
		quant_act_free(&act);
		free(wf);
		free(af);
		free(x);
		free(w);
	}
}

/* ggml's rules, computed here independently (libm's rintf rounds to nearest even): for
 * Q8_0/Q8_1 q = rint(x * (127/amax)), d = fp16(amax/127), s = d * sum(q) (Q8_0) or
 * fp16(amax/127 * sum(q)) (Q8_1, the scale before rounding); for Q8_K the same q over 256
 * elements and d = 1/(127/amax). Returns the number of mismatching blocks. */
static int check_act_rule(const float *x, const unsigned char *row, size_t n, enum ggml_type at)
{
	size_t bl = at == GGML_TYPE_Q8_K ? 256 : 32;
	const int8_t *q = (const int8_t *)row;
	const float *d = (const float *)(const void *)(row + n);
	const float *s = d + n / bl;
	int bad = 0;
	for (size_t b = 0; b < n / bl; b++) {
		const float *xb = x + b * bl;
		float amax = 0;
		for (size_t j = 0; j < bl; j++)
			amax = fabsf(xb[j]) > amax ? fabsf(xb[j]) : amax;
		float id = amax != 0 ? 127.0f / amax : 0.0f;
		int sum = 0, qbad = 0;
		for (size_t j = 0; j < bl; j++) {
			qbad += q[b * bl + j] != (int)rintf(xb[j] * id);
			sum += q[b * bl + j];
		}
		float want_d, want_s = 0;
		if (at == GGML_TYPE_Q8_K) {
			want_d = amax != 0 ? 1.0f / id : 0.0f;
		} else {
			want_d = quant_fp16_to_f32(quant_f32_to_fp16(amax / 127.0f));
			want_s = at == GGML_TYPE_Q8_0 ? want_d * (float)sum
			    : quant_fp16_to_f32(quant_f32_to_fp16(amax / 127.0f * (float)sum));
		}
		bad += qbad != 0 || d[b] != want_d || (at != GGML_TYPE_Q8_K && s[b] != want_s);
	}
	return bad;
}

/* Every level quantizes activations to the same bytes as the scalar code (ties included), and
 * the scalar code follows ggml's rules. */
static void test_act_quantization(void)
{
	enum { N = 1024 };
	float *x = random_floats(N, 3.0f);
	/* the second 256-block has amax 127, so d = 1 and the halves are exact ties */
	for (int j = 256; j < 512; j++)
		x[j] = (float)((j % 255) - 127) + (j % 3 == 0 ? 0.5f : j % 3 == 1 ? -0.5f : 0.25f);
	x[300] = 127;
	for (int j = 512; j < 544; j++)   /* a Q8_0 block the same way */
		x[j] = (float)((j % 200) - 100) * 0.5f + 0.25f;
	x[520] = 127;
	x[600] = 0;
	for (int j = 640; j < 672; j++)   /* an all-zero block */
		x[j] = 0;
	for (int j = 672; j < 704; j++)   /* amax 1: 0.5 * 127 = 63.5, a tie, goes to 64 */
		x[j] = j == 672 ? 1.0f : 0.5f;
	static const float ties[6] = { 127, 2.5f, -2.5f, 1.75f, 3.5f, -0.5f };
	for (int j = 704; j < 736; j++)   /* amax 127: d = 1, so the values are rounded as is */
		x[j] = j < 710 ? ties[j - 704] : 0;
	unsigned char *want = NULL, *got = NULL;
	enum { BYTES = 4 * N };   /* more than a row of either layout */
	if (posix_memalign((void **)&want, 64, BYTES) || posix_memalign((void **)&got, 64, BYTES))
		fatal("out of memory");
	static const enum ggml_type act_types[] = { GGML_TYPE_Q8_0, GGML_TYPE_Q8_1, GGML_TYPE_Q8_K };
	for (int which = 0; which < 3; which++) {
		enum ggml_type at = act_types[which];
		void (*scalar)(const float *, unsigned char *, size_t) =
		    which == 0 ? quant_kernels_for(CPU_SIMD_SCALAR)->act_q8_0 :
		    which == 1 ? quant_kernels_for(CPU_SIMD_SCALAR)->act_q8_1 :
		    quant_kernels_for(CPU_SIMD_SCALAR)->act_q8_K;
		memset(want, 0, BYTES);
		scalar(x, want, N);
		is_int(check_act_rule(x, want, N, at), 0, "scalar %s activations follow ggml's rule "
		    "(nearest-even q, scale and sums)", tname(at));
		for (int l = 1; l <= (int)max_level; l++) {
			const struct quant_kernels *k = quant_kernels_for((enum cpu_simd_level)l);
			if (k == NULL)
				continue;
			memset(got, 0, BYTES);
			(which == 0 ? k->act_q8_0 : which == 1 ? k->act_q8_1 : k->act_q8_K)(x, got, N);
			ok(memcmp(got, want, BYTES) == 0, "%s quantizes activations to %s exactly as "
			    "scalar", k->name, tname(at));
		}
	}
	/* fixed values: ties to even, and Q8_1's sum from the unrounded scale */
	quant_kernels_active()->act_q8_1(x, got, N);
	const int8_t *q = (const int8_t *)got;
	const float *d = (const float *)(const void *)(got + N), *s = d + N / 32;
	ok(q[672] == 127 && q[673] == 64 && q[703] == 64, "63.5 rounds to 64 (q %d %d)", q[672],
	    q[673]);
	ok(q[704] == 127 && q[705] == 2 && q[706] == -2 && q[707] == 2 && q[708] == 4 &&
	    q[709] == 0, "ties to even: 2.5 -> 2, -2.5 -> -2, 3.5 -> 4, -0.5 -> 0 (q %d %d %d %d "
	    "%d)", q[705], q[706], q[707], q[708], q[709]);
	/* d = fp16(1/127) = 1032 * 2^-17; sum = 127 + 31 * 64 = 2111; 2111/127 = 16.622...,
	 * whose nearest half is 16.625, while d * 2111 = 16.62103... */
	ok(d[21] == 0.00787353515625f && s[21] == 16.625f, "q8_1 block sum is fp16(2111/127) = "
	    "16.625 (d %.9g s %.9g)", d[21], s[21]);
	quant_kernels_active()->act_q8_0(x, got, N);
	ok(s[21] == 0.00787353515625f * 2111, "q8_0 block sum is d * 2111 (%.9g)", s[21]);

	/* the scalar activation blocks are ggml's Q8_0 blocks */
	struct block_q8_0 blk[N / 32];
	quant_quantize_row_q8_0(x, blk, N);
	quant_kernels_for(CPU_SIMD_SCALAR)->act_q8_0(x, want, N);
	int bad = 0;
	for (int i = 0; i < N / 32; i++) {
		bad += memcmp(blk[i].qs, want + 32 * i, 32) != 0;
		float dd;
		memcpy(&dd, want + N + 4 * i, 4);
		bad += dd != quant_fp16_to_f32(blk[i].d);
	}
	is_int(bad, 0, "q8_0 activation rows hold the numbers of ggml Q8_0 blocks");
	free(want);
	free(got);
	free(x);
}

/* --- matrix products -------------------------------------------------------------------- */

static void test_matmul(void)
{
	static const size_t rows_list[] = { 1, 5, 37, 130 };
	static const size_t tok_list[] = { 1, 3, 7, 66 };
	static const int threads_list[] = { 1, 2, 3, 5 };
	struct threadpool *pools[Q_ARRAY_LEN(threads_list)];
	for (size_t i = 0; i < Q_ARRAY_LEN(threads_list); i++) {
		char *err = NULL;
		if (threadpool_create(threads_list[i], &pools[i], &err) < 0)
			fatal("%s", err);
	}
	for (size_t ti = 0; ti < Q_ARRAY_LEN(all_types); ti++) {
		enum ggml_type t = all_types[ti];
		size_t n = test_cols(t), row_bytes;
		quant_row_size(t, n, &row_bytes, NULL);
		size_t max_rows = rows_list[Q_ARRAY_LEN(rows_list) - 1];
		size_t max_tok = tok_list[Q_ARRAY_LEN(tok_list) - 1];
		uint8_t *w = xmalloc(row_bytes * max_rows);
		for (size_t r = 0; r < max_rows; r++) {
			void *row = random_row(t, n);
			memcpy(w + r * row_bytes, row, row_bytes);
			free(row);
		}
		float *x = random_floats(n * max_tok, 1.0f);
		float *wf = xmalloc(n * max_rows * sizeof *wf), *af = xmalloc(n * sizeof *af);
		for (size_t r = 0; r < max_rows; r++)
			quant_dequantize_row(t, w + r * row_bytes, wf + r * n, n, NULL);
		float *y = xmalloc(max_rows * max_tok * sizeof *y);
		int bad = 0, runs = 0;
		double worst = 0;
		for (size_t ri = 0; ri < Q_ARRAY_LEN(rows_list); ri++)
		for (size_t ki = 0; ki < Q_ARRAY_LEN(tok_list); ki++)
		for (size_t pi = 0; pi < Q_ARRAY_LEN(threads_list); pi++) {
			size_t nr = rows_list[ri], nt = tok_list[ki];
			char *err = NULL;
			for (size_t i = 0; i < nr * nt; i++)
				y[i] = NAN;
			if (matmul(pools[pi], t, w, nr, n, x, nt, y, &err) < 0) {
				diag("matmul: %s", err);
				free(err);
				bad++;
				continue;
			}
			runs++;
			/* reference: the quantized activations (what the kernels see) in double */
			struct quant_act act = QUANT_ACT_INIT;
			quant_act_prepare(&act, t, x, nt, n, NULL, NULL);
			for (size_t k = 0; k < nt; k++) {
				quant_act_dequantize(&act, k, af);
				for (size_t r = 0; r < nr; r++) {
					double sum = 0, mag = 0;
					for (size_t i = 0; i < n; i++) {
						sum += (double)wf[r * n + i] * af[i];
						mag += fabs((double)wf[r * n + i] * af[i]);
					}
					sum += q8_1_sum_fix(t, w + r * row_bytes, n, &act, k, af);
					double e = fabs(y[k * nr + r] - sum) / (mag + 1e-30);
					if (!(e <= 2e-6)) {
						if (bad++ < 3)
							diag("rows %zu tokens %zu threads %d: y[%zu][%zu] "
							    "%.8g want %.8g", nr, nt, threads_list[pi], k,
							    r, y[k * nr + r], sum);
					} else if (e > worst) {
						worst = e;
					}
				}
			}
			quant_act_free(&act);
		}
		ok(bad == 0, "matmul %s (%s): %d shapes x threads match the double reference "
		    "(worst rel %.2g)", tname(t), quant_kernels_active()->dot_level[t], runs, worst);
		free(y);
		free(wf);
		free(af);
		free(x);
		free(w);
	}
	for (size_t i = 0; i < Q_ARRAY_LEN(threads_list); i++)
		threadpool_destroy(pools[i]);

	/* errors, not crashes */
	float y1[4], x1[40] = { 0 };
	uint8_t wbuf[64] = { 0 };
	char *err = NULL;
	int rc = matmul(NULL, GGML_TYPE_Q4_1, wbuf, 1, 40, x1, 1, y1, &err);
	ok(rc < 0 && err != NULL, "matmul rejects a row that is not whole blocks: %s",
	    err ? err : "");
	free(err);
	err = NULL;
	rc = matmul(NULL, GGML_TYPE_Q2_K, wbuf, 1, 256, x1, 0, y1, &err);
	ok(rc < 0 && err != NULL, "matmul rejects an unsupported type: %s", err ? err : "");
	free(err);
	err = NULL;
	rc = matmul(NULL, GGML_TYPE_F32, wbuf + 1, 1, 4, x1, 1, y1, &err);
	ok(rc < 0 && err != NULL, "matmul rejects misaligned weights: %s", err ? err : "");
	free(err);
	err = NULL;
	rc = quant_dequantize_row((enum ggml_type)77, wbuf, y1, 1, &err);
	ok(rc < 0 && err != NULL, "dequantize rejects an unknown type id: %s", err ? err : "");
	free(err);
}

/* --- the default model -------------------------------------------------------------------- */

/* q4_K products in llama.cpp's repacked orders (MATMUL_Q4_K_X8) at every level: each token's
 * output is bit for bit what the level's per-row kernel in that token's order gives (gemm for
 * the whole groups of four tokens, gemv for the rest), whatever the rows, tokens and threads. */
/* Several products of the same activations in one pass of the pool (q, k and v; gate and
 * up) give what one matmul_act() per product gives, bit for bit, whatever the threads; a
 * product of no rows is skipped; too many products and a weight type the activations were
 * not made for are errors. */
static void test_matmul_many(void)
{
	static const enum ggml_type types[] = { GGML_TYPE_Q4_1, GGML_TYPE_Q8_0, GGML_TYPE_Q4_K,
	    GGML_TYPE_F16 };
	static const size_t rows[] = { 37, 0, 130, 5 };   /* the products' row counts */
	static const size_t tok_list[] = { 1, 3, 8, 66 };
	static const int threads_list[] = { 1, 2, 3 };
	enum { NP = Q_ARRAY_LEN(rows) };
	_Static_assert(NP <= MATMUL_MAX_PARTS, "the test's products fit one pass");
	const size_t max_tok = 66, max_rows = 130;
	for (size_t ti = 0; ti < Q_ARRAY_LEN(types); ti++) {
		enum ggml_type t = types[ti];
		size_t n = test_cols(t), row_bytes;
		quant_row_size(t, n, &row_bytes, NULL);
		uint8_t *w[NP];
		float *want[NP], *got[NP];
		for (size_t p = 0; p < NP; p++) {
			w[p] = xmalloc(row_bytes * (rows[p] ? rows[p] : 1));
			for (size_t r = 0; r < rows[p]; r++) {
				void *row = random_row(t, n);
				memcpy(w[p] + r * row_bytes, row, row_bytes);
				free(row);
			}
			/* one float past the largest product, to see that nothing lands there */
			want[p] = xmalloc((max_rows * max_tok + 1) * sizeof(float));
			got[p] = xmalloc((max_rows * max_tok + 1) * sizeof(float));
		}
		float *x = random_floats(n * max_tok, 1.0f);
		int bad = 0, runs = 0;
		for (size_t pi = 0; pi < Q_ARRAY_LEN(threads_list); pi++) {
			struct threadpool *pool;
			char *err = NULL;
			if (threadpool_create(threads_list[pi], &pool, &err) < 0)
				fatal("%s", err);
			for (size_t ki = 0; ki < Q_ARRAY_LEN(tok_list); ki++) {
				size_t nt = tok_list[ki];
				unsigned flags = t == GGML_TYPE_Q4_K ? MATMUL_Q4_K_X8 : 0;
				struct quant_act act = QUANT_ACT_INIT;
				struct matmul_spec spec[NP];
				if (quant_act_prepare(&act, t, x, nt, n, NULL, &err) < 0)
					fatal("%s", err);
				for (size_t p = 0; p < NP; p++) {
					for (size_t i = 0; i <= max_rows * max_tok; i++)
						got[p][i] = want[p][i] = NAN;
					if (matmul_act(pool, t, w[p], rows[p], &act, flags, want[p],
					    &err) < 0)
						fatal("%s", err);
					spec[p] = (struct matmul_spec){ t, w[p], rows[p], flags, got[p] };
				}
				if (matmul_many(pool, spec, NP, &act, &err) < 0)
					fatal("%s", err);
				for (size_t p = 0; p < NP; p++)
					for (size_t i = 0; i < rows[p] * nt; i++)
						if (memcmp(&got[p][i], &want[p][i], sizeof(float)) != 0 &&
						    bad++ < 3)
							diag("%d threads, %zu tokens: product %zu [%zu] "
							    "%.9g, alone %.9g", threads_list[pi], nt, p, i,
							    got[p][i], want[p][i]);
				/* nothing written past a product's rows */
				for (size_t p = 0; p < NP; p++)
					bad += !isnan(got[p][rows[p] * nt]);
				quant_act_free(&act);
				runs++;
			}
			threadpool_destroy(pool);
		}
		ok(bad == 0, "matmul_many %s: %zu products in one pass == one matmul_act each, bit "
		    "for bit (%d token counts x threads)", tname(t), (size_t)NP, runs);
		for (size_t p = 0; p < NP; p++) {
			free(w[p]);
			free(want[p]);
			free(got[p]);
		}
		free(x);
	}

	/* errors */
	float y[64], x[64] = { 0 };
	uint8_t wbuf[64] = { 0 };
	char *err = NULL;
	struct quant_act act = QUANT_ACT_INIT;
	quant_act_prepare(&act, GGML_TYPE_Q4_1, x, 1, 32, NULL, NULL);
	struct matmul_spec many[MATMUL_MAX_PARTS + 1];
	for (size_t p = 0; p < Q_ARRAY_LEN(many); p++)
		many[p] = (struct matmul_spec){ GGML_TYPE_Q4_1, wbuf, 1, 0, y };
	int rc = matmul_many(NULL, many, Q_ARRAY_LEN(many), &act, &err);
	ok(rc < 0 && err != NULL, "matmul_many rejects %d products: %s", MATMUL_MAX_PARTS + 1,
	    err ? err : "");
	free(err);
	err = NULL;
	many[1].type = GGML_TYPE_Q8_0;   /* its activations would be q8_0, not q8_1 */
	rc = matmul_many(NULL, many, 2, &act, &err);
	ok(rc < 0 && err != NULL, "matmul_many rejects a product of another activation type: %s",
	    err ? err : "");
	free(err);
	quant_act_free(&act);
}

static void test_matmul_q4_K_x8(void)
{
	static const size_t rows_list[] = { 8, 13, 64 };
	static const size_t tok_list[] = { 1, 3, 4, 7, 66 };
	const size_t n = 256 * 3, max_rows = 64, max_tok = 66;
	size_t row_bytes;
	quant_row_size(GGML_TYPE_Q4_K, n, &row_bytes, NULL);
	uint8_t *w = xmalloc(row_bytes * max_rows);
	for (size_t r = 0; r < max_rows; r++) {
		void *row = random_row(GGML_TYPE_Q4_K, n);
		memcpy(w + r * row_bytes, row, row_bytes);
		free(row);
	}
	float *x = random_floats(n * max_tok, 1.0f), *y = xmalloc(max_rows * max_tok * sizeof *y);
	struct threadpool *pool;
	char *err = NULL;
	if (threadpool_create(2, &pool, &err) < 0)
		fatal("%s", err);
	for (int l = 0; l <= (int)max_level; l++) {
		const struct quant_kernels *k = quant_kernels_for((enum cpu_simd_level)l);
		if (k == NULL || k->dot_q4_K_x8[0] == NULL)
			continue;
		int bad = 0, runs = 0;
		for (size_t ri = 0; ri < Q_ARRAY_LEN(rows_list); ri++)
		for (size_t ki = 0; ki < Q_ARRAY_LEN(tok_list); ki++) {
			size_t nr = rows_list[ri], nt = tok_list[ki];
			size_t split = nt > 3 ? nt - nt % 4 : 0;
			struct quant_act act = QUANT_ACT_INIT;
			if (quant_act_prepare(&act, GGML_TYPE_Q4_K, x, nt, n, NULL, &err) < 0 ||
			    matmul_act_with(k, pool, GGML_TYPE_Q4_K, w, nr, &act, MATMUL_Q4_K_X8, y,
			    &err) < 0)
				fatal("%s", err);
			for (size_t r = 0; r < nr; r++)
				for (size_t t = 0; t < nt; t++) {
					float one;
					k->dot_q4_K_x8[t < split](n, w + r * row_bytes,
					    act.rows + t * act.stride, act.stride, 1, &one);
					bad += y[t * nr + r] != one;
				}
			quant_act_free(&act);
			runs++;
		}
		ok(bad == 0, "%s q4_K in llama.cpp's repacked orders: matmul == per-row kernels, "
		    "bit for bit (%d shapes%s)", k->name, runs,
		    k->dot_q4_K_x8g_rows ? ", 4-row gemm kernel" : "");
	}
	threadpool_destroy(pool);
	free(w);
	free(x);
	free(y);
}

static void test_model_rows(void)
{
	const char *model = getenv("QUIRE_TEST_MODEL");
	if (model == NULL || *model == '\0') {
		skip(1, "QUIRE_TEST_MODEL not set");
		return;
	}
	char *err = NULL, *data = NULL;
	size_t len = 0;
	struct gguf_file *g = NULL;
	char *path = data_path("model-rows.bin");
	if (gguf_open(model, &g, &err) < 0) {
		skip(1, "cannot open QUIRE_TEST_MODEL");
		diag("%s", err);
		free(err);
		free(path);
		return;
	}
	if (file_read_all(path, 1 << 24, &data, &len, &err) < 0) {
		ok(0, "read %s: %s", path, err);
		free(err);
		free(path);
		gguf_close(g);
		return;
	}
	const uint8_t *d = (const uint8_t *)data;
	size_t pos = 0;
	int records = 0;
	while (pos < len) {
		if (len - pos < 4)
			break;
		uint32_t name_len = get_u32(d + pos);
		if (name_len > 256 || len - pos - 4 < name_len)
			break;
		char *name = xstrndup((const char *)d + pos + 4, name_len);
		pos += 4 + name_len;
		struct ref_rows r;
		if (parse_record(d, len, &pos, &r) < 0) {
			free(name);
			break;
		}
		records++;
		const struct gguf_tensor *tn = gguf_find_tensor(g, name);
		if (tn == NULL || tn->type != r.type || (uint64_t)tn->ne[0] != r.row_elems ||
		    tn->row_bytes != r.raw_bytes) {
			ok(0, "model tensor %s present with the reference's type and shape", name);
			free(name);
			continue;
		}
		float *got = xmalloc(4 * (size_t)r.row_elems), *want = xmalloc(4 * (size_t)r.row_elems);
		size_t rec = 8 + (size_t)r.raw_bytes + 4 * (size_t)r.row_elems;
		int bad = 0, same_raw = 1;
		for (uint32_t k = 0; k < r.n_rows; k++) {
			const uint8_t *p = r.p + k * rec;
			uint64_t idx = (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
			if (idx >= (uint64_t)(tn->nbytes / tn->row_bytes)) {
				bad++;
				continue;
			}
			const uint8_t *row = (const uint8_t *)tn->data + idx * tn->row_bytes;
			same_raw &= memcmp(row, p + 8, r.raw_bytes) == 0;
			memcpy(want, p + 8 + r.raw_bytes, 4 * (size_t)r.row_elems);
			if (quant_dequantize_row(tn->type, row, got, r.row_elems, NULL) < 0 ||
			    first_mismatch(got, want, r.row_elems) >= 0)
				bad++;
		}
		ok(same_raw, "%s: the model's bytes are the ones the reference was made from", name);
		ok(bad == 0, "%s (%s): %u rows dequantize exactly as gguf-py", name, tname(tn->type),
		    r.n_rows);
		free(got);
		free(want);
		free(name);
	}
	ok(records == 2 && pos == len, "model-rows.bin holds 2 well-formed records");
	free(data);
	free(path);
	gguf_close(g);
}

int main(void)
{
	char *err = NULL;
	if (cpu_simd_init(&err) < 0) {
		/* a QUIRE_SIMD this CPU can't honour: say so plainly and fail */
		printf("Bail out! %s\n", err);
		free(err);
		return 1;
	}
	max_level = cpu_simd_level();
	{
		char levels[64] = "";
		for (int l = 0; l <= (int)max_level; l++)
			if (cpu_simd_supported((enum cpu_simd_level)l)) {
				strcat(levels, " ");
				strcat(levels, cpu_simd_name((enum cpu_simd_level)l));
			}
		diag("CPU features: %s", cpu_features_string());
		diag("SIMD levels tested:%s (active: %s; QUIRE_SIMD=%s)", levels,
		    cpu_simd_level_name(), getenv("QUIRE_SIMD") ? getenv("QUIRE_SIMD") : "(unset)");
	}

	enum cpu_simd_level parsed;
	char *perr = NULL;
	int prc = cpu_simd_parse("avx9000", &parsed, &perr);
	ok(prc < 0 && perr != NULL, "unknown SIMD level is an error: %s", perr ? perr : "");
	free(perr);
	perr = NULL;
	prc = cpu_simd_parse("amx", &parsed, &perr);
	ok(prc < 0 && perr != NULL && strstr(perr, "no AMX kernels") != NULL,
	    "'amx' is an error that says why: %s", perr ? perr : "");
	free(perr);
	perr = NULL;
	for (int l = 0; l < CPU_SIMD_COUNT_; l++) {
		if (cpu_simd_supported((enum cpu_simd_level)l))
			continue;
		prc = cpu_simd_set((enum cpu_simd_level)l, &perr);
		ok(prc < 0 && perr != NULL, "forcing missing level %s is an error: %s", cpu_simd_name((enum cpu_simd_level)l),
		    perr ? perr : "");
		free(perr);
		perr = NULL;
	}
	cpu_simd_set(max_level, NULL);

	test_dequant_refs();
	test_fp16();
	test_act_quantization();
	test_dots();
	test_matmul();
	test_matmul_many();
	test_matmul_q4_K_x8();
	test_model_rows();
	done_testing();
	return exit_status();
}
