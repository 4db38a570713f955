/* t-sample.c: the sampler: greedy is argmax, top-k/top-p/min-p never let an excluded token
 * through, seeds reproduce, the repetition penalty and the temperature move the empirical
 * distribution the right way (fixed seeds, so every run draws the same numbers). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/sample.h"
#include "lib/util.h"
#include "tests/tap.h"

#define DRAWS 20000

static struct sampler_params params(float temp, int top_k, float top_p, float min_p,
    uint64_t seed)
{
	struct sampler_params p = SAMPLER_PARAMS_DEFAULT;
	p.temp = temp;
	p.top_k = top_k;
	p.top_p = top_p;
	p.min_p = min_p;
	p.repeat_penalty = 1.0f;
	p.seed = seed;
	return p;
}

/* Logits whose softmax at temperature 1 is exactly probs. */
static void logits_of(const double *probs, size_t n, float *out)
{
	for (size_t i = 0; i < n; i++)
		out[i] = probs[i] > 0 ? (float)log(probs[i]) : -INFINITY;
}

/* Draw DRAWS tokens, counting them in hist; returns 0 if a drawn token was outside allowed
 * (when allowed is not NULL) or sampler_was_candidate() denied it. */
static int draw_many(struct sampler *s, const float *logits, size_t n, size_t *hist,
    const int *allowed)
{
	int good = 1;
	memset(hist, 0, n * sizeof(*hist));
	for (int i = 0; i < DRAWS; i++) {
		int32_t t = sampler_sample(s, logits);
		if (t < 0 || (size_t)t >= n)
			return 0;
		hist[t]++;
		if ((allowed != NULL && !allowed[t]) || !sampler_was_candidate(s, t))
			good = 0;
	}
	return good;
}

static void test_splitmix(void)
{
	uint64_t st = 0;
	uint64_t a = splitmix64(&st), b = splitmix64(&st);
	ok(a == 0xe220a8397b1dcdafull && b == 0x6e789e6aa1b965f4ull,
	    "splitmix64 from 0 gives the reference stream");
}

static void test_greedy(void)
{
	float logits[1000];
	uint64_t st = 42;
	int all = 1, cand = 1;
	for (int round = 0; round < 50; round++) {
		size_t n = 1 + (size_t)(splitmix64(&st) % 1000);
		for (size_t i = 0; i < n; i++)
			logits[i] = (float)((double)(splitmix64(&st) >> 11) / 9007199254740992.0 * 20 - 10);
		size_t best = 0;
		for (size_t i = 1; i < n; i++)
			if (logits[i] > logits[best])
				best = i;
		struct sampler_params p = params(round % 2 ? 0.0f : -1.0f, 40, 0.9f, 0.1f, round);
		struct sampler *s = sampler_new(&p, n);
		int32_t t = sampler_sample(s, logits);
		all &= t == (int32_t)best && sample_argmax(logits, n) == (int32_t)best;
		for (size_t i = 0; i < n; i++)
			cand &= sampler_was_candidate(s, (int32_t)i) == (i == best);
		sampler_free(s);
	}
	ok(all, "temperature 0 (or less) picks the argmax");
	ok(cand, "greedy: the argmax is the only candidate");
	float tie[5] = { 1, 3, 3, 2, 3 };
	struct sampler_params p = params(0, 0, 1, 0, 1);
	struct sampler *s = sampler_new(&p, 5);
	ok(sampler_sample(s, tie) == 1 && sample_argmax(tie, 5) == 1, "ties go to the first index");
	sampler_free(s);
}

static void test_top_k(void)
{
	enum { N = 200, K = 5 };
	float logits[N];
	int allowed[N];
	size_t hist[N];
	uint64_t st = 7;
	for (int i = 0; i < N; i++)
		logits[i] = (float)((double)(splitmix64(&st) >> 11) / 9007199254740992.0);
	/* the K largest, found independently */
	memset(allowed, 0, sizeof(allowed));
	for (int k = 0; k < K; k++) {
		int best = -1;
		for (int i = 0; i < N; i++)
			if (!allowed[i] && (best < 0 || logits[i] > logits[best]))
				best = i;
		allowed[best] = 1;
	}
	struct sampler_params p = params(1.0f, K, 1.0f, 0.0f, 123);
	struct sampler *s = sampler_new(&p, N);
	ok(draw_many(s, logits, N, hist, allowed), "top-k: only the %d largest logits are drawn", K);
	int n_cand = 0, seen = 0;
	for (int i = 0; i < N; i++) {
		n_cand += sampler_was_candidate(s, i);
		seen += hist[i] > 0;
	}
	is_int(n_cand, K, "top-k: exactly k candidates");
	is_int(seen, K, "top-k: every kept token is drawn now and then");
	sampler_free(s);
}

static void test_top_p(void)
{
	/* p = .5 .3 .15 .05: top-p 0.75 keeps {0, 1} (0.5 < 0.75 <= 0.8) */
	const double probs[4] = { 0.5, 0.3, 0.15, 0.05 };
	float logits[4];
	size_t hist[4];
	int allowed[4] = { 1, 1, 0, 0 };
	logits_of(probs, 4, logits);
	struct sampler_params p = params(1.0f, 0, 0.75f, 0.0f, 99);
	struct sampler *s = sampler_new(&p, 4);
	ok(draw_many(s, logits, 4, hist, allowed), "top-p: tokens past the mass are never drawn");
	ok(hist[0] > 0 && hist[1] > 0, "top-p: both kept tokens are drawn");
	is_double((double)hist[0] / DRAWS, 0.5 / 0.8, 0.02, "top-p: renormalised over the kept");
	ok(!sampler_was_candidate(s, 2) && !sampler_was_candidate(s, 3),
	    "top-p: the tail is not a candidate");
	sampler_free(s);

	/* a shuffled vocabulary: the kept set is found by probability, not by position */
	const double probs2[6] = { 0.02, 0.1, 0.03, 0.6, 0.2, 0.05 };
	float logits2[6];
	size_t hist2[6];
	int allowed2[6] = { 0, 0, 0, 1, 1, 0 };   /* 0.6 + 0.2 >= 0.7 */
	logits_of(probs2, 6, logits2);
	p = params(1.0f, 0, 0.7f, 0.0f, 5);
	s = sampler_new(&p, 6);
	ok(draw_many(s, logits2, 6, hist2, allowed2) && hist2[3] > 0 && hist2[4] > 0,
	    "top-p: shuffled vocabulary keeps exactly the two most likely");
	sampler_free(s);
}

static void test_min_p(void)
{
	/* p(best) = .4, min-p .2 -> floor .08: keeps {.4 .3 .2}, drops {.06 .04} */
	const double probs[5] = { 0.06, 0.4, 0.04, 0.3, 0.2 };
	float logits[5];
	size_t hist[5];
	int allowed[5] = { 0, 1, 0, 1, 1 };
	logits_of(probs, 5, logits);
	struct sampler_params p = params(1.0f, 0, 1.0f, 0.2f, 2024);
	struct sampler *s = sampler_new(&p, 5);
	ok(draw_many(s, logits, 5, hist, allowed), "min-p: tokens below min_p * p(best) never drawn");
	ok(hist[1] > 0 && hist[3] > 0 && hist[4] > 0, "min-p: the kept tokens are all drawn");
	is_double((double)hist[4] / DRAWS, 0.2 / 0.9, 0.02, "min-p: renormalised over the kept");
	sampler_free(s);

	/* all three filters together on a large vocabulary: whatever is drawn passes each */
	enum { N = 5000 };
	float *big = xmalloc(N * sizeof(float));
	int *allowed_big = xcalloc(N, sizeof(int));
	size_t *hist_big = xmalloc(N * sizeof(size_t));
	uint64_t st = 3;
	for (int i = 0; i < N; i++)
		big[i] = (float)((double)(splitmix64(&st) >> 11) / 9007199254740992.0 * 8);
	/* only tokens 10..19 can survive: they are far above the rest */
	for (int i = 10; i < 20; i++) {
		big[i] = 30.0f + (float)(i - 10) * 0.1f;
		allowed_big[i] = 1;
	}
	p = params(1.0f, 50, 0.999f, 0.01f, 77);
	s = sampler_new(&p, N);
	int good = draw_many(s, big, N, hist_big, allowed_big);
	int seen = 0;
	for (int i = 10; i < 20; i++)
		seen += hist_big[i] > 0;
	ok(good && seen == 10, "top-k + top-p + min-p: only the dominant ten are drawn, all of them");
	sampler_free(s);
	free(big);
	free(allowed_big);
	free(hist_big);
}

static void test_seeds(void)
{
	enum { N = 100, LEN = 200 };
	float logits[N];
	for (int i = 0; i < N; i++)
		logits[i] = (float)(i % 7) * 0.3f;
	int32_t a[LEN], b[LEN], c[LEN];
	struct sampler_params p = params(1.0f, 0, 1.0f, 0.0f, 1234);
	struct sampler *sa = sampler_new(&p, N), *sb = sampler_new(&p, N);
	p.seed = 1235;
	struct sampler *sc = sampler_new(&p, N);
	for (int i = 0; i < LEN; i++) {
		a[i] = sampler_sample(sa, logits);
		b[i] = sampler_sample(sb, logits);
		c[i] = sampler_sample(sc, logits);
	}
	ok(memcmp(a, b, sizeof(a)) == 0, "the same seed gives the same sequence");
	int differ = 0;
	for (int i = 0; i < LEN; i++)
		differ += a[i] != c[i];
	ok(differ > LEN / 2, "a different seed gives a different sequence (%d of %d differ)",
	    differ, LEN);
	sampler_free(sa);
	sampler_free(sb);
	sampler_free(sc);
}

static void test_repetition(void)
{
	/* greedy: two equal leaders; penalising the one just seen hands the choice to the other */
	float lead[4] = { 2.0f, 1.0f, 2.0f, 0.5f };
	struct sampler_params p = params(0, 0, 1, 0, 1);
	p.repeat_penalty = 1.5f;
	p.repeat_last_n = 3;
	struct sampler *s = sampler_new(&p, 4);
	ok(sampler_sample(s, lead) == 0, "no history: first of the tied leaders");
	sampler_accept(s, 0);
	ok(sampler_sample(s, lead) == 2, "a recent token is penalised (positive logit divided)");
	sampler_accept(s, 1);
	sampler_accept(s, 3);
	sampler_accept(s, 1);   /* 0 has left the window of 3 */
	ok(sampler_sample(s, lead) == 0, "a token that left the window is no longer penalised");
	sampler_free(s);

	/* a token seen twice is penalised once, as llama.cpp does: 3 / 1.5 = 2 > 1.5 */
	float twice[2] = { 3.0f, 1.5f };
	s = sampler_new(&p, 2);
	sampler_accept(s, 0);
	sampler_accept(s, 0);
	ok(sampler_sample(s, twice) == 0, "a token repeated in the window is penalised once");
	sampler_free(s);

	/* negative logits are multiplied: -1 becomes -1.5, below -1.2 */
	float neg[3] = { -1.0f, -1.2f, -5.0f };
	s = sampler_new(&p, 3);
	sampler_accept(s, 0);
	ok(sampler_sample(s, neg) == 1, "a negative logit is multiplied by the penalty");
	sampler_accept(s, 1);
	ok(sampler_sample(s, neg) == 0, "with both penalised, -1.5 beats -1.8");
	sampler_free(s);

	/* sampled: the penalised token's frequency drops */
	const double probs[3] = { 0.5, 0.3, 0.2 };
	float logits[3];
	size_t h0[3], h1[3];
	logits_of(probs, 3, logits);
	for (int i = 0; i < 3; i++)
		logits[i] += 5.0f;   /* positive, so the penalty divides */
	struct sampler_params q = params(1.0f, 0, 1.0f, 0.0f, 9);
	struct sampler *plain = sampler_new(&q, 3);
	q.repeat_penalty = 1.3f;
	q.repeat_last_n = 8;
	struct sampler *pen = sampler_new(&q, 3);
	sampler_accept(pen, 0);
	draw_many(plain, logits, 3, h0, NULL);
	draw_many(pen, logits, 3, h1, NULL);
	double l0 = logits[0] / 1.3, e0 = exp(l0), e1 = exp(logits[1]), e2 = exp(logits[2]);
	ok(h1[0] * 10 < h0[0] * 7, "repetition penalty lowers a recent token's frequency (%zu -> %zu)",
	    h0[0], h1[0]);
	is_double((double)h1[0] / DRAWS, e0 / (e0 + e1 + e2), 0.01,
	    "penalised frequency matches softmax of the divided logit");
	sampler_free(plain);
	sampler_free(pen);
}

static void test_temperature(void)
{
	const float logits[3] = { 2.0f, 1.0f, 0.0f };
	const float temps[3] = { 0.5f, 1.0f, 2.0f };
	double freq[3][3];
	int match = 1;
	for (int k = 0; k < 3; k++) {
		struct sampler_params p = params(temps[k], 0, 1.0f, 0.0f, 31337);
		struct sampler *s = sampler_new(&p, 3);
		size_t hist[3];
		draw_many(s, logits, 3, hist, NULL);
		double z = 0;
		for (int i = 0; i < 3; i++)
			z += exp(logits[i] / temps[k]);
		for (int i = 0; i < 3; i++) {
			freq[k][i] = (double)hist[i] / DRAWS;
			if (fabs(freq[k][i] - exp(logits[i] / temps[k]) / z) > 0.015) {
				match = 0;
				diag("temp %.1f token %d: %.4f vs %.4f", temps[k], i, freq[k][i],
				    exp(logits[i] / temps[k]) / z);
			}
		}
		sampler_free(s);
	}
	ok(match, "empirical frequencies match softmax(logits / T) at T = 0.5, 1, 2");
	ok(freq[0][0] > freq[1][0] + 0.05 && freq[1][0] > freq[2][0] + 0.05,
	    "lower temperature sharpens: the best token gains");
	ok(freq[0][2] < freq[1][2] && freq[1][2] < freq[2][2] - 0.05,
	    "higher temperature flattens: the worst token gains");
}

int main(void)
{
	test_splitmix();
	test_greedy();
	test_top_k();
	test_top_p();
	test_min_p();
	test_seeds();
	test_repetition();
	test_temperature();
	done_testing();
	return exit_status();
}
