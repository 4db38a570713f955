/* cmd-rope-search.c: `quire rope-search FILE`: LongRoPE's evolutionary search for per-pair
 * RoPE factors without training (engine/rope-search.h), scored by perplexity over windows of
 * --target tokens of FILE; writes a --longrope-factors file and, after every generation, a
 * state file that --resume continues from. Ends with "best ppl: X". */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/context.h"
#include "engine/perplexity.h"
#include "engine/rope-search.h"
#include "engine/tokenizer.h"
#include "lib/buf.h"
#include "lib/file.h"
#include "lib/util.h"
#include "tui/model-setup.h"
#include "tui/cmd.h"
#include "tui/progress.h"

#define RS_MAX_FILE ((size_t)1 << 31)
#define RS_MAX_STATE ((size_t)1 << 24)

struct rs_run {
	struct context *c;
	struct rope_config base;       /* the model's RoPE with the user's overrides */
	uint32_t orig_ctx, target;
	double scale;                  /* s for the LongRoPE magnitude */
	const int32_t *tokens;         /* calibration text */
	int32_t bos;                   /* -1 when the model wants none */
	long windows;                  /* windows of target tokens per evaluation */
	int32_t *input;                /* one window */
	struct progress pr;
	int evals_done;                /* in this process, for the progress line */
	const char *out_path, *state_path;
};

/* Perplexity (mean of window means, as `quire perplexity` with stride = window) of the
 * calibration windows under one candidate. */
static int rs_eval(void *ctx, const float *factors, uint32_t keep, double *score, char **err)
{
	struct rs_run *r = ctx;
	struct context *c = r->c;
	struct rope_config cfg = r->base;
	if (rope_search_config(&cfg, factors, keep, r->orig_ctx, r->scale, r->target, err) != 0)
		return -1;
	c->rope = cfg;
	if (rope_table_build(&c->rope, &c->rope_table, err) != 0)
		return -1;
	size_t l1 = r->target - (r->bos >= 0 ? 1 : 0);
	double sum_means = 0;
	for (long w = 0; w < r->windows; w++) {
		size_t n_in = 0;
		if (r->bos >= 0)
			r->input[n_in++] = r->bos;
		memcpy(r->input + n_in, r->tokens + (size_t)w * l1, l1 * sizeof(int32_t));
		n_in += l1;
		double nll = 0;
		size_t scored = 0;
		context_reset(c);
		if (ppl_score(c, r->input, n_in, 1, &nll, &scored, NULL, err) != 0)
			return -1;
		sum_means += nll / (double)scored;
	}
	*score = exp(sum_means / (double)r->windows);
	return 0;
}

static void rs_progress(void *ctx, int generation, int done, int total, double best)
{
	struct rs_run *r = ctx;
	char note[96];
	snprintf(note, sizeof(note), "generation %d: %d/%d, best ppl %.4f", generation + 1, done,
	    total, best);
	progress_update(&r->pr, (uint64_t)++r->evals_done, note);
}

/* After each generation: the state, then the best factors so far, each replaced atomically. */
static int rs_save(void *ctx, const struct rope_search *s, char **err)
{
	struct rs_run *r = ctx;
	struct buf b = BUF_INIT;
	rope_search_state_format(s, &b);
	int rc = file_replace_atomic(r->state_path, b.data, b.len, err);
	if (rc == 0) {
		buf_reset(&b);
		rope_search_factor_file(s, &b);
		rc = file_replace_atomic(r->out_path, b.data, b.len, err);
	}
	buf_free(&b);
	return rc;
}

static int cmd_rope_search_exec(struct cmd_ctx *ctx)
{
	const struct opts *o = ctx->opts;
	const char *path = ctx->argv[0];
	long target, population, generations, parents, windows;
	double max_factor;
	const char *out_path = cmd_value(ctx, "out");
	if (out_path == NULL)
		out_path = "rope-factors.txt";
	const char *state_opt = cmd_value(ctx, "state");
	int resume = cmd_value(ctx, "resume") != NULL;
	if (cmd_value_long(ctx, "target", 0, 1L << 24, 0, &target) ||
	    cmd_value_long(ctx, "population", 4, ROPE_SEARCH_MAX_POP, 8, &population) ||
	    cmd_value_long(ctx, "generations", 1, 1000000, 4, &generations) ||
	    cmd_value_long(ctx, "parents", 0, ROPE_SEARCH_MAX_POP, 0, &parents) ||
	    cmd_value_long(ctx, "windows", 1, 1L << 20, 1, &windows) ||
	    cmd_value_double(ctx, "max-factor", 0, 1e6, 0, &max_factor))
		return 2;
	if ((o->rope_scaling && strcmp(o->rope_scaling, "longrope") != 0) ||
	    o->longrope_factors) {
		q_warn("rope-search: it searches LongRoPE factors itself; --rope-scaling and "
		    "--longrope-factors do not apply (--rope-base, --rope-orig-ctx and "
		    "--rope-scale do)");
		return 2;
	}
	char *state_path = state_opt ? xstrdup(state_opt) : xasprintf("%s.state", out_path);

	char *err = NULL, *text = NULL;
	size_t len;
	struct model *m = NULL;
	struct context *c = NULL;
	int32_t *tokens = NULL;
	size_t n_tok = 0;
	struct rope_search *s = xcalloc(1, sizeof(*s));
	struct rs_run r;
	memset(&r, 0, sizeof(r));
	int rc = 1;
	if (file_read_all(path, RS_MAX_FILE, &text, &len, &err) != 0) {
		q_warn("%s", err);
		goto out;
	}
	if (model_setup_load(o, &m) != 0)
		goto out;

	/* The original context L after the user's overrides decides the default target. */
	struct rope_overrides ov;
	if (model_setup_rope_overrides(o, &ov) != 0) {
		rc = 2;
		goto out;
	}
	ov.has_variant = 0;
	struct rope_config probe = m->rope;
	if (rope_config_apply_overrides(&probe, &ov, &err) != 0) {
		q_warn("%s", err);
		goto out;
	}
	uint32_t orig_ctx = probe.orig_ctx ? probe.orig_ctx : probe.ctx_train;
	if (target == 0)
		target = 2 * (long)orig_ctx;
	if (target <= (long)orig_ctx) {
		q_warn("rope-search: --target %ld must exceed the original context %u (the long "
		    "factors apply only beyond it)", target, orig_ctx);
		rc = 2;
		goto out;
	}

	if (tokenizer_encode(m->tok, text, len, 0, &tokens, &n_tok, NULL, &err) != 0) {
		q_warn("%s: %s", path, err);
		goto out;
	}
	r.bos = tokenizer_add_bos(m->tok) ? tokenizer_bos(m->tok) : -1;
	size_t l1 = (size_t)target - (r.bos >= 0 ? 1 : 0);
	if (n_tok / l1 < (size_t)windows) {
		q_warn("%s: %zu tokens, fewer than %ld window(s) of %ld", path, n_tok, windows,
		    target);
		goto out;
	}
	if (model_setup_context(o, m, (uint32_t)target, &c) != 0)
		goto out;
	r.c = c;
	r.base = c->rope;
	r.orig_ctx = orig_ctx;
	r.target = (uint32_t)target;
	r.scale = o->rope_scale > 0 ? o->rope_scale : (double)target / orig_ctx;
	r.tokens = tokens;
	r.windows = windows;
	r.input = xreallocarray(NULL, (size_t)target, sizeof(int32_t));
	r.out_path = out_path;
	r.state_path = state_path;

	struct rope_search_params p = {
		.n_pairs = c->rope.n_rot / 2, .n_rot = c->rope.n_rot, .base = c->rope.base,
		.orig_ctx = orig_ctx, .target = (uint32_t)target, .population = (int)population,
		.generations = (int)generations, .parents = (int)parents, .max_factor = max_factor,
		.seed = o->seed_set ? (uint64_t)o->seed : 1,
	};
	int resumed = 0;
	if (resume && access(state_path, F_OK) == 0) {
		char *st;
		size_t st_len;
		if (file_read_all(state_path, RS_MAX_STATE, &st, &st_len, &err) != 0) {
			q_warn("%s", err);
			goto out;
		}
		int prc = rope_search_state_parse(s, st, st_len, state_path, &p, &err);
		free(st);
		if (prc != 0) {
			q_warn("%s", err);
			goto out;
		}
		resumed = 1;
	} else {
		if (resume)
			q_warn("rope-search: %s does not exist; starting afresh", state_path);
		if (rope_search_init(s, &p, &err) != 0) {
			q_warn("%s", err);
			goto out;
		}
	}

	/* Evaluations still to come: the first generation scores everyone, later ones the
	 * children (fewer when a child repeats a survivor exactly). */
	uint64_t planned = 0;
	for (int g = s->generation; g < s->p.generations; g++)
		planned += (uint64_t)(g == 0 ? s->p.population : s->p.population - s->p.parents);
	if (resumed)
		fprintf(stderr, "rope-search: resuming %s after generation %d of %d\n", state_path,
		    s->generation, s->p.generations);
	progress_start(&r.pr, o, "rope-search", "evaluations", planned);
	int src = rope_search_run(s, rs_eval, &r, rs_progress, &r, rs_save, &r, &err);
	progress_end(&r.pr, (uint64_t)r.evals_done);
	if (src != 0) {
		q_warn("%s", err);
		goto out;
	}
	if (s->generation == 0 || !isfinite(s->best.score)) {
		q_warn("rope-search: nothing was evaluated");
		goto out;
	}
	/* A resumed search that was already complete still writes its outputs. */
	if (rs_save(&r, s, &err) != 0) {
		q_warn("%s", err);
		goto out;
	}
	printf("target: %ld tokens (original context %u, scale %.6g), %ld window(s)\n", target,
	    orig_ctx, r.scale, windows);
	printf("generations: %d, population: %d, evaluations: %d, seed: %llu\n", s->generation,
	    s->p.population, s->n_evals, (unsigned long long)s->p.seed);
	printf("factors: %s (use: --longrope-factors %s --rope-scale %.6g)\n", out_path,
	    out_path, r.scale);
	printf("leading positions left un-interpolated (n^): %u\n", s->best.keep);
	printf("state: %s\n", state_path);
	printf("best ppl: %.4f\n", s->best.score);
	rc = 0;
out:
	free(err);
	free(r.input);
	free(tokens);
	free(text);
	free(state_path);
	free(s);
	context_free(c);
	model_free(m);
	return rc;
}

static const struct cmd_option rope_search_options[] = {
	{ "target", 0, 1, "N", "length to search for, > the original context (default: twice it)" },
	{ "population", 0, 1, "N", "candidates per generation (default 8)" },
	{ "generations", 0, 1, "N", "generations, the first being the seeds (default 4)" },
	{ "parents", 0, 1, "N", "survivors bred from each generation (default: population/4)" },
	{ "max-factor", 0, 1, "F", "largest factor allowed (default: 1.25 x target/original)" },
	{ "windows", 0, 1, "N", "windows of --target tokens scored per candidate (default 1)" },
	{ "out", 0, 1, "FILE", "factor file to write (default rope-factors.txt)" },
	{ "state", 0, 1, "FILE", "search state written after each generation (default OUT.state)" },
	{ "resume", 0, 0, NULL, "continue the search in the state file" },
	{ NULL, 0, 0, NULL, NULL }
};

const struct cmd_entry cmd_rope_search_entry = {
	.name = "rope-search", .usage = "FILE",
	.summary = "search per-pair RoPE factors that minimise perplexity (LongRoPE style)",
	.options = rope_search_options, .min_args = 1, .max_args = 1,
	.exec = cmd_rope_search_exec,
};
