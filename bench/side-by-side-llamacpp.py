#!/usr/bin/env python3
"""side-by-side-llamacpp.py: llama.cpp's half of bench/side-by-side.sh, through llama-cpp-python
(the pinned reference venv). Measures like llama-bench and like `quire bench`: random tokens,
the context first filled to DEPTH (untimed), then a timed prompt of N_PROMPT tokens in one
eval, or N_GEN single-token evals. Prints one Markdown row per test:
    | llama.cpp | THREADS | ppN @ dD | MEAN ± SD |
Usage: /opt/quire-ref/bin/python bench/side-by-side-llamacpp.py MODEL THREADS N_PROMPT N_GEN
       REPS DEPTH...
With FLASH=1 in the environment llama.cpp runs with flash attention (its rows then say
"llama.cpp FA"), which is faster at depth on the CPU: compare against the faster of the two.
With KV=q8_0 its KV cache holds q8_0 keys and values (llama.cpp needs flash attention for a
quantized V cache, so this takes FLASH=1 too); the default is f16.
"""
import os
import statistics
import sys
import time

import numpy as np
from llama_cpp import Llama


def mean_sd(xs):
    return statistics.fmean(xs), (statistics.stdev(xs) if len(xs) > 1 else 0.0)


def main():
    model = sys.argv[1]
    threads, n_prompt, n_gen, reps = (int(x) for x in sys.argv[2:6])
    depths = [int(x) for x in sys.argv[6:]]
    n_ctx = max(depths) + max(n_prompt, n_gen) + 16
    flash = os.environ.get("FLASH") == "1"
    kv = os.environ.get("KV", "f16")
    if kv not in ("f16", "q8_0") or (kv == "q8_0" and not flash):
        sys.exit("side-by-side-llamacpp: KV must be f16, or q8_0 with FLASH=1")
    name = "llama.cpp FA" if flash else "llama.cpp"
    kv_type = {"f16": 1, "q8_0": 8}[kv]  # ggml_type ids: GGML_TYPE_F16, GGML_TYPE_Q8_0
    llm = Llama(model_path=model, n_ctx=n_ctx, n_batch=512, n_ubatch=512, n_threads=threads,
                n_threads_batch=threads, logits_all=False, verbose=False, flash_attn=flash,
                type_k=kv_type, type_v=kv_type)
    rng = np.random.default_rng(1234)
    n_vocab = llm.n_vocab()
    for depth in depths:
        need = depth + max(n_prompt, n_gen) + 1
        tokens = [int(t) for t in rng.integers(0, n_vocab, size=need)]

        def fill(skip):
            llm.reset()
            if depth > 0:
                llm.eval(tokens[skip:skip + depth])

        rates = []
        for _ in range(reps):
            fill(n_prompt)
            t0 = time.perf_counter()
            llm.eval(tokens[:n_prompt])
            rates.append(n_prompt / (time.perf_counter() - t0))
        m, sd = mean_sd(rates)
        print(f"| {name} | {threads} | pp{n_prompt} @ d{depth} | {m:.2f} ± {sd:.2f} |",
              flush=True)
        rates = []
        for _ in range(reps):
            fill(n_gen)
            t0 = time.perf_counter()
            for i in range(n_gen):
                llm.eval([tokens[i]])
            rates.append(n_gen / (time.perf_counter() - t0))
        m, sd = mean_sd(rates)
        print(f"| {name} | {threads} | tg{n_gen} @ d{depth} | {m:.2f} ± {sd:.2f} |",
              flush=True)


if __name__ == "__main__":
    main()
