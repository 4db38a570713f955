/* eval.c: the shared pieces of the synthetic evaluations: seeded choices, the filler search,
 * sentence haystacks, word lists and the scoring rules of the reference benchmarks. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "engine/sample.h"
#include "lib/util.h"
#include "tui/eval.h"

uint64_t eval_rand_below(uint64_t *state, uint64_t n)
{
	/* Rejection keeps every value equally likely (plain modulo favours small ones). */
	uint64_t limit = UINT64_MAX - UINT64_MAX % n;
	for (;;) {
		uint64_t r = splitmix64(state);
		if (r < limit)
			return r % n;
	}
}

uint64_t eval_rand_range(uint64_t *state, uint64_t lo, uint64_t hi)
{
	if (hi - lo == UINT64_MAX)
		return splitmix64(state);
	return lo + eval_rand_below(state, hi - lo + 1);
}

void eval_shuffle(void *base, size_t n, size_t size, uint64_t *state)
{
	unsigned char *a = base, tmp[64];
	if (size > sizeof(tmp))
		fatal("eval_shuffle: element of %zu bytes", size);
	for (size_t i = n; i > 1; i--) {
		size_t j = (size_t)eval_rand_below(state, i);
		memcpy(tmp, a + (i - 1) * size, size);
		memcpy(a + (i - 1) * size, a + j * size, size);
		memcpy(a + j * size, tmp, size);
	}
}

void eval_sample(uint64_t *state, size_t n, size_t k, size_t *out)
{
	if (k > n)
		fatal("eval_sample: %zu of %zu", k, n);
	/* A partial Fisher-Yates over an index array. */
	size_t *idx = xreallocarray(NULL, n ? n : 1, sizeof(size_t));
	for (size_t i = 0; i < n; i++)
		idx[i] = i;
	for (size_t i = 0; i < k; i++) {
		size_t j = i + (size_t)eval_rand_below(state, n - i);
		size_t t = idx[i];
		idx[i] = idx[j];
		idx[j] = t;
		out[i] = idx[i];
	}
	free(idx);
}

void eval_uuid(uint64_t *state, char out[37])
{
	unsigned char b[16];
	uint64_t a = splitmix64(state), c = splitmix64(state);
	for (int i = 0; i < 8; i++) {
		b[i] = (unsigned char)(a >> (8 * i));
		b[8 + i] = (unsigned char)(c >> (8 * i));
	}
	b[6] = (unsigned char)((b[6] & 0x0F) | 0x40);   /* version 4 */
	b[8] = (unsigned char)((b[8] & 0x3F) | 0x80);   /* RFC 4122 variant */
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[b[i] >> 4];
		out[o++] = hex[b[i] & 15];
	}
	out[o] = '\0';
}

/* --- the filler search -------------------------------------------------------------------- */

struct fit_try {
	struct buf text;
	int32_t *ids;
	size_t *offs;
	size_t n;
};

static int fit_run(const struct eval_tokenizer *tk, eval_build_fn build, void *user,
    size_t count, struct fit_try *t, int want_offsets, char **err)
{
	free(t->ids);
	free(t->offs);
	t->ids = NULL;
	t->offs = NULL;
	buf_reset(&t->text);
	if (build(user, count, &t->text, err) != 0)
		return -1;
	return tk->encode(tk->user, t->text.data ? t->text.data : "", t->text.len, &t->ids,
	    want_offsets ? &t->offs : NULL, &t->n, err);
}

static void fit_swap(struct fit_try *a, struct fit_try *b)
{
	struct fit_try t = *a;
	*a = *b;
	*b = t;
}

int eval_fit(const struct eval_tokenizer *tk, eval_build_fn build, void *user, size_t limit,
    size_t max_count, size_t *count, struct buf *out, int32_t **ids, size_t **offsets,
    size_t *n_ids, char **err)
{
	struct fit_try best = { BUF_INIT, NULL, NULL, 0 }, cur = { BUF_INIT, NULL, NULL, 0 };
	int rc = -1, want = offsets != NULL;
	if (fit_run(tk, build, user, 0, &best, want, err) != 0)
		goto out;
	if (best.n > limit) {
		q_error(err, "a prompt of %zu tokens does not fit even with no filler (it needs %zu)",
		    limit, best.n);
		goto out;
	}
	/* Invariant: count lo fits (best holds it), hi does not (hi = max_count + 1 is
	 * assumed, never tried). t_hi is known once some count failed. */
	size_t lo = 0, hi = max_count + 1, t_lo = best.n, t_hi = 0, t0 = best.n;
	int hi_known = 0;
	size_t guess = max_count < 64 ? max_count : 64;
	for (int iter = 0; hi - lo > 1; iter++) {
		if (fit_run(tk, build, user, guess, &cur, want, err) != 0)
			goto out;
		if (cur.n <= limit) {
			lo = guess;
			t_lo = cur.n;
			fit_swap(&best, &cur);
		} else {
			hi = guess;
			t_hi = cur.n;
			hi_known = 1;
		}
		if (hi - lo <= 1)
			break;
		/* Secant step on tokens per unit; bisection when that stalls. */
		double rate;
		if (hi_known)
			rate = (double)(t_hi - t_lo) / (double)(hi - lo);
		else
			rate = lo > 0 ? (double)(t_lo - t0) / (double)lo : 1.0;
		if (rate <= 0)
			rate = 1.0;
		if (iter < 12) {
			double step = (double)(limit - t_lo) / rate;
			guess = lo + (step >= (double)(hi - lo) ? hi - lo - 1 : (size_t)step);
		} else {
			guess = lo + (hi - lo) / 2;
		}
		if (guess <= lo)
			guess = lo + 1;
		if (guess >= hi)
			guess = hi - 1;
	}
	*count = lo;
	buf_free(out);
	*out = best.text;
	best.text = (struct buf)BUF_INIT;
	*ids = best.ids;
	best.ids = NULL;
	if (offsets != NULL) {
		*offsets = best.offs;
		best.offs = NULL;
	}
	*n_ids = best.n;
	rc = 0;
out:
	buf_free(&best.text);
	free(best.ids);
	free(best.offs);
	buf_free(&cur.text);
	free(cur.ids);
	free(cur.offs);
	return rc;
}

/* --- haystacks ---------------------------------------------------------------------------- */

static const char *const garbage_sentences[] = {
	"The grass is green.", "The sky is blue.", "The sun is yellow.", "Here we go.",
	"There and back again.",
};

void eval_haystack_repeat(struct eval_haystack *h)
{
	h->n = Q_ARRAY_LEN(garbage_sentences);
	h->sent = xreallocarray(NULL, h->n, sizeof(char *));
	for (size_t i = 0; i < h->n; i++)
		h->sent[i] = (char *)garbage_sentences[i];
	h->storage = NULL;
}

static int is_space(char c)
{
	return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\f' || c == '\v';
}

int eval_haystack_text(const char *text, size_t len, struct eval_haystack *h, char **err)
{
	h->storage = xmalloc(len + 1);
	memcpy(h->storage, text, len);
	h->storage[len] = '\0';
	size_t cap = 64;
	h->sent = xreallocarray(NULL, cap, sizeof(char *));
	h->n = 0;
	size_t start = 0;
	while (start < len) {
		/* A sentence ends after '.', '!' or '?' followed by white space, or at a blank
		 * line; the white space after it is dropped. */
		size_t end = start, next = len;
		for (; end < len; end++) {
			char ch = h->storage[end];
			if ((ch == '.' || ch == '!' || ch == '?') && end + 1 < len &&
			    is_space(h->storage[end + 1])) {
				next = end + 2;
				end++;
				break;
			}
			if (ch == '\n' && end + 1 < len && h->storage[end + 1] == '\n') {
				next = end + 2;
				break;
			}
		}
		if (end >= len)
			next = len;
		size_t a = start, b = end;
		while (a < b && is_space(h->storage[a]))
			a++;
		while (b > a && is_space(h->storage[b - 1]))
			b--;
		if (b > a) {
			h->storage[b] = '\0';
			if (h->n == cap) {
				cap *= 2;
				h->sent = xreallocarray(h->sent, cap, sizeof(char *));
			}
			h->sent[h->n++] = h->storage + a;
		}
		start = next;
	}
	if (h->n == 0) {
		eval_haystack_free(h);
		return q_error(err, "the haystack text has no sentence");
	}
	return 0;
}

void eval_haystack_free(struct eval_haystack *h)
{
	free(h->sent);
	free(h->storage);
	h->sent = NULL;
	h->storage = NULL;
	h->n = 0;
}

void eval_haystack_append(const struct eval_haystack *h, size_t from, size_t to,
    const char *sep, struct buf *out)
{
	for (size_t i = from; i < to; i++) {
		if (i > from)
			buf_append_str(out, sep);
		buf_append_str(out, h->sent[i % h->n]);
	}
}

/* --- word lists --------------------------------------------------------------------------- */

int eval_words_parse(const char *text, size_t len, struct eval_words *ws, char **err)
{
	ws->storage = xmalloc(len + 1);
	memcpy(ws->storage, text, len);
	ws->storage[len] = '\0';
	size_t cap = 1024;
	ws->w = xreallocarray(NULL, cap, sizeof(char *));
	ws->n = 0;
	char *p = ws->storage, *end = ws->storage + len;
	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		char *e = nl ? nl : end;
		size_t n = (size_t)(e - p);
		if (n > 0 && p[n - 1] == '\r')
			n--;
		int good = n >= 3 && n <= 16;
		for (size_t i = 0; good && i < n; i++)
			good = p[i] >= 'a' && p[i] <= 'z';
		if (good) {
			p[n] = '\0';
			if (ws->n == cap) {
				cap *= 2;
				ws->w = xreallocarray(ws->w, cap, sizeof(char *));
			}
			ws->w[ws->n++] = p;
		}
		p = e + 1;
	}
	if (ws->n < 100) {
		size_t n = ws->n;
		eval_words_free(ws);
		return q_error(err, "the word list has %zu usable words (lowercase a-z, 3 to 16 "
		    "letters); at least 100 are needed", n);
	}
	return 0;
}

void eval_words_free(struct eval_words *ws)
{
	free(ws->w);
	free(ws->storage);
	ws->w = NULL;
	ws->storage = NULL;
	ws->n = 0;
}

/* --- scoring ------------------------------------------------------------------------------ */

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

const char *eval_first_digits(const char *s, size_t *len)
{
	while (*s && !is_digit(*s))
		s++;
	if (!*s) {
		*len = 0;
		return NULL;
	}
	size_t n = 0;
	while (is_digit(s[n]))
		n++;
	*len = n;
	return s;
}

int eval_passkey_correct(const char *pred, const char *key)
{
	size_t n, kn = strlen(key);
	const char *d = eval_first_digits(pred, &n);
	if (d == NULL || kn == 0)
		return 0;
	/* Integer compare without overflow: drop leading zeros, then compare the digits. */
	while (n > 1 && *d == '0')
		d++, n--;
	while (kn > 1 && *key == '0')
		key++, kn--;
	return n == kn && memcmp(d, key, n) == 0;
}

int eval_first_int_match(const char *pred, const char *label)
{
	size_t n;
	const char *d = eval_first_digits(pred, &n);
	return d != NULL && n == strlen(label) && memcmp(d, label, n) == 0;
}

int eval_kv_match(const char *pred, const char *label)
{
	size_t ln = strlen(label);
	if (ln == 0)
		return 0;
	const char *p = pred;
	for (;;) {
		while (*p && (is_space(*p) || strchr(":\"'.,?!{}", *p)))
			p++;
		if (!*p)
			return 0;
		const char *w = p;
		while (*p && !(is_space(*p) || strchr(":\"'.,?!{}", *p)))
			p++;
		if ((size_t)(p - w) == ln && memcmp(w, label, ln) == 0)
			return 1;
	}
}

/* Python's str.strip() on ASCII white space (and the other separators it knows below 0x20). */
static int py_space(unsigned char c)
{
	return c == ' ' || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f);
}

char *eval_ruler_clean(const char *pred)
{
	size_t a = 0, b = strlen(pred);
	while (a < b && py_space((unsigned char)pred[a]))
		a++;
	while (b > a && py_space((unsigned char)pred[b - 1]))
		b--;
	char *s = xstrndup(pred + a, b - a);
	for (char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20)
			*p = '\n';
	a = 0;
	b = strlen(s);
	while (a < b && py_space((unsigned char)s[a]))
		a++;
	while (b > a && py_space((unsigned char)s[b - 1]))
		b--;
	memmove(s, s + a, b - a);
	s[b - a] = '\0';
	return s;
}

static char ascii_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static int contains_nocase(const char *hay, const char *needle)
{
	size_t hn = strlen(hay), nn = strlen(needle);
	if (nn > hn)
		return 0;
	for (size_t i = 0; i + nn <= hn; i++) {
		size_t j = 0;
		while (j < nn && ascii_lower(hay[i + j]) == ascii_lower(needle[j]))
			j++;
		if (j == nn)
			return 1;
	}
	return 0;
}

double eval_match_all(const char *pred, const char *const *refs, size_t n_refs)
{
	if (n_refs == 0)
		return 0;
	size_t found = 0;
	for (size_t i = 0; i < n_refs; i++)
		found += (size_t)contains_nocase(pred, refs[i]);
	return (double)found / (double)n_refs;
}

double eval_match_part(const char *pred, const char *const *refs, size_t n_refs)
{
	for (size_t i = 0; i < n_refs; i++)
		if (contains_nocase(pred, refs[i]))
			return 1;
	return 0;
}
