/* t-rope.c: RoPE math (kernels/rope-math.h), partial-attention merging (kernels/attn-merge-math.h)
 * and configuration (engine/rope.c) against test vectors TV1-TV12 (values computed in fp64 by
 * a pure-Python reference of the HF transformers and llama.cpp formulas; each test names its
 * parameters), the synthetic GGUF files from tests/ref/make-rope-gguf.py, overrides, factor
 * files and the fingerprint. */
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/gguf.h"
#include "engine/rope.h"
#include "kernels/attn-merge-math.h"
#include "kernels/rope-math.h"
#include "lib/buf.h"
#include "lib/util.h"
#include "tests/tap.h"

/* |got/want - 1| <= tol. */
static int is_rel(double got, double want, double tol, const char *fmt, ...)
    Q_PRINTF(4, 5);
static int is_rel(double got, double want, double tol, const char *fmt, ...)
{
	double r = want == 0.0 ? fabs(got) : fabs(got / want - 1.0);
	int good = !isnan(got) && r <= tol;
	va_list ap;
	va_start(ap, fmt);
	tap_vok(good, fmt, ap);
	va_end(ap);
	if (!good)
		diag("     got: %.12g\n#   expected: %.12g (relative tolerance %.3g)", got, want, tol);
	return good;
}

/* rc must be -1 with a message containing needle; frees the message and clears *errp. The
 * message is read through errp after the call that sets it has run. */
static int err_has(int rc, char **errp, const char *needle, const char *fmt, ...)
    Q_PRINTF(4, 5);
static int err_has(int rc, char **errp, const char *needle, const char *fmt, ...)
{
	char *err = *errp;
	int good = rc < 0 && err != NULL && strstr(err, needle) != NULL;
	va_list ap;
	va_start(ap, fmt);
	tap_vok(good, fmt, ap);
	va_end(ap);
	if (!good)
		diag("rc %d, err: %s (wanted \"%s\")", rc, err ? err : "(null)", needle);
	free(err);
	*errp = NULL;
	return good;
}

static struct rope_table table_of(const struct rope_config *c)
{
	struct rope_table t;
	char *err = NULL;
	if (rope_table_build(c, &t, &err) < 0) {
		diag("rope_table_build: %s", err);
		free(err);
		memset(&t, 0, sizeof t);
	}
	return t;
}

static void cfg_values(struct rope_config *c, enum rope_variant v, int n_rot, double base,
    double s, uint32_t orig, uint32_t ctx_max)
{
	rope_config_init(c, ROPE_PAIRING_NORM, n_rot, base, orig);
	c->variant = v;
	c->scale = s;
	char *err = NULL;
	if (rope_config_finish(c, ctx_max, &err) < 0) {
		diag("rope_config_finish: %s", err);
		free(err);
	}
}

static char *data_path(const char *name)
{
	const char *src = getenv("srcdir");
	return xasprintf("%s/tests/data/rope/%s", src && *src ? src : ".", name);
}

/* Open a test GGUF and read its RoPE configuration; -1 with *err on failure. */
static int load(const char *name, struct rope_config *c, char **err)
{
	char *path = data_path(name);
	struct gguf_file *f = NULL;
	int r = gguf_open(path, &f, err);
	if (r == 0)
		r = rope_config_from_gguf(c, f, err);
	gguf_close(f);
	free(path);
	return r;
}

/* ---- TV1-TV3b: plain, linear, NTK ------------------------------------------------------ */

static void test_plain(void)
{
	struct rope_config c;
	cfg_values(&c, ROPE_NONE, 64, 10000.0, 1.0, 4096, 0);
	struct rope_table t = table_of(&c);
	is_rel(t.freq_f32[0], 1.0, 1e-6, "TV1 f[0]");
	is_rel(t.freq_f32[1], 7.4989420933e-01, 1e-6, "TV1 f[1]");
	is_rel(t.freq_f32[8], 1.0e-01, 1e-6, "TV1 f[8]");
	is_rel(t.freq_f32[16], 1.0e-02, 1e-6, "TV1 f[16]");
	is_rel(t.freq_f32[31], 1.3335214322e-04, 1e-6, "TV1 f[31]");
	is_rel(ROPE_TWO_PI / t.freq[31], 47117.2428, 1e-8, "TV1 wavelength[31]");
	is_double(t.m, 1.0, 0.0, "TV1 m = 1");

	static const struct {
		enum rope_pairing p;
		double y[6];   /* y[0..3], y[32], y[63] */
	} want[2] = {
		{ ROPE_PAIRING_NORM, { -0.017052813, 0.030494339, -0.078110691, 0.001495194,
		    -0.143635042, 1.122001580 } },
		{ ROPE_PAIRING_NEOX, { -0.417572590, -0.449290655, -0.048930806, -0.325347550,
		    0.302896704, 1.057600404 } },
	};
	static const int idx[6] = { 0, 1, 2, 3, 32, 63 };
	float cs[32], sn[32];
	rope_cos_sin(1000.0, t.freq, t.n_pairs, t.m_f32, cs, sn);
	for (int k = 0; k < 2; k++) {
		float x[80];
		for (int j = 0; j < 80; j++)
			x[j] = (float)(j + 1) / 64.0f;
		rope_rotate(x, 64, want[k].p, cs, sn);
		for (int j = 0; j < 6; j++)
			is_double(x[idx[j]], want[k].y[j], 1e-5, "TV1 %s pos 1000 y[%d]",
			    rope_pairing_name(want[k].p), idx[j]);
		int untouched = 1;
		for (int j = 64; j < 80; j++)
			untouched &= x[j] == (float)(j + 1) / 64.0f;
		ok(untouched, "TV1 %s: dims >= n_rot pass through (partial rotary)",
		    rope_pairing_name(want[k].p));
	}

	/* m multiplies cos and sin. */
	float cs2[32], sn2[32];
	rope_cos_sin(1000.0, t.freq, t.n_pairs, 1.5f, cs2, sn2);
	is_double(cs2[3], 1.5 * cs[3], 1e-6, "m scales cos");
	is_double(sn2[3], 1.5 * sn[3], 1e-6, "m scales sin");

	cfg_values(&c, ROPE_LINEAR, 64, 10000.0, 4.0, 4096, 0);
	t = table_of(&c);
	is_rel(t.freq_f32[0], 0.25, 1e-6, "TV2 linear f[0]");
	is_rel(t.freq_f32[16], 2.5e-03, 1e-6, "TV2 linear f[16]");
	is_rel(t.freq_f32[31], 3.3338035804e-05, 1e-6, "TV2 linear f[31]");

	is_double(rope_ntk_base(10000.0, 64, 4.0), 41829.365929, 1e-6, "TV3 NTK base'");
	cfg_values(&c, ROPE_NTK, 64, 10000.0, 4.0, 4096, 0);
	t = table_of(&c);
	is_rel(t.freq_f32[0], 1.0, 1e-6, "TV3 NTK f[0]");
	is_rel(t.freq_f32[1], 7.1709832810e-01, 1e-6, "TV3 NTK f[1]");
	is_rel(t.freq_f32[16], 4.8894426817e-03, 1e-6, "TV3 NTK f[16]");
	is_rel(t.freq_f32[31], 3.3338035804e-05, 1e-6, "TV3 NTK f[31]");
	double plain31 = pow(10000.0, -62.0 / 64.0);
	is_double(t.freq[31] / (plain31 / 4.0), 1.0, 1e-12, "TV3 NTK lowest frequency is f/s");

	is_double(rope_dynamic_ntk_base(10000.0, 64, 4.0, 4096, 4096), 10000.0, 0.0,
	    "TV3b dynamic at L_train keeps b");
	is_double(rope_dynamic_ntk_base(10000.0, 64, 4.0, 8192, 4096), 52664.434336, 1e-5,
	    "TV3b dynamic base at 8192");
	cfg_values(&c, ROPE_DYNAMIC, 64, 10000.0, 4.0, 4096, 16384);
	t = table_of(&c);
	is_double(t.base_eff, 141213.757398, 1e-5, "TV3b dynamic base frozen at ctx_max 16384");
	is_rel(t.freq_f32[31], 1.0257857170e-05, 1e-6, "TV3b dynamic f[31] at 16384");
	ok(!rope_config_allows_cache(&c), "dynamic NTK: the persistent cache refuses it");
	cfg_values(&c, ROPE_NTK, 64, 10000.0, 4.0, 4096, 16384);
	ok(rope_config_allows_cache(&c), "static NTK: cacheable");

	/* TV8 ABF */
	cfg_values(&c, ROPE_NONE, 128, 10000.0, 1.0, 4096, 0);
	t = table_of(&c);
	is_rel(t.freq_f32[63], 1.1547819847e-04, 1e-6, "TV8 b=1e4 f[63]");
	is_double(ROPE_TWO_PI / t.freq[63], 54410.1, 0.05, "TV8 b=1e4 wavelength[63]");
	is_rel(t.freq_f32[32], 1.0e-02, 1e-6, "TV8 b=1e4 f[32]");
	cfg_values(&c, ROPE_NONE, 128, 500000.0, 1.0, 4096, 0);
	t = table_of(&c);
	is_rel(t.freq_f32[63], 2.4551407911e-06, 1e-6, "TV8 b=5e5 f[63]");
	is_double(ROPE_TWO_PI / t.freq[63], 2559195.5, 0.05, "TV8 b=5e5 wavelength[63]");
	is_rel(t.freq_f32[32], 1.4142135624e-03, 1e-6, "TV8 b=5e5 f[32]");
}

/* ---- TV4-TV5b, TV9: YaRN ---------------------------------------------------------------- */

static void yarn_cfg(struct rope_config *c, int n_rot, double base, double s, uint32_t orig,
    double bf, double bs, int truncate)
{
	rope_config_init(c, ROPE_PAIRING_NORM, n_rot, base, orig);
	c->variant = ROPE_YARN;
	c->scale = s;
	c->beta_fast = bf;
	c->beta_slow = bs;
	c->truncate = truncate;
	char *err = NULL;
	if (rope_config_finish(c, 0, &err) < 0) {
		diag("finish: %s", err);
		free(err);
	}
}

static void test_yarn(void)
{
	is_double(rope_yarn_corr_dim(64, 10000.0, 4096, 32), 10.472241, 1e-6, "TV4 corr(32)");
	is_double(rope_yarn_corr_dim(64, 10000.0, 4096, 1), 22.513441, 1e-6, "TV4 corr(1)");

	struct rope_config c;
	yarn_cfg(&c, 64, 10000.0, 4.0, 4096, 32, 1, 1);
	struct rope_table t = table_of(&c);
	is_double(t.yarn_low, 10, 0, "TV4 low = 10");
	is_double(t.yarn_high, 23, 0, "TV4 high = 23");
	is_double(t.m, 1.1386294361, 1e-9, "TV4 m = 0.1 ln 4 + 1");
	is_double(t.m * t.m, 1.2964769928, 1e-9, "TV4 logit scale m^2");
	static const struct { int i; double f, ratio; } tv4[] = {
		{ 0, 1.0, 1.0 }, { 5, 2.3713737057e-01, 1.0 }, { 7, 1.3335214322e-01, 1.0 },
		{ 10, 5.6234132519e-02, 1.0 }, { 14, 1.3679072385e-02, 0.769231 },
		{ 20, 1.3378867024e-03, 0.423077 }, { 31, 3.3338035804e-05, 0.25 },
	};
	for (size_t k = 0; k < Q_ARRAY_LEN(tv4); k++) {
		int i = tv4[k].i;
		is_rel(t.freq_f32[i], tv4[k].f, 1e-6, "TV4 f[%d]", i);
		is_double(t.freq[i] / pow(10000.0, -2.0 * i / 64), tv4[k].ratio, 5e-7,
		    "TV4 ratio[%d]", i);
	}

	yarn_cfg(&c, 64, 10000.0, 4.0, 4096, 32, 1, 0);
	t = table_of(&c);
	is_double(t.yarn_low, 10.472241, 1e-6, "TV4b truncate=false low");
	is_double(t.yarn_high, 22.513441, 1e-6, "TV4b truncate=false high");
	is_rel(t.freq_f32[10], 5.6234132519e-02, 1e-6, "TV4b f[10]");
	is_rel(t.freq_f32[14], 1.3875371073e-02, 1e-6, "TV4b f[14]");

	static const struct {
		double s, bf;
		int low;
		double m, f20, f30, f63;
	} tv5[] = {
		{ 128, 32, 18, 1.4852030264, 1.4627374005e-02, 6.3855236124e-04, 1.9180787431e-08 },
		{ 128, 4, 28, 1.4852030264, 1.6560440081e-02, 1.5269852039e-03, 1.9180787431e-08 },
		{ 256, 4, 28, 1.5545177444, 1.6560440081e-02, 1.5246067223e-03, 9.5903937154e-09 },
		{ 512, 4, 28, 1.6238324625, 1.6560440081e-02, 1.5234174815e-03, 4.7951968577e-09 },
	};
	for (size_t k = 0; k < Q_ARRAY_LEN(tv5); k++) {
		yarn_cfg(&c, 128, 500000.0, tv5[k].s, 8192, tv5[k].bf, 1, 1);
		t = table_of(&c);
		is_double(t.yarn_low, tv5[k].low, 0, "TV5 s=%g bf=%g low=%d", tv5[k].s, tv5[k].bf,
		    tv5[k].low);
		is_double(t.yarn_high, 35, 0, "TV5 s=%g bf=%g high=35", tv5[k].s, tv5[k].bf);
		is_double(t.m, tv5[k].m, 1e-9, "TV5 s=%g mscale", tv5[k].s);
		is_rel(t.freq_f32[20], tv5[k].f20, 1e-6, "TV5 s=%g bf=%g f[20]", tv5[k].s, tv5[k].bf);
		is_rel(t.freq_f32[30], tv5[k].f30, 1e-6, "TV5 s=%g bf=%g f[30]", tv5[k].s, tv5[k].bf);
		is_rel(t.freq_f32[63], tv5[k].f63, 1e-6, "TV5 s=%g bf=%g f[63]", tv5[k].s, tv5[k].bf);
	}
	yarn_cfg(&c, 128, 500000.0, 128, 8192, 4, 1, 1);
	t = table_of(&c);
	is_rel(t.freq_f32[33], 3.3558387858e-04, 1e-6, "TV5 bf=4 f[33]");

	double lo, hi;
	rope_yarn_range(128, 500000.0, 1048576, 32, 1, 1, &lo, &hi);
	ok(lo == 41 && hi == 59, "TV5b L=1M bf=32: 41..59 (got %g..%g)", lo, hi);
	rope_yarn_range(128, 500000.0, 1048576, 4, 1, 1, &lo, &hi);
	ok(lo == 51 && hi == 59, "TV5b L=1M bf=4: 51..59 (got %g..%g)", lo, hi);

	/* TV9: llama.cpp's pipeline ends at HF's attention_factor. */
	double s = 4.0;
	double cparams = rope_mscale_get(s, 1.0) * (1.0 / (1.0 + 0.1 * log(s)));
	double kernel = cparams * (1.0 + 0.1 * log(1.0 / (1.0 / s)));
	is_double(cparams, 1.0, 1e-12, "TV9 llama.cpp cparams yarn_attn_factor = 1");
	yarn_cfg(&c, 64, 10000.0, 4.0, 4096, 32, 1, 1);
	t = table_of(&c);
	is_double(kernel, t.m, 1e-12, "TV9 kernel multiplier == our m (1.1386294361)");
	is_double(rope_yarn_mscale(40, 1, 1), 1.0, 1e-12, "TV9 DeepSeek-V3 mscale ratio 1");
	is_double(rope_yarn_mscale(40, 0.707, 0.707), 1.0, 1e-12, "TV9 DeepSeek-V2 ratio 1");
	is_double(pow(rope_mscale_get(40, 0.707), 2), 1.5896261651208736, 1e-12,
	    "TV9 DeepSeek-V2 softmax mscale^2");
	c.mscale = 1.0;
	c.mscale_all_dim = 0.5;
	t = table_of(&c);
	is_double(t.m, rope_mscale_get(4, 1) / rope_mscale_get(4, 0.5), 1e-12,
	    "yarn m = get_mscale(s,mscale)/get_mscale(s,mscale_all_dim)");
	c.attn_factor = 1.25;
	t = table_of(&c);
	is_double(t.m, 1.25, 0, "explicit attention_factor overrides the yarn formula");
	c.attn_factor = 0;
	c.mscale = c.mscale_all_dim = 0;
	c.ext_factor = 0.0;
	t = table_of(&c);
	is_rel(t.freq[0], 0.25, 1e-12, "yarn ext_factor 0 degrades to linear");
	is_double(t.m, 1.0, 0, "yarn ext_factor 0: m = 1");
}

/* ---- TV6 llama3, TV7 LongRoPE --------------------------------------------------------- */

static void test_llama3_longrope(void)
{
	double f[64], f0[64];
	int kept, sm, div;
	rope_freq_plain(f0, 128, 500000.0);
	rope_freq_plain(f, 128, 500000.0);
	rope_freq_llama3(f, 128, 8.0, 1.0, 4.0, 8192, &kept, &sm, &div);
	ok(kept == 29 && sm == 6 && div == 29, "TV6 bands H/M/L 29/6/29 (got %d/%d/%d)", kept,
	    sm, div);
	static const struct { int i; double f, ratio; } tv6[] = {
		{ 0, 1.0, 1.0 }, { 28, 3.2114459948e-03, 1.0 },
		{ 29, 2.1665707635e-03, 1.2074838713 }, { 30, 1.3718935678e-03, 1.5534146285 },
		{ 31, 8.5675141292e-04, 2.0263132059 }, { 32, 5.2484616099e-04, 2.6945296879 },
		{ 33, 3.1269375038e-04, 3.6842525277 }, { 34, 1.7850781277e-04, 5.2573265887 },
		{ 35, 9.5562123540e-05, 8.0 }, { 40, 3.4281021960e-05, 8.0 },
		{ 63, 3.0689259889e-07, 8.0 },
	};
	for (size_t k = 0; k < Q_ARRAY_LEN(tv6); k++) {
		int i = tv6[k].i;
		is_rel(f[i], tv6[k].f, 1e-9, "TV6 llama3 f[%d]", i);
		is_rel(f0[i] / f[i], tv6[k].ratio, 1e-9, "TV6 rope_freqs factor[%d]", i);
	}
	struct rope_config c;
	cfg_values(&c, ROPE_LLAMA3, 128, 500000.0, 8.0, 8192, 0);
	struct rope_table t = table_of(&c);
	is_rel(t.freq_f32[32], 5.2484616099e-04, 1e-6, "TV6 llama3 via config f[32]");
	is_double(t.m, 1.0, 0, "TV6 llama3 m = 1");

	is_double(rope_longrope_mscale(32, 4096), 1.1902380714, 1e-10, "TV7 Phi-3 128k/4k");
	is_double(rope_longrope_mscale(16, 8192), 1.1435437498, 1e-10, "TV7 128k/8k");
	is_double(rope_longrope_mscale(512, 4096), 1.3228756555, 1e-10, "TV7 2M/4k");
	is_double(rope_longrope_mscale(1, 4096), 1.0, 0, "TV7 s=1: m=1");

	/* LongRoPE from values: scale from ctx_train/orig, set from the run's maximum context. */
	rope_config_init(&c, ROPE_PAIRING_NEOX, 96, 10000.0, 131072);
	c.variant = ROPE_LONGROPE;
	c.orig_ctx = 4096;
	c.has_longrope = 1;
	for (int i = 0; i < 48; i++) {
		c.long_factors[i] = 1.0f + (float)i;
		c.short_factors[i] = 1.0f + 0.01f * (float)i;
	}
	struct rope_config cl = c, cs = c, c4097 = c;
	char *err = NULL;
	ok(rope_config_finish(&cl, 131072, &err) == 0, "longrope finish at 131072");
	ok(rope_config_finish(&cs, 4096, &err) == 0, "longrope finish at exactly 4096");
	ok(rope_config_finish(&c4097, 4097, &err) == 0, "longrope finish at 4097");
	is_int(cl.longrope_set, ROPE_SET_LONG, "ctx 131072 > 4096: long set");
	is_int(cs.longrope_set, ROPE_SET_SHORT, "ctx exactly 4096: short set");
	is_int(c4097.longrope_set, ROPE_SET_LONG, "ctx 4097: long set");
	is_double(cl.scale, 32.0, 0, "longrope scale = 131072/4096");
	t = table_of(&cl);
	is_double(t.m, 1.1902380714, 1e-10, "TV7 longrope table m");
	is_rel(t.freq[10], pow(10000.0, -20.0 / 96) / 11.0, 1e-12, "long set divides f[10]");
	struct rope_table ts = table_of(&cs);
	is_rel(ts.freq[10], pow(10000.0, -20.0 / 96) / 1.1, 1e-6, "short set divides f[10]");
	is_double(ts.m, t.m, 0, "same m for short and long sets");
	ok(rope_fingerprint(&cl) != rope_fingerprint(&cs), "fingerprint differs between sets");
}

/* ---- TV10 pairing equivalence ---------------------------------------------------------- */

static void test_pairing(void)
{
	struct rope_config c;
	cfg_values(&c, ROPE_NONE, 64, 10000.0, 1.0, 4096, 0);
	struct rope_table t = table_of(&c);
	float x[64], px[64], a[64], b[64];
	int perm[64];
	for (int k = 0; k < 64; k++)
		x[k] = (float)sin(0.37 * k + 0.1);
	for (int j = 0; j < 32; j++) {
		perm[2 * j] = j;
		perm[2 * j + 1] = j + 32;
	}
	for (int k = 0; k < 64; k++)
		px[k] = x[perm[k]];
	float cs[32], sn[32];
	rope_cos_sin(777.0, t.freq, 32, t.m_f32, cs, sn);
	memcpy(a, px, sizeof a);
	rope_rotate(a, 64, ROPE_PAIRING_NORM, cs, sn);
	memcpy(b, x, sizeof b);
	rope_rotate(b, 64, ROPE_PAIRING_NEOX, cs, sn);
	int same = 1;
	for (int k = 0; k < 64; k++)
		same &= a[k] == b[perm[k]];
	ok(same, "TV10 interleaved(perm(x)) == perm(neox(x)) exactly");

	enum rope_pairing p;
	char *err = NULL;
	ok(rope_pairing_for_arch("llama", &p, &err) == 0 && p == ROPE_PAIRING_NORM,
	    "arch llama: NORM");
	ok(rope_pairing_for_arch("qwen2", &p, &err) == 0 && p == ROPE_PAIRING_NEOX,
	    "arch qwen2: NEOX");
	ok(rope_pairing_for_arch("phi3", &p, &err) == 0 && p == ROPE_PAIRING_NEOX,
	    "arch phi3: NEOX");
	ok(rope_pairing_for_arch("gemma3", &p, &err) == 0 && p == ROPE_PAIRING_NEOX,
	    "arch gemma3: NEOX");
	ok(rope_pairing_for_arch("deepseek2", &p, &err) == 0 && p == ROPE_PAIRING_NORM,
	    "arch deepseek2: NORM");
	err_has(rope_pairing_for_arch("gpt2", &p, &err), &err, "gpt2", "arch gpt2: refused");
	err = NULL;
	err_has(rope_pairing_for_arch("qwen2vl", &p, &err), &err, "multi-section",
	    "arch qwen2vl (M-RoPE): refused");

	for (int v = ROPE_NONE; v <= ROPE_LLAMA3; v++) {
		enum rope_variant back;
		ok(rope_variant_parse(rope_variant_name((enum rope_variant)v), &back) == 0 &&
		    (int)back == v, "variant name round trip %s", rope_variant_name(
		    (enum rope_variant)v));
	}
	enum rope_variant back;
	ok(rope_variant_parse("su", &back) < 0, "variant 'su' is not a CLI name");
}

/* ---- TV11 merging partial attention --------------------------------------------------- */

static void attn_ref(const double *q, double K[][4], double V[][4], int n, double scale,
    double *o, double *lse)
{
	double s[8], mx = -INFINITY, z = 0;
	for (int j = 0; j < n; j++) {
		s[j] = 0;
		for (int c = 0; c < 4; c++)
			s[j] += scale * q[c] * K[j][c];
		if (s[j] > mx)
			mx = s[j];
	}
	for (int c = 0; c < 4; c++)
		o[c] = 0;
	for (int j = 0; j < n; j++) {
		double w = exp(s[j] - mx);
		z += w;
		for (int c = 0; c < 4; c++)
			o[c] += w * V[j][c];
	}
	for (int c = 0; c < 4; c++)
		o[c] /= z;
	*lse = mx + log(z);
}

static void test_merge(void)
{
	double q[4] = { 0.3, -1.2, 0.5, 2.0 }, K[6][4], V[6][4];
	for (int j = 0; j < 6; j++)
		for (int c = 0; c < 4; c++) {
			K[j][c] = cos(0.7 * j + c);
			V[j][c] = sin(0.3 * j * (c + 1));
		}
	double oa[4], ob[4], ofull[4], la, lb, lfull;
	attn_ref(q, K, V, 4, 0.5, oa, &la);
	attn_ref(q, K + 4, V + 4, 2, 0.5, ob, &lb);
	attn_ref(q, K, V, 6, 0.5, ofull, &lfull);
	is_double(la, 1.3221326469, 1e-9, "TV11 lse shard A");
	is_double(lb, 1.8846214675, 1e-9, "TV11 lse shard B");
	is_double(lfull, 2.3355628069, 1e-9, "TV11 lse full");

	float fa[4], fb[4], empty[4] = { 0 };
	for (int c = 0; c < 4; c++) {
		fa[c] = (float)oa[c];
		fb[c] = (float)ob[c];
	}
	const float *parts[3] = { fa, fb, empty };
	float lses[3] = { (float)la, (float)lb, -INFINITY };
	float out[4], lse;
	attn_merge(3, parts, lses, 4, out, &lse);
	static const double want[4] = { 0.8374889070, 0.5755223240, -0.2372144781,
	    -0.4115770160 };
	is_double(lse, 2.3355628069, 1e-6, "TV11 merged lse (with an empty shard)");
	for (int c = 0; c < 4; c++)
		is_double(out[c], want[c], 1e-6, "TV11 merged o[%d]", c);

	const float *rev[3] = { empty, fb, fa };
	float lrev[3] = { -INFINITY, (float)lb, (float)la };
	float out2[4], lse2;
	attn_merge(3, rev, lrev, 4, out2, &lse2);
	int close = fabsf(lse2 - lse) < 1e-6f;
	for (int c = 0; c < 4; c++)
		close &= fabsf(out2[c] - out[c]) < 1e-6f;
	ok(close, "TV11 merge is order-independent");

	attn_merge(1, rev, lrev, 4, out2, &lse2);
	ok(isinf(lse2) && lse2 < 0 && out2[0] == 0.0f, "TV11 only empty shards: lse = -inf");

	/* the strided one-pass merge (decode's): the parts side by side, lse every other float */
	float flat[3][4], lflat[6] = { (float)la, 9.0f, -INFINITY, 9.0f, (float)lb, 9.0f };
	memcpy(flat[0], fa, sizeof fa);
	memcpy(flat[1], empty, sizeof empty);
	memcpy(flat[2], fb, sizeof fb);
	attn_merge_strided(3, flat[0], 4, lflat, 2, 4, out2, &lse2);
	is_double(lse2, 2.3355628069, 1e-6, "TV11 strided merge: lse (with an empty shard)");
	for (int c = 0; c < 4; c++)
		is_double(out2[c], want[c], 1e-6, "TV11 strided merge: o[%d]", c);
	lflat[0] = lflat[4] = -INFINITY;
	attn_merge_strided(3, flat[0], 4, lflat, 2, 4, out2, &lse2);
	ok(isinf(lse2) && lse2 < 0 && out2[0] == 0.0f && out2[3] == 0.0f,
	    "TV11 strided merge, only empty shards: lse = -inf, zeros");
}

/* ---- TV12 angle precision at millions of positions ------------------------------------- */

static void test_angle_precision(void)
{
	struct rope_config c;
	cfg_values(&c, ROPE_NONE, 128, 500000.0, 1.0, 8192, 0);
	struct rope_table t = table_of(&c);
	const long double two_pi = 6.283185307179586476925286766559005768L;
	static const double pos[2] = { 1048575.0, 4194303.0 };
	double worst = 0;
	for (int k = 0; k < 2; k++) {
		for (int i = 0; i < 64; i++) {
			long double exact = fmodl((long double)pos[k] * (long double)t.freq[i], two_pi);
			long double d = (long double)rope_angle(pos[k], t.freq[i]) - exact;
			d = fmodl(d + 3 * two_pi + two_pi / 2, two_pi) - two_pi / 2;  /* wrap */
			if (fabsl(d) > worst)
				worst = (double)fabsl(d);
		}
	}
	ok(worst < 1e-6, "TV12 reduced angle within 1e-6 rad of fp64 for every pair at "
	    "p=1048575, 4194303 (worst %.3g)", worst);

	/* The naive fp32 product p*f is off by the errors below (fp64 reference), so this test can
	 * tell them apart. */
	static const struct { double p; int i; double err; } naive[] = {
		{ 1048575.0, 1, -0.015991 }, { 4194303.0, 10, -0.023951 },
	};
	for (size_t k = 0; k < Q_ARRAY_LEN(naive); k++) {
		float a32 = (float)naive[k].p * t.freq_f32[naive[k].i];
		double e = (double)a32 - naive[k].p * t.freq[naive[k].i];
		is_double(e, naive[k].err, 2e-6, "TV12 naive fp32 angle error p=%.0f i=%d",
		    naive[k].p, naive[k].i);
		ok(fabs(e) > 1e-3, "TV12 naive fp32 error is far above 1e-6");
	}
	float cs[64], sn[64];
	rope_cos_sin(1048575.0, t.freq, 64, 1.0f, cs, sn);
	is_double(cs[1], 0.703951, 1.5e-6, "TV12 cos at p=1048575 i=1 (fp32 angle gives 0.715)");
	rope_cos_sin(4194303.0, t.freq, 64, 1.0f, cs, sn);
	is_double(cs[10], -0.998445, 1.5e-6, "TV12 cos at p=4194303 i=10");
	is_double(rope_angle(-1000.0, 1.0), -rope_angle(1000.0, 1.0), 1e-6,
	    "negative positions (key shift) reduce symmetrically");
}

/* ---- ggml's fp32 angles below ROPE_GGML_POS_LIMIT (kernels/rope-math.h) ---------------- */

static void test_ggml_angles(void)
{
	struct rope_config c;
	cfg_values(&c, ROPE_NONE, 64, 10000.0, 1.0, 4096, 0);
	struct rope_table t = table_of(&c);
	is_double(t.ggml_theta_scale, powf(10000.0f, -2.0f / 64.0f), 0.0,
	    "plain table: ggml's theta scale powf(base, -2/n_rot)");
	ok(!t.ggml_has_div, "plain table: no divisors");
	/* The forward pass's rule, at pos 1000, still meets TV1's 1e-5. */
	static const double want_norm[4] = { -0.017052813, 0.030494339, -0.078110691,
	    0.001495194 };
	float cs[ROPE_MAX_PAIRS], sn[ROPE_MAX_PAIRS], x[64];
	rope_cos_sin_at(1000.0, t.freq, t.ggml_theta_scale, NULL, t.n_pairs, t.m_f32, cs, sn);
	for (int j = 0; j < 64; j++)
		x[j] = (float)(j + 1) / 64.0f;
	rope_rotate(x, 64, ROPE_PAIRING_NORM, cs, sn);
	for (int j = 0; j < 4; j++)
		is_double(x[j], want_norm[j], 1e-5, "TV1 norm pos 1000 y[%d] with ggml's angles", j);

	/* Which angles: ggml's recurrence below the limit, the fp64 ones from it on. */
	float cg[ROPE_MAX_PAIRS], sg[ROPE_MAX_PAIRS], c64[ROPE_MAX_PAIRS], s64[ROPE_MAX_PAIRS];
	int64_t below = ROPE_GGML_POS_LIMIT - 1, at = ROPE_GGML_POS_LIMIT;
	rope_cos_sin_at((double)below, t.freq, t.ggml_theta_scale, NULL, 32, 1.0f, cs, sn);
	rope_cos_sin_ggml((int)below, t.ggml_theta_scale, NULL, 32, 1.0f, cg, sg);
	ok(memcmp(cs, cg, sizeof(float) * 32) == 0 && memcmp(sn, sg, sizeof(float) * 32) == 0,
	    "position %lld takes ggml's angles", (long long)below);
	rope_cos_sin_at((double)at, t.freq, t.ggml_theta_scale, NULL, 32, 1.0f, cs, sn);
	rope_cos_sin((double)at, t.freq, 32, 1.0f, c64, s64);
	ok(memcmp(cs, c64, sizeof(float) * 32) == 0 && memcmp(sn, s64, sizeof(float) * 32) == 0,
	    "position %lld takes the fp64 angles", (long long)at);
	rope_cos_sin_at(-5.0, t.freq, t.ggml_theta_scale, NULL, 32, 1.0f, cs, sn);
	rope_cos_sin(-5.0, t.freq, 32, 1.0f, c64, s64);
	ok(memcmp(cs, c64, sizeof(float) * 32) == 0, "negative positions take the fp64 angles");

	/* The documented bound: below the limit ggml's angles stay within 1.4e-3 rad of fp64 for
	 * bases 1e4..5e5 and n_rot 64, 128 (1.32e-3 at worst, b = 1e4, d = 128), so cos and sin
	 * differ by no more. */
	static const double bases[] = { 1e4, 1e5, 5e5 };
	static const int rots[] = { 64, 128 };
	double worst = 0;
	for (size_t bi = 0; bi < Q_ARRAY_LEN(bases); bi++)
		for (size_t ri = 0; ri < Q_ARRAY_LEN(rots); ri++) {
			cfg_values(&c, ROPE_NONE, rots[ri], bases[bi], 1.0, 8192, 0);
			t = table_of(&c);
			for (int64_t p = 0; p < ROPE_GGML_POS_LIMIT; p += 37) {
				rope_cos_sin_ggml((int)p, t.ggml_theta_scale, NULL, t.n_pairs, 1.0f, cg, sg);
				rope_cos_sin((double)p, t.freq, t.n_pairs, 1.0f, c64, s64);
				for (int i = 0; i < t.n_pairs; i++)
					worst = fmax(worst, fmax(fabs(cg[i] - c64[i]), fabs(sg[i] - s64[i])));
			}
		}
	ok(worst < 1.4e-3, "ggml's angles below the limit: cos/sin within 1.4e-3 of fp64 (worst "
	    "%.3g)", worst);
	ok(worst > 1e-5, "... and not the fp64 ones (worst %.3g > 1e-5), so the rule is visible",
	    worst);

	/* Only plain tables (and llama3's divisors) take ggml's angles. */
	cfg_values(&c, ROPE_YARN, 64, 10000.0, 4.0, 4096, 16384);
	t = table_of(&c);
	is_double(t.ggml_theta_scale, 0.0, 0.0, "yarn: always fp64 angles");
	cfg_values(&c, ROPE_LINEAR, 64, 10000.0, 2.0, 4096, 0);
	t = table_of(&c);
	is_double(t.ggml_theta_scale, 0.0, 0.0, "linear: always fp64 angles");

	/* The rotation is fused as GCC fuses ggml's: fmaf(xa, c, -(xb * s)). These operands give
	 * a different float when the products are rounded separately. */
	float a = 1.0f + 0x1p-12f, b = 1.0f, cc = 1.0f + 0x1p-12f, ss = 1.0f;
	float ra = a, rb = b;
	rope_rotate_pair(&ra, &rb, cc, ss);
	volatile float p1 = a * cc, p2 = b * ss;
	is_double(ra, fmaf(a, cc, -(b * ss)), 0.0, "rotation: first line fused");
	ok(ra != p1 - p2, "... which differs from separately rounded products here");
	is_double(rb, fmaf(a, ss, b * cc), 0.0, "rotation: second line fused");
}

/* ---- GGUF metadata --------------------------------------------------------------------- */

static void test_gguf(void)
{
	struct rope_config c;
	char *err = NULL;
	struct rope_table t;

	if (!ok(load("yarn.gguf", &c, &err) == 0, "yarn.gguf loads")) {
		diag("%s", err);
		free(err);
		err = NULL;
	}
	ok(c.variant == ROPE_YARN && c.pairing == ROPE_PAIRING_NORM && c.n_rot == 128,
	    "yarn.gguf: yarn, norm, n_rot 128");
	ok(c.base == 500000.0 && c.scale == 128.0 && c.orig_ctx == 8192 &&
	    c.ctx_train == 1048576, "yarn.gguf: base, factor, original and trained context");
	ok(c.beta_fast == 4.0 && c.beta_slow == 1.0, "yarn.gguf: beta_fast 4, beta_slow 1");
	ok(rope_config_finish(&c, 0, &err) == 0, "yarn.gguf finishes");
	t = table_of(&c);
	is_double(t.yarn_low, 28, 0, "yarn.gguf: low 28");
	is_double(t.m, 1.4852030264, 1e-9, "yarn.gguf: m");
	is_rel(t.freq_f32[30], 1.5269852039e-03, 1e-6, "yarn.gguf: f[30]");
	ok(rope_config_allows_cache(&c), "yarn: cacheable");
	struct buf b = BUF_INIT;
	rope_describe(&c, &b);
	char fp[40];
	snprintf(fp, sizeof fp, "rope.fingerprint: %016llx",
	    (unsigned long long)rope_fingerprint(&c));
	ok(strstr(b.data, "rope.variant: yarn\n") && strstr(b.data, "rope.attn_factor: "
	    "1.485203026") && strstr(b.data, "beta_fast=4 ") && strstr(b.data, fp),
	    "rope_describe names variant, betas, m and fingerprint");
	diag("%s", b.data);
	buf_free(&b);

	/* Overrides on the yarn model. */
	struct rope_config o = c;
	struct rope_overrides ov = { 0 };
	ov.scale = 256;
	ok(rope_config_apply_overrides(&o, &ov, &err) == 0 && rope_config_finish(&o, 0, &err)
	    == 0, "--rope-scale 256");
	t = table_of(&o);
	is_double(t.m, 1.5545177444, 1e-9, "--rope-scale 256: m");
	is_rel(t.freq_f32[30], 1.5246067223e-03, 1e-6, "--rope-scale 256: f[30]");
	o = c;
	memset(&ov, 0, sizeof ov);
	ov.beta_fast = 32;
	rope_config_apply_overrides(&o, &ov, &err);
	rope_config_finish(&o, 0, &err);
	t = table_of(&o);
	is_double(t.yarn_low, 18, 0, "--yarn-beta-fast 32: low 18");
	o = c;
	memset(&ov, 0, sizeof ov);
	ov.attn_factor = 1.0;
	rope_config_apply_overrides(&o, &ov, &err);
	rope_config_finish(&o, 0, &err);
	is_double(table_of(&o).m, 1.0, 0, "--rope-attn-factor 1: m = 1");
	o = c;
	memset(&ov, 0, sizeof ov);
	ov.has_variant = 1;
	ov.variant = ROPE_NONE;
	rope_config_apply_overrides(&o, &ov, &err);
	rope_config_finish(&o, 0, &err);
	t = table_of(&o);
	ok(o.variant == ROPE_NONE && t.m == 1.0 && t.freq_f32[63] == (float)pow(500000.0,
	    -126.0 / 128), "--rope-scaling none: plain RoPE");
	o = c;
	memset(&ov, 0, sizeof ov);
	ov.has_variant = 1;
	ov.variant = ROPE_YARN;
	ov.longrope_file = "unused";
	err_has(rope_config_apply_overrides(&o, &ov, &err), &err, "--longrope-factors",
	    "--longrope-factors with --rope-scaling yarn: refused");
	err = NULL;

	ok(load("yarn-attn.gguf", &c, &err) == 0 && rope_config_finish(&c, 0, &err) == 0,
	    "yarn-attn.gguf loads");
	ok(c.pairing == ROPE_PAIRING_NEOX, "qwen2: NEOX");
	is_double(table_of(&c).m, 2.5, 1e-7, "yarn_attn_factor 1.25 x attn_factor 2");

	struct rope_config lin, leg;
	ok(load("linear.gguf", &lin, &err) == 0 && rope_config_finish(&lin, 0, &err) == 0,
	    "linear.gguf loads");
	ok(load("linear-legacy.gguf", &leg, &err) == 0 && rope_config_finish(&leg, 0, &err) == 0,
	    "linear-legacy.gguf loads");
	ok(lin.variant == ROPE_LINEAR && leg.variant == ROPE_LINEAR && leg.scale == 4.0,
	    "scaling.type linear and legacy rope.scale_linear both give linear s=4");
	is_rel(table_of(&lin).freq_f32[31], 3.3338035804e-05, 1e-6, "linear.gguf: TV2 f[31]");
	ok(rope_fingerprint(&lin) == rope_fingerprint(&leg), "same table, same fingerprint");

	struct rope_config l3, l3f;
	ok(load("llama3.gguf", &l3, &err) == 0 && rope_config_finish(&l3, 0, &err) == 0,
	    "llama3.gguf loads");
	ok(l3.variant == ROPE_LLAMA3 && l3.has_freq_factors, "rope_freqs without type: llama3");
	is_rel(l3.freq_factors[29], 1.2074838713, 1e-6, "rope_freqs[29]");
	is_rel(l3.freq_factors[34], 5.2573265887, 1e-6, "rope_freqs[34]");
	is_double(l3.freq_factors[63], 8.0, 0, "rope_freqs[63]");
	cfg_values(&l3f, ROPE_LLAMA3, 128, 500000.0, 8.0, 8192, 0);
	struct rope_table ta = table_of(&l3), tb = table_of(&l3f);
	int near = 1;
	for (int i = 0; i < 64; i++)
		near &= fabs(ta.freq[i] / tb.freq[i] - 1.0) < 1e-6;
	ok(near, "rope_freqs tensor table == llama3 formula table (1e-6)");

	/* The double-scaling trap. */
	struct rope_config d, d2;
	ok(load("double.gguf", &d, &err) == 0, "double.gguf parses");
	d2 = d;
	err_has(rope_config_finish(&d2, 0, &err), &err, "twice", "rope_freqs + yarn refused");
	err = NULL;
	memset(&ov, 0, sizeof ov);
	d2 = d;
	ov.double_scaling = ROPE_DS_DROP;
	ok(rope_config_apply_overrides(&d2, &ov, &err) == 0 &&
	    rope_config_finish(&d2, 0, &err) == 0, "drop the tensor: accepted");
	t = table_of(&d2);
	is_rel(t.freq_f32[30], 6.3855236124e-04, 1e-6, "dropped: plain yarn (TV5 bf=32 f[30])");
	d2 = d;
	ov.double_scaling = ROPE_DS_BOTH;
	ok(rope_config_apply_overrides(&d2, &ov, &err) == 0 &&
	    rope_config_finish(&d2, 0, &err) == 0, "apply both: accepted when asked");
	t = table_of(&d2);
	is_rel(t.freq[63], 1.9180787431e-08 / 8.0, 1e-6, "both: f[63] divided by 8 then 128");
	d2 = d;
	memset(&ov, 0, sizeof ov);
	ov.has_variant = 1;
	ov.variant = ROPE_LLAMA3;
	ok(rope_config_apply_overrides(&d2, &ov, &err) == 0 &&
	    rope_config_finish(&d2, 0, &err) == 0, "--rope-scaling llama3 keeps only the tensor");
	ok(rope_fingerprint(&d2) == rope_fingerprint(&l3), "... same as llama3.gguf");

	/* LongRoPE (Phi-3). */
	struct rope_config p, ps;
	ok(load("phi3.gguf", &p, &err) == 0, "phi3.gguf loads");
	ok(p.variant == ROPE_LONGROPE && p.pairing == ROPE_PAIRING_NEOX && p.n_rot == 96 &&
	    p.has_longrope && p.orig_ctx == 4096, "phi3: longrope, neox, 96 dims, orig 4096");
	is_rel(p.attn_factor, 1.1902380714, 1e-7, "phi3: attn_factor key is LongRoPE's m");
	ps = p;
	ok(rope_config_finish(&p, 131072, &err) == 0 && p.longrope_set == ROPE_SET_LONG,
	    "phi3 at 131072: long set");
	ok(rope_config_finish(&ps, 4096, &err) == 0 && ps.longrope_set == ROPE_SET_SHORT,
	    "phi3 at 4096: short set");
	t = table_of(&p);
	is_rel(t.freq[47], pow(10000.0, -94.0 / 96) / 40.0, 1e-6, "long set: f[47] / 40");
	is_rel(t.m, 1.1902380714, 1e-7, "phi3: m");
	struct rope_table t2 = table_of(&ps);
	is_rel(t2.freq[47], pow(10000.0, -94.0 / 96) / (1.0 + 0.047), 1e-6,
	    "short set: f[47] / 1.047");

	/* Missing keys take defaults. */
	ok(load("minimal.gguf", &c, &err) == 0 && rope_config_finish(&c, 0, &err) == 0,
	    "minimal.gguf loads");
	ok(c.variant == ROPE_NONE && c.n_rot == 64 && c.base == 10000.0 && c.scale == 1.0 &&
	    c.orig_ctx == 32768 && c.beta_fast == 32.0 && c.beta_slow == 1.0 &&
	    c.pairing == ROPE_PAIRING_NEOX, "defaults: plain, 896/14 dims, base 1e4, betas 32/1");
	o = c;
	memset(&ov, 0, sizeof ov);
	ov.scale = 2;
	ov.base = 20000;
	rope_config_apply_overrides(&o, &ov, &err);
	ok(rope_config_finish(&o, 0, &err) == 0 && o.variant == ROPE_LINEAR && o.base == 20000,
	    "--rope-scale alone on a plain model: linear; --rope-base applies");

	/* Refusals. */
	err_has(load("bad-arch.gguf", &c, &err), &err, "mystery", "unknown arch refused");
	err = NULL;
	err_has(load("bad-noctx.gguf", &c, &err), &err, "context_length",
	    "missing context_length refused");
	err = NULL;
	err_has(load("bad-halflong.gguf", &c, &err), &err, "rope_factors_short",
	    "long factors without short refused");
	err = NULL;
	err_has(load("bad-freqlen.gguf", &c, &err), &err, "rope_freqs", "short rope_freqs refused");
	err = NULL;
	err_has(load("bad-type.gguf", &c, &err), &err, "warp", "unknown scaling type refused");
	err = NULL;
}

/* ---- factor files ---------------------------------------------------------------------- */

static uint32_t parsed_keep;

static int parse(const char *text, int n, float *l, float *s, char **err)
{
	return rope_factors_parse(text, strlen(text), "f", n, l, s, &parsed_keep, err);
}

static void test_factor_files(void)
{
	float l[4], s[4];
	char *err = NULL;
	ok(parse("quire-rope-factors 1 4\n# comment\nlong\n1 2\n3 4.5 # tail\n\nshort\n"
	    "1.0 1.0 1.0 1.25\n", 4, l, s, &err) == 0 && l[3] == 4.5f && s[3] == 1.25f &&
	    l[0] == 1.0f, "factor file: long + short, comments, several per line");
	ok(parse("quire-rope-factors 1 4\n  both  \n\t1 2 3 4\n", 4, l, s, &err) == 0 &&
	    s[2] == 3.0f && l[2] == 3.0f && parsed_keep == 0, "factor file: one 'both' set");
	ok(parse("quire-rope-factors 2 4\nlong\n1 2 3 4\nkeep 16 # n^\nshort\n1 1 1 1\n", 4, l,
	    s, &err) == 0 && parsed_keep == 16 && l[3] == 4.0f && s[3] == 1.0f,
	    "factor file version 2: keep between the sections");
	ok(parse("quire-rope-factors 2 4\nboth\n1 2 3 4\n", 4, l, s, &err) == 0 &&
	    parsed_keep == 0, "factor file version 2 without keep: 0");
	static const struct { const char *text, *needle; } bad[] = {
		{ "quire-rope-factor 1 4\n", "f:1:" },
		{ "quire-rope-factors 3 4\nboth\n1 2 3 4\n", "version 3" },
		{ "quire-rope-factors 1 4\nkeep 4\nboth\n1 2 3 4\n", "f:2: 'keep' needs format" },
		{ "quire-rope-factors 2 4\nkeep 4\nkeep 4\nboth\n1 2 3 4\n", "f:3: 'keep' rep" },
		{ "quire-rope-factors 2 4\nkeep -1\nboth\n1 2 3 4\n", "f:2: expected 'keep N'" },
		{ "quire-rope-factors 2 4\nkeep 65537\nboth\n1 2 3 4\n", "f:2: expected" },
		{ "quire-rope-factors 2 4\nkeep\nboth\n1 2 3 4\n", "f:2: expected 'keep N'" },
		{ "quire-rope-factors 2 4\nkeep 4x\nboth\n1 2 3 4\n", "f:2: expected" },
		{ "quire-rope-factors 2 4\nlong\n1 2\nkeep 4\n3 4\nshort\n1 1 1 1\n",
		    "f:2: section has 2" },
		{ "quire-rope-factors 2 4\nboth\n1 2 3 4\nkeep 4\n1 1 1 1\n", "f:5: numbers before" },
		{ "quire-rope-factors 1 8\nboth\n1 2 3 4\n", "n_rot/2 = 4" },
		{ "quire-rope-factors 1 4\nboth\n1 2 x 4\n", "f:3:" },
		{ "quire-rope-factors 1 4\nlong\n1 2 3\nshort\n1 1 1 1\n", "f:2: section has 3" },
		{ "quire-rope-factors 1 4\nboth\n1 2 3 4 5\n", "f:3: more than 4" },
		{ "quire-rope-factors 1 4\nlong\n1 2 3 4\n", "both a 'long' and a 'short'" },
		{ "quire-rope-factors 1 4\nlong\n1 2 3 4\nlong\n1 2 3 4\n", "f:4:" },
		{ "quire-rope-factors 1 4\nboth\n1 -2 3 4\n", "f:3: factor -2" },
		{ "quire-rope-factors 1 4\nboth\n1 inf 3 4\n", "f:3:" },
		{ "quire-rope-factors 1 4\n1 2 3 4\n", "f:2: numbers before" },
		{ "", "f:1: empty" },
		{ "quire-rope-factors 1 99999999999999999999999\nboth\n1 2 3 4\n", "f:1: expected" },
		{ "quire-rope-factors 1 4 extra\nboth\n1 2 3 4\n", "f:1: expected" },
		{ "quire-rope-factors1 4\nboth\n1 2 3 4\n", "f:1: expected" },
	};
	for (size_t k = 0; k < Q_ARRAY_LEN(bad); k++) {
		err = NULL;
		err_has(parse(bad[k].text, 4, l, s, &err), &err, bad[k].needle,
		    "factor file refused: %s", bad[k].needle);
	}
	err = NULL;
	err_has(rope_factors_parse("quire-rope-factors 1 4\0x", 24, "f", 4, l, s, &parsed_keep,
	    &err), &err, "NUL", "factor file with a NUL byte refused");

	/* Round trip through a real file and --longrope-factors. */
	float lf[32], sf[32];
	for (int i = 0; i < 32; i++) {
		lf[i] = 1.0f + 0.37f * (float)i;
		sf[i] = 1.0f + 0.001f * (float)i;
	}
	struct buf b = BUF_INIT;
	rope_factors_format(&b, 32, lf, sf, 0);
	const char *tmp = getenv("TMPDIR");
	char *path = xasprintf("%s/t-rope-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	int fd = mkstemp(path);
	int wrote = fd >= 0 && write(fd, b.data, b.len) == (ssize_t)b.len;
	if (fd >= 0)
		close(fd);
	ok(wrote, "wrote a factor file");
	struct rope_config c;
	rope_config_init(&c, ROPE_PAIRING_NEOX, 64, 10000.0, 32768);
	c.orig_ctx = 4096;
	struct rope_overrides ov = { 0 };
	ov.longrope_file = path;
	err = NULL;
	ok(rope_config_apply_overrides(&c, &ov, &err) == 0 &&
	    rope_config_finish(&c, 65536, &err) == 0, "--longrope-factors FILE loads");
	if (err)
		diag("%s", err);
	free(err);
	err = NULL;
	ok(c.variant == ROPE_LONGROPE && c.longrope_set == ROPE_SET_LONG && c.scale == 8.0,
	    "--longrope-factors implies longrope; long set at 65536; s = 32768/4096");
	int same = 1;
	for (int i = 0; i < 32; i++)
		same &= c.long_factors[i] == lf[i] && c.short_factors[i] == sf[i];
	ok(same, "factor file round trip is exact");
	ok(c.longrope_keep == 0 && strncmp(b.data, "quire-rope-factors 1 ", 21) == 0,
	    "without n^ the file is version 1 and loads with keep 0");

	/* n^ through a file: version 2, the table, the fingerprint, the description. */
	struct rope_config c0 = c;
	b.len = 0;
	rope_factors_format(&b, 32, lf, sf, 8);
	fd = open(path, O_WRONLY | O_TRUNC);
	wrote = fd >= 0 && write(fd, b.data, b.len) == (ssize_t)b.len;
	if (fd >= 0)
		close(fd);
	rope_config_init(&c, ROPE_PAIRING_NEOX, 64, 10000.0, 32768);
	c.orig_ctx = 4096;
	err = NULL;
	ok(wrote && rope_config_apply_overrides(&c, &ov, &err) == 0 &&
	    rope_config_finish(&c, 65536, &err) == 0 && c.longrope_keep == 8,
	    "a version-2 file with keep 8 loads");
	free(err);
	err = NULL;
	struct rope_table t0, t8;
	ok(rope_table_build(&c0, &t0, NULL) == 0 && rope_table_build(&c, &t8, NULL) == 0,
	    "tables with and without n^");
	int plain_below = 1, scaled_from = 1;
	for (int i = 0; i < 32; i++) {
		plain_below &= t8.freq_keep[i] == pow(10000.0, -2.0 * i / 64);
		scaled_from &= t8.freq[i] == t0.freq[i];
	}
	ok(t8.keep == 8 && plain_below && scaled_from,
	    "n^ = 8: freq_keep is plain RoPE, freq the factored one");
	ok(rope_table_freq_at(&t8, 7.0) == t8.freq_keep && rope_table_freq_at(&t8, 8.0) ==
	    t8.freq && rope_table_freq_at(&t8, -1.0) == t8.freq &&
	    rope_table_freq_at(&t0, 0.0) == t0.freq, "positions 0..7 take the plain frequencies");
	ok(rope_fingerprint(&c) != rope_fingerprint(&c0) && rope_fingerprint(&c0) != 0,
	    "the fingerprint changes with n^");
	struct buf d = BUF_INIT;
	rope_describe(&c, &d);
	ok(d.data && strstr(d.data, "rope.longrope_keep: 8"), "quire info shows n^");
	buf_free(&d);
	struct rope_config cy = c;
	cy.variant = ROPE_YARN;
	ok(rope_config_finish(&cy, 65536, &err) != 0 && err && strstr(err, "keep 8"),
	    "n^ with another variant is refused");
	free(err);
	err = NULL;
	struct rope_overrides none = { 0 };
	none.has_variant = 1;
	none.variant = ROPE_NONE;
	cy = c;
	ok(rope_config_apply_overrides(&cy, &none, &err) == 0 &&
	    rope_config_finish(&cy, 65536, &err) == 0 && cy.longrope_keep == 0,
	    "--rope-scaling none drops n^ with the factors");
	free(err);
	err = NULL;
	unlink(path);
	free(path);
	buf_free(&b);
}

/* ---- fingerprint ----------------------------------------------------------------------- */

static void set_ones(float *v)
{
	for (int i = 0; i < ROPE_MAX_PAIRS; i++)
		v[i] = 1.0f;
}

static void test_fingerprint(void)
{
	struct rope_config a, b;
	yarn_cfg(&a, 128, 500000.0, 128, 8192, 4, 1, 1);
	yarn_cfg(&b, 128, 500000.0, 128, 8192, 4, 1, 1);
	uint64_t fa = rope_fingerprint(&a);
	ok(fa != 0 && fa == rope_fingerprint(&b), "equal configurations, equal fingerprints");

#define CHANGED(what, stmt) do { \
		b = a; \
		stmt; \
		ok(rope_fingerprint(&b) != fa, "fingerprint changes with %s", what); \
	} while (0)
	CHANGED("base", b.base = 500001.0);
	CHANGED("scale", b.scale = 129.0);
	CHANGED("n_rot", b.n_rot = 64);
	CHANGED("pairing", b.pairing = ROPE_PAIRING_NEOX);
	CHANGED("variant", b.variant = ROPE_LINEAR);
	CHANGED("orig_ctx", b.orig_ctx = 16384);
	CHANGED("beta_fast", b.beta_fast = 32.0);
	CHANGED("beta_slow", b.beta_slow = 2.0);
	CHANGED("truncate", b.truncate = 0);
	CHANGED("ext_factor", b.ext_factor = 0.5);
	CHANGED("attn_factor", b.attn_factor = 1.5);
	CHANGED("attn_mult", b.attn_mult = 1.01);
	CHANGED("mscale", (b.mscale = 1.0, b.mscale_all_dim = 0.8));
	CHANGED("a tiny base change (fp64 table)", b.base = 500000.0 * (1.0 + 1e-15));
	CHANGED("rope_freqs factors", (b.has_freq_factors = 1, b.double_scaling = ROPE_DS_BOTH,
	    set_ones(b.freq_factors), b.freq_factors[40] = 2.0f));
#undef CHANGED
	b = a;
	b.n_rot = 7;
	ok(rope_fingerprint(&b) == 0, "invalid configuration: fingerprint 0");
	char *err = NULL;
	b = a;
	b.base = 1.0;
	err_has(rope_table_build(&b, &(struct rope_table){ 0 }, &err), &err, "base",
	    "base 1 refused");
}

int main(void)
{
	test_plain();
	test_yarn();
	test_llama3_longrope();
	test_pairing();
	test_merge();
	test_angle_precision();
	test_ggml_angles();
	test_gguf();
	test_factor_files();
	test_fingerprint();
	done_testing();
	return exit_status();
}
