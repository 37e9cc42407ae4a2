#include "engine/run_stats.h"

#include <fmt/format.h>    // fmt::format for the summary line
#include <sys/resource.h>  // getrusage for the peak RSS

#include <algorithm>
#include <nlohmann/json.hpp>  // SummaryJson

namespace flashstream {

double RunStats::prefill_tps() const {
  const int n = prompt_tokens - reused_tokens;
  return prefill_seconds > 0 ? n / prefill_seconds : 0;
}

double RunStats::decode_tps() const {
  // The first token comes from the prefill's logits; decode rate counts the passes after it.
  return decode_seconds > 0 && generated_tokens > 1 ? (generated_tokens - 1) / decode_seconds : 0;
}

std::string FormatSummary(const RunStats& s) {
  std::string line = fmt::format("prompt {} tok", s.prompt_tokens);
  if (s.reused_tokens > 0) line += fmt::format(" ({} cached)", s.reused_tokens);
  line += fmt::format(", prefill {:.1f} tok/s | decode {} tok, {:.2f} tok/s | stop: {} | peak RSS {:.0f} MiB",
                      s.prefill_tps(), s.generated_tokens, s.decode_tps(), s.stop_reason, s.peak_rss_bytes / 1048576.0);
  line += fmt::format(" | weights resident {:.0f} MiB", s.store.resident_bytes / 1048576.0);
  if (s.store.bytes_read > 0) {
    const int passes = 1 + s.decode_passes;
    const double secs = s.prefill_seconds + s.decode_seconds;
    line += fmt::format(
        ", staging {:.0f} MiB, read {:.1f} MiB/pass at {:.2f} GB/s, compute waited on I/O {:.0f}% of the time",
        s.store.staging_bytes / 1048576.0, s.store.bytes_read / 1048576.0 / passes,
        secs > 0 ? s.store.bytes_read / secs / 1e9 : 0, secs > 0 ? 100 * s.store.io_wait_seconds / secs : 0);
  }
  if (s.experts.slots > 0) {
    const int passes = 1 + s.decode_passes;
    const ExpertCacheStats& x = s.experts;
    const uint64_t uses = x.hits + x.prefetch_hits + x.misses;
    line += fmt::format(
        " | experts: {} slots ({}), hit {:.0f}% ({:.0f}% cached, {:.0f}% prefetched), read {:.1f} MiB/pass, waited "
        "{:.2f} s",
        x.slots, Name(x.policy), 100 * x.hit_rate(), uses > 0 ? 100.0 * x.hits / uses : 0,
        uses > 0 ? 100.0 * x.prefetch_hits / uses : 0, x.bytes_read / 1048576.0 / passes, x.wait_seconds);
    if (x.predicted > 0) {
      line += fmt::format(", lookahead precision {:.0f}% recall {:.0f}%", 100 * x.precision(), 100 * x.recall());
    }
    if (x.next_predicted > 0) line += fmt::format(", next-token layer 0 precision {:.0f}%", 100 * x.next_precision());
  }
  if (s.store.gpu_memory_peak > 0) {
    const int passes = 1 + s.decode_passes;
    const double secs = s.prefill_seconds + s.decode_seconds;
    line += fmt::format(" | GPU memory peak {:.0f} MiB", s.store.gpu_memory_peak / 1048576.0);
    if (s.store.h2d_bytes > 0) {
      line += fmt::format(", host->GPU {:.1f} MiB/pass at {:.2f} GB/s", s.store.h2d_bytes / 1048576.0 / passes,
                          secs > 0 ? s.store.h2d_bytes / secs / 1e9 : 0);
    }
  }
  line += fmt::format(" | KV {:.1f} MiB (fp16 {:.1f}, quantized {:.1f}", s.kv_bytes / 1048576.0,
                      s.kv.hot_bytes / 1048576.0, s.kv.cold_bytes / 1048576.0);
  if (s.kv.disk_bytes > 0) {
    line +=
        fmt::format(", staging {:.1f}; disk {:.1f} MiB", s.kv.staging_bytes / 1048576.0, s.kv.disk_bytes / 1048576.0);
  }
  line += ")";
  const int decoded = std::max(s.generated_tokens - 1, 0);  // tokens after the prefill's
  if (decoded > 0) {
    line += fmt::format(", read {:.2f} MiB/token", s.kv.read_ram_bytes / 1048576.0 / decoded);
    if (s.kv.read_disk_bytes > 0) {
      line += fmt::format(" + {:.2f} MiB/token from disk", s.kv.read_disk_bytes / 1048576.0 / decoded);
    }
  }
  if (s.drafted_tokens > 0) {
    line += fmt::format(" | drafts: {} drafted, {} accepted ({:.0f}%), {:.2f} tok/pass", s.drafted_tokens,
                        s.accepted_tokens, 100.0 * s.accepted_tokens / s.drafted_tokens, s.tokens_per_pass());
  }
  if (s.self_draft_bytes > 0) line += fmt::format(" | self-draft copy {:.0f} MiB", s.self_draft_bytes / 1048576.0);
  return line;
}

std::string FormatLayerTable(const RunStats& s) {
  if (s.store.layers.empty()) return "";
  std::string out = "layer  kind      MiB   read ms  wait ms  compute ms  (mean per pass)\n";
  for (size_t l = 0; l < s.store.layers.size(); ++l) {
    const LayerTiming& t = s.store.layers[l];
    const double n = std::max(t.passes, 1);
    out +=
        fmt::format("{:5}  {:8} {:6.1f} {:9.2f} {:8.2f} {:11.2f}\n", l, t.streamed ? "streamed" : "resident",
                    t.bytes / 1048576.0, 1e3 * t.io_seconds / n, 1e3 * t.wait_seconds / n, 1e3 * t.compute_seconds / n);
  }
  if (s.store.pacer_rate > 0 || s.store.pacer_delay_seconds > 0 || s.store.quiet_compute_seconds > 0) {
    out += fmt::format(
        "pacer: rate {}, held reads back {:.2f} s, layer compute {:.2f} ms quiet vs {:.2f} ms with reads in flight\n",
        s.store.pacer_rate > 0 ? fmt::format("{:.2f} GB/s", s.store.pacer_rate / 1e9) : "unlimited",
        s.store.pacer_delay_seconds, 1e3 * s.store.quiet_compute_seconds, 1e3 * s.store.busy_compute_seconds);
  }
  return out;
}

double RunStats::tokens_per_pass() const {
  return decode_passes > 0 ? static_cast<double>(generated_tokens - 1) / decode_passes : 0;
}

std::string SummaryJson(const RunStats& s) {
  const int passes = 1 + s.decode_passes;
  const double secs = s.prefill_seconds + s.decode_seconds;
  nlohmann::json j = {
      {"prompt_tokens", s.prompt_tokens},
      {"reused_tokens", s.reused_tokens},
      {"prefill_seconds", s.prefill_seconds},
      {"prefill_tps", s.prefill_tps()},
      {"generated_tokens", s.generated_tokens},
      {"decode_seconds", s.decode_seconds},
      {"decode_tps", s.decode_tps()},
      {"decode_passes", s.decode_passes},
      {"drafted_tokens", s.drafted_tokens},
      {"accepted_tokens", s.accepted_tokens},
      {"tokens_per_pass", s.tokens_per_pass()},
      {"self_draft_bytes", s.self_draft_bytes},
      {"stop_reason", s.stop_reason},
      {"kv_bytes", s.kv_bytes},
      {"kv_fp16_bytes", s.kv.hot_bytes},
      {"kv_quantized_bytes", s.kv.cold_bytes},
      {"kv_disk_bytes", s.kv.disk_bytes},
      {"kv_staging_bytes", s.kv.staging_bytes},
      {"kv_read_per_token",
       s.generated_tokens > 1 ? s.kv.read_ram_bytes / static_cast<uint64_t>(s.generated_tokens - 1) : 0},
      {"kv_disk_read_per_token",
       s.generated_tokens > 1 ? s.kv.read_disk_bytes / static_cast<uint64_t>(s.generated_tokens - 1) : 0},
      {"peak_rss_bytes", s.peak_rss_bytes},
      {"resident_bytes", s.store.resident_bytes},
      {"staging_bytes", s.store.staging_bytes},
      {"bytes_read", s.store.bytes_read},
      {"bytes_read_per_pass", s.store.bytes_read / passes},
      {"read_gbps", secs > 0 ? s.store.bytes_read / secs / 1e9 : 0},
      {"io_busy_seconds", s.store.io_busy_seconds},
      {"io_wait_seconds", s.store.io_wait_seconds},
      {"io_wait_fraction", secs > 0 ? s.store.io_wait_seconds / secs : 0},
      {"lookahead", s.store.lookahead},
      {"pacer_rate", s.store.pacer_rate},
      {"pacer_delay_seconds", s.store.pacer_delay_seconds},
      {"expert_slots", s.experts.slots},
      {"expert_hits", s.experts.hits},
      {"expert_misses", s.experts.misses},
      {"expert_bytes_read", s.experts.bytes_read},
      {"expert_bytes_read_per_pass", s.experts.bytes_read / passes},
      {"expert_io_seconds", s.experts.io_seconds},
      {"expert_policy", Name(s.experts.policy)},
      {"expert_prefetch_hits", s.experts.prefetch_hits},
      {"expert_hit_rate", s.experts.hit_rate()},
      {"expert_prefetch_reads", s.experts.prefetch_reads},
      {"expert_wait_seconds", s.experts.wait_seconds},
      {"expert_predicted", s.experts.predicted},
      {"expert_predicted_used", s.experts.predicted_used},
      {"expert_routed", s.experts.routed},
      {"lookahead_precision", s.experts.precision()},
      {"lookahead_recall", s.experts.recall()},
      {"next_token_precision", s.experts.next_precision()},
      {"h2d_bytes", s.store.h2d_bytes},
      {"h2d_bytes_per_pass", s.store.h2d_bytes / passes},
      {"h2d_gbps", secs > 0 ? s.store.h2d_bytes / secs / 1e9 : 0},
      {"gpu_memory_peak_bytes", s.store.gpu_memory_peak},
  };
  return j.dump();
}

uint64_t PeakRssBytes() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<uint64_t>(usage.ru_maxrss) * 1024;
}

}  // namespace flashstream
