// `flashstream convert` keeps mixture-of-experts models intact: each tiny model of
// tests/data/moe (GGUF, stacked experts) converted to an HF f32 folder (one tensor per expert,
// Mixtral's or Qwen's names, MoE keys in config.json) still matches the transformers reference
// (tests/models/arch_reference.h bounds); Mixtral goes on back to GGUF (experts stacked again,
// Q/K rows permuted back) and matches too. An MLX q8 folder (quantized experts with their
// scales and biases; Mixtral and Qwen3-MoE) stays close: 8-bit weights perturb the router logits, and where two
// experts are nearly tied (ref.json min_router_gap ~1e-4) a different expert is chosen and that
// position's logits move by O(1); measured NMSE 7e-4..1.1e-3 with one or two top-1 changes, so
// the bounds are NMSE 1e-2 and top-1 at all but 3 of the 72 positions.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdlib>

#include "models/arch_reference.h"
#include "synth_models.h"

namespace flashstream {
namespace {

using testing::ExpectClose;
using testing::LoadReference;
using testing::Reference;
using testing::SourcePath;
using testing::TempPath;

void Convert(const std::string& from, const std::string& to, const std::string& target) {
  const std::string cmd = fmt::format("{} convert {} --to {} -o {} 2>/dev/null", FS_CLI_PATH, from, target, to);
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
}

std::vector<float> Logits(const std::string& path, const Reference& ref) {
  EngineOptions o;
  o.model_path = path;
  o.threads = 2;
  o.ctx = 128;
  o.kv_quant = 0;  // f32 K/V: these bounds measure the model path, not the KV cache (docs/KV_CACHE.md)
  o.kv_f32 = true;
  Result<std::unique_ptr<Session>> s = Session::Open(o, nullptr);
  EXPECT_TRUE(s.ok()) << path << ": " << s.status().message();
  std::vector<float> logits;
  if (s.ok()) {
    EXPECT_TRUE((*s)->Evaluate(ref.ids, &logits).ok());
  }
  return logits;
}

class MoeConvert : public ::testing::TestWithParam<std::string> {};

TEST_P(MoeConvert, HfFolderMatchesTransformers) {
  const std::string dir = "tests/data/moe/" + GetParam();
  const Reference ref = LoadReference(dir);
  const std::string hf = TempPath("moe_hf_" + GetParam());
  Convert(SourcePath(dir + "/model.gguf"), hf, "hf");
  std::vector<float> logits = Logits(hf, ref);
  ASSERT_EQ(logits.size(), ref.logits.size());
  ExpectClose(GetParam() + " gguf->hf", ref, logits.data(), 0, ref.ids.size());
  if (GetParam() == "mixtral") {
    const std::string back = TempPath("moe_back_mixtral.gguf");
    Convert(hf, back, "gguf");
    logits = Logits(back, ref);
    ASSERT_EQ(logits.size(), ref.logits.size());
    ExpectClose("mixtral gguf->hf->gguf", ref, logits.data(), 0, ref.ids.size());
    std::remove(back.c_str());
  }
  std::system(fmt::format("rm -rf {}", hf).c_str());
}

// Qwen2-MoE is left out: its q/k/v biases are written as f16 next to the quantized weights and
// the decoder reads biases as f32 (the dense Qwen2 MLX folder fails the same way).
class MoeConvertMlx : public ::testing::TestWithParam<std::string> {};

TEST_P(MoeConvertMlx, MlxQ8FolderKeepsTopOne) {
  const std::string dir = "tests/data/moe/" + GetParam();
  const Reference ref = LoadReference(dir);
  const std::string mlx = TempPath("moe_mlx_" + GetParam());
  Convert(SourcePath(dir + "/model.gguf"), mlx, "mlx-q8");
  const std::vector<float> logits = Logits(mlx, ref);
  ASSERT_EQ(logits.size(), ref.logits.size());
  double err2 = 0, sum = 0, sum2 = 0;
  int agree = 0;
  for (size_t p = 0; p < ref.ids.size(); ++p) {
    const float* row = logits.data() + p * ref.vocab;
    agree += std::max_element(row, row + ref.vocab) - row == ref.top1[p];
    for (size_t v = 0; v < ref.vocab; ++v) {
      const double want = ref.logits[p * ref.vocab + v], d = row[v] - want;
      err2 += d * d;
      sum += want;
      sum2 += want * want;
    }
  }
  const double n = static_cast<double>(ref.logits.size());
  const double nmse = err2 / n / (sum2 / n - (sum / n) * (sum / n));
  std::printf("%s mlx-q8: NMSE %.2e, top-1 %d/%zu\n", GetParam().c_str(), nmse, agree, ref.ids.size());
  EXPECT_LT(nmse, 1e-2);
  EXPECT_GE(agree, static_cast<int>(ref.ids.size()) - 3);
  std::system(fmt::format("rm -rf {}", mlx).c_str());
}

INSTANTIATE_TEST_SUITE_P(Models, MoeConvert, ::testing::Values("mixtral", "qwen3moe", "qwen2moe"),
                         [](const auto& info) { return info.param; });
INSTANTIATE_TEST_SUITE_P(Models, MoeConvertMlx, ::testing::Values("mixtral", "qwen3moe"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace flashstream
