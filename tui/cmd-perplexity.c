/* cmd-perplexity.c: `quire perplexity FILE`: perplexity over sliding windows exactly as
 * LongRoPE's evaluation/perplexity.py scores it: windows of --ctx tokens (BOS first
 * when the model wants one) advancing by --stride, each scoring only the tokens no earlier
 * window scored, PPL = exp(mean of the window means). Ends with "ppl: X". */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "engine/context.h"
#include "engine/perplexity.h"
#include "engine/tokenizer.h"
#include "lib/file.h"
#include "lib/util.h"
#include "tui/model-setup.h"
#include "tui/cmd.h"
#include "tui/progress.h"

#define PPL_MAX_FILE ((size_t)1 << 31)

static int cmd_perplexity_exec(struct cmd_ctx *ctx)
{
	const struct opts *o = ctx->opts;
	const char *path = ctx->argv[0];
	long ctx_len = o->ctx ? o->ctx : 512;
	long stride;
	if (cmd_value_long(ctx, "stride", 1, 1L << 30, ctx_len, &stride) != 0)
		return 2;
	if (ctx_len < 2) {
		q_warn("perplexity: --ctx must be at least 2");
		return 2;
	}

	char *err = NULL, *text;
	size_t len;
	if (file_read_all(path, PPL_MAX_FILE, &text, &len, &err) != 0) {
		q_warn("%s", err);
		free(err);
		return 1;
	}
	struct model *m;
	if (model_setup_load(o, &m) != 0) {
		free(text);
		return 1;
	}
	int rc = 1;
	int32_t *tokens = NULL;
	size_t n_tok = 0;
	struct context *c = NULL;
	/* A text file is a document: its special-token strings stay plain text. */
	if (tokenizer_encode(m->tok, text, len, 0, &tokens, &n_tok, NULL, &err) != 0) {
		q_warn("%s: %s", path, err);
		goto out;
	}
	int32_t bos = tokenizer_add_bos(m->tok) ? tokenizer_bos(m->tok) : -1;
	size_t l1 = (size_t)ctx_len - (bos >= 0 ? 1 : 0);
	if (n_tok < l1 + (bos >= 0 ? 0 : 1)) {
		q_warn("%s: %zu tokens, fewer than one window of %ld", path, n_tok, ctx_len);
		goto out;
	}
	if (model_setup_context(o, m, (uint32_t)ctx_len, &c) != 0)
		goto out;

	size_t n_windows = 0;
	for (size_t begin = 0; begin + l1 <= n_tok; begin += (size_t)stride)
		n_windows++;
	struct progress pr;
	progress_start(&pr, o, "perplexity", "windows", n_windows);
	int32_t *input = xreallocarray(NULL, (size_t)ctx_len, sizeof(int32_t));
	double sum_window_means = 0, nll_all = 0;
	size_t scored_all = 0, prev_end = 0, w = 0;
	for (size_t begin = 0; begin + l1 <= n_tok; begin += (size_t)stride, w++) {
		size_t end = begin + l1;
		size_t trg_len = end - prev_end;
		size_t n_in = 0;
		if (bos >= 0)
			input[n_in++] = bos;
		for (size_t i = begin; i < end; i++)
			input[n_in++] = tokens[i];
		size_t first = n_in - (trg_len < n_in ? trg_len : n_in);
		double nll = 0;
		size_t scored = 0;
		context_reset(c);
		if (ppl_score(c, input, n_in, first, &nll, &scored, NULL, &err) != 0) {
			q_warn("%s: %s", path, err);
			free(input);
			goto out;
		}
		sum_window_means += nll / (double)scored;
		nll_all += nll;
		scored_all += scored;
		prev_end = end;
		char note[64];
		snprintf(note, sizeof(note), "ppl so far %.4f", exp(sum_window_means / (double)(w + 1)));
		progress_update(&pr, w + 1, note);
	}
	progress_end(&pr, w);
	free(input);
	printf("tokens: %zu, windows: %zu of %ld (stride %ld), scored: %zu\n", n_tok, w,
	    ctx_len, stride, scored_all);
	printf("token-weighted ppl: %.4f\n", exp(nll_all / (double)scored_all));
	printf("ppl: %.4f\n", exp(sum_window_means / (double)w));
	rc = 0;
out:
	free(err);
	free(tokens);
	free(text);
	context_free(c);
	model_free(m);
	return rc;
}

static const struct cmd_option perplexity_options[] = {
	{ "stride", 0, 1, "S", "tokens each window advances (default: --ctx, no overlap)" },
	{ NULL, 0, 0, NULL, NULL }
};

const struct cmd_entry cmd_perplexity_entry = {
	.name = "perplexity", .usage = "FILE",
	.summary = "perplexity of the model over a text (--ctx default 512); ends with 'ppl: X'",
	.options = perplexity_options, .min_args = 1, .max_args = 1,
	.exec = cmd_perplexity_exec,
};
