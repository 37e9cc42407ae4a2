// DirectReader: reads byte ranges of one file around the page cache (O_DIRECT), split into
// chunks with many requests in flight through io_uring, so streaming weights neither pollutes
// nor depends on the page cache and the memory budget stays real. Where the filesystem refuses
// O_DIRECT it falls back to buffered reads followed by POSIX_FADV_DONTNEED, with a warning.
// Detects a file changed under the process (size or mtime) and fails instead of reading it.
// Owns the file descriptor and the ring; move-only; not thread-safe (one reader thread).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "core/status.h"

namespace flashstream {

constexpr uint64_t kDirectAlign = 4096;  // offset, length and buffer alignment for O_DIRECT

// An aligned byte range covering [offset, offset + bytes) of a file.
struct AlignedRange {
  uint64_t begin = 0;   // aligned down
  uint64_t length = 0;  // aligned up
  uint64_t skip = 0;    // offset - begin: where the requested bytes start inside the range
};
AlignedRange AlignRange(uint64_t offset, uint64_t bytes);

struct DirectReaderOptions {
  int queue_depth = 16;            // requests in flight
  uint64_t chunk_bytes = 1 << 20;  // bytes per request
  bool allow_direct = true;        // false forces buffered reads (tests, tmpfs)
};

class DirectReader {
 public:
  static Result<std::unique_ptr<DirectReader>> Open(const std::string& path, const DirectReaderOptions& options);
  // Reads through a duplicate of an open descriptor (an unlinked scratch file that its owner
  // keeps writing, such as the KV spill file): O_DIRECT when the descriptor has it; the size is
  // re-read before each read; `name` labels errors.
  static Result<std::unique_ptr<DirectReader>> OpenDescriptor(int fd, const std::string& name,
                                                              const DirectReaderOptions& options);
  ~DirectReader();
  DirectReader(const DirectReader&) = delete;
  DirectReader& operator=(const DirectReader&) = delete;

  // Reads range.length bytes at range.begin into dst (kDirectAlign-aligned, >= range.length).
  // Bytes past the end of the file read as zero. Errors name the file and offset.
  Status Read(const AlignedRange& range, std::byte* dst);
  bool direct() const { return direct_; }
  uint64_t file_size() const { return size_; }
  const std::string& path() const { return path_; }
  // Fails when the file's size or modification time differ from when it was opened.
  Status CheckUnchanged() const;

 private:
  DirectReader() = default;
  Status ReadUring(uint64_t offset, uint64_t length, std::byte* dst);

  std::string path_;
  int fd_ = -1;
  bool direct_ = false;
  uint64_t size_ = 0;
  int64_t mtime_ns_ = 0;
  bool growing_ = false;  // OpenDescriptor: the owner may extend the file between reads
  DirectReaderOptions options_;
  struct Ring;
  std::unique_ptr<Ring> ring_;
};

// An anonymous, kDirectAlign-aligned buffer (mmap). Move-only.
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  static Result<AlignedBuffer> Allocate(uint64_t bytes);
  AlignedBuffer(AlignedBuffer&& o) noexcept;
  AlignedBuffer& operator=(AlignedBuffer&& o) noexcept;
  ~AlignedBuffer();
  std::byte* data() const { return data_; }
  uint64_t size() const { return size_; }

 private:
  std::byte* data_ = nullptr;
  uint64_t size_ = 0;
};

}  // namespace flashstream
