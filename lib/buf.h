/* buf.h: a growable byte buffer (text or binary) that always keeps a NUL after its data. */
#ifndef QUIRE_LIB_BUF_H
#define QUIRE_LIB_BUF_H

#include <stddef.h>

#include "lib/util.h"

struct buf {
	char *data;       /* NUL-terminated; NULL until the first append */
	size_t len;       /* bytes used, not counting the NUL */
	size_t cap;       /* bytes allocated */
};

#define BUF_INIT { NULL, 0, 0 }

void buf_reserve(struct buf *b, size_t extra);
void buf_append(struct buf *b, const void *p, size_t n);
void buf_append_str(struct buf *b, const char *s);
void buf_append_char(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...) Q_PRINTF(2, 3);
void buf_reset(struct buf *b);        /* len = 0, keeps memory */
void buf_free(struct buf *b);
char *buf_steal(struct buf *b);       /* returns the data (never NULL), leaves b empty */

#endif
