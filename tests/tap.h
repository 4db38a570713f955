/* tap.h: a tiny header-only TAP producer for C unit tests, read by automake's TAP driver.
 *
 *   plan(3) or no plan and done_testing() at the end;
 *   ok(cond, "name %d", i); is_int(got, want, "name"); is_str(got, want, "name");
 *   is_double(got, want, tol, "name"); skip_all("reason"); skip(n, "reason");
 *   return exit_status();
 */
#ifndef QUIRE_TESTS_TAP_H
#define QUIRE_TESTS_TAP_H

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_run_count;
static int tap_fail_count;
static int tap_planned = -1;

static inline void plan(int n)
{
	tap_planned = n;
	printf("1..%d\n", n);
	fflush(stdout);
}

static inline void diag(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("# ", stdout);
	vprintf(fmt, ap);
	fputc('\n', stdout);
	va_end(ap);
	fflush(stdout);
}

static inline int tap_vok(int cond, const char *fmt, va_list ap)
{
	tap_run_count++;
	if (!cond)
		tap_fail_count++;
	printf("%sok %d - ", cond ? "" : "not ", tap_run_count);
	vprintf(fmt, ap);
	fputc('\n', stdout);
	fflush(stdout);
	return cond;
}

static inline int ok(int cond, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = tap_vok(cond, fmt, ap);
	va_end(ap);
	return r;
}

static inline int is_int(long long got, long long want, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = tap_vok(got == want, fmt, ap);
	va_end(ap);
	if (!r)
		diag("     got: %lld\n#   expected: %lld", got, want);
	return r;
}

static inline int is_str(const char *got, const char *want, const char *fmt, ...)
{
	int same = (got == NULL && want == NULL) ||
	    (got != NULL && want != NULL && strcmp(got, want) == 0);
	va_list ap;
	va_start(ap, fmt);
	int r = tap_vok(same, fmt, ap);
	va_end(ap);
	if (!r)
		diag("     got: \"%s\"\n#   expected: \"%s\"", got ? got : "(null)",
		    want ? want : "(null)");
	return r;
}

/* Passes when |got - want| <= tol (absolute). */
static inline int is_double(double got, double want, double tol, const char *fmt, ...)
{
	int good = !isnan(got) && fabs(got - want) <= tol;
	va_list ap;
	va_start(ap, fmt);
	int r = tap_vok(good, fmt, ap);
	va_end(ap);
	if (!r)
		diag("     got: %.12g\n#   expected: %.12g (tolerance %.3g)", got, want, tol);
	return r;
}

/* A check of a goal not reached yet: reported as "not ok ... # TODO reason" while it fails
 * (which does not fail the suite) and "ok ... # TODO" once it passes (the driver flags that
 * as XPASS, an error, so the TODO mark is removed when the goal is met). */
static inline int todo_ok(int cond, const char *reason, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	tap_run_count++;
	printf("%sok %d - ", cond ? "" : "not ", tap_run_count);
	vprintf(fmt, ap);
	printf(" # TODO %s\n", reason);
	fflush(stdout);
	va_end(ap);
	return cond;
}

static inline void skip(int n, const char *reason)
{
	for (int i = 0; i < n; i++) {
		tap_run_count++;
		printf("ok %d # SKIP %s\n", tap_run_count, reason);
	}
	fflush(stdout);
}

/* Skip the whole test program (e.g. no GPU); never counts as a pass. */
static inline int skip_all(const char *reason)
{
	printf("1..0 # SKIP %s\n", reason);
	fflush(stdout);
	return 0;
}

/* A fresh folder $TMPDIR/NAME.XXXXXX (default /tmp) in buf: 0, or -1 when it cannot be made. */
static inline int tap_tmpdir(const char *name, char *buf, size_t size)
{
	const char *t = getenv("TMPDIR");
	if (snprintf(buf, size, "%s/%s.XXXXXX", t && t[0] ? t : "/tmp", name) >= (int)size)
		return -1;
	return mkdtemp(buf) != NULL ? 0 : -1;
}

/* Remove a folder tap_tmpdir made, with all it holds. */
static inline void tap_tmpdir_remove(const char *dir)
{
	size_t n = strlen(dir) + 16;
	char *cmd = malloc(n);
	if (cmd == NULL)
		return;
	snprintf(cmd, n, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		diag("could not remove %s", dir);
	free(cmd);
}

static inline void done_testing(void)
{
	if (tap_planned < 0) {
		printf("1..%d\n", tap_run_count);
		tap_planned = tap_run_count;
	}
	fflush(stdout);
}

static inline int exit_status(void)
{
	if (tap_planned >= 0 && tap_planned != tap_run_count) {
		diag("planned %d tests but ran %d", tap_planned, tap_run_count);
		return 1;
	}
	return tap_fail_count ? 1 : 0;
}

#endif
