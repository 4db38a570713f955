/* t-kv-summary.c: block key summaries and their side file (engine/kv-summary.c).
 *
 * Summaries: keys rotated at their positions as the forward pass rotates them (plain RoPE with
 * ggml's angles across their limit, NEOX with partial rotary, YaRN with its magnitude, a table
 * per layer), stored as f16 and q8_0 rows, with junk in the rows past a partial block's tokens;
 * every bound must be the fp16 value next to the extreme of the stored keys un-rotated with
 * rope_shift_rows (found by search over every fp16 value), the un-rotated keys must be m k0,
 * and the bound must hold for queries at any distance, also end to end for keys moved into
 * place. Tiny (subnormal) and huge (past fp16's range) keys test the rounding at its edges.
 * The side file: round trips, in-place rewrites, a reader's mapping outliving a replaced file,
 * and every check of header and slot shown to fail; `quire check`'s report. */
#include "config.h"

#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/kv-summary.h"
#include "engine/rope.h"
#include "engine/sample.h"
#include "kernels/quant.h"
#include "lib/checksum.h"
#include "lib/util.h"
#include "tests/tap.h"

static char tmp[1024];        /* this run's folder */
static uint64_t rng = 0x5eed5eedull;

static float frand(void)      /* uniform in [-1, 1) */
{
	return (float)((double)(splitmix64(&rng) >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

/* --- RoPE tables -------------------------------------------------------------------------- */

static struct rope_table table_of(enum rope_pairing pairing, int n_rot, double base,
    enum rope_variant v, double scale)
{
	struct rope_config c;
	struct rope_table t;
	char *err = NULL;
	rope_config_init(&c, pairing, n_rot, base, 4096);
	c.variant = v;
	c.scale = scale;
	if (rope_config_finish(&c, 16384, &err) != 0 || rope_table_build(&c, &t, &err) != 0) {
		diag("rope table: %s", err);
		free(err);
		memset(&t, 0, sizeof t);
	}
	return t;
}

/* The forward pass's rotation of one row at pos (engine/backend-cpu.c's rope_rows). */
static void rotate_at(float *row, size_t n_head, size_t hd, double pos,
    const struct rope_table *rt)
{
	float cs[ROPE_MAX_PAIRS], sn[ROPE_MAX_PAIRS];
	rope_cos_sin_at(pos, rope_table_freq_at(rt, pos), rt->ggml_theta_scale,
	    rt->ggml_has_div ? rt->ggml_div : NULL, rt->n_pairs, rt->m_f32, cs, sn);
	for (size_t h = 0; h < n_head; h++)
		rope_rotate(row + h * hd, rt->n_rot, rt->pairing, cs, sn);
}

/* --- fp16 by search ----------------------------------------------------------------------- */

static float fp16_all[65536];  /* every fp16 value but the NaNs, ascending */
static size_t fp16_n;

static int cmp_float(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;
	return x < y ? -1 : x > y;
}

static void fp16_table(void)
{
	for (uint32_t h = 0; h < 65536; h++) {
		float f = quant_fp16_to_f32((uint16_t)h);
		if (!isnan(f))
			fp16_all[fp16_n++] = f;
	}
	qsort(fp16_all, fp16_n, sizeof(float), cmp_float);
}

static float fp16_floor_ref(float v)   /* the largest fp16 value <= v */
{
	size_t lo = 0, hi = fp16_n;     /* fp16_all[lo..hi) may hold it; -inf <= v always */
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (fp16_all[mid] <= v)
			lo = mid;
		else
			hi = mid;
	}
	return fp16_all[lo];
}

static float fp16_ceil_ref(float v)    /* the smallest fp16 value >= v */
{
	return -fp16_floor_ref(-v);
}

/* --- stored rows -------------------------------------------------------------------------- */

static size_t row_bytes(const struct kv_file_params *p)
{
	return kv_file_row_bytes(p->dtype, p->n_head_kv * p->head_dim);
}

static void store_row(const struct kv_file_params *p, const float *x, uint8_t *dst)
{
	size_t n = (size_t)p->n_head_kv * p->head_dim;
	if (p->dtype == 1)
		quant_quantize_row_q8_0(x, (struct block_q8_0 *)(void *)dst, n);
	else
		quant_f32_to_fp16_row(x, (uint16_t *)(void *)dst, n);
}

/* A stored row back to f32 the plain way: fp16 by fp16, or d * q block by block. */
static void load_row(const struct kv_file_params *p, const uint8_t *src, float *x)
{
	size_t n = (size_t)p->n_head_kv * p->head_dim;
	if (p->dtype == 1) {
		for (size_t b = 0; b < n / QK8_0; b++) {
			struct block_q8_0 blk;
			memcpy(&blk, src + b * sizeof blk, sizeof blk);
			float d = quant_fp16_to_f32(blk.d);
			for (int j = 0; j < QK8_0; j++)
				x[b * QK8_0 + j] = d * (float)blk.qs[j];
		}
	} else {
		for (size_t i = 0; i < n; i++) {
			uint16_t h;
			memcpy(&h, src + 2 * i, 2);
			x[i] = quant_fp16_to_f32(h);
		}
	}
}

/* --- summaries ---------------------------------------------------------------------------- */

enum keys { KEYS_PLAIN, KEYS_TINY, KEYS_HUGE };

struct sum_case {
	const char *name;
	uint32_t dtype, n_layer, n_head, hd, bt, n_tok;
	uint64_t pos0;
	const struct rope_table *rt[2];   /* per layer */
	enum keys keys;
};

static double dot(const float *a, const float *b, size_t n)
{
	double s = 0;
	for (size_t i = 0; i < n; i++)
		s += (double)a[i] * b[i];
	return s;
}

/* sum_c max(q_c min_c, q_c max_c) over one head. */
static double bound(const float *q, const uint16_t *mn, const uint16_t *mx, size_t n)
{
	double s = 0;
	for (size_t c = 0; c < n; c++) {
		double a = (double)q[c] * quant_fp16_to_f32(mn[c]);
		double b = (double)q[c] * quant_fp16_to_f32(mx[c]);
		s += a > b ? a : b;
	}
	return s;
}

static void test_case(const struct sum_case *tc)
{
	struct kv_file_params p = {
		.model_id = 1, .rope_id = 2, .dtype = tc->dtype, .block_tokens = tc->bt, .sinks = 0,
		.window = UINT32_MAX, .n_layer = tc->n_layer, .n_head_kv = tc->n_head,
		.head_dim = tc->hd,
	};
	size_t hd = tc->hd, kv_dim = (size_t)tc->n_head * hd, rb = row_bytes(&p);
	size_t n_k = (size_t)tc->n_layer * tc->bt * kv_dim;
	float *k0 = xreallocarray(NULL, n_k, sizeof(float));      /* [l][r][c] unrotated */
	float *u = xreallocarray(NULL, n_k, sizeof(float));       /* stored, un-rotated */
	uint8_t *rows = xreallocarray(NULL, (size_t)tc->n_layer * tc->bt, rb);
	float *x = xreallocarray(NULL, kv_dim, sizeof(float));
	const void *k_rows[2];

	for (uint32_t l = 0; l < tc->n_layer; l++) {
		k_rows[l] = rows + (size_t)l * tc->bt * rb;
		for (uint32_t r = 0; r < tc->bt; r++) {
			float *k = k0 + ((size_t)l * tc->bt + r) * kv_dim;
			uint8_t *dst = rows + ((size_t)l * tc->bt + r) * rb;
			for (size_t c = 0; c < kv_dim; c++)
				k[c] = tc->keys == KEYS_TINY ? frand() * 2e-6f : frand();
			if (tc->keys == KEYS_HUGE) {
				/* the file's own rows, near fp16's largest value: un-rotated, a pair
				 * can reach sqrt(2) * 65504, past fp16's range */
				for (size_t c = 0; c < kv_dim; c++)
					x[c] = (c & 1 ? 65504.0f : 60000.0f) * (frand() < 0 ? -1.0f : 1.0f);
			} else {
				memcpy(x, k, kv_dim * sizeof(float));
				rotate_at(x, tc->n_head, hd, (double)(tc->pos0 + r), tc->rt[l]);
			}
			if (r >= tc->n_tok)   /* junk a partial block must not count */
				for (size_t c = 0; c < kv_dim; c++)
					x[c] = c & 1 ? 300.0f : -300.0f;
			store_row(&p, x, dst);
			load_row(&p, dst, u + ((size_t)l * tc->bt + r) * kv_dim);
			rope_shift_rows(u + ((size_t)l * tc->bt + r) * kv_dim, 1, tc->n_head, hd,
			    -(int64_t)(tc->pos0 + r), tc->rt[l]);
		}
	}
	uint8_t *sum = xmalloc(kv_summary_bytes(&p));
	kv_summary_compute(&p, k_rows, tc->n_tok, tc->pos0, tc->rt, sum);

	/* every bound: the fp16 value next to the extreme, outwards */
	size_t outside = 0, loose = 0, far = 0;
	double worst = 0;
	for (uint32_t l = 0; l < tc->n_layer; l++)
		for (uint32_t g = 0; g < tc->n_head; g++) {
			const uint16_t *mn = kv_summary_min(&p, sum, l, g);
			const uint16_t *mx = kv_summary_max(&p, sum, l, g);
			for (size_t c = 0; c < hd; c++) {
				float lo = INFINITY, hi = -INFINITY;
				for (uint32_t r = 0; r < tc->n_tok; r++) {
					float v = u[((size_t)l * tc->bt + r) * kv_dim + g * hd + c];
					if (v < quant_fp16_to_f32(mn[c]) || v > quant_fp16_to_f32(mx[c]))
						outside++;
					lo = v < lo ? v : lo;
					hi = v > hi ? v : hi;
				}
				if (quant_fp16_to_f32(mn[c]) != fp16_floor_ref(lo) ||
				    quant_fp16_to_f32(mx[c]) != fp16_ceil_ref(hi)) {
					if (loose++ == 0)
						diag("layer %u head %u channel %zu: [%a, %a] for [%a, %a]", l, g, c,
						    (double)quant_fp16_to_f32(mn[c]),
						    (double)quant_fp16_to_f32(mx[c]), (double)lo, (double)hi);
				}
			}
		}
	ok(outside == 0, "%s: every stored key, un-rotated, lies within its bounds", tc->name);
	ok(loose == 0, "%s: each bound is the nearest fp16 value outwards (%zu are not)", tc->name,
	    loose);

	/* position-free: the stored keys un-rotated are m k0, within the storage error */
	if (tc->keys != KEYS_HUGE) {
		float scale = tc->keys == KEYS_TINY ? 2e-6f : 1.0f;
		for (uint32_t l = 0; l < tc->n_layer; l++) {
			float tol = (tc->dtype == 1 ? 2e-2f : 4e-3f) * scale;
			if (tc->keys == KEYS_TINY)
				tol = 3e-7f;   /* fp16 subnormals: steps of 6e-8 */
			for (uint32_t r = 0; r < tc->n_tok; r++)
				for (size_t c = 0; c < kv_dim; c++) {
					size_t at = ((size_t)l * tc->bt + r) * kv_dim + c;
					double d = fabs(u[at] - tc->rt[l]->m * k0[at]);
					worst = d > worst ? d : worst;
					if (d > tol)
						far++;
				}
		}
		ok(far == 0, "%s: un-rotated stored keys are m*k0 (worst error %.3g)", tc->name, worst);
	}

	/* the bound: for queries at random distances, above q.k of every key of the block */
	size_t below = 0, below0 = 0, below_placed = 0;
	float *q = xreallocarray(NULL, hd, sizeof(float));
	float *qd = xreallocarray(NULL, hd, sizeof(float));
	float *qs = xreallocarray(NULL, hd, sizeof(float));
	for (int trial = 0; trial < 24; trial++) {
		uint32_t l = (uint32_t)trial % tc->n_layer, g = (uint32_t)(trial / 2) % tc->n_head;
		const struct rope_table *rt = tc->rt[l];
		for (size_t c = 0; c < hd; c++)
			q[c] = frand() * 3.0f;
		const uint16_t *mn = kv_summary_min(&p, sum, l, g);
		const uint16_t *mx = kv_summary_max(&p, sum, l, g);

		/* a query rotated to distance D from the keys: R(D) q bounds as q' */
		int64_t D = (int64_t)(splitmix64(&rng) % 200000) - 100000;
		memcpy(qd, q, hd * sizeof(float));
		rope_shift_rows(qd, 1, 1, hd, D, rt);
		double b = bound(qd, mn, mx, hd);
		for (uint32_t r = 0; r < tc->n_tok; r++) {
			size_t at = ((size_t)l * tc->bt + r) * kv_dim + g * hd;
			if (dot(qd, u + at, hd) > b)
				below++;
			if (tc->keys == KEYS_PLAIN) {
				/* |q'.(u - m k0)| <= tol * sum |q'_c| */
				float mk[1024];
				double slack = 0;
				for (size_t c = 0; c < hd; c++) {
					mk[c] = (float)(rt->m * k0[at + c]);
					slack += fabs(qd[c]) * (tc->dtype == 1 ? 2e-2 : 4e-3);
				}
				if (dot(qd, mk, hd) > b + slack)
					below0++;
			}
		}

		/* end to end: a query at position P and the keys moved to slots s + r, as the
		 * retrieval places them; the query turned back by s + r bounds each */
		uint64_t P = tc->pos0 + 5000 + splitmix64(&rng) % 100000;
		uint64_t s = splitmix64(&rng) % 4096;
		memcpy(qd, q, hd * sizeof(float));
		rotate_at(qd, 1, hd, (double)P, rt);
		for (uint32_t r = 0; r < tc->n_tok; r++) {
			memcpy(qs, qd, hd * sizeof(float));
			rope_shift_rows(qs, 1, 1, hd, -(int64_t)(s + r), rt);
			b = bound(qs, mn, mx, hd);
			load_row(&p, (const uint8_t *)k_rows[l] + r * rb, x);
			rope_shift_rows(x, 1, tc->n_head, hd, (int64_t)s - (int64_t)tc->pos0, rt);
			const float *kp = x + g * hd;
			double scale = sqrt(dot(qd, qd, hd) * dot(kp, kp, hd));
			if (dot(qd, kp, hd) > b + 1e-5 * scale + 1e-30)
				below_placed++;
		}
	}
	ok(below == 0, "%s: q'.k <= sum max(q'min, q'max) for every key, q' = R(D) q", tc->name);
	if (tc->keys == KEYS_PLAIN)
		ok(below0 == 0, "%s: ... and above q'.(m k0), within the storage error", tc->name);
	ok(below_placed == 0, "%s: end to end: a query at P, turned back by s + r, bounds the key "
	    "moved to slot s + r", tc->name);
	free(q);
	free(qd);
	free(qs);
	free(sum);
	free(k0);
	free(u);
	free(rows);
	free(x);
}

static void test_summaries(void)
{
	fp16_table();
	struct rope_table norm64 = table_of(ROPE_PAIRING_NORM, 64, 10000.0, ROPE_NONE, 1.0);
	struct rope_table neox32 = table_of(ROPE_PAIRING_NEOX, 32, 10000.0, ROPE_NONE, 1.0);
	struct rope_table abf64 = table_of(ROPE_PAIRING_NORM, 64, 500000.0, ROPE_NONE, 1.0);
	struct rope_table yarn32 = table_of(ROPE_PAIRING_NORM, 32, 10000.0, ROPE_YARN, 4.0);
	ok(norm64.ggml_theta_scale > 0 && yarn32.m > 1.1 && neox32.n_rot == 32,
	    "tables: plain takes ggml's angles at small positions, YaRN has m = %.4f", yarn32.m);

	for (uint32_t dtype = 0; dtype <= 1; dtype++) {
		char n1[64], n2[64], n3[64];
		snprintf(n1, sizeof n1, "%s plain NORM 64, across ggml's limit", dtype ? "q8_0" : "f16");
		snprintf(n2, sizeof n2, "%s NEOX partial + ABF, partial block", dtype ? "q8_0" : "f16");
		snprintf(n3, sizeof n3, "%s YaRN (m != 1) far out", dtype ? "q8_0" : "f16");
		struct sum_case a = { n1, dtype, 2, 2, 64, 16, 16, ROPE_GGML_POS_LIMIT - 8,
			{ &norm64, &norm64 }, KEYS_PLAIN };
		struct sum_case b = { n2, dtype, 2, 2, 64, 32, 20, 1000000, { &neox32, &abf64 },
			KEYS_PLAIN };
		struct sum_case c = { n3, dtype, 1, 3, 32, 16, 16, 123456, { &yarn32, NULL },
			KEYS_PLAIN };
		test_case(&a);
		test_case(&b);
		test_case(&c);
	}
	struct sum_case tiny = { "f16 subnormal keys", 0, 1, 2, 64, 16, 11, 40, { &norm64, NULL },
		KEYS_TINY };
	struct sum_case huge = { "f16 keys at fp16's limit", 0, 1, 2, 64, 16, 16, 77,
		{ &norm64, NULL }, KEYS_HUGE };
	test_case(&tiny);
	test_case(&huge);

	/* one token: the bounds are the un-rotated key itself, rounded outwards */
	struct kv_file_params p = { 1, 2, 0, 16, 0, UINT32_MAX, 1, 1, 64 };
	uint16_t rows[16 * 64];
	memset(rows, 0, sizeof rows);
	for (int c = 0; c < 64; c++)
		rows[c] = quant_f32_to_fp16(65504.0f);
	const void *kr[1] = { rows };
	const struct rope_table *rt[1] = { &norm64 };
	uint16_t sum[2 * 64];
	kv_summary_compute(&p, kr, 1, 1, rt, sum);   /* pair 0 turns by -1 rad: 90515, -19723 */
	ok(sum[0] == 0x7bff && sum[64] == 0x7c00,
	    "a value past fp16's range: minimum 65504, maximum +inf (%04x, %04x)", sum[0], sum[64]);
	kv_summary_compute(&p, kr, 0, 1, rt, sum);
	ok(sum[5] == 0x7c00 && sum[64 + 5] == 0xfc00, "no token: the empty bounds +inf, -inf");
	for (int c = 0; c < 2 * 64; c++)
		rows[c] = quant_f32_to_fp16(0.5f);
	rows[64 + 2] = 0x7e00;   /* NaN: pair 1 of token 1 becomes NaN, token 0 alone counts */
	kv_summary_compute(&p, kr, 2, 0, rt, sum);
	float lo2 = quant_fp16_to_f32(sum[2]), hi2 = quant_fp16_to_f32(sum[64 + 2]);
	ok(lo2 == 0.5f && hi2 == 0.5f && quant_fp16_to_f32(sum[64]) > 0.6f,
	    "a NaN in a key is left out of the bounds (%g..%g)", (double)lo2, (double)hi2);
	is_int((long long)kv_summary_bytes(&p), 256, "kv_summary_bytes: 1 layer, 1 head of 64");
	struct kv_file_params big = { 1, 2, 1, 128, 0, 0, 32, 8, 128 };
	is_int((long long)kv_summary_bytes(&big), 32 * 8 * 2 * 128 * 2,
	    "kv_summary_bytes: 32 layers, 8 heads of 128");
	uint8_t *bs = xmalloc(kv_summary_bytes(&big));
	ok((const uint8_t *)kv_summary_min(&big, bs, 3, 5) == bs + ((3 * 8 + 5) * 2 * 128) * 2 &&
	    kv_summary_max(&big, bs, 3, 5) == kv_summary_min(&big, bs, 3, 5) + 128,
	    "min and max of layer 3, head 5");
	free(bs);
	big.head_dim = 0;
	is_int((long long)kv_summary_bytes(&big), 0, "kv_summary_bytes of invalid parameters: 0");
}

/* --- the side file ------------------------------------------------------------------------ */

/* The format's seeds, to reseal what a test damages (kv-summary.c). */
#define SEED_HEADER 0x51534d2d68647200ull
#define SEED_SLOT   0x51534d2d736c7400ull

/* 2 layers, 2 KV heads of 32, blocks of 16: summaries of 512 bytes, slots of 576. */
static struct kv_file_params small_params(void)
{
	struct kv_file_params p = {
		.model_id = 0x1111222233334444ull, .rope_id = 0x5555666677778888ull, .dtype = 0,
		.block_tokens = 16, .sinks = 4, .window = UINT32_MAX, .n_layer = 2, .n_head_kv = 2,
		.head_dim = 32,
	};
	return p;
}

#define SUM_BYTES 512
#define SLOT 576

static void fill_sum(uint64_t b, uint32_t n_tok, uint8_t *out)
{
	uint64_t s = b * 7919 + n_tok;
	for (size_t i = 0; i < SUM_BYTES; i++)
		out[i] = (uint8_t)splitmix64(&s);
}

static char *tpath(const char *name)
{
	return xasprintf("%s/%s", tmp, name);
}

static long long file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

static void poke(const char *path, long long off, const void *data, size_t n)
{
	int fd = open(path, O_WRONLY);
	if (fd < 0 || pwrite(fd, data, n, off) != (ssize_t)n)
		diag("could not write %s", path);
	if (fd >= 0)
		close(fd);
}

static void peek(const char *path, long long off, void *data, size_t n)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0 || pread(fd, data, n, off) != (ssize_t)n)
		diag("could not read %s", path);
	if (fd >= 0)
		close(fd);
}

static void flip(const char *path, long long off)
{
	uint8_t b;
	peek(path, off, &b, 1);
	b ^= 0x10;
	poke(path, off, &b, 1);
}

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Recompute the header checksum after a change. */
static void reseal_header(const char *path)
{
	uint8_t h[4096];
	peek(path, 0, h, sizeof h);
	memset(h + 4088, 0, 8);
	put_le64(h + 4088, checksum64(h, sizeof h, SEED_HEADER));
	poke(path, 0, h, sizeof h);
}

/* Change bytes of block i's slot header and recompute its checksum. */
static void reseal_slot(const char *path, uint64_t i, size_t at, const void *data, size_t n)
{
	uint8_t h[64];
	long long off = 4096 + (long long)i * SLOT;
	peek(path, off, h, sizeof h);
	memcpy(h + at, data, n);
	put_le64(h + 56, checksum64(h, 56, SEED_SLOT));
	poke(path, off, h, sizeof h);
}

static int has(const char *err, const char *needle)
{
	int good = err != NULL && strstr(err, needle) != NULL;
	if (!good)
		diag("message: %s (wanted \"%s\")", err ? err : "(none)", needle);
	return good;
}

static struct kv_summary_file *open_or_diag(const char *path, const struct kv_file_params *p,
    int write)
{
	struct kv_summary_file *sf = NULL;
	char *err = NULL;
	if (kv_summary_open(path, p, write, &sf, &err) != 0)
		diag("%s", err);
	free(err);
	return sf;
}

/* Does block i read back as fill_sum(i, n_tok)? With a message when not (the caller's *err). */
static int get_is(struct kv_summary_file *sf, uint64_t i, uint32_t n_tok, char **err)
{
	const void *s;
	uint8_t want[SUM_BYTES];
	free(*err);
	*err = NULL;
	if (kv_summary_get(sf, i, n_tok, &s, err) != 0)
		return 0;
	fill_sum(i, n_tok, want);
	return memcmp(s, want, SUM_BYTES) == 0;
}

static int put(struct kv_summary_file *sf, uint64_t i, uint32_t n_tok)
{
	uint8_t s[SUM_BYTES];
	char *err = NULL;
	fill_sum(i, n_tok, s);
	int rc = kv_summary_put(sf, i, n_tok, s, &err);
	if (rc != 0)
		diag("%s", err);
	free(err);
	return rc;
}

/* Blocks 0..4 whole, block 5 with 7 tokens. */
static int write_six(const char *path, const struct kv_file_params *p)
{
	struct kv_summary_file *w = open_or_diag(path, p, 1);
	int rc = w == NULL ? -1 : 0;
	for (uint64_t i = 0; rc == 0 && i < 6; i++)
		rc = put(w, i, i < 5 ? 16 : 7);
	char *err = NULL;
	if (rc == 0 && kv_summary_sync(w, &err) != 0) {
		diag("%s", err);
		rc = -1;
	}
	free(err);
	kv_summary_close(w);
	return rc;
}

/* `quire check`'s side: messages gathered, tokens from an array. */
struct check_ctx {
	const uint32_t *tok;
	char *msgs;
	int n_msgs;
};

static uint32_t ctx_tokens(void *ctx, uint64_t i)
{
	return ((struct check_ctx *)ctx)->tok[i];
}

static void ctx_report(void *ctx, const char *msg)
{
	struct check_ctx *c = ctx;
	char *m = xasprintf("%s%s\n", c->msgs ? c->msgs : "", msg);
	free(c->msgs);
	c->msgs = m;
	c->n_msgs++;
}

static const uint32_t six_tokens[] = { 16, 16, 16, 16, 16, 7, 16, 16, 16, 16 };

/* Run the check over n blocks; problems in *problems, messages in c (caller frees c->msgs). */
static int run_check(const char *path, const struct kv_file_params *p, uint64_t n,
    struct check_ctx *c, uint64_t *problems)
{
	char *err = NULL;
	memset(c, 0, sizeof *c);
	c->tok = six_tokens;
	int rc = kv_summary_check(path, p, n, ctx_tokens, ctx_report, c, problems, &err);
	if (rc != 0)
		diag("check: %s", err);
	free(err);
	return rc;
}

static void test_round_trip(void)
{
	struct kv_file_params p = small_params();
	char *path = tpath("a.sum"), *err = NULL;
	struct kv_summary_file *w = open_or_diag(path, &p, 1);
	ok(w != NULL && file_size(path) == 4096, "writer creates the file, a 4096-byte header");
	uint8_t magic[8];
	peek(path, 0, magic, 8);
	ok(memcmp(magic, "QUIRESUM", 8) == 0, "magic QUIRESUM");
	int good = 1;
	for (uint64_t i = 0; i < 6; i++)
		good &= put(w, i, i < 5 ? 16 : 7) == 0;
	ok(good && file_size(path) == 4096 + 6 * SLOT, "six slots of %d bytes", SLOT);
	ok(get_is(w, 3, 16, &err) && get_is(w, 5, 7, &err), "the writer reads its slots back");
	ok(!get_is(w, 5, 16, &err) && has(err, "summary of block 5 is missing (its slot covers 7"),
	    "writer: a slot of another token count is missing");
	ok(!get_is(w, 9, 16, &err) && has(err, "a.sum: summary of block 9 is missing"),
	    "writer: a slot past the end is missing");
	ok(kv_summary_sync(w, &err) == 0, "sync");
	kv_summary_close(w);

	struct kv_summary_file *r = open_or_diag(path, &p, 0);
	good = r != NULL;
	for (uint64_t i = 0; good && i < 6; i++)
		good = get_is(r, i, i < 5 ? 16 : 7, &err);
	ok(good, "a reader gets every slot back");
	const void *s1 = NULL, *s2 = NULL;
	ok(r != NULL && kv_summary_get(r, 2, 16, &s1, &err) == 0 &&
	    kv_summary_get(r, 2, 16, &s2, &err) == 0 && s1 == s2,
	    "a whole block's summary: the same pointer into the mapping");
	ok(r != NULL && !get_is(r, 0, 9, &err) && has(err, "block 0 is missing (its slot covers 16"),
	    "reader: another token count is missing");
	ok(r != NULL && !get_is(r, 6, 16, &err) && has(err, "summary of block 6 is missing"),
	    "reader: past the end is missing");
	ok(r != NULL && !get_is(r, UINT64_MAX, 16, &err) && has(err, "is missing"),
	    "reader: block 2^64-1 is missing, no overflow");
	uint8_t s[SUM_BYTES] = { 0 };
	ok(r != NULL && kv_summary_put(r, 7, 16, s, &err) != 0 && has(err, "opened for reading"),
	    "a reader cannot put");
	ok(r != NULL && kv_summary_sync(r, &err) != 0 && has(err, "opened for reading"),
	    "a reader cannot sync");

	/* the partial block grows: its slot is rewritten in place */
	w = open_or_diag(path, &p, 1);
	ok(w != NULL && get_is(w, 4, 16, &err), "a writer reopens a good file and keeps its slots");
	ok(w != NULL && put(w, 5, 16) == 0 && file_size(path) == 4096 + 6 * SLOT,
	    "the grown partial block is rewritten in place");
	ok(r != NULL && !get_is(r, 5, 7, &err) && has(err, "covers 16 tokens, the block holds 7"),
	    "a reader that still sees 7 tokens: the slot is missing for it");
	struct kv_summary_file *r2 = open_or_diag(path, &p, 0);
	ok(r2 != NULL && get_is(r2, 5, 16, &err), "a new reader gets the whole block");
	kv_summary_close(r2);
	ok(w != NULL && kv_summary_put(w, 6, 0, s, &err) != 0 && has(err, "1 to 16 allowed") &&
	    kv_summary_put(w, 6, 17, s, &err) != 0, "put refuses 0 and 17 tokens");
	ok(w != NULL && kv_summary_put(w, UINT64_MAX / 2, 16, s, &err) != 0 &&
	    has(err, "too large"), "put refuses a slot beyond any file");

	/* holes: block 8 with 6 and 7 never written */
	ok(w != NULL && put(w, 8, 16) == 0 && !get_is(w, 7, 16, &err) &&
	    has(err, "block 7 is missing") && get_is(w, 8, 16, &err),
	    "a slot never written (a hole) is missing, the one after it good");
	kv_summary_close(w);
	kv_summary_close(r);

	char *p1 = kv_summary_path("/x/kv/0123456789abcdef.kv"), *p2 = kv_summary_path("cache");
	char *p3 = kv_summary_path("a.kv.bak");
	is_str(p1, "/x/kv/0123456789abcdef.sum", "kv_summary_path strips .kv");
	ok(strcmp(p2, "cache.sum") == 0 && strcmp(p3, "a.kv.bak.sum") == 0,
	    "kv_summary_path appends .sum otherwise");
	free(p1);
	free(p2);
	free(p3);
	free(err);
	free(path);
}

static void test_damage(void)
{
	struct kv_file_params p = small_params();
	char *path = tpath("d.sum"), *err = NULL;
	struct check_ctx c;
	uint64_t problems = 99;
	ok(write_six(path, &p) == 0 && run_check(path, &p, 6, &c, &problems) == 0 && problems == 0 &&
	    c.n_msgs == 0, "check of a good file: no problem");
	free(c.msgs);

	/* a payload byte */
	flip(path, 4096 + 2 * SLOT + 64 + 300);
	struct kv_summary_file *r = open_or_diag(path, &p, 0);
	ok(r != NULL && !get_is(r, 2, 16, &err) && has(err, "d.sum: summary of block 2 is damaged "
	    "(checksum)"), "a flipped payload byte: get fails naming the block");
	ok(r != NULL && get_is(r, 1, 16, &err) && get_is(r, 3, 16, &err), "its neighbours are good");
	ok(r != NULL && !get_is(r, 2, 16, &err), "and the damage is seen again");
	kv_summary_close(r);
	ok(run_check(path, &p, 6, &c, &problems) == 0 && problems == 1 && c.n_msgs == 1 &&
	    has(c.msgs, "summary of block 2 is damaged (checksum)"), "check reports it");
	free(c.msgs);
	flip(path, 4096 + 2 * SLOT + 64 + 300);

	/* a whole block is checked once: damage after a good verdict goes unseen by that reader
	 * (a committed whole block's slot is never rewritten); a partial block's slot is
	 * checked on a copy at every call, which a writer's rewrite leaves alone */
	r = open_or_diag(path, &p, 0);
	const void *s5 = NULL;
	ok(r != NULL && get_is(r, 2, 16, &err) && kv_summary_get(r, 5, 7, &s5, &err) == 0,
	    "undamaged again");
	flip(path, 4096 + 2 * SLOT + 64 + 300);
	const void *s2 = NULL;
	ok(r != NULL && kv_summary_get(r, 2, 16, &s2, &err) == 0,
	    "a whole block's verdict is kept");
	flip(path, 4096 + 2 * SLOT + 64 + 300);
	uint8_t want5[SUM_BYTES], other5[SUM_BYTES];
	fill_sum(5, 7, want5);
	fill_sum(99, 7, other5);
	struct kv_summary_file *w = open_or_diag(path, &p, 1);
	char *werr = NULL;
	ok(w != NULL && kv_summary_put(w, 5, 7, other5, &werr) == 0 && s5 != NULL &&
	    memcmp(s5, want5, SUM_BYTES) == 0, "a partial block's summary is a copy, not the "
	    "mapping a writer rewrites");
	ok(r != NULL && kv_summary_get(r, 5, 7, &s5, &err) == 0 &&
	    memcmp(s5, other5, SUM_BYTES) == 0, "and the next call sees the new slot");
	ok(w != NULL && kv_summary_put(w, 5, 7, want5, &werr) == 0, "put the old one back");
	free(werr);
	kv_summary_close(w);
	kv_summary_close(r);

	/* each check of a slot header */
	struct { const char *what; size_t at; uint8_t v[8]; size_t n; int raw; const char *msg; }
	    slot_cases[] = {
		{ "a flipped slot magic", 1, { 'X' }, 1, 1, "summary of block 3 is missing" },
		{ "a flipped slot header byte", 9, { 0x40 }, 1, 1,
		  "block 3 is damaged (checksum of its slot header)" },
		{ "another block's index, resealed", 8, { 4 }, 1, 0,
		  "block 3 is damaged (its slot says block 4, 16 tokens)" },
		{ "0 tokens, resealed", 4, { 0 }, 1, 0, "block 3 is damaged (its slot says block 3, 0" },
		{ "17 tokens, resealed", 4, { 17 }, 1, 0, "block 3 is damaged (its slot says block 3, 17" },
		{ "a reserved byte, resealed", 40, { 1 }, 1, 0, "block 3 is damaged" },
		{ "another payload checksum, resealed", 16, { 1 }, 1, 0,
		  "summary of block 3 is damaged (checksum)" },
	};
	uint8_t saved[64];
	peek(path, 4096 + 3 * SLOT, saved, sizeof saved);
	for (size_t k = 0; k < Q_ARRAY_LEN(slot_cases); k++) {
		if (slot_cases[k].raw) {
			uint8_t b[1];
			peek(path, 4096 + 3 * SLOT + (long long)slot_cases[k].at, b, 1);
			b[0] ^= slot_cases[k].v[0];
			poke(path, 4096 + 3 * SLOT + (long long)slot_cases[k].at, b, 1);
		} else {
			reseal_slot(path, 3, slot_cases[k].at, slot_cases[k].v, slot_cases[k].n);
		}
		r = open_or_diag(path, &p, 0);
		ok(r != NULL && !get_is(r, 3, 16, &err) && has(err, slot_cases[k].msg) &&
		    get_is(r, 4, 16, &err), "slot: %s is refused", slot_cases[k].what);
		kv_summary_close(r);
		ok(run_check(path, &p, 6, &c, &problems) == 0 && problems == 1 &&
		    has(c.msgs, slot_cases[k].msg), "check reports %s", slot_cases[k].what);
		free(c.msgs);
		poke(path, 4096 + 3 * SLOT, saved, sizeof saved);
	}
	ok(run_check(path, &p, 6, &c, &problems) == 0 && problems == 0, "restored: no problem");
	free(c.msgs);

	/* another slot's bytes moved here: its checksums hold, its index does not */
	uint8_t slot1[SLOT], slot3[SLOT];
	peek(path, 4096 + 1 * SLOT, slot1, SLOT);
	peek(path, 4096 + 3 * SLOT, slot3, SLOT);
	poke(path, 4096 + 3 * SLOT, slot1, SLOT);
	r = open_or_diag(path, &p, 0);
	ok(r != NULL && !get_is(r, 3, 16, &err) && has(err, "its slot says block 1"),
	    "block 1's slot in block 3's place is refused");
	kv_summary_close(r);
	poke(path, 4096 + 3 * SLOT, slot3, SLOT);

	/* a check with another token count */
	static const uint32_t other[] = { 16, 16, 16, 16, 16, 9 };
	memset(&c, 0, sizeof c);
	c.tok = other;
	ok(kv_summary_check(path, &p, 6, ctx_tokens, ctx_report, &c, &problems, &err) == 0 &&
	    problems == 1 && has(c.msgs, "block 5 is missing (its slot covers 7 tokens, the block "
	    "holds 9)"), "check: a slot of another token count is reported missing");
	free(c.msgs);

	/* truncated: blocks 3..5 cut off (block 3 partly) */
	ok(truncate(path, 4096 + 3 * SLOT + 100) == 0, "cut the file in block 3's slot");
	r = open_or_diag(path, &p, 0);
	ok(r != NULL && get_is(r, 2, 16, &err) && !get_is(r, 3, 16, &err) &&
	    has(err, "block 3 is missing"), "reader: blocks before the cut good, the cut one missing");
	kv_summary_close(r);
	ok(run_check(path, &p, 6, &c, &problems) == 0 && problems == 3 && c.n_msgs == 1 &&
	    has(c.msgs, "d.sum: summaries of blocks 3 to 5 are missing"),
	    "check: the blocks cut off, one message for the run, 3 problems");
	free(c.msgs);
	ok(run_check(path, &p, 4, &c, &problems) == 0 && problems == 1 && c.n_msgs == 1 &&
	    has(c.msgs, "d.sum: summary of block 3 is missing\n"),
	    "check: a run of one names its block");
	free(c.msgs);
	w = open_or_diag(path, &p, 1);
	ok(w != NULL && put(w, 3, 16) == 0 && put(w, 4, 16) == 0 && put(w, 5, 7) == 0,
	    "a writer fills the cut slots again");
	kv_summary_close(w);
	ok(run_check(path, &p, 6, &c, &problems) == 0 && problems == 0, "and the check is clean");
	free(c.msgs);
	free(err);
	free(path);
}

static void test_headers(void)
{
	struct kv_file_params p = small_params(), q = small_params();
	q.block_tokens = 32;
	char *path = tpath("h.sum"), *err = NULL;
	struct check_ctx c;
	uint64_t problems;
	struct kv_summary_file *sf;

	/* each check of the header: the reader refuses, check reports, the writer starts afresh */
	struct { const char *what; size_t at; uint64_t v; int n; int reseal; const char *msg; }
	    cases[] = {
		{ "a flipped header byte", 100, 1, 1, 0, "h.sum: header is damaged (checksum)" },
		{ "a flipped checksum", 4090, 1, 1, 0, "header is damaged (checksum)" },
		{ "bad magic", 0, 'X', 1, 1, "h.sum: not a quire summary file (bad magic)" },
		{ "a newer version", 8, 2, 4, 1, "summary format version 2 is newer than this quire" },
		{ "version 0", 8, 0, 4, 1, "unknown summary format version 0" },
		{ "another fingerprint", 16, 7, 8, 1, "h.sum: made for another KV file" },
		{ "another slot size", 24, 640, 8, 1, "header is damaged (slots of 640 bytes" },
		{ "another summary size", 32, 100, 8, 1, "header is damaged (slots of 576 bytes for "
		  "summaries of 100" },
		{ "a reserved field", 12, 1, 4, 1, "header is damaged (reserved bytes" },
		{ "a reserved byte", 2000, 1, 1, 1, "header is damaged (reserved bytes" },
	};
	for (size_t k = 0; k < Q_ARRAY_LEN(cases); k++) {
		write_six(path, &p);
		uint8_t v[8];
		if (cases[k].reseal) {
			for (int i = 0; i < 8; i++)
				v[i] = (uint8_t)(cases[k].v >> (8 * i));
			poke(path, (long long)cases[k].at, v, (size_t)cases[k].n);
			reseal_header(path);
		} else {
			peek(path, (long long)cases[k].at, v, 1);
			v[0] ^= (uint8_t)cases[k].v;
			poke(path, (long long)cases[k].at, v, 1);
		}
		sf = NULL;
		ok(kv_summary_open(path, &p, 0, &sf, &err) != 0 && sf == NULL &&
		    has(err, cases[k].msg), "header: %s: the reader refuses", cases[k].what);
		ok(run_check(path, &p, 6, &c, &problems) == 0 && problems == 1 && c.n_msgs == 1 &&
		    has(c.msgs, cases[k].msg), "header: %s: check reports one problem",
		    cases[k].what);
		free(c.msgs);
		sf = open_or_diag(path, &p, 1);
		ok(sf != NULL && file_size(path) == 4096 && !get_is(sf, 0, 16, &err),
		    "header: %s: the writer starts the file afresh", cases[k].what);
		kv_summary_close(sf);
		sf = open_or_diag(path, &p, 0);
		ok(sf != NULL, "header: %s: and a reader accepts it", cases[k].what);
		kv_summary_close(sf);
	}

	/* other parameters: the reader refuses naming the file, the writer starts afresh, and a
	 * reader of the old file keeps its mapping */
	write_six(path, &p);
	struct kv_summary_file *old = open_or_diag(path, &p, 0);
	ok(kv_summary_open(path, &q, 0, &sf, &err) != 0 && has(err, "h.sum: made for another KV "
	    "file"), "a reader for other parameters refuses, naming the file");
	sf = open_or_diag(path, &q, 1);
	ok(sf != NULL && file_size(path) == 4096, "a writer for other parameters starts afresh");
	ok(sf != NULL && put(sf, 0, 20) == 0, "and writes its own slots");
	kv_summary_close(sf);
	ok(old != NULL && get_is(old, 4, 16, &err) && get_is(old, 5, 7, &err),
	    "the reader that mapped the old file still reads it whole");
	kv_summary_close(old);
	ok(kv_summary_open(path, &p, 0, &sf, &err) != 0 && has(err, "made for another KV file"),
	    "the first parameters' reader now refuses");
	sf = open_or_diag(path, &q, 0);
	ok(sf != NULL && get_is(sf, 0, 20, &err), "the new parameters' reader reads it");
	kv_summary_close(sf);

	/* short files */
	write_six(path, &p);
	ok(truncate(path, 4000) == 0 && kv_summary_open(path, &p, 0, &sf, &err) != 0 &&
	    has(err, "h.sum: truncated header (4000 bytes of 4096)"), "a short header is refused");
	ok(run_check(path, &p, 6, &c, &problems) == 0 && problems == 1, "check: one problem");
	free(c.msgs);
	sf = open_or_diag(path, &p, 1);
	ok(sf != NULL && file_size(path) == 4096, "the writer starts it afresh");
	kv_summary_close(sf);
	ok(truncate(path, 0) == 0 && (sf = open_or_diag(path, &p, 1)) != NULL &&
	    file_size(path) == 4096, "an empty file too");
	kv_summary_close(sf);
	ok(run_check(path, &p, 3, &c, &problems) == 0 && problems == 3 && c.n_msgs == 1 &&
	    has(c.msgs, "summaries of blocks 0 to 2 are missing"), "a header alone: all missing");
	free(c.msgs);

	/* missing, and not a file */
	char *none = tpath("none.sum");
	ok(kv_summary_open(none, &p, 0, &sf, &err) != 0 && has(err, "none.sum: No such file"),
	    "a missing file: the reader says so");
	ok(run_check(none, &p, 6, &c, &problems) == 0 && problems == 1 && c.n_msgs == 1 &&
	    has(c.msgs, "none.sum"), "check: a missing file is one problem");
	free(c.msgs);
	char *dir = tpath("dir.sum");
	mkdir(dir, 0700);
	memset(&c, 0, sizeof c);
	c.tok = six_tokens;
	ok(kv_summary_check(dir, &p, 6, ctx_tokens, ctx_report, &c, &problems, &err) != 0 &&
	    has(err, "dir.sum"), "check of a folder cannot run: -1");
	free(c.msgs);
	ok(kv_summary_open(dir, &p, 1, &sf, &err) != 0 && has(err, "dir.sum"),
	    "a writer does not replace a folder");
	struct kv_file_params bad = p;
	bad.block_tokens = 17;
	ok(kv_summary_open(path, &bad, 1, &sf, &err) != 0 && has(err, "block size 17"),
	    "invalid parameters are refused");
	free(dir);
	free(none);
	free(err);
	free(path);
}

int main(void)
{
	if (tap_tmpdir("t-kv-summary", tmp, sizeof tmp) != 0) {
		printf("1..0 # SKIP no temporary folder\n");
		return 0;
	}
	test_summaries();
	test_round_trip();
	test_damage();
	test_headers();
	tap_tmpdir_remove(tmp);
	done_testing();
	return exit_status();
}
