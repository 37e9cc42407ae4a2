#include "io/direct_reader.h"

#include <fcntl.h>     // open, O_DIRECT, posix_fadvise
#include <liburing.h>  // io_uring submission and completion queues
#include <sys/mman.h>  // mmap for aligned buffers
#include <sys/stat.h>  // fstat for size and mtime
#include <unistd.h>    // close

#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "core/check.h"

namespace flashstream {

struct DirectReader::Ring {
  io_uring ring{};
  bool ready = false;
  ~Ring() {
    if (ready) io_uring_queue_exit(&ring);
  }
};

AlignedRange AlignRange(uint64_t offset, uint64_t bytes) {
  AlignedRange r;
  r.begin = offset & ~(kDirectAlign - 1);
  const uint64_t end = (offset + bytes + kDirectAlign - 1) & ~(kDirectAlign - 1);
  r.length = end - r.begin;
  r.skip = offset - r.begin;
  return r;
}

Result<std::unique_ptr<DirectReader>> DirectReader::Open(const std::string& path, const DirectReaderOptions& options) {
  std::unique_ptr<DirectReader> r(new DirectReader());
  r->path_ = path;
  r->options_ = options;
  if (options.allow_direct) {
    r->fd_ = open(path.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC);
    r->direct_ = r->fd_ >= 0;
  }
  if (r->fd_ < 0) {
    r->fd_ = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (r->fd_ < 0) return Errorf("{}: cannot open: {}", path, std::strerror(errno));
    if (options.allow_direct) {
      std::fprintf(stderr, "flashstream: warning: %s: O_DIRECT refused by the filesystem; "
                           "reading through the page cache and dropping pages after use\n", path.c_str());
    }
  }
  struct stat st {};
  if (fstat(r->fd_, &st) != 0) return Errorf("{}: fstat failed: {}", path, std::strerror(errno));
  r->size_ = static_cast<uint64_t>(st.st_size);
  r->mtime_ns_ = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  r->ring_ = std::make_unique<Ring>();
  const int err = io_uring_queue_init(static_cast<unsigned>(options.queue_depth), &r->ring_->ring, 0);
  if (err < 0) return Errorf("{}: io_uring setup failed: {}", path, std::strerror(-err));
  r->ring_->ready = true;
  return r;
}

Result<std::unique_ptr<DirectReader>> DirectReader::OpenDescriptor(int fd, const std::string& name,
                                                                   const DirectReaderOptions& options) {
  std::unique_ptr<DirectReader> r(new DirectReader());
  r->path_ = name;
  r->options_ = options;
  r->growing_ = true;
  r->fd_ = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (r->fd_ < 0) return Errorf("{}: cannot duplicate the descriptor: {}", name, std::strerror(errno));
  r->direct_ = (fcntl(r->fd_, F_GETFL) & O_DIRECT) != 0;
  struct stat st {};
  if (fstat(r->fd_, &st) != 0) return Errorf("{}: fstat failed: {}", name, std::strerror(errno));
  r->size_ = static_cast<uint64_t>(st.st_size);
  r->ring_ = std::make_unique<Ring>();
  const int err = io_uring_queue_init(static_cast<unsigned>(options.queue_depth), &r->ring_->ring, 0);
  if (err < 0) return Errorf("{}: io_uring setup failed: {}", name, std::strerror(-err));
  r->ring_->ready = true;
  return r;
}

DirectReader::~DirectReader() {
  if (fd_ >= 0) close(fd_);
}

Status DirectReader::CheckUnchanged() const {
  struct stat st {};
  if (fstat(fd_, &st) != 0) return Errorf("{}: fstat failed: {}", path_, std::strerror(errno));
  const int64_t mtime = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  if (static_cast<uint64_t>(st.st_size) != size_ || mtime != mtime_ns_) {
    return Errorf("{}: the file changed while the model was loaded (size {} -> {}); refusing to read it",
                  path_, size_, st.st_size);
  }
  return Status::Ok();
}

Status DirectReader::Read(const AlignedRange& range, std::byte* dst) {
  FS_CHECK(range.begin % kDirectAlign == 0 && range.length % kDirectAlign == 0, "unaligned range");
  FS_CHECK(reinterpret_cast<uintptr_t>(dst) % kDirectAlign == 0, "unaligned buffer");
  if (growing_) {
    struct stat st {};
    if (fstat(fd_, &st) != 0) return Errorf("{}: fstat failed: {}", path_, std::strerror(errno));
    size_ = static_cast<uint64_t>(st.st_size);
  }
  if (range.begin >= size_) return Errorf("{}: read at offset {} is past the end ({} bytes)", path_, range.begin, size_);
  const uint64_t readable = std::min(range.length, size_ - range.begin);
  // Only the last aligned block may extend past EOF; those bytes read as zero.
  std::memset(dst + readable, 0, range.length - readable);
  FS_RETURN_IF_ERROR(ReadUring(range.begin, readable, dst));
  if (!direct_) posix_fadvise(fd_, static_cast<off_t>(range.begin), static_cast<off_t>(readable), POSIX_FADV_DONTNEED);
  return Status::Ok();
}

Status DirectReader::ReadUring(uint64_t offset, uint64_t length, std::byte* dst) {
  io_uring* ring = &ring_->ring;
  uint64_t next = 0;      // next byte (relative) not yet submitted
  uint64_t done = 0;      // bytes completed
  int in_flight = 0;
  // For O_DIRECT the tail request is rounded up to the alignment; the kernel returns the bytes
  // up to EOF, which is all that is asked for.
  auto submit = [&](uint64_t rel, uint64_t n) {
    io_uring_sqe* sqe = io_uring_get_sqe(ring);
    FS_CHECK(sqe != nullptr, "io_uring queue full");
    const uint64_t req = direct_ ? ((n + kDirectAlign - 1) & ~(kDirectAlign - 1)) : n;
    io_uring_prep_read(sqe, fd_, dst + rel, static_cast<unsigned>(req), offset + rel);
    io_uring_sqe_set_data(sqe, reinterpret_cast<void*>(static_cast<uintptr_t>(rel)));
    ++in_flight;
    return n;
  };
  std::vector<std::pair<uint64_t, uint64_t>> retry;  // (rel, remaining) after short reads
  while (done < length) {
    while (in_flight < options_.queue_depth && (next < length || !retry.empty())) {
      if (!retry.empty()) {
        auto [rel, n] = retry.back();
        retry.pop_back();
        submit(rel, n);
        continue;
      }
      const uint64_t n = std::min(options_.chunk_bytes, length - next);
      submit(next, n);
      next += n;
    }
    const int sub = io_uring_submit(ring);
    if (sub < 0) return Errorf("{}: io_uring submit failed: {}", path_, std::strerror(-sub));
    io_uring_cqe* cqe = nullptr;
    const int err = io_uring_wait_cqe(ring, &cqe);
    if (err < 0) return Errorf("{}: io_uring wait failed: {}", path_, std::strerror(-err));
    const uint64_t rel = static_cast<uint64_t>(reinterpret_cast<uintptr_t>(io_uring_cqe_get_data(cqe)));
    const int res = cqe->res;
    io_uring_cqe_seen(ring, cqe);
    --in_flight;
    if (res < 0) {
      return Errorf("{}: read of {} bytes at offset {} failed: {}", path_, std::min(options_.chunk_bytes, length - rel),
                    offset + rel, std::strerror(-res));
    }
    // The request covered [rel, rel + want); find how much was wanted from where it started.
    const uint64_t chunk_end = std::min(length, (rel / options_.chunk_bytes + 1) * options_.chunk_bytes);
    const uint64_t want = chunk_end - rel;
    const uint64_t got = std::min<uint64_t>(static_cast<uint64_t>(res), want);
    if (got == 0) {
      return Errorf("{}: unexpected end of file at offset {} (file is {} bytes; it may have been truncated)",
                    path_, offset + rel, size_);
    }
    done += got;
    if (got < want) retry.emplace_back(rel + got, want - got);
  }
  return Status::Ok();
}

Result<AlignedBuffer> AlignedBuffer::Allocate(uint64_t bytes) {
  AlignedBuffer b;
  if (bytes == 0) return b;
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return Errorf("cannot allocate {} bytes: {}", bytes, std::strerror(errno));
  b.data_ = static_cast<std::byte*>(p);
  b.size_ = bytes;
  return b;
}

AlignedBuffer::AlignedBuffer(AlignedBuffer&& o) noexcept
    : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}

AlignedBuffer& AlignedBuffer::operator=(AlignedBuffer&& o) noexcept {
  if (this != &o) {
    if (data_ != nullptr) munmap(data_, size_);
    data_ = std::exchange(o.data_, nullptr);
    size_ = std::exchange(o.size_, 0);
  }
  return *this;
}

AlignedBuffer::~AlignedBuffer() {
  if (data_ != nullptr) munmap(data_, size_);
}

}  // namespace flashstream
