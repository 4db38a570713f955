/* forward.c: the transformer forward pass of the llama family, top to bottom: embed, then per
 * layer attention and feed-forward with residuals, then the final norm and the logits. The math
 * is here; the speed is in the backend's kernels. */
#include "engine/context.h"

#include <math.h>
#include <string.h>

#include "lib/util.h"

/* Q, K and V for n tokens from the normed activations xb. */
static int project_qkv(struct context *c, const struct model_layer *L, size_t n, char **err)
{
	const struct model_hparams *hp = &c->model->hp;
	struct backend *be = c->be;
	size_t q_dim = (size_t)hp->n_head * hp->head_dim;
	size_t kv_dim = (size_t)hp->n_head_kv * hp->head_dim;

	if (L->wqkv != NULL) {
		/* phi3: one product gives q|k|v per token; split it into the three buffers. */
		size_t all = q_dim + 2 * kv_dim;
		if (be->ops->matmul(be, L->wqkv, c->xb, n, c->hb, err) != 0)
			return -1;
		for (size_t t = 0; t < n; t++) {
			const float *row = c->hb + t * all;
			memcpy(c->q + t * q_dim, row, q_dim * sizeof(float));
			memcpy(c->k + t * kv_dim, row + q_dim, kv_dim * sizeof(float));
			memcpy(c->v + t * kv_dim, row + q_dim + kv_dim, kv_dim * sizeof(float));
		}
		return 0;
	}
	const struct gguf_tensor *w[3] = { L->wq, L->wk, L->wv };
	float *y[3] = { c->q, c->k, c->v };
	if (be->ops->matmul_many(be, w, y, 3, c->xb, n, err) != 0)
		return -1;
	if (L->bq != NULL) {
		/* qwen2 adds biases to the projections */
		for (size_t t = 0; t < n; t++) {
			for (size_t i = 0; i < q_dim; i++)
				c->q[t * q_dim + i] += L->bq[i];
			for (size_t i = 0; i < kv_dim; i++) {
				c->k[t * kv_dim + i] += L->bk[i];
				c->v[t * kv_dim + i] += L->bv[i];
			}
		}
	}
	return 0;
}

/* One transformer block. llama, qwen2 and phi3: x += attn(norm(x)); x += ffn(norm(x)).
 * gemma3 adds an RMSNorm of each head of Q and K before the rotation and one of each block's
 * output before its residual add, and its sliding-window layers rotate with their own table
 * and see only the last n_swa keys. */
static int layer_forward(struct context *c, uint32_t l, size_t n, char **err)
{
	const struct model_hparams *hp = &c->model->hp;
	const struct model_layer *L = &c->model->layers[l];
	struct backend *be = c->be;
	size_t dim = hp->n_embd;
	const struct rope_table *rt = context_layer_rope(c, l);

	/* attention block: x += Wo . attention(rope(Wq xb), rope(Wk xb), Wv xb) */
	be->ops->rmsnorm(be, c->x, L->attn_norm, c->xb, n, dim, hp->rms_eps);
	if (project_qkv(c, L, n, err) != 0)
		return -1;
	if (L->q_norm != NULL) {
		be->ops->rmsnorm(be, c->q, L->q_norm, c->q, n * hp->n_head, hp->head_dim,
		    hp->rms_eps);
		be->ops->rmsnorm(be, c->k, L->k_norm, c->k, n * hp->n_head_kv, hp->head_dim,
		    hp->rms_eps);
	}
	be->ops->rope(be, c->q, n, hp->n_head, hp->head_dim, c->pos, rt);
	be->ops->rope(be, c->k, n, hp->n_head_kv, hp->head_dim, c->pos, rt);
	if (hp->q_scale != 1.0f)
		for (size_t i = 0; i < n * hp->n_head * hp->head_dim; i++)
			c->q[i] *= hp->q_scale;
	if (c->before_attention != NULL &&
	    c->before_attention(c->hook_ctx, c, l, c->q, n, err) != 0)
		return -1;
	be->ops->kv_store(be, l, c->n_past, n, c->k, c->v);
	be->ops->attention(be, l, c->q, n, c->n_past, hp->n_head, hp->attn_scale,
	    L->swa ? hp->n_swa : 0, c->att);
	if (be->ops->matmul(be, L->wo, c->att, n, c->xb, err) != 0)
		return -1;
	if (L->attn_post_norm != NULL)
		be->ops->rmsnorm(be, c->xb, L->attn_post_norm, c->xb, n, dim, hp->rms_eps);
	for (size_t i = 0; i < n * dim; i++)
		c->x[i] += c->xb[i];

	/* feed-forward block: x += Wdown . (act(Wgate xb) * Wup xb), act silu or gelu */
	be->ops->rmsnorm(be, c->x, L->ffn_norm, c->xb, n, dim, hp->rms_eps);
	size_t ff = hp->n_ff;
	if (L->ffn_gate != NULL) {
		const struct gguf_tensor *w[2] = { L->ffn_gate, L->ffn_up };
		float *y[2] = { c->hb, c->hb2 };
		if (be->ops->matmul_many(be, w, y, 2, c->xb, n, err) != 0)
			return -1;
		if (hp->ffn_act == FFN_GELU)
			be->ops->geglu(be, c->hb, c->hb2, ff, c->hb, n, ff);
		else
			be->ops->swiglu(be, c->hb, c->hb2, ff, c->hb, n, ff);
	} else {
		/* phi3: ffn_up gives gate|up in one row of 2*n_ff */
		if (be->ops->matmul(be, L->ffn_up, c->xb, n, c->hb2, err) != 0)
			return -1;
		be->ops->swiglu(be, c->hb2, c->hb2 + ff, 2 * ff, c->hb, n, ff);
	}
	if (be->ops->matmul(be, L->ffn_down, c->hb, n, c->xb, err) != 0)
		return -1;
	if (L->ffn_post_norm != NULL)
		be->ops->rmsnorm(be, c->xb, L->ffn_post_norm, c->xb, n, dim, hp->rms_eps);
	for (size_t i = 0; i < n * dim; i++)
		c->x[i] += c->xb[i];
	return 0;
}

static int forward_batch(struct context *c, const int32_t *tokens, size_t n, float *logits,
    int all_logits, char **err)
{
	const struct model *m = c->model;
	const struct model_hparams *hp = &m->hp;
	struct backend *be = c->be;

	for (size_t t = 0; t < n; t++) {
		if (tokens[t] < 0 || (uint32_t)tokens[t] >= hp->n_vocab)
			return q_error(err, "token id %d is outside the vocabulary (%u)", tokens[t],
			    hp->n_vocab);
		c->pos[t] = c->pos_base + (int64_t)c->n_past + (int64_t)t;
	}
	if (be->ops->embed(be, m->token_embd, tokens, n, c->x, err) != 0)
		return -1;
	if (hp->embd_scale != 1.0f)
		for (size_t i = 0; i < n * hp->n_embd; i++)
			c->x[i] *= hp->embd_scale;
	for (uint32_t l = 0; l < hp->n_layer; l++)
		if (layer_forward(c, l, n, err) != 0)
			return -1;

	/* Only the rows whose logits are wanted go through the output norm and matrix. */
	size_t first = all_logits ? 0 : n - 1;
	size_t rows = n - first;
	const float *xr = c->x + first * hp->n_embd;
	be->ops->rmsnorm(be, xr, m->output_norm, c->xb, rows, hp->n_embd, hp->rms_eps);
	if (logits != NULL && be->ops->matmul(be, m->output, c->xb, rows, logits, err) != 0)
		return -1;
	c->n_past += (uint32_t)n;
	return 0;
}

int forward(struct context *c, const int32_t *tokens, size_t n, float *logits, int all_logits,
    char **err)
{
	if (n == 0)
		return 0;
	if ((size_t)c->n_past + n > c->n_ctx)
		return q_error(err, "the context holds %u tokens; %u are used and %zu more do not fit",
		    c->n_ctx, c->n_past, n);
	size_t n_vocab = c->model->hp.n_vocab;
	for (size_t done = 0; done < n;) {
		size_t chunk = n - done < c->n_batch ? n - done : c->n_batch;
		int last = done + chunk == n;
		float *out = NULL;
		if (logits != NULL && all_logits)
			out = logits + done * n_vocab;
		else if (logits != NULL && last)
			out = logits;
		if (forward_batch(c, tokens + done, chunk, out, all_logits, err) != 0)
			return -1;
		done += chunk;
	}
	return 0;
}
