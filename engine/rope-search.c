/* rope-search.c: the evolutionary search over per-pair RoPE factors (rope-search.h): seeds
 * from the closed-form scalings, mutation and crossover under the monotone constraint, an
 * exact text state for resuming. */
#include "engine/rope-search.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/sample.h"
#include "lib/util.h"

#define STATE_MAGIC "quire-rope-search"
#define STATE_VERSION 2         /* 2 added n^ per candidate; 1 is read as n^ = 0 */
#define MUTATE_SIGMA 0.15       /* log-space step of one mutated factor */
#define MUTATE_RATE 0.25        /* share of pairs a mutation touches */
#define MAX_RETRIES 16          /* attempts at a child unlike every other candidate */
#define KEEP_RATE 0.3           /* share of mutations that also move n^ */

/* LongRoPE's search space for n^ (2402.13753, section 3.2), in order. */
static const uint32_t keep_choices[] = { 0, 1, 2, 4, 8, 12, 16, 20, 24, 28, 32, 64, 128, 256 };
#define N_KEEP ((int)(sizeof keep_choices / sizeof keep_choices[0]))

/* ---- random numbers: xoshiro256** seeded through splitmix64 ----------------------------- */

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(uint64_t *s)
{
	uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return r;
}

static double rng_unit(uint64_t *s)          /* [0, 1) */
{
	return (double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
}

static int rng_below(uint64_t *s, int n)     /* 0..n-1 */
{
	return (int)(rng_unit(s) * n);
}

static double rng_normal(uint64_t *s)        /* Box-Muller, one of the pair */
{
	double u = 1.0 - rng_unit(s), v = rng_unit(s);
	return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

/* ---- constraints ------------------------------------------------------------------------ */

void rope_search_repair(float *f, int n, double max_factor)
{
	float run = 1.0f;
	for (int i = 0; i < n; i++) {
		float x = isfinite(f[i]) ? f[i] : 1.0f;
		if (x < run)
			x = run;
		if (x > (float)max_factor)
			x = (float)max_factor;
		f[i] = x;
		run = x;
	}
}

int rope_search_keep_valid(uint32_t keep)
{
	for (int i = 0; i < N_KEEP; i++)
		if (keep_choices[i] == keep)
			return 1;
	return 0;
}

int rope_search_valid(const float *f, int n, double max_factor)
{
	for (int i = 0; i < n; i++) {
		if (!isfinite(f[i]) || f[i] < 1.0f || f[i] > (float)max_factor)
			return 0;
		if (i > 0 && f[i] < f[i - 1])
			return 0;
	}
	return 1;
}

/* ---- parameters and seeds --------------------------------------------------------------- */

static int fill_params(struct rope_search_params *p, char **err)
{
	if (p->n_pairs < 1 || p->n_pairs > ROPE_MAX_PAIRS || p->n_rot != 2 * p->n_pairs)
		return q_error(err, "rope-search: n_rot %d must be even and in 2..%d", p->n_rot,
		    ROPE_MAX_ROT);
	if (!(isfinite(p->base) && p->base > 1.0))
		return q_error(err, "rope-search: base %g must be > 1", p->base);
	if (p->orig_ctx < 2 || p->target <= p->orig_ctx)
		return q_error(err, "rope-search: the target length %" PRIu32 " must exceed the "
		    "original context %" PRIu32 " (the long factors apply only beyond it)",
		    p->target, p->orig_ctx);
	if (p->population < 4 || p->population > ROPE_SEARCH_MAX_POP)
		return q_error(err, "rope-search: population %d must be in 4..%d", p->population,
		    ROPE_SEARCH_MAX_POP);
	if (p->generations < 1 || p->generations > 1000000)
		return q_error(err, "rope-search: generations %d must be in 1..1000000",
		    p->generations);
	if (p->parents == 0)
		p->parents = p->population / 4 < 2 ? 2 : p->population / 4;
	if (p->parents < 2 || p->parents >= p->population)
		return q_error(err, "rope-search: parents %d must be in 2..%d", p->parents,
		    p->population - 1);
	double s = (double)p->target / p->orig_ctx;
	if (p->max_factor == 0.0)
		p->max_factor = 1.25 * s;
	if (!(isfinite(p->max_factor) && p->max_factor >= 1.0 && p->max_factor <= 1e6))
		return q_error(err, "rope-search: the largest factor %g must be in 1..1e6",
		    p->max_factor);
	return 0;
}

/* Per-pair ratio plain/variant of a closed-form scaling at s = target/orig_ctx. */
static int seed_from_variant(const struct rope_search_params *p, enum rope_variant v,
    float *out, char **err)
{
	struct rope_config plain, cfg;
	struct rope_table tp, tv;
	rope_config_init(&plain, ROPE_PAIRING_NORM, p->n_rot, p->base, p->orig_ctx);
	cfg = plain;
	cfg.variant = v;
	cfg.scale = (double)p->target / p->orig_ctx;
	if (rope_config_finish(&plain, p->target, err) != 0 ||
	    rope_config_finish(&cfg, p->target, err) != 0 ||
	    rope_table_build(&plain, &tp, err) != 0 || rope_table_build(&cfg, &tv, err) != 0)
		return -1;
	for (int i = 0; i < p->n_pairs; i++)
		out[i] = (float)(tp.freq[i] / tv.freq[i]);
	rope_search_repair(out, p->n_pairs, p->max_factor);
	return 0;
}

static int same_as_any(const struct rope_search *s, const struct rope_search_cand *c, int upto)
{
	for (int k = 0; k < upto; k++)
		if (s->pop[k].keep == c->keep &&
		    memcmp(s->pop[k].f, c->f, (size_t)s->p.n_pairs * sizeof(float)) == 0)
			return 1;
	return 0;
}

/* n^ one or two steps along keep_choices, either way, inside the set. */
static uint32_t keep_step(struct rope_search *s, uint32_t keep)
{
	int i = 0;
	while (i < N_KEEP - 1 && keep_choices[i] != keep)
		i++;
	int step = 1 + rng_below(s->rng, 2);
	i += rng_unit(s->rng) < 0.5 ? -step : step;
	i = i < 0 ? 0 : i >= N_KEEP ? N_KEEP - 1 : i;
	return keep_choices[i];
}

static void mutate(struct rope_search *s, struct rope_search_cand *c)
{
	float *f = c->f;
	int n = s->p.n_pairs, touched = 0;
	if (rng_unit(s->rng) < KEEP_RATE)
		c->keep = keep_step(s, c->keep);
	for (int i = 0; i < n; i++)
		if (rng_unit(s->rng) < MUTATE_RATE) {
			f[i] = (float)(f[i] * exp(MUTATE_SIGMA * rng_normal(s->rng)));
			touched = 1;
		}
	if (!touched) {
		int i = rng_below(s->rng, n);
		f[i] = (float)(f[i] * exp(MUTATE_SIGMA * rng_normal(s->rng)));
	}
	rope_search_repair(f, n, s->p.max_factor);
}

/* A child of the first `parents` candidates into pop[slot]: crossover of two of them (half
 * the time) or a copy of one, then a mutation; retried until unlike every other candidate. */
static void breed(struct rope_search *s, int slot)
{
	int n = s->p.n_pairs, np = s->p.parents;
	struct rope_search_cand *c = &s->pop[slot];
	for (int tries = 0; tries < MAX_RETRIES; tries++) {
		const struct rope_search_cand *a = &s->pop[rng_below(s->rng, np)];
		memcpy(c->f, a->f, (size_t)n * sizeof(float));
		c->keep = a->keep;
		if (rng_unit(s->rng) < 0.5) {
			const struct rope_search_cand *b = &s->pop[rng_below(s->rng, np)];
			for (int i = 0; i < n; i++)
				if (rng_unit(s->rng) < 0.5)
					c->f[i] = b->f[i];
			if (rng_unit(s->rng) < 0.5)
				c->keep = b->keep;
		}
		mutate(s, c);
		if (!same_as_any(s, c, slot))
			break;
	}
	s->pop[slot].score = NAN;
}

int rope_search_init(struct rope_search *s, const struct rope_search_params *p, char **err)
{
	memset(s, 0, sizeof *s);
	s->p = *p;
	if (fill_params(&s->p, err) != 0)
		return -1;
	uint64_t x = s->p.seed;
	for (int i = 0; i < 4; i++)
		s->rng[i] = splitmix64(&x);
	int n = s->p.n_pairs;
	s->n = s->p.population;
	/* Seeds: plain, linear, NTK-aware, YaRN; the rest mutations of them. */
	for (int i = 0; i < n; i++)
		s->pop[0].f[i] = 1.0f;
	for (int k = 0; k < s->n; k++)
		s->pop[k].keep = 0;
	if (seed_from_variant(&s->p, ROPE_LINEAR, s->pop[1].f, err) != 0 ||
	    seed_from_variant(&s->p, ROPE_NTK, s->pop[2].f, err) != 0 ||
	    seed_from_variant(&s->p, ROPE_YARN, s->pop[3].f, err) != 0)
		return -1;
	for (int k = 4; k < s->n; k++) {
		for (int tries = 0; tries < MAX_RETRIES; tries++) {
			memcpy(s->pop[k].f, s->pop[1 + k % 3].f, (size_t)n * sizeof(float));
			s->pop[k].keep = 0;
			mutate(s, &s->pop[k]);
			if (!same_as_any(s, &s->pop[k], k))
				break;
		}
	}
	for (int k = 0; k < s->n; k++)
		s->pop[k].score = NAN;
	s->best.score = NAN;
	return 0;
}

/* ---- the search ------------------------------------------------------------------------- */

/* Best first; unscored and non-finite scores last; ties by the factors, so the order is a
 * function of the candidates alone. */
static int cand_cmp(const struct rope_search_cand *x, const struct rope_search_cand *y,
    int n_pairs)
{
	int fx = isfinite(x->score), fy = isfinite(y->score);
	if (fx != fy)
		return fy - fx;
	if (fx && x->score != y->score)
		return x->score < y->score ? -1 : 1;
	if (x->keep != y->keep)
		return x->keep < y->keep ? -1 : 1;
	return memcmp(x->f, y->f, (size_t)n_pairs * sizeof(float));
}

static void sort_pop(struct rope_search *s)   /* insertion sort: a few hundred at most */
{
	for (int i = 1; i < s->n; i++) {
		struct rope_search_cand t = s->pop[i];
		int j = i;
		for (; j > 0 && cand_cmp(&t, &s->pop[j - 1], s->p.n_pairs) < 0; j--)
			s->pop[j] = s->pop[j - 1];
		s->pop[j] = t;
	}
}

int rope_search_run(struct rope_search *s, rope_search_eval_fn eval, void *eval_ctx,
    rope_search_progress_fn progress, void *progress_ctx,
    int (*save)(void *ctx, const struct rope_search *s, char **err), void *save_ctx,
    char **err)
{
	while (s->generation < s->p.generations) {
		if (s->generation > 0)        /* the survivors are pop[0..parents) */
			for (int k = s->p.parents; k < s->n; k++)
				breed(s, k);
		int pending = 0, done = 0;
		for (int k = 0; k < s->n; k++)
			pending += isnan(s->pop[k].score);
		for (int k = 0; k < s->n; k++) {
			if (!isnan(s->pop[k].score))
				continue;
			double score;
			if (eval(eval_ctx, s->pop[k].f, s->pop[k].keep, &score, err) != 0)
				return -1;
			s->pop[k].score = isnan(score) ? INFINITY : score;
			s->n_evals++;
			if (isfinite(score) && !(s->best.score <= score))
				s->best = s->pop[k];
			if (progress)
				progress(progress_ctx, s->generation, ++done, pending, s->best.score);
		}
		sort_pop(s);
		s->generation++;
		if (save && save(save_ctx, s, err) != 0)
			return -1;
	}
	if (!isfinite(s->best.score))
		return q_error(err, "rope-search: no candidate had a finite score");
	return 0;
}

/* ---- state text ------------------------------------------------------------------------- */

static void put_cand(struct buf *out, const char *key, const struct rope_search_cand *c, int n)
{
	buf_printf(out, "%s %a %" PRIu32, key, c->score, c->keep);
	for (int i = 0; i < n; i++)
		buf_printf(out, " %a", (double)c->f[i]);
	buf_printf(out, "\n");
}

void rope_search_state_format(const struct rope_search *s, struct buf *out)
{
	const struct rope_search_params *p = &s->p;
	buf_printf(out, "%s %d\n", STATE_MAGIC, STATE_VERSION);
	buf_printf(out, "n_rot %d\nbase %a\norig_ctx %" PRIu32 "\ntarget %" PRIu32 "\n",
	    p->n_rot, p->base, p->orig_ctx, p->target);
	buf_printf(out, "population %d\ngenerations %d\nparents %d\nmax_factor %a\n",
	    p->population, p->generations, p->parents, p->max_factor);
	buf_printf(out, "seed %" PRIu64 "\n", p->seed);
	buf_printf(out, "rng %016" PRIx64 " %016" PRIx64 " %016" PRIx64 " %016" PRIx64 "\n",
	    s->rng[0], s->rng[1], s->rng[2], s->rng[3]);
	buf_printf(out, "generation %d\nevals %d\n", s->generation, s->n_evals);
	put_cand(out, "best", &s->best, p->n_pairs);
	for (int k = 0; k < s->n; k++)
		put_cand(out, "cand", &s->pop[k], p->n_pairs);
}

/* A cursor over the state text: whitespace-separated words, line numbers for errors. */
struct cursor {
	const char *p, *end, *name;
	int line;
	char word[64];
};

static int next_word(struct cursor *c, char **err)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' ||
	    *c->p == '\r')) {
		if (*c->p == '\n')
			c->line++;
		c->p++;
	}
	size_t n = 0;
	while (c->p < c->end && *c->p != ' ' && *c->p != '\t' && *c->p != '\n' &&
	    *c->p != '\r') {
		if (n + 1 >= sizeof c->word)
			return q_error(err, "%s:%d: word too long", c->name, c->line);
		c->word[n++] = *c->p++;
	}
	c->word[n] = '\0';
	if (n == 0)
		return q_error(err, "%s:%d: unexpected end of the state", c->name, c->line);
	return 0;
}

static int expect(struct cursor *c, const char *key, char **err)
{
	if (next_word(c, err) != 0)
		return -1;
	if (strcmp(c->word, key) != 0)
		return q_error(err, "%s:%d: expected '%s', found '%s'", c->name, c->line, key,
		    c->word);
	return 0;
}

static int read_double(struct cursor *c, double *out, char **err)
{
	if (next_word(c, err) != 0)
		return -1;
	char *e;
	errno = 0;
	*out = strtod(c->word, &e);
	if (*e != '\0' || e == c->word)
		return q_error(err, "%s:%d: '%s' is not a number", c->name, c->line, c->word);
	return 0;
}

static int read_u64(struct cursor *c, int base, uint64_t *out, char **err)
{
	if (next_word(c, err) != 0)
		return -1;
	char *e;
	errno = 0;
	if (c->word[0] == '-')
		return q_error(err, "%s:%d: '%s' is negative", c->name, c->line, c->word);
	*out = strtoull(c->word, &e, base);
	if (*e != '\0' || errno == ERANGE)
		return q_error(err, "%s:%d: '%s' is not a whole number", c->name, c->line, c->word);
	return 0;
}

static int read_int(struct cursor *c, const char *key, long max, long *out, char **err)
{
	uint64_t v;
	if (expect(c, key, err) != 0 || read_u64(c, 10, &v, err) != 0)
		return -1;
	if (v > (uint64_t)max)
		return q_error(err, "%s:%d: %s %" PRIu64 " is out of range", c->name, c->line, key,
		    v);
	*out = (long)v;
	return 0;
}

static int read_cand(struct cursor *c, const char *key, int n, double max_factor,
    int version, struct rope_search_cand *out, char **err)
{
	if (expect(c, key, err) != 0 || read_double(c, &out->score, err) != 0)
		return -1;
	out->keep = 0;
	if (version >= 2) {
		uint64_t k;
		if (read_u64(c, 10, &k, err) != 0)
			return -1;
		if (k > UINT32_MAX || !rope_search_keep_valid((uint32_t)k))
			return q_error(err, "%s:%d: n^ %" PRIu64 " is not one of the searched values",
			    c->name, c->line, k);
		out->keep = (uint32_t)k;
	}
	for (int i = 0; i < n; i++) {
		double v;
		if (read_double(c, &v, err) != 0)
			return -1;
		out->f[i] = (float)v;
	}
	if (!isnan(out->score) && !(out->score >= 0.0))
		return q_error(err, "%s:%d: score %g is negative", c->name, c->line, out->score);
	if (!rope_search_valid(out->f, n, max_factor) && !(key[0] == 'b' && isnan(out->score)))
		return q_error(err, "%s:%d: factors outside [1, %g] or decreasing", c->name,
		    c->line, max_factor);
	return 0;
}

int rope_search_state_parse(struct rope_search *s, const char *text, size_t len,
    const char *name, const struct rope_search_params *want, char **err)
{
	struct cursor c = { text, text + len, name, 1, { 0 } };
	struct rope_search_params p;
	memset(&p, 0, sizeof p);
	long v;
	uint64_t u;
	if (expect(&c, STATE_MAGIC, err) != 0 || read_u64(&c, 10, &u, err) != 0)
		return -1;
	if (u < 1 || u > STATE_VERSION)
		return q_error(err, "%s: state format version %" PRIu64 ", this quire reads 1..%d",
		    name, u, STATE_VERSION);
	int version = (int)u;
	if (read_int(&c, "n_rot", ROPE_MAX_ROT, &v, err) != 0)
		return -1;
	p.n_rot = (int)v;
	p.n_pairs = (int)v / 2;
	if (expect(&c, "base", err) != 0 || read_double(&c, &p.base, err) != 0 ||
	    read_int(&c, "orig_ctx", UINT32_MAX, &v, err) != 0)
		return -1;
	p.orig_ctx = (uint32_t)v;
	if (read_int(&c, "target", UINT32_MAX, &v, err) != 0)
		return -1;
	p.target = (uint32_t)v;
	if (read_int(&c, "population", ROPE_SEARCH_MAX_POP, &v, err) != 0)
		return -1;
	p.population = (int)v;
	if (read_int(&c, "generations", 1000000, &v, err) != 0)
		return -1;
	p.generations = (int)v;
	if (read_int(&c, "parents", ROPE_SEARCH_MAX_POP, &v, err) != 0)
		return -1;
	p.parents = (int)v;
	if (expect(&c, "max_factor", err) != 0 || read_double(&c, &p.max_factor, err) != 0 ||
	    expect(&c, "seed", err) != 0 || read_u64(&c, 10, &p.seed, err) != 0)
		return -1;
	if (p.parents == 0 || p.max_factor == 0.0)   /* 0 would mean "default" to fill_params */
		return q_error(err, "%s: parents and max_factor must be set", name);
	struct rope_search_params chk = p;
	char *why = NULL;
	if (fill_params(&chk, &why) != 0) {          /* its message names no file: add it */
		q_error(err, "%s: %s", name, why);
		free(why);
		return -1;
	}
	if (want != NULL) {
		struct rope_search_params w = *want;
		if (fill_params(&w, err) != 0)
			return -1;
		if (w.n_rot != p.n_rot || w.base != p.base || w.orig_ctx != p.orig_ctx ||
		    w.target != p.target || w.population != p.population ||
		    w.parents != p.parents || w.max_factor != p.max_factor || w.seed != p.seed)
			return q_error(err, "%s: the state is of another search (n_rot %d, base %g, "
			    "original context %" PRIu32 ", target %" PRIu32 ", population %d, "
			    "parents %d, largest factor %g, seed %" PRIu64 "); start afresh or give "
			    "the same settings", name, p.n_rot, p.base, p.orig_ctx, p.target,
			    p.population, p.parents, p.max_factor, p.seed);
		p.generations = w.generations;   /* a resumed search may be lengthened */
	}
	memset(s, 0, sizeof *s);
	s->p = p;
	if (expect(&c, "rng", err) != 0)
		return -1;
	for (int i = 0; i < 4; i++)
		if (read_u64(&c, 16, &s->rng[i], err) != 0)
			return -1;
	if ((s->rng[0] | s->rng[1] | s->rng[2] | s->rng[3]) == 0)
		return q_error(err, "%s: the random state is all zero", name);
	if (read_int(&c, "generation", 1000000, &v, err) != 0)
		return -1;
	s->generation = (int)v;
	if (read_int(&c, "evals", INT32_MAX, &v, err) != 0)
		return -1;
	s->n_evals = (int)v;
	if (read_cand(&c, "best", p.n_pairs, p.max_factor, version, &s->best, err) != 0)
		return -1;
	s->n = p.population;
	for (int k = 0; k < s->n; k++) {
		if (read_cand(&c, "cand", p.n_pairs, p.max_factor, version, &s->pop[k], err) != 0)
			return -1;
		/* After a completed generation every candidate has a score. */
		if (s->generation > 0 && isnan(s->pop[k].score))
			return q_error(err, "%s:%d: candidate %d has no score", name, c.line, k);
	}
	if (next_word(&c, err) == 0)
		return q_error(err, "%s:%d: unexpected '%s' after the last candidate", name, c.line,
		    c.word);
	free(*err);
	*err = NULL;
	return 0;
}

/* ---- outputs ---------------------------------------------------------------------------- */

void rope_search_factor_file(const struct rope_search *s, struct buf *out)
{
	float ones[ROPE_MAX_PAIRS];
	for (int i = 0; i < s->p.n_pairs; i++)
		ones[i] = 1.0f;
	rope_factors_format(out, s->p.n_pairs, s->best.f, ones, s->best.keep);
	double scale = (double)s->p.target / s->p.orig_ctx;
	buf_printf(out, "# made by quire rope-search: target %" PRIu32 " tokens, original context "
	    "%" PRIu32 ", base %.10g, seed %" PRIu64 ",\n# %d generation(s) of %d, %d "
	    "evaluations, best score %.6g.\n", s->p.target, s->p.orig_ctx, s->p.base, s->p.seed,
	    s->generation, s->p.population, s->n_evals, s->best.score);
	buf_printf(out, "# Searched with the magnitude of scale %.10g; use it the same way:\n"
	    "#   --longrope-factors FILE --rope-scale %.10g\n", scale, scale);
}

int rope_search_config(struct rope_config *cfg, const float *factors, uint32_t keep,
    uint32_t orig_ctx, double scale, uint32_t ctx_max, char **err)
{
	int n = cfg->n_rot / 2;
	if (n < 1 || n > ROPE_MAX_PAIRS)
		return q_error(err, "rope-search: n_rot %d is out of range", cfg->n_rot);
	cfg->variant = ROPE_LONGROPE;
	cfg->has_longrope = 1;
	cfg->longrope_keep = keep;
	for (int i = 0; i < n; i++) {
		cfg->long_factors[i] = factors[i];
		cfg->short_factors[i] = 1.0f;
	}
	if (orig_ctx != 0)
		cfg->orig_ctx = orig_ctx;
	if (scale > 0.0)
		cfg->scale = scale;
	return rope_config_finish(cfg, ctx_max, err);
}
