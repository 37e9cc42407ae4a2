// Pacer: a token bucket that limits how fast the prefetcher issues weight reads, with a
// controller fed by measured per-layer compute and I/O times. Reads that would slow compute
// (memory-bandwidth contention on few cores) are paced down; when compute waits on I/O the
// rate goes back up. Pure logic with an injected clock: unit-testable. Not thread-safe: the
// caller serializes access.
#pragma once

#include <cstdint>

namespace flashstream {

struct PacerOptions {
  double initial_rate = 0;   // bytes/s; 0 = unlimited until the controller learns a rate
  double min_rate = 50e6;    // never pace below this (bytes/s)
  double burst_bytes = 64e6; // bucket capacity
  double slowdown = 1.10;    // compute this much slower than its quiet baseline counts as contention
};

class Pacer {
 public:
  explicit Pacer(const PacerOptions& options);
  // Seconds to wait at time `now` before reading `bytes` (0 = go); consumes the tokens.
  double Reserve(double now, uint64_t bytes);
  // Feedback after a layer: its compute time, whether reads were in flight meanwhile, and how
  // long compute waited for that layer's weights.
  void OnLayer(double compute_seconds, bool reads_in_flight, double wait_seconds, double observed_read_rate);
  double rate() const { return rate_; }  // bytes/s; 0 = unlimited
  double quiet_compute() const { return quiet_compute_; }
  double busy_compute() const { return busy_compute_; }

 private:
  PacerOptions options_;
  double rate_;
  double tokens_;
  double last_ = -1;
  double quiet_compute_ = 0;  // EMA of compute time with no reads in flight
  double busy_compute_ = 0;   // EMA of compute time with reads in flight
};

}  // namespace flashstream
