/* formats.h: the formats ingest tells apart, as one table in the order of detection: each
 * entry names a format, sniffs it from a source's name and first bytes, and extracts the text
 * of a document in it; containers (archives, compressed files) have no extractor, the walk in
 * ingest.c opens them with libarchive. */
#ifndef QUIRE_STORE_FORMATS_H
#define QUIRE_STORE_FORMATS_H

#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "store/sections.h"
#include "store/store.h"

/* Bytes at the start of a source that every container sniffer decides on (an ISO 9660 volume
 * descriptor sits at 32769); the document sniffers get the whole source. */
#define FORMAT_HEAD 32800

/* One extracted document: what doc_write stores. Owned until format_doc_free. */
struct format_doc {
	struct buf text;            /* UTF-8, NFC; NUL-terminated once extracted */
	struct sections secs;       /* finished: ordered, with ends, parents and lines */
	char *title;                /* from the document itself, or NULL */
	const char *encoding;       /* what the source was read as */
	uint64_t lines;             /* lines of text (a last line without '\n' counts) */
	uint64_t *map;              /* map_len pairs (text offset, source offset); NULL when the
	                               text is the source's bytes */
	size_t map_len;
	char **files;               /* files of the source the map points into (EPUB), or NULL */
	size_t n_files;
	const char *note;           /* said when the document is stored, or NULL */
};

void format_doc_free(struct format_doc *d);

struct format {
	const char *name;           /* stored as the document's format (containers never are) */
	/* 1 when a source called name (a file or member name) whose bytes start with p[0..n) is
	 * in this format; n is the whole source, or FORMAT_HEAD bytes of a longer one when only
	 * containers are being told apart. */
	int (*sniff)(const char *name, const unsigned char *p, size_t n);
	/* Without a sniff function: the format is magic_len bytes of magic at byte magic_at. */
	const char *magic;
	size_t magic_len, magic_at;
	/* The text of the whole source into *out (zeroed by the caller): STORE_ERR_NONE, or the
	 * kind with a message that does not name the file (the caller does). NULL: a container. */
	enum store_err (*extract)(const char *name, const char *data, size_t len,
	    const struct store_limits *lim, struct format_doc *out, char **err);
	/* NULL, or why this build cannot read the format (NULL when it can). */
	const char *(*unavailable)(void);
};

/* Every format, in the order of detection; ends with an entry whose name is NULL. Plain text
 * comes last and takes anything. */
extern const struct format format_table[];

/* The first entry of format_table that sniffs p[0..n) named name as its own (never NULL). */
const struct format *format_sniff(const char *name, const unsigned char *p, size_t n);

#endif
