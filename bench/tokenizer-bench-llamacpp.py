#!/usr/bin/env python3
"""tokenizer-bench-llamacpp.py: llama.cpp's tokenizer throughput (MB/s) on a text file, through
llama-cpp-python (the pinned reference venv), to compare with bench/tokenizer-bench.c.
    /opt/quire-ref/bin/python bench/tokenizer-bench-llamacpp.py MODEL.gguf FILE [ROUNDS]
"""
import sys
import time

from llama_cpp import Llama


def main():
    model, path = sys.argv[1], sys.argv[2]
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    llm = Llama(model_path=model, vocab_only=True, verbose=False)
    data = open(path, "rb").read()
    for r in range(rounds):
        t0 = time.perf_counter()
        ids = llm.tokenize(data, add_bos=False, special=False)
        dt = time.perf_counter() - t0
        print(f"round {r + 1}: {len(data)} bytes -> {len(ids)} tokens in {dt:.3f} s = "
              f"{len(data) / dt / 1e6:.2f} MB/s")


if __name__ == "__main__":
    main()
