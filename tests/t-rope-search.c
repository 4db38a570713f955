/* t-rope-search.c: the mechanics of the RoPE factor search on a cheap synthetic objective
 * (squared log-distance to a hidden monotone factor vector): parameter checks, constraints on
 * every candidate, improvement, seeded determinism, resume equal to an uninterrupted run,
 * the state text's checks (and the version-1 state without n^), the search over n^, and the
 * factor file round trip through rope_factors_parse. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/rope-search.h"
#include "lib/buf.h"
#include "lib/util.h"
#include "tests/tap.h"

struct objective {
	int n;                       /* pairs */
	float hidden[ROPE_MAX_PAIRS];/* the optimum */
	uint32_t hidden_keep;        /* the optimum n^ */
	uint32_t max_keep;           /* largest n^ evaluated */
	double max_factor;
	int calls, invalid;          /* evaluations; those breaking a constraint */
	int fail_at;                 /* fail on this call (1-based), 0 = never */
};

static int synth_eval(void *ctx, const float *f, uint32_t keep, double *score, char **err)
{
	struct objective *o = ctx;
	o->calls++;
	if (o->fail_at && o->calls == o->fail_at)
		return q_error(err, "synthetic failure at call %d", o->calls);
	if (!rope_search_valid(f, o->n, o->max_factor) || !rope_search_keep_valid(keep))
		o->invalid++;
	o->max_keep = keep > o->max_keep ? keep : o->max_keep;
	double dk = log2(1.0 + keep) - log2(1.0 + o->hidden_keep);
	double s = 0.05 * dk * dk;
	for (int i = 0; i < o->n; i++) {
		double d = log(f[i]) - log(o->hidden[i]);
		s += d * d;
	}
	*score = 1.0 + s;
	return 0;
}

static int progress_calls;
static double progress_last_best;

static void count_progress(void *ctx, int gen, int done, int total, double best)
{
	(void)ctx; (void)gen; (void)done; (void)total;
	progress_calls++;
	progress_last_best = best;
}

/* Save callback: keeps the latest state text; stops the search after `stop_after`
 * generations (0 = never), like a process killed right after writing its state. */
struct saver {
	struct buf text;
	int saves, stop_after;
};

static int save_state(void *ctx, const struct rope_search *s, char **err)
{
	struct saver *sv = ctx;
	sv->text.len = 0;
	rope_search_state_format(s, &sv->text);
	sv->saves++;
	if (sv->stop_after && sv->saves == sv->stop_after)
		return q_error(err, "interrupted");
	return 0;
}

static struct rope_search_params params(uint64_t seed, int generations)
{
	struct rope_search_params p = {
		.n_pairs = 32, .n_rot = 64, .base = 100000, .orig_ctx = 8192, .target = 16384,
		.population = 12, .generations = generations, .parents = 0, .max_factor = 0,
		.seed = seed,
	};
	return p;
}

static void objective_init(struct objective *o)
{
	memset(o, 0, sizeof *o);
	o->n = 32;
	o->max_factor = 2.5;   /* the default 1.25 * 16384/8192 */
	o->hidden_keep = 16;
	for (int i = 0; i < o->n; i++) {
		double x = (double)i / (o->n - 1);
		o->hidden[i] = (float)(1.0 + 1.2 * x * x);
	}
}

static char *run_to_text(uint64_t seed, int generations, struct rope_search *out)
{
	struct objective o;
	objective_init(&o);
	struct rope_search_params p = params(seed, generations);
	char *err = NULL;
	struct rope_search *s = xcalloc(1, sizeof *s);
	if (rope_search_init(s, &p, &err) != 0 ||
	    rope_search_run(s, synth_eval, &o, NULL, NULL, NULL, NULL, &err) != 0) {
		diag("%s", err);
		free(err);
		free(s);
		return xstrdup("");
	}
	struct buf b = BUF_INIT;
	rope_search_state_format(s, &b);
	if (out)
		*out = *s;
	free(s);
	return b.data;
}

int main(void)
{
	char *err = NULL;
	struct rope_search *s = xcalloc(1, sizeof *s);
	struct rope_search_params p;

	/* Parameter checks. */
	p = params(1, 3);
	p.target = 8192;
	ok(rope_search_init(s, &p, &err) != 0 && err && strstr(err, "must exceed"),
	    "a target within the original context is refused");
	free(err), err = NULL;
	p = params(1, 3);
	p.population = 3;
	ok(rope_search_init(s, &p, &err) != 0, "a population below 4 is refused");
	free(err), err = NULL;
	p = params(1, 3);
	p.parents = 12;
	ok(rope_search_init(s, &p, &err) != 0, "parents must be fewer than the population");
	free(err), err = NULL;

	/* Repair and validity. */
	float v[6] = { 0.5f, 3.0f, 2.0f, NAN, 9.0f, 4.0f };
	rope_search_repair(v, 6, 5.0);
	ok(v[0] == 1.0f && v[1] == 3.0f && v[2] == 3.0f && v[3] == 3.0f && v[4] == 5.0f &&
	    v[5] == 5.0f, "repair clamps to [1, max] and makes the factors non-decreasing");
	ok(rope_search_valid(v, 6, 5.0), "a repaired vector is valid");
	float bad[3] = { 1.0f, 2.0f, 1.5f };
	ok(!rope_search_valid(bad, 3, 5.0), "a decreasing vector is invalid");

	/* Seeds. */
	p = params(42, 1);
	ok(rope_search_init(s, &p, &err) == 0, "init%s%s", err ? ": " : "", err ? err : "");
	is_int(s->p.parents, 3, "default parents: a quarter of the population");
	is_double(s->p.max_factor, 2.5, 1e-12, "default largest factor: 1.25 x target/original");
	int all_valid = 1;
	for (int k = 0; k < s->n; k++)
		all_valid &= rope_search_valid(s->pop[k].f, 32, s->p.max_factor);
	ok(all_valid, "every seed candidate respects the constraints");
	ok(s->pop[0].f[0] == 1.0f && s->pop[0].f[31] == 1.0f, "seed 0 is plain RoPE");
	ok(s->pop[1].f[0] == 2.0f && s->pop[1].f[31] == 2.0f, "seed 1 is linear interpolation");
	is_double(s->pop[2].f[31], 2.0, 1e-5, "seed 2 is NTK: the slowest pair is divided by s");
	is_double(s->pop[2].f[0], 1.0, 1e-6, "seed 2 is NTK: the fastest pair is kept");
	ok(s->pop[3].f[0] == 1.0f && fabs(s->pop[3].f[31] - 2.0f) < 1e-5,
	    "seed 3 is YaRN: fast pairs kept, slow pairs interpolated");
	ok(s->pop[0].keep == 0 && s->pop[1].keep == 0 && s->pop[2].keep == 0 &&
	    s->pop[3].keep == 0, "the closed-form seeds interpolate every position (n^ = 0)");
	ok(rope_search_keep_valid(0) && rope_search_keep_valid(256) && rope_search_keep_valid(12) &&
	    !rope_search_keep_valid(3) && !rope_search_keep_valid(512),
	    "n^ is searched over LongRoPE's set 0..256");

	/* A run: constraints hold for every evaluation, progress reports, improvement. */
	struct objective o;
	objective_init(&o);
	p = params(42, 15);
	rope_search_init(s, &p, &err);
	progress_calls = 0;
	int rc = rope_search_run(s, synth_eval, &o, count_progress, NULL, NULL, NULL, &err);
	ok(rc == 0, "a 15-generation search completes%s%s", err ? ": " : "", err ? err : "");
	is_int(o.invalid, 0, "no evaluated candidate breaks a constraint");
	is_int(progress_calls, o.calls, "progress after every evaluation");
	is_int(s->n_evals, o.calls, "evaluations are counted");
	is_int(s->generation, 15, "15 generations done");
	ok(o.calls < 15 * 12, "survivors are not evaluated again (%d calls)", o.calls);
	double seed_best = INFINITY;
	{
		struct objective o2;
		objective_init(&o2);
		struct rope_search s0;
		struct rope_search_params p0 = params(42, 1);
		rope_search_init(&s0, &p0, &err);
		rope_search_run(&s0, synth_eval, &o2, NULL, NULL, NULL, NULL, &err);
		seed_best = s0.best.score;
	}
	ok(s->best.score < seed_best, "the search improves on its seeds (%.5f < %.5f)",
	    s->best.score, seed_best);
	is_double(progress_last_best, s->best.score, 0, "progress reports the best so far");
	ok(s->pop[0].score == s->best.score, "the population is sorted best first");
	ok(rope_search_valid(s->best.f, 32, s->p.max_factor), "the best is valid");
	ok(o.max_keep > 0, "n^ is explored (largest evaluated: %u)", o.max_keep);
	ok(s->best.keep >= 4 && s->best.keep <= 64,
	    "n^ moves toward the objective's optimum 16 (best: %u)", s->best.keep);

	/* Determinism and resume. */
	char *a = run_to_text(7, 10, NULL), *b = run_to_text(7, 10, NULL);
	char *c = run_to_text(8, 10, NULL);
	ok(a[0] && strcmp(a, b) == 0, "the same seed gives the same search, bit for bit");
	ok(strcmp(a, c) != 0, "another seed gives another search");

	objective_init(&o);
	p = params(7, 10);
	struct saver sv = { BUF_INIT, 0, 4 };
	rope_search_init(s, &p, &err);
	rc = rope_search_run(s, synth_eval, &o, NULL, NULL, save_state, &sv, &err);
	ok(rc != 0 && err && strcmp(err, "interrupted") == 0, "a failing save stops the search");
	free(err), err = NULL;
	struct rope_search *r = xcalloc(1, sizeof *r);
	rc = rope_search_state_parse(r, sv.text.data, sv.text.len, "state", &p, &err);
	ok(rc == 0, "the saved state parses%s%s", err ? ": " : "", err ? err : "");
	is_int(r->generation, 4, "resumed after generation 4");
	objective_init(&o);
	rc = rope_search_run(r, synth_eval, &o, NULL, NULL, NULL, NULL, &err);
	struct buf rb = BUF_INIT;
	rope_search_state_format(r, &rb);
	ok(rc == 0 && strcmp(rb.data, a) == 0,
	    "resuming gives the same result as an uninterrupted run");
	rb.len = 0;

	/* A resumed search may be lengthened, not changed. */
	struct rope_search_params longer = params(7, 12), other = params(9, 10);
	rc = rope_search_state_parse(r, sv.text.data, sv.text.len, "state", &longer, &err);
	ok(rc == 0 && r->p.generations == 12, "more generations on resume are accepted");
	rc = rope_search_state_parse(r, sv.text.data, sv.text.len, "state", &other, &err);
	ok(rc != 0 && err && strstr(err, "another search"), "another seed's state is refused");
	free(err), err = NULL;

	/* Hostile states. */
	char *t = xstrdup(sv.text.data);
	char *cand = strstr(t, "\ncand ");
	ok(rope_search_state_parse(r, t, (size_t)(cand - t), "state", NULL, &err) != 0,
	    "a truncated state is refused");
	free(err), err = NULL;
	/* Make the first candidate's first factor 0x1.8p+2 = 6: above the largest factor. */
	char *f1 = strchr(strchr(cand + 6, ' ') + 1, ' ');
	char *t2 = xasprintf("%.*s 0x1.8p+2%s", (int)(f1 - t), t, strchr(f1 + 1, ' '));
	ok(rope_search_state_parse(r, t2, strlen(t2), "state", NULL, &err) != 0 && err &&
	    strstr(err, "outside"), "a state with a factor beyond the bounds is refused");
	free(err), err = NULL;
	free(t2);
	t2 = xasprintf("%s junk\n", sv.text.data);
	ok(rope_search_state_parse(r, t2, strlen(t2), "state", NULL, &err) != 0,
	    "trailing junk is refused");
	free(err), err = NULL;
	free(t2);
	ok(rope_search_state_parse(r, "quire-rope-search 3\n", 20, "state", NULL, &err) != 0 &&
	    err && strstr(err, "version"), "another format version is refused");
	free(err), err = NULL;
	/* A candidate's n^ outside the searched set. */
	t2 = xasprintf("%.*s 3%s", (int)(strchr(cand + 6, ' ') - t), t,
	    strchr(strchr(cand + 6, ' ') + 1, ' '));
	ok(rope_search_state_parse(r, t2, strlen(t2), "state", NULL, &err) != 0 && err &&
	    strstr(err, "n^ 3"), "a state with an n^ outside the set is refused");
	free(err), err = NULL;
	free(t2);
	/* Version 1 (before n^): the same lines without it parse, every n^ 0. */
	{
		struct buf v1 = BUF_INIT;
		const char *p1 = sv.text.data;
		while (*p1) {
			const char *nl = strchr(p1, '\n');
			size_t n = nl ? (size_t)(nl - p1 + 1) : strlen(p1);
			if (strncmp(p1, "quire-rope-search ", 18) == 0) {
				buf_printf(&v1, "quire-rope-search 1\n");
			} else if (strncmp(p1, "cand ", 5) == 0 || strncmp(p1, "best ", 5) == 0) {
				const char *k0 = strchr(p1 + 5, ' ');        /* before n^ */
				const char *k1 = strchr(k0 + 1, ' ');        /* after it */
				buf_printf(&v1, "%.*s%.*s", (int)(k0 - p1), p1, (int)(p1 + n - k1), k1);
			} else {
				buf_printf(&v1, "%.*s", (int)n, p1);
			}
			p1 += n;
		}
		rc = rope_search_state_parse(r, v1.data, v1.len, "state", NULL, &err);
		int zero = rc == 0 && r->best.keep == 0;
		for (int k = 0; zero && k < r->n; k++)
			zero = r->pop[k].keep == 0;
		ok(zero, "a version-1 state parses with n^ = 0%s%s", err ? ": " : "", err ? err : "");
		free(err), err = NULL;
		free(v1.data);
	}
	free(t);

	/* An objective's failure stops the search with its message. */
	objective_init(&o);
	o.fail_at = 5;
	p = params(3, 4);
	rope_search_init(s, &p, &err);
	rc = rope_search_run(s, synth_eval, &o, NULL, NULL, NULL, NULL, &err);
	ok(rc != 0 && err && strstr(err, "synthetic failure"), "an objective error is passed on");
	free(err), err = NULL;

	/* The factor file round-trips through the --longrope-factors reader. */
	struct rope_search best;
	free(run_to_text(7, 10, &best));
	struct buf ff = BUF_INIT;
	rope_search_factor_file(&best, &ff);
	float lf[ROPE_MAX_PAIRS], sf[ROPE_MAX_PAIRS];
	uint32_t keep = 12345;
	rc = rope_factors_parse(ff.data, ff.len, "factors", 32, lf, sf, &keep, &err);
	ok(rc == 0, "the factor file parses%s%s", err ? ": " : "", err ? err : "");
	ok(memcmp(lf, best.best.f, 32 * sizeof(float)) == 0, "long factors round-trip exactly");
	is_int((long)keep, (long)best.best.keep, "n^ round-trips (%u)", best.best.keep);
	int ones = 1;
	for (int i = 0; i < 32; i++)
		ones &= sf[i] == 1.0f;
	ok(ones, "short factors are all 1");
	free(err), err = NULL;

	/* The configuration a candidate stands for. */
	struct rope_config cfg, plain;
	struct rope_table tc, tp;
	rope_config_init(&cfg, ROPE_PAIRING_NORM, 64, 100000, 8192);
	plain = cfg;
	rc = rope_search_config(&cfg, best.best.f, best.best.keep, 0, 2.0, 16384, &err) ||
	    rope_config_finish(&plain, 16384, &err) || rope_table_build(&cfg, &tc, &err) ||
	    rope_table_build(&plain, &tp, &err);
	ok(rc == 0, "rope_search_config gives a valid longrope configuration");
	ok(cfg.longrope_set == ROPE_SET_LONG, "the long set applies at the target");
	is_double(tc.freq[31], tp.freq[31] / best.best.f[31], 1e-18, "f_i = plain f_i / lambda_i");
	is_double(tc.m, sqrt(1 + log(2.0) / log(8192.0)), 1e-12, "LongRoPE magnitude of s = 2");
	ok(tc.keep == best.best.keep && tc.freq_keep[31] == tp.freq[31],
	    "the first n^ positions keep plain RoPE's frequencies");

	free(a), free(b), free(c);
	free(sv.text.data);
	free(rb.data);
	free(ff.data);
	free(r);
	free(s);
	free(err);
	done_testing();
	return exit_status();
}
