/* progress.h: one throttled progress line on stderr for long work (done/total, rate, ETA),
 * shown only when stderr is a terminal or the user asked with -v, and never with -q. */
#ifndef QUIRE_TUI_PROGRESS_H
#define QUIRE_TUI_PROGRESS_H

#include <stddef.h>
#include <stdint.h>

struct opts;

struct progress {
	const char *what;           /* "scoring", "ingesting", ... */
	const char *unit;           /* "tokens", "files", ... */
	uint64_t total;             /* 0 when unknown */
	double t_start;             /* q_now() at the start */
	double t_last;              /* last redraw */
	int enabled;                /* draw at all */
	int tty;                    /* redraw in place with \r */
	int drawn;                  /* something is on the line */
	int bytes;                  /* counts are bytes: print them as 1.2 MB */
};

void progress_start(struct progress *p, const struct opts *o, const char *what,
    const char *unit, uint64_t total);
/* Redraw at most ~10 times a second; extra is a short note shown after the numbers. */
void progress_update(struct progress *p, uint64_t done, const char *extra);
/* Final line with the total time and rate. */
void progress_end(struct progress *p, uint64_t done);
/* Erase the progress line (before printing a message), if one is on screen. */
void progress_clear(struct progress *p);
/* v bytes as "512 B", "1.2 MB", ... (powers of 1000). */
void progress_human_bytes(char *out, size_t n, double v);

#endif
