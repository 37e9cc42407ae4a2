// KvSpillFile: where the host KV cache puts quantized blocks that exceed its RAM budget. One
// private file per cache, created without a name (O_TMPFILE, else created and unlinked at once),
// so it disappears when the process ends however it ends (exit, Ctrl-C, a crash). Block g of
// layer l has a fixed 4 KiB-aligned slot at (l * blocks_per_layer + g) * slot_bytes, so a
// layer's spilled blocks are one contiguous range, read back in one O_DIRECT request stream by
// the weight streamer's DirectReader (io_uring). Holes are never written. Owns the descriptor and
// the staging buffer; move-only; not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "core/status.h"
#include "io/direct_reader.h"

namespace flashstream {

class KvSpillFile {
 public:
  // dir: folder for the file ("" = $TMPDIR, else /var/tmp). block_bytes: payload per block.
  static Result<std::unique_ptr<KvSpillFile>> Create(const std::string& dir, uint64_t block_bytes, int n_layers,
                                                     int64_t blocks_per_layer);
  ~KvSpillFile();
  KvSpillFile(const KvSpillFile&) = delete;
  KvSpillFile& operator=(const KvSpillFile&) = delete;

  uint64_t slot_bytes() const { return slot_bytes_; }
  uint64_t staging_bytes() const { return staging_.size(); }
  bool direct() const { return reader_->direct(); }
  const std::string& name() const { return name_; }

  // Writes block_bytes of `data` into the slot of (layer, block). A full disk (ENOSPC, EDQUOT,
  // EFBIG) is an error naming the folder and what to do.
  Status Write(int layer, int64_t block, const std::byte* data);
  // Reads the slots of blocks [g0, g1) of `layer` into the staging buffer and returns it: block g
  // at (g - g0) * slot_bytes(). Valid until the next Read().
  Result<const std::byte*> Read(int layer, int64_t g0, int64_t g1);

 private:
  KvSpillFile() = default;
  uint64_t Offset(int layer, int64_t block) const {
    return (static_cast<uint64_t>(layer) * static_cast<uint64_t>(blocks_per_layer_) + static_cast<uint64_t>(block)) *
           slot_bytes_;
  }

  std::string name_;  // "<dir>/<unnamed KV spill file>" for messages
  int fd_ = -1;
  uint64_t block_bytes_ = 0;
  uint64_t slot_bytes_ = 0;
  int64_t blocks_per_layer_ = 0;
  AlignedBuffer bounce_;   // [slot_bytes] one block, zero-padded, for aligned writes
  AlignedBuffer staging_;  // read-back of one layer's range
  std::unique_ptr<DirectReader> reader_;
};

}  // namespace flashstream
