/* pdf.c: PDF text through poppler-glib (when HAVE_PDF): the document is opened from memory,
 * each page's text is taken in reading order, made valid NFC UTF-8 and marked as a section.
 * Without poppler the functions say so and ingest skips PDFs with that reason. */
#include "config.h"

#include "store/pdf.h"

#include <stdlib.h>
#include <string.h>

#include "lib/utf8.h"
#include "lib/util.h"
#include "store/html.h"
#include "store/text.h"

#ifdef HAVE_PDF
#include <poppler.h>
#endif

int pdf_sniff(const char *data, size_t len)
{
	return len >= 5 && memcmp(data, "%PDF-", 5) == 0;
}

#ifdef HAVE_PDF

int pdf_supported(void)
{
	return 1;
}

/* One page's text: bad bytes repaired, NFC, form feeds and NULs dropped, "\r\n" to "\n". */
static void append_page(struct buf *text, const char *s)
{
	struct buf clean = BUF_INIT;
	for (const char *p = s; *p; p++) {
		if (*p == '\f' || (*p == '\r' && p[1] == '\n'))
			continue;
		buf_append_char(&clean, *p == '\r' ? '\n' : *p);
	}
	if (clean.len == 0) {
		buf_free(&clean);
		return;
	}
	struct buf fixed = BUF_INIT;
	const char *t = clean.data;
	size_t n = clean.len;
	if (!utf8_valid(t, n, NULL)) {
		utf8_repair(t, n, &fixed);
		t = fixed.data;
		n = fixed.len;
	}
	char *nfc;
	size_t nfc_len;
	if (text_nfc(t, n, &nfc, &nfc_len) == 0) {
		buf_append(text, nfc, nfc_len);
		free(nfc);
	} else {
		buf_append(text, t, n);
	}
	buf_free(&fixed);
	buf_free(&clean);
	if (text->data[text->len - 1] != '\n')
		buf_append_char(text, '\n');
}

enum store_err pdf_extract(const char *data, size_t len, struct buf *text,
    struct sections *secs, char **title, char **err)
{
	*title = NULL;
	GError *ge = NULL;
	GBytes *bytes = g_bytes_new_static(data, len);
	PopplerDocument *doc = poppler_document_new_from_bytes(bytes, NULL, &ge);
	if (doc == NULL) {
		int enc = ge && ge->domain == POPPLER_ERROR && ge->code == POPPLER_ERROR_ENCRYPTED;
		q_error(err, "%s", enc ? "encrypted PDF (needs a password): skipped" :
		    ge && ge->message ? ge->message : "not a readable PDF");
		if (ge)
			g_error_free(ge);
		g_bytes_unref(bytes);
		return enc ? STORE_ERR_ENCRYPTED : STORE_ERR_MALFORMED;
	}
	gchar *t = poppler_document_get_title(doc);
	if (t) {
		char *c = html_collapse_ws(t);
		if (*c)
			*title = c;
		else
			free(c);
		g_free(t);
	}
	int pages = poppler_document_get_n_pages(doc);
	for (int i = 0; i < pages; i++) {
		PopplerPage *page = poppler_document_get_page(doc, i);
		if (page == NULL)
			continue;
		gchar *s = poppler_page_get_text(page);
		size_t start = text->len;
		if (start && text->data[start - 1] == '\n')
			buf_append_char(text, '\n');   /* a blank line between pages */
		size_t page_start = text->len;
		if (s)
			append_page(text, s);
		if (text->len == page_start) {
			text->len = start;                 /* an empty page adds nothing */
			if (text->data)
				text->data[start] = '\0';
		} else {
			gchar *label = poppler_page_get_label(page);
			char *name = label && *label ? xasprintf("Page %s", label) :
			    xasprintf("Page %d", i + 1);
			sections_add(secs, page_start, 1, name, strlen(name));
			free(name);
			g_free(label);
		}
		g_free(s);
		g_object_unref(page);
	}
	g_object_unref(doc);
	g_bytes_unref(bytes);
	if (text->len == 0) {
		q_error(err, "PDF has no text (scanned pages need OCR)");
		return STORE_ERR_NO_TEXT;
	}
	return STORE_ERR_NONE;
}

#else

int pdf_supported(void)
{
	return 0;
}

enum store_err pdf_extract(const char *data, size_t len, struct buf *text,
    struct sections *secs, char **title, char **err)
{
	(void)data;
	(void)len;
	(void)text;
	(void)secs;
	*title = NULL;
	q_error(err, "PDF: this quire was built without PDF support (configure "
	    "--with-pdf, needs libpoppler-glib-dev)");
	return STORE_ERR_UNSUPPORTED;
}

#endif
