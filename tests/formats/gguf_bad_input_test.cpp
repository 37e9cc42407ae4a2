// Corrupt and inconsistent GGUF files: each must give an error naming the file and the key or
// tensor at fault. Fixtures are written with GgufWriter and then patched.
#include <gtest/gtest.h>

#include <limits>

#include "formats/gguf_model.h"
#include "formats/gguf_test_util.h"

namespace flashstream {
namespace {

using namespace testing_gguf;

class GgufBadInput : public ::testing::Test {
 protected:
  void SetUp() override {
    writer_ = TinyLlamaWriter();
    path_ = WriteTiny(writer_, "good.gguf");
    bytes_ = ReadAll(path_);
    bad_path_ = TempPath("bad.gguf");
    ASSERT_TRUE(ReadGgufModel(path_).ok());
  }
  // Writes the patched bytes to a new file and reads it as a model.
  Status ReadPatched() {
    WriteAll(bad_path_, bytes_);
    return ReadGgufModel(bad_path_).status();
  }
  // Writes a tiny model built by `w` and reads it back.
  Status ReadWritten(const GgufWriter& w) {
    Status s = w.Write(bad_path_, PatternSource(w));
    if (!s.ok()) return s;
    return ReadGgufModel(bad_path_).status();
  }

  GgufWriter writer_;
  std::string path_;
  std::string bad_path_;  // set once: error messages are checked against it
  std::vector<std::byte> bytes_;
};

TEST_F(GgufBadInput, TruncatedAtEveryHeaderByteAndThroughTheData) {
  Result<GgufFile> full = ParseGguf(bytes_, bytes_.size(), path_);
  ASSERT_TRUE(full.ok());
  std::vector<uint64_t> cuts;
  for (uint64_t c = 0; c <= full->data_start; ++c) cuts.push_back(c);
  for (uint64_t c = full->data_start; c < bytes_.size(); c += 97) cuts.push_back(c);
  cuts.push_back(bytes_.size() - 1);
  for (uint64_t cut : cuts) {
    // The whole (short) file is at hand: the error is a bad file, not a short prefix.
    bool truncated = true;
    Result<GgufFile> r = ParseGguf(std::span(bytes_).first(cut), cut, "cut.gguf", &truncated);
    ASSERT_FALSE(r.ok()) << "cut at " << cut;
    EXPECT_NE(r.status().message().find("cut.gguf"), std::string::npos) << r.status().message();
    EXPECT_FALSE(truncated) << r.status().message();
  }
  bytes_.resize(full->data_start + 100);
  ExpectError(ReadPatched(), {bad_path_, "'token_embd.weight'", "past the end of the file"});
}

TEST_F(GgufBadInput, WrongMagic) {
  bytes_[0] = std::byte{'X'};
  ExpectError(ReadPatched(), {bad_path_, "not a GGUF file", "'XGUF'"});
}

TEST_F(GgufBadInput, WrongVersion) {
  Poke<uint32_t>(bytes_, 4, 2);
  ExpectError(ReadPatched(), {bad_path_, "version 2", "expected 3"});
}

TEST_F(GgufBadInput, HugeCounts) {
  Poke<uint64_t>(bytes_, 16, uint64_t{1} << 62);
  ExpectError(ReadPatched(), {bad_path_, "metadata count 4611686018427387904"});
  bytes_ = ReadAll(path_);
  Poke<uint64_t>(bytes_, 8, ~uint64_t{0});
  ExpectError(ReadPatched(), {bad_path_, "tensor count 18446744073709551615"});
}

TEST_F(GgufBadInput, BadMetadataTypeId) {
  Poke<uint32_t>(bytes_, KeyTypeOffset(bytes_, "general.name"), 99);
  ExpectError(ReadPatched(), {bad_path_, "'general.name'", "unknown value type id 99"});
}

TEST_F(GgufBadInput, StringLengthPastEnd) {
  Poke<uint64_t>(bytes_, KeyTypeOffset(bytes_, "general.name") + 4, uint64_t{1} << 40);
  ExpectError(ReadPatched(), {bad_path_, "'general.name'", "string length 1099511627776", "exceeds"});
}

TEST_F(GgufBadInput, KeyLengthPastEnd) {
  Poke<uint64_t>(bytes_, Find(bytes_, "general.architecture") - 8, ~uint64_t{0} - 3);
  ExpectError(ReadPatched(), {bad_path_, "metadata entry 0", "exceeds"});
}

TEST_F(GgufBadInput, ArrayCountPastEnd) {
  const size_t type = KeyTypeOffset(bytes_, "tokenizer.ggml.tokens");
  Poke<uint64_t>(bytes_, type + 8, uint64_t{1} << 60);  // after u32 array type + u32 element type
  ExpectError(ReadPatched(), {bad_path_, "'tokenizer.ggml.tokens'", "array of 1152921504606846976 x string"});
}

TEST_F(GgufBadInput, ArrayElementTypeInvalid) {
  Poke<uint32_t>(bytes_, KeyTypeOffset(bytes_, "tokenizer.ggml.merges") + 4, 13);
  ExpectError(ReadPatched(), {bad_path_, "'tokenizer.ggml.merges'", "unknown value type id 13"});
}

TEST_F(GgufBadInput, BoolByteNotZeroOrOne) {
  writer_.Set("tokenizer.ggml.add_bos_token", GgufValue::Bool(true));
  bytes_ = ReadAll(WriteTiny(writer_, "bool.gguf"));
  const size_t type = KeyTypeOffset(bytes_, "tokenizer.ggml.add_bos_token");
  bytes_[type + 4] = std::byte{7};
  ExpectError(ReadPatched(), {bad_path_, "'tokenizer.ggml.add_bos_token'", "bool byte 7"});
}

TEST_F(GgufBadInput, ArraysNestedTooDeep) {
  GgufValue v = GgufValue::I32Array({1});
  for (int i = 0; i < kGgufMaxArrayNesting; ++i) v = GgufValue::ArrayOfArrays({v});
  writer_.Set("test.deep", v);
  ExpectError(ReadWritten(writer_), {bad_path_, "'test.deep'", "nested deeper"});
}

TEST_F(GgufBadInput, DuplicateKey) {
  // Rename "llama.rope.freq_base" to another existing key of the same length.
  const size_t pos = Find(bytes_, "llama.rope.freq_base");
  const std::string dup = "general.architecture";
  ASSERT_EQ(dup.size(), std::string("llama.rope.freq_base").size());
  std::memcpy(bytes_.data() + pos, dup.data(), dup.size());
  ExpectError(ReadPatched(), {bad_path_, "'general.architecture'", "twice"});
}

TEST_F(GgufBadInput, UnknownAndUnsupportedTensorTypes) {
  const size_t info = TensorInfoOffset(bytes_, "blk.0.attn_q.weight");
  Poke<uint32_t>(bytes_, TensorTypeOffset(bytes_, info), 7);
  ExpectError(ReadPatched(), {bad_path_, "'blk.0.attn_q.weight'", "ggml type id 7 (Q5_1)"});
  Poke<uint32_t>(bytes_, TensorTypeOffset(bytes_, info), 200);
  ExpectError(ReadPatched(), {bad_path_, "'blk.0.attn_q.weight'", "ggml type id 200 (unknown)"});
}

TEST_F(GgufBadInput, TooManyDimsAndZeroDims) {
  const size_t info = TensorInfoOffset(bytes_, "blk.0.attn_q.weight");
  Poke<uint32_t>(bytes_, info, 5);
  ExpectError(ReadPatched(), {bad_path_, "'blk.0.attn_q.weight'", "5 dims", "expected 1..4"});
  bytes_ = ReadAll(path_);
  Poke<uint64_t>(bytes_, info + 4, 0);
  ExpectError(ReadPatched(), {bad_path_, "'blk.0.attn_q.weight'", "dim 0 (innermost first) is 0"});
  bytes_ = ReadAll(path_);
  Poke<uint64_t>(bytes_, info + 4, uint64_t{1} << 40);
  Poke<uint64_t>(bytes_, info + 12, uint64_t{1} << 40);
  ExpectError(ReadPatched(), {bad_path_, "'blk.0.attn_q.weight'", "dim 1"});
}

TEST_F(GgufBadInput, RowNotMultipleOfBlock) {
  TinyModel m;
  m.dtype = DType::kQ8_0;
  bytes_ = ReadAll(WriteTiny(TinyLlamaWriter(m), "q8.gguf"));
  const size_t info = TensorInfoOffset(bytes_, "blk.1.ffn_up.weight");
  Poke<uint64_t>(bytes_, info + 4, 48);
  ExpectError(ReadPatched(), {bad_path_, "'blk.1.ffn_up.weight'", "row length 48", "q8_0 block size 32"});
}

TEST_F(GgufBadInput, TensorOffsetOutOfRange) {
  const size_t info = TensorInfoOffset(bytes_, "output_norm.weight");
  Poke<uint64_t>(bytes_, TensorOffsetOffset(bytes_, info), uint64_t{1} << 40);
  ExpectError(ReadPatched(), {bad_path_, "'output_norm.weight'", "past the end of the file"});
  Poke<uint64_t>(bytes_, TensorOffsetOffset(bytes_, info), ~uint64_t{0} - 31);
  ExpectError(ReadPatched(), {bad_path_, "'output_norm.weight'", "past the end of the file"});
}

TEST_F(GgufBadInput, UnalignedOffset) {
  const size_t info = TensorInfoOffset(bytes_, "blk.1.ffn_norm.weight");
  const size_t at = TensorOffsetOffset(bytes_, info);
  Poke<uint64_t>(bytes_, at, Peek<uint64_t>(bytes_, at) + 4);
  ExpectError(ReadPatched(), {bad_path_, "'blk.1.ffn_norm.weight'", "not a multiple of the alignment 32"});
}

TEST_F(GgufBadInput, OverlappingTensors) {
  const size_t k = TensorOffsetOffset(bytes_, TensorInfoOffset(bytes_, "blk.0.attn_k.weight"));
  const size_t v = TensorOffsetOffset(bytes_, TensorInfoOffset(bytes_, "blk.0.attn_v.weight"));
  Poke<uint64_t>(bytes_, v, Peek<uint64_t>(bytes_, k) + 32);
  ExpectError(ReadPatched(), {bad_path_, "'blk.0.attn_v.weight'", "overlaps tensor 'blk.0.attn_k.weight'"});
}

TEST_F(GgufBadInput, DuplicateTensorName) {
  const size_t v = TensorInfoOffset(bytes_, "blk.0.attn_v.weight");
  bytes_[v - std::string(".weight").size() - 1] = std::byte{'k'};  // blk.0.attn_v -> blk.0.attn_k
  ExpectError(ReadPatched(), {bad_path_, "'blk.0.attn_k.weight'", "twice"});
}

TEST_F(GgufBadInput, BadAlignmentKey) {
  writer_.Set("general.alignment", GgufValue::U32(48));
  ExpectError(ReadWritten(writer_), {bad_path_, "'general.alignment'", "48", "power of two"});
  writer_.Set("general.alignment", GgufValue::String("32"));
  ExpectError(ReadWritten(writer_), {bad_path_, "'general.alignment'", "string"});
}

TEST_F(GgufBadInput, MissingRequiredTensor) {
  TinyModel m;
  m.skip_tensors = {"blk.1.ffn_down.weight"};
  ExpectError(ReadWritten(TinyLlamaWriter(m)), {bad_path_, "'blk.1.ffn_down.weight'", "missing"});
  m.skip_tensors = {"output_norm.weight"};
  ExpectError(ReadWritten(TinyLlamaWriter(m)), {bad_path_, "'output_norm.weight'", "missing"});
}

TEST_F(GgufBadInput, MisShapedTensor) {
  TinyModel m;
  m.skip_tensors = {"blk.0.attn_k.weight"};
  GgufWriter w = TinyLlamaWriter(m);
  ASSERT_TRUE(w.AddTensor("blk.0.attn_k.weight", DType::kF32, MakeShape({64, 64})).ok());
  ExpectError(ReadWritten(w), {bad_path_, "'blk.0.attn_k.weight'", "shape [64, 64]", "expected [32, 64]"});

  m.skip_tensors = {"token_embd.weight"};
  w = TinyLlamaWriter(m);
  ASSERT_TRUE(w.AddTensor("token_embd.weight", DType::kF32, MakeShape({64, 8})).ok());
  ExpectError(ReadWritten(w), {bad_path_, "'token_embd.weight'", "shape [64, 8]", "expected [8, 64]"});

  m.skip_tensors = {"blk.1.ffn_norm.weight"};
  w = TinyLlamaWriter(m);
  ASSERT_TRUE(w.AddTensor("blk.1.ffn_norm.weight", DType::kQ8_0, MakeShape({64})).ok());
  ExpectError(ReadWritten(w), {bad_path_, "'blk.1.ffn_norm.weight'", "dtype q8_0"});
}

TEST_F(GgufBadInput, TensorBeyondBlockCount) {
  writer_.Set("llama.block_count", GgufValue::U32(1));
  ExpectError(ReadWritten(writer_), {bad_path_, "'blk.1.", "layer 1", "block_count' is 1"});
}

TEST_F(GgufBadInput, UnknownArchitecture) {
  writer_.Set("general.architecture", GgufValue::String("gpt9"));
  ExpectError(ReadWritten(writer_), {bad_path_, "'general.architecture'", "'gpt9'", "supported: llama"});
}

TEST_F(GgufBadInput, AbsurdHyperparameters) {
  struct Case {
    std::string key;
    GgufValue value;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {"llama.block_count", GgufValue::U32(0), "is 0, expected 1..1024"},
      {"llama.block_count", GgufValue::U32(5000), "is 5000"},
      {"llama.block_count", GgufValue::String("2"), "type string, expected an integer"},
      {"llama.embedding_length", GgufValue::U64(uint64_t{1} << 40), "1099511627776"},
      {"llama.feed_forward_length", GgufValue::I32(-128), "is -128"},
      {"llama.attention.head_count_kv", GgufValue::U32(3), "does not divide head_count 4"},
      {"llama.attention.head_count_kv", GgufValue::U32(8), "is 8, expected 1..4"},
      {"llama.attention.head_count", GgufValue::U32(6), "does not divide embedding_length 64"},
      {"llama.attention.layer_norm_rms_epsilon", GgufValue::F32(-1.f), "is -1"},
      {"llama.attention.layer_norm_rms_epsilon", GgufValue::U32(1), "expected f32"},
      {"llama.rope.freq_base", GgufValue::F32(std::numeric_limits<float>::infinity()), "finite"},
      {"llama.rope.dimension_count", GgufValue::U32(17), "expected 2..16"},
      {"llama.context_length", GgufValue::U32(0), "is 0"},
      {"llama.vocab_size", GgufValue::U32(1u << 23), "is 8388608"},
      {"llama.vocab_size", GgufValue::U32(4), "more than the vocabulary size 4"},
      {"llama.attention.value_length", GgufValue::U32(8), "expected key_length 16"},
      {"llama.rope.scaling.type", GgufValue::String("yarn"), "'yarn'"},
      {"llama.attention.sliding_window", GgufValue::I32(-1), "is -1"},
      {"llama.attention.scale", GgufValue::F32(0.f), "is 0"},
      {"llama.final_logit_softcapping", GgufValue::F32(-30.f), "is -30"},
      {"llama.rope.freq_base_swa", GgufValue::F32(0.f), "is 0"},
  };
  for (const Case& c : cases) {
    GgufWriter w = TinyLlamaWriter();
    w.Set(c.key, c.value);
    SCOPED_TRACE(c.key + " -> " + c.expect);
    ExpectError(ReadWritten(w), {bad_path_, c.key, c.expect});
  }
}

TEST_F(GgufBadInput, MissingRequiredKey) {
  GgufWriter w;
  for (const auto& [key, value] : writer_.metadata()) {
    if (key != "llama.feed_forward_length") w.Set(key, value);
  }
  ExpectError(ReadGgufModel(WriteTiny(w, "nokey.gguf")).status(), {"nokey.gguf", "'llama.feed_forward_length'", "missing"});
}

TEST_F(GgufBadInput, Llama3RopeScaling) {
  writer_.Set("llama.rope.scaling.type", GgufValue::String("llama3"));
  ExpectError(ReadWritten(writer_), {bad_path_, "'llama.rope.scaling.factor'", "missing"});
  writer_.Set("llama.rope.scaling.factor", GgufValue::F32(8.f));
  writer_.Set("llama.rope.scaling.original_context_length", GgufValue::U32(8192));
  writer_.Set("llama.rope.scaling.low_freq_factor", GgufValue::F32(2.f));
  Result<ModelIndex> index = ReadGgufModel(WriteTiny(writer_, "llama3.gguf"));
  ASSERT_TRUE(index.ok()) << index.status().message();
  EXPECT_EQ(index->config.rope_scale_factor, 8.f);
  EXPECT_EQ(index->config.rope_original_context, 8192);
  EXPECT_EQ(index->config.rope_low_freq_factor, 2.f);
  EXPECT_EQ(index->config.rope_high_freq_factor, 4.f);
  writer_.Set("llama.rope.scaling.high_freq_factor", GgufValue::F32(1.f));
  ExpectError(ReadWritten(writer_), {bad_path_, "high_freq_factor' is 1"});
}

TEST_F(GgufBadInput, BadTokenizer) {
  struct Case {
    std::string key;
    GgufValue value;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {"tokenizer.ggml.model", GgufValue::String("bert"), "'bert'"},
      {"tokenizer.ggml.bos_token_id", GgufValue::U32(8), "is 8, expected 0..7"},
      {"tokenizer.ggml.eot_token_id", GgufValue::I32(-1), "is -1"},
      {"tokenizer.ggml.scores", GgufValue::F32Array({1.f, 2.f}), "2 elements, expected one per token (8)"},
      {"tokenizer.ggml.token_type", GgufValue::I32Array({1, 1, 1, 1, 1, 1, 1, 9}), "element 7 is 9"},
      {"tokenizer.ggml.tokens", GgufValue::F32Array({1.f}), "array of f32, expected array of string"},
      {"tokenizer.ggml.tokens", GgufValue::StringArray({}), "is empty"},
      {"tokenizer.ggml.merges", GgufValue::StringArray({"ab"}), "element 0 is 'ab'"},
      {"tokenizer.ggml.add_bos_token", GgufValue::U32(1), "expected bool"},
  };
  for (const Case& c : cases) {
    GgufWriter w = TinyLlamaWriter();
    w.Set(c.key, c.value);
    SCOPED_TRACE(c.key + " -> " + c.expect);
    ExpectError(ReadWritten(w), {bad_path_, c.key, c.expect});
  }
}

}  // namespace
}  // namespace flashstream
