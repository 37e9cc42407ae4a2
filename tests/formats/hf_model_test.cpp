// Hugging Face and MLX folders: name mapping, config.json, shards, MLX
// quantization settings, and offsets that point into the original files.
#include "formats/hf_model.h"

#include <gtest/gtest.h>

#include "formats/hf_config.h"
#include "formats/hf_names.h"
#include "formats/hf_test_util.h"
#include "formats/model_reader.h"
#include "io/file.h"

namespace flashstream {
namespace {

using namespace testing_hf;

TEST(HfNames, MapsEveryArchitectureTensor) {
  EXPECT_EQ(CanonicalFromHf("model.embed_tokens.weight", false), "token_embd.weight");
  EXPECT_EQ(CanonicalFromHf("lm_head.weight", false), "output.weight");
  EXPECT_EQ(CanonicalFromHf("model.norm.weight", false), "output_norm.weight");
  EXPECT_EQ(CanonicalFromHf("model.layers.12.self_attn.q_proj.bias", false), "blk.12.attn_q.bias");
  EXPECT_EQ(CanonicalFromHf("model.layers.3.self_attn.k_norm.weight", false), "blk.3.attn_k_norm.weight");
  EXPECT_EQ(CanonicalFromHf("model.layers.0.post_attention_layernorm.weight", false), "blk.0.ffn_norm.weight");
  EXPECT_EQ(CanonicalFromHf("model.layers.0.post_attention_layernorm.weight", true),
            "blk.0.post_attention_norm.weight");
  EXPECT_EQ(CanonicalFromHf("model.layers.0.pre_feedforward_layernorm.weight", true), "blk.0.ffn_norm.weight");
  EXPECT_EQ(CanonicalFromHf("language_model.model.layers.1.post_feedforward_layernorm.weight", true),
            "blk.1.post_ffw_norm.weight");
  EXPECT_EQ(CanonicalFromHf("model.layers.2.mlp.down_proj.scales", false), "blk.2.ffn_down.scales");
  EXPECT_EQ(CanonicalFromHf("model.layers.0.self_attn.rotary_emb.inv_freq", false), std::nullopt);
  EXPECT_EQ(CanonicalFromHf("model.layers.x.mlp.up_proj.weight", false), std::nullopt);
  for (const char* hf :
       {"model.layers.7.mlp.up_proj.biases", "lm_head.weight", "model.layers.0.self_attn.o_proj.weight"}) {
    EXPECT_EQ(HfFromCanonical(*CanonicalFromHf(hf, false), false), hf);
  }
}

TEST(HfConfig, ReadsGenericKeysAndLlama3RopeScaling) {
  nlohmann::json c = TinyConfig();
  c["rope_scaling"] = {{"rope_type", "llama3"},
                       {"factor", 8.0},
                       {"low_freq_factor", 1.0},
                       {"high_freq_factor", 4.0},
                       {"original_max_position_embeddings", 8192}};
  c["head_dim"] = 8;
  Result<HfConfig> r = ParseHfConfig(c.dump(), "config.json");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->config.arch, "llama");
  EXPECT_EQ(r->config.head_dim, 8);
  EXPECT_EQ(r->config.n_kv_heads, 1);
  EXPECT_FALSE(r->config.rope_interleaved);
  EXPECT_FLOAT_EQ(r->config.rope_scale_factor, 8.f);
  EXPECT_EQ(r->config.rope_original_context, 8192);
  EXPECT_FLOAT_EQ(r->config.rms_eps, 1e-6f);
  c = TinyConfig("gemma3_text");
  c.erase("tie_word_embeddings");
  r = ParseHfConfig(c.dump(), "config.json");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->config.arch, "gemma3");
  EXPECT_TRUE(r->config.tied_embeddings);
}

TEST(HfConfig, ReadsMlxQuantizationWithPerModuleOverrides) {
  nlohmann::json c = TinyConfig();
  c["quantization"] = {{"group_size", 64},
                       {"bits", 4},
                       {"model.layers.0.mlp.down_proj", {{"group_size", 32}, {"bits", 8}}},
                       {"model.layers.0.mlp.up_proj", false}};
  Result<HfConfig> r = ParseHfConfig(c.dump(), "config.json");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->quant.For("model.layers.0.self_attn.q_proj").bits, 4);
  EXPECT_EQ(r->quant.For("model.layers.0.mlp.down_proj").bits, 8);
  EXPECT_EQ(r->quant.For("model.layers.0.mlp.down_proj").group_size, 32);
  EXPECT_EQ(r->quant.For("model.layers.0.mlp.up_proj").bits, 0);
}

TEST(HfModel, ReadsF32FolderWithOffsetsIntoTheFile) {
  const std::string dir = WriteFolder("f32", TinyConfig(), TinyTensors("F32"));
  Result<ModelIndex> r = ReadModel(dir);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->format, "safetensors");
  EXPECT_TRUE(r->config.tied_embeddings);
  EXPECT_FALSE(r->config.rope_interleaved);
  EXPECT_EQ(r->tokenizer.kind, TokenizerSpec::Kind::kNone);
  const TensorInfo* q = r->Find("blk.0.attn_q.weight");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->shape, MakeShape({32, 32}));
  // The bytes at the recorded offset are the file's data bytes for that tensor.
  Result<std::vector<std::byte>> head = ReadRange(r->files[0], 0, 8);
  ASSERT_TRUE(head.ok());
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = header_len << 8 | static_cast<uint8_t>((*head)[static_cast<size_t>(i)]);
  const uint64_t data_begin = q->offset - 8 - header_len;
  Result<std::vector<std::byte>> bytes = ReadRange(r->files[0], q->offset, 16);
  ASSERT_TRUE(bytes.ok());
  for (uint64_t i = 0; i < 16; ++i)
    EXPECT_EQ(static_cast<int>((*bytes)[i]), static_cast<int>((data_begin + i) * 7 % 251));
  // A .safetensors path or config.json inside the folder opens the folder.
  EXPECT_TRUE(ReadModel(dir + "/model.safetensors").ok());
}

TEST(HfModel, ReadsShardsNamedByTheIndex) {
  const std::string dir = NewFolder("sharded");
  WriteFile(dir + "/config.json", TinyConfig().dump());
  std::vector<Entry> all = TinyTensors("BF16");
  std::vector<Entry> a(all.begin(), all.begin() + 5), b(all.begin() + 5, all.end());
  WriteFile(dir + "/model-00001-of-00002.safetensors", Image(a));
  WriteFile(dir + "/model-00002-of-00002.safetensors", Image(b));
  nlohmann::json index = {{"weight_map", nlohmann::json::object()}};
  for (const Entry& e : a) index["weight_map"][e.name] = "model-00001-of-00002.safetensors";
  for (const Entry& e : b) index["weight_map"][e.name] = "model-00002-of-00002.safetensors";
  WriteFile(dir + "/model.safetensors.index.json", index.dump());
  Result<ModelIndex> r = ReadModel(dir);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->files.size(), 2u);
  EXPECT_EQ(r->Find("output_norm.weight")->file, 1);
  EXPECT_EQ(r->Find("output_norm.weight")->dtype, DType::kBF16);
}

TEST(HfModel, ReadsMlxFolderWithCompanionsAndOverrides) {
  nlohmann::json c = TinyConfig();
  c["quantization"] = {
      {"group_size", 32}, {"bits", 4}, {"model.layers.0.mlp.gate_proj", {{"group_size", 32}, {"bits", 8}}}};
  std::vector<Entry> t = TinyTensors("BF16", 4, 32);
  for (Entry& e : t) {  // gate_proj is 8-bit: 32 inputs in 8 words
    if (e.name == "model.layers.0.mlp.gate_proj.weight") e.shape = {64, 8};
  }
  const std::string dir = WriteFolder("mlx", c, t);
  Result<ModelIndex> r = ReadModel(dir);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->format, "mlx");
  const TensorInfo* q = r->Find("blk.0.attn_q.weight");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->dtype, DType::kMlxQ4);
  EXPECT_EQ(q->shape, MakeShape({32, 32}));
  EXPECT_EQ(q->bytes, 32u * 16u);
  EXPECT_EQ(q->scales, "blk.0.attn_q.scales");
  EXPECT_EQ(q->group_size, 32);
  ASSERT_NE(r->Find("blk.0.attn_q.biases"), nullptr);
  EXPECT_EQ(r->Find("blk.0.attn_q.biases")->dtype, DType::kBF16);
  EXPECT_EQ(r->Find("blk.0.ffn_gate.weight")->dtype, DType::kMlxQ8);
  EXPECT_EQ(r->Find("token_embd.weight")->dtype, DType::kMlxQ4);
}

}  // namespace
}  // namespace flashstream
