#!/usr/bin/env python3
"""make-niah-ref.py: llama.cpp's greedy answers to quire's passkey prompts, the reference
tests/t4001-niah.sh checks `quire niah` against.

Usage (repository root, the venv of tests/ref/setup-llama-cpp.sh):
    quire -t 2 niah --lengths 2048,4096 --depths 3 --seed 1 --prompts-out prompts.jsonl
    /opt/quire-ref/bin/python tests/ref/make-niah-ref.py MODEL.gguf prompts.jsonl \
        > tests/data/eval/niah-ref.txt

The prompts are quire's (the JSON lines carry the text and quire's tokens); the script checks
that llama.cpp tokenizes each text to the same ids, then feeds those ids to llama.cpp
(llama-cpp-python 0.3.16, CPU, 2 threads, f16 KV, no flash attention), decodes greedily up to
10 tokens, stopping at an end-of-generation token, and scores the answer as the passkey repos
do: the first run of digits, as an integer, equals the key. One line per prompt:
    niah LENGTH DEPTH KEY PROMPT_TOKENS PROMPT_FNV CORRECT gen ID:GAP... [eog:GAP] answer "TEXT"
where GAP is llama.cpp's top-1 minus top-2 logit at that step (a small gap is a near tie on
which two engines may choose differently) and eog:GAP the step at which it stopped, if it
stopped before 10 tokens; and a last line "accuracy: X/Y".
"""
import json
import re
import sys

import numpy as np
from llama_cpp import Llama, llama_token_is_eog

MAX_NEW = 10


def fnv(ids):
    h = 0xcbf29ce484222325
    for t in ids:
        v = t & 0xFFFFFFFF
        for b in range(4):
            h ^= (v >> (8 * b)) & 0xFF
            h = (h * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def quote(s):
    out = ['"']
    for ch in s:
        if ch in '"\\':
            out.append('\\' + ch)
        elif ch == '\n':
            out.append('\\n')
        elif ord(ch) < 0x20 or ord(ch) == 0x7f:
            out.append('\\x%02x' % ord(ch))
        else:
            out.append(ch)
    out.append('"')
    return ''.join(out)


def main():
    model, prompts = sys.argv[1], sys.argv[2]
    recs = [json.loads(line) for line in open(prompts, encoding='utf-8')]
    n_ctx = max(r['prompt_tokens'] for r in recs) + MAX_NEW + 16
    llm = Llama(model_path=model, n_ctx=n_ctx, n_batch=512, n_threads=2, n_threads_batch=2,
                logits_all=False, verbose=False)
    vocab = llm._model.vocab
    n_vocab = llm.n_vocab()
    right = 0
    print("# llama-cpp-python 0.3.16 greedy answers to quire's niah prompts "
          "(tests/ref/make-niah-ref.py)")
    for r in recs:
        ids = r['tokens']
        assert fnv(ids) == int(r['prompt_fnv'], 16), "prompt_fnv does not match the tokens"
        # llama.cpp's own tokenization of the text (add_bos as the model says; text, no
        # special tokens) must be quire's.
        mine = llm.tokenize(r['prompt'].encode('utf-8'), add_bos=True, special=False)
        if mine != ids:
            sys.exit("tokenization differs for length %d depth %s" % (r['length'], r['depth']))
        llm.reset()
        llm.eval(ids)
        gen, fields = [], []
        for i in range(MAX_NEW):
            # The last evaluated token's logits (the only output row of the batch).
            logits = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(n_vocab,))
            top = np.argsort(-logits, kind="stable")[:2]
            t = int(top[0])
            gap = float(logits[top[0]] - logits[top[1]])
            if llama_token_is_eog(vocab, t):
                fields.append("eog:%.4f" % gap)
                break
            gen.append(t)
            fields.append("%d:%.4f" % (t, gap))
            if i + 1 < MAX_NEW:
                llm.eval([t])
        text = llm.detokenize(gen).decode('utf-8', errors='replace')
        m = re.search(r'[0-9]+', text)
        ok = int(m is not None and int(m.group()) == int(r['key']))
        right += ok
        print("niah %d %.4f %s %d %016x %d gen %s answer %s" % (
            r['length'], r['depth'], r['key'], len(ids), fnv(ids), ok,
            ' '.join(fields), quote(text)), flush=True)
    print("accuracy: %d/%d" % (right, len(recs)))


if __name__ == "__main__":
    main()
