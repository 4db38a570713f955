/* cmd-run.c: `quire run`: plain generation with the model, no corpus. The prompt comes from -p
 * or -f; only the generated text goes to stdout, streamed as whole UTF-8 characters. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/chat.h"
#include "engine/context.h"
#include "engine/sample.h"
#include "engine/tokenizer.h"
#include "lib/buf.h"
#include "lib/file.h"
#include "lib/utf8.h"
#include "lib/util.h"
#include "tui/model-setup.h"
#include "tui/cmd.h"

#define RUN_MAX_PROMPT_FILE ((size_t)256 << 20)

static int cmd_run_exec(struct cmd_ctx *ctx)
{
	const struct opts *o = ctx->opts;
	const char *prompt = cmd_value(ctx, "prompt"), *file = cmd_value(ctx, "file");
	long n_predict, top_k;
	double top_p, min_p, repeat_penalty;
	if (cmd_value_long(ctx, "n-predict", 0, 1L << 24, 256, &n_predict) ||
	    cmd_value_long(ctx, "top-k", 0, 1L << 24, 40, &top_k) ||
	    cmd_value_double(ctx, "top-p", 0.0, 1.0, 0.95, &top_p) ||
	    cmd_value_double(ctx, "min-p", 0.0, 1.0, 0.05, &min_p) ||
	    cmd_value_double(ctx, "repeat-penalty", 0.0, 10.0, 1.0, &repeat_penalty))
		return 2;
	if ((prompt == NULL) == (file == NULL)) {
		q_warn("run: give the prompt with exactly one of -p PROMPT and -f FILE");
		return 2;
	}
	char *err = NULL, *text = NULL;
	size_t len;
	if (file != NULL) {
		if (file_read_all(file, RUN_MAX_PROMPT_FILE, &text, &len, &err) != 0) {
			q_warn("%s", err);
			free(err);
			return 1;
		}
	} else {
		text = xstrdup(prompt);
		len = strlen(text);
	}

	struct model *m;
	if (model_setup_load(o, &m) != 0) {
		free(text);
		return 1;
	}
	int rc = 1;
	int32_t *ids = NULL;
	size_t n_ids = 0;
	struct context *c = NULL;
	struct sampler *s = NULL;
	float *logits = NULL;
	struct buf pending = BUF_INIT;
	if (cmd_value(ctx, "chat") != NULL) {
		/* One user turn in the model's own template; only the template makes control
		 * tokens, the user's text stays text. */
		struct chat_template *tmpl = NULL;
		char *warning = NULL;
		if (chat_template_from_gguf(m->gguf, m->tok, &tmpl, &warning, &err) != 0) {
			q_warn("%s", err);
			goto out;
		}
		if (warning != NULL) {
			q_warn("%s", warning);
			free(warning);
		}
		struct chat_message msg = { CHAT_ROLE_USER, text, len };
		int crc = chat_tokenize(tmpl, m->tok, &msg, 1, 1, &ids, &n_ids, &err);
		chat_template_free(tmpl);
		if (crc != 0) {
			q_warn("%s", err);
			goto out;
		}
	} else if (tokenizer_encode(m->tok, text, len, TOK_ADD_SPECIAL, &ids, &n_ids, NULL,
	    &err) != 0) {
		/* A plain prompt is the user's text: special-token strings in it stay text. */
		q_warn("%s", err);
		goto out;
	}
	if (n_ids == 0) {
		q_warn("run: the prompt is empty");
		goto out;
	}
	if (model_setup_context(o, m, 0, &c) != 0)
		goto out;
	if (n_ids + (size_t)n_predict > c->n_ctx) {
		if (n_ids >= c->n_ctx) {
			q_warn("run: the prompt has %zu tokens; the context holds %u (--ctx)", n_ids,
			    c->n_ctx);
			goto out;
		}
		n_predict = (long)(c->n_ctx - n_ids);
	}
	struct sampler_params sp = SAMPLER_PARAMS_DEFAULT;
	sp.temp = (float)o->temp;
	sp.top_k = (int)top_k;
	sp.top_p = (float)top_p;
	sp.min_p = (float)min_p;
	sp.repeat_penalty = (float)repeat_penalty;
	sp.seed = o->seed_set ? o->seed : (uint64_t)time(NULL) ^ ((uint64_t)clock() << 32);
	s = sampler_new(&sp, m->hp.n_vocab);
	for (size_t i = 0; i < n_ids; i++)
		sampler_accept(s, ids[i]);
	logits = xreallocarray(NULL, m->hp.n_vocab, sizeof(float));

	double t0 = q_now();
	if (forward(c, ids, n_ids, logits, 0, &err) != 0) {
		q_warn("%s", err);
		goto out;
	}
	double t1 = q_now();
	long produced = 0;
	for (; produced < n_predict; produced++) {
		int32_t tok = sampler_sample(s, logits);
		if (tokenizer_is_eog(m->tok, tok))
			break;
		sampler_accept(s, tok);
		tokenizer_decode_token(m->tok, tok, &pending);
		size_t keep = utf8_incomplete_tail(pending.data, pending.len);
		fwrite(pending.data, 1, pending.len - keep, stdout);
		fflush(stdout);
		memmove(pending.data, pending.data + pending.len - keep, keep);
		pending.len = keep;
		if (produced + 1 < n_predict && forward(c, &tok, 1, logits, 0, &err) != 0) {
			q_warn("%s", err);
			goto out;
		}
	}
	fwrite(pending.data ? pending.data : "", 1, pending.len, stdout);
	fputc('\n', stdout);
	double t2 = q_now();
	if (o->verbose > 0)
		fprintf(stderr, "prompt: %zu tokens in %.3f s (%.1f t/s); generated: %ld tokens in "
		    "%.3f s (%.1f t/s)\n", n_ids, t1 - t0, (double)n_ids / (t1 - t0), produced,
		    t2 - t1, (double)produced / (t2 - t1));
	rc = 0;
out:
	free(err);
	free(text);
	free(ids);
	free(logits);
	buf_free(&pending);
	sampler_free(s);
	context_free(c);
	model_free(m);
	return rc;
}

static const struct cmd_option run_options[] = {
	{ "prompt", 'p', 1, "PROMPT", "the prompt text" },
	{ "file", 'f', 1, "FILE", "read the prompt from FILE" },
	{ "n-predict", 'n', 1, "N", "generate at most N tokens (default 256)" },
	{ "chat", 0, 0, NULL, "wrap the prompt in the model's chat template" },
	{ "top-k", 0, 1, "K", "sample from the K most likely tokens (default 40, 0 = all)" },
	{ "top-p", 0, 1, "P", "nucleus sampling mass (default 0.95)" },
	{ "min-p", 0, 1, "P", "drop tokens below P times the best one's probability (default 0.05)" },
	{ "repeat-penalty", 0, 1, "R", "penalty on the last 64 tokens (default 1 = off)" },
	{ NULL, 0, 0, NULL, NULL }
};

const struct cmd_entry cmd_run_entry = {
	.name = "run", .summary = "generate text with the model (no corpus)",
	.options = run_options, .max_args = 0, .exec = cmd_run_exec,
};
