#include "kv/kv_spill.h"

#include <fcntl.h>   // open, O_TMPFILE, O_DIRECT
#include <unistd.h>  // pwrite, close, unlink

#include <algorithm>
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

Result<std::unique_ptr<KvSpillFile>> KvSpillFile::Create(const std::string& dir_in, uint64_t block_bytes,
                                                         int64_t blocks_per_layer) {
  const std::string dir = dir_in.empty() ? DefaultDir() : dir_in;
  std::unique_ptr<KvSpillFile> f(new KvSpillFile());
  f->name_ = dir + "/<KV spill file>";
  FS_ASSIGN_OR_RETURN(f->fd_, OpenUnnamed(dir));
  f->block_bytes_ = block_bytes;
  f->slot_bytes_ = (block_bytes + kDirectAlign - 1) / kDirectAlign * kDirectAlign;
  f->blocks_per_layer_ = blocks_per_layer;
  FS_ASSIGN_OR_RETURN(f->bounce_, AlignedBuffer::Allocate(f->slot_bytes_));
  DirectReaderOptions io;
  io.queue_depth = 16;
  io.chunk_bytes = 1 << 20;
  FS_ASSIGN_OR_RETURN(f->reader_, DirectReader::OpenDescriptor(f->fd_, f->name_, io));
  f->io_ = std::thread([p = f.get()] { p->IoLoop(); });
  return f;
}

KvSpillFile::~KvSpillFile() {
  if (io_.joinable()) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    io_.join();
  }
  if (fd_ >= 0) close(fd_);
}

void KvSpillFile::IoLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stop_ || !jobs_.empty(); });
    if (jobs_.empty()) return;  // stop_ with nothing queued
    const Job job = jobs_.front();
    jobs_.pop_front();
    std::byte* dst = slots_[job.slot].buf.data() + job.dst;
    lock.unlock();
    AlignedRange range;
    range.begin = job.offset;
    range.length = job.bytes;
    Status status = reader_->Read(range, dst);
    lock.lock();
    slots_[job.slot].status = std::move(status);
    slots_[job.slot].pending = false;
    cv_.notify_all();
  }
}

void KvSpillFile::Submit(int s, int layer, int64_t g0, int64_t g1, int64_t at) {
  Job job;
  job.slot = s;
  job.offset = Offset(layer, g0);
  job.bytes = static_cast<uint64_t>(g1 - g0) * slot_bytes_;
  job.dst = static_cast<uint64_t>(at) * slot_bytes_;
  slots_[s].pending = true;
  jobs_.push_back(job);
  cv_.notify_all();
}

Status KvSpillFile::WaitIdle(int s, std::unique_lock<std::mutex>& lock) {
  cv_.wait(lock, [&] { return !slots_[s].pending; });
  return slots_[s].status;
}

Status KvSpillFile::EnsureCapacity(Slot& slot, uint64_t bytes) {
  if (slot.buf.size() >= bytes) return Status::Ok();
  FS_ASSIGN_OR_RETURN(slot.buf, AlignedBuffer::Allocate(std::max(bytes, 2 * slot.buf.size())));
  return Status::Ok();
}

void KvSpillFile::Prefetch(int layer, int64_t g0, int64_t g1) {
  if (g0 >= g1) return;
  std::unique_lock<std::mutex> lock(mu_);
  for (const Slot& slot : slots_) {
    if (slot.layer == layer && slot.g0 <= g0 && slot.g1 >= g1) return;  // staged or on its way
  }
  const int s = current_ == 0 ? 1 : 0;
  Slot& slot = slots_[s];
  if (slot.pending || !EnsureCapacity(slot, static_cast<uint64_t>(g1 - g0) * slot_bytes_).ok()) return;
  slot.layer = layer;
  slot.g0 = g0;
  slot.g1 = g1;
  Submit(s, layer, g0, g1, 0);
}

void KvSpillFile::Invalidate() {
  std::unique_lock<std::mutex> lock(mu_);
  for (int s = 0; s < 2; ++s) {
    (void)WaitIdle(s, lock);
    slots_[s].layer = -1;
  }
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
      return Errorf(
          "{}: writing {} bytes of KV cache at offset {} failed: {}{}", name_, slot_bytes_ - done, offset + done,
          std::strerror(err),
          full ? " (the disk is full: free space there, choose another --kv-spill-dir or raise --kv-ram)" : "");
    }
    done += static_cast<uint64_t>(n);
  }
  return Status::Ok();
}

Result<const std::byte*> KvSpillFile::Read(int layer, int64_t g0, int64_t g1) {
  std::unique_lock<std::mutex> lock(mu_);
  for (int s = 0; s < 2; ++s) {  // staged (or being staged) by a prefetch
    Slot& slot = slots_[s];
    if (slot.layer != layer || slot.g0 > g0 || slot.g1 <= g0) continue;
    const Status status = WaitIdle(s, lock);
    if (!status.ok()) {
      slot.layer = -1;
      return status;
    }
    if (slot.g1 < g1) {  // more blocks spilled since the prefetch: read the tail behind them
      if (slot.buf.size() < static_cast<uint64_t>(g1 - slot.g0) * slot_bytes_) break;  // no room: read it all
      Submit(s, layer, slot.g1, g1, slot.g1 - slot.g0);
      const Status tail = WaitIdle(s, lock);
      if (!tail.ok()) {
        slot.layer = -1;
        return tail;
      }
      slot.g1 = g1;
    }
    current_ = s;
    return static_cast<const std::byte*>(slot.buf.data() + static_cast<uint64_t>(g0 - slot.g0) * slot_bytes_);
  }
  const int s = current_ == 0 ? 1 : 0;
  Slot& slot = slots_[s];
  FS_RETURN_IF_ERROR(WaitIdle(s, lock));
  slot.layer = -1;
  FS_RETURN_IF_ERROR(EnsureCapacity(slot, static_cast<uint64_t>(g1 - g0) * slot_bytes_));
  Submit(s, layer, g0, g1, 0);
  FS_RETURN_IF_ERROR(WaitIdle(s, lock));
  slot.layer = layer;
  slot.g0 = g0;
  slot.g1 = g1;
  current_ = s;
  return static_cast<const std::byte*>(slot.buf.data());
}

}  // namespace flashstream
