/* rope-search.h: LongRoPE's evolutionary search for per-pair RoPE rescale factors, without
 * training: a population of factor vectors lambda[0..n_pairs) (pair i's frequency is divided
 * by lambda_i), scored by a caller-supplied objective (perplexity at the target length), bred
 * by mutation and crossover, the best kept (LongRoPE, arXiv 2402.13753, section 3.2).
 *
 * Constraints on every candidate, as in the paper: 1 <= lambda_i <= max_factor and lambda
 * non-decreasing in i (slower pairs are interpolated at least as much as faster ones).
 * The paper's second parameter, the count n^ of leading positions left un-interpolated (they
 * rotate with plain RoPE, rope_config.longrope_keep), is searched alongside over the paper's
 * set {0, 1, 2, 4, 8, 12, 16, 20, 24, 28, 32, 64, 128, 256}.
 *
 * Deterministic for a seed; the whole state after each generation is a short text
 * (rope_search_state_format) so that an interrupted search resumes to the same result. No
 * printing: progress goes through a callback. */
#ifndef QUIRE_ENGINE_ROPE_SEARCH_H
#define QUIRE_ENGINE_ROPE_SEARCH_H

#include <stddef.h>
#include <stdint.h>

#include "engine/rope.h"
#include "lib/buf.h"

#define ROPE_SEARCH_MAX_POP 256

struct rope_search_params {
	int n_pairs;                   /* n_rot / 2, 1..ROPE_MAX_PAIRS */
	int n_rot;                     /* rotary dims (for the seed candidates' formulas) */
	double base;                   /* the model's base b */
	uint32_t orig_ctx;             /* L: the context the model was trained for */
	uint32_t target;               /* length the factors are searched for (> orig_ctx) */
	int population;                /* candidates per generation, 4..ROPE_SEARCH_MAX_POP */
	int generations;               /* generations in all, >= 1 (the first is the seeds) */
	int parents;                   /* survivors bred from, 2..population-1; 0 = pop/4 */
	double max_factor;             /* upper bound on lambda; 0 = 1.25 * target/orig_ctx */
	uint64_t seed;                 /* random stream */
};

/* Scores one candidate, factors and n^ (lower is better): 0 and *score, or -1 with *err. */
typedef int (*rope_search_eval_fn)(void *ctx, const float *factors, uint32_t keep,
    double *score, char **err);
/* Called after every evaluation: generation (0-based), candidates scored in it so far, of
 * how many, and the best score of the search so far. */
typedef void (*rope_search_progress_fn)(void *ctx, int generation, int done, int total,
    double best);

struct rope_search_cand {
	float f[ROPE_MAX_PAIRS];       /* lambda_i */
	uint32_t keep;                 /* n^: leading positions left un-interpolated */
	double score;                  /* objective; NAN until evaluated */
};

struct rope_search {
	struct rope_search_params p;   /* as given, defaults filled in */
	uint64_t rng[4];               /* xoshiro256** state */
	int generation;                /* generations completed */
	int n;                         /* candidates in pop */
	struct rope_search_cand pop[ROPE_SEARCH_MAX_POP]; /* sorted best first once scored */
	struct rope_search_cand best;  /* best of the whole search */
	int n_evals;                   /* objective calls so far */
};

/* Check the parameters, fill defaults and seed the first generation: plain (all 1), linear
 * (all s), NTK-aware and YaRN (their per-pair ratios to plain RoPE), all with n^ = 0, and
 * mutations of them. */
int rope_search_init(struct rope_search *s, const struct rope_search_params *p, char **err);

/* Run generations until p.generations are complete (or the objective fails). After each
 * generation, when save is not NULL, save(save_ctx, s) is called; its failure stops the
 * search. Returns 0 when complete, -1 with *err. */
int rope_search_run(struct rope_search *s, rope_search_eval_fn eval, void *eval_ctx,
    rope_search_progress_fn progress, void *progress_ctx,
    int (*save)(void *ctx, const struct rope_search *s, char **err), void *save_ctx,
    char **err);

/* The state as text (exact: floats in hex) and back. parse checks the format and every
 * constraint and refuses a state whose parameters differ from want (NULL: take them). */
void rope_search_state_format(const struct rope_search *s, struct buf *out);
int rope_search_state_parse(struct rope_search *s, const char *text, size_t len,
    const char *name, const struct rope_search_params *want, char **err);

/* Repair a vector in place to satisfy the constraints: clamp to [1, max] and make it
 * non-decreasing (running maximum). Non-finite entries become 1. */
void rope_search_repair(float *f, int n, double max_factor);
/* 1 when f satisfies the constraints. */
int rope_search_valid(const float *f, int n, double max_factor);
/* 1 when keep is one of the n^ values searched. */
int rope_search_keep_valid(uint32_t keep);

/* A factor file for --longrope-factors: "long" = factors, "short" = all 1 (contexts within
 * the original window keep plain RoPE), keep = the best n^, with comments on how it was made
 * and how to use it. */
void rope_search_factor_file(const struct rope_search *s, struct buf *out);

/* The LongRoPE configuration a candidate stands for: cfg (the model's, with the user's
 * overrides) becomes longrope with long = factors, short = 1, n^ = keep, scale = target /
 * orig_ctx unless one was given, finished for ctx_max. */
int rope_search_config(struct rope_config *cfg, const float *factors, uint32_t keep,
    uint32_t orig_ctx, double scale, uint32_t ctx_max, char **err);

#endif
