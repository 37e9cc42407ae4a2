// Helpers for GGUF tests: a small valid Llama GGUF built with GgufWriter, file I/O and byte
// patching for corruption tests, and paths of the real test files.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "formats/gguf.h"
#include "formats/gguf_writer.h"

namespace flashstream::testing_gguf {

// A fresh path under the test temp directory.
inline std::string TempPath(const std::string& name) {
  const std::filesystem::path dir = std::filesystem::path(::testing::TempDir()) / "fs_gguf_tests";
  std::filesystem::create_directories(dir);
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string file = std::string(info->test_suite_name()) + "." + info->name() + "." + name;
  for (char& c : file) c = c == '/' ? '_' : c;  // parameterized tests have '/' in their names
  return (dir / file).string();
}

inline std::string SharedDataDir() {
  if (const char* d = std::getenv("FS_SHARED_DATA")) return d;
  const char* src = std::getenv("FS_SOURCE_DIR");
  return std::string(src ? src : FS_SOURCE_DIR) + "/../shared/data";
}

inline std::vector<std::byte> ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> chars((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> bytes(chars.size());
  std::memcpy(bytes.data(), chars.data(), chars.size());
  return bytes;
}

inline void WriteAll(const std::string& path, const std::vector<std::byte>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// Offset of the first occurrence of `needle` in bytes (fails the test when absent).
inline size_t Find(const std::vector<std::byte>& bytes, std::string_view needle) {
  const std::string_view hay(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  const size_t pos = hay.find(needle);
  EXPECT_NE(pos, std::string_view::npos) << needle;
  return pos;
}

template <typename T>
void Poke(std::vector<std::byte>& bytes, size_t offset, T value) {
  ASSERT_LE(offset + sizeof(T), bytes.size());
  std::memcpy(bytes.data() + offset, &value, sizeof(T));
}

template <typename T>
T Peek(const std::vector<std::byte>& bytes, size_t offset) {
  T v{};
  std::memcpy(&v, bytes.data() + offset, sizeof(T));
  return v;
}

// Offset of the value type field of metadata `key` (its string is followed by the u32 type).
inline size_t KeyTypeOffset(const std::vector<std::byte>& bytes, const std::string& key) {
  return Find(bytes, key) + key.size();
}

// Offset of the n_dims field of tensor `name` in the tensor infos (after the name string).
// The tensor infos come after the metadata, so the last occurrence of the name is used.
inline size_t TensorInfoOffset(const std::vector<std::byte>& bytes, const std::string& name) {
  const std::string_view hay(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  std::string with_len(8, '\0');
  const uint64_t len = name.size();
  std::memcpy(with_len.data(), &len, 8);
  const size_t pos = hay.find(with_len + name);
  EXPECT_NE(pos, std::string_view::npos) << name;
  return pos + 8 + name.size();
}

// Field offsets inside a tensor info whose n_dims field is at `info`.
inline size_t TensorTypeOffset(const std::vector<std::byte>& bytes, size_t info) {
  return info + 4 + 8 * Peek<uint32_t>(bytes, info);
}
inline size_t TensorOffsetOffset(const std::vector<std::byte>& bytes, size_t info) {
  return TensorTypeOffset(bytes, info) + 4;
}

// A tiny Llama: 2 layers, embd 64, 4 heads / 2 kv heads (head_dim 16), ff 128, 8 tokens.
struct TinyModel {
  int n_layers = 2, n_embd = 64, n_heads = 4, n_kv_heads = 2, n_ff = 128;
  DType dtype = DType::kF32;
  bool tied = true;
  std::vector<std::string> skip_tensors;  // names not added (to build broken files)
};

inline std::vector<std::string> TinyTokens() { return {"<unk>", "<s>", "</s>", "a", "b", "ab", "c", "abc"}; }

inline GgufWriter TinyLlamaWriter(const TinyModel& m = {}) {
  GgufWriter w;
  w.Set("general.architecture", GgufValue::String("llama"));
  w.Set("general.name", GgufValue::String("tiny test model"));
  w.Set("llama.block_count", GgufValue::U32(static_cast<uint32_t>(m.n_layers)));
  w.Set("llama.context_length", GgufValue::U32(256));
  w.Set("llama.embedding_length", GgufValue::U32(static_cast<uint32_t>(m.n_embd)));
  w.Set("llama.feed_forward_length", GgufValue::U32(static_cast<uint32_t>(m.n_ff)));
  w.Set("llama.attention.head_count", GgufValue::U32(static_cast<uint32_t>(m.n_heads)));
  w.Set("llama.attention.head_count_kv", GgufValue::U32(static_cast<uint32_t>(m.n_kv_heads)));
  w.Set("llama.attention.layer_norm_rms_epsilon", GgufValue::F32(1e-6f));
  w.Set("llama.rope.freq_base", GgufValue::F32(50000.f));
  w.Set("tokenizer.ggml.model", GgufValue::String("gpt2"));
  w.Set("tokenizer.ggml.pre", GgufValue::String("default"));
  w.Set("tokenizer.ggml.tokens", GgufValue::StringArray(TinyTokens()));
  w.Set("tokenizer.ggml.token_type", GgufValue::I32Array({2, 3, 3, 1, 1, 1, 1, 1}));
  w.Set("tokenizer.ggml.merges", GgufValue::StringArray({"a b", "ab c"}));
  w.Set("tokenizer.ggml.bos_token_id", GgufValue::U32(1));
  w.Set("tokenizer.ggml.eos_token_id", GgufValue::U32(2));
  w.Set("tokenizer.chat_template", GgufValue::String("{{ messages }}"));
  const int64_t vocab = static_cast<int64_t>(TinyTokens().size());
  const int64_t e = m.n_embd, hd = m.n_embd / m.n_heads, q = m.n_heads * hd, kv = m.n_kv_heads * hd;
  auto add = [&](const std::string& name, DType dtype, Shape shape) {
    for (const std::string& skip : m.skip_tensors) {
      if (skip == name) return;
    }
    Status s = w.AddTensor(name, dtype, shape);
    EXPECT_TRUE(s.ok()) << s.message();
  };
  add("token_embd.weight", m.dtype, MakeShape({vocab, e}));
  for (int i = 0; i < m.n_layers; ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    add(p + "attn_norm.weight", DType::kF32, MakeShape({e}));
    add(p + "attn_q.weight", m.dtype, MakeShape({q, e}));
    add(p + "attn_k.weight", m.dtype, MakeShape({kv, e}));
    add(p + "attn_v.weight", m.dtype, MakeShape({kv, e}));
    add(p + "attn_output.weight", m.dtype, MakeShape({e, q}));
    add(p + "ffn_norm.weight", DType::kF32, MakeShape({e}));
    add(p + "ffn_gate.weight", m.dtype, MakeShape({m.n_ff, e}));
    add(p + "ffn_up.weight", m.dtype, MakeShape({m.n_ff, e}));
    add(p + "ffn_down.weight", m.dtype, MakeShape({e, m.n_ff}));
  }
  add("output_norm.weight", DType::kF32, MakeShape({e}));
  if (!m.tied) add("output.weight", m.dtype, MakeShape({vocab, e}));
  return w;
}

// The byte at `offset` of tensor number `index` in the pattern source below.
inline std::byte PatternByte(size_t index, uint64_t offset) {
  return static_cast<std::byte>((offset * 131 + index * 7 + 1) & 0xff);
}

// Tensor source writing PatternByte(tensor number, offset) bytes.
inline GgufWriter::TensorSource PatternSource(const GgufWriter& w) {
  return [&w](const GgufTensorInfo& t, GgufTensorSink& sink) -> Status {
    size_t index = 0;
    while (w.tensors()[index].name != t.name) ++index;
    std::vector<std::byte> bytes(t.bytes);
    for (uint64_t i = 0; i < t.bytes; ++i) bytes[i] = PatternByte(index, i);
    return sink.Write(bytes.data(), bytes.size());
  };
}

// Writes the tiny model to a temp file and returns its path.
inline std::string WriteTiny(const GgufWriter& w, const std::string& name = "tiny.gguf") {
  const std::string path = TempPath(name);
  Status s = w.Write(path, PatternSource(w));
  EXPECT_TRUE(s.ok()) << s.message();
  return path;
}

// Expects an error whose message contains every one of `parts`.
inline void ExpectError(const Status& s, std::initializer_list<std::string_view> parts) {
  ASSERT_FALSE(s.ok()) << "expected an error containing '" << *parts.begin() << "'";
  for (std::string_view p : parts) {
    EXPECT_NE(s.message().find(p), std::string::npos) << "message: " << s.message() << "\nmissing: " << p;
  }
}

}  // namespace flashstream::testing_gguf
