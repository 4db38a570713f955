#!/usr/bin/env python3
"""numpy_forward.py: an independent float64 forward pass of llama-family GGUF models with
NumPy, dequantizing with gguf-py's own code. It is the second reference beside llama.cpp:
exact arithmetic, no activation quantization, no fp16 KV.

    python3 tests/ref/numpy_forward.py MODEL.gguf OUT.npy TOKEN...

writes the logits of every position as float64 [n_tokens, n_vocab].
Supports arch llama (NORM RoPE), qwen2 (biases, NEOX) and phi3 (fused QKV and gate/up, NEOX),
plain RoPE and YaRN scaling (rope.scaling.type "yarn", as the code the checkpoints use
computes it, HF's _compute_yarn_parameters and ggml's rope_yarn: ramp linear in pair index,
ends floored/ceiled, m = 0.1 ln s + 1 on cos and sin). Any other scaling type is refused rather
than computed wrongly.

And gemma3, as llama.cpp's llm_build_gemma3_iswa (llama-cpp-python 0.3.16) computes it:
embeddings times sqrt(n_embd); per layer RMSNorm, Q/K/V, per-head RMSNorm of Q and K
(attn_q_norm, attn_k_norm), NEOX RoPE, Q times 1/sqrt(key_length) (1/sqrt(n_embd/n_head) for
62 layers, the 27B), causal softmax attention, RMSNorm(post_attention_norm), residual;
RMSNorm(ffn_norm), gelu_tanh(gate) * up, down, RMSNorm(post_ffw_norm), residual; tied output.
Layer il is sliding-window iff il % 6 < 5: a key at pk is visible to a query at pq only if
pq - pk < sliding_window, and RoPE uses base 10000 and no scaling there; the global layers use
rope.freq_base and, if the file has linear rope scaling (the 4B-27B checkpoints: factor 8),
positions divided by the factor. GELU here is the exact tanh form in float64 (ggml's goes
through an fp16 table: input rounded to fp16, result rounded to fp16).
"""
import math
import sys

import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize


def field(r, key, default=None):
    f = r.fields.get(key)
    if f is None:
        return default
    return f.contents()


def load(path):
    r = GGUFReader(path)
    arch = field(r, "general.architecture")
    hp = {
        "arch": arch,
        "n_layer": field(r, f"{arch}.block_count"),
        "n_embd": field(r, f"{arch}.embedding_length"),
        "n_head": field(r, f"{arch}.attention.head_count"),
        "n_head_kv": field(r, f"{arch}.attention.head_count_kv", field(r, f"{arch}.attention.head_count")),
        "eps": field(r, f"{arch}.attention.layer_norm_rms_epsilon", 1e-5),
        "base": field(r, f"{arch}.rope.freq_base", 10000.0),
    }
    hp["head_dim"] = field(r, f"{arch}.attention.key_length", hp["n_embd"] // hp["n_head"])
    if field(r, f"{arch}.attention.value_length", hp["head_dim"]) != hp["head_dim"]:
        sys.exit("numpy_forward.py: value_length != key_length is not implemented here")
    hp["n_rot"] = field(r, f"{arch}.rope.dimension_count", hp["head_dim"])
    scaling = field(r, f"{arch}.rope.scaling.type", "none")
    factor = field(r, f"{arch}.rope.scaling.factor", 0.0)
    hp["pos_scale"] = 1.0
    if arch == "gemma3" and scaling == "linear" and factor > 1.0:
        hp["pos_scale"] = 1.0 / factor           # global layers only, see layer_hp
    elif scaling not in ("none", "yarn") and not (scaling == "linear" and factor in (0.0, 1.0)):
        sys.exit(f"numpy_forward.py: RoPE scaling type {scaling!r} is not implemented here")
    if arch == "gemma3" and scaling == "yarn":
        sys.exit("numpy_forward.py: YaRN on gemma3 is not implemented here")
    # Q.K is divided by sqrt(kq_div); gemma3's is llama.cpp's f_attention_scale, which it
    # picks by layer count (62 layers: the 27B, whose query_pre_attn_scalar is n_embd / n_head)
    hp["kq_div"] = hp["head_dim"]
    hp["n_swa"] = 0
    if arch == "gemma3":
        if hp["n_layer"] == 62:
            hp["kq_div"] = hp["n_embd"] // hp["n_head"]
        hp["n_swa"] = field(r, f"{arch}.attention.sliding_window")
        if not hp["n_swa"]:
            sys.exit("numpy_forward.py: gemma3 without attention.sliding_window")
    if any(t.name == "rope_freqs.weight" or t.name.startswith("rope_factors") for t in r.tensors):
        sys.exit("numpy_forward.py: RoPE factor tensors are not implemented here")
    hp["yarn"] = None
    if scaling == "yarn" and factor > 1.0:
        hp["yarn"] = {
            "s": factor,
            "orig": field(r, f"{arch}.rope.scaling.original_context_length",
                          field(r, f"{arch}.context_length")),
            "beta_fast": field(r, f"{arch}.rope.scaling.yarn_beta_fast", 32.0),
            "beta_slow": field(r, f"{arch}.rope.scaling.yarn_beta_slow", 1.0),
        }
    w = {}
    for t in r.tensors:
        a = dequantize(t.data, t.tensor_type).astype(np.float64)
        w[t.name] = a.reshape([int(x) for x in reversed(t.shape)]) if a.ndim == 1 and len(t.shape) > 1 else a
    return hp, w


def rmsnorm(x, g, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * g


def rope_freqs(hp):
    """Inverse frequency per pair and the magnitude m on cos and sin."""
    n_rot, base = hp["n_rot"], hp["base"]
    inv = 1.0 / base ** (np.arange(0, n_rot, 2, dtype=np.float64) / n_rot)
    y = hp.get("yarn")
    if y is None:
        return inv, 1.0

    def corr(n):
        return n_rot * math.log(y["orig"] / (2 * math.pi * n)) / (2 * math.log(base))
    low = max(0, math.floor(corr(y["beta_fast"])))
    high = min(n_rot - 1, math.ceil(corr(y["beta_slow"])))
    ramp = np.clip((np.arange(n_rot // 2) - low) / max(0.001, high - low), 0.0, 1.0)
    inv = inv * (1 - ramp) + inv / y["s"] * ramp
    return inv, 0.1 * math.log(y["s"]) + 1.0


def rope(x, pos, hp, neox):
    d, n_rot = hp["head_dim"], hp["n_rot"]
    inv, m = rope_freqs(hp)
    ang = (pos * hp.get("pos_scale", 1.0))[:, None] * inv[None, :]   # [T, n_rot/2]
    c, s = m * np.cos(ang)[:, None, :], m * np.sin(ang)[:, None, :]
    y = x.copy()
    if neox:
        a, b = x[..., : n_rot // 2], x[..., n_rot // 2: n_rot]
        y[..., : n_rot // 2] = a * c - b * s
        y[..., n_rot // 2: n_rot] = a * s + b * c
    else:
        a, b = x[..., 0:n_rot:2], x[..., 1:n_rot:2]
        y[..., 0:n_rot:2] = a * c - b * s
        y[..., 1:n_rot:2] = a * s + b * c
    return y


def gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x * x * x)))


def is_swa(hp, l):
    """gemma3's sliding-window layers: llama.cpp's set_swa_pattern(6), il % 6 < 5."""
    return hp["arch"] == "gemma3" and l % 6 < 5


def layer_hp(hp, l):
    """The RoPE parameters of layer l: gemma3's sliding-window layers use base 10000 and no
    scaling whatever the file says (llama.cpp's rope_freq_base/scale_train_swa)."""
    if not is_swa(hp, l):
        return hp
    return dict(hp, base=10000.0, pos_scale=1.0, yarn=None)


def forward(hp, w, tokens):
    T = len(tokens)
    nh, nkv, hd = hp["n_head"], hp["n_head_kv"], hp["head_dim"]
    gemma3 = hp["arch"] == "gemma3"
    neox = hp["arch"] in ("qwen2", "phi3", "gemma3")
    x = w["token_embd.weight"][tokens]
    if gemma3:
        x = x * math.sqrt(hp["n_embd"])
    pos = np.arange(T, dtype=np.float64)
    mask = np.triu(np.full((T, T), -np.inf), 1)
    # sliding window: also hide keys n_swa or more positions back (pq - pk >= n_swa)
    swa_mask = mask + np.tril(np.full((T, T), -np.inf), -hp["n_swa"]) if hp["n_swa"] else mask
    for l in range(hp["n_layer"]):
        p = f"blk.{l}."
        h = rmsnorm(x, w[p + "attn_norm.weight"], hp["eps"])
        if p + "attn_qkv.weight" in w:
            qkv = h @ w[p + "attn_qkv.weight"].T
            q, k, v = np.split(qkv, [nh * hd, nh * hd + nkv * hd], axis=-1)
        else:
            q = h @ w[p + "attn_q.weight"].T
            k = h @ w[p + "attn_k.weight"].T
            v = h @ w[p + "attn_v.weight"].T
            if p + "attn_q.bias" in w:
                q, k, v = q + w[p + "attn_q.bias"], k + w[p + "attn_k.bias"], v + w[p + "attn_v.bias"]
        q, k, v = q.reshape(T, nh, hd), k.reshape(T, nkv, hd), v.reshape(T, nkv, hd)
        if gemma3:
            q = rmsnorm(q, w[p + "attn_q_norm.weight"], hp["eps"])
            k = rmsnorm(k, w[p + "attn_k_norm.weight"], hp["eps"])
        lhp = layer_hp(hp, l)
        q = rope(q, pos, lhp, neox)
        k = rope(k, pos, lhp, neox)
        lmask = swa_mask if is_swa(hp, l) else mask
        rep = nh // nkv
        out = np.empty((T, nh, hd))
        for hh in range(nh):
            g = hh // rep
            sc = q[:, hh, :] @ k[:, g, :].T / np.sqrt(hp["kq_div"]) + lmask
            sc = np.exp(sc - sc.max(axis=-1, keepdims=True))
            sc /= sc.sum(axis=-1, keepdims=True)
            out[:, hh, :] = sc @ v[:, g, :]
        a = out.reshape(T, nh * hd) @ w[p + "attn_output.weight"].T
        if gemma3:
            a = rmsnorm(a, w[p + "post_attention_norm.weight"], hp["eps"])
        x = x + a
        h = rmsnorm(x, w[p + "ffn_norm.weight"], hp["eps"])
        if p + "ffn_gate.weight" in w:
            gate, up = h @ w[p + "ffn_gate.weight"].T, h @ w[p + "ffn_up.weight"].T
        else:
            gate, up = np.split(h @ w[p + "ffn_up.weight"].T, 2, axis=-1)
        act = gelu_tanh(gate) if gemma3 else gate / (1 + np.exp(-gate))
        f = (act * up) @ w[p + "ffn_down.weight"].T
        if gemma3:
            f = rmsnorm(f, w[p + "post_ffw_norm.weight"], hp["eps"])
        x = x + f
    x = rmsnorm(x, w["output_norm.weight"], hp["eps"])
    out_w = w.get("output.weight", w["token_embd.weight"])
    return x @ out_w.T


def main():
    hp, w = load(sys.argv[1])
    tokens = [int(t) for t in sys.argv[3:]]
    np.save(sys.argv[2], forward(hp, w, tokens))


if __name__ == "__main__":
    main()
