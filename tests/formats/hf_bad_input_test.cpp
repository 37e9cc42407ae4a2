// Corrupt and inconsistent Hugging Face / MLX folders: each must give one error
// naming the file and the tensor or key at fault.
#include <gtest/gtest.h>

#include "formats/hf_model.h"
#include "formats/hf_test_util.h"
#include "formats/model_reader.h"
#include "formats/safetensors.h"

namespace flashstream {
namespace {

using namespace testing_hf;

// Reads the folder and expects an error whose message holds every one of
// `parts`.
void ExpectError(const std::string& dir, std::initializer_list<std::string> parts) {
  Result<ModelIndex> r = ReadHfModel(dir);
  ASSERT_FALSE(r.ok()) << "expected an error for " << dir;
  for (const std::string& p : parts) EXPECT_NE(r.status().message().find(p), std::string::npos) << r.status().message();
}

std::string FolderWithImage(const std::string& name, const std::string& image) {
  const std::string dir = NewFolder(name);
  WriteFile(dir + "/config.json", TinyConfig().dump());
  WriteFile(dir + "/model.safetensors", image);
  return dir;
}

TEST(HfBadInput, TruncatedFile) {
  const std::string dir = FolderWithImage("trunc", std::string("\x10\x00\x00", 3));
  ExpectError(dir, {dir + "/model.safetensors", "too short"});
}

TEST(HfBadInput, HeaderLengthPastEndOfFile) {
  std::string image = Image(TinyTensors());
  image[2] = static_cast<char>(image[2] + 1);  // header length += 65536, past the end of the file
  const std::string dir = FolderWithImage("hdrlen", image);
  ExpectError(dir, {"model.safetensors", "header length", "past the end"});
}

TEST(HfBadInput, HeaderLengthOverTheCap) {
  std::string image = Image(TinyTensors());
  image[7] = 1;  // 2^56
  ExpectError(FolderWithImage("hdrcap", image), {"model.safetensors", "exceeds"});
}

TEST(HfBadInput, HeaderNotAnObject) {
  ExpectError(FolderWithImage("notobj", Image({}, "[1, 2, 3]")), {"model.safetensors", "expected a JSON object"});
  ExpectError(FolderWithImage("notjson", Image({}, "{\"a\": ")), {"model.safetensors", "not valid JSON"});
}

TEST(HfBadInput, UnknownDtypeString) {
  std::vector<Entry> t = TinyTensors();
  t[1].dtype = "Q4";
  ExpectError(FolderWithImage("dtype", Image(t)), {"model.safetensors", t[1].name, "unknown dtype 'Q4'"});
}

TEST(HfBadInput, DataOffsetsOutOfRange) {
  std::vector<Entry> t = TinyTensors();
  const size_t natural = Image(t).size();
  t.back().end = 1 << 20;  // far past the data the file holds
  std::string image = Image(t);
  image.resize(natural);
  ExpectError(FolderWithImage("range", image), {"model.norm.weight", "outside the data section"});
}

TEST(HfBadInput, OverlappingTensors) {
  std::vector<Entry> t = TinyTensors();
  t[1].begin = 0;  // starts inside the embedding
  ExpectError(FolderWithImage("overlap", Image(t)), {"model.safetensors", "overlap", t[1].name});
}

TEST(HfBadInput, OffsetsDisagreeWithShapeAndDtype) {
  std::vector<Entry> t = TinyTensors();
  t[1].begin = 16 * 32 * 4;
  t[1].end = t[1].begin + 64;  // 32 floats need 128 bytes
  ExpectError(FolderWithImage("size", Image(t)), {t[1].name, "hold 64 bytes", "needs 128"});
}

TEST(HfBadInput, ShapeMismatchAgainstConfig) {
  std::vector<Entry> t = TinyTensors();
  for (Entry& e : t) {
    if (e.name == "model.layers.0.self_attn.k_proj.weight") e.shape = {32, 32};
  }
  ExpectError(WriteFolder("shape", TinyConfig(), t), {"model.safetensors", "model.layers.0.self_attn.k_proj.weight",
                                                      "[32, 32]", "expected [16, 32]", "config.json"});
}

TEST(HfBadInput, UnsupportedDtypeForAWeight) {
  std::vector<Entry> t = TinyTensors();
  t[1].dtype = "I32";
  ExpectError(FolderWithImage("i32", Image(t)), {t[1].name, "dtype I32", "expected F32, F16 or BF16"});
}

TEST(HfBadInput, MissingRequiredTensor) {
  std::vector<Entry> t = TinyTensors();
  t.pop_back();
  ExpectError(WriteFolder("missing", TinyConfig(), t), {"model.norm.weight", "missing"});
}

TEST(HfBadInput, MissingShard) {
  const std::string dir = NewFolder("noshard");
  WriteFile(dir + "/config.json", TinyConfig().dump());
  nlohmann::json index = {{"weight_map", {{"model.norm.weight", "model-00002-of-00002.safetensors"}}}};
  WriteFile(dir + "/model.safetensors.index.json", index.dump());
  ExpectError(dir, {"model-00002-of-00002.safetensors", "missing"});
}

TEST(HfBadInput, IndexNamesAbsentTensor) {
  const std::string dir = NewFolder("absent");
  WriteFile(dir + "/config.json", TinyConfig().dump());
  WriteFile(dir + "/model-00001-of-00001.safetensors", Image(TinyTensors()));
  nlohmann::json index = {{"weight_map", {{"model.layers.5.mlp.up_proj.weight", "model-00001-of-00001.safetensors"}}}};
  WriteFile(dir + "/model.safetensors.index.json", index.dump());
  ExpectError(dir, {"model.layers.5.mlp.up_proj.weight", "does not hold it"});
}

TEST(HfBadInput, IndexEscapingTheFolder) {
  const std::string dir = NewFolder("escape");
  WriteFile(dir + "/config.json", TinyConfig().dump());
  nlohmann::json index = {{"weight_map", {{"model.norm.weight", "../other/model.safetensors"}}}};
  WriteFile(dir + "/model.safetensors.index.json", index.dump());
  ExpectError(dir, {"model.norm.weight", "same folder"});
}

TEST(HfBadInput, QuantizationInconsistentWithShapes) {
  nlohmann::json c = TinyConfig();
  c["quantization"] = {{"group_size", 64}, {"bits", 4}};  // the tensors were made for groups of 32
  ExpectError(WriteFolder("qshape", c, TinyTensors("BF16", 4, 32)),
              {"model.safetensors", "model.embed_tokens.weight", "inconsistent with tensor shapes"});
}

TEST(HfBadInput, PackedWeightWithoutQuantizationConfig) {
  ExpectError(WriteFolder("noquant", TinyConfig(), TinyTensors("BF16", 4, 32)),
              {"model.embed_tokens.weight", "no quantization setting"});
}

TEST(HfBadInput, QuantizedWeightWithoutBiases) {
  nlohmann::json c = TinyConfig();
  c["quantization"] = {{"group_size", 32}, {"bits", 4}};
  std::vector<Entry> t = TinyTensors("BF16", 4, 32);
  std::erase_if(t, [](const Entry& e) { return e.name == "model.layers.0.self_attn.v_proj.biases"; });
  ExpectError(WriteFolder("nobias", c, t), {"model.layers.0.self_attn.v_proj", "biases' is missing"});
}

TEST(HfBadInput, ConfigErrorsNameTheKey) {
  const auto bad = [](const std::string& name, nlohmann::json c, std::initializer_list<std::string> parts) {
    ExpectError(WriteFolder(name, c, TinyTensors()), parts);
  };
  nlohmann::json c = TinyConfig();
  c.erase("hidden_size");
  bad("nohidden", c, {"config.json", "'hidden_size' is missing"});
  c = TinyConfig("gpt2");
  bad("type", c, {"config.json", "model_type 'gpt2'"});
  c = TinyConfig();
  c["num_key_value_heads"] = 3;
  bad("gqa", c, {"config.json", "not a multiple of num_key_value_heads 3"});
  c = TinyConfig();
  c["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}};
  bad("yarn", c, {"config.json", "rope_scaling.rope_type", "yarn"});
  c = TinyConfig();
  c["quantization"] = {{"group_size", 48}, {"bits", 4}};
  bad("group", c, {"config.json", "quantization.group_size", "48"});
  c = TinyConfig();
  c["vocab_size"] = "16";
  bad("vocabtype", c, {"config.json", "vocab_size"});
  const std::string dir = NewFolder("notjson");
  WriteFile(dir + "/config.json", "{");
  WriteFile(dir + "/model.safetensors", Image(TinyTensors()));
  ExpectError(dir, {"config.json", "not valid JSON"});
}

TEST(HfBadInput, FolderWithoutConfig) {
  const std::string dir = NewFolder("noconfig");
  WriteFile(dir + "/model.safetensors", Image(TinyTensors()));
  Result<ModelIndex> r = ReadModel(dir);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find(dir + ": a folder without config.json"), std::string::npos) << r.status().message();
}

TEST(HfBadInput, NoWeightsFile) {
  const std::string dir = NewFolder("noweights");
  WriteFile(dir + "/config.json", TinyConfig().dump());
  ExpectError(dir, {"neither model.safetensors nor model.safetensors.index.json"});
}

}  // namespace
}  // namespace flashstream
