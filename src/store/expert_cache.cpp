#include "store/expert_cache.h"

#include <chrono>
#include <string>

namespace flashstream {
namespace {

uint64_t AlignedLength(const TensorInfo& t) { return AlignRange(t.offset, t.bytes).length; }

}  // namespace

uint64_t ExpertCache::SlotBytes(const ModelIndex& index) {
  const ModelConfig& c = index.config;
  uint64_t most = 0;
  for (int l = 0; l < c.n_layers; ++l) {
    for (int e = 0; e < c.n_expert; ++e) {
      uint64_t bytes = 0;
      for (const char* kind : {"gate", "up", "down"}) {
        const TensorInfo* t =
            index.Find("blk." + std::to_string(l) + ".ffn_" + kind + "." + std::to_string(e) + ".weight");
        if (t != nullptr) bytes += AlignedLength(*t);
      }
      most = std::max(most, bytes);
    }
  }
  return most;
}

Result<std::unique_ptr<ExpertCache>> ExpertCache::Open(const ModelIndex& index, uint64_t cache_bytes,
                                                       const DirectReaderOptions& io) {
  std::unique_ptr<ExpertCache> cache(new ExpertCache());
  cache->index_ = index;
  const ModelConfig& c = cache->index_.config;
  cache->n_expert_ = c.n_expert;
  cache->parts_.resize(static_cast<size_t>(c.n_layers) * static_cast<size_t>(c.n_expert));
  for (int l = 0; l < c.n_layers; ++l) {
    for (int e = 0; e < c.n_expert; ++e) {
      auto& parts = cache->parts_[static_cast<size_t>(l * c.n_expert + e)];
      int i = 0;
      for (const char* kind : {"gate", "up", "down"}) {
        const std::string name = "blk." + std::to_string(l) + ".ffn_" + kind + "." + std::to_string(e) + ".weight";
        const TensorInfo* t = cache->index_.Find(name);
        if (t == nullptr) return Errorf("{}: expert tensor {} is missing", index.files.at(0), name);
        if (IsMlx(t->dtype))
          return Errorf("{}: expert tensor {} is MLX-quantized, which the expert cache does not read",
                        index.files.at(0), name);
        parts[static_cast<size_t>(i++)] = {t, AlignRange(t->offset, t->bytes)};
      }
    }
  }
  for (const std::string& path : index.files) {
    FS_ASSIGN_OR_RETURN(std::unique_ptr<DirectReader> r, DirectReader::Open(path, io));
    cache->readers_.push_back(std::move(r));
  }
  const uint64_t slot = SlotBytes(index);
  const int slots = static_cast<int>(std::max<uint64_t>(1, cache_bytes / std::max<uint64_t>(1, slot)));
  FS_ASSIGN_OR_RETURN(cache->buffer_, AlignedBuffer::Allocate(slot * static_cast<uint64_t>(slots)));
  cache->slot_key_.assign(static_cast<size_t>(slots), -1);
  for (int s = slots - 1; s >= 0; --s) cache->lru_.push_back(s);  // empty slots, used first from the back
  cache->stats_.slots = slots;
  cache->stats_.slot_bytes = slot;
  return cache;
}

Status ExpertCache::Load(int key, int slot) {
  const auto t0 = std::chrono::steady_clock::now();
  std::byte* dst = buffer_.data() + stats_.slot_bytes * static_cast<uint64_t>(slot);
  for (const Part& p : parts_[static_cast<size_t>(key)]) {
    FS_RETURN_IF_ERROR(readers_[static_cast<size_t>(p.info->file)]->Read(p.range, dst));
    dst += p.range.length;
    stats_.bytes_read += p.range.length;
  }
  stats_.io_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return Status::Ok();
}

Result<ExpertViews> ExpertCache::Expert(int layer, int expert) {
  const int key = layer * n_expert_ + expert;
  int slot = -1;
  if (auto it = where_.find(key); it != where_.end()) {
    slot = *it->second;
    lru_.splice(lru_.begin(), lru_, it->second);  // now most recently used
    ++stats_.hits;
  } else {
    slot = lru_.back();  // least recently used (or empty)
    if (const int old = slot_key_[static_cast<size_t>(slot)]; old >= 0) where_.erase(old);
    slot_key_[static_cast<size_t>(slot)] = -1;
    FS_RETURN_IF_ERROR(Load(key, slot));
    slot_key_[static_cast<size_t>(slot)] = key;
    lru_.splice(lru_.begin(), lru_, std::prev(lru_.end()));
    where_[key] = lru_.begin();
    ++stats_.misses;
  }
  const std::byte* base = buffer_.data() + stats_.slot_bytes * static_cast<uint64_t>(slot);
  ExpertViews v;
  TensorView* views[3] = {&v.gate, &v.up, &v.down};
  for (int i = 0; i < 3; ++i) {
    const Part& p = parts_[static_cast<size_t>(key)][static_cast<size_t>(i)];
    views[i]->data = base + p.range.skip;
    views[i]->dtype = p.info->dtype;
    views[i]->shape = p.info->shape;
    base += p.range.length;
  }
  return v;
}

}  // namespace flashstream
