/* context.c: sets a model up to run: effective RoPE, backend, KV memory and scratch buffers. */
#include "engine/context.h"

#include <stdlib.h>
#include <string.h>

#include "lib/util.h"

int kv_type_parse(const char *name, enum kv_type *out, char **err)
{
	if (strcmp(name, "f16") == 0)
		*out = KV_F16;
	else if (strcmp(name, "q8_0") == 0)
		*out = KV_Q8_0;
	else
		return q_error(err, "unknown KV type '%s' (f16 or q8_0)", name);
	return 0;
}

int context_rope_config(const struct model *m, const struct rope_overrides *ov,
    uint32_t rope_ctx, struct rope_config *out, char **err)
{
	*out = m->rope;
	if (ov != NULL && rope_config_apply_overrides(out, ov, err) != 0)
		return -1;
	return rope_config_finish(out, rope_ctx, err);
}

int context_create(const struct model *m, const struct context_params *p,
    struct context **out, char **err)
{
	*out = NULL;
	const struct model_hparams *hp = &m->hp;
	struct context *c = xcalloc(1, sizeof(*c));
	c->model = m;
	c->n_ctx = p->n_ctx ? p->n_ctx : hp->n_ctx_train;
	c->n_batch = p->n_batch ? p->n_batch : 512;
	if (c->n_batch > c->n_ctx)
		c->n_batch = c->n_ctx;

	uint32_t rope_ctx = p->rope_ctx ? p->rope_ctx : c->n_ctx;
	if (context_rope_config(m, p->rope_overrides, rope_ctx, &c->rope, err) != 0 ||
	    rope_table_build(&c->rope, &c->rope_table, err) != 0)
		goto fail;
	if (hp->n_swa != 0) {
		/* llama.cpp's rope_freq_base_train_swa with scale 1, whatever the global layers do:
		 * a window of n_swa keys never needs stretching */
		struct rope_config swa;
		rope_config_init(&swa, c->rope.pairing, c->rope.n_rot, hp->rope_base_swa,
		    hp->n_ctx_train);
		if (rope_config_finish(&swa, rope_ctx, err) != 0 ||
		    rope_table_build(&swa, &c->rope_table_swa, err) != 0)
			goto fail;
	}

	if (backend_cpu_create(p->n_threads > 0 ? p->n_threads : 1, &c->be, err) != 0)
		goto fail;
	c->kv_type = p->kv_type;
	struct kv_shape shape = { hp->n_layer, c->n_ctx, hp->n_head_kv, hp->head_dim, p->kv_type };
	if (c->be->ops->kv_alloc(c->be, &shape, err) != 0)
		goto fail;

	size_t nb = c->n_batch;
	size_t q_dim = (size_t)hp->n_head * hp->head_dim;
	size_t kv_dim = (size_t)hp->n_head_kv * hp->head_dim;
	size_t wide = 2 * (size_t)hp->n_ff;             /* phi3's fused gate|up row */
	if (q_dim + 2 * kv_dim > wide)
		wide = q_dim + 2 * kv_dim;                /* phi3's fused q|k|v row */
	c->x = xreallocarray(NULL, nb * hp->n_embd, sizeof(float));
	c->xb = xreallocarray(NULL, nb * (hp->n_embd > q_dim ? hp->n_embd : q_dim), sizeof(float));
	c->q = xreallocarray(NULL, nb * q_dim, sizeof(float));
	c->k = xreallocarray(NULL, nb * kv_dim, sizeof(float));
	c->v = xreallocarray(NULL, nb * kv_dim, sizeof(float));
	c->att = xreallocarray(NULL, nb * q_dim, sizeof(float));
	c->hb = xreallocarray(NULL, nb * wide, sizeof(float));
	c->hb2 = xreallocarray(NULL, nb * wide, sizeof(float));
	c->pos = xreallocarray(NULL, nb, sizeof(int64_t));
	*out = c;
	return 0;
fail:
	context_free(c);
	return -1;
}

const struct rope_table *context_layer_rope(const struct context *c, uint32_t l)
{
	return c->model->layers[l].swa ? &c->rope_table_swa : &c->rope_table;
}

void context_reset(struct context *c)
{
	c->n_past = 0;
	c->pos_base = 0;
}

void context_free(struct context *c)
{
	if (c == NULL)
		return;
	if (c->be)
		c->be->ops->destroy(c->be);
	free(c->x);
	free(c->xb);
	free(c->q);
	free(c->k);
	free(c->v);
	free(c->att);
	free(c->hb);
	free(c->hb2);
	free(c->pos);
	free(c);
}
