#include "io/direct_reader.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

namespace flashstream {
namespace {

class DirectReaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = ::testing::TempDir() + "direct_reader_" + std::to_string(getpid()) + ".bin";
    std::mt19937 rng(7);
    data_.resize(3 * 1024 * 1024 + 1234);
    for (auto& b : data_) b = static_cast<char>(rng());
    std::ofstream(path_, std::ios::binary).write(data_.data(), static_cast<std::streamsize>(data_.size()));
  }
  void TearDown() override { std::remove(path_.c_str()); }

  void ExpectRange(DirectReader& reader, uint64_t offset, uint64_t n) {
    const AlignedRange r = AlignRange(offset, n);
    Result<AlignedBuffer> buf = AlignedBuffer::Allocate(r.length);
    ASSERT_TRUE(buf.ok());
    ASSERT_TRUE(reader.Read(r, buf->data()).ok()) << offset;
    ASSERT_EQ(0, std::memcmp(buf->data() + r.skip, data_.data() + offset, n)) << "offset " << offset;
  }

  std::string path_;
  std::vector<char> data_;
};

TEST(AlignRange, CoversTheRequestWithAlignedEnds) {
  AlignedRange r = AlignRange(5000, 100);
  EXPECT_EQ(r.begin, 4096u);
  EXPECT_EQ(r.skip, 904u);
  EXPECT_EQ(r.length, 4096u);
  r = AlignRange(8192, 8192);
  EXPECT_EQ(r.begin, 8192u);
  EXPECT_EQ(r.length, 8192u);
  EXPECT_EQ(r.skip, 0u);
}

TEST_F(DirectReaderTest, ReadsUnalignedRangesExactly) {
  for (bool direct : {true, false}) {
    DirectReaderOptions o;
    o.allow_direct = direct;
    o.chunk_bytes = 64 * 1024;  // many requests per read
    o.queue_depth = 4;
    Result<std::unique_ptr<DirectReader>> reader = DirectReader::Open(path_, o);
    ASSERT_TRUE(reader.ok()) << reader.status().message();
    ExpectRange(**reader, 0, 100);
    ExpectRange(**reader, 32, 1000000);
    ExpectRange(**reader, 4095, 2);
    ExpectRange(**reader, 777777, 2 * 1024 * 1024);
    ExpectRange(**reader, data_.size() - 10, 10);  // tail inside a partial block
    ExpectRange(**reader, 0, data_.size());
  }
}

TEST_F(DirectReaderTest, ReadPastEndIsAnError) {
  Result<std::unique_ptr<DirectReader>> reader = DirectReader::Open(path_, DirectReaderOptions{});
  ASSERT_TRUE(reader.ok());
  Result<AlignedBuffer> buf = AlignedBuffer::Allocate(4096);
  ASSERT_TRUE(buf.ok());
  Status s = (*reader)->Read(AlignRange(data_.size() + 8192, 10), buf->data());
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find(path_), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("past the end"), std::string::npos) << s.message();
}

TEST_F(DirectReaderTest, DetectsAFileChangedUnderIt) {
  Result<std::unique_ptr<DirectReader>> reader = DirectReader::Open(path_, DirectReaderOptions{});
  ASSERT_TRUE(reader.ok());
  EXPECT_TRUE((*reader)->CheckUnchanged().ok());
  ASSERT_EQ(0, truncate(path_.c_str(), 4096));
  Status s = (*reader)->CheckUnchanged();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("changed"), std::string::npos) << s.message();
}

TEST(DirectReader, MissingFileNamesThePath) {
  Result<std::unique_ptr<DirectReader>> reader = DirectReader::Open("/nonexistent/model.gguf", DirectReaderOptions{});
  ASSERT_FALSE(reader.ok());
  EXPECT_NE(reader.status().message().find("/nonexistent/model.gguf"), std::string::npos);
}

}  // namespace
}  // namespace flashstream
