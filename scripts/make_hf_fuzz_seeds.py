#!/usr/bin/env python3
"""Writes the seed corpora of fuzz/safetensors_fuzz.cpp and fuzz/hf_config_fuzz.cpp into
tests/data/fuzz/<target>/: small valid safetensors images (F32, BF16, MLX packed U32 with
scales/biases, metadata) and config.json files of every supported model type."""
import json
import os
import struct

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "fuzz")


def image(entries, metadata=None):
    header, data, off = {}, b"", 0
    if metadata:
        header["__metadata__"] = metadata
    for name, dtype, shape in entries:
        size = {"F32": 4, "U32": 4, "BF16": 2, "F16": 2}[dtype]
        for d in shape:
            size *= d
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + size]}
        data += bytes((off + i) * 7 % 251 for i in range(size))
        off += size
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + data


def write(target, name, blob):
    os.makedirs(os.path.join(root, target), exist_ok=True)
    with open(os.path.join(root, target, name), "wb") as f:
        f.write(blob if isinstance(blob, bytes) else blob.encode())


write("safetensors_fuzz", "f32.safetensors", image([("model.norm.weight", "F32", [8]), ("lm_head.weight", "F32", [4, 8])]))
write("safetensors_fuzz", "bf16_meta.safetensors",
      image([("model.embed_tokens.weight", "BF16", [4, 8])], {"format": "pt"}))
write("safetensors_fuzz", "mlx.safetensors", image([
    ("model.layers.0.mlp.up_proj.weight", "U32", [4, 4]),
    ("model.layers.0.mlp.up_proj.scales", "BF16", [4, 1]),
    ("model.layers.0.mlp.up_proj.biases", "BF16", [4, 1])]))
write("safetensors_fuzz", "empty.safetensors", image([]))

base = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 2, "vocab_size": 256, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
        "max_position_embeddings": 512}
write("hf_config_fuzz", "llama3.json", json.dumps(dict(base, model_type="llama", rope_scaling={
    "rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
    "original_max_position_embeddings": 8192}, tie_word_embeddings=True)))
write("hf_config_fuzz", "qwen2.json", json.dumps(dict(base, model_type="qwen2")))
write("hf_config_fuzz", "qwen3.json", json.dumps(dict(base, model_type="qwen3", head_dim=32)))
write("hf_config_fuzz", "mistral.json", json.dumps(dict(base, model_type="mistral", rope_scaling=None)))
write("hf_config_fuzz", "gemma3.json", json.dumps({"model_type": "gemma3", "text_config": dict(base, head_dim=16)}))
write("hf_config_fuzz", "mlx_q4.json", json.dumps(dict(base, model_type="llama", quantization={
    "group_size": 64, "bits": 4, "model.layers.0.mlp.down_proj": {"group_size": 32, "bits": 8},
    "model.layers.1.mlp.up_proj": False})))
write("hf_config_fuzz", "name.txt", "model.layers.3.self_attn.q_norm.weight")
