#include "kv/kv_spill.h"

#include <fcntl.h>   // open, O_TMPFILE, O_DIRECT
#include <unistd.h>  // pwrite, close, unlink

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace flashstream {
namespace {

std::string DefaultDir() {
  const char* tmp = std::getenv("TMPDIR");
  return tmp != nullptr && *tmp != '\0' ? tmp : "/var/tmp";
}

// An unnamed read-write file in dir: O_TMPFILE, else mkstemp + unlink. O_DIRECT when the file
// system takes it.
Result<int> OpenUnnamed(const std::string& dir) {
  for (int flags : {O_DIRECT, 0}) {
    const int fd = open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC | flags, 0600);
    if (fd >= 0) return fd;
    if (errno != EINVAL && errno != EOPNOTSUPP && errno != EISDIR) {
      return Errorf("{}: cannot create the KV spill file: {} (set --kv-spill-dir)", dir, std::strerror(errno));
    }
  }
  std::string path = dir + "/flashstream-kv-XXXXXX";
  const int fd = mkostemp(path.data(), O_CLOEXEC);
  if (fd < 0) return Errorf("{}: cannot create the KV spill file: {} (set --kv-spill-dir)", dir, std::strerror(errno));
  unlink(path.c_str());
  const int fl = fcntl(fd, F_GETFL);
  if (fl >= 0) fcntl(fd, F_SETFL, fl | O_DIRECT);  // best effort
  return fd;
}

}  // namespace

Result<std::unique_ptr<KvSpillFile>> KvSpillFile::Create(const std::string& dir_in, uint64_t block_bytes, int n_layers,
                                                         int64_t blocks_per_layer) {
  const std::string dir = dir_in.empty() ? DefaultDir() : dir_in;
  std::unique_ptr<KvSpillFile> f(new KvSpillFile());
  f->name_ = dir + "/<KV spill file>";
  FS_ASSIGN_OR_RETURN(f->fd_, OpenUnnamed(dir));
  f->block_bytes_ = block_bytes;
  f->slot_bytes_ = (block_bytes + kDirectAlign - 1) / kDirectAlign * kDirectAlign;
  f->blocks_per_layer_ = blocks_per_layer;
  (void)n_layers;  // offsets need only the per-layer stride
  FS_ASSIGN_OR_RETURN(f->bounce_, AlignedBuffer::Allocate(f->slot_bytes_));
  DirectReaderOptions io;
  io.queue_depth = 16;
  io.chunk_bytes = 1 << 20;
  FS_ASSIGN_OR_RETURN(f->reader_, DirectReader::OpenDescriptor(f->fd_, f->name_, io));
  return f;
}

KvSpillFile::~KvSpillFile() {
  if (fd_ >= 0) close(fd_);
}

Status KvSpillFile::Write(int layer, int64_t block, const std::byte* data) {
  std::memcpy(bounce_.data(), data, block_bytes_);
  std::memset(bounce_.data() + block_bytes_, 0, slot_bytes_ - block_bytes_);
  const uint64_t offset = Offset(layer, block);
  uint64_t done = 0;
  while (done < slot_bytes_) {
    const ssize_t n = pwrite(fd_, bounce_.data() + done, slot_bytes_ - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = n < 0 ? errno : ENOSPC;
      const bool full = err == ENOSPC || err == EDQUOT || err == EFBIG;
      return Errorf("{}: writing {} bytes of KV cache at offset {} failed: {}{}", name_, slot_bytes_ - done,
                    offset + done, std::strerror(err),
                    full ? " (the disk is full: free space there, choose another --kv-spill-dir or raise --kv-ram)"
                         : "");
    }
    done += static_cast<uint64_t>(n);
  }
  return Status::Ok();
}

Result<const std::byte*> KvSpillFile::Read(int layer, int64_t g0, int64_t g1) {
  const uint64_t bytes = static_cast<uint64_t>(g1 - g0) * slot_bytes_;
  if (staging_.size() < bytes) {
    FS_ASSIGN_OR_RETURN(staging_, AlignedBuffer::Allocate(bytes));
  }
  AlignedRange range;
  range.begin = Offset(layer, g0);
  range.length = bytes;
  FS_RETURN_IF_ERROR(reader_->Read(range, staging_.data()));
  return static_cast<const std::byte*>(staging_.data());
}

}  // namespace flashstream
