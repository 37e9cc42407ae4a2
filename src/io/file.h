// Plain POSIX file access: positioned reads of a read-only file and sequential writes of a new
// one. Every error names the path, the offset and what the OS said. (O_DIRECT / io_uring
// streaming readers live next to this in src/io and do not go through these classes.)
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"  // Status, Result

namespace flashstream {

// An open read-only file. Owns the descriptor (closed on destruction); move-only.
// ReadAt is thread-safe (pread has no shared file position).
class File {
 public:
  static Result<File> Open(const std::string& path);

  File(File&& other) noexcept;
  File& operator=(File&& other) noexcept;
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  ~File();

  const std::string& path() const { return path_; }
  uint64_t size() const { return size_; }  // bytes, as of Open()
  int fd() const { return fd_; }

  // Reads exactly n bytes at `offset` into dst, looping over short reads and EINTR. Reading past
  // the end of the file is an error naming the path, offset and byte counts.
  Status ReadAt(uint64_t offset, void* dst, size_t n) const;
  // Asks the kernel to drop cached pages of [offset, offset + n) (advice; never fails).
  void DropCache(uint64_t offset, uint64_t n) const;

 private:
  File(int fd, std::string path, uint64_t size) : fd_(fd), path_(std::move(path)), size_(size) {}
  void Reset();

  int fd_ = -1;
  std::string path_;
  uint64_t size_ = 0;
};

// Reads bytes [offset, offset + n) of the file at `path`.
Result<std::vector<std::byte>> ReadRange(const std::string& path, uint64_t offset, size_t n);

struct FileWriterOptions {
  // Bypass the page cache (O_DIRECT): data goes out in aligned blocks from an aligned buffer
  // and the file is trimmed to its exact size at Sync()/Close(). Large files then write at disk
  // speed instead of at dirty-page writeback speed. Falls back to buffered I/O where the file
  // system refuses O_DIRECT.
  bool direct = false;
};

// A file created (or truncated) for sequential writing. Writes are gathered in an internal
// buffer (1 MiB; 16 MiB aligned when direct). Owns the descriptor; move-only; thread-compatible.
// Call Close() to learn about late errors (the destructor closes silently).
class FileWriter {
 public:
  static Result<FileWriter> Create(const std::string& path, const FileWriterOptions& options = {});

  FileWriter(FileWriter&& other) noexcept;
  FileWriter& operator=(FileWriter&& other) noexcept;
  FileWriter(const FileWriter&) = delete;
  FileWriter& operator=(const FileWriter&) = delete;
  ~FileWriter();

  const std::string& path() const { return path_; }
  uint64_t position() const { return position_; }  // bytes written so far (buffered included)
  bool direct() const { return direct_; }           // O_DIRECT in effect

  // Appends n bytes. Errors (ENOSPC, EIO, ...) name the path and the offset.
  Status Write(const void* src, size_t n);
  // Appends n zero bytes.
  Status WriteZeros(size_t n);
  // Writes out buffered bytes and waits until the data is on the device (fdatasync).
  Status Sync();
  // Writes out buffered bytes and closes the file; the writer is unusable afterwards.
  Status Close();

 private:
  struct FreeDeleter {
    void operator()(std::byte* p) const;
  };
  FileWriter(int fd, std::string path, bool direct);
  // Writes the buffer out: all of it when buffered; whole blocks when direct, and with
  // `with_tail` also the partial last block (zero-padded, then the file is trimmed).
  Status Flush(bool with_tail);
  Status PWriteAll(const std::byte* src, size_t n, uint64_t offset);
  void Reset();

  int fd_ = -1;
  std::string path_;
  bool direct_ = false;
  uint64_t position_ = 0;  // logical end of file
  uint64_t flushed_ = 0;   // file offset of buffer_[0]; bytes before it are written
  std::unique_ptr<std::byte, FreeDeleter> buffer_;
  size_t capacity_ = 0;
  size_t buffered_ = 0;
};

}  // namespace flashstream
