#include "store/pacer.h"

#include <algorithm>

namespace flashstream {
namespace {
constexpr double kEma = 0.2;
double Ema(double old, double x) { return old == 0 ? x : old + kEma * (x - old); }
}  // namespace

Pacer::Pacer(const PacerOptions& options)
    : options_(options), rate_(options.initial_rate), tokens_(options.burst_bytes) {}

double Pacer::Reserve(double now, uint64_t bytes) {
  if (last_ >= 0 && rate_ > 0) tokens_ = std::min(options_.burst_bytes, tokens_ + (now - last_) * rate_);
  last_ = now;
  if (rate_ <= 0) return 0;
  tokens_ -= static_cast<double>(bytes);
  return tokens_ >= 0 ? 0 : -tokens_ / rate_;
}

void Pacer::OnLayer(double compute_seconds, bool reads_in_flight, double wait_seconds, double observed_read_rate) {
  if (reads_in_flight) {
    busy_compute_ = Ema(busy_compute_, compute_seconds);
  } else {
    quiet_compute_ = Ema(quiet_compute_, compute_seconds);
  }
  if (wait_seconds > 0) {
    // Compute starved: reads are the bottleneck; open the throttle.
    rate_ = rate_ > 0 ? rate_ * 1.25 : 0;
    if (observed_read_rate > 0 && rate_ > 2 * observed_read_rate) rate_ = 0;
    return;
  }
  if (quiet_compute_ > 0 && busy_compute_ > options_.slowdown * quiet_compute_) {
    // Reads are slowing compute while it does not need them yet: pace them down.
    const double base = rate_ > 0 ? rate_ : std::max(observed_read_rate, options_.min_rate);
    rate_ = std::max(options_.min_rate, base * 0.8);
  }
}

}  // namespace flashstream
