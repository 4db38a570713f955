/* epub.h: an EPUB as one book: container.xml -> OPF -> spine order, chapter titles from the
 * EPUB 3 nav document or the EPUB 2 NCX; the zip's entry order is never trusted. */
#ifndef QUIRE_STORE_EPUB_H
#define QUIRE_STORE_EPUB_H

#include <stddef.h>

#include "lib/buf.h"
#include "store/sections.h"
#include "store/store.h"

/* Append the book's text to text and its sections (one level-1 section per spine document
 * titled from the table of contents, its headings below) to secs; *title gets dc:title or
 * NULL. Messages do not name the file (the caller does). */
int epub_extract(const char *data, size_t len, const struct store_limits *lim,
    struct buf *text, struct sections *secs, char **title, char **err);

#endif
