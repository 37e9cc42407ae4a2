// Speculative decoding on the real SmolLM2, by prompt lookup and by a draft model: output is
// token for token that of plain decoding (greedy resident and streamed, and seeded sampling),
// and drafts are accepted where the reply copies its prompt.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "engine/chat.h"
#include "engine/model_drafter.h"
#include "engine/session.h"
#include "synth_models.h"
#include "test_env.h"

namespace flashstream {
namespace {

const char* const kPrompts[] = {
    ("Copy this list of names, one per line: Alice Johnson, Bob Smith, Carol White, David Brown, Eve Black, Frank "
     "Green."),
    "Repeat this sentence exactly: The quick brown fox jumps over the lazy dog near the quiet river bank.",
    "Fix the typo in this code and print it again:\ndef add(a, b):\n    retrun a + b\n",
    "What is the capital of France?",
};

struct Reply {
  std::vector<int32_t> tokens;
  RunStats stats;
};

EngineOptions SmolLm2(double ram_gib) {
  EngineOptions o;
  o.model_path = testing::SmolLm2Path();
  o.threads = 2;
  o.ctx = 512;
  o.ram_gib = ram_gib;
  return o;
}

std::vector<Reply> Generate(const EngineOptions& o, int lookup, float temperature = 0,
                            size_t n_prompts = std::size(kPrompts)) {
  Result<std::unique_ptr<Session>> session = Session::Open(o, nullptr);
  EXPECT_TRUE(session.ok()) << session.status().message();
  if (!session.ok()) return {};
  Result<ChatFormatter> chat = ChatFormatter::Create((*session)->index().tokenizer, (*session)->tokenizer());
  EXPECT_TRUE(chat.ok());
  std::vector<Reply> runs;
  for (size_t p = 0; p < n_prompts; ++p) {
    Result<std::string> text = chat->Render({{"user", kPrompts[p]}}, true);
    EXPECT_TRUE(text.ok());
    GenerateOptions go;
    go.sampling.temperature = temperature;
    go.sampling.seed = 1234;
    go.max_tokens = 40;
    go.lookup_ngram = lookup;
    go.draft_max = 8;
    Reply run;
    Result<RunStats> stats = (*session)->Generate(chat->Tokenize(*text), go, nullptr, nullptr, &run.tokens);
    EXPECT_TRUE(stats.ok()) << stats.status().message();
    if (stats.ok()) run.stats = *stats;
    runs.push_back(run);
  }
  return runs;
}

TEST(PromptLookup, GreedyOutputIsUnchangedResidentAndStreamed) {
  FS_REQUIRE_SMOLLM2();
  const std::vector<Reply> plain = Generate(SmolLm2(0), 0);
  ASSERT_EQ(plain.size(), std::size(kPrompts));
  for (double ram : {0.0, 0.05}) {
    const std::vector<Reply> drafted = Generate(SmolLm2(ram), 3);
    ASSERT_EQ(drafted.size(), plain.size());
    int accepted = 0;
    for (size_t i = 0; i < plain.size(); ++i) {
      EXPECT_EQ(drafted[i].tokens, plain[i].tokens) << "prompt " << i << ", ram " << ram;
      EXPECT_EQ(plain[i].stats.drafted_tokens, 0);
      EXPECT_LT(drafted[i].stats.decode_passes, static_cast<int>(drafted[i].tokens.size()) + 1);
      accepted += drafted[i].stats.accepted_tokens;
    }
    // The first reply copies its prompt: lookup's drafts are accepted and save passes. How many
    // drafts the policy verifies depends on measured pass times (a slow sanitizer build makes a
    // resident pass of several tokens dear), so the speed-up is bench_spec's to measure; the
    // policy always tries a first one-token draft, and the copy accepts it.
    const int n = static_cast<int>(drafted[0].tokens.size());
    EXPECT_GE(n, 12);
    EXPECT_GT(drafted[0].stats.accepted_tokens, 0) << "ram " << ram;
    EXPECT_LT(drafted[0].stats.decode_passes, n) << "ram " << ram;
    EXPECT_GT(accepted, 0);
  }
}

// Every emitted token costs one random number with or without drafts, so a seeded sampled run
// emits exactly the tokens of plain sampling with the same seed.
TEST(PromptLookup, SampledOutputWithTheSameSeedIsUnchanged) {
  FS_REQUIRE_SMOLLM2();
  const std::vector<Reply> plain = Generate(SmolLm2(0), 0, 0.7f), drafted = Generate(SmolLm2(0), 3, 0.7f);
  ASSERT_EQ(plain.size(), drafted.size());
  int accepted = 0;
  for (size_t i = 0; i < plain.size(); ++i) {
    EXPECT_EQ(plain[i].tokens, drafted[i].tokens) << "prompt " << i;
    accepted += drafted[i].stats.accepted_tokens;
  }
  EXPECT_GT(accepted, 0);
}

// The model drafting for itself (bitwise the same logits) is always right: every draft within
// the reply is accepted, and the output is plain decoding's, resident and streamed.
TEST(DraftModel, SameModelDraftsAreAllAcceptedAndOutputIsUnchanged) {
  FS_REQUIRE_SMOLLM2();
  const std::vector<Reply> plain = Generate(SmolLm2(0), 0);
  for (double ram : {0.0, 0.05}) {
    EngineOptions o = SmolLm2(ram);
    o.draft_model_path = testing::SmolLm2Path();
    const std::vector<Reply> drafted = Generate(o, 0);
    ASSERT_EQ(drafted.size(), plain.size());
    for (size_t i = 0; i < plain.size(); ++i) {
      EXPECT_EQ(drafted[i].tokens, plain[i].tokens) << "prompt " << i << ", ram " << ram;
      EXPECT_GT(drafted[i].stats.drafted_tokens, 0);
      // Only drafts past the reply's end (its last pass, at most draft_max of them) go unused.
      EXPECT_GE(drafted[i].stats.accepted_tokens, drafted[i].stats.drafted_tokens - 8) << "prompt " << i;
    }
  }
}

// The same with --act int8x3: a k-token verify pass quantizes each token's activations on its
// own, so its logits are bitwise those of k one-token passes and every draft is still accepted.
TEST(DraftModel, SameModelDraftsAreAllAcceptedWithInt8x3Activations) {
  FS_REQUIRE_SMOLLM2();
  EngineOptions o = SmolLm2(0);
  o.int8_activations = true;
  o.int8_levels = 3;
  const std::vector<Reply> plain = Generate(o, 0);
  o.draft_model_path = testing::SmolLm2Path();
  const std::vector<Reply> drafted = Generate(o, 0);
  ASSERT_EQ(drafted.size(), plain.size());
  for (size_t i = 0; i < plain.size(); ++i) {
    EXPECT_EQ(drafted[i].tokens, plain[i].tokens) << "prompt " << i;
    EXPECT_GT(drafted[i].stats.drafted_tokens, 0);
    EXPECT_GE(drafted[i].stats.accepted_tokens, drafted[i].stats.drafted_tokens - 8) << "prompt " << i;
  }
}

// CatchUp runs exactly the tokens the draft model has not seen, once: after it nothing is
// pending, and a draft from there equals a draft made in one call.
TEST(DraftModel, CatchUpRunsOnlyUnseenTokensAndDraftsTheSame) {
  FS_REQUIRE_SMOLLM2();
  Result<std::unique_ptr<Session>> target = Session::Open(SmolLm2(0), nullptr);
  ASSERT_TRUE(target.ok()) << target.status().message();
  const std::vector<int32_t> context =
      (*target)->tokenizer().Encode("The quick brown fox jumps over the lazy dog", false, false);
  ASSERT_GT(context.size(), 4u);
  auto open = [&] { return ModelDrafter::Open(SmolLm2(0), (*target)->tokenizer()); };
  Result<std::unique_ptr<ModelDrafter>> caught = open(), fresh = open();
  ASSERT_TRUE(caught.ok() && fresh.ok());
  EXPECT_EQ((*caught)->Pending(context), context.size());
  ASSERT_TRUE((*caught)->CatchUp(context).ok());
  EXPECT_EQ((*caught)->Pending(context), 0u);
  EXPECT_EQ((*caught)->session().history(), context);
  std::vector<int32_t> a, b;
  ASSERT_TRUE((*caught)->Draft(context, 4, &a).ok());
  ASSERT_TRUE((*fresh)->Draft(context, 4, &b).ok());
  EXPECT_EQ(a, b);
  // The draft session now holds the context and three drafted tokens; a context that accepted
  // two of them and added another token leaves one to run, plus the last token's logits.
  std::vector<int32_t> next = context;
  next.insert(next.end(), {a[0], a[1], 42});
  EXPECT_EQ((*caught)->Pending(next), 1u);
}

TEST(DraftModel, ADifferentVocabularyIsRefusedByName) {
  FS_REQUIRE_SMOLLM2();
  FS_REQUIRE_GEMMA3();
  EngineOptions o;
  o.model_path = testing::SmolLm2Path();
  o.draft_model_path = testing::Gemma3Path();
  o.threads = 2;
  o.ctx = 256;
  Result<std::unique_ptr<Session>> s = Session::Open(o, nullptr);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("must share a tokenizer"), std::string::npos) << s.status().message();
  EXPECT_NE(s.status().message().find(testing::Gemma3Path()), std::string::npos);
}

// A BF16 copy of SmolLM2 streamed under a budget drafts for itself from a 4-bit copy of its
// streamed layers: the output is plain decoding's and most drafts are accepted. A budget that
// cannot hold the copy is refused with a message saying so.
// SmolLM2 as a bf16 HF folder (259 MiB), converted once per process.
const std::string& Bf16Folder() {
  static const std::string folder = [] {
    const std::string f = testing::TempPath("self_draft_bf16");
    const std::string cmd =
        fmt::format("{} convert {} --to hf --dtype bf16 -o {} 2>/dev/null", FS_CLI_PATH, testing::SmolLm2Path(), f);
    EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
    return f;
  }();
  return folder;
}

TEST(SelfDraft, LowBitCopyDraftsAndOutputIsUnchanged) {
  FS_REQUIRE_SMOLLM2();
  EngineOptions o = SmolLm2(0.2);  // of 259 MiB: about half the layers stream
  o.model_path = Bf16Folder();
  o.self_draft_cache = "none";
  const std::vector<Reply> plain = Generate(o, 0);
  o.self_draft_bits = 4;
  const std::vector<Reply> drafted = Generate(o, 0);
  ASSERT_EQ(drafted.size(), plain.size());
  int n_drafted = 0, n_accepted = 0;
  for (size_t i = 0; i < plain.size(); ++i) {
    EXPECT_EQ(drafted[i].tokens, plain[i].tokens) << "prompt " << i;
    EXPECT_GT(drafted[i].stats.drafted_tokens, 0) << "prompt " << i;
    n_drafted += drafted[i].stats.drafted_tokens;
    n_accepted += drafted[i].stats.accepted_tokens;
  }
  EXPECT_GT(2 * n_accepted, n_drafted);  // measured: about 85% of drafts accepted
  o.ram_gib = 0.05;
  Result<std::unique_ptr<Session>> small = Session::Open(o, nullptr);
  ASSERT_FALSE(small.ok());
  EXPECT_NE(small.status().message().find("self-draft copy"), std::string::npos) << small.status().message();
}

// Through the engine: the copy is written at the first load and read back at the next, with
// the same output (the copy's bytes are compared in self_draft_cache_test.cpp).
TEST(SelfDraft, SessionWritesTheCopyOnceAndReadsItBack) {
  FS_REQUIRE_SMOLLM2();
  EngineOptions o = SmolLm2(0.2);
  o.model_path = Bf16Folder();
  o.self_draft_bits = 4;
  o.self_draft_cache = testing::TempPath("self_draft_cache");
  std::filesystem::remove_all(o.self_draft_cache);
  const std::vector<Reply> built = Generate(o, 0, 0, 1);  // an empty cache: built, then written
  ASSERT_TRUE(std::filesystem::is_directory(o.self_draft_cache));
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(o.self_draft_cache), {}), 1);
  Result<std::unique_ptr<Session>> s = Session::Open(o, nullptr);
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_TRUE((*s)->self_draft_from_cache());
  const std::vector<Reply> cached = Generate(o, 0, 0, 1);
  ASSERT_EQ(built.size(), 1u);
  ASSERT_EQ(cached.size(), 1u);
  EXPECT_EQ(cached[0].tokens, built[0].tokens);
  EXPECT_GT(cached[0].stats.drafted_tokens, 0);
  std::filesystem::remove_all(o.self_draft_cache);
}

}  // namespace
}  // namespace flashstream
