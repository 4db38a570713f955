/* epub.c: EPUB extraction. The whole zip is read into memory under the ingest limits (the
 * OPF names files in any order), then the spine is walked and each XHTML file goes through
 * the HTML extractor. */
#include "store/epub.h"

#include <archive.h>
#include <archive_entry.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/util.h"
#include "store/html.h"

struct zfile {
	char *name;                 /* entry path, as stored */
	char *data;
	size_t len;
	int read;                   /* already taken into the text (once, whatever the spine says) */
};

struct zip {
	struct zfile *v;
	size_t n, cap;
	int encrypted;              /* entries skipped because encrypted */
};

static void zip_free(struct zip *z)
{
	for (size_t i = 0; i < z->n; i++) {
		free(z->v[i].name);
		free(z->v[i].data);
	}
	free(z->v);
}

static struct zfile *zip_find(const struct zip *z, const char *name)
{
	for (size_t i = 0; i < z->n; i++)
		if (strcmp(z->v[i].name, name) == 0)
			return &z->v[i];
	/* Some books differ in case only; accept that as a fallback. */
	for (size_t i = 0; i < z->n; i++)
		if (strcasecmp(z->v[i].name, name) == 0)
			return &z->v[i];
	return NULL;
}

static enum store_err zip_read(const char *data, size_t len, const struct store_limits *lim,
    struct zip *z, char **err)
{
	struct archive *a = archive_read_new();
	archive_read_support_format_zip(a);
	archive_read_support_filter_none(a);
	if (archive_read_open_memory(a, data, len) != ARCHIVE_OK) {
		q_error(err, "not a zip file: %s", archive_error_string(a));
		archive_read_free(a);
		return STORE_ERR_MALFORMED;
	}
	uint64_t total = 0;
	struct archive_entry *e;
	int rc;
	char block[65536];
	while ((rc = archive_read_next_header(a, &e)) != ARCHIVE_EOF) {
		if (rc < ARCHIVE_WARN)
			goto corrupt;
		if (archive_entry_filetype(e) != AE_IFREG)
			continue;
		if ((uint64_t)z->n >= lim->max_entries) {
			archive_read_free(a);
			q_error(err, "more than %llu entries", (unsigned long long)lim->max_entries);
			return STORE_ERR_TOO_LARGE;
		}
		if (archive_entry_is_encrypted(e)) {
			z->encrypted++;
			continue;
		}
		const char *name = archive_entry_pathname(e);
		struct buf b = BUF_INIT;
		for (;;) {
			la_ssize_t r = archive_read_data(a, block, sizeof block);
			if (r == 0)
				break;
			if (r < 0) {
				buf_free(&b);
				goto corrupt;
			}
			total += (uint64_t)r;
			if (total > lim->max_doc_bytes) {
				buf_free(&b);
				archive_read_free(a);
				q_error(err, "unpacks to more than %llu bytes",
				    (unsigned long long)lim->max_doc_bytes);
				return STORE_ERR_TOO_LARGE;
			}
			if (total > lim->ratio_floor && total / (len ? len : 1) > lim->max_ratio) {
				buf_free(&b);
				archive_read_free(a);
				q_error(err, "compression ratio over %u:1 (zip bomb?)", lim->max_ratio);
				return STORE_ERR_TOO_LARGE;
			}
			buf_append(&b, block, (size_t)r);
		}
		if (z->n == z->cap) {
			z->cap = z->cap ? z->cap * 2 : 32;
			z->v = xreallocarray(z->v, z->cap, sizeof *z->v);
		}
		z->v[z->n].read = 0;
		z->v[z->n].name = xstrdup(name ? name : "");
		z->v[z->n].len = b.len;
		z->v[z->n].data = buf_steal(&b);
		z->n++;
	}
	archive_read_free(a);
	return STORE_ERR_NONE;
corrupt:
	q_error(err, "corrupt zip: %s", archive_error_string(a) ?
	    archive_error_string(a) : "read error");
	archive_read_free(a);
	return STORE_ERR_MALFORMED;
}

static xmlDocPtr xml_parse(const struct zfile *f)
{
	if (f->len > 0x7fffffff)
		return NULL;
	html_xml_quiet();
	/* No entity substitution and no network: hostile books cannot expand or fetch. */
	return xmlReadMemory(f->data, (int)f->len, NULL, NULL,
	    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_RECOVER);
}

static const char *local_name(const xmlNode *n)
{
	return n->name ? (const char *)n->name : "";
}

/* Next element in document order (no recursion). */
static xmlNode *next_element(xmlNode *n, xmlNode *root)
{
	if (n->children)
		return n->children;
	while (n && n != root && !n->next)
		n = n->parent;
	if (n == NULL || n == root)
		return NULL;
	return n->next;
}

static char *attr(xmlNode *n, const char *name)
{
	xmlChar *v = xmlGetProp(n, (const xmlChar *)name);
	if (v == NULL)
		return NULL;
	char *s = xstrdup((const char *)v);
	xmlFree(v);
	return s;
}

/* Resolve href (percent-decoded, fragment dropped) against the folder of base. */
static char *resolve(const char *base, const char *href)
{
	struct buf dec = BUF_INIT;
	for (const char *p = href; *p && *p != '#'; p++) {
		if (*p == '%' && p[1] && p[2]) {
			char hx[3] = { p[1], p[2], 0 };
			char *end;
			long v = strtol(hx, &end, 16);
			if (*end == '\0' && v > 0) {
				buf_append_char(&dec, (char)v);
				p += 2;
				continue;
			}
		}
		buf_append_char(&dec, *p);
	}
	struct buf out = BUF_INIT;
	const char *slash = strrchr(base, '/');
	if (dec.len && dec.data[0] != '/' && slash)
		buf_append(&out, base, (size_t)(slash - base) + 1);
	buf_append_str(&out, dec.len ? dec.data : "");
	buf_free(&dec);
	/* Fold "." and ".." segments. */
	char *path = buf_steal(&out);
	char **seg = xmalloc((strlen(path) + 2) * sizeof *seg);
	size_t n = 0;
	for (char *tok = strtok(path, "/"); tok; tok = strtok(NULL, "/")) {
		if (strcmp(tok, ".") == 0)
			continue;
		if (strcmp(tok, "..") == 0) {
			if (n)
				n--;
			continue;
		}
		seg[n++] = tok;
	}
	struct buf r = BUF_INIT;
	for (size_t i = 0; i < n; i++) {
		if (i)
			buf_append_char(&r, '/');
		buf_append_str(&r, seg[i]);
	}
	free(seg);
	free(path);
	return buf_steal(&r);
}

struct item {
	char *id, *href, *type, *props;
};

struct toc {
	char **href, **title;
	size_t n, cap;
};

static void toc_add(struct toc *t, char *href, char *title)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->href[i], href) == 0) {
			free(href);
			free(title);
			return;             /* the first entry for a file names it */
		}
	if (t->n == t->cap) {
		t->cap = t->cap ? 2 * t->cap : 32;
		t->href = xreallocarray(t->href, t->cap, sizeof *t->href);
		t->title = xreallocarray(t->title, t->cap, sizeof *t->title);
	}
	t->href[t->n] = href;
	t->title[t->n++] = title;
}

static const char *toc_title(const struct toc *t, const char *href)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->href[i], href) == 0)
			return t->title[i];
	return NULL;
}

static char *node_text(xmlNode *n)
{
	xmlChar *c = xmlNodeGetContent(n);
	char *s = html_collapse_ws(c ? (const char *)c : "");
	xmlFree(c);
	return s;
}

/* EPUB 3 nav: the <a href> elements inside <nav epub:type="toc"> (or any nav). */
static void read_nav(const struct zfile *f, struct toc *t)
{
	xmlDocPtr doc = xml_parse(f);
	if (doc == NULL)
		return;
	xmlNode *root = xmlDocGetRootElement(doc);
	for (xmlNode *n = root; n; n = next_element(n, root)) {
		if (n->type != XML_ELEMENT_NODE || strcmp(local_name(n), "a") != 0)
			continue;
		int in_nav = 0;
		for (xmlNode *p = n->parent; p && p->type == XML_ELEMENT_NODE; p = p->parent)
			if (strcmp(local_name(p), "nav") == 0) {
				xmlChar *ty = xmlGetNsProp(p, (const xmlChar *)"type",
				    (const xmlChar *)"http://www.idpf.org/2007/ops");
				in_nav = ty == NULL || strcmp((const char *)ty, "toc") == 0;
				xmlFree(ty);
				break;
			}
		char *href = in_nav ? attr(n, "href") : NULL;
		if (href) {
			char *title = node_text(n);
			toc_add(t, resolve(f->name, href), title);
			free(href);
		}
	}
	xmlFreeDoc(doc);
}

/* EPUB 2 NCX: navPoint > navLabel > text, content@src. */
static void read_ncx(const struct zfile *f, struct toc *t)
{
	xmlDocPtr doc = xml_parse(f);
	if (doc == NULL)
		return;
	xmlNode *root = xmlDocGetRootElement(doc);
	for (xmlNode *n = root; n; n = next_element(n, root)) {
		if (n->type != XML_ELEMENT_NODE || strcmp(local_name(n), "navPoint") != 0)
			continue;
		char *title = NULL, *src = NULL;
		for (xmlNode *c = n->children; c; c = c->next) {
			if (c->type != XML_ELEMENT_NODE)
				continue;
			if (strcmp(local_name(c), "navLabel") == 0 && !title)
				title = node_text(c);
			else if (strcmp(local_name(c), "content") == 0 && !src)
				src = attr(c, "src");
		}
		if (title && src)
			toc_add(t, resolve(f->name, src), title);
		else
			free(title);
		free(src);
	}
	xmlFreeDoc(doc);
}

void epub_map_free(struct epub_map *m)
{
	html_map_free(&m->notes);
	for (size_t i = 0; i < m->n_files; i++)
		free(m->files[i]);
	free(m->files);
	memset(m, 0, sizeof *m);
}

/* Add the notes of one spine file (number f) to the book's map. */
static void map_add_file(struct epub_map *m, const struct html_map *h, const char *name)
{
	size_t f = m->n_files;
	m->files = xreallocarray(m->files, f + 1, sizeof *m->files);
	m->files[m->n_files++] = xstrdup(name);
	for (size_t i = 0; i < h->n; i++) {
		if (m->notes.n == m->notes.cap) {
			m->notes.cap = m->notes.cap ? 2 * m->notes.cap : 64;
			m->notes.v = xreallocarray(m->notes.v, m->notes.cap, 2 * sizeof *m->notes.v);
		}
		m->notes.v[2 * m->notes.n] = h->v[2 * i];
		m->notes.v[2 * m->notes.n + 1] = EPUB_SRC(f, h->v[2 * i + 1]);
		m->notes.n++;
	}
}

enum store_err epub_extract(const char *data, size_t len, const struct store_limits *lim,
    struct buf *text, struct sections *secs, char **title, struct epub_map *map, char **err)
{
	struct zip z = { 0 };
	struct item *items = NULL;
	size_t n_items = 0, cap_items = 0;
	char **spine = NULL;
	size_t n_spine = 0, cap_spine = 0;
	struct toc toc = { 0 };
	char *opf_path = NULL, *toc_id = NULL;
	xmlDocPtr opf = NULL;
	*title = NULL;
	enum store_err kind = zip_read(data, len, lim, &z, err);
	if (kind != STORE_ERR_NONE)
		goto out;
	kind = STORE_ERR_MALFORMED;    /* what a failure below is unless it says otherwise */
	const struct zfile *container = zip_find(&z, "META-INF/container.xml");
	if (container == NULL) {
		q_error(err, "EPUB without META-INF/container.xml");
		goto out;
	}
	if (zip_find(&z, "META-INF/encryption.xml") || z.encrypted) {
		/* Font obfuscation also lives in encryption.xml; only refuse when content files
		 * are missing below. */
	}
	xmlDocPtr cdoc = xml_parse(container);
	if (cdoc == NULL) {
		q_error(err, "EPUB container.xml is not XML");
		goto out;
	}
	xmlNode *croot = xmlDocGetRootElement(cdoc);
	for (xmlNode *n = croot; n && !opf_path; n = next_element(n, croot))
		if (n->type == XML_ELEMENT_NODE && strcmp(local_name(n), "rootfile") == 0)
			opf_path = attr(n, "full-path");
	xmlFreeDoc(cdoc);
	if (opf_path == NULL) {
		q_error(err, "EPUB container.xml names no rootfile");
		goto out;
	}
	const struct zfile *opf_file = zip_find(&z, opf_path);
	if (opf_file == NULL) {
		q_error(err, "EPUB package file %s is missing", opf_path);
		goto out;
	}
	opf = xml_parse(opf_file);
	if (opf == NULL) {
		q_error(err, "EPUB package file %s is not XML", opf_path);
		goto out;
	}
	xmlNode *root = xmlDocGetRootElement(opf);
	for (xmlNode *n = root; n; n = next_element(n, root)) {
		if (n->type != XML_ELEMENT_NODE)
			continue;
		const char *ln = local_name(n);
		if (strcmp(ln, "title") == 0 && *title == NULL) {
			char *t = node_text(n);
			if (*t)
				*title = t;
			else
				free(t);
		} else if (strcmp(ln, "item") == 0) {
			if (n_items == cap_items) {
				cap_items = cap_items ? 2 * cap_items : 64;
				items = xreallocarray(items, cap_items, sizeof *items);
			}
			struct item *it = &items[n_items++];
			it->id = attr(n, "id");
			char *href = attr(n, "href");
			it->href = href ? resolve(opf_path, href) : NULL;
			free(href);
			it->type = attr(n, "media-type");
			it->props = attr(n, "properties");
		} else if (strcmp(ln, "spine") == 0) {
			free(toc_id);
			toc_id = attr(n, "toc");
		} else if (strcmp(ln, "itemref") == 0) {
			char *idref = attr(n, "idref");
			if (idref == NULL)
				continue;
			if (n_spine == cap_spine) {
				cap_spine = cap_spine ? 2 * cap_spine : 64;
				spine = xreallocarray(spine, cap_spine, sizeof *spine);
			}
			spine[n_spine++] = idref;
		}
	}
	/* Table of contents: EPUB 3 nav first, then the NCX. */
	for (size_t i = 0; i < n_items; i++) {
		struct item *it = &items[i];
		if (it->href && it->props && strstr(it->props, "nav")) {
			const struct zfile *f = zip_find(&z, it->href);
			if (f)
				read_nav(f, &toc);
		}
	}
	for (size_t i = 0; i < n_items && toc.n == 0; i++) {
		struct item *it = &items[i];
		if (it->href && ((toc_id && it->id && strcmp(it->id, toc_id) == 0) ||
		    (it->type && strcmp(it->type, "application/x-dtbncx+xml") == 0))) {
			const struct zfile *f = zip_find(&z, it->href);
			if (f)
				read_ncx(f, &toc);
		}
	}
	if (n_spine == 0) {
		q_error(err, "EPUB package file %s has an empty spine", opf_path);
		goto out;
	}
	size_t done = 0;
	for (size_t i = 0; i < n_spine; i++) {
		struct item *it = NULL;
		for (size_t j = 0; j < n_items; j++)
			if (items[j].id && strcmp(items[j].id, spine[i]) == 0) {
				it = &items[j];
				break;
			}
		if (it == NULL || it->href == NULL)
			continue;
		if (it->type && !strstr(it->type, "html"))
			continue;
		struct zfile *f = zip_find(&z, it->href);
		if (f == NULL) {
			q_error(err, "EPUB spine file %s is missing%s", it->href,
			    z.encrypted ? " (encrypted entries were skipped)" : "");
			goto out;
		}
		/* A spine names each file once; a hostile one that repeats a file would make the
		 * work grow as spine length times file size. */
		if (f->read)
			continue;
		f->read = 1;
		if (text->len && text->data[text->len - 1] == '\n')
			buf_append_char(text, '\n');   /* a blank line between files */
		size_t start = text->len, first_sec = secs->n;
		char *ptitle = NULL;
		struct html_map hm = { 0 };
		enum store_err hk = html_extract(f->data, f->len, text, secs, 1, &ptitle,
		    map ? &hm : NULL, err);
		if (hk != STORE_ERR_NONE) {
			kind = hk;
			goto out;
		}
		if (map && hm.n)
			map_add_file(map, &hm, f->name);
		html_map_free(&hm);
		/* A spine may name one file many times: bound the text, not only the zip. */
		if (text->len > lim->max_doc_bytes) {
			free(ptitle);
			q_error(err, "EPUB text is larger than the limit of %llu bytes (spine of %zu "
			    "files)", (unsigned long long)lim->max_doc_bytes, n_spine);
			kind = STORE_ERR_TOO_LARGE;
			goto out;
		}
		if (text->len == start) {
			free(ptitle);
			continue;
		}
		const char *t = toc_title(&toc, it->href);
		if (t == NULL && secs->n > first_sec)
			t = secs->v[first_sec].title;
		if (t == NULL)
			t = ptitle;
		if (t == NULL)
			t = it->href;
		sections_add(secs, start, 1, t, strlen(t));
		free(ptitle);
		done++;
	}
	if (done == 0) {
		q_error(err, "EPUB has no readable text in its spine");
		kind = STORE_ERR_NO_TEXT;
		goto out;
	}
	kind = STORE_ERR_NONE;
out:
	if (opf)
		xmlFreeDoc(opf);
	for (size_t i = 0; i < n_items; i++) {
		free(items[i].id);
		free(items[i].href);
		free(items[i].type);
		free(items[i].props);
	}
	free(items);
	for (size_t i = 0; i < n_spine; i++)
		free(spine[i]);
	free(spine);
	for (size_t i = 0; i < toc.n; i++) {
		free(toc.href[i]);
		free(toc.title[i]);
	}
	free(toc.href);
	free(toc.title);
	free(opf_path);
	free(toc_id);
	zip_free(&z);
	if (kind != STORE_ERR_NONE) {
		free(*title);
		*title = NULL;
		if (map)
			epub_map_free(map);
	}
	return kind;
}
