/* progress.c: a progress line with rate and ETA for the CLI. */
#include "config.h"

#include <stdio.h>
#include <unistd.h>

#include "lib/util.h"
#include "tui/cmd.h"
#include "tui/progress.h"

void progress_start(struct progress *p, const struct opts *o, const char *what,
    const char *unit, uint64_t total)
{
	p->what = what;
	p->unit = unit;
	p->total = total;
	p->t_start = p->t_last = q_now();
	p->tty = isatty(STDERR_FILENO);
	p->enabled = !o->quiet && (p->tty || o->verbose > 0);
	p->drawn = 0;
}

static void format_duration(char *out, size_t n, double s)
{
	if (s < 0 || s > 1e7)
		snprintf(out, n, "?");
	else if (s < 60)
		snprintf(out, n, "%.0fs", s);
	else if (s < 3600)
		snprintf(out, n, "%dm%02ds", (int)s / 60, (int)s % 60);
	else
		snprintf(out, n, "%dh%02dm", (int)s / 3600, (int)s % 3600 / 60);
}

static void draw(struct progress *p, uint64_t done, const char *extra, int final)
{
	double now = q_now(), el = now - p->t_start;
	double rate = el > 0 ? (double)done / el : 0;
	char eta[96] = "", tail[64];
	if (!final && p->total > 0 && rate > 0) {
		format_duration(tail, sizeof(tail), (double)(p->total - (done < p->total ? done : p->total)) / rate);
		snprintf(eta, sizeof(eta), ", ETA %s", tail);
	}
	format_duration(tail, sizeof(tail), el);
	if (p->total > 0)
		fprintf(stderr, "%s%s: %llu/%llu %s (%.0f%%), %.1f %s/s, %s%s%s%s%s",
		    p->tty ? "\r\033[K" : "", p->what, (unsigned long long)done,
		    (unsigned long long)p->total, p->unit, 100.0 * (double)done / (double)p->total,
		    rate, p->unit, tail, eta, extra ? ", " : "", extra ? extra : "",
		    p->tty && !final ? "" : "\n");
	else
		fprintf(stderr, "%s%s: %llu %s, %.1f %s/s, %s%s%s%s", p->tty ? "\r\033[K" : "",
		    p->what, (unsigned long long)done, p->unit, rate, p->unit, tail,
		    extra ? ", " : "", extra ? extra : "", p->tty && !final ? "" : "\n");
	fflush(stderr);
	p->drawn = p->tty && !final;
	p->t_last = now;
}

void progress_update(struct progress *p, uint64_t done, const char *extra)
{
	if (!p->enabled)
		return;
	double now = q_now();
	/* On a terminal redraw often; in a log, a line every 10 seconds is plenty. */
	if (now - p->t_last < (p->tty ? 0.1 : 10.0))
		return;
	draw(p, done, extra, 0);
}

void progress_end(struct progress *p, uint64_t done)
{
	if (!p->enabled)
		return;
	draw(p, done, NULL, 1);
}
