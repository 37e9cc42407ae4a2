// `flashstream passkey`: the passkey-retrieval test of long-context attention. A random 5-digit
// key is hidden at a chosen depth of filler text that fills the context; the model is asked for
// it and answers greedily; accuracy is reported per depth, and the last line printed is the
// overall accuracy as a percentage. The filler before the key is the same for every key at a
// depth, so it is run once per depth and the session resumes from a checkpoint of it (exactly
// the state a fresh run reaches); with KV blocks on disk (--kv-ram) every prompt runs in full.
#include <fmt/format.h>  // fmt::print

#include <chrono>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "cli_options.h"
#include "commands.h"

namespace flashstream::cli {
namespace {

struct PasskeyState {
  EngineOptions engine;
  std::vector<int> depths = {0, 25, 50, 75, 100};  // percent of the filler before the key
  int keys = 10;                                   // keys per depth
  uint64_t seed = 1;
  int answer_tokens = 8;
};

constexpr const char* kIntro =
    "There is an important piece of information hidden inside a lot of irrelevant text. Find it and memorize it. "
    "I will quiz you about the important information there.\n";
constexpr const char* kFiller =
    "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again.\n";
constexpr const char* kQuestion = "What is the pass key? The pass key is";

std::string Needle(int key) { return fmt::format("The pass key is {0}. Remember it. {0} is the pass key.\n", key); }

// The first run of 5 digits in text, or -1.
int FirstKey(const std::string& text) {
  for (size_t i = 0; i + 5 <= text.size(); ++i) {
    size_t n = 0;
    while (i + n < text.size() && text[i + n] >= '0' && text[i + n] <= '9') ++n;
    if (n == 5) return std::stoi(text.substr(i, 5));
    i += n;
  }
  return -1;
}

int Passkey(PasskeyState& st) {
  std::unique_ptr<Session> session = LoadSession(st.engine);
  if (!session) return 1;
  const Tokenizer& tok = session->tokenizer();
  const std::vector<int32_t> intro = tok.Encode(kIntro, /*add_special=*/true, /*parse_special=*/false);
  const std::vector<int32_t> filler = tok.Encode(kFiller, false, false);
  const std::vector<int32_t> question = tok.Encode(kQuestion, false, false);
  const int ctx = session->kv_cache().max_positions();
  const size_t needle_len = tok.Encode(Needle(12345), false, false).size();
  const int64_t room =
      int64_t{ctx} - st.answer_tokens - static_cast<int64_t>(intro.size() + needle_len + question.size());
  if (room < static_cast<int64_t>(filler.size())) {
    PrintError(fmt::format("--ctx {}: too short for a passkey prompt (needs more than {} tokens)", ctx,
                           ctx - room + static_cast<int64_t>(filler.size())));
    return 2;
  }
  const int64_t units = room / static_cast<int64_t>(filler.size());
  fmt::print("{}\n", session->kv_cache().Describe());
  fmt::print(
      "context {} tokens: prompts of {} tokens ({} filler lines), {} keys per depth\n", ctx,
      static_cast<int64_t>(intro.size() + needle_len + question.size()) + units * static_cast<int64_t>(filler.size()),
      units, st.keys);
  std::mt19937_64 rng(st.seed);
  std::uniform_int_distribution<int> key_dist(10000, 99999);
  GenerateOptions go;
  go.max_tokens = st.answer_tokens;
  go.sampling.temperature = 0;
  int total_ok = 0, total = 0;
  for (int depth : st.depths) {
    const auto t0 = std::chrono::steady_clock::now();
    const int64_t before = units * depth / 100;
    std::vector<int32_t> prefix = intro;
    for (int64_t u = 0; u < before; ++u) prefix.insert(prefix.end(), filler.begin(), filler.end());
    std::unique_ptr<SessionCheckpoint> checkpoint;
    session->Reset();
    if (!prefix.empty()) {
      std::vector<float> logits;
      Status status = session->Append(prefix, false, &logits);
      if (!status.ok()) {
        PrintError(status.message());
        return 1;
      }
      Result<std::unique_ptr<SessionCheckpoint>> saved = session->Save();
      if (saved.ok()) checkpoint = std::move(saved).value();
    }
    int ok = 0;
    for (int k = 0; k < st.keys; ++k) {
      const int key = key_dist(rng);
      std::vector<int32_t> prompt = prefix;
      const std::vector<int32_t> needle = tok.Encode(Needle(key), false, false);
      prompt.insert(prompt.end(), needle.begin(), needle.end());
      for (int64_t u = before; u < units; ++u) prompt.insert(prompt.end(), filler.begin(), filler.end());
      prompt.insert(prompt.end(), question.begin(), question.end());
      if (checkpoint) {
        session->Restore(*checkpoint);
      } else {
        session->Reset();
      }
      std::string answer;
      Result<RunStats> run = session->Generate(prompt, go, [&answer](std::string_view piece) { answer += piece; });
      if (!run.ok()) {
        PrintError(run.status().message());
        return 1;
      }
      const bool right = FirstKey(answer) == key;
      ok += right;
      if (st.engine.verbose)
        fmt::print(stderr, "depth {}% key {}: {:?} {}\n", depth, key, answer, right ? "ok" : "wrong");
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    fmt::print("depth {:3}%: {}/{} ({:.1f}%)  [{:.1f} s]\n", depth, ok, st.keys, 100.0 * ok / st.keys, secs);
    std::fflush(stdout);
    total_ok += ok;
    total += st.keys;
  }
  fmt::print("accuracy {:.2f}%\n", total > 0 ? 100.0 * total_ok / total : 0.0);
  return 0;
}

}  // namespace

CommandFn AddPasskeyCommand(CLI::App& cmd) {
  auto st = std::make_shared<PasskeyState>();
  AddEngineFlags(cmd, st->engine);
  cmd.add_option("--depths", st->depths, "where the key sits, in percent of the filler (e.g. 0,25,50,75,100)")
      ->delimiter(',')
      ->check(CLI::Range(0, 100));
  cmd.add_option("--keys", st->keys, "random keys per depth")->check(CLI::PositiveNumber);
  cmd.add_option("--seed", st->seed, "seed of the random keys");
  return [st] { return Passkey(*st); };
}

}  // namespace flashstream::cli
