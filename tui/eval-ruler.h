/* eval-ruler.h: prompt generators and scorers of the RULER tasks that need no outside data
 * (NVIDIA/RULER's scripts/data/synthetic: the NIAH family, variable tracking, common and
 * frequent words extraction) and of InfiniteBench's passkey, number_string and kv_retrieval
 * (OpenBMB/InfiniteBench's data/construct_synthetic_dataset.py), ported from the reference
 * generators' logic with splitmix64 in place of Python's random. Each prompt is sized like
 * RULER sizes it: prompt tokens + the task's tokens to generate <= the length. Local
 * substitutions: "{adj}-{noun}" keys become "{word}-{word}" from a word list (built-in SCOWL
 * words by default), and the essay haystack is a text the caller gives (a book split into
 * sentences), or the repeated garbage sentences when it gives none. */
#ifndef QUIRE_TUI_EVAL_RULER_H
#define QUIRE_TUI_EVAL_RULER_H

#include <stddef.h>
#include <stdint.h>

#include "tui/eval.h"

enum ruler_metric {
	RULER_MATCH_ALL = 0,        /* RULER string_match_all: fraction of references found */
	RULER_MATCH_PART,           /* RULER string_match_part: any reference found */
	RULER_FIRST_INT,            /* InfiniteBench first_int_match */
	RULER_KV_WORD,              /* InfiniteBench kv_retrieval word match */
};

struct ruler_task {
	const char *name;           /* as the reference names it: niah_single_1, vt, passkey... */
	const char *suite;          /* "RULER" or "InfiniteBench" */
	int max_new_tokens;         /* tokens_to_generate of the reference */
	enum ruler_metric metric;
	int uses_essay;             /* its reference haystack is an essay (a book here) */
	int kind;                   /* generator (private) */
	/* NIAH family: haystack kind, key and value types, needles */
	int hay, type_k, type_v, num_k, num_v, num_q;
};

extern const struct ruler_task ruler_tasks[];
extern const size_t ruler_n_tasks;
const struct ruler_task *ruler_task_find(const char *name);

struct ruler_env {
	const struct eval_tokenizer *tk;
	const struct eval_words *words;
	const struct eval_haystack *essay;  /* NULL: the garbage sentences stand in */
};

struct ruler_sample {
	char *text;                 /* the prompt, NUL-terminated */
	size_t len;
	int32_t *ids;               /* its tokens */
	size_t n_ids;
	char **refs;                /* the expected answers */
	size_t n_refs;
	size_t n_units;             /* filler units the search settled on */
};

/* One sample of task t at length tokens from seed; depth in [0, 1] places the needle of the
 * InfiniteBench tasks (RULER tasks draw their positions from the seed). */
int ruler_build(const struct ruler_task *t, const struct ruler_env *env, size_t length,
    uint64_t seed, double depth, struct ruler_sample *out, char **err);
/* The sample's score in [0, 1] by the task's metric (RULER predictions are cleaned first). */
double ruler_score(const struct ruler_task *t, const struct ruler_sample *s, const char *pred);
void ruler_sample_free(struct ruler_sample *s);

#endif
