/* epub.h: an EPUB as one book: container.xml -> OPF -> spine order, chapter titles from the
 * EPUB 3 nav document or the EPUB 2 NCX; the zip's entry order is never trusted. */
#ifndef QUIRE_STORE_EPUB_H
#define QUIRE_STORE_EPUB_H

#include <stddef.h>

#include "lib/buf.h"
#include "store/html.h"
#include "store/sections.h"
#include "store/store.h"

/* An offset inside the book's file number f (of epub_map.files). */
#define EPUB_SRC(f, off) ((uint64_t)(f) << 40 | (uint64_t)(off))
#define EPUB_SRC_FILE(src) ((size_t)((src) >> 40))
#define EPUB_SRC_OFF(src) ((src) & ((UINT64_C(1) << 40) - 1))

/* The byte map of a book: notes (text offset, EPUB_SRC(file, offset)) into its spine files. */
struct epub_map {
	struct html_map notes;
	char **files;               /* entry paths, malloc'd */
	size_t n_files;
};
void epub_map_free(struct epub_map *m);

/* Append the book's text to text and its sections (one level-1 section per spine document
 * titled from the table of contents, its headings below) to secs; *title gets dc:title or
 * NULL; map (when not NULL) the byte map. Fails on a damaged zip or book
 * (STORE_ERR_MALFORMED), one over the limits (STORE_ERR_TOO_LARGE) or one whose spine has no
 * text (STORE_ERR_NO_TEXT). Messages do not name the file (the caller does). */
enum store_err epub_extract(const char *data, size_t len, const struct store_limits *lim,
    struct buf *text, struct sections *secs, char **title, struct epub_map *map, char **err);

#endif
