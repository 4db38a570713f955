/* eval-niah.c: building passkey needle-in-a-haystack prompts to a token length. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/util.h"
#include "tui/eval-niah.h"

double niah_depth(size_t j, size_t n)
{
	return n > 1 ? (double)j / (double)(n - 1) : 0.0;
}

void niah_key(uint64_t seed, int digits, char out[8])
{
	uint64_t s = seed;
	uint64_t lo = digits == 5 ? 10000 : 100000, hi = digits == 5 ? 99999 : 999999;
	snprintf(out, 8, "%llu", (unsigned long long)eval_rand_range(&s, lo, hi));
}

struct niah_build_ctx {
	const struct niah_params *p;
	const char *key;
	size_t needle_byte;         /* of the last text built */
};

static size_t niah_prefix_count(double depth, size_t n)
{
	double k = floor(depth * (double)n + 0.5);
	return k <= 0 ? 0 : k >= (double)n ? n : (size_t)k;
}

static int niah_text(void *user, size_t count, struct buf *out, char **err)
{
	struct niah_build_ctx *b = user;
	const struct niah_params *p = b->p;
	size_t k = niah_prefix_count(p->depth, count);
	(void)err;
	buf_append_str(out, NIAH_TASK "\n");
	eval_haystack_append(p->hay, 0, k, " ", out);
	buf_append_char(out, '\n');
	b->needle_byte = out->len;
	if (!p->no_needle) {
		buf_printf(out, "The pass key is %s. Remember it. %s is the pass key.\n", b->key,
		    b->key);
	}
	eval_haystack_append(p->hay, k, count, " ", out);
	buf_append_str(out, "\n" NIAH_QUESTION);
	return 0;
}

int niah_build(const struct eval_tokenizer *tk, const struct niah_params *p,
    struct niah_prompt *out, char **err)
{
	memset(out, 0, sizeof(*out));
	if (p->digits != 5 && p->digits != 6)
		return q_error(err, "niah: the pass key has 5 or 6 digits, not %d", p->digits);
	if (!(p->depth >= 0 && p->depth <= 1))
		return q_error(err, "niah: depth %g is outside [0, 1]", p->depth);
	if (p->hay == NULL || p->hay->n == 0)
		return q_error(err, "niah: empty haystack");
	niah_key(p->seed, p->digits, out->key);
	struct niah_build_ctx b = { p, out->key, 0 };
	struct buf text = BUF_INIT;
	size_t *offs = NULL, count;
	if (eval_fit(tk, niah_text, &b, p->length, p->length, &count, &text, &out->ids, &offs,
	    &out->n_ids, err) != 0) {
		buf_free(&text);
		return -1;
	}
	/* eval_fit's last build may not be the one it kept: build the kept one's facts again. */
	struct buf again = BUF_INIT;
	niah_text(&b, count, &again, err);
	if (again.len != text.len || memcmp(again.data, text.data, text.len) != 0)
		fatal("niah: the prompt builder is not deterministic");
	buf_free(&again);
	out->len = text.len;
	out->text = buf_steal(&text);
	out->needle_byte = b.needle_byte;
	out->n_filler = count;
	out->n_prefix = niah_prefix_count(p->depth, count);
	out->needle_token = SIZE_MAX;
	if (!p->no_needle) {
		for (size_t i = 0; i < out->n_ids; i++) {
			if (offs[i] >= out->needle_byte) {
				out->needle_token = i;
				break;
			}
		}
	}
	free(offs);
	return 0;
}

void niah_prompt_free(struct niah_prompt *p)
{
	free(p->text);
	free(p->ids);
	memset(p, 0, sizeof(*p));
}
