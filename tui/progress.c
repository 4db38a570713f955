/* progress.c: a progress line with rate and ETA for the CLI. */
#include "config.h"

#include <stdio.h>
#include <unistd.h>

#include "lib/buf.h"
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
	p->bytes = 0;
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

void progress_human_bytes(char *out, size_t n, double v)
{
	static const char *const unit[] = { "B", "KB", "MB", "GB", "TB" };
	int i = 0;
	while (v >= 1000 && i < 4) {
		v /= 1000;
		i++;
	}
	snprintf(out, n, i ? "%.1f %s" : "%.0f %s", v, unit[i]);
}

/* A count as the line shows it: a plain number, or a size for byte counts. */
static void format_count(const struct progress *p, char *out, size_t n, double v)
{
	if (p->bytes)
		progress_human_bytes(out, n, v);
	else
		snprintf(out, n, "%.0f", v);
}

static void draw(struct progress *p, uint64_t done, const char *extra, int final)
{
	double now = q_now(), el = now - p->t_start;
	double rate = el > 0 ? (double)done / el : 0;
	char tmp[64], num[32];
	struct buf line = BUF_INIT;
	buf_printf(&line, "%s%s: ", p->tty ? "\r\033[K" : "", p->what);
	format_count(p, num, sizeof(num), (double)done);
	buf_append_str(&line, num);
	if (p->total > 0) {
		format_count(p, num, sizeof(num), (double)p->total);
		buf_printf(&line, " of %s", num);
	}
	if (!p->bytes)
		buf_printf(&line, " %s", p->unit);
	if (p->total > 0)
		buf_printf(&line, " (%.0f%%)", 100.0 * (double)done / (double)p->total);
	format_count(p, num, sizeof(num), rate);
	buf_printf(&line, ", %s%s%s/s", num, p->bytes ? "" : " ", p->bytes ? "" : p->unit);
	format_duration(tmp, sizeof(tmp), el);
	buf_printf(&line, ", %s", tmp);
	if (!final && p->total > 0 && rate > 0) {
		format_duration(tmp, sizeof(tmp),
		    (double)(p->total - (done < p->total ? done : p->total)) / rate);
		buf_printf(&line, ", ETA %s", tmp);
	}
	if (extra != NULL)
		buf_printf(&line, ", %s", extra);
	if (!p->tty || final)
		buf_append_char(&line, '\n');
	fputs(line.data, stderr);
	fflush(stderr);
	buf_free(&line);
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

void progress_clear(struct progress *p)
{
	if (p->drawn) {
		fputs("\r\033[K", stderr);
		p->drawn = 0;
	}
}
