// GgufWriter -> ParseGguf / ReadGgufModel round trips.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "formats/gguf_model.h"
#include "formats/gguf_test_util.h"
#include "io/file.h"

namespace flashstream {
namespace {

using namespace testing_gguf;

TEST(GgufWriter, AllValueTypesRoundTrip) {
  GgufWriter w;
  w.Set("t.u8", GgufValue::Int(GgufType::kU8, 250));
  w.Set("t.i8", GgufValue::Int(GgufType::kI8, -100));
  w.Set("t.u16", GgufValue::Int(GgufType::kU16, 65000));
  w.Set("t.i16", GgufValue::Int(GgufType::kI16, -32000));
  w.Set("t.u32", GgufValue::U32(4000000000u));
  w.Set("t.i32", GgufValue::I32(-2000000000));
  w.Set("t.u64", GgufValue::U64(18000000000000000000ull));
  w.Set("t.i64", GgufValue::Int(GgufType::kI64, -9000000000000000000ll));
  w.Set("t.f32", GgufValue::F32(0.15625f));
  w.Set("t.f64", GgufValue::Float(GgufType::kF64, -1.0 / 3.0));
  w.Set("t.bool", GgufValue::Bool(true));
  w.Set("t.str", GgufValue::String(std::string("with\0nul", 8)));
  w.Set("t.empty_str", GgufValue::String(""));
  w.Set("t.strs", GgufValue::StringArray({"x", "", "yz"}));
  w.Set("t.f32s", GgufValue::F32Array({1.5f, -2.f}));
  w.Set("t.i32s", GgufValue::I32Array({-7, 8, 9}));
  w.Set("t.empty", GgufValue::I32Array({}));
  w.Set("t.nested", GgufValue::ArrayOfArrays({GgufValue::StringArray({"a"}), GgufValue::F32Array({3.f, 4.f}),
                                              GgufValue::ArrayOfArrays({GgufValue::I32Array({5})})}));
  w.Set("t.u32", GgufValue::U32(7));  // replaces the first value
  const std::string path = TempPath("values.gguf");
  ASSERT_TRUE(w.Write(path, PatternSource(w)).ok());

  Result<GgufFile> f = ReadGgufFile(path);
  ASSERT_TRUE(f.ok()) << f.status().message();
  EXPECT_EQ(f->kv.size(), w.metadata().size());
  EXPECT_EQ(f->Find("t.u8")->AsInt(), 250);
  EXPECT_EQ(f->Find("t.i8")->AsInt(), -100);
  EXPECT_EQ(f->Find("t.u16")->AsInt(), 65000);
  EXPECT_EQ(f->Find("t.i16")->AsInt(), -32000);
  EXPECT_EQ(f->Find("t.u32")->AsInt(), 7);
  EXPECT_EQ(f->Find("t.i32")->AsInt(), -2000000000);
  EXPECT_EQ(f->Find("t.u64")->scalar, 18000000000000000000ull);
  EXPECT_FALSE(f->Find("t.u64")->AsInt().has_value());  // above INT64_MAX
  EXPECT_EQ(f->Find("t.i64")->AsInt(), -9000000000000000000ll);
  EXPECT_EQ(f->Find("t.f32")->AsFloat(), 0.15625);
  EXPECT_EQ(f->Find("t.f64")->AsFloat(), -1.0 / 3.0);
  EXPECT_EQ(f->Find("t.bool")->AsBool(), true);
  EXPECT_EQ(f->Find("t.str")->str, std::string("with\0nul", 8));
  EXPECT_EQ(f->Find("t.empty_str")->str, "");
  EXPECT_EQ(f->Find("t.strs")->strings, (std::vector<std::string>{"x", "", "yz"}));
  EXPECT_EQ(f->Find("t.strs")->ToString(), "[3 x string]");
  EXPECT_EQ(f->Find("t.i32s")->count, 3u);
  EXPECT_EQ(static_cast<int32_t>(f->Find("t.i32s")->ElementBits(0)), -7);
  EXPECT_EQ(f->Find("t.empty")->count, 0u);
  const GgufValue& nested = *f->Find("t.nested");
  ASSERT_EQ(nested.arrays.size(), 3u);
  EXPECT_EQ(nested.arrays[0].strings, std::vector<std::string>{"a"});
  EXPECT_EQ(nested.arrays[1].count, 2u);
  ASSERT_EQ(nested.arrays[2].arrays.size(), 1u);
  EXPECT_EQ(nested.arrays[2].arrays[0].ElementBits(0), 5u);
  EXPECT_EQ(f->Find("t.absent"), nullptr);
  EXPECT_TRUE(f->tensors.empty());
}

TEST(GgufWriter, TinyModelRoundTripsConfigTensorsAndBytes) {
  TinyModel m;
  m.dtype = DType::kQ8_0;
  m.tied = false;
  GgufWriter w = TinyLlamaWriter(m);
  const std::string path = WriteTiny(w);
  Result<ModelIndex> index = ReadGgufModel(path);
  ASSERT_TRUE(index.ok()) << index.status().message();
  const ModelConfig& c = index->config;
  EXPECT_EQ(c.arch, "llama");
  EXPECT_EQ(c.name, "tiny test model");
  EXPECT_EQ(c.n_layers, m.n_layers);
  EXPECT_EQ(c.n_embd, m.n_embd);
  EXPECT_EQ(c.n_heads, m.n_heads);
  EXPECT_EQ(c.n_kv_heads, m.n_kv_heads);
  EXPECT_EQ(c.head_dim, m.n_embd / m.n_heads);
  EXPECT_EQ(c.rope_dim, c.head_dim);
  EXPECT_EQ(c.n_ff, m.n_ff);
  EXPECT_EQ(c.vocab_size, static_cast<int>(TinyTokens().size()));
  EXPECT_EQ(c.context_length, 256);
  EXPECT_FLOAT_EQ(c.rms_eps, 1e-6f);
  EXPECT_FLOAT_EQ(c.rope_theta, 50000.f);
  EXPECT_FALSE(c.tied_embeddings);
  EXPECT_TRUE(c.rope_interleaved);
  EXPECT_EQ(c.rope_scale_factor, 0.f);

  EXPECT_EQ(index->format, "gguf");
  EXPECT_EQ(index->files, std::vector<std::string>{path});
  EXPECT_EQ(index->metadata.at("tokenizer.ggml.tokens"), "[8 x string]");
  EXPECT_EQ(index->metadata.at("llama.block_count"), "2");
  ASSERT_EQ(index->tensors.size(), w.tensors().size());
  const std::vector<std::byte> file = ReadAll(path);
  for (size_t i = 0; i < index->tensors.size(); ++i) {
    const TensorInfo& t = index->tensors[i];
    EXPECT_EQ(t.name, w.tensors()[i].name);
    EXPECT_EQ(t.dtype, w.tensors()[i].dtype);
    EXPECT_EQ(t.shape, w.tensors()[i].shape);
    EXPECT_EQ(t.offset % 32, 0u);
    ASSERT_LE(t.offset + t.bytes, file.size());
    for (uint64_t b = 0; b < t.bytes; b += 37) ASSERT_EQ(file[t.offset + b], PatternByte(i, b)) << t.name;
  }
  const TensorInfo* q = index->Find("blk.1.attn_q.weight");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->shape, MakeShape({64, 64}));
  EXPECT_EQ(q->bytes, RowBytes(DType::kQ8_0, 64) * 64);
  Result<std::vector<std::byte>> range = ReadRange(path, q->offset, q->bytes);
  ASSERT_TRUE(range.ok());
  EXPECT_EQ(range->at(5), PatternByte(static_cast<size_t>(q - index->tensors.data()), 5));

  const TokenizerSpec& tok = index->tokenizer;
  EXPECT_EQ(tok.kind, TokenizerSpec::Kind::kBpe);
  EXPECT_EQ(tok.tokens, TinyTokens());
  EXPECT_EQ(tok.merges, (std::vector<std::string>{"a b", "ab c"}));
  EXPECT_EQ(tok.types[0], TokenizerSpec::kUnknown);
  EXPECT_EQ(tok.bos_id, 1);
  EXPECT_EQ(tok.eos_id, 2);
  EXPECT_EQ(tok.unk_id, -1);
  EXPECT_FALSE(tok.add_bos);
  EXPECT_EQ(tok.chat_template, "{{ messages }}");
}

TEST(GgufWriter, CustomAlignmentIsRecordedAndHonoured) {
  GgufWriter w(4096);
  ASSERT_TRUE(w.AddTensor("a", DType::kF32, MakeShape({3})).ok());
  ASSERT_TRUE(w.AddTensor("b", DType::kF16, MakeShape({2, 5})).ok());
  const std::string path = TempPath("aligned.gguf");
  ASSERT_TRUE(w.Write(path, PatternSource(w)).ok());
  Result<GgufFile> f = ReadGgufFile(path);
  ASSERT_TRUE(f.ok()) << f.status().message();
  EXPECT_EQ(f->alignment, 4096u);
  EXPECT_EQ(f->data_start % 4096, 0u);
  ASSERT_EQ(f->tensors.size(), 2u);
  EXPECT_EQ(f->tensors[1].offset, 4096u);
  EXPECT_EQ(f->tensors[1].shape, MakeShape({2, 5}));
  EXPECT_EQ(f->tensors[1].bytes, 20u);
}

TEST(GgufWriter, RejectsBadTensorsAndShortOrLongSources) {
  GgufWriter w;
  ExpectError(w.AddTensor("q", DType::kQ8_0, MakeShape({4, 33})), {"'q'", "33", "q8_0"});
  ExpectError(w.AddTensor("z", DType::kF32, MakeShape({0, 3})), {"'z'"});
  ASSERT_TRUE(w.AddTensor("x", DType::kF32, MakeShape({4})).ok());
  ExpectError(w.AddTensor("x", DType::kF32, MakeShape({4})), {"'x'", "twice"});

  const std::string path = TempPath("short.gguf");
  Status s = w.Write(path, [](const GgufTensorInfo&, GgufTensorSink& sink) {
    const float v = 1.f;
    return sink.Write(&v, 4);
  });
  ExpectError(s, {path, "'x'", "4 of its 16 bytes"});
  EXPECT_FALSE(std::filesystem::exists(path));  // partial file removed
  s = w.Write(path, [](const GgufTensorInfo&, GgufTensorSink& sink) {
    const float v[5] = {};
    return sink.Write(v, sizeof(v));
  });
  ExpectError(s, {path, "'x'", "more than"});
}

TEST(GgufReader, GrowsThePrefixForLargeHeaders) {
  GgufWriter w = TinyLlamaWriter();
  w.Set("test.blob", GgufValue::String(std::string(40u << 20, 'x')));  // header > 2 x 16 MiB
  const std::string path = WriteTiny(w);
  Result<ModelIndex> index = ReadGgufModel(path);
  ASSERT_TRUE(index.ok()) << index.status().message();
  EXPECT_EQ(index->metadata.at("test.blob").size(), 40u << 20);
  EXPECT_EQ(index->tensors.size(), w.tensors().size());
  std::filesystem::remove(path);
}

TEST(GgufReader, PrefixShorterThanHeaderReportsTruncation) {
  GgufWriter w = TinyLlamaWriter();
  const std::vector<std::byte> bytes = ReadAll(WriteTiny(w));
  Result<GgufFile> full = ParseGguf(bytes, bytes.size(), "mem.gguf");
  ASSERT_TRUE(full.ok()) << full.status().message();
  for (uint64_t cut : {uint64_t{0}, uint64_t{3}, uint64_t{24}, full->header_bytes / 2, full->header_bytes - 1}) {
    bool truncated = false;
    Result<GgufFile> r = ParseGguf(std::span(bytes).first(cut), bytes.size(), "mem.gguf", &truncated);
    ExpectError(r.status(), {"mem.gguf", "header truncated"});
    EXPECT_TRUE(truncated) << cut;
  }
  bool truncated = true;
  EXPECT_TRUE(ParseGguf(std::span(bytes).first(full->header_bytes), bytes.size(), "mem.gguf", &truncated).ok());
  EXPECT_FALSE(truncated);
}

}  // namespace
}  // namespace flashstream
