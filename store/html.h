/* html.h: text and headings out of HTML and XHTML, through libxml2's forgiving HTML parser. */
#ifndef QUIRE_STORE_HTML_H
#define QUIRE_STORE_HTML_H

#include <stddef.h>

#include "lib/buf.h"
#include "store/sections.h"

/* Append the readable text of one HTML document to text (paragraphs separated by blank lines,
 * list items as "- " or "N. ", table cells joined by " | ", scripts and styles dropped,
 * UTF-8 NFC) and its headings h1..h6 to secs at level h + level_offset. *title (when not
 * NULL) receives the <title> text or NULL. Fails only when libxml2 cannot parse at all. */
int html_extract(const char *data, size_t len, struct buf *text, struct sections *secs,
    int level_offset, char **title, char **err);

/* libxml2 reports some errors (encoding conversion, I/O) on stderr whatever the parse
 * options say; the store never prints, so its parses go through this first. */
void html_xml_quiet(void);

/* A short one-line text of a node subtree is what titles need; this is the collapsed text of
 * an HTML fragment string (used for EPUB navigation labels). Malloc'd. */
char *html_collapse_ws(const char *s);

#endif
