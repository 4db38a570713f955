#!/usr/bin/env python3
"""numpy_forward.py: an independent float64 forward pass of llama-family GGUF models with
NumPy, dequantizing with gguf-py's own code. It is the second reference beside llama.cpp:
exact arithmetic, no activation quantization, no fp16 KV.

    python3 tests/ref/numpy_forward.py MODEL.gguf OUT.npy TOKEN...

writes the logits of every position as float64 [n_tokens, n_vocab].
Supports arch llama (NORM RoPE), qwen2 (biases, NEOX) and phi3 (fused QKV and gate/up, NEOX),
plain RoPE and YaRN scaling (rope.scaling.type "yarn", as ROPE.md A.6 describes the code the
checkpoints use: ramp linear in pair index, ends floored/ceiled, m = 0.1 ln s + 1 on cos and
sin). Any other scaling type is refused rather than computed wrongly.
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
    hp["n_rot"] = field(r, f"{arch}.rope.dimension_count", hp["head_dim"])
    scaling = field(r, f"{arch}.rope.scaling.type", "none")
    factor = field(r, f"{arch}.rope.scaling.factor", 0.0)
    if scaling not in ("none", "yarn") and not (scaling == "linear" and factor in (0.0, 1.0)):
        sys.exit(f"numpy_forward.py: RoPE scaling type {scaling!r} is not implemented here")
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
    ang = pos[:, None] * inv[None, :]                    # [T, n_rot/2]
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


def forward(hp, w, tokens):
    T = len(tokens)
    nh, nkv, hd = hp["n_head"], hp["n_head_kv"], hp["head_dim"]
    neox = hp["arch"] in ("qwen2", "phi3")
    x = w["token_embd.weight"][tokens]
    pos = np.arange(T, dtype=np.float64)
    mask = np.triu(np.full((T, T), -np.inf), 1)
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
        q = rope(q.reshape(T, nh, hd), pos, hp, neox)
        k = rope(k.reshape(T, nkv, hd), pos, hp, neox)
        v = v.reshape(T, nkv, hd)
        rep = nh // nkv
        out = np.empty((T, nh, hd))
        for hh in range(nh):
            g = hh // rep
            sc = q[:, hh, :] @ k[:, g, :].T / np.sqrt(hd) + mask
            sc = np.exp(sc - sc.max(axis=-1, keepdims=True))
            sc /= sc.sum(axis=-1, keepdims=True)
            out[:, hh, :] = sc @ v[:, g, :]
        x = x + out.reshape(T, nh * hd) @ w[p + "attn_output.weight"].T
        h = rmsnorm(x, w[p + "ffn_norm.weight"], hp["eps"])
        if p + "ffn_gate.weight" in w:
            gate, up = h @ w[p + "ffn_gate.weight"].T, h @ w[p + "ffn_up.weight"].T
        else:
            gate, up = np.split(h @ w[p + "ffn_up.weight"].T, 2, axis=-1)
        x = x + (gate / (1 + np.exp(-gate)) * up) @ w[p + "ffn_down.weight"].T
    x = rmsnorm(x, w["output_norm.weight"], hp["eps"])
    out_w = w.get("output.weight", w["token_embd.weight"])
    return x @ out_w.T


def main():
    hp, w = load(sys.argv[1])
    tokens = [int(t) for t in sys.argv[3:]]
    np.save(sys.argv[2], forward(hp, w, tokens))


if __name__ == "__main__":
    main()
