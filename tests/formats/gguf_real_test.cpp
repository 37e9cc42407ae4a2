// The reader on real files: SmolLM2-135M-Instruct Q4_1 (env FS_MODEL_SMOLLM2) and the Llama-2
// SentencePiece vocab-only GGUF (FS_SHARED_DATA).
#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include "formats/gguf_model.h"
#include "formats/gguf_test_util.h"
#include "io/file.h"

namespace flashstream {
namespace {

using namespace testing_gguf;

std::string SmolLm2Path() {
  const char* p = std::getenv("FS_MODEL_SMOLLM2");
  return p ? p : "";
}

TEST(GgufSmolLm2, ConfigTensorsAndTokenizer) {
  const std::string path = SmolLm2Path();
  if (path.empty()) GTEST_SKIP() << "FS_MODEL_SMOLLM2 is not set (path of SmolLM2-135M-Instruct.Q4_1.gguf)";
  Result<ModelIndex> index = ReadGgufModel(path);
  ASSERT_TRUE(index.ok()) << index.status().message();
  const ModelConfig& c = index->config;
  EXPECT_EQ(c.arch, "llama");
  EXPECT_EQ(c.n_layers, 30);
  EXPECT_EQ(c.n_embd, 576);
  EXPECT_EQ(c.n_heads, 9);
  EXPECT_EQ(c.n_kv_heads, 3);
  EXPECT_EQ(c.head_dim, 64);
  EXPECT_EQ(c.n_ff, 1536);
  EXPECT_EQ(c.vocab_size, 49152);
  EXPECT_EQ(c.context_length, 8192);
  EXPECT_EQ(c.rope_dim, 64);
  EXPECT_FLOAT_EQ(c.rope_theta, 100000.f);
  EXPECT_FLOAT_EQ(c.rms_eps, 1e-5f);
  EXPECT_TRUE(c.tied_embeddings);
  EXPECT_TRUE(c.rope_interleaved);

  ASSERT_EQ(index->tensors.size(), 272u);
  std::map<DType, int> dtypes;
  for (const TensorInfo& t : index->tensors) ++dtypes[t.dtype];
  EXPECT_EQ(dtypes[DType::kQ4_1], 210);
  EXPECT_EQ(dtypes[DType::kF32], 61);
  EXPECT_EQ(dtypes[DType::kQ8_0], 1);
  const TensorInfo* embd = index->Find("token_embd.weight");
  ASSERT_NE(embd, nullptr);
  EXPECT_EQ(embd->dtype, DType::kQ8_0);
  EXPECT_EQ(embd->shape, MakeShape({49152, 576}));
  EXPECT_EQ(embd->bytes, 49152u * 576 / 32 * 34);
  const TensorInfo* down = index->Find("blk.29.ffn_down.weight");
  ASSERT_NE(down, nullptr);
  EXPECT_EQ(down->shape, MakeShape({576, 1536}));
  EXPECT_EQ(index->Find("output.weight"), nullptr);
  // Tensors tile the data section: each extent lies in the file, in order, without overlap.
  const uint64_t size = std::filesystem::file_size(path);
  uint64_t end = 0;
  for (const TensorInfo& t : index->tensors) {
    EXPECT_GE(t.offset, end) << t.name;
    end = t.offset + t.bytes;
  }
  EXPECT_LE(end, size);
  EXPECT_GE(end + 32, size);

  const TokenizerSpec& tok = index->tokenizer;
  EXPECT_EQ(tok.kind, TokenizerSpec::Kind::kBpe);
  EXPECT_EQ(tok.pre, "smollm");
  EXPECT_EQ(tok.tokens.size(), 49152u);
  EXPECT_EQ(tok.types.size(), 49152u);
  EXPECT_EQ(tok.merges.size(), 48900u);
  EXPECT_TRUE(tok.scores.empty());
  EXPECT_EQ(tok.tokens[tok.bos_id], "<|im_start|>");
  EXPECT_EQ(tok.tokens[tok.eos_id], "<|im_end|>");
  EXPECT_EQ(tok.unk_id, 0);
  EXPECT_EQ(tok.pad_id, 2);
  EXPECT_FALSE(tok.add_bos);
  EXPECT_FALSE(tok.add_space_prefix);
  EXPECT_NE(tok.chat_template.find("<|im_start|>"), std::string::npos);
  EXPECT_EQ(index->metadata.at("tokenizer.ggml.merges"), "[48900 x string]");
  EXPECT_EQ(index->metadata.at("general.languages"), "[1 x string]");
}

TEST(GgufSmolLm2, EveryHeaderPrefixIsTruncationNotGarbage) {
  const std::string path = SmolLm2Path();
  if (path.empty()) GTEST_SKIP() << "FS_MODEL_SMOLLM2 is not set (path of SmolLM2-135M-Instruct.Q4_1.gguf)";
  Result<GgufFile> full = ReadGgufFile(path);
  ASSERT_TRUE(full.ok()) << full.status().message();
  Result<std::vector<std::byte>> head = ReadRange(path, 0, full->header_bytes);
  ASSERT_TRUE(head.ok());
  for (uint64_t cut = 0; cut < full->header_bytes; cut += 4099) {
    bool truncated = false;
    Result<GgufFile> r = ParseGguf(std::span(*head).first(cut), full->file_size, path, &truncated);
    ExpectError(r.status(), {path, "header truncated"});
    EXPECT_TRUE(truncated);
  }
}

TEST(GgufSpmVocab, TokenizerOfVocabOnlyFile) {
  const std::string path = SharedDataDir() + "/llama2-spm-vocab-only.gguf";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " not found (set FS_SHARED_DATA)";
  Result<TokenizerSpec> tok = ReadGgufTokenizer(path);
  ASSERT_TRUE(tok.ok()) << tok.status().message();
  EXPECT_EQ(tok->kind, TokenizerSpec::Kind::kSpm);
  EXPECT_EQ(tok->pre, "default");
  ASSERT_EQ(tok->tokens.size(), 32000u);
  EXPECT_EQ(tok->scores.size(), 32000u);
  EXPECT_EQ(tok->types.size(), 32000u);
  EXPECT_TRUE(tok->merges.empty());
  EXPECT_EQ(tok->tokens[tok->bos_id], "<s>");
  EXPECT_EQ(tok->tokens[tok->eos_id], "</s>");
  EXPECT_EQ(tok->tokens[tok->unk_id], "<unk>");
  EXPECT_EQ(tok->types[tok->unk_id], TokenizerSpec::kUnknown);
  EXPECT_EQ(tok->types[3], TokenizerSpec::kByte);  // <0x00>
  EXPECT_TRUE(tok->add_bos);
  EXPECT_FALSE(tok->add_eos);
  EXPECT_TRUE(tok->add_space_prefix);  // SentencePiece default: the key is absent

  // Its hyperparameters parse, but a model index needs tensors.
  Result<GgufFile> f = ReadGgufFile(path);
  ASSERT_TRUE(f.ok());
  Result<ModelConfig> config = ConfigFromGguf(*f);
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->n_layers, 32);
  EXPECT_EQ(config->n_embd, 4096);
  EXPECT_EQ(config->vocab_size, 32000);
  EXPECT_EQ(config->head_dim, 128);
  ExpectError(ReadGgufModel(path).status(), {path, "'token_embd.weight'", "missing"});
}

}  // namespace
}  // namespace flashstream
