/* cmd-ask.c: `quire ask QUESTION`: the question in the model's chat template, answered over
 * the library's corpus cache without prefilling the corpus again; the answer streams to
 * stdout, or comes with its timing in one JSON document (--json). Exact attention over an
 * exact cache that fits the window; otherwise retrieval attention over the blocks the
 * question selects (engine/kv-retrieve.c). Citations, the lexical path and sessions come
 * next (man/quire.1 says which is which). */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/chat.h"
#include "engine/kv-cache.h"
#include "engine/kv-retrieve.h"
#include "engine/kv-summary.h"
#include "engine/sample.h"
#include "engine/tokenizer.h"
#include "lib/buf.h"
#include "lib/json.h"
#include "lib/utf8.h"
#include "lib/util.h"
#include "tui/cmd.h"
#include "tui/kv-setup.h"
#include "tui/library.h"
#include "tui/model-setup.h"

/* What the model is told before the question (the documents precede it in the cache). */
static const char ask_system[] =
    "You answer questions about the documents above. Answer from them alone, briefly; if they "
    "do not hold the answer, say that the documents do not say.";

struct ask_run {
	struct buf answer;          /* the answer's text */
	size_t prefilled;           /* template and question tokens */
	uint64_t attended;          /* corpus tokens the answer attended over */
	long produced;              /* answer tokens */
	double ttft, total;         /* seconds to the first answer token, and to the last */
};

/* The question in the chat template: a system message and the user's turn. */
static int question_tokens(const struct model *m, const char *q, int32_t **ids, size_t *n)
{
	struct chat_template *tmpl = NULL;
	char *warning = NULL, *err = NULL;
	if (chat_template_from_gguf(m->gguf, m->tok, &tmpl, &warning, &err) != 0) {
		q_warn("%s", err);
		free(err);
		return -1;
	}
	free(warning);
	struct chat_message msgs[2] = {
		{ CHAT_ROLE_SYSTEM, ask_system, strlen(ask_system) },
		{ CHAT_ROLE_USER, q, strlen(q) },
	};
	int rc = chat_tokenize(tmpl, m->tok, msgs, 2, 1, ids, n, &err);
	chat_template_free(tmpl);
	if (rc != 0) {
		q_warn("%s", err);
		free(err);
	}
	return rc;
}

/* Prefill the question after the cache, then generate greedily (or by --temp), streaming. */
static int answer(const struct opts *o, const struct model *m, struct context *c,
    const int32_t *ids, size_t n_ids, long n_predict, struct ask_run *r)
{
	struct sampler_params sp = SAMPLER_PARAMS_DEFAULT;
	sp.temp = o->temp_set ? (float)o->temp : 0.0f;
	sp.seed = o->seed_set ? o->seed : (uint64_t)time(NULL);
	struct sampler *s = sampler_new(&sp, m->hp.n_vocab);
	float *logits = xreallocarray(NULL, m->hp.n_vocab, sizeof(float));
	struct buf pending = BUF_INIT;
	char *err = NULL;
	int rc = -1;
	r->attended = c->n_past;
	double t0 = q_now();
	if (forward(c, ids, n_ids, logits, 0, &err) != 0)
		goto out;
	r->prefilled = n_ids;
	for (; r->produced < n_predict; r->produced++) {
		int32_t tok = sampler_sample(s, logits);
		if (r->produced == 0)
			r->ttft = q_now() - t0;
		if (tokenizer_is_eog(m->tok, tok))
			break;
		sampler_accept(s, tok);
		size_t before = pending.len;
		tokenizer_decode_token(m->tok, tok, &pending);
		buf_append(&r->answer, pending.data + before, pending.len - before);
		if (!o->json) {
			size_t keep = utf8_incomplete_tail(pending.data, pending.len);
			fwrite(pending.data, 1, pending.len - keep, stdout);
			fflush(stdout);
			memmove(pending.data, pending.data + pending.len - keep, keep);
			pending.len = keep;
		}
		if (r->produced + 1 < n_predict && c->n_past < c->n_ctx &&
		    forward(c, &tok, 1, logits, 0, &err) != 0)
			goto out;
		if (c->n_past >= c->n_ctx) {
			r->produced++;
			break;
		}
	}
	if (!o->json) {
		fwrite(pending.data ? pending.data : "", 1, pending.len, stdout);
		fputc('\n', stdout);
	}
	r->total = q_now() - t0;
	rc = 0;
out:
	if (err != NULL) {
		q_warn("%s", err);
		free(err);
	}
	buf_free(&pending);
	free(logits);
	sampler_free(s);
	return rc;
}

static void print_json(const struct ask_run *r, const char *attn, const char *cache,
    const struct kv_retrieve *rt, const struct kv_file_params *p)
{
	double gen = r->total - r->ttft;
	printf("{\"answer\": ");
	json_write_string_n(stdout, r->answer.data ? r->answer.data : "", r->answer.len);
	printf(", \"attention\": \"%s\", \"cache\": ", attn);
	json_write_string(stdout, cache);
	if (rt != NULL) {
		/* what each layer selected besides block 0 (always attended): block indices, a
		 * block being p->block_tokens corpus positions from index * block_tokens on */
		printf(", \"retrieval\": {\"block_tokens\": %u, \"select_ms\": %.1f, "
		    "\"layers\": [", p->block_tokens, kv_retrieve_seconds(rt) * 1000.0);
		for (uint32_t l = 0; l < p->n_layer; l++) {
			size_t n;
			const uint64_t *sel = kv_retrieve_selected(rt, l, &n);
			printf("%s[", l ? ", " : "");
			for (size_t i = 0; i < n; i++)
				printf("%s%llu", i ? ", " : "", (unsigned long long)sel[i]);
			printf("]");
		}
		printf("]}");
	}
	printf(", \"timing\": {\"tokens_prefilled\": %zu, \"tokens_attended\": %llu, "
	    "\"answer_tokens\": %ld, \"time_to_first_token_ms\": %.1f, \"tokens_per_s\": %.2f}}\n",
	    r->prefilled, (unsigned long long)r->attended, r->produced, r->ttft * 1000.0,
	    r->produced > 1 && gen > 0 ? (double)(r->produced - 1) / gen : 0.0);
}

/* Words of a question that say what it is about: not the ones every question has. */
static int stop_word(const char *w, size_t n)
{
	static const char *const words[] = {
		"the", "and", "for", "are", "was", "were", "what", "which", "who", "whom", "whose",
		"when", "where", "why", "how", "does", "did", "can", "could", "may", "might", "must",
		"shall", "should", "will", "would", "has", "have", "had", "that", "this", "these",
		"those", "with", "from", "into", "about", "there", "their", "they", "them", "than",
		"then", "its", "but", "not", "any", "all", "each", "say", "says", "said", "tell",
		"you", "your", "our", "his", "her", "him", "she", "one", "been", "being", "also",
		NULL
	};
	for (const char *const *p = words; *p; p++)
		if (strlen(*p) == n && strncmp(*p, w, n) == 0)
			return 1;
	return 0;
}

/* The blocks that full-text search finds for the question's words (any of them, BM25
 * order): the lexical candidates of retrieval. */
static int lexical_blocks(struct store *s, const struct kv_corpus *c, const char *question,
    uint32_t block_tokens, size_t limit, uint64_t **blocks, size_t *n_blocks)
{
	*blocks = NULL;
	*n_blocks = 0;
	struct buf q = BUF_INIT;
	char word[64];
	for (const char *p = question; *p;) {
		size_t n = 0;
		while (*p && (isalnum((unsigned char)*p) || (unsigned char)*p >= 0x80)) {
			if (n < sizeof word - 1)
				word[n++] = (char)tolower((unsigned char)*p);
			p++;
		}
		if (n >= 3 && !stop_word(word, n)) {
			if (q.len > 0)
				buf_append(&q, " OR ", 4);
			buf_append(&q, "\"", 1);
			buf_append(&q, word, n);
			buf_append(&q, "\"", 1);
		}
		if (*p && n == 0)
			p++;
	}
	if (q.len == 0) {
		buf_free(&q);
		return 0;
	}
	buf_append(&q, "", 1);
	struct store_hit *hits = NULL;
	size_t n_hits = 0;
	char *err = NULL;
	int rc = -1;
	if (store_search(s, q.data, 1, (int)limit, "", "", &hits, &n_hits, &err) != 0) {
		q_warn("ask: %s", err);
		free(err);
		goto out;
	}
	*blocks = xreallocarray(NULL, n_hits ? n_hits : 1, sizeof(uint64_t));
	for (size_t i = 0; i < n_hits; i++) {
		int64_t pos = kv_corpus_position_of(s, c, hits[i].doc_id, hits[i].byte_start);
		if (pos >= 0)
			(*blocks)[(*n_blocks)++] = (uint64_t)pos / block_tokens;
	}
	rc = 0;
out:
	store_hits_free(hits, n_hits);
	buf_free(&q);
	return rc;
}

/* The cache of this model and these options, checked against the library's corpus, which
 * stays in *corpus for the caller (the caller frees it, also on failure). */
static int open_cache(const struct opts *o, struct store *s, const struct model *m,
    struct kv_corpus *corpus, struct kv_file **f, char **path)
{
	struct kv_file_params p;
	*f = NULL;
	*path = NULL;
	if (kv_setup_params(o, m, &p) != 0 || kv_corpus_load(s, m, corpus) != 0)
		return -1;
	int rc = -1;
	char *err = NULL;
	*path = kv_setup_path(o, &p);
	if (corpus->n_docs == 0) {
		q_warn("ask: the library has no documents (quire ingest PATH adds some)");
		goto out;
	}
	if (kv_file_open_read(*path, &p, f, &err) != 0) {
		q_warn("%s", err);
		q_warn("ask: the library has no corpus cache for this model and these options "
		    "(model, --kv-type, --block, --sinks, --window, RoPE); `quire index` builds it");
		goto out;
	}
	struct kv_file_commit last;
	kv_file_last_commit(*f, &last);
	if (kv_corpus_check(*path, *f, corpus) != 0)
		goto out;
	if (last.n_tokens < corpus->n_tokens) {
		q_warn("ask: the cache holds %llu of the library's %llu tokens; `quire index` adds "
		    "the rest", (unsigned long long)last.n_tokens,
		    (unsigned long long)corpus->n_tokens);
		goto out;
	}
	rc = 0;
out:
	free(err);
	if (rc != 0) {
		kv_file_close(*f);
		*f = NULL;
	}
	return rc;
}

static int cmd_ask_exec(struct cmd_ctx *ctx)
{
	const struct opts *o = ctx->opts;
	long n_predict;
	if (cmd_value_long(ctx, "n-predict", 1, 1L << 20, 256, &n_predict))
		return 2;
	char *question = cmd_args_joined(ctx);
	size_t qlen = strlen(question);
	while (qlen > 0 && (question[qlen - 1] == ' ' || question[qlen - 1] == '\n'))
		qlen--;
	if (qlen == 0 || !utf8_valid(question, strlen(question), NULL)) {
		q_warn("ask: %s", qlen == 0 ? "the question is empty" : "the question is not UTF-8");
		free(question);
		return 2;
	}
	struct store *s = NULL;
	struct model *m = NULL;
	struct kv_file *f = NULL;
	struct context *c = NULL;
	int32_t *ids = NULL;
	size_t n_ids = 0;
	char *path = NULL, *err = NULL, *sum_path = NULL;
	struct kv_summary_file *sf = NULL;
	struct kv_retrieve *rt = NULL;
	uint64_t *cands = NULL;
	struct kv_corpus corpus = { 0 };
	struct ask_run r = { .answer = BUF_INIT };
	int rc = 1;
	if (library_open(o, STORE_READ, "ask", &s) != 0 || model_setup_load(o, &m) != 0 ||
	    open_cache(o, s, m, &corpus, &f, &path) != 0)
		goto out;
	struct kv_file_commit last;
	kv_file_last_commit(f, &last);
	const struct kv_file_params *kp = kv_file_get_params(f);
	uint32_t window = model_setup_window(o, m);
	int exact = kv_cache_is_exact(f) && last.n_tokens < window;
	if (strcmp(o->attn, "exact") == 0 && !exact) {
		q_warn("ask: --attn exact: %s", !kv_cache_is_exact(f) ? "the cache was indexed with a "
		    "window shorter than the corpus (index again with --window at least the corpus "
		    "length)" : "the corpus is longer than the model's window (--ctx)");
		goto out;
	}
	if (strcmp(o->attn, "retrieval") == 0)
		exact = 0;
	if (question_tokens(m, question, &ids, &n_ids) != 0)
		goto out;
	uint64_t before = exact ? last.n_tokens : kv_retrieve_slots(kp, (uint32_t)o->topk);
	if (before + n_ids + 1 > window) {
		q_warn("ask: the question (%zu tokens) does not fit after the %llu tokens of the "
		    "corpus it attends to in the window of %u%s", n_ids, (unsigned long long)before,
		    window, exact ? "" : " (a smaller --topk leaves more room)");
		goto out;
	}
	if (model_setup_cache_context(o, m, window, 0, &c) != 0)
		goto out;
	if (exact) {
		if (kv_cache_load_exact(c, f, &err) != 0) {
			q_warn("%s", err);
			goto out;
		}
	} else {
		sum_path = kv_summary_path(path);
		if (kv_summary_open(sum_path, kp, 0, &sf, &err) != 0) {
			q_warn("%s (the summaries are rebuilt from the blocks for this question)", err);
			free(err);
			err = NULL;
		}
		const char *sel = cmd_value(ctx, "select");
		struct kv_retrieve_params rp = {
			.topk = (uint32_t)o->topk,
			.mode = KV_SELECT_COMBINED,
			.seed = o->seed_set ? o->seed : 1,
		};
		if (sel == NULL || strcmp(sel, "combined") == 0)
			rp.mode = KV_SELECT_COMBINED;
		else if (strcmp(sel, "attention") == 0)
			rp.mode = KV_SELECT_ATTENTION;
		else if (strcmp(sel, "lexical") == 0)
			rp.mode = KV_SELECT_LEXICAL;
		else if (strcmp(sel, "random") == 0)
			rp.mode = KV_SELECT_RANDOM;
		else {
			q_warn("ask: --select: '%s' is not one of attention, lexical, combined, random",
			    sel);
			rc = 2;
			goto out;
		}
		if ((rp.mode == KV_SELECT_LEXICAL || rp.mode == KV_SELECT_COMBINED) &&
		    lexical_blocks(s, &corpus, question, kp->block_tokens, (size_t)o->topk, &cands,
		    &rp.n_candidates) != 0)
			goto out;
		rp.candidates = cands;
		if (kv_retrieve_begin(c, f, sf, &rp, &rt, &err) != 0) {
			q_warn("ask: %s", err);
			goto out;
		}
	}
	if (answer(o, m, c, ids, n_ids, n_predict, &r) != 0)
		goto out;
	if (rt != NULL && kv_retrieve_recomputed(rt) > 0 && !o->quiet)
		q_warn("ask: %zu block summaries were missing or damaged in %s and were rebuilt from "
		    "their blocks (quire check names them; quire index --gc and index rebuild the "
		    "file)", kv_retrieve_recomputed(rt), sum_path);
	if (o->json)
		print_json(&r, exact ? "exact" : "retrieval", path, rt, kp);
	else if (o->verbose > 0)
		fprintf(stderr, "ask: %zu tokens prefilled over %llu cached; first token after %.0f "
		    "ms; %ld tokens\n", r.prefilled, (unsigned long long)r.attended, r.ttft * 1000.0,
		    r.produced);
	rc = 0;
out:
	free(err);
	free(ids);
	free(path);
	buf_free(&r.answer);
	free(question);
	kv_retrieve_free(rt);
	free(cands);
	kv_corpus_free(&corpus);
	kv_summary_close(sf);
	free(sum_path);
	context_free(c);
	kv_file_close(f);
	model_free(m);
	store_close(s);
	return rc;
}

static const struct cmd_option ask_options[] = {
	{ "n-predict", 'n', 1, "N", "answer with at most N tokens (default 256)" },
	{ "select", 0, 1, "combined|attention|lexical|random",
	  "retrieval: how blocks are chosen (default combined; random: a control for tests)" },
	{ NULL, 0, 0, NULL, NULL }
};

const struct cmd_entry cmd_ask_entry = {
	.name = "ask", .usage = "QUESTION",
	.summary = "answer a question over the library's corpus cache",
	.options = ask_options, .min_args = 1, .max_args = -1,
	.exec = cmd_ask_exec,
};
