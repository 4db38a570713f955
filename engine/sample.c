/* sample.c: token sampling: repetition penalty, temperature, top-k, top-p and min-p over the
 * softmax of the logits, then a draw from a splitmix64 stream. */
#include "engine/sample.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"

struct candidate {
	int32_t id;
	float logit;
	float p;
};

struct sampler {
	struct sampler_params p;
	size_t n_vocab;
	uint64_t rng;
	int32_t *recent;            /* ring of the last repeat_last_n tokens */
	size_t n_recent, recent_pos;
	struct candidate *cand;     /* n_vocab */
	size_t n_cand;              /* candidates kept by the last sample */
};

uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

struct sampler *sampler_new(const struct sampler_params *p, size_t n_vocab)
{
	struct sampler *s = xcalloc(1, sizeof(*s));
	s->p = *p;
	if (s->p.repeat_last_n < 0)
		s->p.repeat_last_n = 0;
	s->n_vocab = n_vocab;
	s->rng = p->seed;
	s->recent = xcalloc((size_t)s->p.repeat_last_n + 1, sizeof(int32_t));
	s->cand = xreallocarray(NULL, n_vocab, sizeof(*s->cand));
	return s;
}

void sampler_free(struct sampler *s)
{
	if (s == NULL)
		return;
	free(s->recent);
	free(s->cand);
	free(s);
}

void sampler_accept(struct sampler *s, int32_t token)
{
	if (s->p.repeat_last_n == 0)
		return;
	s->recent[s->recent_pos] = token;
	s->recent_pos = (s->recent_pos + 1) % (size_t)s->p.repeat_last_n;
	if (s->n_recent < (size_t)s->p.repeat_last_n)
		s->n_recent++;
}

int32_t sample_argmax(const float *logits, size_t n)
{
	size_t best = 0;
	for (size_t i = 1; i < n; i++)
		if (logits[i] > logits[best])
			best = i;
	return (int32_t)best;
}

static int by_logit_desc(const void *a, const void *b)
{
	const struct candidate *x = a, *y = b;
	if (x->logit != y->logit)
		return x->logit < y->logit ? 1 : -1;
	return x->id < y->id ? -1 : x->id > y->id;
}

int32_t sampler_sample(struct sampler *s, const float *logits)
{
	size_t n = s->n_vocab;
	for (size_t i = 0; i < n; i++)
		s->cand[i] = (struct candidate){ (int32_t)i, logits[i], 0.0f };
	/* The repetition penalty as llama.cpp applies it: divide positive logits, multiply
	 * negative ones, once per distinct recent token. */
	if (s->p.repeat_penalty != 1.0f) {
		for (size_t r = 0; r < s->n_recent; r++) {
			int32_t id = s->recent[r];
			if (id < 0 || (size_t)id >= n)
				continue;
			int seen = 0;
			for (size_t q = 0; q < r; q++)
				seen |= s->recent[q] == id;
			if (seen)
				continue;
			float *l = &s->cand[id].logit;
			*l = *l > 0 ? *l / s->p.repeat_penalty : *l * s->p.repeat_penalty;
		}
	}
	if (s->p.temp <= 0.0f) {
		size_t best = 0;
		for (size_t i = 1; i < n; i++)
			if (s->cand[i].logit > s->cand[best].logit)
				best = i;
		s->cand[0] = s->cand[best];
		s->n_cand = 1;
		return s->cand[0].id;
	}
	qsort(s->cand, n, sizeof(*s->cand), by_logit_desc);
	size_t keep = n;
	if (s->p.top_k > 0 && (size_t)s->p.top_k < keep)
		keep = (size_t)s->p.top_k;
	/* softmax with temperature over the kept candidates */
	double sum = 0;
	float mx = s->cand[0].logit;
	for (size_t i = 0; i < keep; i++) {
		s->cand[i].p = expf((s->cand[i].logit - mx) / s->p.temp);
		sum += s->cand[i].p;
	}
	for (size_t i = 0; i < keep; i++)
		s->cand[i].p = (float)(s->cand[i].p / sum);
	if (s->p.min_p > 0.0f) {
		float floor_p = s->p.min_p * s->cand[0].p;
		size_t k = 1;
		while (k < keep && s->cand[k].p >= floor_p)
			k++;
		keep = k;
	}
	if (s->p.top_p < 1.0f) {
		double cum = 0;
		size_t k = 0;
		while (k < keep) {
			cum += s->cand[k].p;
			k++;
			if (cum >= s->p.top_p)
				break;
		}
		keep = k;
	}
	s->n_cand = keep;
	double total = 0;
	for (size_t i = 0; i < keep; i++)
		total += s->cand[i].p;
	double r = (double)(splitmix64(&s->rng) >> 11) * (1.0 / 9007199254740992.0) * total;
	double acc = 0;
	for (size_t i = 0; i < keep; i++) {
		acc += s->cand[i].p;
		if (r < acc)
			return s->cand[i].id;
	}
	return s->cand[keep - 1].id;
}

int sampler_was_candidate(const struct sampler *s, int32_t token)
{
	for (size_t i = 0; i < s->n_cand; i++)
		if (s->cand[i].id == token)
			return 1;
	return 0;
}
