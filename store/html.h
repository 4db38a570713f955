/* html.h: text and headings out of HTML and XHTML, through libxml2's forgiving HTML parser. */
#ifndef QUIRE_STORE_HTML_H
#define QUIRE_STORE_HTML_H

#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "store/sections.h"
#include "store/store.h"

/* Where the text came from: pairs (text offset, source byte offset), one at the start of each
 * text node and of each source line inside one, in text order. Exact at those points when the
 * words appear verbatim in the source (no entity or encoding change); otherwise the start of
 * the source line that holds them (libxml2 knows lines up to 65534). */
struct html_map {
	uint64_t *v;                /* 2 * n values */
	size_t n, cap;
};

void html_map_free(struct html_map *m);

/* Append the readable text of one HTML document to text (paragraphs separated by blank lines,
 * list items as "- " or "N. ", table cells joined by " | ", scripts and styles dropped,
 * UTF-8 NFC) and its headings h1..h6 to secs at level h + level_offset. *title (when not
 * NULL) receives the <title> text or NULL; map (when not NULL) gets the byte map. Fails only
 * when the document is too large for libxml2 (STORE_ERR_TOO_LARGE) or it cannot parse at all
 * (STORE_ERR_MALFORMED). */
enum store_err html_extract(const char *data, size_t len, struct buf *text,
    struct sections *secs, int level_offset, char **title, struct html_map *map, char **err);

/* libxml2 reports some errors (encoding conversion, I/O) on stderr whatever the parse
 * options say; the store never prints, so its parses go through this first. */
void html_xml_quiet(void);

/* A short one-line text of a node subtree is what titles need; this is the collapsed text of
 * an HTML fragment string (used for EPUB navigation labels). Malloc'd. */
char *html_collapse_ws(const char *s);

#endif
