/* cmd-sessions.c: `quire sessions [ls|show|rm|rename|export] [NAME] [NEW]`: the saved
 * conversations of the library, listed, shown turn by turn with their quoted citations,
 * removed, renamed, and exported as Markdown or JSON. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <utf8proc.h>

#include "lib/buf.h"
#include "lib/json.h"
#include "lib/utf8.h"
#include "lib/util.h"
#include "store/store.h"
#include "tui/library.h"
#include "tui/cmd.h"

#define LS_COLUMNS 80               /* ls fits its rows in this many columns */
#define LS_NAME_MAX 24              /* widest NAME column; longer names are cut */

static const struct cmd_option sessions_options[] = {
	{ "format", 0, 1, "md|json", "export as Markdown (the default) or JSON" },
	{ NULL, 0, 0, NULL, NULL }
};

/* One character of s[0, n): its length, with *cp set; an ill-formed byte reads as U+FFFD
 * and a control character as a space, so what is printed is one line of printable text. */
static size_t next_char(const char *s, size_t n, uint32_t *cp)
{
	size_t len = utf8_decode(s, n, cp);
	if (len == 0) {
		*cp = 0xfffd;
		return utf8_bad_len(s, n);
	}
	if (*cp < 0x20 || *cp == 0x7f || (*cp >= 0x80 && *cp < 0xa0))
		*cp = ' ';
	return len;
}

static int char_width(uint32_t cp)
{
	int w = utf8proc_charwidth((utf8proc_int32_t)cp);
	return w < 0 ? 0 : w;
}

static int text_width(const char *s)
{
	size_t n = strlen(s);
	int w = 0;
	for (size_t i = 0; i < n; ) {
		uint32_t cp;
		i += next_char(s + i, n - i, &cp);
		w += char_width(cp);
	}
	return w;
}

/* Print s as one line in width columns: cut with "…" (after no blank) when it is wider,
 * padded with spaces when pad is set. Never splits a character. */
static void put_cell(const char *s, int width, int pad)
{
	size_t n = strlen(s);
	int fits = text_width(s) <= width, used = 0;
	struct buf b = BUF_INIT;
	for (size_t i = 0; i < n; ) {
		uint32_t cp;
		size_t len = next_char(s + i, n - i, &cp);
		int w = char_width(cp);
		if (!fits && used + w > width - 1)
			break;
		char u[UTF8_MAX];
		buf_append(&b, u, utf8_encode(cp, u));
		used += w;
		i += len;
	}
	if (!fits && width > 0) {
		while (b.len && b.data[b.len - 1] == ' ') {
			b.data[--b.len] = '\0';
			used--;
		}
		buf_append_str(&b, "\xe2\x80\xa6");
		used++;
	}
	if (b.len)
		fwrite(b.data, 1, b.len, stdout);
	if (pad)
		printf("%*s", width - used > 0 ? width - used : 0, "");
	buf_free(&b);
}

/* "2026-01-02 13:45" in local time, for people at the terminal. */
static void time_local(int64_t t, char *b, size_t n)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (localtime_r(&tt, &tm) == NULL || strftime(b, n, "%Y-%m-%d %H:%M", &tm) == 0)
		snprintf(b, n, "%lld", (long long)t);
}

/* ISO 8601 in UTC, for exports that travel. */
static void time_utc(int64_t t, char *b, size_t n)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (gmtime_r(&tt, &tm) == NULL || strftime(b, n, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(b, n, "%lld", (long long)t);
}

static int sessions_ls(struct cmd_ctx *ctx, struct store *s, char **args)
{
	(void)args;
	struct store_session *v;
	size_t n;
	char *err = NULL;
	if (store_session_list(s, &v, &n, &err) != 0) {
		q_warn("sessions: %s", err);
		free(err);
		return 1;
	}
	if (ctx->opts->json) {
		printf("{\"sessions\":[");
		for (size_t i = 0; i < n; i++) {
			printf("%s{\"name\":", i ? "," : "");
			json_write_string(stdout, v[i].name);
			printf(",\"turns\":%zu,\"created\":%lld,\"updated\":%lld,\"last_question\":",
			    v[i].n_turns, (long long)v[i].created, (long long)v[i].updated);
			json_write_string(stdout, v[i].last_question);
			printf(",\"kv_id\":");
			json_write_string(stdout, v[i].kv_id);
			printf("}");
		}
		printf("]}\n");
		store_sessions_free(v, n);
		return 0;
	}
	int name_w = 4;
	for (size_t i = 0; i < n; i++) {
		int w = text_width(v[i].name);
		if (w > name_w)
			name_w = w < LS_NAME_MAX ? w : LS_NAME_MAX;
	}
	/* NAME  TURNS  UPDATED (16)  LAST QUESTION (the rest) */
	int q_w = LS_COLUMNS - (name_w + 2 + 5 + 2 + 16 + 2);
	if (n && !ctx->opts->quiet)
		printf("%-*s  %5s  %-16s  %s\n", name_w, "NAME", "TURNS", "UPDATED", "LAST QUESTION");
	for (size_t i = 0; i < n; i++) {
		char when[32];
		time_local(v[i].updated, when, sizeof when);
		put_cell(v[i].name, name_w, 1);
		printf("  %5zu  %-16s  ", v[i].n_turns, when);
		put_cell(v[i].last_question, q_w, 0);
		printf("\n");
	}
	if (n == 0 && !ctx->opts->quiet)
		fprintf(stderr, "sessions: none yet\n");
	store_sessions_free(v, n);
	return 0;
}

static void put_timing_words(const struct store_turn *t)
{
	printf("%llu tokens prefilled, %llu attended; first token after %.1f ms; %.1f tokens/s",
	    (unsigned long long)t->tokens_prefilled, (unsigned long long)t->tokens_attended,
	    t->ttft_ms, t->tokens_per_s);
}

static int has_timing(const struct store_turn *t)
{
	return t->tokens_prefilled || t->tokens_attended || t->ttft_ms != 0 ||
	    t->tokens_per_s != 0;
}

/* "Title — section — lines a–b" */
static void put_cite_place(const struct store_citation *c)
{
	printf("%s", c->doc_title);
	if (c->section && *c->section)
		printf(" \xe2\x80\x94 %s", c->section);
	if (c->line_start == c->line_end)
		printf(" \xe2\x80\x94 line %llu", (unsigned long long)c->line_start);
	else
		printf(" \xe2\x80\x94 lines %llu\xe2\x80\x93%llu", (unsigned long long)c->line_start,
		    (unsigned long long)c->line_end);
}

/* Each line of text after prefix (empty lines get empty_prefix), ending in a newline. */
static void put_lines(const char *text, const char *prefix, const char *empty_prefix)
{
	const char *p = text;
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		fputs(len ? prefix : empty_prefix, stdout);
		fwrite(p, 1, len, stdout);
		fputc('\n', stdout);
		p += len + (nl != NULL);
	}
}

static void show_text(const struct store_session *ss, const struct store_turn *t, size_t n)
{
	char created[32], updated[32];
	time_local(ss->created, created, sizeof created);
	time_local(ss->updated, updated, sizeof updated);
	printf("session %s: %zu turn%s, created %s, updated %s\n", ss->name, n, n == 1 ? "" : "s",
	    created, updated);
	for (size_t i = 0; i < n; i++) {
		printf("\nQ%d: %s\n\n", t[i].seq, t[i].question);
		if (*t[i].answer)
			put_lines(t[i].answer, "", "");
		else
			printf("(no answer)\n");
		if (t[i].n_cites)
			printf("\n");
		for (size_t k = 0; k < t[i].n_cites; k++) {
			const struct store_citation *c = &t[i].cites[k];
			printf("  [%d] %s  ", c->n, c->ref);
			put_cite_place(c);
			printf("\n");
			put_lines(c->text, "      ", "");
		}
		if (has_timing(&t[i]) || *t[i].scope)
			printf("\n");
		if (has_timing(&t[i])) {
			printf("  timing: ");
			put_timing_words(&t[i]);
			printf("\n");
		}
		if (*t[i].scope)
			printf("  library used: %s\n", t[i].scope);
	}
}

/* A Markdown code span holding s: fenced by one backtick more than its longest run. */
static void put_md_code(const char *s)
{
	int run = 0, longest = 0;
	for (const char *p = s; *p; p++) {
		run = *p == '`' ? run + 1 : 0;
		if (run > longest)
			longest = run;
	}
	int space = *s == '`' || (*s && s[strlen(s) - 1] == '`');
	for (int i = 0; i <= longest; i++)
		putchar('`');
	printf("%s%s%s", space ? " " : "", s, space ? " " : "");
	for (int i = 0; i <= longest; i++)
		putchar('`');
}

/* A heading holds one line: runs of blanks and line breaks become one space. */
static void put_md_heading_text(const char *s)
{
	int blank = 0;
	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	for (; *s; s++) {
		if (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') {
			blank = 1;
			continue;
		}
		if (blank)
			putchar(' ');
		blank = 0;
		putchar(*s);
	}
}

static void export_md(const struct store_session *ss, const struct store_turn *t, size_t n)
{
	char created[32], updated[32];
	time_utc(ss->created, created, sizeof created);
	time_utc(ss->updated, updated, sizeof updated);
	printf("# Session: ");
	put_md_heading_text(ss->name);
	printf("\n\nCreated %s, updated %s; %zu turn%s.\n", created, updated, n,
	    n == 1 ? "" : "s");
	for (size_t i = 0; i < n; i++) {
		printf("\n## Q: ");
		put_md_heading_text(t[i].question);
		printf("\n\n");
		if (*t[i].answer)
			put_lines(t[i].answer, "", "");
		else
			printf("*(no answer)*\n");
		for (size_t k = 0; k < t[i].n_cites; k++) {
			const struct store_citation *c = &t[i].cites[k];
			printf("\n**[%d]** ", c->n);
			put_md_code(c->ref);
			printf(" ");
			put_cite_place(c);
			printf("\n\n");
			put_lines(c->text, "> ", ">");
		}
		if (has_timing(&t[i]) || *t[i].scope) {
			printf("\n*");
			if (has_timing(&t[i]))
				put_timing_words(&t[i]);
			if (*t[i].scope)
				printf("%sLibrary used: %s", has_timing(&t[i]) ? ". " : "", t[i].scope);
			printf(".*\n");
		}
	}
}

/* The fields of ask --json's citations and timing, one JSON document. */
static void export_json(const struct store_session *ss, const struct store_turn *t, size_t n)
{
	printf("{\"name\":");
	json_write_string(stdout, ss->name);
	printf(",\"created\":%lld,\"updated\":%lld,\"kv_id\":", (long long)ss->created,
	    (long long)ss->updated);
	json_write_string(stdout, ss->kv_id);
	printf(",\"reader_state\":");
	json_write_string(stdout, ss->reader_state);
	printf(",\"turns\":[");
	for (size_t i = 0; i < n; i++) {
		printf("%s{\"seq\":%d,\"question\":", i ? "," : "", t[i].seq);
		json_write_string(stdout, t[i].question);
		printf(",\"answer\":");
		json_write_string(stdout, t[i].answer);
		printf(",\"citations\":[");
		for (size_t k = 0; k < t[i].n_cites; k++) {
			const struct store_citation *c = &t[i].cites[k];
			printf("%s{\"n\":%d,\"ref\":", k ? "," : "", c->n);
			json_write_string(stdout, c->ref);
			printf(",\"doc\":{\"id\":%lld,\"title\":", (long long)c->doc_id);
			json_write_string(stdout, c->doc_title);
			printf(",\"path\":");
			json_write_string(stdout, c->doc_path);
			printf("},\"section\":");
			json_write_string(stdout, c->section);
			printf(",\"line_start\":%llu,\"line_end\":%llu,\"byte_start\":%llu,"
			    "\"byte_end\":%llu,\"text\":", (unsigned long long)c->line_start,
			    (unsigned long long)c->line_end, (unsigned long long)c->byte_start,
			    (unsigned long long)c->byte_end);
			json_write_string(stdout, c->text);
			printf(",\"score\":%.6g}", c->score);
		}
		printf("],\"timing\":{\"tokens_prefilled\":%llu,\"tokens_attended\":%llu,"
		    "\"ttft_ms\":%.6g,\"tokens_per_s\":%.6g},\"scope\":",
		    (unsigned long long)t[i].tokens_prefilled,
		    (unsigned long long)t[i].tokens_attended, t[i].ttft_ms, t[i].tokens_per_s);
		json_write_string(stdout, t[i].scope);
		printf(",\"created\":%lld}", (long long)t[i].created);
	}
	printf("]}\n");
}

enum session_format { FORMAT_TEXT, FORMAT_MD, FORMAT_JSON };

/* show (FORMAT_TEXT, or JSON with --json) and export (Markdown or JSON). */
static int sessions_print(struct store *s, const char *name, enum session_format f)
{
	struct store_session ss;
	char *err = NULL;
	if (store_session_get(s, name, &ss, &err) != 0) {
		q_warn("sessions: %s", err);
		free(err);
		return 1;
	}
	struct store_turn *t;
	size_t n;
	if (store_turns(s, ss.id, &t, &n, &err) != 0) {
		q_warn("sessions: %s", err);
		free(err);
		store_session_free(&ss);
		return 1;
	}
	if (f == FORMAT_JSON)
		export_json(&ss, t, n);
	else if (f == FORMAT_MD)
		export_md(&ss, t, n);
	else
		show_text(&ss, t, n);
	store_turns_free(t, n);
	store_session_free(&ss);
	return 0;
}

static int sessions_show(struct cmd_ctx *ctx, struct store *s, char **args)
{
	return sessions_print(s, args[0], ctx->opts->json ? FORMAT_JSON : FORMAT_TEXT);
}

static int sessions_export(struct cmd_ctx *ctx, struct store *s, char **args)
{
	const char *f = cmd_value(ctx, "format");
	return sessions_print(s, args[0], (f ? strcmp(f, "json") == 0 : ctx->opts->json) ?
	    FORMAT_JSON : FORMAT_MD);
}

static int sessions_rm(struct cmd_ctx *ctx, struct store *s, char **args)
{
	char *err = NULL;
	if (store_session_remove(s, args[0], &err) != 0) {
		q_warn("sessions: %s", err);
		free(err);
		return 1;
	}
	if (ctx->opts->json) {
		printf("{\"removed\":");
		json_write_string(stdout, args[0]);
		printf("}\n");
	} else if (!ctx->opts->quiet) {
		printf("removed session %s\n", args[0]);
	}
	return 0;
}

static int sessions_rename(struct cmd_ctx *ctx, struct store *s, char **args)
{
	char *err = NULL;
	if (store_session_rename(s, args[0], args[1], &err) != 0) {
		q_warn("sessions: %s", err);
		free(err);
		return 1;
	}
	if (ctx->opts->json) {
		printf("{\"renamed\":");
		json_write_string(stdout, args[0]);
		printf(",\"to\":");
		json_write_string(stdout, args[1]);
		printf("}\n");
	} else if (!ctx->opts->quiet) {
		printf("renamed session %s to %s\n", args[0], args[1]);
	}
	return 0;
}

static const struct sessions_sub {
	const char *name;
	int n_args;                 /* names after the subcommand */
	int flags;                  /* for store_open: writers take the lock */
	int format;                 /* takes --format */
	int (*run)(struct cmd_ctx *ctx, struct store *s, char **args);
} sessions_subs[] = {
	{ "ls", 0, STORE_READ, 0, sessions_ls },
	{ "show", 1, STORE_READ, 0, sessions_show },
	{ "rm", 1, STORE_WRITE, 0, sessions_rm },
	{ "rename", 2, STORE_WRITE, 0, sessions_rename },
	{ "export", 1, STORE_READ, 1, sessions_export },
};

static int cmd_sessions_exec(struct cmd_ctx *ctx)
{
	const char *name = ctx->argc ? ctx->argv[0] : "ls";
	const struct sessions_sub *sub = NULL;
	for (size_t i = 0; i < Q_ARRAY_LEN(sessions_subs); i++)
		if (strcmp(sessions_subs[i].name, name) == 0)
			sub = &sessions_subs[i];
	if (sub == NULL) {
		q_warn("sessions: unknown subcommand '%s' (ls, show, rm, rename or export)", name);
		return 2;
	}
	int given = ctx->argc ? ctx->argc - 1 : 0;
	if (given != sub->n_args) {
		q_warn("sessions: %s wants %s (usage: quire sessions %s%s)", sub->name,
		    sub->n_args == 0 ? "no name" : sub->n_args == 1 ? "one NAME" : "NAME and NEW",
		    sub->name, sub->n_args == 0 ? "" : sub->n_args == 1 ? " NAME" : " NAME NEW");
		return 2;
	}
	const char *f = cmd_value(ctx, "format");
	if (f && !sub->format) {
		q_warn("sessions: --format goes with export");
		return 2;
	}
	if (f && strcmp(f, "md") != 0 && strcmp(f, "json") != 0) {
		q_warn("sessions: --format: '%s' is not one of md, json", f);
		return 2;
	}
	struct store *s;
	if (library_open(ctx->opts, sub->flags, "sessions", &s) != 0)
		return 1;
	int r = sub->run(ctx, s, ctx->argv + (ctx->argc ? 1 : 0));
	store_close(s);
	return r;
}

const struct cmd_entry cmd_sessions_entry = {
	.name = "sessions", .usage = "[ls|show|rm|rename|export] [NAME] [NEW]",
	.summary = "list, show, remove, rename or export sessions",
	.options = sessions_options, .max_args = 3,
	.exec = cmd_sessions_exec,
};
