/* html.c: HTML to plain text with headings. The tree is walked without recursion (hostile
 * files can nest deeply); whitespace is collapsed the way a browser renders it, except in
 * <pre>. */
#include "store/html.h"

#include <libxml/HTMLparser.h>
#include <libxml/tree.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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
};

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
	if (!text_utf8_valid(s, n, NULL)) {
		text_utf8_repair(s, n, &fixed);
		s = fixed.data;
		n = fixed.len;
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

static void text_node(struct walk *w, const char *s)
{
	if (w->pre) {
		emit(w, s, strlen(s));
		return;
	}
	/* Collapse runs of blanks; a leading blank becomes an owed space. */
	struct buf word = BUF_INIT;
	for (const char *p = s; *p; ) {
		if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\f') {
			if (word.len) {
				emit(w, word.data, word.len);
				buf_reset(&word);
			}
			w->space = 1;
			while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\f')
				p++;
			continue;
		}
		buf_append_char(&word, *p++);
	}
	if (word.len)
		emit(w, word.data, word.len);
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
			if (secs)
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
	if (b.len && !text_utf8_valid(b.data, b.len, NULL)) {
		struct buf fixed = BUF_INIT;
		text_utf8_repair(b.data, b.len, &fixed);
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

int html_extract(const char *data, size_t len, struct buf *text, struct sections *secs,
    int level_offset, char **title, char **err)
{
	if (title)
		*title = NULL;
	if (len > (size_t)0x7fffffff)
		return q_error(err, "HTML file too large");
	html_xml_quiet();
	htmlDocPtr doc = htmlReadMemory(data, (int)len, NULL, NULL, HTML_PARSE_RECOVER |
	    HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING | HTML_PARSE_NONET | HTML_PARSE_COMPACT);
	if (doc == NULL)
		return q_error(err, "HTML could not be parsed");
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
	w.text = text;
	w.base = text->len;
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
			text_node(&w, (const char *)n->content);
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
	xmlFreeDoc(doc);
	return 0;
}
