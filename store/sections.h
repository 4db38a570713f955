/* sections.h: the hierarchy of a document (headings, chapters, articles, clauses, verses) as
 * byte ranges of its stored text, found by per-format detectors. */
#ifndef QUIRE_STORE_SECTIONS_H
#define QUIRE_STORE_SECTIONS_H

#include <stddef.h>
#include <stdint.h>

struct section {
	size_t start;               /* first byte in the stored text */
	size_t end;                 /* one past the last byte: next section of level <= ours */
	int level;                  /* 1 = outermost; larger is deeper */
	long parent;                /* index of the enclosing section, -1 for none */
	uint64_t line;              /* 1-based line of start */
	char *title;                /* one line, at most SECTION_TITLE_MAX bytes, UTF-8 */
};

struct sections {
	struct section *v;
	size_t n, cap;
};

#define SECTION_TITLE_MAX 120

/* Add a section starting at byte start; the title is trimmed of blanks and cut to the
 * limit at a UTF-8 boundary. */
void sections_add(struct sections *s, size_t start, int level, const char *title, size_t len);
/* Order by start and fill end, parent and line from the text. */
void sections_finish(struct sections *s, const char *text, size_t len);
void sections_free(struct sections *s);

/* Plain text: Part/Book/Volume, Chapter, Article, Amendment, Section, §, numbered clauses
 * (1., 1.1, (a)) and verse references ("Ge5:27 ..."). */
void sections_detect_text(const char *text, size_t len, struct sections *out);
/* Markdown ATX (#) and setext (=== / ---) headings, outside fenced code. */
void sections_detect_markdown(const char *text, size_t len, struct sections *out);

#endif
