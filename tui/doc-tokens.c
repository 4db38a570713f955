/* doc-tokens.c: tokenizing documents for the store with the model's tokenizer. */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/gguf.h"
#include "engine/tokenizer.h"
#include "lib/util.h"
#include "store/store.h"
#include "tui/model-setup.h"
#include "tui/cmd.h"
#include "tui/doc-tokens.h"

int doc_tokens_open(const struct opts *o, struct doc_tokens *dt)
{
	memset(dt, 0, sizeof(*dt));
	char *path = model_setup_path(o);
	if (o->model == NULL && access(path, R_OK) != 0) {
		free(path);
		return 0;
	}
	struct gguf_file *f;
	char *err = NULL;
	int rc = gguf_open(path, &f, &err);
	if (rc == 0) {
		rc = tokenizer_from_gguf(f, &dt->tok, &err);
		gguf_close(f);
	}
	if (rc != 0) {
		q_warn("%s", err);
		free(err);
		free(path);
		return -1;
	}
	dt->fingerprint = tokenizer_fingerprint(dt->tok);
	free(path);
	return 0;
}

void doc_tokens_close(struct doc_tokens *dt)
{
	tokenizer_free(dt->tok);
	dt->tok = NULL;
}

int doc_tokens_encode(void *ctx, const char *text, size_t len, int32_t **ids, uint32_t **offsets,
    size_t *n, char **err)
{
	struct doc_tokens *dt = ctx;
	size_t *off = NULL;
	if (len > UINT32_MAX)
		return q_error(err, "a document of %zu bytes is too large to tokenize (4 GiB limit)",
		    len);
	if (tokenizer_encode(dt->tok, text, len, 0, ids, n, &off, err) != 0)
		return -1;
	uint32_t *o32 = xreallocarray(NULL, *n ? *n : 1, sizeof(uint32_t));
	for (size_t i = 0; i < *n; i++)
		o32[i] = (uint32_t)off[i];
	free(off);
	*offsets = o32;
	return 0;
}

int doc_tokens_remember(struct store *s, uint64_t fingerprint, char **err)
{
	char v[32];
	snprintf(v, sizeof(v), "%016" PRIx64, fingerprint);
	return store_setting_set(s, "tokenizer", v, err);
}

uint64_t doc_tokens_recall(struct store *s)
{
	char *v = NULL, *err = NULL;
	uint64_t fp = 0;
	if (store_setting_get(s, "tokenizer", &v, &err) == 0 && v != NULL)
		fp = strtoull(v, NULL, 16);
	free(v);
	free(err);
	return fp;
}
