#!/usr/bin/env python3
"""Writes quant_fixture.bin: GGML blocks with their values as computed by gguf-py (the
llama.cpp project's Python reader), an independent check of our block layouts.

Records, little-endian: u8 kind (0 = dequantize: bytes -> floats, 1 = quantize: floats ->
bytes), u8 name length, name (flashstream dtype name), u32 n_values, u32 n_bytes, then for
kind 0 the bytes followed by n_values f32; for kind 1 the n_values f32 followed by the bytes.
Run: python3 make_quant_fixture.py  (needs numpy and gguf; CI only reads the .bin).
"""
import struct
import sys
from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import quants

rng = np.random.default_rng(20261125)


def f16_bytes(values):
    return np.asarray(values, dtype=np.float16).view(np.uint8)


def random_blocks(qtype, n_blocks):
    """Random block bytes with finite, moderate f16 scale fields."""
    block_values, block_bytes = quants.GGML_QUANT_SIZES[qtype]
    raw = rng.integers(0, 256, size=(n_blocks, block_bytes), dtype=np.uint8)
    scale = lambda: f16_bytes(rng.uniform(-0.05, 0.05, size=(n_blocks, 1)))
    if qtype in (T.Q8_0, T.Q4_0, T.Q5_0):
        raw[:, 0:2] = scale()
    elif qtype == T.Q4_1:
        raw[:, 0:2] = scale()
        raw[:, 2:4] = scale()
    elif qtype in (T.Q4_K, T.Q5_K):
        raw[:, 0:2] = scale()
        raw[:, 2:4] = scale()
    elif qtype == T.Q6_K:
        raw[:, 208:210] = scale()
    return raw.reshape(-1), n_blocks * block_values


def record(out, kind, name, n_values, data_bytes, floats):
    name_b = name.encode()
    out += struct.pack("<BB", kind, len(name_b)) + name_b
    out += struct.pack("<II", n_values, len(data_bytes))
    floats = np.asarray(floats, dtype=np.float32).tobytes()
    out += (data_bytes + floats) if kind == 0 else (floats + data_bytes)


def main():
    out = bytearray()
    # Dequantization of random blocks.
    for name, qtype, n_blocks in [("q8_0", T.Q8_0, 64), ("q4_0", T.Q4_0, 64), ("q4_1", T.Q4_1, 64),
                                  ("q4_k", T.Q4_K, 16), ("q5_k", T.Q5_K, 16), ("q6_k", T.Q6_K, 16),
                                  ("q5_0", T.Q5_0, 64)]:
        raw, n = random_blocks(qtype, n_blocks)
        values = quants.dequantize(raw, qtype)
        record(out, 0, name, n, raw.tobytes(), values)
    # f16 / bf16: every finite f16 bit pattern would be large; use random finite ones.
    h = rng.integers(0, 0x7C00, size=4096, dtype=np.uint16) | (rng.integers(0, 2, size=4096, dtype=np.uint16) << 15)
    record(out, 0, "f16", 4096, h.tobytes(), h.view(np.float16).astype(np.float32))
    b = rng.integers(0, 0x7F80, size=4096, dtype=np.uint16) | (rng.integers(0, 2, size=4096, dtype=np.uint16) << 15)
    record(out, 0, "bf16", 4096, b.tobytes(), (b.astype(np.uint32) << 16).view(np.float32))
    # Reference quantization of random activations (incl. ties, zeros and a zero block).
    x = rng.standard_normal(32 * 64).astype(np.float32)
    x[::7] *= 10
    x[32:64] = 0
    x[64:96] = np.round(x[64:96] * 4) / 4
    for name, qtype in [("q8_0", T.Q8_0), ("q4_0", T.Q4_0), ("q4_1", T.Q4_1), ("q5_0", T.Q5_0)]:
        blocks = quants.quantize(x, qtype)
        record(out, 1, name, x.size, blocks.tobytes(), x)
    Path(__file__).with_name("quant_fixture.bin").write_bytes(bytes(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
