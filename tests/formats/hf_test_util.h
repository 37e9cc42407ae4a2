// Builds small Hugging Face / MLX folders for the reader tests: config.json
// text and safetensors files assembled from entries, with hooks to corrupt the
// header.
#pragma once

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace flashstream::testing_hf {

struct Entry {
  std::string name;
  std::string dtype;  // "F32", "BF16", "U32", ...
  std::vector<int64_t> shape;
  int64_t begin = -1, end = -1;  // -1: packed after the previous entry
};

inline int DtypeSize(const std::string& d) {
  if (d == "F32" || d == "U32" || d == "I32") return 4;
  if (d == "F16" || d == "BF16") return 2;
  return 1;
}

// The 8-byte length, the header JSON and the data (byte i of the data = i * 7
// mod 251).
inline std::string Image(const std::vector<Entry>& entries, const std::string& header_override = "") {
  nlohmann::ordered_json h = nlohmann::ordered_json::object();
  int64_t offset = 0, data_end = 0;
  for (const Entry& e : entries) {
    int64_t n = DtypeSize(e.dtype);
    for (int64_t d : e.shape) n *= d;
    const int64_t b = e.begin >= 0 ? e.begin : offset;
    const int64_t en = e.end >= 0 ? e.end : b + n;
    h[e.name] = {{"dtype", e.dtype}, {"shape", e.shape}, {"data_offsets", {b, en}}};
    offset = b + n;
    data_end = std::max(data_end, std::max(offset, en));
  }
  std::string json = header_override.empty() ? h.dump() : header_override;
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i)
    out[static_cast<size_t>(i)] = static_cast<char>((uint64_t{json.size()} >> (8 * i)) & 0xFF);
  out += json;
  for (int64_t i = 0; i < data_end; ++i) out.push_back(static_cast<char>(i * 7 % 251));
  return out;
}

inline void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline std::string NewFolder(const std::string& name) {
  const std::string dir = ::testing::TempDir() + fmt::format("fs_hf_{}_{}", getpid(), name);
  std::system(fmt::format("rm -rf {}", dir).c_str());
  mkdir(dir.c_str(), 0755);
  return dir;
}

// One layer, hidden 32, ff 64, 2 heads of 16 (1 kv head), vocab 16.
inline nlohmann::json TinyConfig(const std::string& model_type = "llama") {
  return {{"model_type", model_type},
          {"hidden_size", 32},
          {"intermediate_size", 64},
          {"num_hidden_layers", 1},
          {"num_attention_heads", 2},
          {"num_key_value_heads", 1},
          {"vocab_size", 16},
          {"rms_norm_eps", 1e-6},
          {"rope_theta", 10000.0},
          {"tie_word_embeddings", true},
          {"max_position_embeddings", 128}};
}

// The tensors of TinyConfig in `dtype` (norms too); MLX-quantized linears when
// bits > 0.
inline std::vector<Entry> TinyTensors(const std::string& dtype = "F32", int bits = 0, int group = 32) {
  std::vector<Entry> out;
  auto linear = [&](const std::string& name, int64_t rows, int64_t cols) {
    if (bits == 0) {
      out.push_back({name + ".weight", dtype, {rows, cols}});
      return;
    }
    out.push_back({name + ".weight", "U32", {rows, cols * bits / 32}});
    out.push_back({name + ".scales", dtype, {rows, cols / group}});
    out.push_back({name + ".biases", dtype, {rows, cols / group}});
  };
  linear("model.embed_tokens", 16, 32);
  const std::string p = "model.layers.0.";
  out.push_back({p + "input_layernorm.weight", dtype, {32}});
  linear(p + "self_attn.q_proj", 32, 32);
  linear(p + "self_attn.k_proj", 16, 32);
  linear(p + "self_attn.v_proj", 16, 32);
  linear(p + "self_attn.o_proj", 32, 32);
  out.push_back({p + "post_attention_layernorm.weight", dtype, {32}});
  linear(p + "mlp.gate_proj", 64, 32);
  linear(p + "mlp.up_proj", 64, 32);
  linear(p + "mlp.down_proj", 32, 64);
  out.push_back({"model.norm.weight", dtype, {32}});
  return out;
}

inline std::string WriteFolder(const std::string& name, const nlohmann::json& config,
                               const std::vector<Entry>& tensors) {
  const std::string dir = NewFolder(name);
  WriteFile(dir + "/config.json", config.dump());
  WriteFile(dir + "/model.safetensors", Image(tensors));
  return dir;
}

}  // namespace flashstream::testing_hf
