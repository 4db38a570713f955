#!/usr/bin/env python3
"""make-synthetic-ref.py: the two references tests/t-synthetic.c checks quire against on each
synthetic model of tests/data/synthetic/ (made by make-synthetic-models.py): llama.cpp's
logits and the float64 NumPy forward pass of numpy_forward.py, for every position of a fixed
token sequence.

Usage (repository root, the venv of tests/ref/setup-llama-cpp.sh):
    /opt/quire-ref/bin/python tests/ref/make-synthetic-ref.py [DIR]   (default tests/data/synthetic)

Reference peer: llama-cpp-python 0.3.16, CPU, 2 threads, n_ctx 64, one batch, f16 KV, no flash
attention, logits_all. The token sequence is BOS and then seeded random ids, the same for
every file; all N_TOKENS go through the model, the logits of the last N_KEPT positions are
kept (the early ones see little context, and the files stay small). For each NAME.gguf (not
the bad-*.gguf files) writes NAME.ref, little-endian binary:
    "QSYNREF1"                      8 bytes
    u32 n_tokens, u32 first, u32 n_vocab      first = N_TOKENS - N_KEPT
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


def tokens_for(n_vocab, bos):
    rng = np.random.default_rng(7)
    return [bos] + [int(t) for t in rng.integers(0, n_vocab - 2, N_TOKENS - 1)]


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else "tests/data/synthetic"
    for path in sorted(glob.glob(os.path.join(d, "*.gguf"))):
        name = os.path.basename(path)[:-5]
        if name.startswith("bad-"):
            continue
        hp, w = numpy_forward.load(path)
        # llama-cpp-python 0.3.16 always hands llama.cpp its own YaRN betas (32 and 1), which
        # replace the file's rope.scaling.yarn_beta_fast/slow; pass the file's values back.
        yarn = {}
        if hp["yarn"] is not None:
            yarn = dict(yarn_beta_fast=hp["yarn"]["beta_fast"],
                        yarn_beta_slow=hp["yarn"]["beta_slow"])
        llm = Llama(model_path=path, n_ctx=64, n_batch=64, n_ubatch=64, n_threads=2,
                    logits_all=True, verbose=False, seed=0, **yarn)
        n_vocab = llm.n_vocab()
        toks = tokens_for(n_vocab, llm.token_bos())
        llm.eval(toks)
        first = N_TOKENS - N_KEPT
        ref_l = np.array(llm.scores[first:N_TOKENS], dtype=np.float32)
        del llm
        ref_n = numpy_forward.forward(hp, w, toks)[first:]
        with open(os.path.join(d, name + ".ref"), "wb") as f:
            f.write(b"QSYNREF1")
            f.write(struct.pack("<III", N_TOKENS, first, n_vocab))
            f.write(np.array(toks, dtype="<i4").tobytes())
            f.write(ref_l.astype("<f4").tobytes())
            f.write(ref_n.astype("<f4").tobytes())
        diff = np.abs(ref_l - ref_n).max()
        top = (ref_l.argmax(1) == ref_n.argmax(1)).sum()
        print(f"{name:20s} llama.cpp vs numpy: max |diff| {diff:.3g} (logit range "
              f"{np.abs(ref_n).max():.3g}), top-1 {top}/{N_KEPT}")


if __name__ == "__main__":
    main()
