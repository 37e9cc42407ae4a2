#include "store/extent_map.h"

#include <gtest/gtest.h>

namespace flashstream {
namespace {

TensorInfo Tensor(const std::string& name, int file, uint64_t offset, int64_t n) {
  TensorInfo t;
  t.name = name;
  t.file = file;
  t.offset = offset;
  t.dtype = DType::kF32;
  t.shape = MakeShape({n});
  t.bytes = static_cast<uint64_t>(n) * 4;
  return t;
}

TEST(ExtentMap, MergesNeighboursAndPlacesTensorsAtTheirFilePhase) {
  std::vector<TensorInfo> ts = {Tensor("blk.0.b", 0, 10016, 100), Tensor("blk.0.a", 0, 1056, 1000),
                                Tensor("blk.0.far", 0, 50'000'000, 8)};
  std::vector<const TensorInfo*> ptrs = {&ts[0], &ts[1], &ts[2]};
  ExtentMap map = BuildExtentMap(ptrs, 1 << 20);
  ASSERT_EQ(map.extents.size(), 2u);
  EXPECT_EQ(map.extents[0].range.begin, 0u);
  EXPECT_EQ(map.extents[0].range.length, 12288u);  // covers 1056 .. 10416
  EXPECT_EQ(map.extents[1].buffer_offset, 12288u);
  EXPECT_EQ(map.bytes % kDirectAlign, 0u);
  std::vector<std::byte> buffer(map.bytes);
  LayerWeights w = map.Views(buffer.data());
  // Each tensor sits at its file offset modulo the alignment (same phase as in the file).
  EXPECT_EQ(w.Get("a").data - buffer.data(), 1056);
  EXPECT_EQ(w.Get("b").data - buffer.data(), 10016);
  EXPECT_EQ(w.Get("far").data - buffer.data(), 12288 + (50'000'000 % 4096));
}

TEST(ExtentMap, SeparatesFiles) {
  std::vector<TensorInfo> ts = {Tensor("x", 1, 0, 16), Tensor("y", 0, 0, 16)};
  ExtentMap map = BuildExtentMap({&ts[0], &ts[1]});
  ASSERT_EQ(map.extents.size(), 2u);
  EXPECT_EQ(map.extents[0].file, 0);
  EXPECT_EQ(map.extents[1].file, 1);
  EXPECT_EQ(map.tensors.size(), 2u);
}

TEST(SplitLayerName, LayerAndRole) {
  EXPECT_EQ(SplitLayerName("blk.12.attn_q.weight"), std::make_pair(12, std::string("attn_q.weight")));
  EXPECT_EQ(SplitLayerName("token_embd.weight"), std::make_pair(-1, std::string("token_embd.weight")));
}

}  // namespace
}  // namespace flashstream
