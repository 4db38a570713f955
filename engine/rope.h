/* rope.h: a model's rotary position encoding configuration (variant, pairing, parameters, factor
 * tables), built from GGUF metadata or plain values, adjusted by command-line overrides, and
 * turned once into the frequency table and magnitude the forward pass uses (the formulas:
 * kernels/rope-math.h).
 *
 * Life of a configuration:
 *   rope_config_from_gguf()        or rope_config_init() with plain values
 *   rope_config_apply_overrides()  --rope-scaling, --rope-scale, ... (optional)
 *   rope_config_finish()           validates, picks the LongRoPE set for the run's maximum
 *                                  context, freezes dynamic NTK's length, refuses double scaling
 *   rope_table_build()             f[] (fp64 and fp32) and m, once; the math is in
 *                                  kernels/rope-math.h (rope_cos_sin(), rope_rotate())
 *   rope_fingerprint()             64-bit hash of everything that changes rotated keys
 * The configuration is a plain value (fixed arrays, no pointers): copy it, compare it, or put
 * it in GPU constant memory as it is. */
#ifndef QUIRE_ENGINE_ROPE_H
#define QUIRE_ENGINE_ROPE_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/rope-math.h"
#include "lib/buf.h"

struct gguf_file;

#define ROPE_MAX_ROT 512                    /* largest n_rot accepted */
#define ROPE_MAX_PAIRS (ROPE_MAX_ROT / 2)

/* How f[] is made. The numbers are stable: they enter the fingerprint. */
enum rope_variant {
	ROPE_NONE = 0,       /* plain RoPE; also ABF (only the base differs) */
	ROPE_LINEAR = 1,     /* position interpolation: f/s */
	ROPE_NTK = 2,        /* static NTK-aware base b*s^(d/(d-2)) */
	ROPE_DYNAMIC = 3,    /* dynamic NTK, base frozen at the run's maximum context */
	ROPE_YARN = 4,       /* NTK-by-parts ramp + magnitude */
	ROPE_LONGROPE = 5,   /* per-pair long/short factors (Phi-3) */
	ROPE_LLAMA3 = 6      /* Llama-3.1: rope_freqs divisors, or low/high freq factors */
};

/* Which LongRoPE factor set a configuration uses; fixed once per run or cache. */
enum rope_factor_set {
	ROPE_SET_NONE = 0,   /* not LongRoPE */
	ROPE_SET_SHORT = 1,  /* maximum context <= original context */
	ROPE_SET_LONG = 2    /* maximum context > original context */
};

/* What to do when a rope_freqs tensor (llama3 divisors) meets another scaling variant, which
 * would scale the frequencies twice (llama.cpp then applies the divisors, then the variant). */
enum rope_double_scaling {
	ROPE_DS_REFUSE = 0,  /* default: rope_config_finish() fails and says why */
	ROPE_DS_BOTH = 1,    /* apply both, divisors first (what llama.cpp does) */
	ROPE_DS_DROP = 2     /* ignore the rope_freqs tensor, use only the variant */
};

struct rope_config {
	char arch[48];                 /* GGUF general.architecture; "" when made from values */
	enum rope_variant variant;     /* how f[] is made */
	enum rope_pairing pairing;     /* NORM (interleaved) or NEOX (rotate_half) */
	int n_rot;                     /* rotary dims per head, even; dims >= n_rot pass through */
	double base;                   /* b: <arch>.rope.freq_base, default 10000 */
	double scale;                  /* s: scaling factor, 1 = none */
	uint32_t ctx_train;            /* <arch>.context_length */
	uint32_t orig_ctx;             /* L: original training context (yarn, longrope, llama3,
	                                * dynamic); default ctx_train */
	uint32_t ctx_max;              /* the run's or cache's maximum context; set by finish() */
	double beta_fast;              /* yarn: rotations where the ramp starts (default 32) */
	double beta_slow;              /* yarn: rotations where it ends (default 1) */
	int truncate;                  /* yarn: floor/ceil the ramp ends (default 1) */
	double ext_factor;             /* yarn: ramp mix, < 0 = auto (1 for yarn) */
	double mscale;                 /* yarn: DeepSeek mscale, 0 = absent */
	double mscale_all_dim;         /* yarn: DeepSeek mscale_all_dim (yarn_log_multiplier) */
	double attn_factor;            /* explicit magnitude m, replacing the derived one; 0 = derive */
	double attn_mult;              /* extra multiplier on m (rope.scaling.attn_factor); 1 */
	double low_freq_factor;        /* llama3 formula (default 1) */
	double high_freq_factor;       /* llama3 formula (default 4) */
	int has_freq_factors;          /* freq_factors[] holds per-pair divisors (rope_freqs) */
	int has_longrope;              /* long_factors[] and short_factors[] are set */
	enum rope_factor_set longrope_set;   /* chosen by finish() */
	enum rope_double_scaling double_scaling; /* policy for rope_freqs + another variant */
	float freq_factors[ROPE_MAX_PAIRS];  /* llama3 divisors per pair: f_i /= factor */
	float long_factors[ROPE_MAX_PAIRS];  /* LongRoPE lambda_i for long contexts */
	float short_factors[ROPE_MAX_PAIRS]; /* LongRoPE lambda_i for short contexts */
	uint32_t longrope_keep;        /* LongRoPE n^: positions below it rotate with the
	                                * frequencies before the factors (not interpolated);
	                                * 0 = none. From the factor file. */
};

/* What rope_table_build() produces: everything a kernel needs to rotate. */
struct rope_table {
	enum rope_variant variant;     /* copied from the configuration */
	enum rope_pairing pairing;
	int n_rot;
	int n_pairs;                   /* n_rot / 2 */
	double freq[ROPE_MAX_PAIRS];   /* inverse frequencies in fp64: angle = rope_angle(p, f) */
	float freq_f32[ROPE_MAX_PAIRS];/* the same rounded to fp32 (hashing, small-p fp32 paths) */
	double m;                      /* magnitude multiplied onto cos and sin */
	float m_f32;                   /* m rounded to fp32, as rope_cos_sin() takes it */
	double base_eff;               /* the base after NTK / dynamic NTK */
	float ggml_theta_scale;        /* > 0: small positions take ggml's fp32 angles, this the
	                                * ratio between pairs (rope_cos_sin_at()); 0: always fp64 */
	int ggml_has_div;              /* ggml_div[] divides those angles (llama3 rope_freqs) */
	float ggml_div[ROPE_MAX_PAIRS];/* per-pair divisors for ggml's angles */
	double yarn_low, yarn_high;    /* yarn ramp ends in pair index; 0 otherwise */
	uint32_t keep;                 /* LongRoPE n^: positions [0, keep) use freq_keep */
	double freq_keep[ROPE_MAX_PAIRS]; /* the frequencies before LongRoPE's factors */
};

/* Largest n^ a factor file may give: far beyond LongRoPE's search space (0..256). */
#define ROPE_KEEP_MAX 65536

/* The fp64 frequencies that rotate position pos: freq_keep below LongRoPE's n^, else freq. */
static inline const double *rope_table_freq_at(const struct rope_table *t, double pos)
{
	return pos >= 0.0 && pos < (double)t->keep ? t->freq_keep : t->freq;
}

/* Command-line overrides; 0 / NULL fields keep the model's value. */
struct rope_overrides {
	int has_variant;               /* --rope-scaling given */
	enum rope_variant variant;     /* its value */
	double scale;                  /* --rope-scale S (> 0) */
	double base;                   /* --rope-base B (> 1) */
	uint32_t orig_ctx;             /* --rope-orig-ctx N */
	double beta_fast;              /* --yarn-beta-fast F */
	double beta_slow;              /* --yarn-beta-slow F */
	double attn_factor;            /* --rope-attn-factor F: the final m, exactly */
	const char *longrope_file;     /* --longrope-factors FILE (format below) */
	enum rope_double_scaling double_scaling; /* policy; ROPE_DS_REFUSE unless asked */
};

/* Names as the CLI spells them: none linear ntk dynamic yarn longrope llama3. */
const char *rope_variant_name(enum rope_variant v);
int rope_variant_parse(const char *name, enum rope_variant *out);   /* 0, or -1 if unknown */
const char *rope_pairing_name(enum rope_pairing p);                 /* "norm" / "neox" */

/* Pairing for a GGUF architecture name (llama.cpp's llama_model_rope_type() list). 0, or -1
 * with *err for unknown, non-RoPE and multi-section (M-RoPE) archs. */
int rope_pairing_for_arch(const char *arch, enum rope_pairing *out, char **err);

/* Plain RoPE with every other parameter at its default (scale 1, orig_ctx = ctx_train,
 * beta 32/1, truncate on, ext_factor auto, low/high freq factors 1/4). */
void rope_config_init(struct rope_config *cfg, enum rope_pairing pairing, int n_rot,
    double base, uint32_t ctx_train);

/* Read the configuration from a GGUF file's metadata and factor tensors (<arch>.rope.* keys,
 * the rope_freqs and rope_factors_long/short tensors; absent keys take llama.cpp's defaults).
 * The file is not kept. */
int rope_config_from_gguf(struct rope_config *cfg, const struct gguf_file *f, char **err);

/* Apply command-line overrides. A variant override of none drops every factor table; a scale
 * without a variant on an unscaled model means linear; --longrope-factors without a variant
 * means longrope; a new scale or original context for llama3 recomputes the divisors from the
 * formula instead of the file's rope_freqs tensor. --rope-attn-factor sets m outright. */
int rope_config_apply_overrides(struct rope_config *cfg, const struct rope_overrides *ov,
    char **err);

/* Validate and freeze for a run (or cache) whose context never exceeds ctx_max (0 = the
 * model's ctx_train): choose the LongRoPE set (long iff ctx_max > orig_ctx, llama.cpp's rule),
 * derive LongRoPE's scale from ctx_train/orig_ctx when none is given, and refuse a rope_freqs
 * tensor combined with another variant unless double_scaling says otherwise. */
int rope_config_finish(struct rope_config *cfg, uint32_t ctx_max, char **err);

/* Compute f[] and m. The configuration must have passed rope_config_finish(); this checks it
 * again and fails with a message rather than produce nonsense. */
int rope_table_build(const struct rope_config *cfg, struct rope_table *t, char **err);

/* Re-position already rotated keys: rotate the first n_rot elements of each of n_heads heads
 * in n_tok rows by delta positions (R(p + delta) = R(delta) R(p)), without the magnitude m,
 * which the keys carry from their first rotation. The corpus cache moves its attention sinks
 * so (engine/kv-index.c). */
void rope_shift_rows(float *x, size_t n_tok, size_t n_heads, size_t head_dim, int64_t delta,
    const struct rope_table *rt);

/* A persistent KV cache stores keys after rotation, so it needs a length-independent f[]:
 * 0 for dynamic NTK (its base follows the current length), 1 otherwise. */
int rope_config_allows_cache(const struct rope_config *cfg);

/* FNV-1a 64 over the canonical little-endian bytes of: variant, LongRoPE set, pairing, n_rot,
 * the fp64 and fp32 frequency tables and m. Equal for equal configurations; any change that
 * alters rotated keys changes it. 0 if the configuration is invalid. */
uint64_t rope_fingerprint(const struct rope_config *cfg);

/* Lines "rope.KEY: value" for `quire info`: effective variant, pairing, parameters that apply,
 * factor tables, the attention factor m and the fingerprint. Appends to out. */
void rope_describe(const struct rope_config *cfg, struct buf *out);

/* --- LongRoPE factor files (--longrope-factors) -----------------------------------------
 *
 *   quire-rope-factors 1 <pairs>      header, first line: magic, format version, pairs = n_rot/2
 *   # comment                         '#' to end of line is ignored everywhere; blank lines too
 *   long                              a section name on a line of its own: long, short or both
 *   1.03 1.05 1.05 1.08 ...           exactly <pairs> numbers (finite, > 0), any per line
 *   short
 *   1.0 1.0 ...
 *   keep 4                            version 2 only, optional: LongRoPE's n^, the count of
 *                                     leading positions left un-interpolated (0..65536)
 *
 * Either both "long" and "short" (each once), or one "both" used for every length. Errors
 * name the file and line. *keep_out is 0 when the file gives none. */
int rope_factors_parse(const char *text, size_t len, const char *name, int n_pairs,
    float *long_out, float *short_out, uint32_t *keep_out, char **err);
int rope_factors_read(const char *path, int n_pairs, float *long_out, float *short_out,
    uint32_t *keep_out, char **err);
/* Write a file in that format (long and short sets, 9 significant digits); version 1 when
 * keep is 0, else version 2 with its keep line. */
void rope_factors_format(struct buf *out, int n_pairs, const float *long_f,
    const float *short_f, uint32_t keep);

#endif
