/* kv-setup.c: the corpus cache's parameters, file and layout, for the commands. */
#include "tui/kv-setup.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/context.h"
#include "engine/tokenizer.h"
#include "lib/checksum.h"
#include "lib/util.h"
#include "tui/library.h"
#include "tui/model-setup.h"

int kv_setup_params(const struct opts *o, const struct model *m, struct kv_file_params *p)
{
	struct rope_overrides ov;
	if (model_setup_rope_overrides(o, &ov) != 0)
		return -1;
	struct rope_config rc;
	char *err = NULL;
	if (context_rope_config(m, &ov, model_setup_window(o, m), &rc, &err) != 0) {
		q_warn("%s", err);
		free(err);
		return -1;
	}
	if (!rope_config_allows_cache(&rc)) {
		q_warn("RoPE %s: its frequencies follow the current length, so cached keys would go "
		    "stale; choose another --rope-scaling for a corpus cache",
		    rope_variant_name(rc.variant));
		return -1;
	}
	enum kv_type kt;
	if (kv_type_parse(o->kv_type, &kt, &err) != 0) {
		q_warn("--kv-type: %s", err);
		free(err);
		return -1;
	}
	memset(p, 0, sizeof(*p));
	p->model_id = model_fingerprint(m);
	p->rope_id = rope_fingerprint(&rc);
	p->dtype = (uint32_t)kt;
	p->block_tokens = (uint32_t)o->block;
	p->sinks = (uint32_t)o->sinks;
	p->window = (uint32_t)o->window;
	p->n_layer = m->hp.n_layer;
	p->n_head_kv = m->hp.n_head_kv;
	p->head_dim = m->hp.head_dim;
	if (kv_file_params_check(p, "KV cache", &err) != 0) {
		q_warn("%s", err);
		free(err);
		return -1;
	}
	return 0;
}

char *kv_setup_dir(const struct opts *o)
{
	char *lib = library_dir(o);
	char *dir = xasprintf("%s/kv", lib);
	free(lib);
	return dir;
}

char *kv_setup_path(const struct opts *o, const struct kv_file_params *p)
{
	char *dir = kv_setup_dir(o), *name = kv_file_name(p);
	char *path = xasprintf("%s/%s", dir, name);
	free(dir);
	free(name);
	return path;
}

int kv_setup_each_cache(const struct opts *o, void (*fn)(void *ctx, const char *path),
    void *ctx, char **err)
{
	char *dir = kv_setup_dir(o);
	DIR *d = opendir(dir);
	if (d == NULL) {
		int rc = errno == ENOENT ? 0 : q_error(err, "%s: %s", dir, strerror(errno));
		free(dir);
		return rc;
	}
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		if (len < 4 || strcmp(e->d_name + len - 3, ".kv") != 0)
			continue;
		char *path = xasprintf("%s/%s", dir, e->d_name);
		fn(ctx, path);
		free(path);
	}
	closedir(d);
	free(dir);
	return 0;
}

int kv_corpus_read(struct store *s, uint64_t fingerprint, struct kv_corpus *c)
{
	memset(c, 0, sizeof(*c));
	c->fingerprint = fingerprint;
	c->separator = -1;
	char *err = NULL;
	if (store_corpus(s, c->fingerprint, &c->docs, &c->n_docs, &err) != 0) {
		q_warn("%s", err);
		free(err);
		return -1;
	}
	if (c->n_docs > 0) {
		const struct store_corpus_doc *last = &c->docs[c->n_docs - 1];
		c->n_tokens = last->position + last->n_tokens;
	}
	return 0;
}

int kv_corpus_load(struct store *s, const struct model *m, struct kv_corpus *c)
{
	if (kv_corpus_read(s, tokenizer_fingerprint(m->tok), c) != 0)
		return -1;
	c->separator = tokenizer_bos(m->tok);
	if (c->separator < 0)
		c->separator = tokenizer_eos(m->tok);
	if (c->separator < 0) {
		q_warn("the model's tokenizer has neither BOS nor EOS to separate documents");
		kv_corpus_free(c);
		return -1;
	}
	return 0;
}

void kv_corpus_free(struct kv_corpus *c)
{
	free(c->docs);
	c->docs = NULL;
	c->n_docs = 0;
}

uint64_t kv_corpus_layout_hash(const struct kv_corpus *c, uint64_t n_tokens, uint64_t *n_docs)
{
	uint64_t h = checksum64(NULL, 0, 0x6c61796f75743031ull);
	size_t k = 0;
	for (; k < c->n_docs && c->docs[k].position - 1 < n_tokens; k++) {
		unsigned char rec[24];
		le_put(rec, (uint64_t)c->docs[k].doc_id, 8);
		le_put(rec + 8, c->docs[k].position, 8);
		le_put(rec + 16, c->docs[k].n_tokens, 8);
		h = checksum64(rec, sizeof rec, h);
	}
	*n_docs = k;
	return h;
}

long kv_corpus_doc_at(const struct kv_corpus *c, uint64_t pos)
{
	size_t lo = 0, hi = c->n_docs;
	/* the last document whose separator (position - 1) is at or before pos */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (c->docs[mid].position - 1 <= pos)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return -1;
	const struct store_corpus_doc *d = &c->docs[lo - 1];
	return pos < d->position + d->n_tokens ? (long)(lo - 1) : -1;
}

int kv_corpus_matches(struct kv_file *f, const struct kv_corpus *c)
{
	struct kv_file_commit last;
	kv_file_last_commit(f, &last);
	if (last.seq == 0)
		return 1;
	uint64_t n_docs, h = kv_corpus_layout_hash(c, last.n_tokens, &n_docs);
	return h == last.layout_hash && n_docs == last.n_docs && last.n_tokens <= c->n_tokens;
}

int kv_corpus_check(const char *path, struct kv_file *f, const struct kv_corpus *c)
{
	if (kv_corpus_matches(f, c))
		return 0;
	q_warn("%s: this cache was built from another corpus than the library's (library.db "
	    "replaced, or documents re-ingested under other ids); `quire index --gc` removes it, "
	    "and the next index builds it again", path);
	return -1;
}

/* The offset of a document's token i, or UINT64_MAX when it cannot be read. */
static uint64_t token_offset(struct store *s, const struct kv_corpus *c, int64_t doc_id,
    uint64_t i)
{
	int32_t *ids;
	uint32_t *offs;
	size_t n;
	char *err = NULL;
	uint64_t off = UINT64_MAX;
	if (store_tokens(s, doc_id, c->fingerprint, i, 1, &ids, &offs, &n, &err) != 0) {
		free(err);
		return off;
	}
	if (n == 1)
		off = offs[0];
	free(ids);
	free(offs);
	return off;
}

int64_t kv_corpus_position_of(struct store *s, const struct kv_corpus *c, int64_t doc_id,
    uint64_t off)
{
	const struct store_corpus_doc *d = NULL;
	for (size_t i = 0; i < c->n_docs && d == NULL; i++)
		if (c->docs[i].doc_id == doc_id && !c->docs[i].removed)
			d = &c->docs[i];
	if (d == NULL || d->n_tokens == 0)
		return -1;
	/* the last token starting at or before off: offsets do not decrease */
	uint64_t lo = 0, hi = d->n_tokens;
	while (hi - lo > 1) {
		uint64_t mid = lo + (hi - lo) / 2, o = token_offset(s, c, doc_id, mid);
		if (o == UINT64_MAX)
			return -1;
		if (o <= off)
			lo = mid;
		else
			hi = mid;
	}
	return (int64_t)(d->position + lo);
}
