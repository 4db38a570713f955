/* pdf.h: the text of a PDF, page by page, through poppler-glib when quire is built with it
 * (configure --with-pdf); each page is a section. */
#ifndef QUIRE_STORE_PDF_H
#define QUIRE_STORE_PDF_H

#include <stddef.h>

#include "lib/buf.h"
#include "store/sections.h"
#include "store/store.h"

/* 1 when the bytes start like a PDF ("%PDF-"; not later, so that a text about PDF stays
 * text). */
int pdf_sniff(const char *data, size_t len);

/* 1 when this build reads PDFs. */
int pdf_supported(void);

/* Append the text of every page to text (UTF-8, NFC, each page ending in a newline, a blank
 * line between pages) and a level-1 section per page titled "Page LABEL" to secs; *title gets
 * the document's Title or NULL. Fails (message without the file name) on an encrypted
 * (STORE_ERR_ENCRYPTED) or damaged (STORE_ERR_MALFORMED) PDF, one without text
 * (STORE_ERR_NO_TEXT), or when this build has no PDF support (STORE_ERR_UNSUPPORTED). */
enum store_err pdf_extract(const char *data, size_t len, struct buf *text,
    struct sections *secs, char **title, char **err);

#endif
