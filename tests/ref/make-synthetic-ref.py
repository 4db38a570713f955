#!/usr/bin/env python3
"""make-synthetic-ref.py: the two references tests/t-synthetic.c checks quire against on each
synthetic model of tests/data/synthetic/ (made by make-synthetic-models.py): llama.cpp's
logits and the float64 NumPy forward pass of numpy_forward.py, for every position of a fixed
token sequence.

Usage (repository root, the venv of tests/ref/setup-llama-cpp.sh):
    /opt/quire-ref/bin/python tests/ref/make-synthetic-ref.py [DIR [NAME...]]
DIR defaults to tests/data/synthetic; NAMEs (e.g. gemma3-f32) limit it to those models.

Reference peer: llama-cpp-python 0.3.16, CPU, 2 threads, n_ctx 64, one batch, f16 KV, no flash
attention, logits_all. The token sequence is BOS and then seeded random ids, the same for
every file; all N_TOKENS go through the model, the logits of the last N_KEPT positions are
kept (the early ones see little context, and the files stay small). A model with a sliding
window (gemma3) gets 4 windows' worth of tokens instead (32 for a window of 8), so that every
kept position has keys the window hides (its first 24 are the others' tokens). For each
NAME.gguf (not the bad-*.gguf files) writes NAME.ref, little-endian binary:
    "QSYNREF1"                      8 bytes
    u32 n_tokens, u32 first, u32 n_vocab      first = n_tokens - N_KEPT
    i32 tokens[n_tokens]
    f32 llama_cpp[n_tokens - first][n_vocab]  logits of positions first..n_tokens-1
    f32 numpy[n_tokens - first][n_vocab]      float64 logits rounded to float32
"""
import glob
import os
import struct
import sys

import numpy as np
from llama_cpp import Llama

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy_forward  # noqa: E402

N_TOKENS = 24
N_KEPT = 16
N_CTX = 64


def n_tokens_for(hp):
    """N_TOKENS, or 4 sliding windows (within n_ctx) where the model has one."""
    n = max(N_TOKENS, 4 * hp["n_swa"]) if hp["n_swa"] else N_TOKENS
    if n > N_CTX:
        sys.exit(f"sliding window {hp['n_swa']} needs {n} tokens, more than n_ctx {N_CTX}")
    return n


def tokens_for(n_vocab, bos, n_tokens=N_TOKENS):
    rng = np.random.default_rng(7)
    return [bos] + [int(t) for t in rng.integers(0, n_vocab - 2, n_tokens - 1)]


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else "tests/data/synthetic"
    only = set(sys.argv[2:])
    for path in sorted(glob.glob(os.path.join(d, "*.gguf"))):
        name = os.path.basename(path)[:-5]
        if name.startswith("bad-") or (only and name not in only):
            continue
        hp, w = numpy_forward.load(path)
        n_tokens = n_tokens_for(hp)
        # llama-cpp-python 0.3.16 always hands llama.cpp its own YaRN betas (32 and 1), which
        # replace the file's rope.scaling.yarn_beta_fast/slow; pass the file's values back.
        yarn = {}
        if hp["yarn"] is not None:
            yarn = dict(yarn_beta_fast=hp["yarn"]["beta_fast"],
                        yarn_beta_slow=hp["yarn"]["beta_slow"])
        llm = Llama(model_path=path, n_ctx=N_CTX, n_batch=N_CTX, n_ubatch=N_CTX, n_threads=2,
                    logits_all=True, verbose=False, seed=0, **yarn)
        n_vocab = llm.n_vocab()
        toks = tokens_for(n_vocab, llm.token_bos(), n_tokens)
        llm.eval(toks)
        first = n_tokens - N_KEPT
        ref_l = np.array(llm.scores[first:n_tokens], dtype=np.float32)
        del llm
        ref_n = numpy_forward.forward(hp, w, toks)[first:]
        with open(os.path.join(d, name + ".ref"), "wb") as f:
            f.write(b"QSYNREF1")
            f.write(struct.pack("<III", n_tokens, first, n_vocab))
            f.write(np.array(toks, dtype="<i4").tobytes())
            f.write(ref_l.astype("<f4").tobytes())
            f.write(ref_n.astype("<f4").tobytes())
        diff = np.abs(ref_l - ref_n).max()
        top = (ref_l.argmax(1) == ref_n.argmax(1)).sum()
        print(f"{name:20s} llama.cpp vs numpy: max |diff| {diff:.3g} (logit range "
              f"{np.abs(ref_n).max():.3g}), top-1 {top}/{N_KEPT}")


if __name__ == "__main__":
    main()
