/* html.c: HTML to plain text with headings. The tree is walked without recursion (hostile
 * files can nest deeply); whitespace is collapsed the way a browser renders it, except in
 * <pre>. */
#include "store/html.h"

#include <libxml/HTMLparser.h>
#include <libxml/tree.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/utf8.h"
#include "lib/util.h"
#include "store/text.h"

enum brk { BRK_NONE, BRK_LINE, BRK_PARA };

struct walk {
	struct buf *text;           /* output */
	size_t base;                /* text->len when this document started */
	enum brk pending;           /* break owed before the next text */
	int space;                  /* a collapsed blank is owed before the next text */
	int pre;                    /* inside <pre> (depth) */
	int list_depth;             /* nested ul/ol */
	long counters[32];          /* ol item numbers per depth; 0 for ul */
	int cell;                   /* cells so far in the current table row */
	size_t heading_start;       /* text offset where the open heading began */
	int heading;                /* open heading level, 0 for none */
	/* The byte map (all unused when map is NULL). */
	struct html_map *map;
	const char *src;            /* the source bytes */
	size_t src_len;
	size_t *line_start;         /* byte offset of each source line, [0] = line 1 */
	size_t n_lines;
	size_t cursor;              /* source offset after the last word found */
	uint64_t scan_left;         /* source bytes the searches may still read */
	int64_t src_next;           /* source offset of the next word emitted, -1: none */
};

void html_map_free(struct html_map *m)
{
	free(m->v);
	memset(m, 0, sizeof *m);
}

static void map_push(struct html_map *m, uint64_t text_off, uint64_t src_off)
{
	/* A later note for the same place wins; notes past it point at blanks that a break
	 * trimmed away since. */
	while (m->n && m->v[2 * m->n - 2] >= text_off)
		m->n--;
	if (m->n == m->cap) {
		m->cap = m->cap ? 2 * m->cap : 64;
		m->v = xreallocarray(m->v, m->cap, 2 * sizeof *m->v);
	}
	m->v[2 * m->n] = text_off;
	m->v[2 * m->n + 1] = src_off;
	m->n++;
}

/* Where does word (n bytes, on source line `line`, 0 if unknown) start in the source? Its
 * bytes searched from the later of the cursor and the line's start, in a bounded window and
 * within a total budget (so a hostile file cannot make this quadratic); failing that, the
 * line's start; else -1. */
static int64_t locate(struct walk *w, const char *word, size_t n, long line)
{
	size_t from = w->cursor, ls = 0;
	int have_line = line > 0 && line < 65535 && (size_t)line <= w->n_lines &&
	    w->line_start[line - 1] < w->src_len;   /* not the empty line after a last '\n' */
	if (have_line) {
		ls = w->line_start[line - 1];
		if (ls > from)
			from = ls;
	}
	if (n > 64)
		n = 64;
	if (n && from < w->src_len && w->scan_left > 0) {
		size_t span = w->src_len - from < 65536 ? w->src_len - from : 65536;
		const char *p = memmem(w->src + from, span, word, n);
		uint64_t read = p ? (uint64_t)(p - (w->src + from)) + n : span;
		w->scan_left = read < w->scan_left ? w->scan_left - read : 0;
		if (p) {
			w->cursor = (size_t)(p - w->src) + n;
			return p - w->src;
		}
	}
	if (have_line) {
		if (ls > w->cursor)
			w->cursor = ls;
		return (int64_t)ls;
	}
	return -1;
}

static int name_is(const xmlNode *n, const char *name)
{
	return n->name && strcasecmp((const char *)n->name, name) == 0;
}

static int heading_level(const xmlNode *n)
{
	const char *s = (const char *)n->name;
	if (s && (s[0] == 'h' || s[0] == 'H') && s[1] >= '1' && s[1] <= '6' && s[2] == '\0')
		return s[1] - '0';
	return 0;
}

static int is_skipped(const xmlNode *n)
{
	static const char *const skip[] = { "script", "style", "head", "noscript", "template",
		"svg", "iframe", "object", "embed", "canvas", NULL };
	for (const char *const *s = skip; *s; s++)
		if (name_is(n, *s))
			return 1;
	return 0;
}

static enum brk block_kind(const xmlNode *n)
{
	static const char *const para[] = { "p", "pre", "blockquote", "table", "dl", "figure",
		"address", "hr", "section", "article", "aside", "header", "footer", "nav",
		"details", "fieldset", "form", "main", NULL };
	static const char *const line[] = { "div", "li", "tr", "dt", "dd", "ul", "ol",
		"caption", "figcaption", "summary", "body", "html", "thead", "tbody", "tfoot",
		"center", "legend", "option", NULL };
	if (heading_level(n))
		return BRK_PARA;
	for (const char *const *s = para; *s; s++)
		if (name_is(n, *s))
			return BRK_PARA;
	for (const char *const *s = line; *s; s++)
		if (name_is(n, *s))
			return BRK_LINE;
	return BRK_NONE;
}

static void want_break(struct walk *w, enum brk b)
{
	if (b > w->pending)
		w->pending = b;
}

/* Materialise an owed break, never at the very start of this document's text. */
static void flush_break(struct walk *w)
{
	struct buf *t = w->text;
	if (w->pending == BRK_NONE)
		return;
	while (t->len > w->base && t->data[t->len - 1] == ' ')
		t->data[--t->len] = '\0';
	if (t->len > w->base) {
		int have = 0;
		for (size_t i = t->len; i > w->base && t->data[i - 1] == '\n' && have < 2; i--)
			have++;
		int need = w->pending == BRK_PARA ? 2 : 1;
		for (; have < need; have++)
			buf_append_char(t, '\n');
	}
	w->pending = BRK_NONE;
	w->space = 0;
}

static int at_line_start(const struct walk *w)
{
	return w->text->len == w->base || w->text->data[w->text->len - 1] == '\n';
}

static void emit(struct walk *w, const char *s, size_t n)
{
	if (n == 0)
		return;
	flush_break(w);
	if (w->space && !at_line_start(w))
		buf_append_char(w->text, ' ');
	w->space = 0;
	/* libxml2 can pass bytes of a badly declared encoding through: never store them. */
	struct buf fixed = BUF_INIT;
	if (!utf8_valid(s, n, NULL)) {
		utf8_repair(s, n, &fixed);
		s = fixed.data;
		n = fixed.len;
	}
	if (w->map && w->src_next >= 0) {
		map_push(w->map, w->text->len, (uint64_t)w->src_next);
		w->src_next = -1;
	}
	char *nfc;
	size_t nfc_len;
	if (text_nfc(s, n, &nfc, &nfc_len) == 0) {
		buf_append(w->text, nfc, nfc_len);
		free(nfc);
	} else {
		buf_append(w->text, s, n);
	}
	buf_free(&fixed);
}

/* line: the source line where the text node starts (0 if unknown). */
static void text_node(struct walk *w, const char *s, long line)
{
	if (w->pre) {
		if (w->map) {
			size_t k = 0;
			while (s[k] == '\n' || s[k] == '\r')
				line += s[k++] == '\n' && line > 0;
			size_t n = strcspn(s + k, "\r\n");
			if (s[k])
				w->src_next = locate(w, s + k, n, line);
		}
		emit(w, s, strlen(s));
		return;
	}
	/* Collapse runs of blanks; a leading blank becomes an owed space. The first word of the
	 * node and of each of its source lines gets a map note. */
	struct buf word = BUF_INIT;
	int note = 1;
	for (const char *p = s; ; ) {
		if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\f' || !*p) {
			if (word.len) {
				if (w->map && note) {
					w->src_next = locate(w, word.data, word.len, line);
					note = 0;
				}
				emit(w, word.data, word.len);
				buf_reset(&word);
			}
			if (!*p)
				break;
			w->space = 1;
			while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\f') {
				if (*p == '\n') {
					note = 1;
					if (line > 0)
						line++;
				}
				p++;
			}
			continue;
		}
		buf_append_char(&word, *p++);
	}
	buf_free(&word);
}

static void enter(struct walk *w, xmlNode *n)
{
	enum brk b = block_kind(n);
	if (b)
		want_break(w, b);
	if (name_is(n, "br")) {
		flush_break(w);
		buf_append_char(w->text, '\n');
		w->space = 0;
	} else if (name_is(n, "pre")) {
		w->pre++;
	} else if (name_is(n, "ul") || name_is(n, "ol")) {
		if (w->list_depth < 32)
			w->counters[w->list_depth] = name_is(n, "ol") ? 1 : 0;
		w->list_depth++;
	} else if (name_is(n, "li")) {
		flush_break(w);
		int d = w->list_depth > 0 ? w->list_depth - 1 : 0;
		for (int i = 0; i < d && i < 16; i++)
			buf_append_str(w->text, "  ");
		if (d < 32 && w->list_depth > 0 && w->counters[d] > 0)
			buf_printf(w->text, "%ld. ", w->counters[d]++);
		else
			buf_append_str(w->text, "- ");
	} else if (name_is(n, "tr")) {
		w->cell = 0;
	} else if (name_is(n, "td") || name_is(n, "th")) {
		if (w->cell++ > 0) {
			flush_break(w);
			buf_append_str(w->text, " | ");
			w->space = 0;
		}
	} else if (heading_level(n) && !w->heading) {
		flush_break(w);
		w->heading = heading_level(n);
		w->heading_start = w->text->len;
	}
}

static void leave(struct walk *w, xmlNode *n, struct sections *secs, int level_offset)
{
	enum brk b = block_kind(n);
	if (name_is(n, "pre") && w->pre > 0)
		w->pre--;
	else if ((name_is(n, "ul") || name_is(n, "ol")) && w->list_depth > 0)
		w->list_depth--;
	else if (heading_level(n) && w->heading == heading_level(n)) {
		size_t s = w->heading_start, e = w->text->len;
		if (e > s) {
			char *t = xstrndup(w->text->data + s, e - s);
			for (char *c = t; *c; c++)
				if (*c == '\n')
					*c = ' ';
			if (secs && t[strspn(t, " \t\r")] != '\0')   /* not blank only */
				sections_add(secs, s, w->heading + level_offset, t, strlen(t));
			free(t);
		}
		w->heading = 0;
	}
	if (b)
		want_break(w, b);
}

static char *node_text(xmlNode *n)
{
	xmlChar *c = xmlNodeGetContent(n);
	char *s = html_collapse_ws(c ? (const char *)c : "");
	xmlFree(c);
	return s;
}

char *html_collapse_ws(const char *s)
{
	struct buf b = BUF_INIT;
	int space = 0;
	for (; *s; s++) {
		if (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r' || *s == '\f') {
			space = 1;
			continue;
		}
		if (space && b.len)
			buf_append_char(&b, ' ');
		space = 0;
		buf_append_char(&b, *s);
	}
	if (b.len && !utf8_valid(b.data, b.len, NULL)) {
		struct buf fixed = BUF_INIT;
		utf8_repair(b.data, b.len, &fixed);
		buf_free(&b);
		b = fixed;
	}
	return buf_steal(&b);
}

static xmlNode *find_title(xmlNode *n)
{
	/* Breadth is small: <title> sits in <head>; walk without recursion. */
	xmlNode *cur = n;
	while (cur) {
		if (cur->type == XML_ELEMENT_NODE && name_is(cur, "title"))
			return cur;
		if (cur->type == XML_ELEMENT_NODE && name_is(cur, "body"))
			goto next;
		if (cur->children) {
			cur = cur->children;
			continue;
		}
next:
		while (cur && !cur->next) {
			cur = cur->parent;
			if (cur == n || cur == NULL)
				return NULL;
		}
		if (cur)
			cur = cur->next;
	}
	return NULL;
}

static void xml_quiet_generic(void *ctx, const char *msg, ...)
{
	(void)ctx;
	(void)msg;
}

static void xml_quiet_structured(void *ctx, xmlErrorPtr e)
{
	(void)ctx;
	(void)e;
}

void html_xml_quiet(void)
{
	xmlInitParser();
	xmlSetGenericErrorFunc(NULL, xml_quiet_generic);
	xmlSetStructuredErrorFunc(NULL, xml_quiet_structured);
}

/* libxml2 gives a text node the line where it ends: count back to where it starts. */
static long text_start_line(const xmlNode *n)
{
	long line = xmlGetLineNo((xmlNode *)n);
	if (line <= 0 || line >= 65535)
		return 0;
	for (const char *c = (const char *)n->content; *c; c++)
		if (*c == '\n')
			line--;
	return line > 0 ? line : 1;
}

enum store_err html_extract(const char *data, size_t len, struct buf *text,
    struct sections *secs, int level_offset, char **title, struct html_map *map, char **err)
{
	if (title)
		*title = NULL;
	if (len > (size_t)0x7fffffff) {
		q_error(err, "HTML file too large");
		return STORE_ERR_TOO_LARGE;
	}
	html_xml_quiet();
	htmlDocPtr doc = htmlReadMemory(data, (int)len, NULL, NULL, HTML_PARSE_RECOVER |
	    HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING | HTML_PARSE_NONET | HTML_PARSE_COMPACT);
	if (doc == NULL) {
		q_error(err, "HTML could not be parsed");
		return STORE_ERR_MALFORMED;
	}
	xmlNode *root = xmlDocGetRootElement(doc);
	if (title && root) {
		xmlNode *t = find_title(root);
		if (t) {
			char *s = node_text(t);
			if (*s)
				*title = s;
			else
				free(s);
		}
	}
	struct walk w;
	memset(&w, 0, sizeof w);
	size_t first_sec = secs ? secs->n : 0;
	w.text = text;
	w.base = text->len;
	w.src_next = -1;
	if (map) {
		w.map = map;
		w.src = data;
		w.src_len = len;
		w.scan_left = 64 * (uint64_t)len + (1u << 20);
		size_t cap = 1024;
		w.line_start = xmalloc(cap * sizeof *w.line_start);
		w.line_start[w.n_lines++] = 0;
		for (size_t i = 0; i < len; i++)
			if (data[i] == '\n') {
				if (w.n_lines == cap) {
					cap *= 2;
					w.line_start = xreallocarray(w.line_start, cap, sizeof *w.line_start);
				}
				w.line_start[w.n_lines++] = i + 1;
			}
	}
	xmlNode *n = root;
	while (n) {
		int descend = 0;
		if (n->type == XML_ELEMENT_NODE) {
			if (!is_skipped(n)) {
				enter(&w, n);
				descend = 1;
			}
		} else if ((n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) &&
		    n->content) {
			text_node(&w, (const char *)n->content, map ? text_start_line(n) : 0);
		}
		if (descend && n->children) {
			n = n->children;
			continue;
		}
		if (descend)
			leave(&w, n, secs, level_offset);
		while (n && n != root && !n->next) {
			n = n->parent;
			if (n && n->type == XML_ELEMENT_NODE)
				leave(&w, n, secs, level_offset);
		}
		if (n == NULL || n == root)
			break;
		n = n->next;
	}
	/* End with exactly one newline. */
	while (text->len > w.base && (text->data[text->len - 1] == ' ' ||
	    text->data[text->len - 1] == '\n'))
		text->data[--text->len] = '\0';
	if (text->len > w.base)
		buf_append_char(text, '\n');
	/* Headings and notes past the trimmed end point at nothing. */
	if (secs)
		while (secs->n > first_sec && secs->v[secs->n - 1].start >= text->len) {
			free(secs->v[secs->n - 1].title);
			secs->n--;
		}
	while (map && map->n && map->v[2 * map->n - 2] >= text->len)
		map->n--;
	free(w.line_start);
	xmlFreeDoc(doc);
	return STORE_ERR_NONE;
}
