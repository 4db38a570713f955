/* model.c: loads a llama-family model from GGUF: hyper-parameters, weights bound by name and
 * checked against the hyper-parameters, tokenizer and RoPE configuration. */
#include "engine/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/tokenizer.h"
#include "kernels/quant.h"
#include "lib/checksum.h"
#include "lib/util.h"

struct arch_desc {
	const char *name;           /* general.architecture */
	enum model_arch arch;
};

static const struct arch_desc arches[] = {
	{ "llama", ARCH_LLAMA },
	{ "qwen2", ARCH_QWEN2 },
	{ "phi3", ARCH_PHI3 },
	{ "gemma3", ARCH_GEMMA3 },
};

/* Loading state: the file name for messages and a bump allocator for the f32 vectors. */
struct loader {
	struct model *m;
	const char *path;
	size_t vec_used, vec_cap;   /* floats */
};

static int get_hp_u32(struct loader *ld, const char *key, uint32_t *out, int required,
    char **err)
{
	char full[96];
	snprintf(full, sizeof(full), "%s.%s", ld->m->hp.arch_name, key);
	int rc = gguf_get_u32(ld->m->gguf, full, out, err);
	if (rc < 0)
		return -1;
	if (rc == 1 && required)
		return q_error(err, "%s: missing key '%s'", ld->path, full);
	return 0;
}

/* Find a tensor and check its type and shape: ne0 x ne1 (ne1 = 0 for a vector). */
static int bind(struct loader *ld, const char *name, uint64_t ne0, uint64_t ne1, int optional,
    const struct gguf_tensor **out, char **err)
{
	const struct gguf_tensor *t = gguf_find_tensor(ld->m->gguf, name);
	*out = t;
	if (t == NULL) {
		if (optional)
			return 0;
		return q_error(err, "%s: missing tensor '%s'", ld->path, name);
	}
	int dims = ne1 ? 2 : 1;
	uint64_t rest = 1;
	for (int d = 2; d < t->n_dims; d++)
		rest *= (uint64_t)t->ne[d];
	if ((uint64_t)t->ne[0] != ne0 || (dims == 2 && (uint64_t)t->ne[1] != ne1) ||
	    (dims == 1 && t->n_dims != 1) || rest != 1)
		return q_error(err, "%s: tensor '%s' has shape [%lld, %lld], expected [%llu, %llu]",
		    ld->path, name, (long long)t->ne[0], (long long)(t->n_dims > 1 ? t->ne[1] : 1),
		    (unsigned long long)ne0, (unsigned long long)(ne1 ? ne1 : 1));
	if (!quant_type_supported(t->type)) {
		const struct ggml_type_traits *tr = ggml_type_traits_of(t->type);
		return q_error(err, "%s: tensor '%s' has type %s, which quire cannot compute with",
		    ld->path, name, tr ? tr->name : "?");
	}
	return 0;
}

/* Bind a vector (norm weight or bias) and convert it to f32 once. */
static int bind_vector(struct loader *ld, const char *name, uint64_t n, int optional,
    const float **out, char **err)
{
	const struct gguf_tensor *t;
	*out = NULL;
	if (bind(ld, name, n, 0, optional, &t, err) != 0)
		return -1;
	if (t == NULL)
		return 0;
	if (ld->vec_used + n > ld->vec_cap)
		fatal("model vector storage undersized");
	float *dst = ld->m->vectors + ld->vec_used;
	if (quant_dequantize_row(t->type, t->data, dst, n, err) != 0)
		return -1;
	ld->vec_used += n;
	*out = dst;
	return 0;
}

/* gemma3 as llama.cpp runs it (llm_build_gemma3_iswa): embeddings times sqrt(n_embd), GeGLU,
 * and five sliding-window layers (plain RoPE, base 10000) to every global one. */
static int read_gemma3(struct loader *ld, char **err)
{
	struct model_hparams *hp = &ld->m->hp;
	hp->ffn_act = FFN_GELU;
	hp->embd_scale = sqrtf((float)hp->n_embd);
	/* the 27B model scales by its width per head, the others by the head size */
	hp->q_scale = hp->n_layer == 62 ? 1.0f / sqrtf((float)(hp->n_embd / hp->n_head)) :
	    1.0f / sqrtf((float)hp->head_dim);
	hp->attn_scale = 1.0f;
	hp->rope_base_swa = 10000.0;
	if (get_hp_u32(ld, "attention.sliding_window", &hp->n_swa, 1, err) != 0)
		return -1;
	if (hp->n_swa == 0)
		return q_error(err, "%s: %s.attention.sliding_window is 0", ld->path, hp->arch_name);
	uint32_t v;
	char full[96];
	snprintf(full, sizeof(full), "%s.attention.value_length", hp->arch_name);
	int rc = gguf_get_u32(ld->m->gguf, full, &v, err);
	if (rc < 0)
		return -1;
	if (rc == 0 && v != hp->head_dim)
		return q_error(err, "%s: %s = %u differs from the key size %u, which quire does not "
		    "support", ld->path, full, v, hp->head_dim);
	return 0;
}

/* llama.cpp's set_swa_pattern(6): every sixth layer (5, 11, ...) is global. */
static int layer_is_swa(const struct model_hparams *hp, uint32_t l)
{
	return hp->n_swa != 0 && l % 6 < 5;
}

static int read_hparams(struct loader *ld, char **err)
{
	struct model *m = ld->m;
	struct model_hparams *hp = &m->hp;
	const char *s;
	size_t len;
	if (gguf_need_str(m->gguf, "general.architecture", &s, &len, err) != 0)
		return -1;
	int found = 0;
	for (size_t i = 0; i < Q_ARRAY_LEN(arches); i++) {
		if (strlen(arches[i].name) == len && memcmp(arches[i].name, s, len) == 0) {
			hp->arch = arches[i].arch;
			found = 1;
		}
	}
	if (!found) {
		char *name = xstrndup(s, len < 64 ? len : 64);
		int rc = q_error(err, "%s: architecture '%s' is not supported (quire runs llama, "
		    "qwen2, phi3 and gemma3)", ld->path, name);
		free(name);
		return rc;
	}
	snprintf(hp->arch_name, sizeof(hp->arch_name), "%.*s", (int)len, s);
	if (gguf_get_str(m->gguf, "general.name", &s, &len, err) == 0)
		snprintf(hp->name, sizeof(hp->name), "%.*s", (int)(len < 127 ? len : 127), s);

	if (get_hp_u32(ld, "block_count", &hp->n_layer, 1, err) ||
	    get_hp_u32(ld, "embedding_length", &hp->n_embd, 1, err) ||
	    get_hp_u32(ld, "feed_forward_length", &hp->n_ff, 1, err) ||
	    get_hp_u32(ld, "attention.head_count", &hp->n_head, 1, err) ||
	    get_hp_u32(ld, "context_length", &hp->n_ctx_train, 1, err))
		return -1;
	hp->n_head_kv = hp->n_head;
	if (get_hp_u32(ld, "attention.head_count_kv", &hp->n_head_kv, 0, err) != 0)
		return -1;
	if (hp->n_layer == 0 || hp->n_layer > 1024 || hp->n_embd == 0 || hp->n_embd > 65536 ||
	    hp->n_head == 0 || hp->n_head > 1024 || hp->n_ff == 0 || hp->n_ff > 1 << 20)
		return q_error(err, "%s: implausible hyper-parameters (layers %u, width %u, heads %u, "
		    "ffn %u)", ld->path, hp->n_layer, hp->n_embd, hp->n_head, hp->n_ff);
	if (hp->n_head_kv == 0 || hp->n_head % hp->n_head_kv != 0)
		return q_error(err, "%s: %u query heads cannot share %u KV heads", ld->path,
		    hp->n_head, hp->n_head_kv);
	hp->head_dim = hp->n_embd / hp->n_head;
	if (get_hp_u32(ld, "attention.key_length", &hp->head_dim, 0, err) != 0)
		return -1;
	if (hp->head_dim == 0 || hp->head_dim > 1024 || hp->head_dim % 2 != 0)
		return q_error(err, "%s: head size %u is not supported", ld->path, hp->head_dim);
	char full[96];
	snprintf(full, sizeof(full), "%s.attention.layer_norm_rms_epsilon", hp->arch_name);
	hp->rms_eps = 1e-5f;
	if (gguf_get_f32(m->gguf, full, &hp->rms_eps, err) < 0)
		return -1;
	if (!(hp->rms_eps > 0.0f && hp->rms_eps < 1.0f))
		return q_error(err, "%s: %s = %g is out of range", ld->path, full, hp->rms_eps);

	hp->ffn_act = FFN_SILU;
	hp->embd_scale = 1.0f;
	hp->attn_scale = 1.0f / sqrtf((float)hp->head_dim);
	hp->q_scale = 1.0f;
	if (hp->arch == ARCH_GEMMA3 && read_gemma3(ld, err) != 0)
		return -1;
	return 0;
}

static int bind_layers(struct loader *ld, char **err)
{
	struct model *m = ld->m;
	const struct model_hparams *hp = &m->hp;
	uint64_t q_dim = (uint64_t)hp->n_head * hp->head_dim;
	uint64_t kv_dim = (uint64_t)hp->n_head_kv * hp->head_dim;
	char name[96];
#define T(fmt) (snprintf(name, sizeof(name), fmt, l), name)
	for (uint32_t l = 0; l < hp->n_layer; l++) {
		struct model_layer *L = &m->layers[l];
		if (bind_vector(ld, T("blk.%u.attn_norm.weight"), hp->n_embd, 0, &L->attn_norm, err) ||
		    bind_vector(ld, T("blk.%u.ffn_norm.weight"), hp->n_embd, 0, &L->ffn_norm, err) ||
		    bind(ld, T("blk.%u.attn_output.weight"), q_dim, hp->n_embd, 0, &L->wo, err) ||
		    bind(ld, T("blk.%u.ffn_down.weight"), hp->n_ff, hp->n_embd, 0, &L->ffn_down, err))
			return -1;
		if (hp->arch == ARCH_PHI3) {
			if (bind(ld, T("blk.%u.attn_qkv.weight"), hp->n_embd, q_dim + 2 * kv_dim, 0,
			    &L->wqkv, err) ||
			    bind(ld, T("blk.%u.ffn_up.weight"), hp->n_embd, 2 * (uint64_t)hp->n_ff, 0,
			    &L->ffn_up, err))
				return -1;
			continue;
		}
		if (bind(ld, T("blk.%u.attn_q.weight"), hp->n_embd, q_dim, 0, &L->wq, err) ||
		    bind(ld, T("blk.%u.attn_k.weight"), hp->n_embd, kv_dim, 0, &L->wk, err) ||
		    bind(ld, T("blk.%u.attn_v.weight"), hp->n_embd, kv_dim, 0, &L->wv, err) ||
		    bind(ld, T("blk.%u.ffn_gate.weight"), hp->n_embd, hp->n_ff, 0, &L->ffn_gate, err) ||
		    bind(ld, T("blk.%u.ffn_up.weight"), hp->n_embd, hp->n_ff, 0, &L->ffn_up, err))
			return -1;
		if (hp->arch == ARCH_GEMMA3) {
			L->swa = layer_is_swa(hp, l);
			if (bind_vector(ld, T("blk.%u.attn_q_norm.weight"), hp->head_dim, 0, &L->q_norm,
			    err) ||
			    bind_vector(ld, T("blk.%u.attn_k_norm.weight"), hp->head_dim, 0, &L->k_norm,
			    err) ||
			    bind_vector(ld, T("blk.%u.post_attention_norm.weight"), hp->n_embd, 0,
			    &L->attn_post_norm, err) ||
			    bind_vector(ld, T("blk.%u.post_ffw_norm.weight"), hp->n_embd, 0,
			    &L->ffn_post_norm, err))
				return -1;
		}
		int biases = hp->arch == ARCH_QWEN2;
		if (bind_vector(ld, T("blk.%u.attn_q.bias"), q_dim, !biases, &L->bq, err) ||
		    bind_vector(ld, T("blk.%u.attn_k.bias"), kv_dim, !biases, &L->bk, err) ||
		    bind_vector(ld, T("blk.%u.attn_v.bias"), kv_dim, !biases, &L->bv, err))
			return -1;
	}
#undef T
	return 0;
}

int model_load(const char *path, struct model **out, char **err)
{
	*out = NULL;
	struct model *m = xcalloc(1, sizeof(*m));
	struct loader ld = { .m = m, .path = path };
	if (gguf_open(path, &m->gguf, err) != 0)
		goto fail;
	if (read_hparams(&ld, err) != 0)
		goto fail;
	const struct model_hparams *hp0 = &m->hp;

	const struct gguf_tensor *te = gguf_find_tensor(m->gguf, "token_embd.weight");
	if (te == NULL) {
		q_error(err, "%s: missing tensor 'token_embd.weight'", path);
		goto fail;
	}
	if (te->n_dims != 2 || te->ne[1] < 1 || te->ne[1] > (1 << 24)) {
		q_error(err, "%s: tensor 'token_embd.weight' has an implausible shape", path);
		goto fail;
	}
	m->hp.n_vocab = (uint32_t)te->ne[1];
	if (bind(&ld, "token_embd.weight", hp0->n_embd, m->hp.n_vocab, 0, &m->token_embd, err) ||
	    bind(&ld, "output.weight", hp0->n_embd, m->hp.n_vocab, 1, &m->output, err))
		goto fail;
	if (m->output == NULL) {
		m->output = m->token_embd;
		m->hp.tied_output = 1;
	}

	/* Room for every norm and bias vector as f32. */
	uint64_t kv_dim = (uint64_t)hp0->n_head_kv * hp0->head_dim;
	ld.vec_cap = hp0->n_embd + (size_t)hp0->n_layer *
	    (4 * hp0->n_embd + hp0->n_head * hp0->head_dim + 2 * kv_dim + 2 * hp0->head_dim);
	m->vectors = xreallocarray(NULL, ld.vec_cap, sizeof(float));
	m->layers = xcalloc(hp0->n_layer, sizeof(*m->layers));
	if (bind_vector(&ld, "output_norm.weight", hp0->n_embd, 0, &m->output_norm, err) ||
	    bind_layers(&ld, err))
		goto fail;

	if (rope_config_from_gguf(&m->rope, m->gguf, err) != 0)
		goto fail;
	if (m->rope.n_rot > (int)hp0->head_dim) {
		q_error(err, "%s: rope.dimension_count %d exceeds the head size %u", path,
		    m->rope.n_rot, hp0->head_dim);
		goto fail;
	}
	if (tokenizer_from_gguf(m->gguf, &m->tok, err) != 0)
		goto fail;
	if (tokenizer_n_vocab(m->tok) > (int32_t)m->hp.n_vocab) {
		q_error(err, "%s: the vocabulary has %d tokens but token_embd only %u rows", path,
		    tokenizer_n_vocab(m->tok), m->hp.n_vocab);
		goto fail;
	}
	for (int i = 0; i < gguf_tensor_count(m->gguf); i++)
		m->weight_bytes += gguf_tensor_at(m->gguf, i)->nbytes;
	*out = m;
	return 0;
fail:
	model_free(m);
	return -1;
}

void model_free(struct model *m)
{
	if (m == NULL)
		return;
	tokenizer_free(m->tok);
	gguf_close(m->gguf);
	free(m->layers);
	free(m->vectors);
	free(m);
}

size_t model_kv_bytes_per_token(const struct model *m, size_t elem_bytes)
{
	return 2 * (size_t)m->hp.n_layer * m->hp.n_head_kv * m->hp.head_dim * elem_bytes;
}

uint64_t model_fingerprint(const struct model *m)
{
	const struct gguf_file *g = m->gguf;
	const unsigned char *base = gguf_base(g);
	uint64_t h = checksum64(base, (size_t)gguf_data_offset(g), 0x71756972654d4f44ull);
	int n = gguf_tensor_count(g);
	for (int i = 0; i < n; i++) {
		const struct gguf_tensor *t = gguf_tensor_at(g, i);
		const unsigned char *d = t->data;
		size_t len = (size_t)t->nbytes, piece = len < 4096 ? len : 4096;
		h = checksum64(d, piece, h);
		h = checksum64(d + (len - piece) / 2, piece, h);
		h = checksum64(d + len - piece, piece, h);
	}
	return h;
}
