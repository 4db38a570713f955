#!/usr/bin/env python3
"""make-quant-ref.py: writes the dequantization references that tests/t-quant.c checks against,
using gguf-py's own gguf.quants.dequantize (pinned: gguf==0.19.0, numpy).

  tests/data/quant/<type>.bin   fixed random blocks of one type and their f32 values
  tests/data/quant/model-rows.bin   a few rows of two tensors of the default model

Every file is little-endian:
  "QREF" u32 version(1) u32 ggml_type u32 n_rows u32 row_elems u32 raw_bytes_per_row
  then per row: u64 row_index, raw bytes, row_elems f32.
(model-rows.bin holds several such records back to back, each preceded by u32 name_len + name.)

Run from the repository root:  python3 tests/ref/make-quant-ref.py [MODEL.gguf]
"""
import struct
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T
from gguf.quants import dequantize

OUT = "tests/data/quant"
N_BLOCKS = 8
SEED = 20240601


def fp16_bytes(rng, n, lo=1e-3, hi=0.2):
    v = rng.uniform(lo, hi, n) * rng.choice([-1.0, 1.0], n)
    return v.astype(np.float16).view(np.uint8).reshape(n, 2)


def pos_fp16_bytes(rng, n, lo=1e-3, hi=0.2):
    return rng.uniform(lo, hi, n).astype(np.float16).view(np.uint8).reshape(n, 2)


def make_raw(rng, qtype):
    """Random raw bytes for N_BLOCKS blocks of qtype, with finite fp16 scales."""
    blk, size = gguf.GGML_QUANT_SIZES[qtype]
    if qtype == T.F32:
        v = rng.standard_normal(N_BLOCKS * 32).astype(np.float32)
        v[:6] = [0.0, -0.0, np.inf, -np.inf, 1e-45, 3.4e38]
        return v.view(np.uint8), N_BLOCKS * 32
    if qtype in (T.F16, T.BF16):
        raw = rng.integers(0, 65536, N_BLOCKS * 32, dtype=np.uint32).astype(np.uint16)
        exp_mask = 0x7C00 if qtype == T.F16 else 0x7F80
        nan = (raw & exp_mask) == exp_mask
        raw[nan] &= ~np.uint16(0x4000)        # no NaN or inf from the random part
        raw[:8] = [0x0000, 0x8000, exp_mask, 0x8000 | exp_mask, 0x0001, 0x03FF, 0x0400, 0x3C00]
        return raw.view(np.uint8), N_BLOCKS * 32
    raw = rng.integers(0, 256, (N_BLOCKS, size), dtype=np.uint16).astype(np.uint8)
    if qtype in (T.Q4_0, T.Q5_0, T.Q8_0):
        raw[:, 0:2] = fp16_bytes(rng, N_BLOCKS)
    elif qtype in (T.Q4_1, T.Q5_1):
        raw[:, 0:2] = pos_fp16_bytes(rng, N_BLOCKS)
        raw[:, 2:4] = fp16_bytes(rng, N_BLOCKS, 0.01, 1.0)
    elif qtype in (T.Q4_K, T.Q5_K):
        raw[:, 0:2] = pos_fp16_bytes(rng, N_BLOCKS, 1e-4, 0.01)
        raw[:, 2:4] = pos_fp16_bytes(rng, N_BLOCKS, 1e-4, 0.01)
    elif qtype == T.Q6_K:
        raw[:, size - 2:size] = fp16_bytes(rng, N_BLOCKS, 1e-4, 0.01)
    return raw.reshape(-1), N_BLOCKS * blk


def record(qtype, rows, row_elems, raw_rows, vals_rows):
    out = struct.pack("<4sIIIII", b"QREF", 1, int(qtype), len(rows), row_elems,
                      len(raw_rows[0]))
    for idx, raw, vals in zip(rows, raw_rows, vals_rows):
        out += struct.pack("<Q", idx) + bytes(raw) + np.asarray(vals, "<f4").tobytes()
    return out


def main():
    rng = np.random.default_rng(SEED)
    types = [T.F32, T.F16, T.BF16, T.Q8_0, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1,
             T.Q4_K, T.Q5_K, T.Q6_K]
    for qtype in types:
        raw, n = make_raw(rng, qtype)
        vals = dequantize(raw, qtype).reshape(-1).astype(np.float32)
        assert vals.size == n
        name = qtype.name.lower()
        with open(f"{OUT}/{name}.bin", "wb") as f:
            f.write(record(qtype, [0], n, [raw], [vals]))

    if len(sys.argv) > 1:
        reader = gguf.GGUFReader(sys.argv[1])
        want = {"blk.0.attn_q.weight": [0, 1, 287, 575],
                "token_embd.weight": [0, 1, 2, 1000, 49151]}
        out = b""
        for t in reader.tensors:
            if t.name not in want:
                continue
            rows = want[t.name]
            data = np.asarray(t.data)          # (n_rows, bytes per row) for quantized types
            row_elems = int(t.shape[0])
            raws = [data[r].view(np.uint8).reshape(-1) for r in rows]
            vals = [dequantize(r, t.tensor_type).reshape(-1) for r in raws]
            name = t.name.encode()
            out += struct.pack("<I", len(name)) + name
            out += record(t.tensor_type, rows, row_elems, raws, vals)
        with open(f"{OUT}/model-rows.bin", "wb") as f:
            f.write(out)


if __name__ == "__main__":
    main()
