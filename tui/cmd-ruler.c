/* cmd-ruler.c: `quire ruler [TASK...]`: the RULER tasks that need no outside data and
 * InfiniteBench's passkey, number_string and kv_retrieval (tui/eval-ruler.h), generated from a
 * seed, run greedily with the raw prompt and scored by each benchmark's own rule. Prints one
 * record per sample, each task's score (percent, the benchmark's number), their mean, and
 * `accuracy: X/Y` counting the samples scored in full. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/context.h"
#include "engine/sample.h"
#include "lib/file.h"
#include "lib/util.h"
#include "tui/model-setup.h"
#include "tui/cmd.h"
#include "tui/eval-ruler.h"
#include "tui/eval-run.h"
#include "tui/progress.h"

#define RULER_MAX_LENGTHS 64
#define RULER_MAX_FILE ((size_t)256 << 20)
#define RULER_DEFAULT_SEED 42

static int read_file(const char *path, char **text, size_t *len)
{
	char *err = NULL;
	if (file_read_all(path, RULER_MAX_FILE, text, len, &err) != 0) {
		q_warn("ruler: %s", err);
		free(err);
		return -1;
	}
	return 0;
}

static int cmd_ruler_exec(struct cmd_ctx *ctx)
{
	const struct opts *o = ctx->opts;
	const char *hay_arg = cmd_value(ctx, "haystack");
	const char *words_arg = cmd_value(ctx, "words"), *csv = cmd_value(ctx, "csv");
	long n_samples;
	if (cmd_value_long(ctx, "samples", 1, 100000, 10, &n_samples))
		return 2;
	long lengths[RULER_MAX_LENGTHS];
	size_t n_len;
	if (cmd_value_long_list(ctx, "lengths", "4096", 256, 1L << 24, RULER_MAX_LENGTHS, lengths,
	    &n_len))
		return 2;
	/* The tasks: those named, in the order given, else all of them. */
	const struct ruler_task **tasks = xcalloc(ruler_n_tasks + (size_t)ctx->argc,
	    sizeof(*tasks));
	size_t n_tasks = 0;
	for (int i = 0; i < ctx->argc; i++) {
		const struct ruler_task *t = ruler_task_find(ctx->argv[i]);
		if (t == NULL) {
			q_warn("ruler: unknown task '%s'; the tasks are:", ctx->argv[i]);
			for (size_t k = 0; k < ruler_n_tasks; k++)
				fprintf(stderr, "  %s (%s)\n", ruler_tasks[k].name, ruler_tasks[k].suite);
			free(tasks);
			return 2;
		}
		tasks[n_tasks++] = t;
	}
	if (n_tasks == 0)
		for (size_t k = 0; k < ruler_n_tasks; k++)
			tasks[n_tasks++] = &ruler_tasks[k];

	char *err = NULL, *text = NULL;
	size_t len;
	struct eval_words words = { 0 };
	struct eval_haystack essay = { 0 };
	int have_essay = 0, rc = 1;
	if (words_arg != NULL) {
		if (read_file(words_arg, &text, &len) != 0)
			goto out0;
		if (eval_words_parse(text, len, &words, &err) != 0) {
			q_warn("ruler: %s: %s", words_arg, err);
			goto out0;
		}
		free(text);
		text = NULL;
	} else {
		eval_words_builtin(&words);
	}
	if (hay_arg != NULL) {
		if (read_file(hay_arg, &text, &len) != 0)
			goto out0;
		if (eval_haystack_text(text, len, &essay, &err) != 0) {
			q_warn("ruler: %s: %s", hay_arg, err);
			goto out0;
		}
		have_essay = 1;
		free(text);
		text = NULL;
	}

	struct model *m;
	if (model_setup_load(o, &m) != 0)
		goto out0;
	long max_len = 0;
	for (size_t i = 0; i < n_len; i++)
		if (lengths[i] > max_len)
			max_len = lengths[i];
	struct context *c = NULL;
	FILE *fcsv = NULL;
	struct buf answer = BUF_INIT;
	struct eval_prefix pf = { 0 };       /* what the context holds, for the next prompt */
	int32_t *gen = NULL;
	double *score_sum = xcalloc(n_tasks * n_len, sizeof(double));
	size_t *n_run = xcalloc(n_tasks * n_len, sizeof(size_t));
	if (model_setup_context(o, m, (uint32_t)max_len, &c) != 0)
		goto out;
	if (csv != NULL) {
		if ((fcsv = fopen(csv, "w")) == NULL) {
			q_warn("ruler: %s: %s", csv, strerror(errno));
			goto out;
		}
		fprintf(fcsv, "task,suite,length,sample,seed,prompt_tokens,score,refs,answer\n");
	}
	struct eval_tokenizer tk;
	eval_run_tokenizer(m, &tk);
	struct ruler_env env = { &tk, &words, have_essay ? &essay : NULL };
	uint64_t base = o->seed_set ? o->seed : RULER_DEFAULT_SEED;
	printf("ruler: %zu tasks x %zu lengths x %ld samples, seed %llu, words: %s (%zu), "
	    "essay haystack: %s\n", n_tasks, n_len, n_samples, (unsigned long long)base,
	    words_arg ? words_arg : "built-in", words.n,
	    have_essay ? hay_arg : "none (the garbage sentences stand in; --haystack FILE)");
	struct progress pr;
	progress_start(&pr, o, "ruler", "samples", n_tasks * n_len * (uint64_t)n_samples);
	size_t n_done = 0, n_full = 0;
	double total = 0;
	for (size_t ti = 0; ti < n_tasks; ti++) {
		const struct ruler_task *t = tasks[ti];
		size_t task_index = (size_t)(t - ruler_tasks);
		gen = xreallocarray(gen, (size_t)t->max_new_tokens, sizeof(int32_t));
		for (size_t li = 0; li < n_len; li++) {
			for (long s = 0; s < n_samples; s++) {
				/* A sample's seed depends on its task, length and number only, so a
				 * subset of tasks gives the same prompts. */
				uint64_t st = base ^ ((uint64_t)task_index << 56) ^
				    ((uint64_t)lengths[li] << 24) ^ (uint64_t)s;
				uint64_t seed = splitmix64(&st);
				double depth = n_samples > 1 ? (double)s / (double)(n_samples - 1) : 0.5;
				struct ruler_sample rs;
				size_t n_gen;
				if (ruler_build(t, &env, (size_t)lengths[li], seed, depth, &rs, &err) != 0) {
					/* Too short a length for this task: say so, go on with the rest. */
					q_warn("ruler: %s; skipped", err);
					free(err);
					err = NULL;
					break;
				}
				if (eval_run_greedy(c, &pf, rs.ids, rs.n_ids, t->max_new_tokens, gen,
				    &n_gen, &answer, &err) != 0) {
					q_warn("ruler: %s: %s", t->name, err);
					ruler_sample_free(&rs);
					goto out;
				}
				double sc = ruler_score(t, &rs, answer.data);
				score_sum[ti * n_len + li] += sc;
				n_run[ti * n_len + li]++;
				total += sc;
				n_full += sc >= 1.0;
				n_done++;
				printf("%s length %ld sample %ld seed %llu prompt_tokens %zu score %.2f answer ",
				    t->name, lengths[li], s, (unsigned long long)seed, rs.n_ids, sc);
				eval_fput_quoted(stdout, answer.data);
				printf(" refs");
				for (size_t r = 0; r < rs.n_refs; r++)
					printf(" %s", rs.refs[r]);
				putchar('\n');
				fflush(stdout);
				if (fcsv != NULL) {
					fprintf(fcsv, "%s,%s,%ld,%ld,%llu,%zu,%.4f,\"", t->name, t->suite,
					    lengths[li], s, (unsigned long long)seed, rs.n_ids, sc);
					for (size_t r = 0; r < rs.n_refs; r++)
						fprintf(fcsv, "%s%s", r ? " " : "", rs.refs[r]);
					fputs("\",", fcsv);
					eval_fput_csv(fcsv, answer.data);
					fputc('\n', fcsv);
				}
				ruler_sample_free(&rs);
				progress_update(&pr, n_done, t->name);
			}
		}
	}
	progress_end(&pr, n_done);

	printf("\n%-16s %-14s", "task", "suite");
	for (size_t li = 0; li < n_len; li++)
		printf(" %8ld", lengths[li]);
	putchar('\n');
	for (size_t ti = 0; ti < n_tasks; ti++) {
		printf("%-16s %-14s", tasks[ti]->name, tasks[ti]->suite);
		for (size_t li = 0; li < n_len; li++) {
			size_t k = ti * n_len + li;
			if (n_run[k] == 0)
				printf(" %8s", "-");
			else
				printf(" %8.2f", 100 * score_sum[k] / (double)n_run[k]);
		}
		putchar('\n');
	}
	printf("%-31s", "mean");
	for (size_t li = 0; li < n_len; li++) {
		double sum = 0;
		size_t n = 0;
		for (size_t ti = 0; ti < n_tasks; ti++) {
			size_t k = ti * n_len + li;
			if (n_run[k] > 0) {
				sum += 100 * score_sum[k] / (double)n_run[k];
				n++;
			}
		}
		if (n == 0)
			printf(" %8s", "-");
		else
			printf(" %8.2f", sum / (double)n);
	}
	putchar('\n');
	if (n_done == 0) {
		q_warn("ruler: no sample could be built at these lengths");
		goto out;
	}
	printf("score: %.2f%% of %zu samples\n", 100 * total / (double)n_done, n_done);
	printf("accuracy: %zu/%zu\n", n_full, n_done);
	rc = 0;
out:
	if (fcsv != NULL && fclose(fcsv) != 0 && rc == 0) {
		q_warn("ruler: %s: %s", csv, strerror(errno));
		rc = 1;
	}
	free(gen);
	free(score_sum);
	free(n_run);
	buf_free(&answer);
	eval_prefix_free(&pf);
	context_free(c);
	model_free(m);
out0:
	free(err);
	free(text);
	free(tasks);
	eval_words_free(&words);
	eval_haystack_free(&essay);
	return rc;
}

static const struct cmd_option ruler_options[] = {
	{ "lengths", 0, 1, "L1,L2,...", "prompt lengths in tokens, generation included (default 4096)" },
	{ "samples", 0, 1, "N", "samples per task and length (default 10)" },
	{ "haystack", 0, 1, "FILE", "a book for the essay haystacks (split into sentences)" },
	{ "words", 0, 1, "FILE", "word list, one a line (default: the built-in 1000 words)" },
	{ "csv", 0, 1, "FILE", "write one CSV row per sample" },
	{ NULL, 0, 0, NULL, NULL }
};

const struct cmd_entry cmd_ruler_entry = {
	.name = "ruler", .usage = "[TASK...]",
	.summary = "RULER and InfiniteBench tasks that need no outside data; ends with 'accuracy: X/Y'",
	.options = ruler_options, .max_args = -1, .exec = cmd_ruler_exec,
};
