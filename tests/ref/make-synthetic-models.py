#!/usr/bin/env python3
"""make-synthetic-models.py: writes the tiny random models under tests/data/synthetic/ that
tests/t-synthetic.c runs quire's forward pass on, one per architecture (llama, qwen2, phi3,
gemma3) and weight type (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K), plus a
llama file with UltraLong's YaRN metadata and two broken files for the loader's error paths.

The weights are seeded NumPy normals, quantized with gguf-py where it can (everything but the
K-quants) and with the small K-quant quantizers below otherwise; whatever the file holds,
gguf-py's dequantize gives the exact weights the references use. Every 2-D matrix, the token
embedding and the output matrix have the type under test; norms and biases are F32.

Two shapes keep the files small (about 8 MB in all for llama, qwen2 and phi3): the 32-element
block types use two layers of n_embd 64 (4 heads of 16, 2 KV heads, n_ff 64); the K-quants
need rows of 256, so they use n_embd 256 (4 heads of 64, 2 KV heads, n_ff 256) and, to stay
small, one layer.
A byte-level gpt2 vocabulary of 288 tokens (256 bytes, 30 merges, BOS, EOS). llama and phi3
have an output matrix, qwen2 and gemma3 tie it to the embedding.

gemma3 needs layers of both kinds (il % 6 < 5 sliding-window, 5 global), so it has 7, and a
head size that is not n_embd / n_head, as the real models have (keys as a real gemma3 GGUF
has them: key_length/value_length, sliding_window, no rope.dimension_count): n_embd 64,
4 heads of 32, 2 KV heads, n_ff 96; the K-quants n_embd 256, 4 heads of 64, 1 KV head,
n_ff 256 (a head size of 128 would double q and o; the small types already cover head size
!= n_embd / n_head). Sliding window 8, so that make-synthetic-ref.py's 32 tokens go well past
it; rope.freq_base 1e6 (global layers; llama.cpp fixes the sliding-window layers' at 1e4).
The 7 layers make the gemma3 files about 10 MB in all, 5.5 MB of it the three K-quants.

Pinned: the gguf python package 0.19. Run from the repository root:
    python3 tests/ref/make-synthetic-models.py [OUTDIR]     (default tests/data/synthetic)
"""
import os
import sys
from importlib.metadata import version

import numpy as np
import gguf
from gguf import GGMLQuantizationType as QT
from gguf.quants import dequantize, quantize

GGUF_PY_VERSION = "0.19"
if not version("gguf").startswith(GGUF_PY_VERSION):
    sys.exit(f"make-synthetic-models.py: pinned to gguf {GGUF_PY_VERSION}.x, found {version('gguf')}")

TYPES = ["F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q4_K", "Q5_K", "Q6_K"]
ARCHES = ["llama", "qwen2", "phi3", "gemma3"]
SMALL = dict(n_embd=64, n_head=4, n_head_kv=2, head_dim=16, n_ff=64, n_layer=2)
KQ = dict(n_embd=256, n_head=4, n_head_kv=2, head_dim=64, n_ff=256, n_layer=1)
GEMMA3_SMALL = dict(n_embd=64, n_head=4, n_head_kv=2, head_dim=32, n_ff=96, n_layer=7)
GEMMA3_KQ = dict(n_embd=256, n_head=4, n_head_kv=1, head_dim=64, n_ff=256, n_layer=7)
GEMMA3_SWA = 8
# The post-norms' weights (post_attention_norm, post_ffw_norm) have mean GEMMA3_POST * sqrt(E)
# (1.6 and 3.2 here): the blocks' outputs then weigh about as much in the residual as the
# embedding, scaled by sqrt(E) on input. With 1 the embedding dominates and, the output being
# tied to it, the input token has the top logit at every position; with more, llama.cpp's
# distance from the exact logits grows fast (7 layers of 8-bit activations: 0.9 on Q4_K at 0.4).
GEMMA3_POST = 0.2
N_MERGES = 30
MERGE_TEXT = ("the quick brown fox jumps over the lazy dog; then the other fox jumps "
              "over the other dog and they both rest in the shade of the old tree there.")


# --- vocabulary -------------------------------------------------------------------------------

def byte_chars():
    """GPT-2's bytes_to_unicode: the printable stand-in character of each byte."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def vocabulary():
    """256 byte tokens, N_MERGES merges learned greedily from MERGE_TEXT, then BOS and EOS."""
    bc = byte_chars()
    tokens = [bc[b] for b in range(256)]
    words = [[bc[b] for b in (("" if i == 0 else " ") + w).encode()]
             for i, w in enumerate(MERGE_TEXT.split(" "))]
    merges = []
    for _ in range(N_MERGES):
        counts = {}
        for w in words:
            for a, b in zip(w, w[1:]):
                counts[(a, b)] = counts.get((a, b), 0) + 1
        (a, b), _n = max(counts.items(), key=lambda kv: (kv[1], kv[0]))
        merges.append(f"{a} {b}")
        tokens.append(a + b)
        for w in words:
            i = 0
            while i < len(w) - 1:
                if w[i] == a and w[i + 1] == b:
                    w[i:i + 2] = [a + b]
                i += 1
    tokens += ["<|bos|>", "<|eos|>"]
    types = [1] * (len(tokens) - 2) + [3, 3]     # normal, then control
    return tokens, types, merges


# --- K-quant quantizers (gguf-py 0.19 only dequantizes these) ---------------------------------

def f16(x):
    return np.asarray(x, dtype=np.float32).astype(np.float16)


def quant_q4_k_q5_k(x, bits):
    """Rows of x (multiple of 256) to Q4_K (bits 4) or Q5_K (bits 5) blocks, as uint8 rows."""
    top = (1 << bits) - 1
    blocks = x.reshape(-1, 8, 32).astype(np.float32)
    lo = np.minimum(blocks.min(axis=2), 0.0)
    hi = np.maximum(blocks.max(axis=2), lo + 1e-8)
    scale, mins = (hi - lo) / top, -lo
    d = f16(scale.max(axis=1) / 63)
    dmin = f16(np.maximum(mins.max(axis=1), 1e-8) / 63)
    df, dmf = d.astype(np.float32)[:, None], dmin.astype(np.float32)[:, None]
    sc = np.clip(np.round(scale / np.where(df > 0, df, 1)), 1, 63).astype(np.uint8)
    mn = np.clip(np.round(mins / np.where(dmf > 0, dmf, 1)), 0, 63).astype(np.uint8)
    d1, m1 = df * sc, dmf * mn
    q = np.clip(np.round((blocks + m1[:, :, None]) / d1[:, :, None]), 0, top).astype(np.uint8)
    nb = blocks.shape[0]
    scales = np.zeros((nb, 12), dtype=np.uint8)
    scales[:, 0:4] = sc[:, 0:4] | ((sc[:, 4:8] >> 4) << 6)
    scales[:, 4:8] = mn[:, 0:4] | ((mn[:, 4:8] >> 4) << 6)
    scales[:, 8:12] = (sc[:, 4:8] & 0xF) | ((mn[:, 4:8] & 0xF) << 4)
    # sub-blocks 2i and 2i+1 share 32 bytes: low nibbles for 2i, high for 2i+1
    qs = ((q[:, 0::2, :] & 0xF) | ((q[:, 1::2, :] & 0xF) << 4)).reshape(nb, 128)
    head = np.concatenate([d.view(np.uint8).reshape(nb, 2), dmin.view(np.uint8).reshape(nb, 2),
                           scales], axis=1)
    if bits == 4:
        out = np.concatenate([head, qs], axis=1)
    else:
        qh = np.zeros((nb, 32), dtype=np.uint8)
        for sb in range(8):
            qh |= ((q[:, sb, :] >> 4) & 1) << sb
        out = np.concatenate([head, qh, qs], axis=1)
    return out.reshape(x.shape[0], -1)


def quant_q6_k(x):
    blocks = x.reshape(-1, 16, 16).astype(np.float32)
    nb = blocks.shape[0]
    amax = np.maximum(np.abs(blocks).max(axis=2), 1e-8)
    scale = amax / 31
    d = f16(scale.max(axis=1) / 127)
    df = d.astype(np.float32)[:, None]
    sc = np.clip(np.round(scale / df), 1, 127).astype(np.int8)
    d1 = df * sc.astype(np.float32)
    q = (np.clip(np.round(blocks / d1[:, :, None]), -32, 31) + 32).astype(np.uint8)
    q = q.reshape(nb, 2, 4, 32)          # half, group of 32, element
    ql = np.zeros((nb, 2, 64), dtype=np.uint8)
    qh = np.zeros((nb, 2, 32), dtype=np.uint8)
    ql[:, :, 0:32] = (q[:, :, 0] & 0xF) | ((q[:, :, 2] & 0xF) << 4)
    ql[:, :, 32:64] = (q[:, :, 1] & 0xF) | ((q[:, :, 3] & 0xF) << 4)
    for g in range(4):
        qh |= (q[:, :, g] >> 4) << (2 * g)
    out = np.concatenate([ql.reshape(nb, 128), qh.reshape(nb, 64), sc.view(np.uint8),
                          d.view(np.uint8).reshape(nb, 2)], axis=1)
    return out.reshape(x.shape[0], -1)


def encode(x, qtype):
    """(array, raw_dtype) to hand to GGUFWriter.add_tensor for a float32 matrix x."""
    if qtype == "F32":
        return x.astype(np.float32), None
    if qtype == "F16":
        return x.astype(np.float16), None
    if qtype in ("Q4_K", "Q5_K"):
        raw = quant_q4_k_q5_k(x, 4 if qtype == "Q4_K" else 5)
    elif qtype == "Q6_K":
        raw = quant_q6_k(x)
    else:
        raw = quantize(x.astype(np.float32), QT[qtype])
    t = QT[qtype]
    back = dequantize(raw, t).reshape(x.shape)
    # the quantizer must be faithful (a packing slip would show as a large error here)
    err = np.abs(back - x).max() / np.abs(x).max()
    print(f"  {qtype}: max error {err:.4f} of the largest weight", file=sys.stderr) if os.environ.get("SYN_VERBOSE") else None
    if not err < 0.15:
        sys.exit(f"{qtype}: quantization error {err:.3f} is too large; quantizer bug")
    return raw, t


# --- models -----------------------------------------------------------------------------------

def add_vocab(w, tokens, types, merges):
    w.add_string("tokenizer.ggml.model", "gpt2")
    w.add_string("tokenizer.ggml.pre", "gpt-2")
    w.add_array("tokenizer.ggml.tokens", tokens)
    w.add_array("tokenizer.ggml.token_type", types)
    w.add_array("tokenizer.ggml.merges", merges)
    w.add_uint32("tokenizer.ggml.bos_token_id", len(tokens) - 2)
    w.add_uint32("tokenizer.ggml.eos_token_id", len(tokens) - 1)
    w.add_bool("tokenizer.ggml.add_bos_token", False)


def write_model(path, arch, shape, qtype, seed, meta=None, arch_name=None, bad_shape=None,
                ctx=2048, base=None):
    """One model. ctx and base: context_length and rope.freq_base (base None: 1e6 for qwen2 and
    gemma3, 1e4 otherwise); meta: extra (key, kind, value) metadata; arch_name overrides
    general.architecture (the unknown-architecture file); bad_shape names a tensor to write
    with one row too many."""
    rng = np.random.default_rng(seed)
    tokens, types, merges = vocabulary()
    n_vocab = len(tokens)
    E, H, KV, D, F, L = (shape[k] for k in ("n_embd", "n_head", "n_head_kv", "head_dim", "n_ff",
                                            "n_layer"))
    name = arch_name or arch
    w = gguf.GGUFWriter(path, name)
    # not the file name: llama.cpp looks tokens like "</s>" up when a name contains "phi3"
    w.add_string("general.name", f"synthetic {qtype}")
    w.add_uint32(f"{name}.block_count", L)
    w.add_uint32(f"{name}.context_length", ctx)
    w.add_uint32(f"{name}.embedding_length", E)
    w.add_uint32(f"{name}.feed_forward_length", F)
    w.add_uint32(f"{name}.attention.head_count", H)
    w.add_uint32(f"{name}.attention.head_count_kv", KV)
    if arch == "gemma3":
        # as convert_hf_to_gguf.py writes gemma3: the head size as key/value_length and no
        # rope.dimension_count (it defaults to key_length)
        w.add_uint32(f"{name}.attention.key_length", D)
        w.add_uint32(f"{name}.attention.value_length", D)
        w.add_uint32(f"{name}.attention.sliding_window", GEMMA3_SWA)
    else:
        w.add_uint32(f"{name}.rope.dimension_count", D)
    w.add_float32(f"{name}.attention.layer_norm_rms_epsilon",
                  1e-5 if arch not in ("qwen2", "gemma3") else 1e-6)
    if base is None:
        base = 1000000.0 if arch in ("qwen2", "gemma3") else 10000.0
    w.add_float32(f"{name}.rope.freq_base", base)
    for key, kind, value in meta or ():
        {"u32": w.add_uint32, "f32": w.add_float32, "str": w.add_string}[kind](key, value)
    add_vocab(w, tokens, types, merges)

    def mat(tname, n_out, n_in, gain=1.0):
        if tname == bad_shape:
            n_out += 1
        x = (rng.standard_normal((n_out, n_in)) * gain / np.sqrt(n_in)).astype(np.float32)
        arr, raw = encode(x, qtype)
        w.add_tensor(tname, arr, raw_dtype=raw)

    def vec(tname, n, mean, sd):
        w.add_tensor(tname, (mean + sd * rng.standard_normal(n)).astype(np.float32))

    # embedding rows of unit scale (gain sqrt(E) undoes mat's 1/sqrt(n_in)); when the output
    # is tied to it, rows of 3/sqrt(E) keep the logits as spread as the untied ones (gemma3
    # scales the embedding by sqrt(E) on input, so its residual stream starts at scale 3)
    tied = arch in ("qwen2", "gemma3")
    mat("token_embd.weight", n_vocab, E, gain=3.0 if tied else np.sqrt(E))
    if not tied:
        mat("output.weight", n_vocab, E, gain=3.0)
    vec("output_norm.weight", E, 1.0, 0.1)
    q_dim, kv_dim = H * D, KV * D
    for l in range(L):
        p = f"blk.{l}."
        vec(p + "attn_norm.weight", E, 1.0, 0.1)
        vec(p + "ffn_norm.weight", E, 1.0, 0.1)
        if arch == "phi3":
            mat(p + "attn_qkv.weight", q_dim + 2 * kv_dim, E, gain=2.0)
            mat(p + "ffn_up.weight", 2 * F, E)
        else:
            mat(p + "attn_q.weight", q_dim, E, gain=2.0)
            mat(p + "attn_k.weight", kv_dim, E, gain=2.0)
            mat(p + "attn_v.weight", kv_dim, E)
            mat(p + "ffn_gate.weight", F, E)
            mat(p + "ffn_up.weight", F, E)
            if arch == "qwen2":
                vec(p + "attn_q.bias", q_dim, 0.0, 0.2)
                vec(p + "attn_k.bias", kv_dim, 0.0, 0.2)
                vec(p + "attn_v.bias", kv_dim, 0.0, 0.2)
        mat(p + "attn_output.weight", E, q_dim)
        mat(p + "ffn_down.weight", E, F)
        if arch == "gemma3":
            # per-head Q/K norms over the head size, and the norms after attention and FFN
            post = np.sqrt(E) * GEMMA3_POST
            vec(p + "attn_q_norm.weight", D, 1.0, 0.1)
            vec(p + "attn_k_norm.weight", D, 1.0, 0.1)
            vec(p + "post_attention_norm.weight", E, post, 0.1 * post)
            vec(p + "post_ffw_norm.weight", E, post, 0.1 * post)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/data/synthetic"
    os.makedirs(out, exist_ok=True)
    seed = 1000
    for arch in ARCHES:
        for t in TYPES:
            if arch == "gemma3":
                shape = GEMMA3_KQ if t.endswith("_K") else GEMMA3_SMALL
            else:
                shape = KQ if t.endswith("_K") else SMALL
            seed += 1
            write_model(os.path.join(out, f"{arch}-{t.lower()}.gguf"), arch, shape, t, seed)
    # UltraLong-8B's RoPE metadata (YaRN, s=128 over an 8192-token original window) on a tiny
    # llama with head size 64, the size the real model's YaRN ramp is defined over. F16
    # weights keep the references' own noise low, so a RoPE slip stands out.
    ultra = dict(n_embd=128, n_head=2, n_head_kv=1, head_dim=64, n_ff=64, n_layer=2)
    write_model(os.path.join(out, "ultralong-f16.gguf"), "llama", ultra, "F16", 2001, meta=[
        ("llama.rope.scaling.type", "str", "yarn"),
        ("llama.rope.scaling.factor", "f32", 128.0),
        ("llama.rope.scaling.original_context_length", "u32", 8192),
        ("llama.rope.scaling.yarn_beta_fast", "f32", 4.0),
        ("llama.rope.scaling.yarn_beta_slow", "f32", 1.0),
    ], ctx=1048576, base=500000.0)
    tiny = dict(n_embd=32, n_head=2, n_head_kv=1, head_dim=16, n_ff=32, n_layer=1)
    write_model(os.path.join(out, "bad-arch.gguf"), "llama", tiny, "F16", 3001,
                arch_name="mamba9")
    write_model(os.path.join(out, "bad-shape.gguf"), "llama", tiny, "F16", 3002,
                bad_shape="blk.0.attn_k.weight")


if __name__ == "__main__":
    main()
