/* sample.h: choosing the next token from logits: greedy, or temperature with top-k, top-p,
 * min-p and a repetition penalty, from a seeded generator so a seed always gives the same text. */
#ifndef QUIRE_ENGINE_SAMPLE_H
#define QUIRE_ENGINE_SAMPLE_H

#include <stddef.h>
#include <stdint.h>

struct sampler_params {
	float temp;                 /* 0 (or less): greedy argmax */
	int top_k;                  /* keep the k most likely; 0 = all */
	float top_p;                /* keep the smallest set with this much mass; 1 = all */
	float min_p;                /* drop tokens below min_p * p(best); 0 = none */
	float repeat_penalty;       /* > 1 discourages the last repeat_last_n tokens; 1 = off */
	int repeat_last_n;          /* how many recent tokens the penalty looks at */
	uint64_t seed;
};

#define SAMPLER_PARAMS_DEFAULT { 0.8f, 40, 0.95f, 0.05f, 1.0f, 64, 0 }

struct sampler;

struct sampler *sampler_new(const struct sampler_params *p, size_t n_vocab);
void sampler_free(struct sampler *s);
/* Remember a token of the context (prompt or generated) for the repetition penalty. */
void sampler_accept(struct sampler *s, int32_t token);
/* Pick a token from logits (n_vocab floats; not modified). */
int32_t sampler_sample(struct sampler *s, const float *logits);
/* Index of the largest logit (the first one on ties). */
int32_t sample_argmax(const float *logits, size_t n);
/* After a sampler_sample(): 1 if the token was among the candidates the filters kept (tests). */
int sampler_was_candidate(const struct sampler *s, int32_t token);

/* splitmix64, the seeded generator every random choice in quire uses. */
uint64_t splitmix64(uint64_t *state);

#endif
