// Helpers for the CUDA backend tests: device copies of host vectors, the CPU
// backend the CUDA results are compared with, and skipping when no device is
// present (unless FS_REQUIRE_CUDA=1, as scripts/gpu_suite.sh sets, turns that
// into a failure).
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/device_memory.h"
#include "backend/test_util.h"  // RandomWeights, RandomFloats
#include "core/thread_pool.h"

namespace flashstream::testing {

// Device copy of `v`; Download() reads it back.
template <typename T>
class DeviceVec {
 public:
  explicit DeviceVec(const std::vector<T>& v) : n_(v.size()) {
    auto b = cuda::DeviceBuffer::Allocate(v.size() * sizeof(T) + 16);
    EXPECT_TRUE(b.ok()) << b.status().message();
    buf_ = std::move(b).value();
    const Status s = cuda::CopyToDevice(buf_.data(), v.data(), v.size() * sizeof(T));
    EXPECT_TRUE(s.ok()) << s.message();
  }
  T* data() const { return buf_.as<T>(); }
  std::vector<T> Download() const {
    std::vector<T> out(n_);
    EXPECT_TRUE(cuda::DeviceSynchronize().ok());
    const Status s = cuda::CopyToHost(out.data(), buf_.data(), n_ * sizeof(T));
    EXPECT_TRUE(s.ok()) << s.message();
    return out;
  }

 private:
  cuda::DeviceBuffer buf_;
  size_t n_;
};

// Device copy of a weight's bytes at `misalign` bytes past a 256-byte boundary.
class DeviceWeights {
 public:
  DeviceWeights(Weights& host, size_t misalign = 0) : view_(host.view()) {
    auto b = cuda::DeviceBuffer::Allocate(host.bytes() + misalign + 16);
    EXPECT_TRUE(b.ok()) << b.status().message();
    buf_ = std::move(b).value();
    const Status s = cuda::CopyToDevice(buf_.data() + misalign, host.data(), host.bytes());
    EXPECT_TRUE(s.ok()) << s.message();
    view_.data = buf_.data() + misalign;
  }
  const TensorView& view() const { return view_; }

 private:
  cuda::DeviceBuffer buf_;
  TensorView view_;
};

// Sets up both backends, or skips when there is no CUDA device.
class CudaVsCpuTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (cuda::DeviceCount() == 0) {
      const char* req = std::getenv("FS_REQUIRE_CUDA");
      if (req != nullptr && std::string(req) == "1") FAIL() << "FS_REQUIRE_CUDA=1 but no CUDA device is visible";
      GTEST_SKIP() << "no CUDA device";
    }
    cpu_ = MakeCpuBackend(pool_);
    gpu_ = MakeCudaBackend(0);
  }
  ThreadPool pool_{2};
  std::unique_ptr<Backend> cpu_;
  std::unique_ptr<Backend> gpu_;
  std::mt19937 rng_{20261126};
};

// ||a - b|| / ||b||, in double.
inline double RelNorm(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    num += (static_cast<double>(a[i]) - b[i]) * (static_cast<double>(a[i]) - b[i]);
    den += static_cast<double>(b[i]) * b[i];
  }
  return std::sqrt(num / den);
}

}  // namespace flashstream::testing
