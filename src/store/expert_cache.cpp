#include "store/expert_cache.h"

#include <algorithm>
#include <chrono>
#include <string>

#include "core/clock.h"

namespace flashstream {
namespace {

uint64_t AlignedLength(const TensorInfo& t) { return AlignRange(t.offset, t.bytes).length; }

// An expert matrix and, for MLX dtypes, its scales and biases (null when absent or not MLX).
std::array<const TensorInfo*, 3> MatrixParts(const ModelIndex& index, const std::string& name) {
  const TensorInfo* t = index.Find(name);
  if (t == nullptr || !IsMlx(t->dtype)) return {t, nullptr, nullptr};
  return {t, index.Find(t->scales), index.Find(t->biases)};
}

}  // namespace

ExpertCacheStats ExpertCacheStats::Since(const ExpertCacheStats& b) const {
  ExpertCacheStats d = *this;
  d.hits -= b.hits;
  d.prefetch_hits -= b.prefetch_hits;
  d.misses -= b.misses;
  d.bytes_read -= b.bytes_read;
  d.prefetch_reads -= b.prefetch_reads;
  d.predicted -= b.predicted;
  d.predicted_used -= b.predicted_used;
  d.routed -= b.routed;
  d.next_predicted -= b.next_predicted;
  d.next_predicted_used -= b.next_predicted_used;
  d.next_routed -= b.next_routed;
  d.io_seconds -= b.io_seconds;
  d.wait_seconds -= b.wait_seconds;
  return d;
}

double ExpertCacheStats::hit_rate() const {
  const uint64_t uses = hits + prefetch_hits + misses;
  return uses > 0 ? static_cast<double>(hits + prefetch_hits) / static_cast<double>(uses) : 0;
}
double ExpertCacheStats::precision() const {
  return predicted > 0 ? static_cast<double>(predicted_used) / static_cast<double>(predicted) : 0;
}
double ExpertCacheStats::recall() const {
  return routed > 0 ? static_cast<double>(predicted_used) / static_cast<double>(routed) : 0;
}
double ExpertCacheStats::next_precision() const {
  return next_predicted > 0 ? static_cast<double>(next_predicted_used) / static_cast<double>(next_predicted) : 0;
}

uint64_t ExpertCache::SlotBytes(const ModelIndex& index) {
  const ModelConfig& c = index.config;
  uint64_t most = 0;
  for (int l = 0; l < c.n_layers; ++l) {
    for (int e = 0; e < c.n_expert; ++e) {
      uint64_t bytes = 0;
      for (const char* kind : {"gate", "up", "down"}) {
        for (const TensorInfo* t :
             MatrixParts(index, "blk." + std::to_string(l) + ".ffn_" + kind + "." + std::to_string(e) + ".weight")) {
          if (t != nullptr) bytes += AlignedLength(*t);
        }
      }
      most = std::max(most, bytes);
    }
  }
  return most;
}

Result<std::unique_ptr<ExpertCache>> ExpertCache::Open(const ModelIndex& index, uint64_t cache_bytes,
                                                       const DirectReaderOptions& io,
                                                       const ExpertCacheOptions& options) {
  if (!IsValid(options.policy)) return Errorf("{}: invalid expert cache policy", index.files.at(0));
  std::unique_ptr<ExpertCache> cache(new ExpertCache());
  cache->index_ = index;
  const ModelConfig& c = cache->index_.config;
  cache->n_expert_ = c.n_expert;
  cache->next_token_ = options.next_token;
  const int n_keys = c.n_layers * c.n_expert;
  cache->parts_.resize(static_cast<size_t>(n_keys));
  for (int l = 0; l < c.n_layers; ++l) {
    for (int e = 0; e < c.n_expert; ++e) {
      auto& parts = cache->parts_[static_cast<size_t>(l * c.n_expert + e)];
      int i = 0;
      for (const char* kind : {"gate", "up", "down"}) {
        const std::string name = "blk." + std::to_string(l) + ".ffn_" + kind + "." + std::to_string(e) + ".weight";
        const std::array<const TensorInfo*, 3> m = MatrixParts(cache->index_, name);
        if (m[0] == nullptr) return Errorf("{}: expert tensor {} is missing", index.files.at(0), name);
        if (IsMlx(m[0]->dtype) && (m[1] == nullptr || m[2] == nullptr)) {
          return Errorf("{}: MLX expert tensor {} lacks its companions {} / {}", index.files.at(0), name, m[0]->scales,
                        m[0]->biases);
        }
        for (const TensorInfo* t : m) {
          if (t != nullptr) parts[static_cast<size_t>(i)] = {t, AlignRange(t->offset, t->bytes)};
          ++i;
        }
      }
    }
  }
  const int threads = std::max(1, options.io_threads);
  cache->readers_.resize(static_cast<size_t>(threads));
  for (auto& readers : cache->readers_) {
    for (const std::string& path : index.files) {
      FS_ASSIGN_OR_RETURN(std::unique_ptr<DirectReader> r, DirectReader::Open(path, io));
      readers.push_back(std::move(r));
    }
  }
  const uint64_t slot = SlotBytes(index);
  const int slots = static_cast<int>(std::max<uint64_t>(1, cache_bytes / std::max<uint64_t>(1, slot)));
  FS_ASSIGN_OR_RETURN(cache->buffer_, AlignedBuffer::Allocate(slot * static_cast<uint64_t>(slots)));
  const double half_life = options.half_life > 0 ? options.half_life : 8.0 * c.n_layers * std::max(1, c.n_expert_used);
  cache->table_ = std::make_unique<ExpertSlots>(options.policy, n_keys, slots, half_life);
  cache->state_.assign(static_cast<size_t>(slots), SlotState::kEmpty);
  cache->prefetched_.assign(static_cast<size_t>(slots), 0);
  cache->needed_.assign(static_cast<size_t>(n_keys), 0);
  cache->stats_.slots = slots;
  cache->stats_.slot_bytes = slot;
  cache->stats_.policy = options.policy;
  cache->stats_.io_threads = threads;
  ExpertCache* self = cache.get();
  for (int w = 0; w < threads; ++w) cache->threads_.emplace_back([self, w] { self->IoThread(w); });
  return cache;
}

ExpertCache::~ExpertCache() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  for (std::thread& t : threads_) t.join();
}

const TensorView* ExpertCache::Router(int layer) const {
  if (layer < 0 || static_cast<size_t>(layer) >= routers_.size()) return nullptr;
  return &routers_[static_cast<size_t>(layer)];
}

void ExpertCache::IoThread(int worker) {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    work_cv_.wait(lock, [this] { return stop_ || !urgent_.empty() || !prefetches_.empty(); });
    if (stop_) return;
    std::deque<Job>& q = urgent_.empty() ? prefetches_ : urgent_;
    const Job job = q.front();
    q.pop_front();
    lock.unlock();
    const auto t0 = std::chrono::steady_clock::now();
    std::byte* dst = buffer_.data() + stats_.slot_bytes * static_cast<uint64_t>(job.slot);
    uint64_t bytes = 0;
    Status st;
    for (const Part& p : parts_[static_cast<size_t>(job.key)]) {
      if (p.info == nullptr) continue;
      st = readers_[static_cast<size_t>(worker)][static_cast<size_t>(p.info->file)]->Read(p.range, dst);
      if (!st.ok()) break;
      dst += p.range.length;
      bytes += p.range.length;
    }
    const double secs = SecondsSince(t0);
    lock.lock();
    stats_.io_seconds += secs;
    stats_.bytes_read += bytes;
    if (job.prefetch) ++stats_.prefetch_reads;
    if (st.ok()) {
      state_[static_cast<size_t>(job.slot)] = SlotState::kReady;
    } else {
      if (error_.ok()) error_ = st;
      state_[static_cast<size_t>(job.slot)] = SlotState::kEmpty;
      prefetched_[static_cast<size_t>(job.slot)] = 0;
      table_->Assign(job.slot, -1);
    }
    done_cv_.notify_all();
  }
}

bool ExpertCache::Evictable(int s) const {
  const size_t i = static_cast<size_t>(s);
  if (state_[i] == SlotState::kLoading || s == in_use_ || prefetched_[i] != 0) return false;
  const int key = table_->key(s);
  return key < 0 || needed_[static_cast<size_t>(key)] == 0;
}

bool ExpertCache::StartRead(int key, bool prefetch, bool urgent) {
  const int s = table_->Victim([this](int slot) { return Evictable(slot); });
  if (s < 0) return false;
  table_->Assign(s, key);
  state_[static_cast<size_t>(s)] = SlotState::kLoading;
  prefetched_[static_cast<size_t>(s)] = prefetch ? 1 : 0;
  (urgent ? urgent_ : prefetches_).push_back({key, s, prefetch});
  work_cv_.notify_one();
  return true;
}

void ExpertCache::StartNeeded() {
  size_t done = 0;
  while (done < pending_.size()) {
    const int key = pending_[done];
    if (table_->Find(key) < 0 && !StartRead(key, false, true)) break;
    ++done;
  }
  pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(done));
}

void ExpertCache::Need(int layer, std::span<const int32_t> experts) {
  std::lock_guard<std::mutex> lock(mu_);
  auto chosen = [&](int key) {
    const int l = key / n_expert_;
    return l == layer && std::binary_search(experts.begin(), experts.end(), key % n_expert_);
  };
  if (predicted_layer_ == layer) {  // layer 0's prediction came from the previous pass
    uint64_t used = 0;
    for (int32_t e : predicted_) {
      if (std::binary_search(experts.begin(), experts.end(), e)) ++used;
    }
    (layer == 0 ? stats_.next_predicted : stats_.predicted) += predicted_.size();
    (layer == 0 ? stats_.next_routed : stats_.routed) += experts.size();
    (layer == 0 ? stats_.next_predicted_used : stats_.predicted_used) += used;
  }
  predicted_layer_ = -1;
  // Queued prefetches the routing did not choose are dropped before they read.
  for (auto it = prefetches_.begin(); it != prefetches_.end();) {
    if (chosen(it->key)) {
      ++it;
      continue;
    }
    state_[static_cast<size_t>(it->slot)] = SlotState::kEmpty;
    prefetched_[static_cast<size_t>(it->slot)] = 0;
    table_->Assign(it->slot, -1);
    it = prefetches_.erase(it);
  }
  // Prefetched experts the routing chose move ahead of the ones it did not.
  std::stable_partition(prefetches_.begin(), prefetches_.end(), [&](const Job& j) { return chosen(j.key); });
  pending_.clear();
  for (int32_t e : experts) {
    const int key = layer * n_expert_ + e;
    needed_[static_cast<size_t>(key)] = 1;
    const int s = table_->Find(key);
    if (s < 0) {
      ++stats_.misses;
      pending_.push_back(key);
    } else if (prefetched_[static_cast<size_t>(s)] != 0) {
      ++stats_.prefetch_hits;
    } else {
      ++stats_.hits;
    }
  }
  std::fill(prefetched_.begin(), prefetched_.end(), 0);
  StartNeeded();
}

void ExpertCache::Prefetch(int layer, std::span<const int32_t> experts) {
  std::lock_guard<std::mutex> lock(mu_);
  predicted_.assign(experts.begin(), experts.end());
  predicted_layer_ = layer;
  if (!pending_.empty()) return;  // routed experts of this layer still wait for slots
  for (int32_t e : experts) {
    const int key = layer * n_expert_ + e;
    if (table_->Find(key) >= 0) continue;
    if (!StartRead(key, true, false)) break;
  }
}

Result<ExpertViews> ExpertCache::Expert(int layer, int expert) {
  const int key = layer * n_expert_ + expert;
  int slot = -1;
  {
    std::unique_lock<std::mutex> lock(mu_);
    in_use_ = -1;
    if (needed_[static_cast<size_t>(key)] == 0) {  // not announced by Need(): count it here
      const int s = table_->Find(key);
      ++(s < 0 ? stats_.misses : stats_.hits);
    }
    StartNeeded();  // the slot released above may take a waiting read (this key stays protected)
    const auto t0 = std::chrono::steady_clock::now();
    bool waited = false;
    for (;;) {
      if (!error_.ok()) return error_;
      const int s = table_->Find(key);
      if (s >= 0 && state_[static_cast<size_t>(s)] == SlotState::kReady) {
        slot = s;
        break;
      }
      if (s < 0 && StartRead(key, false, true)) continue;
      if (s < 0 && urgent_.empty() && prefetches_.empty() &&
          std::none_of(state_.begin(), state_.end(), [](SlotState x) { return x == SlotState::kLoading; })) {
        return Errorf("{}: no expert cache slot is free for layer {} expert {}", index_.files.at(0), layer, expert);
      }
      waited = true;
      done_cv_.wait(lock);
    }
    if (waited) stats_.wait_seconds += SecondsSince(t0);
    pending_.erase(std::remove(pending_.begin(), pending_.end(), key), pending_.end());
    table_->Touch(key);
    in_use_ = slot;
    prefetched_[static_cast<size_t>(slot)] = 0;
    needed_[static_cast<size_t>(key)] = 0;
    StartNeeded();
  }
  const std::byte* base = buffer_.data() + stats_.slot_bytes * static_cast<uint64_t>(slot);
  const std::array<Part, 9>& parts = parts_[static_cast<size_t>(key)];
  std::array<const std::byte*, 9> at{};  // where each part's bytes start in the slot
  for (size_t i = 0; i < parts.size(); ++i) {
    if (parts[i].info == nullptr) continue;
    at[i] = base + parts[i].range.skip;
    base += parts[i].range.length;
  }
  ExpertViews v;
  TensorView* views[3] = {&v.gate, &v.up, &v.down};
  for (size_t m = 0; m < 3; ++m) {
    const TensorInfo& w = *parts[m * 3].info;
    views[m]->data = at[m * 3];
    views[m]->dtype = w.dtype;
    views[m]->shape = w.shape;
    if (IsMlx(w.dtype)) {
      views[m]->scales = at[m * 3 + 1];
      views[m]->biases = at[m * 3 + 2];
      views[m]->aux_dtype = parts[m * 3 + 1].info->dtype;
      views[m]->group_size = w.group_size;
    }
  }
  return v;
}

ExpertCacheStats ExpertCache::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

}  // namespace flashstream
