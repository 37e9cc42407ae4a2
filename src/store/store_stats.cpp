#include <algorithm>

#include "store/weight_store.h"

namespace flashstream {

StoreStats StoreStats::Since(const StoreStats& before) const {
  StoreStats d = *this;
  d.bytes_read -= before.bytes_read;
  d.io_busy_seconds -= before.io_busy_seconds;
  d.io_wait_seconds -= before.io_wait_seconds;
  d.pacer_delay_seconds -= before.pacer_delay_seconds;
  d.h2d_bytes -= before.h2d_bytes;
  const size_t n = std::min(d.layers.size(), before.layers.size());
  for (size_t l = 0; l < n; ++l) {
    d.layers[l].passes -= before.layers[l].passes;
    d.layers[l].io_seconds -= before.layers[l].io_seconds;
    d.layers[l].wait_seconds -= before.layers[l].wait_seconds;
    d.layers[l].compute_seconds -= before.layers[l].compute_seconds;
  }
  return d;
}

}  // namespace flashstream
