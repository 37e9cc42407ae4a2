// The CUDA-free device helpers (device_memory.h): byte copies in every direction, the
// kernel copy with a ragged tail, and a backend on a borrowed stream captured into a graph
// computing what direct calls compute.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "cuda_test_util.h"

namespace flashstream {
namespace {

using testing::CudaVsCpuTest;
using testing::DeviceVec;
using testing::DeviceWeights;
using testing::RandomFloats;
using testing::RandomWeights;
using testing::Weights;

using CudaDeviceMemoryTest = CudaVsCpuTest;

TEST_F(CudaDeviceMemoryTest, CopiesRoundTripBytes) {
  std::vector<uint8_t> host(1000003);
  for (size_t i = 0; i < host.size(); ++i) host[i] = static_cast<uint8_t>(i * 131 + 7);
  auto a = cuda::DeviceBuffer::Allocate(host.size());
  auto b = cuda::DeviceBuffer::Allocate(host.size());
  auto c = cuda::DeviceBuffer::Allocate(host.size());
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  auto stream = cuda::Stream::Create(0);
  ASSERT_TRUE(stream.ok()) << stream.status().message();
  ASSERT_TRUE(cuda::CopyToDevice(a->data(), host.data(), host.size()).ok());
  ASSERT_TRUE(cuda::CopyOnDevice(b->data(), a->data(), host.size()).ok());
  ASSERT_TRUE(cuda::CopyWithKernel(c->data(), b->data(), host.size(), *stream).ok());  // 3-byte tail
  ASSERT_TRUE(stream->Synchronize().ok());
  std::vector<uint8_t> back(host.size(), 0);
  ASSERT_TRUE(cuda::CopyToHost(back.data(), c->data(), back.size()).ok());
  EXPECT_EQ(0, std::memcmp(back.data(), host.data(), host.size()));
  EXPECT_FALSE(cuda::CopyWithKernel(c->data() + 1, b->data(), 16, *stream).ok());  // misaligned: an error
}

TEST_F(CudaDeviceMemoryTest, GraphOfBorrowedStreamBackendMatchesDirectCalls) {
  auto stream = cuda::Stream::Create(0);
  ASSERT_TRUE(stream.ok()) << stream.status().message();
  std::unique_ptr<Backend> be = MakeCudaBackend(*stream);
  Weights w = RandomWeights(DType::kQ4_K, 300, 512, rng_);
  DeviceWeights dw(w);
  DeviceVec<float> x(RandomFloats(512, rng_));
  DeviceVec<float> direct(std::vector<float>(300, NAN)), replayed(std::vector<float>(300, NAN));
  be->MatMul(dw.view(), x.data(), 1, direct.data());
  be->SwiGlu(direct.data(), direct.data(), 300, direct.data());
  cuda::Graph g;
  ASSERT_TRUE(g.BeginCapture(*stream).ok());
  be->MatMul(dw.view(), x.data(), 1, replayed.data());
  be->SwiGlu(replayed.data(), replayed.data(), 300, replayed.data());
  ASSERT_TRUE(g.EndCapture(*stream).ok());
  ASSERT_TRUE(g.Launch(*stream).ok());
  ASSERT_TRUE(stream->Synchronize().ok());
  const std::vector<float> a = direct.Download(), b = replayed.Download();
  EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(float)));
  for (float v : b) ASSERT_FALSE(std::isnan(v));
}

}  // namespace
}  // namespace flashstream
