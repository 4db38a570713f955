/* eval.h: what the synthetic long-context evaluations (tui/eval-niah.c, tui/eval-ruler.c)
 * share: the tokenizer seen as a callback, seeded random choices, the search for the filler
 * amount that fills a prompt to a token length, haystacks of sentences, word lists and the
 * published scoring rules (passkey, RULER, InfiniteBench; below). No model and no curses
 * here, so all of it is unit-testable with a fake tokenizer. */
#ifndef QUIRE_TUI_EVAL_H
#define QUIRE_TUI_EVAL_H

#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

/* Tokens of a text exactly as the model will read the prompt (BOS first when the model wants
 * one). offsets may be NULL; when not, (*offsets)[i] is the byte where token i starts. Both
 * arrays are malloc'd. Returns 0, or -1 with *err set. */
struct eval_tokenizer {
	int (*encode)(void *user, const char *text, size_t len, int32_t **ids, size_t **offsets,
	    size_t *n, char **err);
	void *user;
};

/* --- seeded choices, all from splitmix64 -------------------------------------------------- */
uint64_t eval_rand_below(uint64_t *state, uint64_t n);            /* uniform in [0, n), n > 0 */
uint64_t eval_rand_range(uint64_t *state, uint64_t lo, uint64_t hi); /* uniform in [lo, hi] */
/* Fisher-Yates shuffle of n elements of size bytes. */
void eval_shuffle(void *base, size_t n, size_t size, uint64_t *state);
/* k distinct indexes of [0, n) (k <= n) in the order drawn. */
void eval_sample(uint64_t *state, size_t n, size_t k, size_t *out);
/* A version-4 UUID string (36 characters and a NUL). */
void eval_uuid(uint64_t *state, char out[37]);

/* --- filling a prompt to a length --------------------------------------------------------- */
/* Write the prompt built with `count` filler units into out (reset first). The same count
 * must always give the same text. */
typedef int (*eval_build_fn)(void *user, size_t count, struct buf *out, char **err);

/* The largest count in [0, max_count] whose prompt has at most limit tokens, searched as the
 * reference repos do but guided by the tokens per unit measured on the way (a few
 * tokenizations, not one per step). Leaves that prompt in out and its tokens in *ids (malloc'd;
 * *offsets too when offsets is not NULL). Fails when even count 0 is too long. */
int eval_fit(const struct eval_tokenizer *tk, eval_build_fn build, void *user, size_t limit,
    size_t max_count, size_t *count, struct buf *out, int32_t **ids, size_t **offsets,
    size_t *n_ids, char **err);

/* --- haystacks ---------------------------------------------------------------------------- */
/* A list of sentences used in order and cyclically (sentence i is sent[i % n]). */
struct eval_haystack {
	char **sent;                /* NUL-terminated sentences */
	size_t n;
	char *storage;              /* what sent points into */
};

/* The garbage sentences of the passkey template (tui/eval-niah.h), five of them. */
void eval_haystack_repeat(struct eval_haystack *h);
/* A real text (a book) split into sentences, as RULER splits its essays: after '.', '!' or '?'
 * followed by white space (". ", ".\n"...; the mark stays with its sentence), and at blank
 * lines; leading and trailing white space of each sentence is dropped. Fails when the text
 * has no sentence. */
int eval_haystack_text(const char *text, size_t len, struct eval_haystack *h, char **err);
void eval_haystack_free(struct eval_haystack *h);
/* Append sentences [from, to) joined by sep (nothing before the first). */
void eval_haystack_append(const struct eval_haystack *h, size_t from, size_t to,
    const char *sep, struct buf *out);

/* --- word lists --------------------------------------------------------------------------- */
struct eval_words {
	char **w;
	size_t n;
	char *storage;              /* NULL for the built-in list */
};
/* The built-in list (tui/eval-words.c): 1000 common English words from SCOWL. */
void eval_words_builtin(struct eval_words *ws);
/* One word a line; keeps lines of 3 to 16 lowercase ASCII letters (so proper nouns and
 * possessives of /usr/share/dict/words drop out), skips '#' comments. Fails under 100 words. */
int eval_words_parse(const char *text, size_t len, struct eval_words *ws, char **err);
void eval_words_free(struct eval_words *ws);

/* --- scoring ------------------------------------------------------------------------------ */
/* The first maximal run of ASCII digits in s, or NULL (with *len 0) when there is none. */
const char *eval_first_digits(const char *s, size_t *len);
/* Passkey rule (landmark-attention, YaRN and LongRoPE alike): the first digit run of pred,
 * read as an integer, equals key (leading zeros do not matter). 0 when pred has no digit. */
int eval_passkey_correct(const char *pred, const char *key);
/* InfiniteBench first_int_match: the first digit run equals label as a string. */
int eval_first_int_match(const char *pred, const char *label);
/* InfiniteBench kv_retrieval: label is one of the words of pred after each of
 * \n : " ' . , ? ! { } became a space. */
int eval_kv_match(const char *pred, const char *label);
/* RULER's postprocessing of a prediction: strip, control characters [\x00-\x1f] to "\n",
 * strip again. Malloc'd. */
char *eval_ruler_clean(const char *pred);
/* RULER per-sample scores in [0, 1] on a cleaned prediction (case-insensitive substring
 * tests, ASCII case folding): string_match_all = fraction of refs found, string_match_part =
 * 1 when any ref is found. n_refs 0 gives 0. */
double eval_match_all(const char *pred, const char *const *refs, size_t n_refs);
double eval_match_part(const char *pred, const char *const *refs, size_t n_refs);

#endif
