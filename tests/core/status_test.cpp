#include <gtest/gtest.h>

#include "core/dtype.h"
#include "core/status.h"
#include "core/tensor.h"
#include "core/thread_pool.h"

#include <atomic>
#include <vector>

namespace flashstream {
namespace {

Result<int> ParsePositive(int v) {
  if (v <= 0) return Errorf("value {} is not positive", v);
  return v;
}

Status UsesAssign(int v, int* out) {
  FS_ASSIGN_OR_RETURN(int x, ParsePositive(v));
  *out = x;
  return Status::Ok();
}

TEST(Status, ResultCarriesValueOrError) {
  int out = 0;
  EXPECT_TRUE(UsesAssign(3, &out).ok());
  EXPECT_EQ(out, 3);
  Status s = UsesAssign(-1, &out);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.message(), "value -1 is not positive");
}

TEST(DType, BlockLayouts) {
  EXPECT_EQ(RowBytes(DType::kQ8_0, 64), 68u);
  EXPECT_EQ(RowBytes(DType::kQ4_1, 576), 360u);
  EXPECT_EQ(RowBytes(DType::kF16, 10), 20u);
  EXPECT_EQ(DTypeFromName("q4_0"), DType::kQ4_0);
  EXPECT_FALSE(DTypeFromName("q3_x").has_value());
}

TEST(Status, ErrorTextQuotedFromAFileStaysOnOneLine) {
  const Status s = Errorf("{}: token '{}' is not in the vocabulary", "t.json", "a\nb\r\x1b[31m\x7f");
  EXPECT_EQ(s.message(), "t.json: token 'a\\nb\\r\\x1b[31m\\x7f' is not in the vocabulary");
  EXPECT_EQ(Status::Error("plain").message(), "plain");
}

TEST(Tensor, ShapeAndRows) {
  TensorView v;
  v.dtype = DType::kQ8_0;
  v.shape = MakeShape({10, 64});
  EXPECT_EQ(v.rows(), 10);
  EXPECT_EQ(v.bytes(), 680u);
  EXPECT_EQ(v.shape.ToString(), "[10, 64]");
}

TEST(ThreadPool, RunsEveryTaskOnItsStaticThread) {
  ThreadPool pool(3);
  std::vector<int> owner(100, -1);
  for (int rep = 0; rep < 50; ++rep) {
    pool.Run(100, [&](int64_t task, int thread) { owner[static_cast<size_t>(task)] = thread; });
    for (int i = 0; i < 100; ++i) ASSERT_EQ(owner[static_cast<size_t>(i)], i % 3);
  }
}

}  // namespace
}  // namespace flashstream
