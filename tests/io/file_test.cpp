#include "io/file.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <numeric>
#include <string>

namespace flashstream {
namespace {

std::string TempPath(const std::string& name) {
  const std::filesystem::path dir = std::filesystem::path(::testing::TempDir()) / "fs_io_tests";
  std::filesystem::create_directories(dir);
  return (dir / name).string();
}

void ExpectError(const Status& s, std::initializer_list<std::string_view> parts) {
  ASSERT_FALSE(s.ok());
  for (std::string_view p : parts) EXPECT_NE(s.message().find(p), std::string::npos) << s.message() << " / " << p;
}

std::vector<std::byte> Iota(size_t n) {
  std::vector<std::byte> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<std::byte>((i * 7 + i / 251) & 0xff);
  return v;
}

class FileWriterModes : public ::testing::TestWithParam<bool> {};

TEST_P(FileWriterModes, MixedSmallAndLargeWritesReadBack) {
  const std::string path = TempPath(GetParam() ? "mixed_direct.bin" : "mixed.bin");
  const std::vector<std::byte> data = Iota(37u << 20);
  {
    Result<FileWriter> w = FileWriter::Create(path, {.direct = GetParam()});
    ASSERT_TRUE(w.ok()) << w.status().message();
    ASSERT_TRUE(w->Write(data.data(), 10).ok());                     // buffered
    ASSERT_TRUE(w->Write(data.data() + 10, 3u << 20).ok());          // large, direct
    ASSERT_TRUE(w->Write(data.data() + 10 + (3u << 20), 1000).ok()); // buffered again
    ASSERT_TRUE(w->WriteZeros(12345).ok());
    const size_t written = 10 + (3u << 20) + 1000;
    ASSERT_TRUE(w->Write(data.data() + written, data.size() - written).ok());
    EXPECT_EQ(w->position(), data.size() + 12345);
    ASSERT_TRUE(w->Sync().ok());
    FileWriter moved = std::move(*w);
    ASSERT_TRUE(moved.Close().ok());
    ExpectError(moved.Close(), {path, "closed twice"});
  }
  Result<File> f = File::Open(path);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->size(), data.size() + 12345);
  std::vector<std::byte> back(data.size());
  const size_t head = 10 + (3u << 20) + 1000;
  ASSERT_TRUE(f->ReadAt(0, back.data(), head).ok());
  ASSERT_TRUE(f->ReadAt(head + 12345, back.data() + head, data.size() - head).ok());
  EXPECT_EQ(back, data);
  std::vector<std::byte> zeros(12345, std::byte{1});
  ASSERT_TRUE(f->ReadAt(head, zeros.data(), zeros.size()).ok());
  EXPECT_EQ(zeros, std::vector<std::byte>(12345, std::byte{0}));
  std::filesystem::remove(path);
}

TEST_P(FileWriterModes, SyncMidwayKeepsExactSizeAndContent) {
  const std::string path = TempPath(GetParam() ? "sync_direct.bin" : "sync.bin");
  const std::vector<std::byte> data = Iota(3 * 4096 + 77);
  Result<FileWriter> w = FileWriter::Create(path, {.direct = GetParam()});
  ASSERT_TRUE(w.ok());
  if (GetParam() && !w->direct()) std::printf("note: %s does not support O_DIRECT; tested buffered\n", path.c_str());
  ASSERT_TRUE(w->Write(data.data(), 5000).ok());
  ASSERT_TRUE(w->Sync().ok());
  EXPECT_EQ(std::filesystem::file_size(path), 5000u);  // padded tail trimmed
  ASSERT_TRUE(w->Write(data.data() + 5000, 1).ok());
  ASSERT_TRUE(w->Sync().ok());
  ASSERT_TRUE(w->Write(data.data() + 5001, data.size() - 5001).ok());
  ASSERT_TRUE(w->Close().ok());
  Result<std::vector<std::byte>> back = ReadRange(path, 0, data.size());
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(*back, data);
  EXPECT_EQ(std::filesystem::file_size(path), data.size());
}

INSTANTIATE_TEST_SUITE_P(BufferedAndDirect, FileWriterModes, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Direct" : "Buffered"; });

TEST(File, ErrorsNamePathAndOffset) {
  ExpectError(File::Open("/nonexistent/x.bin").status(), {"/nonexistent/x.bin", "cannot open"});
  ExpectError(File::Open(::testing::TempDir()).status(), {"directory"});
  const std::string path = TempPath("short.bin");
  {
    Result<FileWriter> w = FileWriter::Create(path);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE(w->Write("abcdef", 6).ok());
    ASSERT_TRUE(w->Close().ok());
  }
  Result<File> f = File::Open(path);
  ASSERT_TRUE(f.ok());
  char buf[16];
  ASSERT_TRUE(f->ReadAt(2, buf, 4).ok());
  EXPECT_EQ(std::string(buf, 4), "cdef");
  ExpectError(f->ReadAt(4, buf, 8), {path, "unexpected end of file", "offset 4", "got only 2", "file size 6"});
  File moved = std::move(*f);
  EXPECT_TRUE(moved.ReadAt(0, buf, 6).ok());
  ExpectError(f->ReadAt(0, buf, 1), {"closed"});

  Result<std::vector<std::byte>> r = ReadRange(path, 1, 3);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(static_cast<char>((*r)[0]), 'b');
  ExpectError(ReadRange(path, 5, 2).status(), {path, "past the end"});
}

TEST(FileWriter, ReportsCreateAndWriteErrors) {
  ExpectError(FileWriter::Create("/nonexistent/out.bin").status(), {"/nonexistent/out.bin", "cannot create"});
  if (!std::filesystem::exists("/dev/full")) GTEST_SKIP() << "/dev/full is not available";
  Result<FileWriter> w = FileWriter::Create("/dev/full");
  ASSERT_TRUE(w.ok()) << w.status().message();
  const std::vector<std::byte> data = Iota(2u << 20);
  ExpectError(w->Write(data.data(), data.size()), {"/dev/full", "write of", "No space left"});
}

}  // namespace
}  // namespace flashstream
