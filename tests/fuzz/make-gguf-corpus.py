#!/usr/bin/env python3
"""make-gguf-corpus.py: writes the small seed files of tests/fuzz/gguf-corpus/ (valid GGUFs from
the gguf package, plus broken variants of them). Run from anywhere: python3 make-gguf-corpus.py"""
import os
import struct

import numpy as np
import gguf

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gguf-corpus")
Q = gguf.GGMLQuantizationType


def write(name, build, arch="llama", alignment=None):
    path = os.path.join(HERE, name)
    w = gguf.GGUFWriter(path, arch)
    if alignment is not None:
        w.add_custom_alignment(alignment)
    build(w)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    data = open(path, "rb").read()
    assert len(data) < 4096, (name, len(data))
    return data


def tiny_llama(w):
    w.add_block_count(1)
    w.add_context_length(64)
    w.add_embedding_length(32)
    w.add_head_count(2)
    w.add_head_count_kv(1)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_bool("llama.use_parallel_residual", False)
    w.add_tokenizer_model("gpt2")
    w.add_token_list(["<s>", "</s>", "a", "b", "ab", "\xc4\xa0x"])
    w.add_token_types([3, 3, 1, 1, 1, 1])
    w.add_token_merges(["a b"])
    w.add_array("test.floats", [0.5, -2.0, 1e30])
    w.add_uint64("test.u64", 2**63)
    w.add_int64("test.i64", -(2**63))
    w.add_float64("test.f64", 1e300)
    w.add_string("test.bytes", "\x00\x01\xff binary")
    w.add_tensor("output_norm.weight", np.ones(32, dtype=np.float32))
    w.add_tensor("token_embd.weight", np.zeros((6, 32), dtype=np.float16))
    # Quantized tensors are given as bytes, (rows, bytes per row): q8_0 is 34 bytes per 32.
    w.add_tensor("blk.0.attn_q.weight", np.zeros((2, 34), dtype=np.uint8), raw_dtype=Q.Q8_0)


def kquant(w):
    w.add_block_count(1)
    w.add_tensor("blk.0.ffn_up.weight", np.zeros((2, 144), dtype=np.uint8), raw_dtype=Q.Q4_K)
    w.add_tensor("blk.0.ffn_down.weight", np.zeros((1, 210), dtype=np.uint8), raw_dtype=Q.Q6_K)
    w.add_tensor("t4d", np.zeros((1, 2, 3, 4), dtype=np.float32))


def metadata_only(w):
    w.add_name("metadata only")
    w.add_array("test.empty", [])
    w.add_array("test.bools", [True, False, True])
    w.add_array("test.strs", ["", "x", "yz"])


def broken(name, data, offset, raw):
    """A copy of data with raw bytes written at offset."""
    b = bytearray(data)
    b[offset:offset + len(raw)] = raw
    open(os.path.join(HERE, name), "wb").write(bytes(b))


def main():
    os.makedirs(HERE, exist_ok=True)
    llama = write("tiny-llama.gguf", tiny_llama)
    write("kquant-align64.gguf", kquant, alignment=64)
    write("metadata-only.gguf", metadata_only, arch="gemma3")
    # Broken variants of the tiny llama file.
    open(os.path.join(HERE, "bad-truncated.gguf"), "wb").write(llama[:len(llama) // 2])
    broken("bad-version1.gguf", llama, 4, struct.pack("<I", 1))
    broken("bad-kv-count.gguf", llama, 16, struct.pack("<Q", 2**62))
    broken("bad-tensor-count.gguf", llama, 8, struct.pack("<Q", 1000))
    # First key's name length: made huge.
    broken("bad-strlen.gguf", llama, 24, struct.pack("<Q", 2**40))


if __name__ == "__main__":
    main()
