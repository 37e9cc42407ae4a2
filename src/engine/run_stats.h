// RunStats: what one generation did, for the end-of-run summary. Plain data.
#pragma once

#include <cstdint>
#include <string>

#include "kv/kv_cache.h"
#include "store/expert_cache.h"
#include "store/weight_store.h"

namespace flashstream {

struct RunStats {
  int prompt_tokens = 0;          // prompt length in tokens
  int reused_tokens = 0;          // prompt tokens whose K/V were already cached
  double prefill_seconds = 0;     // time to process the new prompt tokens
  int generated_tokens = 0;       // tokens sampled
  double decode_seconds = 0;      // time from the first sampled token to the end
  int decode_passes = 0;          // forward passes after the prompt's
  int drafted_tokens = 0;         // speculative decoding: drafted tokens verified
  int accepted_tokens = 0;        // ... and accepted
  uint64_t self_draft_bytes = 0;  // --self-draft: the low-bit copy's memory
  std::string stop_reason;        // "eos", "length", "stop", "cancelled"
  uint64_t kv_bytes = 0;          // KV cache RAM at the end (kv.ram_bytes())
  KvStats kv;                     // KV tiers at the end; read/written counters of the decode passes
  uint64_t peak_rss_bytes = 0;    // process peak resident set
  StoreStats store;               // weight store counters at the end
  ExpertCacheStats experts;       // MoE expert cache counters of this run (slots 0 = no cache)

  double prefill_tps() const;
  double decode_tps() const;
  // Tokens sampled per decode pass (the first token comes from the prompt's pass); 1 without
  // drafts.
  double tokens_per_pass() const;
};

// One line: "prompt 12 tok, prefill 310.2 tok/s | decode 48 tok, 41.3 tok/s | peak RSS 312 MiB ..."
std::string FormatSummary(const RunStats& stats);
// --verbose: one line per layer (resident/streamed, MiB, mean read, wait and compute ms per
// pass) and the pacer's state. "" when the store kept no per-layer timings.
std::string FormatLayerTable(const RunStats& stats);
// All fields (and the derived rates) as one JSON object, for --stats-json and benchmarks.
std::string SummaryJson(const RunStats& stats);
// Peak resident set size of this process in bytes.
uint64_t PeakRssBytes();

}  // namespace flashstream
