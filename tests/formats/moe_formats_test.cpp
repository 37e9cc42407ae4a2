// Mixture-of-experts metadata and names in the readers: HF Mixtral / Qwen MoE configs and their
// errors, and expert tensor names both ways.
#include <gtest/gtest.h>

#include "formats/hf_config.h"
#include "formats/hf_names.h"
#include "formats/hf_test_util.h"

namespace flashstream {
namespace {

using testing_hf::TinyConfig;

TEST(MoeNames, MapsMixtralAndQwenExpertsBothWays) {
  EXPECT_EQ(CanonicalFromHf("model.layers.3.block_sparse_moe.gate.weight", false), "blk.3.ffn_gate_inp.weight");
  EXPECT_EQ(CanonicalFromHf("model.layers.3.block_sparse_moe.experts.7.w1.weight", false), "blk.3.ffn_gate.7.weight");
  EXPECT_EQ(CanonicalFromHf("model.layers.3.block_sparse_moe.experts.7.w2.weight", false), "blk.3.ffn_down.7.weight");
  EXPECT_EQ(CanonicalFromHf("model.layers.3.block_sparse_moe.experts.7.w3.weight", false), "blk.3.ffn_up.7.weight");
  EXPECT_EQ(CanonicalFromHf("model.layers.0.mlp.gate.weight", false), "blk.0.ffn_gate_inp.weight");
  EXPECT_EQ(CanonicalFromHf("model.layers.0.mlp.experts.127.down_proj.scales", false), "blk.0.ffn_down.127.scales");
  EXPECT_EQ(CanonicalFromHf("model.layers.0.mlp.shared_expert.up_proj.weight", false), "blk.0.ffn_up_shexp.weight");
  EXPECT_EQ(CanonicalFromHf("model.layers.0.mlp.shared_expert_gate.weight", false), "blk.0.ffn_gate_inp_shexp.weight");
  EXPECT_EQ(CanonicalFromHf("model.layers.0.mlp.experts.x.down_proj.weight", false), std::nullopt);
  EXPECT_EQ(CanonicalFromHf("model.layers.0.block_sparse_moe.experts.1.w4.weight", false), std::nullopt);
  for (const char* hf :
       {"model.layers.3.block_sparse_moe.gate.weight", "model.layers.3.block_sparse_moe.experts.7.w1.weight",
        "model.layers.1.block_sparse_moe.experts.0.w2.weight"}) {
    EXPECT_EQ(HfFromCanonical(*CanonicalFromHf(hf, false), false, /*mixtral=*/true), hf);
  }
  for (const char* hf :
       {"model.layers.0.mlp.gate.weight", "model.layers.0.mlp.experts.5.up_proj.biases",
        "model.layers.0.mlp.shared_expert.down_proj.weight", "model.layers.2.mlp.shared_expert_gate.weight"}) {
    EXPECT_EQ(HfFromCanonical(*CanonicalFromHf(hf, false), false), hf);
  }
}

TEST(MoeConfig, ReadsMixtralAndQwenExpertKeys) {
  nlohmann::json c = TinyConfig("mixtral");
  c["num_local_experts"] = 8;
  c["num_experts_per_tok"] = 2;
  Result<HfConfig> r = ParseHfConfig(c.dump(), "config.json");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->config.arch, "llama");
  EXPECT_EQ(r->config.n_expert, 8);
  EXPECT_EQ(r->config.n_expert_used, 2);
  EXPECT_EQ(r->config.n_ff_expert, 64);  // Mixtral: intermediate_size
  EXPECT_TRUE(r->config.expert_weights_norm);

  c = TinyConfig("qwen2_moe");
  c["num_experts"] = 60;
  c["num_experts_per_tok"] = 4;
  c["moe_intermediate_size"] = 16;
  c["shared_expert_intermediate_size"] = 128;
  r = ParseHfConfig(c.dump(), "config.json");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->config.arch, "qwen2moe");
  EXPECT_EQ(r->config.n_ff_expert, 16);
  EXPECT_EQ(r->config.n_ff_shared, 128);
  EXPECT_FALSE(r->config.expert_weights_norm);  // norm_topk_prob absent: false
}

TEST(MoeConfig, RejectsWhatTheBlockCannotRun) {
  const auto error = [](nlohmann::json c) {
    Result<HfConfig> r = ParseHfConfig(c.dump(), "config.json");
    return r.ok() ? std::string() : r.status().message();
  };
  nlohmann::json c = TinyConfig("qwen3_moe");
  c["num_experts"] = 8;
  c["num_experts_per_tok"] = 2;
  c["moe_intermediate_size"] = 16;
  EXPECT_EQ(error(c), "");
  nlohmann::json bad = c;
  bad["num_experts_per_tok"] = 9;
  EXPECT_NE(error(bad).find("num_experts_per_tok"), std::string::npos) << error(bad);
  bad = c;
  bad["decoder_sparse_step"] = 2;
  EXPECT_NE(error(bad).find("decoder_sparse_step"), std::string::npos) << error(bad);
  bad = c;
  bad["mlp_only_layers"] = {0};
  EXPECT_NE(error(bad).find("mlp_only_layers"), std::string::npos) << error(bad);
  bad = c;
  bad.erase("moe_intermediate_size");
  EXPECT_NE(error(bad).find("moe_intermediate_size"), std::string::npos) << error(bad);
  bad = c;
  bad["norm_topk_prob"] = "yes";
  EXPECT_NE(error(bad).find("norm_topk_prob"), std::string::npos) << error(bad);
}

}  // namespace
}  // namespace flashstream
