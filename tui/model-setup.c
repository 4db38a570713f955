/* model-setup.c: model loading and context set-up shared by run, perplexity, info and bench. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/rope.h"
#include "kernels/cpu-features.h"
#include "lib/file.h"
#include "lib/util.h"
#include "tui/model-setup.h"

#define DEFAULT_MODEL_NAME "SmolLM2-135M-Instruct.Q4_1.gguf"

char *model_setup_path(const struct opts *o)
{
	if (o->model != NULL)
		return xstrdup(o->model);
	char *dir = xdg_data_dir();
	char *p = xasprintf("%s/models/%s", dir, DEFAULT_MODEL_NAME);
	free(dir);
	return p;
}

int model_setup_load(const struct opts *o, struct model **out)
{
	char *err = NULL;
	if (cpu_simd_init(&err) != 0) {
		q_warn("%s", err);
		free(err);
		return -1;
	}
	char *path = model_setup_path(o);
	if (o->model == NULL && access(path, R_OK) != 0) {
		q_warn("%s: the default model is not there (scripts/demo fetches it), or pass -m MODEL",
		    path);
		free(path);
		return -1;
	}
	int rc = model_load(path, out, &err);
	if (rc != 0) {
		q_warn("%s", err);
		free(err);
	}
	free(path);
	return rc;
}

int model_setup_rope_overrides(const struct opts *o, struct rope_overrides *ov)
{
	memset(ov, 0, sizeof(*ov));
	if (o->rope_scaling != NULL) {
		if (rope_variant_parse(o->rope_scaling, &ov->variant) != 0) {
			q_warn("--rope-scaling: unknown variant '%s'", o->rope_scaling);
			return 2;
		}
		ov->has_variant = 1;
	}
	ov->scale = o->rope_scale;
	ov->base = o->rope_base;
	ov->orig_ctx = (uint32_t)o->rope_orig_ctx;
	ov->beta_fast = o->yarn_beta_fast;
	ov->beta_slow = o->yarn_beta_slow;
	ov->attn_factor = o->rope_attn_factor;
	ov->longrope_file = o->longrope_factors;
	return 0;
}

/* A context of these parameters, with -t, --kv-type and the RoPE overrides filled in. */
static int setup_context(const struct opts *o, const struct model *m, struct context_params *p,
    struct context **out)
{
	struct rope_overrides ov;
	if (model_setup_rope_overrides(o, &ov) != 0)
		return -1;
	p->n_threads = o->threads;
	p->rope_overrides = &ov;
	char *err = NULL;
	if (kv_type_parse(o->kv_type, &p->kv_type, &err) != 0) {
		q_warn("--kv-type: %s", err);
		free(err);
		return -1;
	}
	if (context_create(m, p, out, &err) != 0) {
		q_warn("%s", err);
		free(err);
		return -1;
	}
	return 0;
}

int model_setup_context(const struct opts *o, const struct model *m, uint32_t n_ctx,
    struct context **out)
{
	struct context_params p = { .n_ctx = n_ctx ? n_ctx : (uint32_t)o->ctx };
	return setup_context(o, m, &p, out);
}

uint32_t model_setup_window(const struct opts *o, const struct model *m)
{
	return o->ctx > 0 ? (uint32_t)o->ctx : m->hp.n_ctx_train;
}

int model_setup_cache_context(const struct opts *o, const struct model *m, uint32_t n_ctx,
    uint32_t n_batch, struct context **out)
{
	struct context_params p = {
		.n_ctx = n_ctx,
		.n_batch = n_batch,
		.rope_ctx = model_setup_window(o, m),
	};
	return setup_context(o, m, &p, out);
}
