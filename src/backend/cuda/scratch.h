// Scratch: a device buffer that only grows, for the CUDA backend's temporaries. Growing frees
// the old memory, which cudaFree does only once the device is done with it. Aborts when the
// device is out of memory (an internal buffer of the backend, whose ops have no error channel).
// Owns its buffer; not thread-safe.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <utility>

#include "backend/cuda/device_memory.h"
#include "core/check.h"

namespace flashstream::cuda {

class Scratch {
 public:
  // At least `bytes` of device memory; earlier contents are lost when it grows.
  void* Reserve(size_t bytes) {
    if (bytes > buf_.size()) {
      const size_t grown = std::max(bytes, 2 * buf_.size());
      buf_ = DeviceBuffer();
      auto r = DeviceBuffer::Allocate(grown);
      FS_CHECK(r.ok(), "CUDA backend scratch: {}", r.status().message());
      buf_ = std::move(r).value();
      ++grows_;
    }
    return buf_.data();
  }
  // How many times the buffer moved (work recorded with its old address is then stale).
  uint64_t grows() const { return grows_; }

 private:
  DeviceBuffer buf_;
  uint64_t grows_ = 0;
};

}  // namespace flashstream::cuda
