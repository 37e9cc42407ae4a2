#include "server/metrics.h"

#include <fmt/format.h>  // the exposition text

#include <algorithm>

namespace flashstream::server {
namespace {

// A metric family header: "# HELP name help\n# TYPE name type\n".
void Family(std::string* out, const char* name, const char* type, const char* help) {
  *out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

void Sample(std::string* out, const char* name, double value) { *out += fmt::format("{} {}\n", name, value); }

// Label values are escaped as the format requires (backslash, quote, newline).
std::string Escape(const std::string& s) {
  std::string e;
  for (char c : s) {
    if (c == '\\' || c == '"') e += '\\';
    if (c == '\n') {
      e += "\\n";
      continue;
    }
    e += c;
  }
  return e;
}

}  // namespace

void ServerMetrics::CountRequest(const std::string& route, int status) {
  std::lock_guard lock(mu_);
  ++requests_[{route, status}];
}

void ServerMetrics::CountGeneration(const RunStats& s, double queued_seconds) {
  std::lock_guard lock(mu_);
  ++generations_[s.stop_reason];
  prompt_tokens_ += s.prompt_tokens;
  reused_tokens_ += s.reused_tokens;
  generated_tokens_ += s.generated_tokens;
  passes_ += 1 + s.decode_passes;
  bytes_read_ += s.store.bytes_read;
  prefill_seconds_ += s.prefill_seconds;
  decode_seconds_ += s.decode_seconds;
  io_wait_seconds_ += s.store.io_wait_seconds;
  queued_seconds_ += queued_seconds;
  last_decode_tps_ = s.decode_tps();
  last_prefill_tps_ = s.prefill_tps();
  kv_bytes_ = s.kv_bytes;
  peak_rss_bytes_ = s.peak_rss_bytes;
}

std::string ServerMetrics::Render(int queue_depth) const {
  std::lock_guard lock(mu_);
  std::string out;
  Family(&out, "flashstream_http_requests_total", "counter", "HTTP requests by route and status code.");
  for (const auto& [key, n] : requests_) {
    out += fmt::format("flashstream_http_requests_total{{route=\"{}\",code=\"{}\"}} {}\n", Escape(key.first),
                       key.second, n);
  }
  Family(&out, "flashstream_generations_total", "counter", "Generations run, by stop reason.");
  for (const auto& [reason, n] : generations_) {
    out += fmt::format("flashstream_generations_total{{reason=\"{}\"}} {}\n", Escape(reason), n);
  }
  Family(&out, "flashstream_queue_depth", "gauge", "Requests waiting for the engine plus the one running.");
  Sample(&out, "flashstream_queue_depth", queue_depth);
  Family(&out, "flashstream_prompt_tokens_total", "counter", "Prompt tokens of all generations.");
  Sample(&out, "flashstream_prompt_tokens_total", static_cast<double>(prompt_tokens_));
  Family(&out, "flashstream_generated_tokens_total", "counter", "Tokens sampled.");
  Sample(&out, "flashstream_generated_tokens_total", static_cast<double>(generated_tokens_));
  Family(&out, "flashstream_prefill_seconds_total", "counter", "Time spent on prompts.");
  Sample(&out, "flashstream_prefill_seconds_total", prefill_seconds_);
  Family(&out, "flashstream_decode_seconds_total", "counter", "Time spent sampling tokens.");
  Sample(&out, "flashstream_decode_seconds_total", decode_seconds_);
  Family(&out, "flashstream_queue_seconds_total", "counter", "Time requests waited for the engine.");
  Sample(&out, "flashstream_queue_seconds_total", queued_seconds_);
  Family(&out, "flashstream_decode_tokens_per_second", "gauge", "Decode rate of the last generation.");
  Sample(&out, "flashstream_decode_tokens_per_second", last_decode_tps_);
  Family(&out, "flashstream_prefill_tokens_per_second", "gauge", "Prefill rate of the last generation.");
  Sample(&out, "flashstream_prefill_tokens_per_second", last_prefill_tps_);
  Family(&out, "flashstream_streamed_bytes_total", "counter", "Weight bytes read from disk while generating.");
  Sample(&out, "flashstream_streamed_bytes_total", static_cast<double>(bytes_read_));
  Family(&out, "flashstream_io_wait_seconds_total", "counter", "Time compute waited for streamed weights.");
  Sample(&out, "flashstream_io_wait_seconds_total", io_wait_seconds_);
  Family(&out, "flashstream_prompt_cache_hit_ratio", "gauge",
         "Share of prompt tokens whose K/V were reused from the previous request.");
  Sample(&out, "flashstream_prompt_cache_hit_ratio",
         prompt_tokens_ > 0 ? static_cast<double>(reused_tokens_) / prompt_tokens_ : 0);
  Family(&out, "flashstream_weight_cache_hit_ratio", "gauge",
         "Share of the weight bytes used by forward passes that were already in memory (1 = fully resident).");
  const double used = static_cast<double>(passes_) * facts_.weight_bytes_per_pass;
  Sample(&out, "flashstream_weight_cache_hit_ratio", used > 0 ? std::max(0.0, 1 - bytes_read_ / used) : 1);
  Family(&out, "flashstream_weight_resident_bytes", "gauge", "Weight bytes held in memory.");
  Sample(&out, "flashstream_weight_resident_bytes", static_cast<double>(facts_.resident_bytes));
  Family(&out, "flashstream_weight_staging_bytes", "gauge", "Staging ring for streamed weights.");
  Sample(&out, "flashstream_weight_staging_bytes", static_cast<double>(facts_.staging_bytes));
  Family(&out, "flashstream_kv_bytes", "gauge", "KV cache memory after the last generation.");
  Sample(&out, "flashstream_kv_bytes", static_cast<double>(kv_bytes_));
  Family(&out, "flashstream_peak_rss_bytes", "gauge", "Peak resident set of the process.");
  Sample(&out, "flashstream_peak_rss_bytes", static_cast<double>(peak_rss_bytes_));
  Family(&out, "flashstream_context_length", "gauge", "Context length in tokens.");
  Sample(&out, "flashstream_context_length", facts_.context_length);
  Family(&out, "flashstream_model_load_seconds", "gauge", "Time the model took to load.");
  Sample(&out, "flashstream_model_load_seconds", facts_.load_seconds);
  Family(&out, "flashstream_model_info", "gauge", "The model served (value 1).");
  out += fmt::format("flashstream_model_info{{model=\"{}\"}} 1\n", Escape(facts_.model_id));
  return out;
}

}  // namespace flashstream::server
