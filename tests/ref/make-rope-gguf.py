#!/usr/bin/env python3
"""make-rope-gguf.py: writes the tiny synthetic GGUF files under tests/data/rope/ that t-rope
checks engine/rope.c's metadata parsing against (the <arch>.rope.* keys, the rope_freqs tensor,
LongRoPE's rope_factors_long/short tensors).

Metadata and the factor tensors only, no weights. Pinned: the gguf python package 0.19 (the
writer's byte layout must not drift between regenerations). Run from the repository root:
    python3 tests/ref/make-rope-gguf.py [OUTDIR]     (default tests/data/rope)
"""
import math
import os
import sys
from importlib.metadata import version

import numpy as np
import gguf

GGUF_PY_VERSION = "0.19"
_have = version("gguf")
if not _have.startswith(GGUF_PY_VERSION):
    sys.exit(f"make-rope-gguf.py: pinned to gguf {GGUF_PY_VERSION}.x, found {_have}")


def llama3_divisors(d, base, factor, lff, hff, L):
    """rope_freqs as convert_hf_to_gguf writes it: f_default / f_llama3 per pair."""
    out = []
    for i in range(d // 2):
        f = 1.0 / base ** (2 * i / d)
        w = 2 * math.pi / f
        if w < L / hff:
            out.append(1.0)
        elif w > L / lff:
            out.append(factor)
        else:
            sm = (L / w - lff) / (hff - lff)
            out.append(1.0 / ((1 - sm) / factor + sm))
    return np.array(out, dtype=np.float32)


def phi3_factors(n):
    """Deterministic made-up LongRoPE sets: long grows from 1 to ~40, short stays near 1."""
    long_f = np.array([1.0 + 39.0 * (i / (n - 1)) ** 3 for i in range(n)], dtype=np.float32)
    short_f = np.array([1.0 + 0.001 * i for i in range(n)], dtype=np.float32)
    return long_f, short_f


def write(outdir, name, arch, meta, tensors=()):
    path = os.path.join(outdir, name)
    w = gguf.GGUFWriter(path, arch)
    for key, kind, value in meta:
        key = key.format(arch=arch)
        {"u32": w.add_uint32, "f32": w.add_float32, "str": w.add_string}[kind](key, value)
    for tname, arr in tensors:
        w.add_tensor(tname, arr)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else "tests/data/rope"
    os.makedirs(outdir, exist_ok=True)
    ctx = ("{arch}.context_length", "u32")
    dims = ("{arch}.rope.dimension_count", "u32")
    base = ("{arch}.rope.freq_base", "f32")
    stype = ("{arch}.rope.scaling.type", "str")
    factor = ("{arch}.rope.scaling.factor", "f32")
    orig = ("{arch}.rope.scaling.original_context_length", "u32")

    # UltraLong-1M style: yarn s=128 over L=8192, beta_fast 4 (TV5).
    write(outdir, "yarn.gguf", "llama", [
        (*ctx, 1048576), (*dims, 128), (*base, 500000.0), (*stype, "yarn"), (*factor, 128.0),
        (*orig, 8192), ("{arch}.rope.scaling.yarn_beta_fast", "f32", 4.0),
        ("{arch}.rope.scaling.yarn_beta_slow", "f32", 1.0)])
    # yarn with an explicit attention factor and the generic multiplier on top.
    write(outdir, "yarn-attn.gguf", "qwen2", [
        (*ctx, 131072), (*dims, 64), (*base, 10000.0), (*stype, "yarn"), (*factor, 4.0),
        (*orig, 4096), ("{arch}.rope.scaling.yarn_attn_factor", "f32", 1.25),
        ("{arch}.rope.scaling.attn_factor", "f32", 2.0)])
    # Linear PI s=4 (TV2), the current key and the legacy one.
    write(outdir, "linear.gguf", "llama", [
        (*ctx, 8192), (*dims, 64), (*base, 10000.0), (*stype, "linear"), (*factor, 4.0)])
    write(outdir, "linear-legacy.gguf", "llama", [
        (*ctx, 8192), (*dims, 64), (*base, 10000.0), ("{arch}.rope.scale_linear", "f32", 4.0)])
    # Llama-3.1: rope_freqs tensor, no scaling type (TV6).
    write(outdir, "llama3.gguf", "llama", [(*ctx, 131072), (*dims, 128), (*base, 500000.0)],
          [("rope_freqs.weight", llama3_divisors(128, 500000.0, 8.0, 1.0, 4.0, 8192))])
    # The trap: rope_freqs and a yarn type.
    write(outdir, "double.gguf", "llama", [
        (*ctx, 1048576), (*dims, 128), (*base, 500000.0), (*stype, "yarn"), (*factor, 128.0),
        (*orig, 8192)],
        [("rope_freqs.weight", llama3_divisors(128, 500000.0, 8.0, 1.0, 4.0, 8192))])
    # Phi-3-mini-128k style LongRoPE: head 96, 48 pairs, both sets, m written by the converter.
    long_f, short_f = phi3_factors(48)
    write(outdir, "phi3.gguf", "phi3", [
        (*ctx, 131072), (*dims, 96), (*base, 10000.0), (*orig, 4096),
        ("{arch}.rope.scaling.attn_factor", "f32", 1.1902380714)],
        [("rope_factors_long.weight", long_f), ("rope_factors_short.weight", short_f)])
    # Minimal: no dimension_count (embedding/heads), no freq_base, NEOX arch.
    write(outdir, "minimal.gguf", "qwen2", [
        (*ctx, 32768), ("{arch}.embedding_length", "u32", 896),
        ("{arch}.attention.head_count", "u32", 14)])
    # Files that must be refused.
    write(outdir, "bad-arch.gguf", "mystery", [(*ctx, 4096), (*dims, 64)])
    write(outdir, "bad-noctx.gguf", "llama", [(*dims, 64)])
    write(outdir, "bad-halflong.gguf", "phi3", [(*ctx, 131072), (*dims, 96), (*orig, 4096)],
          [("rope_factors_long.weight", long_f)])
    write(outdir, "bad-freqlen.gguf", "llama", [(*ctx, 131072), (*dims, 128)],
          [("rope_freqs.weight", np.ones(32, dtype=np.float32))])
    write(outdir, "bad-type.gguf", "llama", [(*ctx, 4096), (*dims, 64), (*stype, "warp")])


if __name__ == "__main__":
    main()
