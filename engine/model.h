/* model.h: a loaded model: hyper-parameters read from GGUF metadata, the weight tensors of
 * each layer bound by name and checked against those hyper-parameters, its tokenizer and its
 * RoPE configuration. Weights stay in the file's mapping. */
#ifndef QUIRE_ENGINE_MODEL_H
#define QUIRE_ENGINE_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "engine/gguf.h"
#include "engine/rope.h"

struct tokenizer;

enum model_arch {
	ARCH_LLAMA = 0,     /* Llama 2/3/3.1/3.2, Mistral, SmolLM2, UltraLong */
	ARCH_QWEN2 = 1,     /* llama + biases on Q, K and V; NEOX pairing */
	ARCH_PHI3 = 2,      /* fused QKV and gate/up; LongRoPE factor tensors */
	ARCH_GEMMA3 = 3,    /* scaled embeddings, QK-norm, post-norms, GeGLU, sliding-window
	                     * layers with their own RoPE base */
};

/* The feed-forward activation: act(gate) * up. */
enum model_ffn_act {
	FFN_SILU = 0,       /* SwiGLU */
	FFN_GELU = 1,       /* GeGLU, GELU's tanh form */
};

struct model_hparams {
	enum model_arch arch;
	char arch_name[32];         /* general.architecture */
	char name[128];             /* general.name, or "" */
	uint32_t n_layer;           /* block_count */
	uint32_t n_embd;            /* embedding_length */
	uint32_t n_ff;              /* feed_forward_length */
	uint32_t n_head;            /* attention.head_count */
	uint32_t n_head_kv;         /* attention.head_count_kv (GQA), default n_head */
	uint32_t head_dim;          /* attention.key_length, default n_embd / n_head */
	uint32_t n_vocab;           /* rows of token_embd */
	uint32_t n_ctx_train;       /* context_length */
	float rms_eps;              /* attention.layer_norm_rms_epsilon */
	int tied_output;            /* no output.weight: logits use token_embd */
	enum model_ffn_act ffn_act;
	float embd_scale;           /* embeddings are multiplied by it (gemma: sqrt(n_embd)); 1 */
	float attn_scale;           /* logits' scale before the softmax: 1/sqrt(head_dim), or 1
	                             * when q_scale takes its place */
	float q_scale;              /* gemma3 multiplies Q by its scale after RoPE instead (in
	                             * fp32, before Q meets the fp16 keys): llama.cpp's order; 1 */
	uint32_t n_swa;             /* attention.sliding_window: keys a sliding-window layer's
	                             * query sees (itself included); 0 = no such layers */
	double rope_base_swa;       /* RoPE base of the sliding-window layers (plain RoPE) */
};

struct model_layer {
	const float *attn_norm;                 /* [n_embd], f32 copy */
	const struct gguf_tensor *wq, *wk, *wv; /* [n_embd] -> q, k, v (NULL when fused) */
	const struct gguf_tensor *wqkv;         /* phi3: fused [n_embd] -> q|k|v */
	const float *bq, *bk, *bv;              /* qwen2 biases (f32 copies), else NULL */
	const struct gguf_tensor *wo;           /* [n_head*head_dim] -> [n_embd] */
	const float *ffn_norm;                  /* [n_embd], f32 copy */
	const struct gguf_tensor *ffn_gate;     /* NULL for phi3 (fused into ffn_up) */
	const struct gguf_tensor *ffn_up;       /* [n_embd] -> n_ff (phi3: 2*n_ff, gate first) */
	const struct gguf_tensor *ffn_down;     /* [n_ff] -> [n_embd] */
	/* gemma3 */
	const float *q_norm, *k_norm;           /* per-head RMSNorm of Q and K, [head_dim] */
	const float *attn_post_norm;            /* RMSNorm of the attention output, [n_embd] */
	const float *ffn_post_norm;             /* RMSNorm of the feed-forward output, [n_embd] */
	int swa;                                /* a sliding-window layer (hp.n_swa keys) */
};

struct model {
	struct gguf_file *gguf;
	struct model_hparams hp;
	struct rope_config rope;                /* as the file says, before run overrides */
	struct tokenizer *tok;
	const struct gguf_tensor *token_embd;   /* [n_embd] x n_vocab */
	const float *output_norm;               /* [n_embd], f32 copy */
	const struct gguf_tensor *output;       /* [n_embd] x n_vocab, or token_embd when tied */
	struct model_layer *layers;             /* n_layer of them */
	float *vectors;                         /* storage of the f32 norm and bias copies */
	size_t weight_bytes;                    /* bytes of all tensors */
};

/* Open path, read and check everything the forward pass will use. Errors name the file and
 * what is wrong (missing tensor, wrong shape, unsupported type or architecture). */
int model_load(const char *path, struct model **out, char **err);
void model_free(struct model *m);

/* The identity of the model's numbers, for the corpus cache's file name and header: a hash of
 * the file's header, metadata and tensor table (every byte before the data) and of three
 * 4 KiB samples of each tensor's data (its start, middle and end). Reading the whole file
 * would take seconds for a large model; a fine-tune that changes weights changes the samples
 * of nearly every tensor. */
uint64_t model_fingerprint(const struct model *m);

/* Bytes of K and V per token for a KV element size (2 for f16). */
size_t model_kv_bytes_per_token(const struct model *m, size_t elem_bytes);

#endif
