/* cmd-show.c: `quire show REF`: print a document or a span of it exactly as stored. REF is a
 * document id or title, optionally followed by :LINE, :FIRST-LAST (lines), @START-END
 * (bytes, end exclusive) or #SECTION (the first section with that exact title). */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/json.h"
#include "lib/util.h"
#include "store/store.h"
#include "tui/library.h"
#include "tui/cmd.h"

enum span_kind { SPAN_ALL, SPAN_LINES, SPAN_BYTES, SPAN_SECTION };

/* Split "doc:12-20" / "doc@5-9" / "doc:7"; returns 0 when no span suffix is there. */
static int parse_span(const char *ref, size_t *doc_len, enum span_kind *kind, uint64_t *a,
    uint64_t *b)
{
	const char *p = ref + strlen(ref);
	const char *q = p;
	while (q > ref && (isdigit((unsigned char)q[-1]) || q[-1] == '-'))
		q--;
	if (q == ref || q == p || (q[-1] != ':' && q[-1] != '@') || q - 1 == ref)
		return 0;
	char *end;
	if (!isdigit((unsigned char)*q))
		return 0;
	unsigned long long x = strtoull(q, &end, 10), y = x;
	if (*end == '-') {
		if (!isdigit((unsigned char)end[1]))
			return 0;
		y = strtoull(end + 1, &end, 10);
	} else if (q[-1] == '@') {
		return 0;                   /* bytes need START-END */
	}
	if (*end != '\0')
		return 0;
	*kind = q[-1] == ':' ? SPAN_LINES : SPAN_BYTES;
	*a = x;
	*b = y;
	*doc_len = (size_t)(q - 1 - ref);
	return 1;
}

/* REF as DOC#SECTION: the first '#' whose left side names a document; *a, *b get the
 * section's bytes. 0 when found (d filled), -1 otherwise (a warning said why when the
 * document was found but not the section). */
static int find_section_ref(struct store *s, const char *ref, struct store_doc *d,
    uint64_t *a, uint64_t *b)
{
	for (const char *h = strchr(ref, '#'); h; h = strchr(h + 1, '#')) {
		if (h == ref || h[1] == '\0')
			continue;
		char *doc = xstrndup(ref, (size_t)(h - ref)), *err = NULL;
		int f = store_find_doc(s, doc, d, &err);
		free(doc);
		free(err);
		if (f != 0)
			continue;
		struct store_section sec;
		int found = 0;
		err = NULL;
		if (store_find_section(s, d->id, h + 1, &sec, &found, &err) != 0) {
			q_warn("%s", err);
			free(err);
		} else if (found) {
			*a = sec.byte_start;
			*b = sec.byte_end;
			free(sec.title);
			return 0;
		} else {
			q_warn("show: document %lld (%s) has no section \"%s\"", (long long)d->id,
			    d->title, h + 1);
		}
		store_doc_free(d);
		memset(d, 0, sizeof *d);
		return -2;
	}
	return -1;
}

static int cmd_show_exec(struct cmd_ctx *ctx)
{
	const char *ref = ctx->argv[0];
	struct store *s;
	if (library_open(ctx->opts, STORE_READ, "show", &s) != 0)
		return 1;
	enum span_kind kind = SPAN_ALL;
	uint64_t a = 0, b = 0;
	size_t dl;
	struct store_doc d;
	char *err = NULL;
	int found = -1;
	if (parse_span(ref, &dl, &kind, &a, &b)) {
		char *doc = xstrndup(ref, dl);
		found = store_find_doc(s, doc, &d, &err);
		free(doc);
		if (found != 0) {
			/* The whole REF may be a title that ends like a span. */
			char *e2 = NULL;
			if (store_find_doc(s, ref, &d, &e2) == 0) {
				found = 0;
				kind = SPAN_ALL;
				free(err);
				err = NULL;
			}
			free(e2);
		}
	} else {
		found = store_find_doc(s, ref, &d, &err);
	}
	int sec = found != 0 ? find_section_ref(s, ref, &d, &a, &b) : -1;
	if (sec == 0) {
		found = 0;
		kind = SPAN_SECTION;
		free(err);
		err = NULL;
	}
	if (found != 0) {
		if (sec != -2)              /* -2: the missing section was named already */
			q_warn("%s", err);
		free(err);
		store_close(s);
		return 1;
	}
	uint64_t start = 0, end = d.text_bytes;
	int r = 0;
	if (kind == SPAN_LINES) {
		if (b < a || a == 0) {
			q_warn("show: bad line range in \"%s\"", ref);
			r = 2;
		} else if (store_line_range(s, d.id, a, b, &start, &end, &err) != 0) {
			r = 1;
		}
	} else if (kind == SPAN_SECTION) {
		start = a < d.text_bytes ? a : d.text_bytes;
		end = b < d.text_bytes ? b : d.text_bytes;
	} else if (kind == SPAN_BYTES) {
		if (b < a || a > d.text_bytes) {
			q_warn("show: bytes %llu-%llu are outside document %lld (%llu bytes)",
			    (unsigned long long)a, (unsigned long long)b, (long long)d.id,
			    (unsigned long long)d.text_bytes);
			r = 1;
		} else {
			start = a;
			end = b < d.text_bytes ? b : d.text_bytes;
		}
	}
	char *text = NULL;
	size_t len = 0;
	if (r == 0 && store_text_range(s, d.id, start, end, &text, &len, &err) != 0)
		r = 1;
	uint64_t l1 = 0, l2 = 0;
	if (r == 0 && ctx->opts->json) {
		char *e2 = NULL;
		if (store_offset_line(s, d.id, start, &l1, &e2) != 0)
			l1 = 0;
		free(e2);
		e2 = NULL;
		if (store_offset_line(s, d.id, end > start ? end - 1 : start, &l2, &e2) != 0)
			l2 = l1;
		free(e2);
	}
	if (r == 1 && err) {
		q_warn("%s", err);
		free(err);
	} else if (r == 0 && ctx->opts->json) {
		printf("{\"doc\":{\"id\":%lld,\"title\":", (long long)d.id);
		json_write_string(stdout, d.title);
		printf(",\"path\":");
		json_write_string(stdout, d.path);
		printf(",\"entry\":");
		json_write_string(stdout, d.entry);
		printf("},\"line_start\":%llu,\"line_end\":%llu,\"byte_start\":%llu,"
		    "\"byte_end\":%llu,\"text\":", (unsigned long long)l1, (unsigned long long)l2,
		    (unsigned long long)start, (unsigned long long)end);
		json_write_string_n(stdout, text, len);
		printf("}\n");
	} else if (r == 0) {
		if (fwrite(text, 1, len, stdout) != len || fflush(stdout) != 0) {
			q_warn("show: write error");
			r = 1;
		}
	}
	free(text);
	store_doc_free(&d);
	store_close(s);
	return r;
}

const struct cmd_entry cmd_show_entry = {
	.name = "show", .usage = "REF",
	.summary = "print a document or a span (REF[:LINE|:FIRST-LAST|@START-END|#SECTION])",
	.min_args = 1, .max_args = 1,
	.exec = cmd_show_exec,
};
