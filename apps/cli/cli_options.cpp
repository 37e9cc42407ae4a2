#include "cli_options.h"

#include <fmt/format.h>  // fmt::print for messages

#include <chrono>
#include <cstdio>

#include "core/progress.h"
#include "engine/model_source.h"
#include "engine/option_table.h"

namespace flashstream::cli {

void AddEngineFlags(CLI::App& cmd, EngineOptions& o) {
  cmd.add_option("-m,--model", o.model_path, "model file or folder, or a hub id ORG/NAME[:FILE]")->required();
  cmd.add_option("--revision", o.revision, "hub branch, tag or commit of a model id");
  cmd.add_option("-t,--threads", o.threads, "compute threads (0 = all cores)")->check(CLI::NonNegativeNumber);
  cmd.add_option("-c,--ctx", o.ctx, "context length in tokens (0 = the model's)")->check(CLI::NonNegativeNumber);
  cmd.add_flag("--mmap", o.use_mmap, "map the weights through the page cache instead of reading them");
  cmd.add_option("--ram", o.ram_gib, "weight memory budget in GiB (resident + staging); 0 = automatic")
      ->check(CLI::NonNegativeNumber);
  cmd.add_option("--prefetch", o.prefetch_slots, "staging slots at most when streaming (lookahead + 1)")
      ->check(CLI::Range(2, 64));
  cmd.add_option("--io-depth", o.io_queue_depth, "O_DIRECT read requests in flight")->check(CLI::Range(1, 256));
  cmd.add_option("--io-chunk-kib", o.io_chunk_kib, "bytes per read request, in KiB")->check(CLI::Range(4, 65536));
  cmd.add_flag("--int8-act", o.int8_activations,
               "int8 activations in quantized matmuls: faster, logits drift ~1e-3 NMSE from f32 (= --act int8)");
  cmd.add_option_function<std::string>(
         "--act",
         [&o](const std::string& v) {
           // The options table owns the mode -> (int8_activations, int8_levels) mapping.
           if (Status st = SetOption("act", v, OptionTarget{&o}); !st.ok()) throw CLI::ValidationError(st.message());
         },
         "quantized-matmul activations: exact (f32), int8x3 (3 int8 digits, within f32 rounding), "
         "int8x2, int8 (llama.cpp's, logits drift ~1e-3 NMSE)")
      ->check(CLI::IsMember({"exact", "int8x3", "int8x2", "int8"}));
  cmd.add_flag("--pacer", o.pacer, "pace streaming reads with the feedback-driven token bucket");
  cmd.add_option("--trace", o.trace_path, "write a per-layer I/O and compute timeline (CSV) to this file");
  cmd.add_option("--draft-model", o.draft_model_path,
                 "speculative decoding: a small resident model sharing the tokenizer drafts tokens");
  cmd.add_option("--self-draft", o.self_draft_bits,
                 "speculative decoding: a 4- or 8-bit resident copy of the streamed layers drafts tokens")
      ->check(CLI::IsMember({4, 8}));
  cmd.add_option("--expert-policy", o.expert_policy,
                 "MoE under --ram: expert cache replacement policy (default: the measured best, lfu)")
      ->check(CLI::IsMember({"lru", "lfu", "decay"}));
  cmd.add_flag("!--no-lookahead", o.expert_lookahead, "MoE under --ram: no lookahead routing (no expert prefetch)");
  cmd.add_flag("--next-token-prefetch", o.expert_next_token,
               "MoE under --ram: after the last layer, prefetch the next token's predicted layer-0 experts");
  cmd.add_flag("!--no-expert-cache", o.expert_cache, "MoE under --ram: stream whole layers (the baseline)");
  cmd.add_option("--self-draft-cache", o.self_draft_cache,
                 "folder caching self-draft copies (default ~/.cache/flashstream/self-draft; none = off)");
  cmd.add_flag("-v,--verbose", o.verbose, "diagnostics on stderr");
  cmd.add_option("--kv-quant", o.kv_quant, "bits of K/V outside the FP16 window: 8, 4, or 0 (FP16 everywhere)")
      ->check(CLI::IsMember({0, 4, 8}));
  cmd.add_option("--kv-window", o.kv_window, "positions each query reads in FP16 (its most recent ones)")
      ->check(CLI::NonNegativeNumber);
  cmd.add_option("--kv-ram", o.kv_ram_gib,
                 "GiB of quantized K/V kept in RAM; the rest spills to disk (0 = no limit; CPU only)")
      ->check(CLI::NonNegativeNumber);
  cmd.add_option("--kv-spill-dir", o.kv_spill_dir, "folder for the KV spill file (default $TMPDIR, else /var/tmp)");
  cmd.add_flag("--kv-keys-per-token", o.kv_keys_per_token,
               "quantize keys per token and 64 channels instead of per channel (docs/KV_CACHE.md)");
  cmd.add_flag("--kv-f32", o.kv_f32, "keep unquantized K/V in f32 instead of FP16 (exact; twice the memory)");
  cmd.add_option("--device", o.device, "where to compute: cpu, cuda or cuda:N (needs a CUDA build)");
  cmd.add_option("--vram", o.vram_gib, "GPU weight budget in GiB (resident + ring); 0 = free GPU memory")
      ->check(CLI::NonNegativeNumber);
  cmd.add_flag("--bf16-act", o.bf16_activations,
               "GPU: bf16/TF32 tensor cores for prompts (faster prefill; logits drift from f32)");
}

void AddGenerateFlags(CLI::App& cmd, GenerateOptions& o, bool& seed_given) {
  SamplingOptions& s = o.sampling;
  cmd.add_option("-n,--max-tokens", o.max_tokens, "new tokens at most")->check(CLI::PositiveNumber);
  cmd.add_option("--temp,--temperature", s.temperature, "sampling temperature (0 = greedy)")
      ->check(CLI::NonNegativeNumber);
  cmd.add_option("--top-k", s.top_k, "keep the k most likely tokens (0 = all)");
  cmd.add_option("--top-p", s.top_p, "nucleus sampling threshold (1 = off)")->check(CLI::Range(0.0, 1.0));
  cmd.add_option("--min-p", s.min_p, "drop tokens below min-p x the top probability (0 = off)")
      ->check(CLI::Range(0.0, 1.0));
  cmd.add_option("--repeat-penalty", s.repeat_penalty, "penalty for recent tokens (1 = off)")
      ->check(CLI::PositiveNumber);
  cmd.add_option("--repeat-last-n", s.repeat_last_n, "how many recent tokens are penalized (-1 = all)");
  cmd.add_option_function<uint64_t>(
      "--seed",
      [&o, &seed_given](uint64_t v) {
        o.sampling.seed = v;
        seed_given = true;
      },
      "random seed (same seed and prompt give the same output)");
  cmd.add_option("--stop", o.stop, "stop when this text is generated (repeatable)");
  cmd.add_flag("--ignore-eos", o.ignore_eos, "generate max-tokens tokens even past end-of-generation");
  cmd.add_option("--lookup", o.lookup_ngram,
                 "speculative decoding by prompt lookup: match suffixes of up to N tokens (0 = off)")
      ->check(CLI::Range(0, 64));
  cmd.add_option("--draft-max", o.draft_max, "drafted tokens per pass at most (adapted below it)")
      ->check(CLI::Range(1, 64));
}

void ResolveSeed(GenerateOptions& o, bool seed_given, bool verbose) {
  if (!seed_given) {
    o.sampling.seed = static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  }
  if (verbose) fmt::print(stderr, "seed: {}\n", o.sampling.seed);
}

void PrintError(const std::string& message) { fmt::print(stderr, "flashstream: error: {}\n", message); }

hub::PullOptions HubOptionsWithProgress() {
  hub::PullOptions o = hub::PullOptionsFromEnv();
  auto bar = std::make_shared<std::unique_ptr<ProgressBar>>();
  auto current = std::make_shared<std::string>();
  o.progress = [bar, current](const std::string& file, uint64_t done, uint64_t total) {
    if (*current != file) {
      *current = file;
      *bar = std::make_unique<ProgressBar>("downloading " + file, "bytes");
    }
    (*bar)->Update(done, total);
  };
  o.notice = [](const std::string& message) { fmt::print(stderr, "flashstream: {}\n", message); };
  return o;
}

Result<std::string> ResolveModel(const std::string& model, const std::string& revision) {
  return ResolveModelSource(model, revision, HubOptionsWithProgress());
}

std::unique_ptr<Session> LoadSession(const EngineOptions& given) {
  EngineOptions options = given;
  Result<std::string> path = ResolveModel(options.model_path, options.revision);
  if (!path.ok()) {
    PrintError(path.status().message());
    return nullptr;
  }
  options.model_path = *path;
  ProgressBar bar("loading", "bytes");
  Result<std::unique_ptr<Session>> session =
      Session::Open(options, [&bar](uint64_t done, uint64_t total) { bar.Update(done, total); });
  bar.Finish();
  if (!session.ok()) {
    PrintError(session.status().message());
    return nullptr;
  }
  if (!session.value()->has_tokenizer()) {
    PrintError(fmt::format("{}: no tokenizer: the model has none that flashstream can read", options.model_path));
    return nullptr;
  }
  // Prompts longer than one chunk (DecoderModel::set_max_chunk) show a prefill bar.
  auto prefill_bar = std::make_shared<std::unique_ptr<ProgressBar>>();
  session.value()->set_prefill_progress([prefill_bar](uint64_t done, uint64_t total) {
    if (!*prefill_bar && done < total) *prefill_bar = std::make_unique<ProgressBar>("prefill", "tokens");
    if (!*prefill_bar) return;
    (*prefill_bar)->Update(done, total);
    if (done == total) prefill_bar->reset();
  });
  const ModelConfig& c = session.value()->index().config;
  if (options.verbose) {
    fmt::print(stderr, "model: {} ({}), {} layers, n_embd {}, {} heads ({} kv), vocab {}, loaded in {:.2f} s\n",
               c.name.empty() ? options.model_path : c.name, c.arch, c.n_layers, c.n_embd, c.n_heads, c.n_kv_heads,
               c.vocab_size, session.value()->load_seconds());
  }
  return std::move(session).value();
}

void PrintSummary(const Session& session, const RunStats& stats, bool verbose) {
  if (verbose) fmt::print(stderr, "\n{}", FormatLayerTable(stats));
  fmt::print(stderr, "\n[{}]\n", FormatSummary(stats));
}

}  // namespace flashstream::cli
