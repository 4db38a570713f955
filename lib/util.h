/* util.h: allocation that never returns NULL, error-message plumbing and small helpers
 * shared by every part of quire (lib/ depends on libc alone). */
#ifndef QUIRE_LIB_UTIL_H
#define QUIRE_LIB_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define Q_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define Q_NORETURN __attribute__((noreturn))
#else
#define Q_PRINTF(f, a)
#define Q_NORETURN
#endif

#define Q_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* alloc.c: every allocation aborts with a message on exhaustion, so callers never check. */
void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);
void *xreallocarray(void *p, size_t count, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) Q_PRINTF(1, 2);
char *xvasprintf(const char *fmt, va_list ap) Q_PRINTF(1, 0);

/* error.c: library code never prints. A failing function returns -1 and, when err is not
 * NULL, stores a malloc'd message in *err ("FILE: what went wrong") that the caller shows
 * and frees. Impossible states call fatal(). */
int q_error(char **err, const char *fmt, ...) Q_PRINTF(2, 3);   /* always returns -1 */
void fatal(const char *fmt, ...) Q_PRINTF(1, 2) Q_NORETURN;
void q_set_progname(const char *name);
const char *q_progname(void);
/* Print "quire: msg" to stderr (used by tui/ only). */
void q_warn(const char *fmt, ...) Q_PRINTF(1, 2);

/* Overflow-checked arithmetic on sizes: return 0 on success, -1 on overflow. */
static inline int q_mul_size(size_t a, size_t b, size_t *out)
{
	return __builtin_mul_overflow(a, b, out) ? -1 : 0;
}
static inline int q_add_size(size_t a, size_t b, size_t *out)
{
	return __builtin_add_overflow(a, b, out) ? -1 : 0;
}
static inline int q_mul_u64(uint64_t a, uint64_t b, uint64_t *out)
{
	return __builtin_mul_overflow(a, b, out) ? -1 : 0;
}
static inline int q_add_u64(uint64_t a, uint64_t b, uint64_t *out)
{
	return __builtin_add_overflow(a, b, out) ? -1 : 0;
}

/* Little-endian fields of n bytes (n <= 8), as quire's file formats store them. */
static inline void le_put(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint64_t le_get(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = n - 1; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

/* time.c */
double q_now(void);          /* monotonic seconds */

#endif
