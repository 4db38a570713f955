/* error.c: the error-string convention (return -1, fill *err) and fatal() for bugs. */
#include "lib/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static const char *progname = "quire";

void q_set_progname(const char *name)
{
	progname = name;
}

const char *q_progname(void)
{
	return progname;
}

int q_error(char **err, const char *fmt, ...)
{
	if (err != NULL) {
		va_list ap;
		va_start(ap, fmt);
		char *msg = xvasprintf(fmt, ap);
		va_end(ap);
		free(*err);
		*err = msg;
	}
	return -1;
}

void q_warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "%s: ", progname);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

void fatal(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "%s: fatal: ", progname);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	abort();
}

double q_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
