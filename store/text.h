/* text.h: turning untrusted bytes into the stored text: encoding detection (UTF-8, BOMs,
 * UTF-16, Windows-1252 fallback), binary detection, NFC normalisation and the map from stored
 * offsets back to source offsets. */
#ifndef QUIRE_STORE_TEXT_H
#define QUIRE_STORE_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "store/store.h"

enum text_encoding {
	TEXT_UTF8,                  /* valid UTF-8, no BOM */
	TEXT_UTF8_BOM,              /* valid UTF-8 after an EF BB BF mark (the mark is dropped) */
	TEXT_UTF16LE,               /* FF FE mark */
	TEXT_UTF16BE,               /* FE FF mark */
	TEXT_CP1252,                /* not UTF-8: read as Windows-1252 (Latin-1 superset) */
};

const char *text_encoding_name(enum text_encoding e);

/* The encoding the bytes are in, judged from a BOM and UTF-8 validity. */
enum text_encoding text_detect(const char *p, size_t n);

/* 1 when the bytes look like a binary file rather than text: NUL bytes (outside UTF-16) or
 * mostly control characters. */
int text_is_binary(const char *p, size_t n);

/* The stored form of a text: UTF-8, NFC, with map pairs (text offset, source offset), one at
 * every line start where the two drift apart; within a line offsets are approximate. */
struct text_norm {
	struct buf text;            /* the normalised text */
	uint64_t *map;              /* 2 * map_len values: text_off, src_off; starts with (0, skip) */
	size_t map_len;             /* pairs */
	enum text_encoding enc;     /* what the source was read as */
	int identical;              /* 1 when text equals the source bytes exactly */
	uint64_t lines;             /* lines in the text (a last line without '\n' counts) */
};

/* Decode and normalise. Fails (message without the file name, the caller adds it) on a
 * binary file (STORE_ERR_NOT_DOCUMENT) or a line longer than max_line bytes (0 = no limit;
 * STORE_ERR_TOO_LARGE). */
enum store_err text_normalize(const char *src, size_t n, size_t max_line,
    struct text_norm *out, char **err);
void text_norm_free(struct text_norm *t);

/* NFC of valid UTF-8 (malloc'd, *out_len set); returns 0, or -1 if utf8proc refuses. */
int text_nfc(const char *s, size_t n, char **out, size_t *out_len);

#endif
