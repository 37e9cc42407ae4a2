// KvSpillFile: where the host KV cache puts quantized blocks that exceed its RAM budget. One
// private file per cache, created without a name (O_TMPFILE, else created and unlinked at once),
// so it disappears when the process ends however it ends (exit, Ctrl-C, a crash). Block g of
// layer l has a fixed 4 KiB-aligned slot at (l * blocks_per_layer + g) * slot_bytes, so a
// layer's spilled blocks are one contiguous range, read back in one O_DIRECT request stream by
// the weight streamer's DirectReader (io_uring) on a background I/O thread: Prefetch() starts
// reading the next layer's range into one of two staging slots while attention reads the other.
// Holes are never written. Owns the descriptor, the thread and the staging slots; not
// thread-safe (one caller; the I/O thread is internal).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "core/status.h"
#include "io/direct_reader.h"

namespace flashstream {

class KvSpillFile {
 public:
  // dir: folder for the file ("" = $TMPDIR, else /var/tmp). block_bytes: payload per block.
  static Result<std::unique_ptr<KvSpillFile>> Create(const std::string& dir, uint64_t block_bytes,
                                                     int64_t blocks_per_layer);
  ~KvSpillFile();
  KvSpillFile(const KvSpillFile&) = delete;
  KvSpillFile& operator=(const KvSpillFile&) = delete;

  uint64_t slot_bytes() const { return slot_bytes_; }
  uint64_t staging_bytes() const { return slots_[0].buf.size() + slots_[1].buf.size(); }
  bool direct() const { return reader_->direct(); }
  const std::string& name() const { return name_; }

  // Writes block_bytes of `data` into the slot of (layer, block). A full disk (ENOSPC, EDQUOT,
  // EFBIG) is an error naming the folder and what to do.
  Status Write(int layer, int64_t block, const std::byte* data);
  // Blocks [g0, g1) of `layer` in a staging slot: block g at (g - g0) * slot_bytes(). Uses what
  // a Prefetch() of that range brought in (waiting for it), reads only the missing tail when the
  // prefetch covered a prefix, else reads it all. Valid until the next Read().
  Result<const std::byte*> Read(int layer, int64_t g0, int64_t g1);
  // Starts reading blocks [g0, g1) of `layer` into the slot that the last Read() did not return.
  // Best effort: skipped while that slot is still busy.
  void Prefetch(int layer, int64_t g0, int64_t g1);
  // Forgets staged ranges (blocks were rewritten after a truncation).
  void Invalidate();

 private:
  struct Slot {
    AlignedBuffer buf;
    int layer = -1;  // staged range: blocks [g0, g1) of layer; -1 = none
    int64_t g0 = 0, g1 = 0;
    bool pending = false;  // a read into it is queued or running
    Status status;         // of the last read
  };
  struct Job {
    int slot = 0;
    uint64_t offset = 0, bytes = 0, dst = 0;  // file range, and where it goes in the slot
  };

  KvSpillFile() = default;
  void IoLoop();
  // Queues a read of blocks [g0, g1) of layer into slot s at block index `at`; lock held.
  void Submit(int s, int layer, int64_t g0, int64_t g1, int64_t at);
  Status WaitIdle(int s, std::unique_lock<std::mutex>& lock);
  Status EnsureCapacity(Slot& slot, uint64_t bytes);
  uint64_t Offset(int layer, int64_t block) const {
    return (static_cast<uint64_t>(layer) * static_cast<uint64_t>(blocks_per_layer_) + static_cast<uint64_t>(block)) *
           slot_bytes_;
  }

  std::string name_;  // "<dir>/<unnamed KV spill file>" for messages
  int fd_ = -1;
  uint64_t block_bytes_ = 0;
  uint64_t slot_bytes_ = 0;
  int64_t blocks_per_layer_ = 0;
  AlignedBuffer bounce_;                  // [slot_bytes] one block, zero-padded, for aligned writes
  std::unique_ptr<DirectReader> reader_;  // used by the I/O thread only
  Slot slots_[2];
  int current_ = -1;  // the slot the last Read() returned
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> jobs_;
  bool stop_ = false;
  std::thread io_;
};

}  // namespace flashstream
