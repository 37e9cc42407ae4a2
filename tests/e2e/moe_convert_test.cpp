// `flashstream convert` keeps mixture-of-experts models intact: each tiny model of
// tests/data/moe (GGUF, stacked experts) converted to an HF f32 folder (one tensor per expert,
// Mixtral's or Qwen's names, MoE keys in config.json) still matches the transformers reference
// (tests/models/arch_reference.h bounds); Mixtral goes on back to GGUF (experts stacked again,
// Q/K rows permuted back) and matches too. An MLX q8 folder (quantized experts with their
// scales and biases; Mixtral and Qwen3-MoE) stays close: 8-bit weights perturb the router logits, and where two
// experts are nearly tied (ref.json min_router_gap ~1e-4) a different expert is chosen and that
// position's logits move by O(1); measured NMSE 7e-4..1.1e-3 with one or two top-1 changes, so
// the bounds are NMSE 1e-2 and top-1 at all but 3 of the 72 positions. The same MLX folder with
// its experts restacked as mlx-lm writes them (mlp.switch_mlp / block_sparse_moe.switch_mlp,
// [n_expert, rows, cols] weights, scales and biases) gives bitwise the per-expert folder's logits.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

#include "formats/safetensors.h"
#include "formats/safetensors_writer.h"
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

// "model.layers.N.mlp.experts.E.gate_proj.scales" (Qwen) or "...block_sparse_moe.experts.E.w1.weight"
// (Mixtral) -> ("model.layers.N.mlp.switch_mlp.gate_proj.scales", E); else ("", -1).
std::pair<std::string, int> SwitchMlpName(const std::string& name) {
  static const std::map<std::string, std::string> kinds = {{"gate_proj", "gate_proj"}, {"up_proj", "up_proj"},
                                                           {"down_proj", "down_proj"}, {"w1", "gate_proj"},
                                                           {"w3", "up_proj"},          {"w2", "down_proj"}};
  for (const std::string prefix : {".mlp.experts.", ".block_sparse_moe.experts."}) {
    const size_t at = name.find(prefix);
    if (at == std::string::npos) continue;
    const size_t e_end = name.find('.', at + prefix.size());
    const size_t kind_end = name.rfind('.');
    const int e = std::stoi(name.substr(at + prefix.size(), e_end - at - prefix.size()));
    const std::string kind = kinds.at(name.substr(e_end + 1, kind_end - e_end - 1));
    const std::string owner = prefix == ".mlp.experts." ? ".mlp" : ".block_sparse_moe";
    return {name.substr(0, at) + owner + ".switch_mlp." + kind + name.substr(kind_end), e};
  }
  return {"", -1};
}

// Copies MLX folder `from` to `to` with each layer's experts stacked per kind, as mlx-lm does.
void RestackExperts(const std::string& from, const std::string& to) {
  namespace fs = std::filesystem;
  fs::create_directories(to);
  for (const auto& entry : fs::directory_iterator(from)) {
    if (entry.path().extension() != ".safetensors")
      fs::copy_file(entry.path(), to + "/" + entry.path().filename().string());
  }
  Result<SafetensorsFile> f = ReadSafetensorsHeader(from + "/model.safetensors");
  ASSERT_TRUE(f.ok()) << f.status().message();
  std::ifstream in(from + "/model.safetensors", std::ios::binary);
  auto bytes = [&](const SafetensorsTensor& t) {
    std::string b(t.bytes, '\0');
    in.seekg(static_cast<std::streamoff>(t.offset));
    in.read(b.data(), static_cast<std::streamsize>(t.bytes));
    return b;
  };
  struct Stack {
    StDType dtype;
    std::vector<int64_t> shape;
    std::map<int, const SafetensorsTensor*> experts;
  };
  std::map<std::string, Stack> stacks;
  std::vector<std::pair<std::string, std::string>> data;  // name -> bytes, in file order
  SafetensorsWriter w;
  for (const SafetensorsTensor& t : f->tensors) {
    const auto [stacked, e] = SwitchMlpName(t.name);
    if (e < 0) {
      w.Add(t.name, t.dtype, t.shape);
      data.emplace_back(t.name, bytes(t));
      continue;
    }
    Stack& s = stacks[stacked];
    s.dtype = t.dtype;
    s.shape = t.shape;
    s.experts[e] = &t;
  }
  for (auto& [name, s] : stacks) {
    std::vector<int64_t> shape = s.shape;
    shape.insert(shape.begin(), static_cast<int64_t>(s.experts.size()));
    w.Add(name, s.dtype, shape);
    std::string all;
    for (const auto& [e, t] : s.experts) all += bytes(*t);
    data.emplace_back(name, all);
  }
  ASSERT_FALSE(stacks.empty());
  w.SetMetadata("format", "mlx");
  const Status st = w.Write(to + "/model.safetensors", [&](size_t i, const SafetensorsWriter::Entry&, FileWriter& out) {
    return out.Write(data[i].second.data(), data[i].second.size());
  });
  ASSERT_TRUE(st.ok()) << st.message();
}

TEST_P(MoeConvertMlx, SwitchMlpFolderEqualsPerExpert) {
  const std::string dir = "tests/data/moe/" + GetParam();
  const Reference ref = LoadReference(dir);
  const std::string mlx = TempPath("moe_mlx_per_expert_" + GetParam());
  const std::string stacked = TempPath("moe_mlx_switch_" + GetParam());
  Convert(SourcePath(dir + "/model.gguf"), mlx, "mlx-q4");
  RestackExperts(mlx, stacked);
  const std::vector<float> want = Logits(mlx, ref);
  const std::vector<float> got = Logits(stacked, ref);
  ASSERT_EQ(want.size(), ref.logits.size());
  ASSERT_EQ(got.size(), want.size());
  EXPECT_EQ(std::memcmp(got.data(), want.data(), want.size() * sizeof(float)), 0);
  std::system(fmt::format("rm -rf {} {}", mlx, stacked).c_str());
}

INSTANTIATE_TEST_SUITE_P(Models, MoeConvert, ::testing::Values("mixtral", "qwen3moe", "qwen2moe"),
                         [](const auto& info) { return info.param; });
INSTANTIATE_TEST_SUITE_P(Models, MoeConvertMlx, ::testing::Values("mixtral", "qwen3moe"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace flashstream
