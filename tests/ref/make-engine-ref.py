#!/usr/bin/env python3
"""make-engine-ref.py: llama.cpp's logits and greedy generations on the default model, the
references tests/t-engine.c checks quire's forward pass against.

Usage (repository root, the venv of tests/ref/setup-llama-cpp.sh):
    /opt/quire-ref/bin/python tests/ref/make-engine-ref.py MODEL.gguf tests/data/engine
    /opt/quire-ref/bin/python tests/ref/make-engine-ref.py --tokens 1536 --bos \
        gemma-3-270m-q4_k_m.gguf tests/data/engine-gemma3

--tokens N scores N tokens per text instead of 512 (gemma3: three times its 512-key sliding
window, so the window cuts keys in every layer that has one); --bos starts every text and
prompt with the model's BOS token, as the model's own metadata asks, and writes a first line
"bos ID" into both files.

Reference peer: llama-cpp-python 0.3.16, CPU, 2 threads, n_ctx 2048, f16 KV, no flash
attention. Writes (text, one record per line, so diffs stay readable):
  texts/<name>.txt   the three real texts (the first 512 tokens are scored)
  logits.ref         per text: "text NAME N", "tokens ID...", then N-1 lines
                     "pos target argmax nll gap"
                     nll = -log p(target | tokens before), gap = top1 - top2 logit
  greedy.ref         per prompt: "prompt K <json string>", then "gen id gap" lines, 64 of them
"""
import json
import math
import os
import sys

import numpy as np
from llama_cpp import Llama

N_TOKENS = 512
N_GEN = 64

TEXTS = {
    # name: (source file on a Debian machine, byte offset to start at)
    "gpl3": ("/usr/share/common-licenses/GPL-3", 0),
    "apache2": ("/usr/share/common-licenses/Apache-2.0", 0),
    "python-code": (None, 0),
}

PROMPTS = [
    "The capital of France is",
    "Once upon a time, in a small village by the sea,",
    "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n",
    "The three laws of thermodynamics are",
    "Water boils at a temperature of",
    "In 1492, Christopher Columbus",
    "The quick brown fox",
    "Photosynthesis is the process by which",
    "Here is a list of prime numbers: 2, 3, 5, 7,",
    "To make a cup of tea, first",
    "The United States Constitution begins with the words",
    "#include <stdio.h>\n\nint main(void)\n{\n",
    "Question: What is the largest planet in the solar system?\nAnswer:",
    "The mitochondria is",
    "Shakespeare wrote many plays, including",
    "SELECT name, age FROM users WHERE",
    "A haiku about autumn:\n",
    "The Pythagorean theorem states that",
    "1, 2, 4, 8, 16,",
    "Dear Sir or Madam,\n\nI am writing to",
]


def top2_gap(logits):
    order = np.argsort(-logits, kind="stable")
    return int(order[0]), float(logits[order[0]] - logits[order[1]])


def nll(logits, target):
    m = float(np.max(logits))
    lse = m + math.log(float(np.sum(np.exp(logits.astype(np.float64) - m))))
    return lse - float(logits[target])


def python_code_text():
    import inspect
    import textwrap
    # A fixed piece of the standard library, the same on every Python 3.11.
    import json.decoder
    return inspect.getsource(json.decoder)


def main():
    global N_TOKENS
    args, bos = sys.argv[1:], False
    while args and args[0].startswith("--"):
        if args[0] == "--tokens":
            N_TOKENS, args = int(args[1]), args[2:]
        elif args[0] == "--bos":
            bos, args = True, args[1:]
        else:
            sys.exit(f"make-engine-ref.py: unknown option {args[0]}")
    model, out = args[0], args[1]
    os.makedirs(os.path.join(out, "texts"), exist_ok=True)
    n_ctx = 2048 if N_TOKENS + N_GEN < 2048 else 4096
    llm = Llama(model_path=model, n_ctx=n_ctx, n_batch=512, n_threads=2, logits_all=True,
                verbose=False, seed=0)
    head = [llm.token_bos()] if bos else []
    with open(os.path.join(out, "logits.ref"), "w") as f:
        if bos:
            f.write(f"bos {llm.token_bos()}\n")
        for name, (path, off) in TEXTS.items():
            text = python_code_text() if path is None else open(path, encoding="utf-8").read()[off:]
            # Cut the text after its first N_TOKENS tokens (at a line end), so that the
            # committed file tokenizes to at least N_TOKENS tokens on its own.
            lines, piece = text.splitlines(keepends=True), ""
            for line in lines:
                piece += line
                if len(llm.tokenize(piece.encode(), add_bos=False, special=False)) >= N_TOKENS:
                    break
            toks = head + llm.tokenize(piece.encode(), add_bos=False,
                                       special=False)[:N_TOKENS - len(head)]
            with open(os.path.join(out, "texts", name + ".txt"), "w", encoding="utf-8") as t:
                t.write(piece)
            llm.reset()
            llm.eval(toks)
            scores = np.array(llm.scores[: len(toks)], dtype=np.float32)
            f.write(f"text {name} {len(toks)}\n")
            f.write("tokens " + " ".join(map(str, toks)) + "\n")
            for pos in range(len(toks) - 1):
                am, gap = top2_gap(scores[pos])
                f.write(f"{pos} {toks[pos + 1]} {am} {nll(scores[pos], toks[pos + 1]):.6f} {gap:.6f}\n")
    with open(os.path.join(out, "greedy.ref"), "w") as f:
        if bos:
            f.write(f"bos {llm.token_bos()}\n")
        for k, prompt in enumerate(PROMPTS):
            toks = head + llm.tokenize(prompt.encode(), add_bos=False, special=False)
            llm.reset()
            llm.eval(toks)
            f.write(f"prompt {k} {json.dumps(prompt)}\n")
            for _ in range(N_GEN):
                logits = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float32)
                tok, gap = top2_gap(logits)
                f.write(f"gen {tok} {gap:.6f}\n")
                if tok == llm.token_eos():
                    break
                llm.eval([tok])


if __name__ == "__main__":
    main()
