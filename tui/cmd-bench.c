/* cmd-bench.c: `quire bench`: prompt-processing and generation speed at a given context depth,
 * measured like llama-bench (random tokens, repetitions, mean and standard deviation). */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "engine/context.h"
#include "engine/sample.h"
#include "kernels/cpu-features.h"
#include "lib/util.h"
#include "tui/model-setup.h"
#include "tui/cmd.h"

struct stats {
	double sum, sum_sq;
	int n;
};

static void stats_add(struct stats *s, double v)
{
	s->sum += v;
	s->sum_sq += v * v;
	s->n++;
}

static double stats_mean(const struct stats *s)
{
	return s->n ? s->sum / s->n : 0;
}

static double stats_sd(const struct stats *s)
{
	if (s->n < 2)
		return 0;
	double m = stats_mean(s);
	double var = (s->sum_sq - s->n * m * m) / (s->n - 1);
	return var > 0 ? sqrt(var) : 0;
}

/* Fill the context with depth tokens (untimed). */
static int bench_fill(struct context *c, const int32_t *tokens, long depth, char **err)
{
	context_reset(c);
	return depth > 0 ? forward(c, tokens, (size_t)depth, NULL, 0, err) : 0;
}

static int cmd_bench_exec(struct cmd_ctx *ctx)
{
	const struct opts *o = ctx->opts;
	long n_prompt, n_gen, depth, reps;
	if (cmd_value_long(ctx, "n-prompt", 0, 1L << 20, 512, &n_prompt) ||
	    cmd_value_long(ctx, "n-gen", 0, 1L << 20, 128, &n_gen) ||
	    cmd_value_long(ctx, "depth", 0, 1L << 24, 0, &depth) ||
	    cmd_value_long(ctx, "reps", 1, 1000, 3, &reps))
		return 2;
	struct model *m;
	if (model_setup_load(o, &m) != 0)
		return 1;
	long need = depth + (n_prompt > n_gen ? n_prompt : n_gen);
	struct context *c = NULL;
	if (model_setup_context(o, m, (uint32_t)(need > 16 ? need : 16), &c) != 0) {
		model_free(m);
		return 1;
	}
	int32_t *tokens = xreallocarray(NULL, (size_t)need + 1, sizeof(int32_t));
	uint64_t rng = o->seed_set ? o->seed : 1234;
	for (long i = 0; i <= need; i++)
		tokens[i] = (int32_t)(splitmix64(&rng) % m->hp.n_vocab);
	float *logits = xreallocarray(NULL, m->hp.n_vocab, sizeof(float));
	char *err = NULL;
	int rc = 1;

	printf("| model | size | backend | simd | threads | test | t/s |\n");
	printf("| --- | ---: | --- | --- | ---: | --- | ---: |\n");
	char size[32];
	snprintf(size, sizeof(size), "%.1f MiB", (double)m->weight_bytes / (1 << 20));
	const char *name = m->hp.name[0] ? m->hp.name : m->hp.arch_name;
	if (n_prompt > 0) {
		struct stats st = { 0 };
		for (long r = 0; r < reps; r++) {
			if (bench_fill(c, tokens + n_prompt, depth, &err) != 0)
				goto fail;
			double t0 = q_now();
			if (forward(c, tokens, (size_t)n_prompt, logits, 0, &err) != 0)
				goto fail;
			stats_add(&st, (double)n_prompt / (q_now() - t0));
		}
		printf("| %s | %s | %s | %s | %d | pp%ld @ d%ld | %.2f ± %.2f |\n", name, size,
		    c->be->ops->name, cpu_simd_level_name(), o->threads, n_prompt, depth,
		    stats_mean(&st), stats_sd(&st));
		fflush(stdout);
	}
	if (n_gen > 0) {
		struct stats st = { 0 };
		for (long r = 0; r < reps; r++) {
			if (bench_fill(c, tokens + n_gen, depth, &err) != 0)
				goto fail;
			double t0 = q_now();
			for (long i = 0; i < n_gen; i++)
				if (forward(c, tokens + i, 1, logits, 0, &err) != 0)
					goto fail;
			stats_add(&st, (double)n_gen / (q_now() - t0));
		}
		printf("| %s | %s | %s | %s | %d | tg%ld @ d%ld | %.2f ± %.2f |\n", name, size,
		    c->be->ops->name, cpu_simd_level_name(), o->threads, n_gen, depth,
		    stats_mean(&st), stats_sd(&st));
	}
	rc = 0;
	goto out;
fail:
	q_warn("%s", err);
out:
	free(err);
	free(tokens);
	free(logits);
	context_free(c);
	model_free(m);
	return rc;
}

static const struct cmd_option bench_options[] = {
	{ "n-prompt", 0, 1, "N", "prompt tokens to process (default 512)" },
	{ "n-gen", 0, 1, "N", "tokens to generate (default 128)" },
	{ "depth", 0, 1, "D", "context depth before the measurement (default 0)" },
	{ "reps", 0, 1, "N", "repetitions (default 3)" },
	{ NULL, 0, 0, NULL, NULL }
};

const struct cmd_entry cmd_bench_entry = {
	.name = "bench", .summary = "prompt and generation speed, like llama-bench",
	.options = bench_options, .max_args = 0, .exec = cmd_bench_exec,
};
