/* cmd-info.c: `quire info`: what the model is (architecture, sizes, tensor types, vocabulary,
 * effective RoPE, KV bytes per token) and what this machine offers (SIMD level, CUDA). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/gguf.h"
#include "engine/model.h"
#include "engine/rope.h"
#include "engine/tokenizer.h"
#include "kernels/cpu-features.h"
#include "kernels/ggml-types.h"
#include "lib/buf.h"
#include "lib/util.h"
#include "tui/model-setup.h"
#include "tui/cmd.h"
#ifdef HAVE_CUDA
#include "kernels/cuda-backend.h"
#endif

static void print_machine(void)
{
	printf("cpu.simd: %s\n", cpu_simd_level_name());
	printf("cpu.features: %s\n", cpu_features_string());
#ifdef HAVE_CUDA
	char *err = NULL;
	int n = cuda_device_count(&err);
	if (n < 0) {
		printf("cuda: error: %s\n", err);
		free(err);
	} else if (n == 0) {
		printf("cuda: built in, no device found\n");
	}
	for (int i = 0; i < n; i++) {
		struct cuda_device_info d;
		if (cuda_device_probe(i, &d, &err) == 0)
			printf("cuda.device%d: %s, compute %d.%d, %zu MiB (%zu MiB free), %d SMs\n", i,
			    d.name, d.cc_major, d.cc_minor, d.total_mem >> 20, d.free_mem >> 20,
			    d.multiprocessors);
	}
#else
	printf("cuda: not built in\n");
#endif
}

static void print_tensor_mix(const struct model *m)
{
	uint64_t bytes[GGML_TYPE_COUNT_] = { 0 };
	int count[GGML_TYPE_COUNT_] = { 0 };
	int n = gguf_tensor_count(m->gguf);
	for (int i = 0; i < n; i++) {
		const struct gguf_tensor *t = gguf_tensor_at(m->gguf, i);
		count[t->type]++;
		bytes[t->type] += t->nbytes;
	}
	printf("tensors: %d, %.1f MiB\n", n, (double)m->weight_bytes / (1 << 20));
	for (int t = 0; t < GGML_TYPE_COUNT_; t++)
		if (count[t])
			printf("tensors.%s: %d (%.1f MiB)\n", ggml_type_traits_of((uint32_t)t)->name,
			    count[t], (double)bytes[t] / (1 << 20));
}

static int cmd_info_exec(struct cmd_ctx *ctx)
{
	printf("quire: %s\n", PACKAGE_VERSION);
	struct model *m;
	if (model_setup_load(ctx->opts, &m) != 0) {
		print_machine();
		return 1;
	}
	const struct model_hparams *hp = &m->hp;
	printf("model.file: %s\n", gguf_path(m->gguf));
	printf("model.name: %s\n", hp->name[0] ? hp->name : "(none)");
	printf("model.arch: %s\n", hp->arch_name);
	printf("model.gguf_version: %u\n", gguf_version(m->gguf));
	printf("model.layers: %u\n", hp->n_layer);
	printf("model.width: %u\n", hp->n_embd);
	printf("model.ffn: %u\n", hp->n_ff);
	printf("model.heads: %u\n", hp->n_head);
	printf("model.kv_heads: %u\n", hp->n_head_kv);
	printf("model.head_size: %u\n", hp->head_dim);
	printf("model.context_train: %u\n", hp->n_ctx_train);
	printf("model.rms_eps: %g\n", hp->rms_eps);
	printf("model.output: %s\n", hp->tied_output ? "tied to token_embd" : "output.weight");
	printf("model.ffn_act: %s\n", hp->ffn_act == FFN_GELU ? "gelu (GeGLU)" : "silu (SwiGLU)");
	if (hp->embd_scale != 1.0f)
		printf("model.embd_scale: %g\n", hp->embd_scale);
	printf("model.attn_scale: %g%s\n", hp->attn_scale * hp->q_scale,
	    hp->q_scale != 1.0f ? " (on Q, after RoPE)" : "");
	if (hp->n_swa != 0) {
		uint32_t n = 0;
		for (uint32_t l = 0; l < hp->n_layer; l++)
			n += m->layers[l].swa != 0;
		printf("model.sliding_window: %u keys on %u of %u layers (plain RoPE, base %g)\n",
		    hp->n_swa, n, hp->n_layer, hp->rope_base_swa);
	}
	print_tensor_mix(m);
	const struct tokenizer *tok = m->tok;
	printf("vocab.size: %d\n", tokenizer_n_vocab(tok));
	printf("vocab.model: %s\n", tokenizer_model_name(tok));
	printf("vocab.pre: %s\n", tokenizer_pre_name(tok)[0] ? tokenizer_pre_name(tok) : "default");
	printf("vocab.bos: %d\n", tokenizer_bos(tok));
	printf("vocab.eos: %d\n", tokenizer_eos(tok));
	printf("vocab.fingerprint: %016llx\n", (unsigned long long)tokenizer_fingerprint(tok));

	/* RoPE as this run would use it: the file's configuration with the --rope-* options. */
	struct rope_overrides ov;
	if (model_setup_rope_overrides(ctx->opts, &ov) != 0) {
		model_free(m);
		return 2;
	}
	struct rope_config rc = m->rope;
	char *err = NULL;
	uint32_t n_ctx = ctx->opts->ctx ? (uint32_t)ctx->opts->ctx : hp->n_ctx_train;
	if (rope_config_apply_overrides(&rc, &ov, &err) != 0 ||
	    rope_config_finish(&rc, n_ctx, &err) != 0) {
		q_warn("%s", err);
		free(err);
		model_free(m);
		return 1;
	}
	struct buf b = BUF_INIT;
	rope_describe(&rc, &b);
	fputs(b.data ? b.data : "", stdout);
	buf_free(&b);
	printf("kv.bytes_per_token.f16: %zu\n", model_kv_bytes_per_token(m, 2));
	printf("kv.bytes_per_token.q8_0: %zu\n", model_kv_bytes_per_token(m, 2) * 34 / 64);
	printf("kv.f16_at_context: %.1f MiB for %u tokens\n",
	    (double)model_kv_bytes_per_token(m, 2) * n_ctx / (1 << 20), n_ctx);
	print_machine();
	model_free(m);
	return 0;
}

const struct cmd_entry cmd_info_entry = {
	.name = "info", .summary = "model, RoPE, KV and library facts", .max_args = 0,
	.exec = cmd_info_exec,
};
