#include "io/file.h"

#include <fcntl.h>     // open, fcntl, O_DIRECT
#include <sys/stat.h>  // fstat
#include <unistd.h>    // pread, pwrite, close, fdatasync, ftruncate

#include <algorithm>
#include <cerrno>
#include <cstdlib>  // std::aligned_alloc, std::free
#include <cstring>  // std::strerror, std::memcpy, std::memset
#include <utility>

#include "core/check.h"  // FS_CHECK on allocation failure

namespace flashstream {
namespace {
// Largest single read/write Linux performs; larger requests are split.
constexpr size_t kMaxIo = 0x7ffff000;
}  // namespace

Result<File> File::Open(const std::string& path) {
  int fd;
  do {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return Errorf("{}: cannot open for reading: {}", path, std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return Errorf("{}: cannot stat: {}", path, std::strerror(err));
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd);
    return Errorf("{}: is a directory, expected a file", path);
  }
  return File(fd, path, static_cast<uint64_t>(st.st_size));
}

File::File(File&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), path_(std::move(other.path_)), size_(other.size_) {}

File& File::operator=(File&& other) noexcept {
  if (this != &other) {
    Reset();
    fd_ = std::exchange(other.fd_, -1);
    path_ = std::move(other.path_);
    size_ = other.size_;
  }
  return *this;
}

File::~File() { Reset(); }

void File::Reset() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void File::DropCache(uint64_t offset, uint64_t n) const {
  posix_fadvise(fd_, static_cast<off_t>(offset), static_cast<off_t>(n), POSIX_FADV_DONTNEED);
}

Status File::ReadAt(uint64_t offset, void* dst, size_t n) const {
  if (fd_ < 0) return Errorf("{}: read from a closed file", path_);
  auto* out = static_cast<std::byte*>(dst);
  size_t done = 0;
  while (done < n) {
    const size_t want = std::min(n - done, kMaxIo);
    const ssize_t got = ::pread(fd_, out + done, want, static_cast<off_t>(offset + done));
    if (got < 0) {
      if (errno == EINTR) continue;
      return Errorf("{}: read of {} bytes at offset {} failed: {}", path_, want, offset + done,
                    std::strerror(errno));
    }
    if (got == 0) {
      return Errorf("{}: unexpected end of file: read of {} bytes at offset {} got only {} (file size {})",
                    path_, n, offset, done, size_);
    }
    done += static_cast<size_t>(got);
  }
  return Status::Ok();
}

Result<std::vector<std::byte>> ReadRange(const std::string& path, uint64_t offset, size_t n) {
  FS_ASSIGN_OR_RETURN(File file, File::Open(path));
  if (offset > file.size() || n > file.size() - offset) {
    return Errorf("{}: range [{}, {}) is past the end of the file (size {})", path, offset,
                  offset + n, file.size());
  }
  std::vector<std::byte> bytes(n);
  FS_RETURN_IF_ERROR(file.ReadAt(offset, bytes.data(), n));
  return bytes;
}

namespace {
constexpr size_t kBufferedBytes = size_t{1} << 20;
constexpr size_t kDirectBytes = size_t{16} << 20;
constexpr size_t kDirectAlign = 4096;  // covers 512- and 4096-byte logical blocks
}  // namespace

void FileWriter::FreeDeleter::operator()(std::byte* p) const { std::free(p); }

Result<FileWriter> FileWriter::Create(const std::string& path, const FileWriterOptions& options) {
  auto open = [&](int flags) {
    int fd;
    do {
      fd = ::open(path.c_str(), flags | O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    } while (fd < 0 && errno == EINTR);
    return fd;
  };
  bool direct = options.direct;
  int fd = open(direct ? O_DIRECT : 0);
  if (fd < 0 && errno == EINVAL && direct) {  // file system without O_DIRECT (e.g. tmpfs)
    direct = false;
    fd = open(0);
  }
  if (fd < 0) return Errorf("{}: cannot create for writing: {}", path, std::strerror(errno));
  return FileWriter(fd, path, direct);
}

FileWriter::FileWriter(int fd, std::string path, bool direct)
    : fd_(fd), path_(std::move(path)), direct_(direct), capacity_(direct ? kDirectBytes : kBufferedBytes) {
  buffer_.reset(static_cast<std::byte*>(std::aligned_alloc(kDirectAlign, capacity_)));
  FS_CHECK(buffer_ != nullptr, "out of memory for a {} byte write buffer", capacity_);
}

FileWriter::FileWriter(FileWriter&& other) noexcept { *this = std::move(other); }

FileWriter& FileWriter::operator=(FileWriter&& other) noexcept {
  if (this != &other) {
    Reset();
    fd_ = std::exchange(other.fd_, -1);
    path_ = std::move(other.path_);
    direct_ = other.direct_;
    position_ = other.position_;
    flushed_ = other.flushed_;
    buffer_ = std::move(other.buffer_);
    capacity_ = other.capacity_;
    buffered_ = std::exchange(other.buffered_, 0);
  }
  return *this;
}

FileWriter::~FileWriter() { Reset(); }

void FileWriter::Reset() {
  if (fd_ >= 0) {
    (void)Flush(/*with_tail=*/true);
    ::close(fd_);
  }
  fd_ = -1;
}

Status FileWriter::PWriteAll(const std::byte* src, size_t n, uint64_t offset) {
  size_t done = 0;
  while (done < n) {
    const size_t want = std::min(n - done, kMaxIo);
    const ssize_t put = ::pwrite(fd_, src + done, want, static_cast<off_t>(offset + done));
    if (put < 0) {
      if (errno == EINTR) continue;
      if (errno == EINVAL && direct_) {
        // The file system accepted O_DIRECT at open but not for this write: go buffered.
        const int fl = ::fcntl(fd_, F_GETFL);
        if (fl >= 0 && ::fcntl(fd_, F_SETFL, fl & ~O_DIRECT) == 0) {
          direct_ = false;
          continue;
        }
      }
      return Errorf("{}: write of {} bytes at offset {} failed: {}", path_, want, offset + done, std::strerror(errno));
    }
    if (put == 0) return Errorf("{}: write at offset {} made no progress", path_, offset + done);
    done += static_cast<size_t>(put);
  }
  return Status::Ok();
}

Status FileWriter::Flush(bool with_tail) {
  if (buffered_ == 0) return Status::Ok();
  if (!direct_) {
    FS_RETURN_IF_ERROR(PWriteAll(buffer_.get(), buffered_, flushed_));
    flushed_ += std::exchange(buffered_, 0);
    return Status::Ok();
  }
  const size_t whole = buffered_ / kDirectAlign * kDirectAlign;
  if (whole > 0) {
    FS_RETURN_IF_ERROR(PWriteAll(buffer_.get(), whole, flushed_));
    std::memmove(buffer_.get(), buffer_.get() + whole, buffered_ - whole);
    flushed_ += whole;
    buffered_ -= whole;
  }
  if (!with_tail || buffered_ == 0) return Status::Ok();
  // The partial last block: write it padded (keeping it buffered, since later writes extend
  // it), then trim the file to its logical size.
  std::memset(buffer_.get() + buffered_, 0, kDirectAlign - buffered_);
  FS_RETURN_IF_ERROR(PWriteAll(buffer_.get(), kDirectAlign, flushed_));
  if (::ftruncate(fd_, static_cast<off_t>(position_)) != 0) {
    return Errorf("{}: truncate to {} bytes failed: {}", path_, position_, std::strerror(errno));
  }
  return Status::Ok();
}

Status FileWriter::Write(const void* src, size_t n) {
  if (fd_ < 0) return Errorf("{}: write to a closed file", path_);
  const auto* bytes = static_cast<const std::byte*>(src);
  position_ += n;
  if (!direct_ && n >= capacity_) {  // large buffered write: skip the copy
    FS_RETURN_IF_ERROR(Flush(false));
    FS_RETURN_IF_ERROR(PWriteAll(bytes, n, flushed_));
    flushed_ += n;
    return Status::Ok();
  }
  while (n > 0) {
    const size_t k = std::min(n, capacity_ - buffered_);
    std::memcpy(buffer_.get() + buffered_, bytes, k);
    buffered_ += k;
    bytes += k;
    n -= k;
    if (buffered_ == capacity_) FS_RETURN_IF_ERROR(Flush(false));
  }
  return Status::Ok();
}

Status FileWriter::WriteZeros(size_t n) {
  static constexpr std::byte kZeros[4096] = {};
  while (n > 0) {
    const size_t k = std::min(n, sizeof(kZeros));
    FS_RETURN_IF_ERROR(Write(kZeros, k));
    n -= k;
  }
  return Status::Ok();
}

Status FileWriter::Sync() {
  if (fd_ < 0) return Errorf("{}: sync of a closed file", path_);
  FS_RETURN_IF_ERROR(Flush(/*with_tail=*/true));
  if (::fdatasync(fd_) != 0) return Errorf("{}: fdatasync failed: {}", path_, std::strerror(errno));
  return Status::Ok();
}

Status FileWriter::Close() {
  if (fd_ < 0) return Errorf("{}: closed twice", path_);
  Status flushed = Flush(/*with_tail=*/true);
  const int rc = ::close(std::exchange(fd_, -1));
  FS_RETURN_IF_ERROR(flushed);
  if (rc != 0) return Errorf("{}: close failed: {}", path_, std::strerror(errno));
  return Status::Ok();
}

}  // namespace flashstream
