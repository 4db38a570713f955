/* rope.c: RoPE configuration — from GGUF metadata, plain values and command-line overrides —
 * its validation, the frequency table, the fingerprint and the `quire info` description. The
 * math itself is in kernels/rope-math.h. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/gguf.h"
#include "engine/rope.h"
#include "lib/file.h"
#include "lib/util.h"

#define FACTOR_FILE_MAX (1u << 20)   /* a factor file is a few KiB; refuse anything huge */

static const char *const variant_names[] = {
	[ROPE_NONE] = "none", [ROPE_LINEAR] = "linear", [ROPE_NTK] = "ntk",
	[ROPE_DYNAMIC] = "dynamic", [ROPE_YARN] = "yarn", [ROPE_LONGROPE] = "longrope",
	[ROPE_LLAMA3] = "llama3",
};

const char *rope_variant_name(enum rope_variant v)
{
	if ((unsigned)v < Q_ARRAY_LEN(variant_names))
		return variant_names[v];
	return "?";
}

int rope_variant_parse(const char *name, enum rope_variant *out)
{
	for (size_t i = 0; i < Q_ARRAY_LEN(variant_names); i++) {
		if (strcmp(name, variant_names[i]) == 0) {
			*out = (enum rope_variant)i;
			return 0;
		}
	}
	return -1;
}

const char *rope_pairing_name(enum rope_pairing p)
{
	return p == ROPE_PAIRING_NEOX ? "neox" : "norm";
}

/* GGUF architecture names (llama.cpp's LLM_ARCH_NAMES) by pairing, as llama.cpp's
 * llama_model_rope_type() assigns them. */
static const char *const norm_archs[] = {
	"llama", "deci", "baichuan", "starcoder", "plamo", "orion", "internlm2", "minicpm",
	"xverse", "command-r", "cohere2", "olmo", "arctic", "deepseek", "deepseek2", "chatglm",
	"granite", "granitemoe", "chameleon", "solar", "mistral3", "smollm3", "arcee",
	"ernie4_5", "bailingmoe",
};
static const char *const neox_archs[] = {
	"falcon", "grok", "dbrx", "bert", "nomic-bert", "stablelm", "bitnet", "qwen", "qwen2",
	"qwen2moe", "qwen3", "qwen3moe", "olmo2", "olmoe", "phi2", "phi3", "phimoe", "gemma",
	"gemma2", "gemma3", "starcoder2", "openelm", "gptneox", "codeshell", "nemotron",
	"exaone", "minicpm3",
};
static const char *const mrope_archs[] = { "qwen2vl", "qwen3vl", "qwen3vlmoe" };

static int in_list(const char *s, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s, list[i]) == 0)
			return 1;
	return 0;
}

int rope_pairing_for_arch(const char *arch, enum rope_pairing *out, char **err)
{
	if (in_list(arch, norm_archs, Q_ARRAY_LEN(norm_archs))) {
		*out = ROPE_PAIRING_NORM;
		return 0;
	}
	if (in_list(arch, neox_archs, Q_ARRAY_LEN(neox_archs))) {
		*out = ROPE_PAIRING_NEOX;
		return 0;
	}
	if (in_list(arch, mrope_archs, Q_ARRAY_LEN(mrope_archs)))
		return q_error(err, "architecture '%s' uses multi-section RoPE, which quire does not "
		    "support", arch);
	return q_error(err, "architecture '%s' is unknown to quire's RoPE table (pairing "
	    "NORM or NEOX cannot be guessed safely)", arch);
}

void rope_config_init(struct rope_config *cfg, enum rope_pairing pairing, int n_rot,
    double base, uint32_t ctx_train)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->variant = ROPE_NONE;
	cfg->pairing = pairing;
	cfg->n_rot = n_rot;
	cfg->base = base;
	cfg->scale = 1.0;
	cfg->ctx_train = ctx_train;
	cfg->orig_ctx = ctx_train;
	cfg->beta_fast = 32.0;
	cfg->beta_slow = 1.0;
	cfg->truncate = 1;
	cfg->ext_factor = -1.0;
	cfg->attn_mult = 1.0;
	cfg->low_freq_factor = 1.0;
	cfg->high_freq_factor = 4.0;
	cfg->longrope_set = ROPE_SET_NONE;
	cfg->double_scaling = ROPE_DS_REFUSE;
}

/* ---- GGUF ---------------------------------------------------------------------------- */

static const char *key(char *kb, size_t n, const char *arch, const char *suffix)
{
	snprintf(kb, n, "%s.%s", arch, suffix);
	return kb;
}

/* A per-pair F32 factor tensor of exactly n_pairs values into dst. 1 if absent. */
static int read_factor_tensor(const struct gguf_file *f, const char *name, int n_pairs,
    float *dst, char **err)
{
	const struct gguf_tensor *t = gguf_find_tensor(f, name);
	if (t == NULL)
		return 1;
	if (t->type != GGML_TYPE_F32)
		return q_error(err, "%s: tensor '%s' must be f32 for RoPE factors", gguf_path(f),
		    name);
	int64_t n = 1;
	for (int i = 0; i < t->n_dims; i++)
		n *= t->ne[i];   /* each ne is checked > 0 by the loader; n_pairs bounds it below */
	if (t->ne[0] != n_pairs || n != n_pairs)
		return q_error(err, "%s: tensor '%s' has %lld values, RoPE needs n_rot/2 = %d",
		    gguf_path(f), name, (long long)n, n_pairs);
	memcpy(dst, t->data, (size_t)n_pairs * sizeof(float));
	for (int i = 0; i < n_pairs; i++)
		if (!isfinite(dst[i]) || dst[i] <= 0.0f)
			return q_error(err, "%s: tensor '%s' value %d is %g; factors must be "
			    "finite and > 0", gguf_path(f), name, i, (double)dst[i]);
	return 0;
}

int rope_config_from_gguf(struct rope_config *cfg, const struct gguf_file *f, char **err)
{
	const char *path = gguf_path(f);
	const char *s;
	size_t len;
	char kb[128];
	char arch[48];

	if (gguf_need_str(f, "general.architecture", &s, &len, err) < 0)
		return -1;
	if (len == 0 || len >= sizeof arch)
		return q_error(err, "%s: general.architecture has a bad length (%zu)", path, len);
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
			return q_error(err, "%s: general.architecture holds a bad character", path);
	memcpy(arch, s, len);
	arch[len] = '\0';

	enum rope_pairing pairing;
	char *e = NULL;
	if (rope_pairing_for_arch(arch, &pairing, &e) < 0) {
		q_error(err, "%s: %s", path, e);
		free(e);
		return -1;
	}

	uint32_t ctx_train;
	if (gguf_need_u32(f, key(kb, sizeof kb, arch, "context_length"), &ctx_train, err) < 0)
		return -1;

	/* n_rot: the rotary count, else the key length, else embedding / heads (llama.cpp). */
	uint32_t n_rot = 0;
	int r = gguf_get_u32(f, key(kb, sizeof kb, arch, "rope.dimension_count"), &n_rot, err);
	if (r < 0)
		return -1;
	if (r == 1) {
		r = gguf_get_u32(f, key(kb, sizeof kb, arch, "attention.key_length"), &n_rot, err);
		if (r < 0)
			return -1;
	}
	if (r == 1) {
		uint32_t embd, heads;
		if (gguf_need_u32(f, key(kb, sizeof kb, arch, "embedding_length"), &embd, err) < 0 ||
		    gguf_need_u32(f, key(kb, sizeof kb, arch, "attention.head_count"), &heads,
		    err) < 0)
			return -1;
		if (heads == 0 || embd % heads != 0)
			return q_error(err, "%s: embedding_length %u is not a multiple of head_count "
			    "%u", path, embd, heads);
		n_rot = embd / heads;
	}
	if (n_rot < 2 || n_rot > ROPE_MAX_ROT || n_rot % 2 != 0)
		return q_error(err, "%s: RoPE dimension count %u must be even and in 2..%d", path,
		    n_rot, ROPE_MAX_ROT);

	double base = 10000.0;
	if (gguf_get_f64(f, key(kb, sizeof kb, arch, "rope.freq_base"), &base, err) < 0)
		return -1;
	rope_config_init(cfg, pairing, (int)n_rot, base, ctx_train);
	memcpy(cfg->arch, arch, len + 1);

	/* Scaling type: absent means linear with factor 0, i.e. no scaling (llama.cpp). */
	int have_type = 0;
	enum rope_variant variant = ROPE_NONE;
	r = gguf_get_str(f, key(kb, sizeof kb, arch, "rope.scaling.type"), &s, &len, err);
	if (r < 0)
		return -1;
	if (r == 0) {
		char name[16];
		if (len >= sizeof name)
			return q_error(err, "%s: unknown %s", path, kb);
		memcpy(name, s, len);
		name[len] = '\0';
		if (strcmp(name, "su") == 0)       /* LongRoPE's old name */
			strcpy(name, "longrope");
		if (memchr(s, '\0', len) != NULL || rope_variant_parse(name, &variant) < 0)
			return q_error(err, "%s: unknown %s '%.*s'", path, kb, (int)len, name);
		have_type = 1;
	}

	double factor = 0.0;
	r = gguf_get_f64(f, key(kb, sizeof kb, arch, "rope.scaling.factor"), &factor, err);
	if (r < 0)
		return -1;
	if (r == 1 && gguf_get_f64(f, key(kb, sizeof kb, arch, "rope.scale_linear"), &factor,
	    err) < 0)
		return -1;
	if (!isfinite(factor) || factor < 0.0)
		return q_error(err, "%s: RoPE scaling factor %g is not a finite number >= 0", path,
		    factor);
	if (factor > 0.0)
		cfg->scale = factor;
	if (!have_type && factor > 0.0 && factor != 1.0)
		variant = ROPE_LINEAR;

	if (gguf_get_u32(f, key(kb, sizeof kb, arch, "rope.scaling.original_context_length"),
	    &cfg->orig_ctx, err) < 0 ||
	    gguf_get_f64(f, key(kb, sizeof kb, arch, "rope.scaling.yarn_beta_fast"),
	    &cfg->beta_fast, err) < 0 ||
	    gguf_get_f64(f, key(kb, sizeof kb, arch, "rope.scaling.yarn_beta_slow"),
	    &cfg->beta_slow, err) < 0 ||
	    gguf_get_f64(f, key(kb, sizeof kb, arch, "rope.scaling.yarn_ext_factor"),
	    &cfg->ext_factor, err) < 0 ||
	    gguf_get_f64(f, key(kb, sizeof kb, arch, "rope.scaling.yarn_attn_factor"),
	    &cfg->attn_factor, err) < 0)
		return -1;

	double log_mul = 0.0;
	if (gguf_get_f64(f, key(kb, sizeof kb, arch, "rope.scaling.yarn_log_multiplier"),
	    &log_mul, err) < 0)
		return -1;
	if (log_mul != 0.0) {
		/* DeepSeek-V2's converter stores 0.1 * mscale_all_dim. */
		cfg->mscale = 1.0;
		cfg->mscale_all_dim = strcmp(arch, "deepseek2") == 0 ? log_mul / 0.1 : log_mul;
	}

	double attn = 0.0;
	int r_attn = gguf_get_f64(f, key(kb, sizeof kb, arch, "rope.scaling.attn_factor"), &attn,
	    err);
	if (r_attn < 0)
		return -1;

	/* Factor tensors. */
	int n_pairs = (int)n_rot / 2;
	r = read_factor_tensor(f, "rope_freqs.weight", n_pairs, cfg->freq_factors, err);
	if (r < 0)
		return -1;
	cfg->has_freq_factors = r == 0;
	int rl = read_factor_tensor(f, "rope_factors_long.weight", n_pairs, cfg->long_factors,
	    err);
	if (rl < 0)
		return -1;
	int rs = read_factor_tensor(f, "rope_factors_short.weight", n_pairs, cfg->short_factors,
	    err);
	if (rs < 0)
		return -1;
	if (rl != rs)
		return q_error(err, "%s: has %s but not %s", path,
		    rl == 0 ? "rope_factors_long.weight" : "rope_factors_short.weight",
		    rl == 0 ? "rope_factors_short.weight" : "rope_factors_long.weight");
	cfg->has_longrope = rl == 0;

	if (cfg->has_longrope) {
		if (have_type && variant != ROPE_LONGROPE && variant != ROPE_NONE)
			return q_error(err, "%s: LongRoPE factor tensors with scaling type '%s'",
			    path, rope_variant_name(variant));
		variant = ROPE_LONGROPE;
	} else if (variant == ROPE_LONGROPE) {
		return q_error(err, "%s: scaling type longrope without rope_factors_long/short "
		    "tensors", path);
	}
	/* llama3 as the converter writes it: divisors in rope_freqs and no scaling type. */
	if (cfg->has_freq_factors && variant == ROPE_NONE)
		variant = ROPE_LLAMA3;
	cfg->variant = variant;

	/* rope.scaling.attn_factor: Phi-3's converter writes LongRoPE's m there; for every other
	 * variant it is llama.cpp's generic extra multiplier. */
	if (r_attn == 0) {
		if (!isfinite(attn) || attn <= 0.0)
			return q_error(err, "%s: %s.rope.scaling.attn_factor %g must be > 0", path,
			    arch, attn);
		if (variant == ROPE_LONGROPE && cfg->attn_factor == 0.0)
			cfg->attn_factor = attn;
		else
			cfg->attn_mult = attn;
	}
	return 0;
}

/* ---- overrides and validation ------------------------------------------------------------ */

int rope_config_apply_overrides(struct rope_config *cfg, const struct rope_overrides *ov,
    char **err)
{
	if (ov->has_variant && (unsigned)ov->variant >= Q_ARRAY_LEN(variant_names))
		return q_error(err, "--rope-scaling: unknown variant %d", (int)ov->variant);
	if (ov->scale != 0.0 && !(isfinite(ov->scale) && ov->scale > 0.0))
		return q_error(err, "--rope-scale %g: must be a finite number > 0", ov->scale);
	if (ov->base != 0.0 && !(isfinite(ov->base) && ov->base > 1.0))
		return q_error(err, "--rope-base %g: must be a finite number > 1", ov->base);
	if (ov->beta_fast != 0.0 && !(isfinite(ov->beta_fast) && ov->beta_fast > 0.0))
		return q_error(err, "--yarn-beta-fast %g: must be > 0", ov->beta_fast);
	if (ov->beta_slow != 0.0 && !(isfinite(ov->beta_slow) && ov->beta_slow > 0.0))
		return q_error(err, "--yarn-beta-slow %g: must be > 0", ov->beta_slow);
	if (ov->attn_factor != 0.0 && !(isfinite(ov->attn_factor) && ov->attn_factor > 0.0))
		return q_error(err, "--rope-attn-factor %g: must be > 0", ov->attn_factor);
	if (ov->longrope_file && ov->has_variant && ov->variant != ROPE_LONGROPE)
		return q_error(err, "--longrope-factors needs --rope-scaling longrope, not %s",
		    rope_variant_name(ov->variant));

	if (ov->longrope_file) {
		if (cfg->n_rot < 2 || cfg->n_rot > ROPE_MAX_ROT || cfg->n_rot % 2 != 0)
			return q_error(err, "RoPE: n_rot %d must be even and in 2..%d", cfg->n_rot,
			    ROPE_MAX_ROT);
		if (rope_factors_read(ov->longrope_file, cfg->n_rot / 2, cfg->long_factors,
		    cfg->short_factors, &cfg->longrope_keep, err) < 0)
			return -1;
		cfg->has_longrope = 1;
	}
	if (ov->has_variant)
		cfg->variant = ov->variant;
	else if (ov->longrope_file)
		cfg->variant = ROPE_LONGROPE;
	else if (ov->scale != 0.0 && cfg->variant == ROPE_NONE)
		cfg->variant = ROPE_LINEAR;   /* --rope-scale alone, as llama.cpp's freq scale */

	if (cfg->variant == ROPE_NONE) {   /* plain RoPE: no factor table applies */
		cfg->has_freq_factors = 0;
		cfg->has_longrope = 0;
		cfg->longrope_keep = 0;
	}
	if (ov->base != 0.0)
		cfg->base = ov->base;
	if (ov->scale != 0.0)
		cfg->scale = ov->scale;
	if (ov->orig_ctx != 0)
		cfg->orig_ctx = ov->orig_ctx;
	if (ov->beta_fast != 0.0)
		cfg->beta_fast = ov->beta_fast;
	if (ov->beta_slow != 0.0)
		cfg->beta_slow = ov->beta_slow;
	if (ov->attn_factor != 0.0) {
		cfg->attn_factor = ov->attn_factor;
		cfg->attn_mult = 1.0;
	}
	/* A different llama3 factor or window: the file's divisors no longer describe it. */
	if (cfg->variant == ROPE_LLAMA3 && (ov->scale != 0.0 || ov->orig_ctx != 0))
		cfg->has_freq_factors = 0;
	cfg->double_scaling = ov->double_scaling;
	return 0;
}

static int check_factors(const float *v, int n, const char *what, char **err)
{
	for (int i = 0; i < n; i++)
		if (!isfinite(v[i]) || v[i] <= 0.0f)
			return q_error(err, "RoPE %s factor %d is %g; must be finite and > 0", what, i,
			    (double)v[i]);
	return 0;
}

/* Everything rope_table_build() relies on; finish() has already resolved the policies. */
static int check(const struct rope_config *c, char **err)
{
	if ((unsigned)c->variant >= Q_ARRAY_LEN(variant_names))
		return q_error(err, "RoPE: unknown variant %d", (int)c->variant);
	if (c->pairing != ROPE_PAIRING_NORM && c->pairing != ROPE_PAIRING_NEOX)
		return q_error(err, "RoPE: unknown pairing %d", (int)c->pairing);
	if (c->n_rot < 2 || c->n_rot > ROPE_MAX_ROT || c->n_rot % 2 != 0)
		return q_error(err, "RoPE: n_rot %d must be even and in 2..%d", c->n_rot,
		    ROPE_MAX_ROT);
	if (!isfinite(c->base) || c->base <= 1.0)
		return q_error(err, "RoPE: base %g must be a finite number > 1", c->base);
	if (!isfinite(c->scale) || c->scale <= 0.0)
		return q_error(err, "RoPE: scale %g must be a finite number > 0", c->scale);
	if (!isfinite(c->attn_factor) || c->attn_factor < 0.0 || !isfinite(c->attn_mult) ||
	    c->attn_mult <= 0.0)
		return q_error(err, "RoPE: attention factor %g x %g must be finite and > 0",
		    c->attn_factor, c->attn_mult);
	int needs_orig = c->variant == ROPE_YARN || c->variant == ROPE_LONGROPE ||
	    c->variant == ROPE_DYNAMIC || (c->variant == ROPE_LLAMA3 && !c->has_freq_factors);
	if (needs_orig && c->orig_ctx == 0)
		return q_error(err, "RoPE %s needs an original context length > 0",
		    rope_variant_name(c->variant));
	if (c->variant == ROPE_YARN) {
		if (!isfinite(c->beta_fast) || !isfinite(c->beta_slow) || c->beta_slow <= 0.0 ||
		    c->beta_fast < c->beta_slow)
			return q_error(err, "RoPE yarn: beta_fast %g and beta_slow %g must be finite "
			    "with beta_fast >= beta_slow > 0", c->beta_fast, c->beta_slow);
		if (!isfinite(c->ext_factor) || c->ext_factor > 1.0)
			return q_error(err, "RoPE yarn: ext_factor %g must be in [0, 1] (or < 0 for "
			    "auto)", c->ext_factor);
		if (!isfinite(c->mscale) || !isfinite(c->mscale_all_dim) || c->mscale < 0.0 ||
		    c->mscale_all_dim < 0.0)
			return q_error(err, "RoPE yarn: mscale %g / mscale_all_dim %g must be >= 0",
			    c->mscale, c->mscale_all_dim);
	}
	if (c->variant == ROPE_LLAMA3 && !c->has_freq_factors &&
	    !(isfinite(c->low_freq_factor) && isfinite(c->high_freq_factor) &&
	    c->low_freq_factor > 0.0 && c->high_freq_factor > c->low_freq_factor))
		return q_error(err, "RoPE llama3: need 0 < low_freq_factor (%g) < high_freq_factor "
		    "(%g)", c->low_freq_factor, c->high_freq_factor);
	if (c->variant == ROPE_LONGROPE) {
		if (!c->has_longrope)
			return q_error(err, "RoPE longrope: no factors (the model has no "
			    "rope_factors_long/short tensors; give --longrope-factors FILE)");
		if (c->longrope_set != ROPE_SET_SHORT && c->longrope_set != ROPE_SET_LONG)
			return q_error(err, "RoPE longrope: no factor set chosen "
			    "(rope_config_finish() not called)");
		if (check_factors(c->long_factors, c->n_rot / 2, "long", err) < 0 ||
		    check_factors(c->short_factors, c->n_rot / 2, "short", err) < 0)
			return -1;
	} else if (c->longrope_set != ROPE_SET_NONE) {
		return q_error(err, "RoPE %s: a LongRoPE set is chosen", rope_variant_name(c->variant));
	}
	if (c->longrope_keep > ROPE_KEEP_MAX)
		return q_error(err, "RoPE longrope: keep %u is more than %d", c->longrope_keep,
		    ROPE_KEEP_MAX);
	if (c->longrope_keep != 0 && c->variant != ROPE_LONGROPE)
		return q_error(err, "RoPE %s: un-interpolated leading positions (keep %u) belong to "
		    "longrope", rope_variant_name(c->variant), c->longrope_keep);
	if (c->has_freq_factors) {
		if (c->variant != ROPE_LLAMA3 && c->double_scaling != ROPE_DS_BOTH)
			return q_error(err, "RoPE: rope_freqs divisors with %s scaling",
			    rope_variant_name(c->variant));
		if (check_factors(c->freq_factors, c->n_rot / 2, "rope_freqs", err) < 0)
			return -1;
	}
	return 0;
}

int rope_config_finish(struct rope_config *cfg, uint32_t ctx_max, char **err)
{
	if (cfg->has_freq_factors && cfg->variant != ROPE_LLAMA3) {
		switch (cfg->double_scaling) {
		case ROPE_DS_DROP:
			cfg->has_freq_factors = 0;
			break;
		case ROPE_DS_BOTH:
			break;
		default:
			return q_error(err, "RoPE: the model%s%s%s has a rope_freqs tensor (llama3 "
			    "frequency divisors) and %s scaling is selected: both would apply and "
			    "scale the frequencies twice. Use --rope-scaling llama3 to keep only the "
			    "tensor, or explicitly ask to drop the tensor or to apply both",
			    cfg->arch[0] ? " (" : "", cfg->arch, cfg->arch[0] ? ")" : "",
			    rope_variant_name(cfg->variant));
		}
	}
	cfg->ctx_max = ctx_max ? ctx_max : cfg->ctx_train;
	if (cfg->variant == ROPE_LONGROPE) {
		if (cfg->orig_ctx == 0)
			return q_error(err, "RoPE longrope needs an original context length > 0");
		/* HF: factor = max_position_embeddings / original when the config gives none. */
		if (cfg->scale == 1.0 && cfg->ctx_train > cfg->orig_ctx)
			cfg->scale = (double)cfg->ctx_train / cfg->orig_ctx;
		cfg->longrope_set = cfg->ctx_max > cfg->orig_ctx ? ROPE_SET_LONG : ROPE_SET_SHORT;
	} else {
		cfg->longrope_set = ROPE_SET_NONE;
	}
	return check(cfg, err);
}

/* ---- the table ------------------------------------------------------------------------- */

int rope_table_build(const struct rope_config *cfg, struct rope_table *t, char **err)
{
	if (check(cfg, err) < 0)
		return -1;
	memset(t, 0, sizeof *t);
	t->variant = cfg->variant;
	t->pairing = cfg->pairing;
	t->n_rot = cfg->n_rot;
	t->n_pairs = cfg->n_rot / 2;

	double base = cfg->base;
	if (cfg->variant == ROPE_NTK)
		base = rope_ntk_base(base, cfg->n_rot, cfg->scale);
	else if (cfg->variant == ROPE_DYNAMIC)
		base = rope_dynamic_ntk_base(base, cfg->n_rot, cfg->scale, cfg->ctx_max,
		    cfg->orig_ctx);
	t->base_eff = base;
	rope_freq_plain(t->freq, cfg->n_rot, base);
	if (cfg->has_freq_factors)
		rope_freq_divide(t->freq, cfg->n_rot, cfg->freq_factors);

	double m = 1.0;
	switch (cfg->variant) {
	case ROPE_LINEAR:
		rope_freq_linear(t->freq, cfg->n_rot, cfg->scale);
		break;
	case ROPE_YARN: {
		double ext = cfg->ext_factor < 0.0 ? 1.0 : cfg->ext_factor;
		rope_yarn_range(cfg->n_rot, cfg->base, cfg->orig_ctx, cfg->beta_fast,
		    cfg->beta_slow, cfg->truncate, &t->yarn_low, &t->yarn_high);
		rope_freq_yarn(t->freq, cfg->n_rot, cfg->scale, t->yarn_low, t->yarn_high, ext);
		if (ext != 0.0)
			m = rope_yarn_mscale(cfg->scale, cfg->mscale, cfg->mscale_all_dim);
		break;
	}
	case ROPE_LONGROPE:
		/* n^: the first keep positions rotate with the frequencies before the factors */
		t->keep = cfg->longrope_keep;
		memcpy(t->freq_keep, t->freq, sizeof t->freq);
		rope_freq_divide(t->freq, cfg->n_rot, cfg->longrope_set == ROPE_SET_LONG ?
		    cfg->long_factors : cfg->short_factors);
		m = rope_longrope_mscale(cfg->scale, cfg->orig_ctx);
		break;
	case ROPE_LLAMA3:
		if (!cfg->has_freq_factors)
			rope_freq_llama3(t->freq, cfg->n_rot, cfg->scale, cfg->low_freq_factor,
			    cfg->high_freq_factor, cfg->orig_ctx, NULL, NULL, NULL);
		break;
	default:
		break;
	}
	if (cfg->attn_factor > 0.0)
		m = cfg->attn_factor;
	m *= cfg->attn_mult;
	t->m = m;
	t->m_f32 = (float)m;
	/* ggml's fp32 angles reproduce tables that are the plain frequencies, maybe divided by
	 * per-pair factors, as ggml computes them (kernels/rope-math.h); the other variants keep
	 * fp64 angles everywhere. */
	int plain = cfg->variant == ROPE_NONE || (cfg->variant == ROPE_LLAMA3 &&
	    cfg->has_freq_factors);
	if (plain) {
		t->ggml_theta_scale = rope_ggml_theta_scale(base, cfg->n_rot);
		t->ggml_has_div = cfg->has_freq_factors;
		for (int i = 0; i < t->n_pairs; i++)
			t->ggml_div[i] = cfg->has_freq_factors ? cfg->freq_factors[i] : 1.0f;
	}
	for (int i = 0; i < t->n_pairs; i++) {
		if (!isfinite(t->freq[i]) || t->freq[i] <= 0.0)
			return q_error(err, "RoPE: frequency %d came out as %g", i, t->freq[i]);
		t->freq_f32[i] = (float)t->freq[i];
	}
	if (!isfinite(m) || m <= 0.0)
		return q_error(err, "RoPE: attention factor came out as %g", m);
	return 0;
}

int rope_config_allows_cache(const struct rope_config *cfg)
{
	return cfg->variant != ROPE_DYNAMIC;
}

/* ---- fingerprint ----------------------------------------------------------------------- */

struct fnv {
	uint64_t h;
};

static void fnv_bytes(struct fnv *s, const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++) {
		s->h ^= b[i];
		s->h *= 0x100000001b3ULL;
	}
}

static void fnv_u64(struct fnv *s, uint64_t v)
{
	unsigned char b[8];
	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)(v >> (8 * i));   /* little-endian whatever the host */
	fnv_bytes(s, b, 8);
}

static void fnv_f64(struct fnv *s, double v)
{
	uint64_t u;
	memcpy(&u, &v, sizeof u);
	fnv_u64(s, u);
}

static void fnv_f32(struct fnv *s, float v)
{
	uint32_t u;
	memcpy(&u, &v, sizeof u);
	fnv_u64(s, u);
}

uint64_t rope_fingerprint(const struct rope_config *cfg)
{
	struct rope_table t;
	if (rope_table_build(cfg, &t, NULL) < 0)
		return 0;
	struct fnv s = { 0xcbf29ce484222325ULL };
	/* "-2": angles below ROPE_GGML_POS_LIMIT follow ggml's fp32 rule (kernels/rope-math.h),
	 * so keys rotated by an older build differ there. */
	fnv_bytes(&s, "quire-rope-2", 12);
	fnv_u64(&s, (uint64_t)cfg->variant);
	fnv_u64(&s, (uint64_t)cfg->longrope_set);
	fnv_u64(&s, (uint64_t)cfg->pairing);
	fnv_u64(&s, (uint64_t)cfg->n_rot);
	for (int i = 0; i < t.n_pairs; i++) {
		fnv_f64(&s, t.freq[i]);
		fnv_f32(&s, t.freq_f32[i]);
	}
	fnv_f64(&s, t.m);
	fnv_f32(&s, t.m_f32);
	fnv_f32(&s, t.ggml_theta_scale);
	fnv_u64(&s, (uint64_t)t.ggml_has_div);
	if (t.ggml_has_div)
		for (int i = 0; i < t.n_pairs; i++)
			fnv_f32(&s, t.ggml_div[i]);
	fnv_u64(&s, ROPE_GGML_POS_LIMIT);
	if (t.keep != 0) {             /* absent for keep 0: fingerprints from before stay */
		fnv_bytes(&s, "keep", 4);
		fnv_u64(&s, t.keep);
		for (int i = 0; i < t.n_pairs; i++)
			fnv_f64(&s, t.freq_keep[i]);
	}
	return s.h ? s.h : 1;
}

/* ---- description ----------------------------------------------------------------------- */

void rope_describe(const struct rope_config *cfg, struct buf *out)
{
	struct rope_table t;
	char *e = NULL;
	if (rope_table_build(cfg, &t, &e) < 0) {
		buf_printf(out, "rope.error: %s\n", e);
		free(e);
		return;
	}
	const char *v = rope_variant_name(cfg->variant);
	buf_printf(out, "rope.variant: %s\n", v);
	buf_printf(out, "rope.pairing: %s\n", rope_pairing_name(cfg->pairing));
	buf_printf(out, "rope.n_rot: %d\n", cfg->n_rot);
	buf_printf(out, "rope.base: %.10g\n", cfg->base);
	if (t.base_eff != cfg->base)
		buf_printf(out, "rope.base_effective: %.10g\n", t.base_eff);
	switch (cfg->variant) {
	case ROPE_LINEAR:
	case ROPE_NTK:
		buf_printf(out, "rope.scale: %.10g\n", cfg->scale);
		break;
	case ROPE_DYNAMIC:
		buf_printf(out, "rope.scale: %.10g\nrope.orig_ctx: %u\nrope.frozen_ctx: %u\n",
		    cfg->scale, cfg->orig_ctx, cfg->ctx_max);
		break;
	case ROPE_YARN:
		buf_printf(out, "rope.scale: %.10g\nrope.orig_ctx: %u\n", cfg->scale, cfg->orig_ctx);
		buf_printf(out, "rope.yarn: beta_fast=%.10g beta_slow=%.10g truncate=%s "
		    "ext_factor=%.10g ramp=%.6g..%.6g\n", cfg->beta_fast, cfg->beta_slow,
		    cfg->truncate ? "yes" : "no", cfg->ext_factor < 0.0 ? 1.0 : cfg->ext_factor,
		    t.yarn_low, t.yarn_high);
		if (cfg->mscale > 0.0 && cfg->mscale_all_dim > 0.0)
			buf_printf(out, "rope.yarn_mscale: %.10g/%.10g\n", cfg->mscale,
			    cfg->mscale_all_dim);
		break;
	case ROPE_LONGROPE:
		buf_printf(out, "rope.scale: %.10g\nrope.orig_ctx: %u\nrope.longrope_set: %s "
		    "(max context %u)\n", cfg->scale, cfg->orig_ctx,
		    cfg->longrope_set == ROPE_SET_LONG ? "long" : "short", cfg->ctx_max);
		if (cfg->longrope_keep != 0)
			buf_printf(out, "rope.longrope_keep: %u (positions below it not "
			    "interpolated)\n", cfg->longrope_keep);
		break;
	case ROPE_LLAMA3:
		if (cfg->has_freq_factors)
			buf_printf(out, "rope.llama3: divisors from the rope_freqs tensor\n");
		else
			buf_printf(out, "rope.scale: %.10g\nrope.orig_ctx: %u\nrope.llama3: "
			    "low_freq_factor=%.10g high_freq_factor=%.10g\n", cfg->scale,
			    cfg->orig_ctx, cfg->low_freq_factor, cfg->high_freq_factor);
		break;
	default:
		break;
	}
	if (cfg->has_freq_factors && cfg->variant != ROPE_LLAMA3)
		buf_printf(out, "rope.freq_factors: rope_freqs tensor applied before %s "
		    "(double scaling allowed)\n", v);
	buf_printf(out, "rope.attn_factor: %.10g (logits x %.10g)%s\n", t.m, t.m * t.m,
	    cfg->attn_factor > 0.0 ? " explicit" : "");
	buf_printf(out, "rope.cacheable: %s\n", rope_config_allows_cache(cfg) ? "yes" :
	    "no (dynamic NTK depends on the length)");
	buf_printf(out, "rope.fingerprint: %016llx\n",
	    (unsigned long long)rope_fingerprint(cfg));
}

/* ---- LongRoPE factor files ------------------------------------------------------------- */

/* One line at a time with '#' comments cut and surrounding blanks trimmed. */
struct lines {
	const char *p, *end;
	int lineno;
	char buf[4096];
};

/* 1 with the next line in l->buf, 0 at the end, -1 if a line is too long. */
static int next_line(struct lines *l)
{
	if (l->p >= l->end)
		return 0;
	const char *nl = memchr(l->p, '\n', (size_t)(l->end - l->p));
	const char *stop = nl ? nl : l->end;
	l->lineno++;
	const char *start = l->p;
	while (start < stop && isspace((unsigned char)*start))
		start++;
	size_t n = (size_t)(stop - start);
	const char *hash = memchr(start, '#', n);
	if (hash)
		n = (size_t)(hash - start);
	if (n >= sizeof l->buf)
		return -1;
	memcpy(l->buf, start, n);
	while (n > 0 && isspace((unsigned char)l->buf[n - 1]))
		n--;
	l->buf[n] = '\0';
	l->p = nl ? nl + 1 : l->end;
	return 1;
}

int rope_factors_parse(const char *text, size_t len, const char *name, int n_pairs,
    float *long_out, float *short_out, uint32_t *keep_out, char **err)
{
	struct lines *l = xcalloc(1, sizeof *l);
	float *vals[2] = { long_out, short_out };   /* "both" fills vals[0] then copies */
	int have[2] = { 0, 0 }, have_both = 0, have_keep = 0;
	int cur = -1, count = 0, section_line = 0;
	int ret = -1, r;
	long version = 0;
	*keep_out = 0;
	l->p = text;
	l->end = text + len;

	if (memchr(text, '\0', len) != NULL) {
		q_error(err, "%s: contains a NUL byte; not a factor file", name);
		goto out;
	}
	r = next_line(l);
	if (r <= 0) {
		q_error(err, "%s:1: %s", name, r == 0 ? "empty file" : "line too long");
		goto out;
	}
	{
		/* "quire-rope-factors VERSION PAIRS", parsed by hand: sscanf's %d has undefined
		 * behaviour on overflow. */
		static const char magic[] = "quire-rope-factors";
		long pairs = 0;
		char *p = l->buf, *end;
		int good = strncmp(p, magic, sizeof magic - 1) == 0 &&
		    isspace((unsigned char)p[sizeof magic - 1]);
		if (good) {
			errno = 0;
			version = strtol(p + sizeof magic - 1, &end, 10);
			good = end != p + sizeof magic - 1 && isspace((unsigned char)*end);
			p = end;
		}
		if (good) {
			pairs = strtol(p, &end, 10);
			good = end != p && *end == '\0' && errno == 0;
		}
		if (!good) {
			q_error(err, "%s:1: expected the header 'quire-rope-factors VERSION PAIRS'", name);
			goto out;
		}
		if (version != 1 && version != 2) {
			q_error(err, "%s:1: format version %ld is not supported (1 and 2 are)", name,
			    version);
			goto out;
		}
		if (pairs != n_pairs) {
			q_error(err, "%s:1: the file has %ld pairs, the model needs n_rot/2 = %d", name,
			    pairs, n_pairs);
			goto out;
		}
	}
	for (;;) {
		r = next_line(l);
		if (r < 0) {
			q_error(err, "%s:%d: line too long", name, l->lineno);
			goto out;
		}
		int is_section = r == 1 && (strcmp(l->buf, "long") == 0 ||
		    strcmp(l->buf, "short") == 0 || strcmp(l->buf, "both") == 0);
		int is_keep = r == 1 && strncmp(l->buf, "keep", 4) == 0 &&
		    (l->buf[4] == '\0' || isspace((unsigned char)l->buf[4]));
		if (r == 0 || is_section || is_keep) {
			if (cur >= 0 && count != n_pairs) {
				q_error(err, "%s:%d: section has %d factors, expected %d", name,
				    section_line, count, n_pairs);
				goto out;
			}
			if (r == 0)
				break;
			if (is_keep) {
				char *end;
				errno = 0;
				long k = strtol(l->buf + 4, &end, 10);
				if (version < 2) {
					q_error(err, "%s:%d: 'keep' needs format version 2", name,
					    l->lineno);
					goto out;
				}
				if (have_keep) {
					q_error(err, "%s:%d: 'keep' repeats", name, l->lineno);
					goto out;
				}
				if (end == l->buf + 4 || *end != '\0' || errno != 0 || k < 0 ||
				    k > ROPE_KEEP_MAX) {
					q_error(err, "%s:%d: expected 'keep N' with N in 0..%d", name,
					    l->lineno, ROPE_KEEP_MAX);
					goto out;
				}
				*keep_out = (uint32_t)k;
				have_keep = 1;
				cur = -1;        /* numbers after it need a section name first */
				continue;
			}
			int idx = l->buf[0] == 's' ? 1 : 0;
			int both = l->buf[0] == 'b';
			if ((both && (have[0] || have[1])) || have_both || have[idx]) {
				q_error(err, "%s:%d: section '%s' repeats or mixes with 'both'", name,
				    l->lineno, l->buf);
				goto out;
			}
			if (both)
				have_both = 1;
			else
				have[idx] = 1;
			cur = idx;
			count = 0;
			section_line = l->lineno;
			continue;
		}
		char *s = l->buf;
		while (isspace((unsigned char)*s))
			s++;
		if (*s == '\0')
			continue;
		if (cur < 0) {
			q_error(err, "%s:%d: numbers before a section name (long, short or both)",
			    name, l->lineno);
			goto out;
		}
		while (*s != '\0') {
			char *end;
			errno = 0;
			double v = strtod(s, &end);
			if (end == s || (*end != '\0' && !isspace((unsigned char)*end))) {
				q_error(err, "%s:%d: '%.40s' is not a number", name, l->lineno, s);
				goto out;
			}
			if (errno == ERANGE || !isfinite(v) || v <= 0.0 || v > 1e30) {
				q_error(err, "%s:%d: factor %.40s must be finite and > 0", name, l->lineno,
				    s);
				goto out;
			}
			if (count >= n_pairs) {
				q_error(err, "%s:%d: more than %d factors in the section", name,
				    l->lineno, n_pairs);
				goto out;
			}
			vals[cur][count++] = (float)v;
			s = end;
			while (isspace((unsigned char)*s))
				s++;
		}
	}
	if (have_both) {
		memcpy(short_out, long_out, (size_t)n_pairs * sizeof(float));
	} else if (!have[0] || !have[1]) {
		q_error(err, "%s: needs both a 'long' and a 'short' section, or one 'both'", name);
		goto out;
	}
	ret = 0;
out:
	free(l);
	return ret;
}

int rope_factors_read(const char *path, int n_pairs, float *long_out, float *short_out,
    uint32_t *keep_out, char **err)
{
	char *data;
	size_t len;
	if (file_read_all(path, FACTOR_FILE_MAX, &data, &len, err) < 0)
		return -1;
	int r = rope_factors_parse(data, len, path, n_pairs, long_out, short_out, keep_out, err);
	free(data);
	return r;
}

void rope_factors_format(struct buf *out, int n_pairs, const float *long_f,
    const float *short_f, uint32_t keep)
{
	const float *sets[2] = { long_f, short_f };
	const char *names[2] = { "long", "short" };
	buf_printf(out, "quire-rope-factors %d %d\n", keep != 0 ? 2 : 1, n_pairs);
	if (keep != 0)
		buf_printf(out, "keep %u\n", keep);
	for (int k = 0; k < 2; k++) {
		buf_printf(out, "%s\n", names[k]);
		for (int i = 0; i < n_pairs; i++)
			buf_printf(out, "%.9g%c", (double)sets[k][i], i % 8 == 7 ||
			    i == n_pairs - 1 ? '\n' : ' ');
	}
}

void rope_shift_rows(float *x, size_t n_tok, size_t n_heads, size_t head_dim, int64_t delta,
    const struct rope_table *rt)
{
	float cs[ROPE_MAX_PAIRS], sn[ROPE_MAX_PAIRS];
	rope_cos_sin((double)delta, rt->freq, rt->n_pairs, 1.0f, cs, sn);
	for (size_t t = 0; t < n_tok; t++)
		for (size_t h = 0; h < n_heads; h++)
			rope_rotate(x + (t * n_heads + h) * head_dim, rt->n_rot, rt->pairing, cs, sn);
}
