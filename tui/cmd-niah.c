/* cmd-niah.c: `quire niah`: the passkey needle-in-a-haystack grid (tui/eval-niah.h): for each
 * length and each evenly spaced depth, a prompt filled to that many tokens, greedy decoding of
 * up to 10 tokens with the raw prompt, scored by the first number in the answer. Prints one
 * record per run, a depth x length table and `accuracy: X/Y`; optionally a CSV, the prompts
 * (JSON lines, for the llama.cpp reference script) and a heat map drawn by gnuplot.
 *
 * Runs go length by length in rising depth; the prompt's tokens that equal the previous one's
 * (niah_prompt.needle_token tokens of it) are not run again. With --attn retrieval each
 * prompt's text before its question is indexed into a temporary corpus cache and the question
 * is answered by retrieval attention over it, once for each selection mode of --select. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/context.h"
#include "engine/sample.h"
#include "engine/tokenizer.h"
#include "lib/file.h"
#include "lib/json.h"
#include "lib/util.h"
#include "tui/model-setup.h"
#include "tui/cmd.h"
#include "tui/eval-niah.h"
#include "tui/eval-retrieval.h"
#include "tui/eval-run.h"
#include "tui/progress.h"

#define NIAH_MAX_LENGTHS 1000
#define NIAH_MAX_DEPTHS 1000
#define NIAH_MAX_LENGTH (1L << 24)
#define NIAH_MAX_HAYSTACK ((size_t)256 << 20)
#define NIAH_DEFAULT_SEED 42

/* "L1,L2,..." into lengths; 2 on a usage error (printed). */
/* "MIN:MAX:N": round(linspace(MIN, MAX, N)). */
static int parse_grid(const char *s, long *out, size_t *n)
{
	long lo, hi, cnt;
	char tail;
	if (sscanf(s, "%ld:%ld:%ld%c", &lo, &hi, &cnt, &tail) != 3 || lo < 16 || hi < lo ||
	    hi > NIAH_MAX_LENGTH || cnt < 1 || cnt > NIAH_MAX_LENGTHS) {
		q_warn("niah: --grid wants MIN:MAX:N with 16 <= MIN <= MAX <= %ld and 1 <= N <= %d, "
		    "not '%s'", NIAH_MAX_LENGTH, NIAH_MAX_LENGTHS, s);
		return 2;
	}
	for (long i = 0; i < cnt; i++)
		out[i] = cnt == 1 ? lo :
		    lround((double)lo + (double)(hi - lo) * (double)i / (double)(cnt - 1));
	*n = (size_t)cnt;
	return 0;
}

/* Is prog an executable somewhere in $PATH? */
static int in_path(const char *prog)
{
	const char *path = getenv("PATH");
	if (path == NULL)
		return 0;
	char *copy = xstrdup(path), *save = NULL;
	int found = 0;
	for (char *dir = strtok_r(copy, ":", &save); dir && !found;
	    dir = strtok_r(NULL, ":", &save)) {
		char *f = xasprintf("%s/%s", *dir ? dir : ".", prog);
		found = access(f, X_OK) == 0;
		free(f);
	}
	free(copy);
	return found;
}

struct niah_cell {
	int correct;
	int done;
};

/* The heat map: rows depths (0% at the top), columns lengths, green right, red wrong. */
static int draw_png(const char *png, const long *lengths, size_t n_len, size_t n_depth,
    const struct niah_cell *cells, const char *title)
{
	if (strpbrk(png, "\n\r") != NULL) {
		q_warn("niah: --png: the file name has a line break");
		return -1;
	}
	if (!in_path("gnuplot")) {
		q_warn("niah: --png needs gnuplot, which is not in PATH (apt-get install gnuplot-nox)");
		return -1;
	}
	FILE *g = popen("gnuplot", "w");
	if (g == NULL) {
		q_warn("niah: cannot start gnuplot: %s", strerror(errno));
		return -1;
	}
	fprintf(g, "set terminal pngcairo size %d,%d font \",10\"\nset output '", 480 + 40 * (int)n_len,
	    320 + 24 * (int)n_depth);
	for (const char *p = png; *p; p++)
		fputs(*p == '\'' ? "''" : (char[2]){ *p, 0 }, g);
	fputs("'\n", g);
	fputs("set title '", g);
	for (const char *p = title; *p; p++)
		fputs(*p == '\'' ? "''" : (char[2]){ *p, 0 }, g);
	fputs("'\n", g);
	fprintf(g, "set xlabel 'prompt length (tokens)'\nset ylabel 'needle depth (%%)'\n"
	    "set palette defined (0 '#d73027', 1 '#1a9850')\nset cbrange [0:1]\nunset colorbox\n"
	    "set xrange [-0.5:%f]\nset yrange [%f:-0.5]\nset tics nomirror\n",
	    (double)n_len - 0.5, (double)n_depth - 0.5);
	fputs("set xtics rotate by -45 (", g);
	for (size_t i = 0; i < n_len; i++)
		fprintf(g, "%s\"%ld\" %zu", i ? ", " : "", lengths[i], i);
	fputs(")\nset ytics (", g);
	for (size_t j = 0; j < n_depth; j++)
		fprintf(g, "%s\"%.0f\" %zu", j ? ", " : "", 100 * niah_depth(j, n_depth), j);
	fputs(")\n$cells << EOD\n", g);
	for (size_t j = 0; j < n_depth; j++) {
		for (size_t i = 0; i < n_len; i++) {
			const struct niah_cell *c = &cells[i * n_depth + j];
			fprintf(g, "%s%s", i ? " " : "", c->done ? (c->correct ? "1" : "0") : "NaN");
		}
		fputc('\n', g);
	}
	fputs("EOD\nplot $cells matrix with image notitle\n", g);
	int st = pclose(g);
	if (st != 0) {
		q_warn("niah: gnuplot failed (status %d) drawing %s", st, png);
		return -1;
	}
	return 0;
}

static const char *mode_name(enum kv_select_mode m)
{
	return m == KV_SELECT_RANDOM ? "random" : m == KV_SELECT_ATTENTION ? "attention" : "?";
}

/* A prompt through the corpus cache: its tokens before the final question indexed, then the
 * question answered once per mode. The first mode's answer and verdict are the run's; the
 * others are printed and counted in right[]. */
static int run_retrieval(struct eval_retrieval *er, const struct niah_prompt *np,
    const int32_t *q, size_t nq, const enum kv_select_mode *modes, size_t n_modes,
    size_t *right, int32_t *gen, size_t *n_gen, struct buf *answer, int *ok, char **err)
{
	if (np->n_ids <= nq || memcmp(np->ids + np->n_ids - nq, q, nq * sizeof(int32_t)) != 0)
		return q_error(err, "the prompt does not end in the question's tokens");
	if (eval_retrieval_index(er, np->ids, np->n_ids - nq, err) != 0)
		return -1;
	struct buf other = BUF_INIT;
	for (size_t k = 0; k < n_modes; k++) {
		struct buf *text = k == 0 ? answer : &other;
		if (eval_retrieval_ask(er, modes[k], q, nq, NIAH_MAX_NEW_TOKENS, gen, n_gen, text,
		    err) != 0) {
			buf_free(&other);
			return -1;
		}
		int right_k = eval_passkey_correct(text->data, np->key);
		right[k] += (size_t)right_k;
		if (k == 0)
			*ok = right_k;
		/* how many layers selected the needle's block: the selection's own score */
		printf("  select %s needle_layers %u/%u answer ", mode_name(modes[k]),
		    np->needle_token == SIZE_MAX ? 0 :
		    eval_retrieval_layers_with(er, np->needle_token), er->n_layer);
		eval_fput_quoted(stdout, text->data);
		printf(" %s\n", right_k ? "ok" : "wrong");
		if (er->o->verbose > 0 && er->selected != NULL)
			for (uint32_t l = 0; l < er->n_layer; l++) {
				printf("    layer %u:", l);
				for (size_t i = 0; i < er->n_selected[l]; i++)
					printf(" %llu", (unsigned long long)er->selected[(size_t)l * er->topk + i]);
				putchar('\n');
			}
	}
	buf_free(&other);
	return 0;
}

/* Depth j: --at's percentages, else evenly spaced. */
static double depth_at(const long *at, size_t n_at, size_t j, size_t n_depth)
{
	return n_at > 0 ? (double)at[j] / 100.0 : niah_depth(j, n_depth);
}

static int cmd_niah_exec(struct cmd_ctx *ctx)
{
	const struct opts *o = ctx->opts;
	const char *s_lengths = cmd_value(ctx, "lengths"), *s_grid = cmd_value(ctx, "grid");
	const char *hay_arg = cmd_value(ctx, "haystack"), *csv = cmd_value(ctx, "csv");
	const char *png = cmd_value(ctx, "png"), *prompts_out = cmd_value(ctx, "prompts-out");
	int no_needle = cmd_value(ctx, "no-needle") != NULL;
	long n_depth, digits, at[NIAH_MAX_DEPTHS];
	size_t n_at = 0;
	if (cmd_value_long(ctx, "depths", 1, NIAH_MAX_DEPTHS, 10, &n_depth) ||
	    cmd_value_long(ctx, "digits", 5, 6, 6, &digits))
		return 2;
	if (cmd_value(ctx, "at") != NULL) {
		if (cmd_value_long_list(ctx, "at", NULL, 0, 100, NIAH_MAX_DEPTHS, at, &n_at))
			return 2;
		n_depth = (long)n_at;
	}
	/* the selection modes of --attn retrieval, the first one scored in the table */
	int retrieval = strcmp(o->attn, "retrieval") == 0;
	enum kv_select_mode modes[4];
	size_t n_modes = 0;
	const char *s_select = cmd_value(ctx, "select");
	char *sel_copy = xstrdup(s_select ? s_select : "attention");
	for (char *tok = strtok(sel_copy, ","); tok != NULL; tok = strtok(NULL, ",")) {
		if (n_modes == 4 || eval_retrieval_mode(tok, &modes[n_modes]) != 0 ||
		    modes[n_modes] == KV_SELECT_LEXICAL || modes[n_modes] == KV_SELECT_COMBINED) {
			q_warn("niah: --select: '%s' is not attention or random (lexical selection "
			    "needs a library)", tok);
			free(sel_copy);
			return 2;
		}
		n_modes++;
	}
	free(sel_copy);
	if (s_select != NULL && !retrieval) {
		q_warn("niah: --select needs --attn retrieval");
		return 2;
	}
	long lengths[NIAH_MAX_LENGTHS];
	size_t n_len = 0;
	if (s_lengths != NULL && s_grid != NULL) {
		q_warn("niah: give --lengths or --grid, not both");
		return 2;
	}
	if (s_grid != NULL ? parse_grid(s_grid, lengths, &n_len) :
	    cmd_value_long_list(ctx, "lengths", "1024,2048,4096,8192", 16, NIAH_MAX_LENGTH,
	    NIAH_MAX_LENGTHS, lengths, &n_len))
		return 2;
	long max_len = 0;
	for (size_t i = 0; i < n_len; i++)
		if (lengths[i] > max_len)
			max_len = lengths[i];

	if (png != NULL && !in_path("gnuplot")) {
		/* Said before the runs, not after an hour of them. */
		q_warn("niah: --png needs gnuplot, which is not in PATH (apt-get install gnuplot-nox)");
		return 1;
	}
	char *err = NULL;
	struct eval_haystack hay = { 0 };
	const char *hay_name = "repeat";
	if (hay_arg == NULL || strcmp(hay_arg, "repeat") == 0) {
		eval_haystack_repeat(&hay);
	} else {
		char *text;
		size_t len;
		/* A book is a document: read as bytes, tokenized without special tokens. */
		if (file_read_all(hay_arg, NIAH_MAX_HAYSTACK, &text, &len, &err) != 0) {
			q_warn("niah: %s", err);
			free(err);
			return 1;
		}
		if (eval_haystack_text(text, len, &hay, &err) != 0) {
			q_warn("niah: %s: %s", hay_arg, err);
			free(err);
			free(text);
			return 1;
		}
		free(text);
		hay_name = hay_arg;
	}

	struct model *m;
	if (model_setup_load(o, &m) != 0) {
		eval_haystack_free(&hay);
		return 1;
	}
	int rc = 1;
	struct context *c = NULL;
	FILE *fcsv = NULL, *fprompts = NULL;
	struct niah_cell *cells = xcalloc(n_len * (size_t)n_depth, sizeof(*cells));
	struct buf answer = BUF_INIT;
	struct eval_prefix pf = { 0 };       /* what the context holds, for the next prompt */
	struct eval_retrieval er = { 0 };
	int32_t *q_ids = NULL;
	size_t n_q = 0, right_by_mode[4] = { 0 };
	size_t tokens_all = 0, tokens_reused = 0;
	int32_t gen[NIAH_MAX_NEW_TOKENS];
	if (retrieval) {
		static const char question[] = "\n" NIAH_QUESTION;
		if (eval_retrieval_init(&er, o, m) != 0 ||
		    tokenizer_encode(m->tok, question, strlen(question), 0, &q_ids, &n_q, NULL,
		    &err) != 0)
			goto out;
	} else if (model_setup_context(o, m, (uint32_t)max_len + NIAH_MAX_NEW_TOKENS, &c) != 0) {
		goto out;
	}
	if (csv != NULL && (fcsv = fopen(csv, "w")) == NULL) {
		q_warn("niah: %s: %s", csv, strerror(errno));
		goto out;
	}
	if (prompts_out != NULL && (fprompts = fopen(prompts_out, "w")) == NULL) {
		q_warn("niah: %s: %s", prompts_out, strerror(errno));
		goto out;
	}
	if (fcsv != NULL)
		fprintf(fcsv, "length,depth,seed,key,needle_token,prompt_tokens,prompt_fnv,correct,"
		    "gen_ids,answer\n");
	struct eval_tokenizer tk;
	eval_run_tokenizer(m, &tk);
	uint64_t base = o->seed_set ? o->seed : NIAH_DEFAULT_SEED, state = base;
	printf("niah: %zu lengths x %ld depths, %ld-digit keys, haystack %s, seed %llu%s\n", n_len,
	    n_depth, digits, hay_name, (unsigned long long)base,
	    no_needle ? ", NO NEEDLE (negative control)" : "");
	struct progress pr;
	progress_start(&pr, o, "niah", "runs", n_len * (uint64_t)n_depth);
	size_t n_done = 0, n_right = 0;
	for (size_t i = 0; i < n_len; i++) {
		for (long j = 0; j < n_depth; j++) {
			struct niah_params p = { (size_t)lengths[i], depth_at(at, n_at, (size_t)j,
			    (size_t)n_depth), (int)digits, splitmix64(&state), no_needle, &hay };
			struct niah_prompt np;
			size_t n_gen;
			if (niah_build(&tk, &p, &np, &err) != 0) {
				q_warn("niah: length %ld: %s", lengths[i], err);
				goto out;
			}
			int ok = 0;
			if (retrieval) {
				if (run_retrieval(&er, &np, q_ids, n_q, modes, n_modes, right_by_mode, gen,
				    &n_gen, &answer, &ok, &err) != 0) {
					q_warn("niah: %s", err);
					niah_prompt_free(&np);
					goto out;
				}
			} else {
				if (eval_run_greedy(c, &pf, np.ids, np.n_ids, NIAH_MAX_NEW_TOKENS, gen,
				    &n_gen, &answer, &err) != 0) {
					q_warn("niah: %s", err);
					niah_prompt_free(&np);
					goto out;
				}
				ok = eval_passkey_correct(answer.data, np.key);
			}
			tokens_all += np.n_ids;
			tokens_reused += pf.reused;
			struct niah_cell *cell = &cells[i * (size_t)n_depth + (size_t)j];
			cell->correct = ok;
			cell->done = 1;
			n_done++;
			n_right += (size_t)ok;
			uint64_t fnv = eval_tokens_fnv(np.ids, np.n_ids);
			long needle_tok = np.needle_token == SIZE_MAX ? -1 : (long)np.needle_token;
			printf("length %ld depth %.3f seed %llu key %s needle_token %ld prompt_tokens %zu "
			    "answer ", lengths[i], p.depth, (unsigned long long)p.seed, np.key,
			    needle_tok, np.n_ids);
			eval_fput_quoted(stdout, answer.data);
			printf(" %s\n", ok ? "ok" : "wrong");
			fflush(stdout);
			if (fcsv != NULL) {
				fprintf(fcsv, "%ld,%.4f,%llu,%s,%ld,%zu,%016llx,%d,", lengths[i], p.depth,
				    (unsigned long long)p.seed, np.key, needle_tok, np.n_ids,
				    (unsigned long long)fnv, ok);
				for (size_t t = 0; t < n_gen; t++)
					fprintf(fcsv, "%s%d", t ? " " : "", gen[t]);
				fputc(',', fcsv);
				eval_fput_csv(fcsv, answer.data);
				fputc('\n', fcsv);
			}
			if (fprompts != NULL) {
				fprintf(fprompts, "{\"length\": %ld, \"depth\": %.4f, \"seed\": %llu, "
				    "\"key\": \"%s\", \"needle_token\": %ld, \"prompt_tokens\": %zu, "
				    "\"prompt_fnv\": \"%016llx\", \"correct\": %d, \"gen_ids\": [", lengths[i],
				    p.depth, (unsigned long long)p.seed, np.key, needle_tok, np.n_ids,
				    (unsigned long long)fnv, ok);
				for (size_t t = 0; t < n_gen; t++)
					fprintf(fprompts, "%s%d", t ? ", " : "", gen[t]);
				fputs("], \"tokens\": [", fprompts);
				for (size_t t = 0; t < np.n_ids; t++)
					fprintf(fprompts, "%s%d", t ? ", " : "", np.ids[t]);
				fputs("], \"prompt\": ", fprompts);
				json_write_string_n(fprompts, np.text, np.len);
				fputs("}\n", fprompts);
			}
			niah_prompt_free(&np);
			char note[48];
			snprintf(note, sizeof(note), "%zu/%zu right", n_right, n_done);
			progress_update(&pr, n_done, note);
		}
	}
	progress_end(&pr, n_done);

	/* The table: rows are depths, columns lengths; then the accuracy per length. */
	printf("\ndepth \\ length");
	for (size_t i = 0; i < n_len; i++)
		printf(" %7ld", lengths[i]);
	putchar('\n');
	for (long j = 0; j < n_depth; j++) {
		printf("%13.1f%%", 100 * depth_at(at, n_at, (size_t)j, (size_t)n_depth));
		for (size_t i = 0; i < n_len; i++)
			printf(" %7s", cells[i * (size_t)n_depth + (size_t)j].correct ? "1" : "0");
		putchar('\n');
	}
	printf("%14s", "accuracy");
	for (size_t i = 0; i < n_len; i++) {
		int r = 0;
		for (long j = 0; j < n_depth; j++)
			r += cells[i * (size_t)n_depth + (size_t)j].correct;
		printf(" %7.2f", (double)r / (double)n_depth);
	}
	putchar('\n');
	if (png != NULL) {
		char title[320];
		snprintf(title, sizeof(title), "passkey retrieval, %s, %ld-digit keys, %zu/%zu right",
		    m->hp.name[0] ? m->hp.name : m->hp.arch_name, digits, n_right, n_done);
		if (draw_png(png, lengths, n_len, (size_t)n_depth, cells, title) != 0)
			goto out;
	}
	if (retrieval) {
		printf("retrieval: %llu tokens indexed in %.1f s; questions answered in %.1f s\n",
		    (unsigned long long)er.indexed, er.index_s, er.ask_s);
		for (size_t k = 1; k < n_modes; k++)
			printf("accuracy[%s]: %zu/%zu\n", mode_name(modes[k]), right_by_mode[k], n_done);
	} else {
		printf("prompt tokens: %zu, of which %zu were the previous prompt's and not run "
		    "again\n", tokens_all, tokens_reused);
	}
	printf("accuracy: %zu/%zu\n", n_right, n_done);
	rc = 0;
out:
	if (fcsv != NULL && fclose(fcsv) != 0 && rc == 0) {
		q_warn("niah: %s: %s", csv, strerror(errno));
		rc = 1;
	}
	if (fprompts != NULL && fclose(fprompts) != 0 && rc == 0) {
		q_warn("niah: %s: %s", prompts_out, strerror(errno));
		rc = 1;
	}
	free(err);
	free(cells);
	buf_free(&answer);
	eval_prefix_free(&pf);
	eval_retrieval_free(&er);
	free(q_ids);
	eval_haystack_free(&hay);
	context_free(c);
	model_free(m);
	return rc;
}

static const struct cmd_option niah_options[] = {
	{ "lengths", 0, 1, "L1,L2,...", "prompt lengths in tokens (default 1024,2048,4096,8192)" },
	{ "grid", 0, 1, "MIN:MAX:N", "N lengths evenly spaced from MIN to MAX" },
	{ "depths", 0, 1, "N", "needle depths per length, evenly spaced from 0 to 1 (default 10)" },
	{ "digits", 0, 1, "5|6", "digits of the pass key (default 6)" },
	{ "haystack", 0, 1, "repeat|FILE", "filler: the garbage sentences (default) or a book" },
	{ "csv", 0, 1, "FILE", "write one CSV row per run" },
	{ "png", 0, 1, "FILE", "draw the depth x length grid as a heat map (gnuplot)" },
	{ "prompts-out", 0, 1, "FILE", "write each prompt and its tokens as a JSON line" },
	{ "no-needle", 0, 0, NULL, "leave the information line out (negative control)" },
	{ "at", 0, 1, "P1,P2,...", "needle depths in percent, instead of --depths" },
	{ "select", 0, 1, "MODE,...",
	  "--attn retrieval: attention (default) and/or random block selection, each scored" },
	{ NULL, 0, 0, NULL, NULL }
};

const struct cmd_entry cmd_niah_entry = {
	.name = "niah", .summary = "needle-in-a-haystack evaluation; ends with 'accuracy: X/Y'",
	.options = niah_options, .max_args = 0, .exec = cmd_niah_exec,
};
