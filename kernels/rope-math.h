/* rope-math.h: the rotary position encoding math (frequency tables for every RoPE variant, the
 * magnitude m, range-reduced angles and the rotation itself), header-only so the CPU forward
 * pass and the CUDA kernels run the same code (kernels/hostdev.h) and CPU tests check the GPU
 * math (tests/t-rope.c).
 *
 * Two kinds of function live here:
 *  - table builders (host only, fp64): run once per model load; they fill a double array
 *    f[0..n_rot/2-1] of inverse frequencies and return the magnitude m. Variants compose as
 *    ggml does: start from rope_freq_plain(), optionally divide by per-pair factors
 *    (rope_freqs / LongRoPE), then apply the variant's transform in place.
 *  - per-element functions (QUIRE_HD, fp32 except the angle): the angle p*f_i is formed and
 *    reduced modulo 2*pi in fp64, because the fp32 product is off by up to 0.02 rad at p = 4M
 *    (tests/t-rope.c, TV12); sin/cos and the rotation are fp32.
 *
 * Which angles a position gets (rope_cos_sin_at()): below ROPE_GGML_POS_LIMIT, tables whose
 * frequencies are the plain base^(-2i/d), optionally divided by per-pair factors (plain RoPE,
 * ABF, llama3's rope_freqs), take ggml's own fp32 recurrence, so that quire rotates exactly as
 * llama.cpp's CPU path does and the two engines agree bit for bit within the trained window.
 * That recurrence's angle error grows with p (each pair's multiply adds a rounding): below
 * p = 8192 it stays under 1.4e-3 rad for every base from 1e4 to 5e5 and d of 64 or 128
 * (measured over every position; about three times the plain fp32 product's error), against
 * 0.15 rad at p = 4M (d = 128, base 5e5). At and above the limit, and for every other variant,
 * the angle is the fp64-reduced one. The rotation is fused the way GCC contracts ggml's
 * x0*c - x1*s and x0*s + x1*c (fmaf), the same at every position.
 *
 * Notation: d = n_rot (rotary dims, even), i = pair index, b = base, s = scale,
 * L = original training context. */
#ifndef QUIRE_KERNELS_ROPE_MATH_H
#define QUIRE_KERNELS_ROPE_MATH_H

#include <math.h>

#include "kernels/hostdev.h"

#define ROPE_TWO_PI 6.283185307179586476925286766559
#define ROPE_PI 3.1415926535897932384626433832795

/* Which elements form a rotated pair. The values are ggml's rope mode bits. */
enum rope_pairing {
	ROPE_PAIRING_NORM = 0,  /* interleaved, GPT-J: (x[2i], x[2i+1]); GGUF arch=llama */
	ROPE_PAIRING_NEOX = 2   /* rotate_half: (x[i], x[i + n_rot/2]); qwen2, phi3, gemma */
};

/* ---- table builders (fp64, host) -------------------------------------------------------- */

/* Plain RoPE (also ABF, which only changes b): f_i = b^(-2i/d). */
static inline void rope_freq_plain(double *f, int n_rot, double base)
{
	for (int i = 0; i < n_rot / 2; i++)
		f[i] = pow(base, -2.0 * i / n_rot);
}

/* Per-pair divisors as ggml's freq_factors: llama3's rope_freqs tensor, LongRoPE's long or
 * short factors (f_i = 1/(lambda_i * b^(2i/d))). */
static inline void rope_freq_divide(double *f, int n_rot, const float *div)
{
	for (int i = 0; i < n_rot / 2; i++)
		f[i] /= (double)div[i];
}

/* Linear position interpolation: f_i / s, the same as using position p/s. */
static inline void rope_freq_linear(double *f, int n_rot, double s)
{
	for (int i = 0; i < n_rot / 2; i++)
		f[i] /= s;
}

/* Static NTK-aware base: b' = b * s^(d/(d-2)); the lowest frequency ends exactly at f/s. */
static inline double rope_ntk_base(double base, int n_rot, double s)
{
	return base * pow(s, (double)n_rot / (n_rot - 2));
}

/* Dynamic NTK (HF "dynamic") for a current length len, frozen by the caller:
 * b' = b * ((s*len/L) - (s-1))^(d/(d-2)) when len > L, else b. */
static inline double rope_dynamic_ntk_base(double base, int n_rot, double s, double len,
    double orig_ctx)
{
	if (len <= orig_ctx)
		return base;
	return base * pow(s * len / orig_ctx - (s - 1.0), (double)n_rot / (n_rot - 2));
}

/* YaRN correction dimension for n_rotations full turns inside the original window:
 * corr(n) = d*ln(L/(2*pi*n)) / (2*ln b). It inverts L/lambda_i = n, so it is a pair index. */
static inline double rope_yarn_corr_dim(int n_rot, double base, double orig_ctx,
    double n_rotations)
{
	return n_rot * log(orig_ctx / (n_rotations * ROPE_TWO_PI)) / (2.0 * log(base));
}

/* The ramp's end points in pair index, as the implementations (not the paper) compute them:
 * low from beta_fast, high from beta_slow; floor/ceil unless truncate is 0 (gpt-oss), then
 * clamped to [0, d-1]. */
static inline void rope_yarn_range(int n_rot, double base, double orig_ctx, double beta_fast,
    double beta_slow, int truncate, double *low, double *high)
{
	double lo = rope_yarn_corr_dim(n_rot, base, orig_ctx, beta_fast);
	double hi = rope_yarn_corr_dim(n_rot, base, orig_ctx, beta_slow);
	if (truncate) {
		lo = floor(lo);
		hi = ceil(hi);
	}
	*low = lo > 0.0 ? lo : 0.0;
	*high = hi < n_rot - 1 ? hi : (double)(n_rot - 1);
}

/* Ramp for pair i: 0 keeps f_i (fast pairs), 1 divides it by s (slow pairs). A degenerate
 * range gets a width of 0.001, as llama.cpp and HF do. */
static inline double rope_yarn_ramp(int i, double low, double high)
{
	double w = high - low;
	if (w < 0.001)
		w = 0.001;
	double r = (i - low) / w;
	return r < 0.0 ? 0.0 : r > 1.0 ? 1.0 : r;
}

/* YaRN NTK-by-parts in place: f_i' = f_i/s + (f_i - f_i/s) * (1 - ramp_i) * ext_factor.
 * ext_factor 1 is YaRN proper (f*(1-ramp) + f/s*ramp); 0 degrades to linear interpolation. */
static inline void rope_freq_yarn(double *f, int n_rot, double s, double low, double high,
    double ext_factor)
{
	for (int i = 0; i < n_rot / 2; i++) {
		double interp = f[i] / s;
		double mix = (1.0 - rope_yarn_ramp(i, low, high)) * ext_factor;
		f[i] = interp * (1.0 - mix) + f[i] * mix;
	}
}

/* get_mscale(s, k) = 0.1*k*ln s + 1 for s > 1, else 1. */
static inline double rope_mscale_get(double s, double k)
{
	return s <= 1.0 ? 1.0 : 0.1 * k * log(s) + 1.0;
}

/* YaRN magnitude: get_mscale(s, mscale)/get_mscale(s, mscale_all_dim) when both are given
 * (> 0; DeepSeek), else 0.1*ln s + 1. Logits end up scaled by m^2. */
static inline double rope_yarn_mscale(double s, double mscale, double mscale_all_dim)
{
	if (mscale > 0.0 && mscale_all_dim > 0.0)
		return rope_mscale_get(s, mscale) / rope_mscale_get(s, mscale_all_dim);
	return rope_mscale_get(s, 1.0);
}

/* LongRoPE magnitude (Phi-3): sqrt(1 + ln s / ln L) for s > 1, else 1. */
static inline double rope_longrope_mscale(double s, double orig_ctx)
{
	if (s <= 1.0 || orig_ctx <= 1.0)
		return 1.0;
	return sqrt(1.0 + log(s) / log(orig_ctx));
}

/* Llama-3.1 scaling in place, with lambda_i = 2*pi/f_i: pairs with lambda < L/high_ff keep
 * f_i, pairs with lambda > L/low_ff get f_i/s, the band between is smoothed. The returned
 * counts (any may be NULL) are the pairs kept, smoothed and divided. */
static inline void rope_freq_llama3(double *f, int n_rot, double s, double low_ff,
    double high_ff, double orig_ctx, int *n_kept, int *n_smoothed, int *n_divided)
{
	double lambda_hi = orig_ctx / high_ff, lambda_lo = orig_ctx / low_ff;
	int kept = 0, smoothed = 0, divided = 0;
	for (int i = 0; i < n_rot / 2; i++) {
		double lambda = ROPE_TWO_PI / f[i];
		if (lambda < lambda_hi) {
			kept++;
		} else if (lambda > lambda_lo) {
			f[i] /= s;
			divided++;
		} else {
			double sm = (orig_ctx / lambda - low_ff) / (high_ff - low_ff);
			f[i] = (1.0 - sm) * f[i] / s + sm * f[i];
			smoothed++;
		}
	}
	if (n_kept)
		*n_kept = kept;
	if (n_smoothed)
		*n_smoothed = smoothed;
	if (n_divided)
		*n_divided = divided;
}

/* ---- per element (host and device) ------------------------------------------------------- */

/* The angle p*f reduced to [-pi, pi] in fp64, then rounded to fp32. Exact to ~3e-7 rad even at
 * p in the millions; p may be negative (re-positioning cached keys by a shift). */
QUIRE_HD static inline float rope_angle(double pos, double freq)
{
	double a = fmod(pos * freq, ROPE_TWO_PI);
	if (a > ROPE_PI)
		a -= ROPE_TWO_PI;
	else if (a < -ROPE_PI)
		a += ROPE_TWO_PI;
	return (float)a;
}

/* Positions [0, ROPE_GGML_POS_LIMIT) take ggml's fp32 angles where the table allows it (see
 * the top of this file); the bound keeps their error under 1.4e-3 rad. */
#define ROPE_GGML_POS_LIMIT 8192

/* ggml's ratio between successive pairs' angles, in fp32 as ggml's CPU rope computes it:
 * powf(base, -2/n_rot). */
static inline float rope_ggml_theta_scale(double base, int n_rot)
{
	return powf((float)base, -2.0f / (float)n_rot);
}

/* ggml's CPU rope cache: theta_0 = (float)pos, theta_{i+1} = theta_i * theta_scale in fp32,
 * pair i rotated by theta_i / div[i] (div NULL: 1), times m. pos must be small enough for an
 * exact float (the caller keeps it below ROPE_GGML_POS_LIMIT). */
QUIRE_HD static inline void rope_cos_sin_ggml(int pos, float theta_scale, const float *div,
    int n_pairs, float m, float *cs, float *sn)
{
	float theta = (float)pos;
	for (int i = 0; i < n_pairs; i++) {
		float a = div ? theta / div[i] : theta;
		cs[i] = cosf(a) * m;
		sn[i] = sinf(a) * m;
		theta *= theta_scale;
	}
}

/* cos and sin of every pair's angle at position pos, multiplied by the magnitude m. Compute
 * once per position and share across heads and layers. To re-position an already rotated key
 * by delta, call with pos = delta and m = 1: m must be applied exactly once. */
QUIRE_HD static inline void rope_cos_sin(double pos, const double *freq, int n_pairs, float m,
    float *cs, float *sn)
{
	for (int i = 0; i < n_pairs; i++) {
		float a = rope_angle(pos, freq[i]);
		cs[i] = m * cosf(a);
		sn[i] = m * sinf(a);
	}
}

/* cos and sin for position pos by the rule at the top of this file: ggml's fp32 angles when
 * ggml_theta_scale > 0 (the table allows them; div as for rope_cos_sin_ggml) and 0 <= pos <
 * ROPE_GGML_POS_LIMIT, else the fp64-reduced ones of freq. */
QUIRE_HD static inline void rope_cos_sin_at(double pos, const double *freq,
    float ggml_theta_scale, const float *div, int n_pairs, float m, float *cs, float *sn)
{
	if (ggml_theta_scale > 0.0f && pos >= 0.0 && pos < ROPE_GGML_POS_LIMIT)
		rope_cos_sin_ggml((int)pos, ggml_theta_scale, div, n_pairs, m, cs, sn);
	else
		rope_cos_sin(pos, freq, n_pairs, m, cs, sn);
}

/* Rotate one pair by (c, s) = m*(cos, sin). Fused as GCC fuses ggml's rotation (the first
 * product of each line into the fma, the second rounded), so both engines round alike. */
QUIRE_HD static inline void rope_rotate_pair(float *a, float *b, float c, float s)
{
	float xa = *a, xb = *b;
	*a = fmaf(xa, c, -(xb * s));
	*b = fmaf(xa, s, xb * c);
}

/* Rotate the first n_rot elements of one head vector in place; elements n_rot.. of the head
 * (partial rotary) are not touched. cs/sn hold n_rot/2 values from rope_cos_sin(). */
QUIRE_HD static inline void rope_rotate(float *x, int n_rot, enum rope_pairing pairing,
    const float *cs, const float *sn)
{
	int half = n_rot / 2;
	if (pairing == ROPE_PAIRING_NEOX) {
		for (int i = 0; i < half; i++)
			rope_rotate_pair(&x[i], &x[i + half], cs[i], sn[i]);
	} else {
		for (int i = 0; i < half; i++)
			rope_rotate_pair(&x[2 * i], &x[2 * i + 1], cs[i], sn[i]);
	}
}

#endif
