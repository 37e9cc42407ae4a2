// ServerMetrics: the server's counters, rendered in the Prometheus text format for GET /metrics.
// HTTP requests by route and status; generations by stop reason; tokens, seconds and weight
// bytes streamed (counters, so rate() gives tokens/s and bytes/s); the last generation's
// tokens/s; the prompt-cache hit ratio (prompt tokens whose K/V were reused) and the weight
// hit ratio (of the weight bytes the forward passes used, the share already in memory).
// Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "engine/run_stats.h"

namespace flashstream::server {

// Facts about the loaded model that do not change while serving.
struct ModelFacts {
  std::string model_id;
  double load_seconds = 0;
  uint64_t weight_bytes_per_pass = 0;  // weight bytes one forward pass uses (resident + streamed)
  uint64_t resident_bytes = 0;
  uint64_t staging_bytes = 0;
  int context_length = 0;
};

class ServerMetrics {
 public:
  explicit ServerMetrics(ModelFacts facts) : facts_(std::move(facts)) {}

  void CountRequest(const std::string& route, int status);
  // One generation that ran (possibly cancelled part way).
  void CountGeneration(const RunStats& stats, double queued_seconds);
  // Prometheus text exposition (version 0.0.4); `queue_depth` is read by the caller.
  std::string Render(int queue_depth) const;

 private:
  const ModelFacts facts_;
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;  // (route, status) -> count
  std::map<std::string, uint64_t> generations_;               // stop reason -> count
  uint64_t prompt_tokens_ = 0, reused_tokens_ = 0, generated_tokens_ = 0;
  uint64_t passes_ = 0, bytes_read_ = 0;
  double prefill_seconds_ = 0, decode_seconds_ = 0, io_wait_seconds_ = 0, queued_seconds_ = 0;
  double last_decode_tps_ = 0, last_prefill_tps_ = 0;
  uint64_t kv_bytes_ = 0, peak_rss_bytes_ = 0;
};

}  // namespace flashstream::server
