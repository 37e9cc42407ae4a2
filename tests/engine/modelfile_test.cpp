// The Modelfile parser: every directive and PARAMETER lands in its options field; every error
// names the file and line; LoadModelfile resolves FROM next to the Modelfile. Also the named
// options table it shares with Python and the server.
#include "engine/modelfile.h"

#include <gtest/gtest.h>

#include <climits>
#include <filesystem>
#include <fstream>

#include "engine/option_table.h"

namespace flashstream {
namespace {

Status Parse(const std::string& text, ModelfileOptions* out) { return ParseModelfile(text, "Modelfile", out); }

TEST(Modelfile, EveryDirectiveAndParameter) {
  const std::string text = R"(# a comment
  # an indented comment
FROM ./model.gguf

PARAMETER temperature 0.25
PARAMETER top_k 7
parameter top_p 0.5
PARAMETER min_p 0.125
PARAMETER repeat_penalty 1.5
PARAMETER repeat_last_n -1
PARAMETER num_ctx 1024
PARAMETER num_predict 33
PARAMETER stop "<|im_end|>"
PARAMETER stop User:
PARAMETER seed 18446744073709551615
PARAMETER num_thread 3
PARAMETER lookup 4
PARAMETER draft_max 6
SYSTEM """You are
a "helpful" assistant."""
TEMPLATE """{% for m in messages %}{{ m.content }}{% endfor %}"""
MESSAGE user "Is the sky blue?"
MESSAGE assistant Yes.
RAM 1.5
DEVICE cuda:1
VRAM 6.5
PREFETCH 3
DRAFT_MODEL small.gguf
SELF_DRAFT 8
LICENSE """MIT"""
)";
  ModelfileOptions m;
  m.generate.stop = {"given"};
  Status s = Parse(text, &m);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(m.engine.model_path, "./model.gguf");
  EXPECT_FLOAT_EQ(m.generate.sampling.temperature, 0.25f);
  EXPECT_EQ(m.generate.sampling.top_k, 7);
  EXPECT_FLOAT_EQ(m.generate.sampling.top_p, 0.5f);
  EXPECT_FLOAT_EQ(m.generate.sampling.min_p, 0.125f);
  EXPECT_FLOAT_EQ(m.generate.sampling.repeat_penalty, 1.5f);
  EXPECT_EQ(m.generate.sampling.repeat_last_n, -1);
  EXPECT_EQ(m.engine.ctx, 1024);
  EXPECT_EQ(m.generate.max_tokens, 33);
  EXPECT_EQ(m.generate.stop, (std::vector<std::string>{"given", "<|im_end|>", "User:"}));
  EXPECT_EQ(m.generate.sampling.seed, UINT64_MAX);
  EXPECT_TRUE(m.seed_given);
  EXPECT_EQ(m.engine.threads, 3);
  EXPECT_EQ(m.chat.system, "You are\na \"helpful\" assistant.");
  EXPECT_EQ(m.engine.chat_template, "{% for m in messages %}{{ m.content }}{% endfor %}");
  ASSERT_EQ(m.chat.messages.size(), 2u);
  EXPECT_EQ(m.chat.messages[0].role, "user");
  EXPECT_EQ(m.chat.messages[0].content, "Is the sky blue?");
  EXPECT_EQ(m.chat.messages[1].role, "assistant");
  EXPECT_EQ(m.chat.messages[1].content, "Yes.");
  EXPECT_DOUBLE_EQ(m.engine.ram_gib, 1.5);
  EXPECT_EQ(m.engine.device, "cuda:1");
  EXPECT_DOUBLE_EQ(m.engine.vram_gib, 6.5);
  EXPECT_EQ(m.engine.prefetch_slots, 3);
  EXPECT_EQ(m.generate.lookup_ngram, 4);
  EXPECT_EQ(m.generate.draft_max, 6);
  EXPECT_EQ(m.engine.draft_model_path, "small.gguf");
  EXPECT_EQ(m.engine.self_draft_bits, 8);
  EXPECT_EQ(m.license, "MIT");
}

TEST(Modelfile, UnsetFieldsKeepTheirValuesAndQuotesAndLineEndings) {
  ModelfileOptions m;
  m.engine.threads = 5;
  m.generate.max_tokens = 9;
  Status s = Parse(
      "from \"a b.gguf\"\r\nPARAMETER num_predict -1\r\nSYSTEM\r\nPARAMETER stop \"say \\\"hi\\\" \\\\\"  \r\n", &m);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(m.engine.model_path, "a b.gguf");
  EXPECT_EQ(m.engine.threads, 5);
  EXPECT_EQ(m.generate.max_tokens, INT_MAX);  // -1: until end of generation or a full context
  EXPECT_EQ(m.chat.system, "");
  EXPECT_EQ(m.generate.stop, std::vector<std::string>{"say \"hi\" \\"});
  EXPECT_FALSE(m.seed_given);
}

TEST(Modelfile, ErrorsNameTheLine) {
  struct Case {
    std::string text;
    std::string error;  // expected part of the message
  };
  const std::vector<Case> cases = {
      {"", "Modelfile: no FROM line"},
      {"# only a comment\nPARAMETER top_k 3\n", "Modelfile: no FROM line"},
      {"FROM a\nFROM b\n", "Modelfile:2: FROM given twice (first on line 1)"},
      {"FROM a\nBOGUS 1\n", "Modelfile:2: unknown directive 'BOGUS'"},
      {"FROM a\nADAPTER x.bin\n", "Modelfile:2: ADAPTER"},
      {"FROM\n", "Modelfile:1: FROM needs a value"},
      {"FROM a\nPARAMETER\n", "Modelfile:2: PARAMETER needs a name"},
      {"FROM a\nPARAMETER top_k\n", "Modelfile:2: PARAMETER top_k needs a value"},
      {"FROM a\nPARAMETER mirostat 1\n", "Modelfile:2: unknown PARAMETER 'mirostat'"},
      {"FROM a\nPARAMETER ram 1\n", "Modelfile:2: unknown PARAMETER 'ram'"},
      {"FROM a\nPARAMETER temperature hot\n", "Modelfile:2: temperature: expected a number >= 0, got 'hot'"},
      {"FROM a\nPARAMETER temperature -1\n", "Modelfile:2: temperature"},
      {"FROM a\nPARAMETER temperature nan\n", "Modelfile:2: temperature"},
      {"FROM a\nPARAMETER temperature 0.5x\n", "Modelfile:2: temperature"},
      {"FROM a\nPARAMETER top_k 2.5\n", "Modelfile:2: top_k: expected an integer"},
      {"FROM a\nPARAMETER top_p 1.01\n", "Modelfile:2: top_p: expected a number in [0, 1]"},
      {"FROM a\nPARAMETER min_p -0.1\n", "Modelfile:2: min_p"},
      {"FROM a\nPARAMETER repeat_penalty 0\n", "Modelfile:2: repeat_penalty: expected a number > 0"},
      {"FROM a\nPARAMETER repeat_last_n -2\n", "Modelfile:2: repeat_last_n"},
      {"FROM a\nPARAMETER num_ctx -5\n", "Modelfile:2: num_ctx"},
      {"FROM a\nPARAMETER num_predict 0\n", "Modelfile:2: num_predict: expected a positive integer or -1"},
      {"FROM a\nPARAMETER seed -1\n", "Modelfile:2: seed"},
      {"FROM a\nPARAMETER seed 18446744073709551616\n", "Modelfile:2: seed"},
      {"FROM a\nPARAMETER stop \"\"\n", "Modelfile:2: stop: expected a non-empty string"},
      {"FROM a\nPARAMETER num_thread many\n", "Modelfile:2: num_thread"},
      {"FROM a\nMESSAGE tool hi\n", "Modelfile:2: MESSAGE role must be system, user or assistant, got 'tool'"},
      {"FROM a\nMESSAGE user\n", "Modelfile:2: MESSAGE user needs a value"},
      {"FROM a\nSYSTEM \"\"\"never closed\n\n", "Modelfile:2: unterminated \"\"\""},
      {"FROM a\nSYSTEM \"open\n", "Modelfile:2: unterminated \""},
      {"FROM a\nSYSTEM \"\"\"x\"\"\" trailing\n", "Modelfile:2: unexpected text after the closing quote"},
      {"FROM a\nSYSTEM \"\"\"two\nlines\"\"\" x\n", "Modelfile:3: unexpected text after the closing quote"},
      {"FROM a\nTEMPLATE \"{% if %}\"\n", "Modelfile:2: TEMPLATE: chat template"},
      {"FROM a\nTEMPLATE \"\"\"{{ if .System }}{{ .System }}{{ end }}\"\"\"\n", "Ollama Go template"},
      {"FROM a\nRAM lots\n", "Modelfile:2: ram: expected a number >= 0, got 'lots'"},
      {"FROM a\nPREFETCH 1\n", "Modelfile:2: prefetch: expected an integer in [2, 64], got '1'"},
      {"FROM a\nDEVICE tpu\n", "Modelfile:2: device: expected cpu, cuda or cuda:N, got 'tpu'"},
      {"FROM a\nDEVICE cuda:\n", "Modelfile:2: device: expected cpu, cuda or cuda:N"},
      {"FROM a\nVRAM -2\n", "Modelfile:2: vram: expected a number >= 0, got '-2'"},
      {"FROM a\nSELF_DRAFT 2\n", "Modelfile:2: self_draft: expected 0, 4 or 8, got '2'"},
      {"FROM a\nPARAMETER lookup 65\n", "Modelfile:2: lookup: expected an integer in [0, 64]"},
      {"FROM a\nPARAMETER draft_max 0\n", "Modelfile:2: draft_max: expected an integer in [1, 64]"},
      {"FROM a\nSYSTEM hi\n\xff\n", "Modelfile:3: not valid UTF-8"},
      {std::string("FROM a\nSYSTEM h\0i\n", 16), "Modelfile:2: not valid UTF-8 text (or holds a NUL byte)"},
  };
  for (const Case& c : cases) {
    ModelfileOptions m;
    Status s = Parse(c.text, &m);
    EXPECT_FALSE(s.ok()) << c.text;
    EXPECT_NE(s.message().find(c.error), std::string::npos) << c.text << "\n -> " << s.message();
  }
}

TEST(Modelfile, KvCacheDirectives) {
  ModelfileOptions m;
  Status s = Parse("FROM a\nKV_QUANT 4\nKV_WINDOW 64\nKV_RAM 0.5\n", &m);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(m.engine.kv_quant, 4);
  EXPECT_EQ(m.engine.kv_window, 64);
  EXPECT_DOUBLE_EQ(m.engine.kv_ram_gib, 0.5);
  ASSERT_TRUE(Parse("FROM a\nKV_QUANT 0\n", &m).ok());
  EXPECT_EQ(m.engine.kv_quant, 0);
  for (const auto& [line, error] : std::vector<std::pair<std::string, std::string>>{
           {"KV_QUANT 16", "Modelfile:2: kv_quant: expected 8, 4 or 0, got '16'"},
           {"KV_WINDOW -1", "Modelfile:2: kv_window: expected an integer in [0, "},
           {"KV_RAM x", "Modelfile:2: kv_ram: expected a number >= 0, got 'x'"}}) {
    ModelfileOptions bad;
    Status e = Parse("FROM a\n" + line + "\n", &bad);
    EXPECT_NE(e.message().find(error), std::string::npos) << line << " -> " << e.message();
  }
}

TEST(Modelfile, LoadResolvesFromNextToTheModelfile) {
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / "fs_modelfile_test";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "weights.gguf") << "x";
  std::ofstream(dir / "Modelfile") << "FROM weights.gguf\nPARAMETER temperature 0\n";
  std::ofstream(dir / "Hub") << "FROM org/name\n";
  ModelfileOptions m;
  Status s = LoadModelfile((dir / "Modelfile").string(), &m);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(m.engine.model_path, (dir / "weights.gguf").string());
  ModelfileOptions hub;
  ASSERT_TRUE(LoadModelfile((dir / "Hub").string(), &hub).ok());
  EXPECT_EQ(hub.engine.model_path, "org/name");  // not a file here: a hub id, kept
  ModelfileOptions missing;
  Status e = LoadModelfile((dir / "absent").string(), &missing);
  EXPECT_FALSE(e.ok());
  EXPECT_NE(e.message().find("cannot read the Modelfile"), std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST(OptionTable, NamesTargetsAndErrors) {
  EngineOptions e;
  GenerateOptions g;
  bool seed_given = false;
  const OptionTarget both{&e, &g, &seed_given};
  for (std::string_view name : OptionNames()) EXPECT_TRUE(IsOptionName(name)) << name;
  EXPECT_FALSE(IsOptionName("bogus"));
  ASSERT_TRUE(SetOption("model", "m.gguf", both).ok());
  ASSERT_TRUE(SetOption("io_depth", "32", both).ok());
  ASSERT_TRUE(SetOption("io_chunk_kib", "256", both).ok());
  ASSERT_TRUE(SetOption("mmap", "true", both).ok());
  ASSERT_TRUE(SetOption("int8_act", "1", both).ok());
  ASSERT_TRUE(SetOption("pacer", "false", both).ok());
  ASSERT_TRUE(SetOption("bf16_act", "true", both).ok());
  ASSERT_TRUE(SetOption("device", "cuda", both).ok());
  ASSERT_TRUE(SetOption("ignore_eos", "true", both).ok());
  ASSERT_TRUE(SetOption("seed", "7", both).ok());
  ASSERT_TRUE(SetOption("expert_policy", "lru", both).ok());
  ASSERT_TRUE(SetOption("expert_lookahead", "false", both).ok());
  ASSERT_TRUE(SetOption("self_draft_cache", "none", both).ok());
  EXPECT_EQ(e.expert_policy, "lru");
  EXPECT_FALSE(e.expert_lookahead);
  EXPECT_EQ(e.self_draft_cache, "none");
  EXPECT_EQ(SetOption("expert_policy", "fifo", both).message(), "expert_policy: expected lru, lfu or decay, got 'fifo'");
  ASSERT_TRUE(SetOption("act", "int8x3", both).ok());
  EXPECT_TRUE(e.int8_activations);
  EXPECT_EQ(e.int8_levels, 3);
  ASSERT_TRUE(SetOption("act", "exact", both).ok());
  EXPECT_FALSE(e.int8_activations);
  ASSERT_TRUE(SetOption("act", "int8", both).ok());
  EXPECT_EQ(e.int8_levels, 1);
  EXPECT_EQ(SetOption("act", "int4", both).message(), "act: expected exact, int8x3, int8x2 or int8, got 'int4'");
  EXPECT_EQ(e.model_path, "m.gguf");
  EXPECT_EQ(e.io_queue_depth, 32);
  EXPECT_EQ(e.io_chunk_kib, 256);
  EXPECT_TRUE(e.use_mmap);
  EXPECT_TRUE(e.int8_activations);
  EXPECT_FALSE(e.pacer);
  EXPECT_TRUE(e.bf16_activations);
  EXPECT_EQ(e.device, "cuda");
  EXPECT_TRUE(g.ignore_eos);
  EXPECT_EQ(g.sampling.seed, 7u);
  EXPECT_TRUE(seed_given);
  EXPECT_EQ(SetOption("bogus", "1", both).message(), "unknown option 'bogus'");
  EXPECT_EQ(SetOption("mmap", "yes", both).message(), "mmap: expected true or false, got 'yes'");
  EXPECT_EQ(SetOption("io_depth", "0", both).message(), "io_depth: expected an integer in [1, 256], got '0'");
  // An engine option where only generation options are accepted, and the reverse.
  EXPECT_FALSE(SetOption("ram", "1", OptionTarget{nullptr, &g, nullptr}).ok());
  EXPECT_FALSE(SetOption("top_k", "1", OptionTarget{&e, nullptr, nullptr}).ok());
}

}  // namespace
}  // namespace flashstream
