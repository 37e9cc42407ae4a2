// ConfigFromGguf for the architectures beyond llama: per-architecture defaults (RoPE layout,
// Gemma 3's sliding-window period and local RoPE base) and the optional keys (attention scale,
// sliding window, local RoPE base, linear scaling, logit soft-capping), then the model's
// checked tensor getter naming what an architecture needs.
#include <gtest/gtest.h>

#include "formats/gguf_model.h"
#include "formats/gguf_test_util.h"
#include "models/decoder.h"

namespace flashstream {
namespace {

using testing_gguf::ExpectError;
using testing_gguf::TinyLlamaWriter;
using testing_gguf::WriteTiny;

// The tiny llama file's keys and tensors under another architecture name (llama.* -> arch.*).
GgufWriter Renamed(const std::string& arch) {
  const GgufWriter llama = TinyLlamaWriter();
  GgufWriter w;
  for (const auto& [key, value] : llama.metadata()) {
    if (key == "general.architecture") {
      w.Set(key, GgufValue::String(arch));
    } else if (key.rfind("llama.", 0) == 0) {
      w.Set(arch + key.substr(5), value);
    } else {
      w.Set(key, value);
    }
  }
  for (const GgufTensorInfo& t : llama.tensors()) EXPECT_TRUE(w.AddTensor(t.name, t.dtype, t.shape).ok());
  return w;
}

Result<ModelIndex> Read(const GgufWriter& w, const std::string& name) { return ReadGgufModel(WriteTiny(w, name)); }

TEST(GgufArchConfig, RopeLayoutPerArchitecture) {
  for (const char* arch : {"llama", "mistral", "qwen2", "qwen3", "gemma3"}) {
    Result<ModelIndex> m = Read(Renamed(arch), std::string(arch) + ".gguf");
    ASSERT_TRUE(m.ok()) << m.status().message();
    EXPECT_EQ(m->config.arch, arch);
    // llama.cpp permutes Q/K rows only for llama-family files; the others rotate halves.
    const bool llama_family = std::string(arch) == "llama" || std::string(arch) == "mistral";
    EXPECT_EQ(m->config.rope_interleaved, llama_family) << arch;
    EXPECT_EQ(m->config.sliding_window, 0) << arch;
    EXPECT_FALSE(m->config.IsSlidingLayer(0)) << arch;
  }
}

TEST(GgufArchConfig, Gemma3DefaultsAndKeys) {
  GgufWriter w = Renamed("gemma3");
  w.Set("gemma3.attention.sliding_window", GgufValue::U32(512));
  Result<ModelIndex> m = Read(w, "gemma3_defaults.gguf");
  ASSERT_TRUE(m.ok()) << m.status().message();
  const ModelConfig& c = m->config;
  EXPECT_EQ(c.sliding_window, 512);
  EXPECT_EQ(c.sliding_window_period, 6);  // llama.cpp's gemma3 pattern: every 6th layer global
  EXPECT_EQ(c.rope_theta_swa, 10000.f);
  EXPECT_EQ(c.attn_scale, 0.f);           // 1/sqrt(head_dim)
  EXPECT_EQ(c.norm_weight_offset, 0.f);   // the converter stored 1 + w
  EXPECT_EQ(c.final_logit_softcap, 0.f);
  for (int l : {0, 1, 4, 6, 10}) EXPECT_TRUE(c.IsSlidingLayer(l)) << l;
  for (int l : {5, 11, 17}) EXPECT_FALSE(c.IsSlidingLayer(l)) << l;

  w.Set("gemma3.rope.freq_base_swa", GgufValue::F32(20000.f));
  w.Set("gemma3.attention.scale", GgufValue::F32(0.0625f));
  w.Set("gemma3.final_logit_softcapping", GgufValue::F32(30.f));
  w.Set("gemma3.rope.scaling.type", GgufValue::String("linear"));
  w.Set("gemma3.rope.scaling.factor", GgufValue::F32(8.f));
  m = Read(w, "gemma3_keys.gguf");
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(m->config.rope_theta_swa, 20000.f);
  EXPECT_EQ(m->config.attn_scale, 0.0625f);
  EXPECT_EQ(m->config.final_logit_softcap, 30.f);
  EXPECT_EQ(m->config.rope_linear_factor, 8.f);
}

// Mistral-style windows: period 0 puts every layer in the window.
TEST(GgufArchConfig, SlidingWindowOnEveryLayer) {
  GgufWriter w = Renamed("mistral");
  w.Set("mistral.attention.sliding_window", GgufValue::U32(4096));
  Result<ModelIndex> m = Read(w, "mistral_window.gguf");
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_TRUE(m->config.IsSlidingLayer(0));
  EXPECT_TRUE(m->config.IsSlidingLayer(5));
}

// The llama tensor set lacks what qwen2, qwen3 and gemma3 blocks need: the load names it.
TEST(GgufArchConfig, MissingArchitectureTensorsAreNamed) {
  const struct {
    const char* arch;
    const char* tensor;
  } cases[] = {{"qwen2", "blk.0.attn_q.bias"}, {"qwen3", "blk.0.attn_q_norm.weight"},
               {"gemma3", "blk.0.attn_q_norm.weight"}};
  for (const auto& c : cases) {
    Result<ModelIndex> m = Read(Renamed(c.arch), std::string(c.arch) + "_missing.gguf");
    ASSERT_TRUE(m.ok()) << m.status().message();
    ExpectError(DecoderModel::Create(*m).status(), {c.tensor, "missing"});
  }
  Result<ModelIndex> llama = Read(Renamed("llama"), "llama_ok.gguf");
  ASSERT_TRUE(llama.ok());
  EXPECT_TRUE(DecoderModel::Create(*llama).ok());
}

// llama.cpp writes Llama 3.1's RoPE scaling as a rope_freqs.weight tensor: refused by name
// rather than run with unscaled frequencies.
TEST(GgufArchConfig, RopeFreqsTensorIsRefused) {
  GgufWriter w = Renamed("llama");
  ASSERT_TRUE(w.AddTensor("rope_freqs.weight", DType::kF32, MakeShape({8})).ok());
  Result<ModelIndex> m = Read(w, "rope_freqs.gguf");
  ASSERT_TRUE(m.ok()) << m.status().message();
  ExpectError(DecoderModel::Create(*m).status(), {"rope_freqs.weight", "not supported"});
}

}  // namespace
}  // namespace flashstream
