// Speculative decoding benchmark, in one run:
//  (a) the cost of a forward pass of k tokens over a 1-token pass, k = 1..--kmax, after a
//      64-token context (best of --reps; streamed under --ram like any run);
//  (b) with a tokenizer: for each task prompt (edit a text, continue code, answer from a quoted
//      document, free chat), greedy decoding plain, with --lookup, and (when given) with the draft
//      model and the self-draft copy: tok/s, acceptance, tokens per pass, the speed-up over plain
//      and whether the output is plain decoding's. The modes take turns --task-reps times (plain,
//      lookup, ..., plain, lookup, ...) and each reports its median tok/s, so that a slow spell of a
//      shared machine falls on every mode alike; the speed-up is the ratio of the medians.
// Prints one JSON object.
//   bench_spec MODEL [--threads 2] [--ram GiB] [--kmax 16] [--reps 3] [--max-tokens 96 (0: (a) only)] [--lookup 3]
//              [--draft-model PATH] [--self-draft 4|8] [--task-reps 1] [--device cpu|cuda] [--vram GiB]
#include <fmt/format.h>  // fmt::print

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <nlohmann/json.hpp>  // JSON output
#include <string>
#include <vector>

#include "engine/chat.h"
#include "engine/session.h"

using namespace flashstream;

namespace {

const char* const kTasks[][2] = {
    {"edit",
     "Rewrite this paragraph with British spelling and change nothing else:\n"
     "The color of the harbor at dawn was gray. Our neighbor organized a program to analyze the "
     "behavior of the fish, and the center of the town apologized for the odor of the catalog store."},
    {"code",
     "Continue this Python code with a function that subtracts, in the same style:\n"
     "def add(a: int, b: int) -> int:\n    \"\"\"Returns a plus b.\"\"\"\n    result = a + b\n    return result\n"},
    {"quote",
     "Document: \"The library opens at nine in the morning on weekdays and at ten on Saturdays. It is "
     "closed on Sundays. Members may borrow up to five books for three weeks.\"\n"
     "Question: Quote the sentence of the document that says when the library opens."},
    {"chat", "Tell me a short story about a cat who learns to swim."},
};

double Seconds(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// The median of a non-empty list (the mean of the middle two for an even count).
double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    fmt::print(
        stderr,
        "usage: bench_spec MODEL [--threads N] [--ram GiB] [--kmax N] [--reps N] [--max-tokens N] "
        "[--lookup N] [--draft-model PATH] [--self-draft 4|8] [--task-reps N] [--device cpu|cuda] [--vram GiB]\n");
    return 2;
  }
  EngineOptions eo;
  eo.model_path = argv[1];
  eo.threads = 2;
  eo.ctx = 1024;
  int kmax = 16, reps = 3, max_tokens = 96, lookup = 3, task_reps = 1;
  std::string draft_model;
  int self_draft = 0;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const char* v = argv[i + 1];
    if (flag == "--threads")
      eo.threads = std::atoi(v);
    else if (flag == "--ram")
      eo.ram_gib = std::atof(v);
    else if (flag == "--kmax")
      kmax = std::atoi(v);
    else if (flag == "--reps")
      reps = std::atoi(v);
    else if (flag == "--max-tokens")
      max_tokens = std::atoi(v);
    else if (flag == "--lookup")
      lookup = std::atoi(v);
    else if (flag == "--draft-model")
      draft_model = v;
    else if (flag == "--self-draft")
      self_draft = std::atoi(v);
    else if (flag == "--task-reps")
      task_reps = std::max(1, std::atoi(v));
    else if (flag == "--device")
      eo.device = v;
    else if (flag == "--vram")
      eo.vram_gib = std::atof(v);
    else {
      fmt::print(stderr, "bench_spec: unknown flag {}\n", flag);
      return 2;
    }
  }
  Result<std::unique_ptr<Session>> opened = Session::Open(eo, nullptr);
  if (!opened.ok()) {
    fmt::print(stderr, "bench_spec: {}\n", opened.status().message());
    return 1;
  }
  Session& s = **opened;
  const int vocab = s.index().config.vocab_size;
  nlohmann::json out = {{"model", eo.model_path},
                        {"threads", eo.threads},
                        {"ram_gib", eo.ram_gib},
                        {"device", eo.device},
                        {"vram_gib", eo.vram_gib}};

  // (a) pass cost against k.
  std::vector<int32_t> ids(static_cast<size_t>(64 + kmax));
  for (size_t i = 0; i < ids.size(); ++i)
    ids[i] = static_cast<int32_t>(100 + (i * 7919) % static_cast<size_t>(vocab - 200));
  std::vector<float> logits;
  if (Status st = s.Append(std::span<const int32_t>(ids.data(), 64), false, &logits); !st.ok()) {
    fmt::print(stderr, "bench_spec: {}\n", st.message());
    return 1;
  }
  std::vector<double> cost(static_cast<size_t>(kmax) + 1, 1e30);
  for (int rep = 0; rep < reps; ++rep) {
    for (int k = 1; k <= kmax; ++k) {
      const auto t0 = std::chrono::steady_clock::now();
      if (Status st = s.Append(std::span<const int32_t>(ids.data() + 64, static_cast<size_t>(k)), k > 1, &logits);
          !st.ok()) {
        fmt::print(stderr, "bench_spec: {}\n", st.message());
        return 1;
      }
      cost[static_cast<size_t>(k)] = std::min(cost[static_cast<size_t>(k)], Seconds(t0));
      if (Status st = s.Rewind(64); !st.ok()) {
        fmt::print(stderr, "bench_spec: {}\n", st.message());
        return 1;
      }
    }
  }
  nlohmann::json passes = nlohmann::json::array();
  for (int k = 1; k <= kmax; ++k) {
    passes.push_back(
        {{"k", k}, {"ms", 1e3 * cost[static_cast<size_t>(k)]}, {"ratio_to_1", cost[static_cast<size_t>(k)] / cost[1]}});
  }
  out["pass_cost"] = passes;

  // (b) drafting modes on tasks (--max-tokens 0: pass costs only).
  if (s.has_tokenizer() && max_tokens > 0) {
    // Each extra mode is a session of its own, opened now, after (a).
    std::unique_ptr<Session> extra[2];
    for (int i = 0; i < 2; ++i) {
      if (i == 0 ? draft_model.empty() : self_draft == 0) continue;
      EngineOptions d = eo;
      if (i == 0)
        d.draft_model_path = draft_model;
      else
        d.self_draft_bits = self_draft;
      Result<std::unique_ptr<Session>> r = Session::Open(d, nullptr);
      if (!r.ok()) {
        fmt::print(stderr, "bench_spec: {}\n", r.status().message());
        return 1;
      }
      extra[i] = std::move(r).value();
    }
    Result<ChatFormatter> chat = ChatFormatter::Create(s.index().tokenizer, s.tokenizer());
    if (!chat.ok()) {
      fmt::print(stderr, "bench_spec: {}\n", chat.status().message());
      return 1;
    }
    nlohmann::json tasks = nlohmann::json::array();
    for (const auto& [name, prompt] : kTasks) {
      Result<std::string> text = chat->Render({{"user", prompt}}, true);
      if (!text.ok()) return 1;
      const std::vector<int32_t> prompt_ids = chat->Tokenize(*text);
      // Modes: plain, lookup, draft model, self-draft; each run task_reps times, taking turns.
      Session* sessions[4] = {&s, &s, extra[0].get(), extra[1].get()};
      RunStats runs[4];
      std::vector<double> tps[4];
      std::vector<int32_t> plain_output;  // the first plain run's, which every run must equal
      bool identical[4] = {true, true, true, true};
      for (int rep = 0; rep < task_reps; ++rep) {
        for (int mode = 0; mode < 4; ++mode) {
          if (sessions[mode] == nullptr) continue;
          GenerateOptions go;
          go.sampling.temperature = 0;
          go.max_tokens = max_tokens;
          go.lookup_ngram = mode == 1 ? lookup : 0;
          sessions[mode]->Reset();
          std::vector<int32_t> output;
          Result<RunStats> r = sessions[mode]->Generate(prompt_ids, go, nullptr, nullptr, &output);
          if (!r.ok()) {
            fmt::print(stderr, "bench_spec: {}\n", r.status().message());
            return 1;
          }
          runs[mode] = *r;
          tps[mode].push_back(r->decode_tps());
          if (mode == 0 && rep == 0) plain_output = output;
          identical[mode] = identical[mode] && output == plain_output;
        }
      }
      const double plain_tps = Median(tps[0]);
      nlohmann::json task = {
          {"task", name}, {"tokens", runs[0].generated_tokens}, {"plain_tps", plain_tps}, {"plain_tps_runs", tps[0]}};
      const char* mode_names[4] = {"plain", "lookup", "draft_model", "self_draft"};
      for (int mode = 1; mode < 4; ++mode) {
        if (sessions[mode] == nullptr) continue;
        const RunStats& r = runs[mode];
        const double mode_tps = Median(tps[mode]);
        task[mode_names[mode]] = {
            {"tps", mode_tps},
            {"tps_runs", tps[mode]},
            {"speedup", plain_tps > 0 ? mode_tps / plain_tps : 0},
            {"drafted", r.drafted_tokens},
            {"accepted", r.accepted_tokens},
            {"acceptance", r.drafted_tokens > 0 ? double(r.accepted_tokens) / r.drafted_tokens : 0},
            {"tokens_per_pass", r.tokens_per_pass()},
            {"identical", identical[mode]}};
      }
      tasks.push_back(task);
    }
    out["tasks"] = tasks;
  }
  fmt::print("{}\n", out.dump(1));
  return 0;
}
