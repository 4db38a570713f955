/* eval-ruler.c: the RULER and InfiniteBench synthetic task generators and their scores. Every
 * prompt is rebuilt from the sample seed for each filler amount the search tries, so one seed
 * and one length always give one prompt. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/sample.h"
#include "lib/buf.h"
#include "lib/util.h"
#include "tui/eval-ruler.h"

enum { K_NIAH, K_VT, K_CWE, K_FWE, K_IB_PASSKEY, K_IB_NUMBER, K_IB_KV };
enum { HAY_REPEAT, HAY_ESSAY, HAY_NEEDLE };
enum { T_WORDS, T_NUMBERS, T_UUIDS };

const struct ruler_task ruler_tasks[] = {
	{ "niah_single_1", "RULER", 128, RULER_MATCH_ALL, 0, K_NIAH,
	    HAY_REPEAT, T_WORDS, T_NUMBERS, 1, 1, 1 },
	{ "niah_single_2", "RULER", 128, RULER_MATCH_ALL, 1, K_NIAH,
	    HAY_ESSAY, T_WORDS, T_NUMBERS, 1, 1, 1 },
	{ "niah_single_3", "RULER", 128, RULER_MATCH_ALL, 1, K_NIAH,
	    HAY_ESSAY, T_WORDS, T_UUIDS, 1, 1, 1 },
	{ "niah_multikey_1", "RULER", 128, RULER_MATCH_ALL, 1, K_NIAH,
	    HAY_ESSAY, T_WORDS, T_NUMBERS, 4, 1, 1 },
	{ "niah_multikey_2", "RULER", 128, RULER_MATCH_ALL, 0, K_NIAH,
	    HAY_NEEDLE, T_WORDS, T_NUMBERS, 1, 1, 1 },
	{ "niah_multikey_3", "RULER", 128, RULER_MATCH_ALL, 0, K_NIAH,
	    HAY_NEEDLE, T_UUIDS, T_UUIDS, 1, 1, 1 },
	{ "niah_multivalue", "RULER", 128, RULER_MATCH_ALL, 1, K_NIAH,
	    HAY_ESSAY, T_WORDS, T_NUMBERS, 1, 4, 1 },
	{ "niah_multiquery", "RULER", 128, RULER_MATCH_ALL, 1, K_NIAH,
	    HAY_ESSAY, T_WORDS, T_NUMBERS, 4, 1, 4 },
	{ "vt", "RULER", 30, RULER_MATCH_ALL, 0, K_VT, 0, 0, 0, 0, 0, 0 },
	{ "cwe", "RULER", 120, RULER_MATCH_ALL, 0, K_CWE, 0, 0, 0, 0, 0, 0 },
	{ "fwe", "RULER", 50, RULER_MATCH_ALL, 0, K_FWE, 0, 0, 0, 0, 0, 0 },
	{ "passkey", "InfiniteBench", 6, RULER_FIRST_INT, 0, K_IB_PASSKEY, 0, 0, 0, 0, 0, 0 },
	{ "number_string", "InfiniteBench", 12, RULER_FIRST_INT, 0, K_IB_NUMBER, 0, 0, 0, 0, 0,
	    0 },
	{ "kv_retrieval", "InfiniteBench", 50, RULER_KV_WORD, 0, K_IB_KV, 0, 0, 0, 0, 0, 0 },
};
const size_t ruler_n_tasks = Q_ARRAY_LEN(ruler_tasks);

const struct ruler_task *ruler_task_find(const char *name)
{
	for (size_t i = 0; i < ruler_n_tasks; i++)
		if (strcmp(ruler_tasks[i].name, name) == 0)
			return &ruler_tasks[i];
	return NULL;
}

#define GARBAGE "The grass is green. The sky is blue. The sun is yellow. Here we go. " \
	"There and back again."

/* A growable list of strings the builder owns. */
struct strs {
	char **s;
	size_t n, cap;
};

static void strs_push(struct strs *l, char *s)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 16;
		l->s = xreallocarray(l->s, l->cap, sizeof(char *));
	}
	l->s[l->n++] = s;
}

static void strs_insert(struct strs *l, size_t at, char *s)
{
	strs_push(l, s);
	if (at > l->n - 1)
		at = l->n - 1;         /* Python's list.insert past the end appends */
	memmove(l->s + at + 1, l->s + at, (l->n - 1 - at) * sizeof(char *));
	l->s[at] = s;
}

static void strs_free(struct strs *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->s[i]);
	free(l->s);
	memset(l, 0, sizeof(*l));
}

static void strs_join(const struct strs *l, size_t from, size_t to, const char *sep,
    struct buf *out)
{
	for (size_t i = from; i < to; i++) {
		if (i > from)
			buf_append_str(out, sep);
		buf_append_str(out, l->s[i]);
	}
}

/* Replace every occurrence of from in s (malloc'd result, s freed), like str.replace. */
static char *replace_all(char *s, const char *from, const char *to)
{
	struct buf b = BUF_INIT;
	size_t fl = strlen(from);
	const char *p = s, *hit;
	while ((hit = strstr(p, from)) != NULL) {
		buf_append(&b, p, (size_t)(hit - p));
		buf_append_str(&b, to);
		p = hit + fl;
	}
	buf_append_str(&b, p);
	free(s);
	return buf_steal(&b);
}

/* Substitute {X} placeholders: vars is "X", value, "Y", value, ..., NULL. */
static void format(struct buf *out, const char *tmpl, const char *const *vars)
{
	const char *p = tmpl;
	while (*p) {
		if (*p == '{') {
			int done = 0;
			for (size_t i = 0; vars[i] != NULL; i += 2) {
				size_t n = strlen(vars[i]);
				if (strncmp(p + 1, vars[i], n) == 0 && p[1 + n] == '}') {
					buf_append_str(out, vars[i + 1]);
					p += n + 2;
					done = 1;
					break;
				}
			}
			if (done)
				continue;
		}
		buf_append_char(out, *p++);
	}
}

static char *rand_value(uint64_t *st, int type, const struct eval_words *w)
{
	char u[37];
	switch (type) {
	case T_NUMBERS:
		return xasprintf("%llu", (unsigned long long)eval_rand_range(st, 1000000, 9999999));
	case T_UUIDS:
		eval_uuid(st, u);
		return xstrdup(u);
	default: {
		const char *a = w->w[eval_rand_below(st, w->n)];
		const char *b = w->w[eval_rand_below(st, w->n)];
		return xasprintf("%s-%s", a, b);
	}
	}
}

static const char *type_name(int type)
{
	return type == T_NUMBERS ? "numbers" : type == T_UUIDS ? "uuids" : "words";
}

/* What one build leaves behind: the answers of the prompt it wrote. */
struct gen {
	const struct ruler_task *t;
	const struct ruler_env *env;
	uint64_t seed;
	double depth;
	size_t length;
	struct strs refs;
	struct buf icl;             /* vt: the one-shot example, built on first use */
	int icl_done;
};

/* --- the NIAH family (RULER niah.py) ------------------------------------------------------ */

#define NIAH_NEEDLE "One of the special magic {V} for {K} is: {X}."
#define NIAH_TEMPLATE "Some special magic {V} are hidden within the following text. Make sure " \
	"to memorize it. I will quiz you about the {V} afterwards.\n{C}\nWhat are all the special " \
	"magic {V} for {Q} mentioned in the provided text? The special magic {V} for {Q} " \
	"mentioned in the provided text are"

/* RULER's depths for essay needles: round(linspace(0, 100, 40)). */
static int essay_depth(size_t i)
{
	return (int)floor(100.0 * (double)i / 39.0 + 0.5);
}

static int gen_niah(struct gen *g, size_t count, struct buf *out)
{
	const struct ruler_task *t = g->t;
	uint64_t st = g->seed;
	struct strs keys = { 0 }, needles = { 0 }, ctx = { 0 };
	struct strs *values = xcalloc((size_t)t->num_k, sizeof(struct strs));
	const char *vname = type_name(t->type_v);
	for (int k = 0; k < t->num_k; k++) {
		strs_push(&keys, rand_value(&st, t->type_k, g->env->words));
		for (int v = 0; v < t->num_v; v++) {
			strs_push(&values[k], rand_value(&st, t->type_v, g->env->words));
			struct buf nb = BUF_INIT;
			const char *vars[] = { "V", vname, "K", keys.s[k], "X", values[k].s[v], NULL };
			format(&nb, NIAH_NEEDLE, vars);
			strs_push(&needles, buf_steal(&nb));
		}
	}
	eval_shuffle(needles.s, needles.n, sizeof(char *), &st);

	struct buf context = BUF_INIT;
	if (t->hay == HAY_ESSAY) {
		/* Needles at sentence boundaries, at depths drawn from RULER's 40. */
		size_t n_sent = count, nd = needles.n, *pick = xcalloc(nd, sizeof(size_t));
		size_t *pos = xcalloc(nd + 2, sizeof(size_t));
		eval_sample(&st, 40, nd, pick);
		for (size_t i = 0; i < nd; i++)
			pos[i + 1] = (size_t)((double)n_sent * essay_depth(pick[i]) / 100.0);
		for (size_t i = 1; i <= nd; i++)          /* insertion sort, nd is tiny */
			for (size_t j = i; j > 1 && pos[j - 1] > pos[j]; j--) {
				size_t tmp = pos[j];
				pos[j] = pos[j - 1];
				pos[j - 1] = tmp;
			}
		pos[0] = 0;
		pos[nd + 1] = n_sent;
		struct strs pieces = { 0 };
		for (size_t i = 1; i <= nd + 1; i++) {
			struct buf pb = BUF_INIT;
			const struct eval_haystack *h = g->env->essay;
			if (h != NULL) {
				eval_haystack_append(h, pos[i - 1], pos[i], " ", &pb);
			} else {
				for (size_t s = pos[i - 1]; s < pos[i]; s++) {
					if (s > pos[i - 1])
						buf_append_char(&pb, ' ');
					buf_append_str(&pb, GARBAGE);
				}
			}
			strs_push(&pieces, buf_steal(&pb));
			if (i - 1 < nd)
				strs_push(&pieces, xstrdup(needles.s[i - 1]));
		}
		strs_join(&pieces, 0, pieces.n, " ", &context);
		strs_free(&pieces);
		free(pick);
		free(pos);
	} else {
		for (size_t i = 0; i < count; i++) {
			if (t->hay == HAY_REPEAT) {
				strs_push(&ctx, xstrdup(GARBAGE));
			} else {
				char *k = rand_value(&st, t->type_k, g->env->words);
				char *v = rand_value(&st, t->type_v, g->env->words);
				struct buf nb = BUF_INIT;
				const char *vars[] = { "V", vname, "K", k, "X", v, NULL };
				format(&nb, NIAH_NEEDLE, vars);
				strs_push(&ctx, buf_steal(&nb));
				free(k);
				free(v);
			}
		}
		size_t nd = needles.n, range = count > nd ? count : nd;
		size_t *idx = xcalloc(nd, sizeof(size_t));
		eval_sample(&st, range, nd, idx);
		for (size_t i = 1; i < nd; i++)             /* descending, as RULER inserts */
			for (size_t j = i; j > 0 && idx[j - 1] < idx[j]; j--) {
				size_t tmp = idx[j];
				idx[j] = idx[j - 1];
				idx[j - 1] = tmp;
			}
		for (size_t i = 0; i < nd; i++)
			strs_insert(&ctx, idx[i], xstrdup(needles.s[i]));
		free(idx);
		strs_join(&ctx, 0, ctx.n, "\n", &context);
	}

	/* Queries and answers. */
	size_t *qi = xcalloc((size_t)t->num_q, sizeof(size_t));
	eval_sample(&st, (size_t)t->num_k, (size_t)t->num_q, qi);
	struct buf query = BUF_INIT;
	strs_free(&g->refs);
	for (int q = 0; q < t->num_q; q++) {
		if (q > 0)
			buf_append_str(&query, q == t->num_q - 1 ? ", and " : ", ");
		buf_append_str(&query, keys.s[qi[q]]);
		for (size_t v = 0; v < values[qi[q]].n; v++)
			strs_push(&g->refs, xstrdup(values[qi[q]].s[v]));
	}
	char *tmpl = xstrdup(NIAH_TEMPLATE);
	char vsing[16];
	snprintf(vsing, sizeof(vsing), "%s", vname);
	if (t->num_q * t->num_v == 1) {
		tmpl = replace_all(tmpl, "Some", "A");
		tmpl = replace_all(tmpl, "are all", "is");
		tmpl = replace_all(tmpl, "are", "is");
		tmpl = replace_all(tmpl, "answers", "answer");
		vsing[strlen(vsing) - 1] = '\0';
	}
	const char *vars[] = { "V", vsing, "C", context.data ? context.data : "", "Q",
		query.data, NULL };
	format(out, tmpl, vars);
	free(tmpl);
	free(qi);
	buf_free(&query);
	buf_free(&context);
	for (int k = 0; k < t->num_k; k++)
		strs_free(&values[k]);
	free(values);
	strs_free(&keys);
	strs_free(&needles);
	strs_free(&ctx);
	return 0;
}

/* --- variable tracking (RULER variable_tracking.py), with its one-shot example ------------ */

#define VT_TASK "Memorize and track the chain(s) of variable assignment hidden in the following " \
	"text.\n\n{C}\nQuestion: Find all variables that are assigned the value {Q} in the text above."
#define VT_ANSWER " Answer: According to the chain(s) of variable assignment in the text above, " \
	"{N} variables are assgined the value {Q}, they are: "
#define VT_HOPS 4

/* One chain of VT_HOPS + 1 distinct names of name_len letters hidden in count noise lines;
 * writes the context and the names (refs) and the value. */
static void vt_context(uint64_t *st, size_t count, int name_len, struct buf *context,
    struct strs *names, char value[8])
{
	size_t nv = VT_HOPS + 1;
	while (names->n < nv) {
		char nm[8];
		for (int i = 0; i < name_len; i++)
			nm[i] = (char)('A' + eval_rand_below(st, 26));
		nm[name_len] = '\0';
		int dup = 0;
		for (size_t i = 0; i < names->n; i++)
			dup |= strcmp(names->s[i], nm) == 0;
		if (!dup)
			strs_push(names, xstrdup(nm));
	}
	snprintf(value, 8, "%llu", (unsigned long long)eval_rand_range(st, 10000, 99998));
	struct strs sent = { 0 };
	for (size_t i = 0; i < count; i++)
		strs_push(&sent, xstrdup(GARBAGE "\n"));
	size_t range = count > nv ? count : nv, pos[VT_HOPS + 1];
	eval_sample(st, range, nv, pos);
	for (size_t i = 1; i < nv; i++)
		for (size_t j = i; j > 0 && pos[j - 1] > pos[j]; j--) {
			size_t tmp = pos[j];
			pos[j] = pos[j - 1];
			pos[j - 1] = tmp;
		}
	for (size_t j = 0; j < nv; j++) {
		char *line = j == 0 ? xasprintf("VAR %s = %s", names->s[0], value) :
		    xasprintf("VAR %s = VAR %s ", names->s[j], names->s[j - 1]);
		strs_insert(&sent, pos[j] + j, line);
	}
	struct buf joined = BUF_INIT;
	strs_join(&sent, 0, sent.n, " ", &joined);
	char *c = replace_all(buf_steal(&joined), ". \n", ".\n");
	buf_append_str(context, c);
	free(c);
	strs_free(&sent);
}

static void vt_prompt(uint64_t *st, size_t count, int icl, struct buf *out, struct strs *names)
{
	struct buf context = BUF_INIT;
	char value[8], nv[8];
	vt_context(st, count, icl ? 3 : 5, &context, names, value);
	snprintf(nv, sizeof(nv), "%d", VT_HOPS + 1);
	const char *vars[] = { "C", context.data, "Q", value, "N", nv, NULL };
	if (!icl) {
		format(out, VT_TASK VT_ANSWER, vars);
	} else {
		/* RULER strips the model template from its example: the template words before
		 * the answer prefix, white space collapsed, last word dropped ("above." with the
		 * plain template), then the context goes in. */
		struct buf collapsed = BUF_INIT;
		size_t last_sep = 0;
		const char *p = VT_TASK;
		for (;;) {
			while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
				p++;
			if (!*p)
				break;
			const char *w = p;
			while (*p && !(*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r'))
				p++;
			last_sep = collapsed.len;
			if (collapsed.len > 0)
				buf_append_char(&collapsed, ' ');
			buf_append(&collapsed, w, (size_t)(p - w));
		}
		collapsed.data[last_sep] = '\0';
		format(out, collapsed.data, vars);
		format(out, VT_ANSWER, vars);
		buf_free(&collapsed);
	}
	buf_free(&context);
}

struct vt_icl {
	uint64_t seed;
	struct strs names;
};

static int vt_icl_build(void *user, size_t count, struct buf *out, char **err)
{
	struct vt_icl *v = user;
	uint64_t st = v->seed;
	(void)err;
	strs_free(&v->names);
	vt_prompt(&st, count, 1, out, &v->names);
	return 0;
}

static int gen_vt(struct gen *g, size_t count, struct buf *out, char **err)
{
	uint64_t st = g->seed;
	uint64_t icl_seed = splitmix64(&st);
	if (!g->icl_done) {
		/* The one-shot example, fitted once per sample as RULER fits it: 500 tokens with
		 * 30 to generate, its answer appended. */
		struct vt_icl icl = { icl_seed, { 0 } };
		struct buf ex = BUF_INIT;
		int32_t *ids = NULL;
		size_t n_ids, n_units;
		if (eval_fit(g->env->tk, vt_icl_build, &icl, 500 - 30 - 8, 200, &n_units, &ex, &ids,
		    NULL, &n_ids, err) != 0) {
			buf_free(&ex);
			strs_free(&icl.names);
			return -1;
		}
		free(ids);
		/* eval_fit keeps the text of the count it settled on; names belong to the last
		 * build, so build that count once more. */
		buf_reset(&ex);
		vt_icl_build(&icl, n_units, &ex, NULL);
		buf_append_char(&g->icl, ' ');
		buf_append(&g->icl, ex.data, ex.len);
		buf_append_char(&g->icl, ' ');
		strs_join(&icl.names, 0, icl.names.n, " ", &g->icl);
		buf_append_str(&g->icl, "\n\n\n\n");
		buf_free(&ex);
		strs_free(&icl.names);
		g->icl_done = 1;
	}
	buf_append(out, g->icl.data, g->icl.len);
	strs_free(&g->refs);
	vt_prompt(&st, count, 0, out, &g->refs);
	return 0;
}

/* --- common words extraction (RULER common_words_extraction.py) --------------------------- */

#define CWE_TEMPLATE "Below is a numbered list of words. In these words, some appear more often " \
	"than others. Memorize the ones that appear most often.\n{C}\nQuestion: What are the 10 most " \
	"common words in the above list? Answer: The top 10 words that appear most often in the " \
	"list are:"
#define CWE_COMMON 10

static void cwe_list(uint64_t *st, const struct eval_words *w, size_t num_words, int rep_c,
    int rep_u, struct buf *context, struct strs *common)
{
	size_t *pick = xcalloc(num_words, sizeof(size_t));
	eval_sample(st, w->n, num_words, pick);
	size_t total = (size_t)rep_c * CWE_COMMON + (size_t)rep_u * (num_words - CWE_COMMON);
	const char **list = xcalloc(total ? total : 1, sizeof(char *));
	size_t n = 0;
	for (int r = 0; r < rep_c; r++)
		for (size_t i = 0; i < CWE_COMMON; i++)
			list[n++] = w->w[pick[i]];
	for (int r = 0; r < rep_u; r++)
		for (size_t i = CWE_COMMON; i < num_words; i++)
			list[n++] = w->w[pick[i]];
	eval_shuffle(list, n, sizeof(char *), st);
	for (size_t i = 0; i < n; i++)
		buf_printf(context, "%s%zu. %s", i ? " " : "", i + 1, list[i]);
	for (size_t i = 0; i < CWE_COMMON; i++)
		strs_push(common, xstrdup(w->w[pick[i]]));
	free(list);
	free(pick);
}

static int gen_cwe(struct gen *g, size_t count, struct buf *out)
{
	uint64_t st = g->seed;
	const struct eval_words *w = g->env->words;
	size_t num_words = CWE_COMMON + count;
	int small = g->length < 4096;
	struct buf ex = BUF_INIT, ctx = BUF_INIT;
	struct strs ex_common = { 0 };
	cwe_list(&st, w, small ? 20 : 40, small ? 3 : 10, small ? 1 : 3, &ex, &ex_common);
	const char *vars[] = { "C", ex.data, NULL };
	format(out, CWE_TEMPLATE, vars);
	for (size_t i = 0; i < ex_common.n; i++)
		buf_printf(out, "%s%zu. %s", i ? " " : "", i + 1, ex_common.s[i]);
	buf_append_char(out, '\n');
	strs_free(&g->refs);
	cwe_list(&st, w, num_words, small ? 6 : 30, small ? 1 : 3, &ctx, &g->refs);
	const char *vars2[] = { "C", ctx.data, NULL };
	format(out, CWE_TEMPLATE, vars2);
	buf_free(&ex);
	buf_free(&ctx);
	strs_free(&ex_common);
	return 0;
}

/* --- frequent words extraction (RULER freq_words_extraction.py) -------------------------- */

#define FWE_TEMPLATE "Read the following coded text and track the frequency of each coded word. " \
	"Find the three most frequently appeared coded words. {C}\nQuestion: Do not provide any " \
	"explanation. Please ignore the dots '....'. What are the three most frequently appeared " \
	"words in the above coded text? Answer: According to the coded text above, the three most " \
	"frequently appeared words are:"

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int gen_fwe(struct gen *g, size_t count, struct buf *out)
{
	uint64_t st = g->seed;
	size_t vocab_size = g->length / 50 < 4 ? 4 : g->length / 50;
	struct strs vocab = { 0 };
	while (vocab.n < vocab_size) {
		char w[7];
		for (int i = 0; i < 6; i++)
			w[i] = (char)('a' + eval_rand_below(&st, 26));
		w[6] = '\0';
		strs_push(&vocab, xstrdup(w));
		if (vocab.n == vocab_size) {
			/* Sorted and unique, as sorted(set(vocab)); top up when duplicates left. */
			qsort(vocab.s, vocab.n, sizeof(char *), cmp_str);
			size_t u = 0;
			for (size_t i = 0; i < vocab.n; i++) {
				if (u > 0 && strcmp(vocab.s[u - 1], vocab.s[i]) == 0)
					free(vocab.s[i]);
				else
					vocab.s[u++] = vocab.s[i];
			}
			vocab.n = u;
		}
	}
	eval_shuffle(vocab.s, vocab.n, sizeof(char *), &st);
	free(vocab.s[0]);
	vocab.s[0] = xstrdup("...");      /* the top rank is noise */
	/* Zipf counts: num_words * k^-2 / zeta(2). */
	const double zeta2 = 1.6449340668482264;   /* pi^2 / 6 */
	size_t total = 0;
	size_t *cnt = xcalloc(vocab.n, sizeof(size_t));
	for (size_t k = 0; k < vocab.n; k++) {
		double c = (double)count / ((double)(k + 1) * (double)(k + 1)) / zeta2;
		cnt[k] = (size_t)c;
		total += cnt[k];
	}
	const char **list = xcalloc(total ? total : 1, sizeof(char *));
	size_t n = 0;
	for (size_t k = 0; k < vocab.n; k++)
		for (size_t i = 0; i < cnt[k]; i++)
			list[n++] = vocab.s[k];
	eval_shuffle(list, n, sizeof(char *), &st);
	struct buf ctx = BUF_INIT;
	for (size_t i = 0; i < n; i++) {
		if (i)
			buf_append_char(&ctx, ' ');
		buf_append_str(&ctx, list[i]);
	}
	const char *vars[] = { "C", ctx.data ? ctx.data : "", NULL };
	format(out, FWE_TEMPLATE, vars);
	strs_free(&g->refs);
	for (size_t k = 1; k < 4 && k < vocab.n; k++)
		strs_push(&g->refs, xstrdup(vocab.s[k]));
	buf_free(&ctx);
	free(list);
	free(cnt);
	strs_free(&vocab);
	return 0;
}

/* --- InfiniteBench passkey, number_string, kv_retrieval ----------------------------------- */

#define IB_NOISE GARBAGE "\n"

static size_t depth_index(double depth, size_t n)
{
	double k = floor(depth * (double)n + 0.5);
	return k <= 0 ? 0 : k >= (double)n ? n : (size_t)k;
}

static int gen_ib_digits(struct gen *g, size_t count, struct buf *out)
{
	uint64_t st = g->seed;
	char key[16];
	int number = g->t->kind == K_IB_NUMBER;
	size_t n = 5;
	for (size_t i = 0; i < 5; i++)
		key[i] = (char)('0' + eval_rand_below(&st, 10));
	if (number) {
		/* Five times, a random digit is doubled in place. */
		for (int r = 0; r < 5; r++) {
			size_t p = (size_t)eval_rand_below(&st, n);
			memmove(key + p + 1, key + p, n - p);
			n++;
		}
	}
	key[n] = '\0';
	size_t j = depth_index(g->depth, count);
	buf_append_str(out, number ?
	    "There is an important info hidden inside a lot of irrelevant text. Find it. I will "
	    "quiz you about the important information there.\n\n" :
	    "There is an important info hidden inside a lot of irrelevant text. Find it and "
	    "memorize them. I will quiz you about the important information there.\n\n");
	for (size_t i = 0; i < j; i++)
		buf_append_str(out, IB_NOISE);
	if (number)
		buf_printf(out, "The sequence of digits is %s. Remember it. %s is the sequence of "
		    "digits.\n", key, key);
	else
		buf_printf(out, "The pass key is %s. Remember it. %s is the pass key.\n", key, key);
	for (size_t i = j; i < count; i++)
		buf_append_str(out, IB_NOISE);
	buf_append_str(out, number ?
	    "\n\nWhat is the sequence of digits?\n\nThe sequence of digits is" :
	    "\n\nWhat is the pass key?\n\nThe pass key is");
	strs_free(&g->refs);
	strs_push(&g->refs, xstrdup(key));
	return 0;
}

static int gen_ib_kv(struct gen *g, size_t count, struct buf *out)
{
	uint64_t st = g->seed;
	size_t n = count + 1, q = depth_index(g->depth, n - 1);
	char k[37], v[37], qk[37] = "", qv[37] = "";
	buf_append_str(out, "Extract the value corresponding to the specified key in the JSON "
	    "object below.\n\nJSON data:\n{");
	for (size_t i = 0; i < n; i++) {
		eval_uuid(&st, k);
		eval_uuid(&st, v);
		buf_printf(out, "%s\"%s\": \"%s\"", i ? ", " : "", k, v);
		if (i == q) {
			memcpy(qk, k, sizeof(k));
			memcpy(qv, v, sizeof(v));
		}
	}
	buf_printf(out, "}\nKey: \"%s\"\nThe value associated with the specified key is: ", qk);
	strs_free(&g->refs);
	strs_push(&g->refs, xstrdup(qv));
	return 0;
}

/* --- driving the search ------------------------------------------------------------------- */

static int gen_build(void *user, size_t count, struct buf *out, char **err)
{
	struct gen *g = user;
	switch (g->t->kind) {
	case K_NIAH: return gen_niah(g, count, out);
	case K_VT: return gen_vt(g, count, out, err);
	case K_CWE: return gen_cwe(g, count, out);
	case K_FWE: return gen_fwe(g, count, out);
	case K_IB_PASSKEY:
	case K_IB_NUMBER: return gen_ib_digits(g, count, out);
	default: return gen_ib_kv(g, count, out);
	}
}

int ruler_build(const struct ruler_task *t, const struct ruler_env *env, size_t length,
    uint64_t seed, double depth, struct ruler_sample *out, char **err)
{
	memset(out, 0, sizeof(*out));
	if (length <= (size_t)t->max_new_tokens)
		return q_error(err, "%s: length %zu leaves no room for the prompt", t->name, length);
	if ((t->kind == K_CWE || (t->kind == K_NIAH && (t->type_k == T_WORDS ||
	    t->type_v == T_WORDS))) && (env->words == NULL || env->words->n < 100))
		return q_error(err, "%s: needs a word list of at least 100 words", t->name);
	struct gen g = { t, env, seed, depth < 0 ? 0 : depth > 1 ? 1 : depth, length, { 0 },
		BUF_INIT, 0 };
	size_t max_count = length;
	if (t->kind == K_CWE)
		max_count = env->words->n - CWE_COMMON;
	else if (t->kind == K_FWE)
		max_count = 4 * length;
	struct buf text = BUF_INIT;
	size_t count;
	if (eval_fit(env->tk, gen_build, &g, length - (size_t)t->max_new_tokens, max_count,
	    &count, &text, &out->ids, NULL, &out->n_ids, err) != 0) {
		buf_free(&text);
		buf_free(&g.icl);
		strs_free(&g.refs);
		char *inner = *err;
		*err = NULL;
		q_error(err, "%s at %zu tokens: %s", t->name, length, inner);
		free(inner);
		return -1;
	}
	/* The refs of the last build may belong to another count: build the kept one again. */
	struct buf again = BUF_INIT;
	if (gen_build(&g, count, &again, err) != 0)
		fatal("%s: the prompt builder failed the second time", t->name);
	buf_free(&g.icl);
	if (again.len != text.len || memcmp(again.data, text.data, text.len) != 0)
		fatal("%s: the prompt builder is not deterministic", t->name);
	buf_free(&again);
	out->len = text.len;
	out->text = buf_steal(&text);
	out->refs = g.refs.s;
	out->n_refs = g.refs.n;
	out->n_units = count;
	return 0;
}

double ruler_score(const struct ruler_task *t, const struct ruler_sample *s, const char *pred)
{
	switch (t->metric) {
	case RULER_FIRST_INT:
		return s->n_refs ? eval_first_int_match(pred, s->refs[0]) : 0;
	case RULER_KV_WORD:
		return s->n_refs ? eval_kv_match(pred, s->refs[0]) : 0;
	default: {
		char *c = eval_ruler_clean(pred);
		double v = t->metric == RULER_MATCH_PART ?
		    eval_match_part(c, (const char *const *)s->refs, s->n_refs) :
		    eval_match_all(c, (const char *const *)s->refs, s->n_refs);
		free(c);
		return v;
	}
	}
}

void ruler_sample_free(struct ruler_sample *s)
{
	free(s->text);
	free(s->ids);
	for (size_t i = 0; i < s->n_refs; i++)
		free(s->refs[i]);
	free(s->refs);
	memset(s, 0, sizeof(*s));
}
