#include "kv/tiered_kv_cache.h"

#include <fmt/format.h>  // Describe, errors

#include <algorithm>
#include <climits>
#include <cstring>

#include "core/check.h"

namespace flashstream {
namespace {

constexpr int64_t G = TieredKvCache::kBlockRows;

}  // namespace

TieredKvCache::TieredKvCache(const KvConfig& c, Backend* device)
    : config_(c),
      device_(device),
      layers_(static_cast<size_t>(c.n_layers)),
      layer_window_(static_cast<size_t>(c.n_layers), 0) {
  const int w = c.n_kv_heads * c.head_dim;
  hot_ = KvBlockLayout{c.f32 ? KvFormat::kF32 : KvFormat::kF16, KvGrouping::kPerToken, w, KvChannelGroup(w),
                       static_cast<int>(G)};
  const KvFormat q = c.quant_bits == 4 ? KvFormat::kQ4 : KvFormat::kQ8;
  cold_k_ = KvBlockLayout{q, c.keys_per_token ? KvGrouping::kPerToken : KvGrouping::kPerChannel, w, KvChannelGroup(w),
                          static_cast<int>(G)};
  cold_v_ = KvBlockLayout{q, KvGrouping::kPerToken, w, KvChannelGroup(w), static_cast<int>(G)};
}

TieredKvCache::~TieredKvCache() {
  for (Layer& L : layers_) {
    for (Block& b : L.blocks) {
      FreeBlock(b.hot, true);
      FreeBlock(b.cold, false);
    }
  }
  if (device_ == nullptr) return;
  for (auto* list : {&free_hot_, &free_cold_}) {
    for (std::byte* p : *list) device_->Free(p);
  }
}

Result<std::byte*> TieredKvCache::NewBlock(bool hot) {
  const size_t bytes = hot ? hot_block_bytes() : cold_block_bytes();
  if (device_ == nullptr) return new std::byte[bytes]();
  std::vector<std::byte*>& list = hot ? free_hot_ : free_cold_;
  if (!list.empty()) {
    std::byte* p = list.back();
    list.pop_back();
    return p;
  }
  Result<void*> p = device_->Allocate(bytes);
  if (!p.ok()) return Errorf("KV cache: a block of {} KiB: {} (lower --ctx)", bytes / 1024, p.status().message());
  return static_cast<std::byte*>(*p);
}

void TieredKvCache::FreeBlock(std::byte*& p, bool hot) {
  if (p == nullptr) return;
  if (device_ == nullptr) {
    delete[] p;
  } else {
    (hot ? free_hot_ : free_cold_).push_back(p);
  }
  p = nullptr;
}

Result<std::unique_ptr<TieredKvCache>> TieredKvCache::Create(const KvConfig& c, Backend* device) {
  if (c.n_layers <= 0 || c.n_kv_heads <= 0 || c.head_dim <= 0 || c.max_positions <= 0) {
    return Errorf("KV cache: {} layers of {} kv heads x {} dims for {} positions: expected positive sizes", c.n_layers,
                  c.n_kv_heads, c.head_dim, c.max_positions);
  }
  if (c.quant_bits != 0 && c.quant_bits != 4 && c.quant_bits != 8) {
    return Errorf("--kv-quant {}: expected 8, 4 or 0 (no quantization)", c.quant_bits);
  }
  if (c.window < 0) return Errorf("--kv-window {}: expected a count of tokens >= 0", c.window);
  if (c.quant_bits == 4 && (c.n_kv_heads * c.head_dim) % 2 != 0) {
    return Errorf("--kv-quant 4: K/V rows of {} values are not a whole number of bytes; use --kv-quant 8",
                  c.n_kv_heads * c.head_dim);
  }
  if (device != nullptr && c.ram_bytes > 0) {
    return Errorf(
        "--kv-ram: a KV cache on the {} device does not spill to disk (its quantized tier stays in device "
        "memory); leave --kv-ram out",
        device->Name());
  }
  return std::unique_ptr<TieredKvCache>(new TieredKvCache(c, device));
}

int64_t TieredKvCache::Boundary(int64_t p) const {
  if (!quantized()) return 0;
  const int64_t b = std::max<int64_t>(0, p - config_.window + 1);
  return block_quantized() ? b / G * G : b;
}

Status TieredKvCache::Reserve(int n_tok) {
  const int64_t need = n_past_ + n_tok;
  if (need > config_.max_positions) {
    return Errorf("context full: {} positions needed, the context holds {} (raise --ctx)", need, config_.max_positions);
  }
  return Status::Ok();
}

Status TieredKvCache::Write(int layer, const float* k, const float* v, int n_tok) {
  Layer& L = layers_[static_cast<size_t>(layer)];
  FS_CHECK(L.written == n_past_, "KV Write: layer {} already holds {} rows at n_past {}", layer, L.written, n_past_);
  FS_CHECK(n_past_ + n_tok <= config_.max_positions, "KV Write past the context: Reserve() first");
  const int64_t w = width();
  const size_t half = hot_.bytes();
  for (int64_t r = 0; r < n_tok;) {
    const int64_t pos = n_past_ + r;
    const auto g = static_cast<size_t>(pos / G);
    const int row = static_cast<int>(pos % G);
    const int cnt = static_cast<int>(std::min<int64_t>(n_tok - r, G - row));
    if (L.blocks.size() <= g) L.blocks.resize(g + 1);
    Block& b = L.blocks[g];
    if (b.hot == nullptr) {
      FS_ASSIGN_OR_RETURN(b.hot, NewBlock(true));
      stats_.hot_bytes += 2 * half;
    }
    if (device_ != nullptr) {
      device_->QuantizeKv(hot_, k + r * w, row, cnt, b.hot);
      device_->QuantizeKv(hot_, v + r * w, row, cnt, b.hot + half);
    } else {
      QuantizeKvRows(hot_, k + r * w, row, cnt, b.hot);
      QuantizeKvRows(hot_, v + r * w, row, cnt, b.hot + half);
    }
    r += cnt;
  }
  L.written = n_past_ + n_tok;
  if (quantized()) FS_RETURN_IF_ERROR(QuantizeUpTo(L, Boundary(L.written - 1)));
  return SpillOverBudget();
}

Status TieredKvCache::QuantizeUpTo(Layer& L, int64_t target) {
  const int64_t w = width();
  if (device_ == nullptr) rows_.resize(static_cast<size_t>(G * w));
  const size_t k_bytes = cold_k_.bytes();
  while (L.cold_end < target) {
    const auto g = static_cast<size_t>(L.cold_end / G);
    const int row0 = static_cast<int>(L.cold_end % G);
    const int n =
        block_quantized() ? static_cast<int>(G) : static_cast<int>(std::min<int64_t>(G - row0, target - L.cold_end));
    FS_CHECK(!block_quantized() || (row0 == 0 && L.cold_end + G <= target), "KV: block {} quantized before it is full",
             g);
    Block& b = L.blocks[g];
    FS_CHECK(b.hot != nullptr && L.hot_lo <= L.cold_end, "KV: rows from {} have no hot copy to quantize", L.cold_end);
    if (b.cold == nullptr) {
      FS_ASSIGN_OR_RETURN(b.cold, NewBlock(false));
      stats_.cold_bytes += k_bytes + cold_v_.bytes();
    }
    if (device_ != nullptr) {
      device_->RequantizeKv(hot_, b.hot, cold_k_, row0, n, b.cold);
      device_->RequantizeKv(hot_, b.hot + hot_.bytes(), cold_v_, row0, n, b.cold + k_bytes);
    } else {
      DequantizeKvRows(hot_, b.hot, row0, n, rows_.data());
      QuantizeKvRows(cold_k_, rows_.data(), row0, n, b.cold);
      DequantizeKvRows(hot_, b.hot + hot_.bytes(), row0, n, rows_.data());
      QuantizeKvRows(cold_v_, rows_.data(), row0, n, b.cold + k_bytes);
    }
    L.cold_end += n;
  }
  return Status::Ok();
}

Status TieredKvCache::SpillOverBudget() {
  if (config_.ram_bytes == 0) return Status::Ok();
  const uint64_t block_bytes = cold_k_.bytes() + cold_v_.bytes();
  while (stats_.cold_bytes > config_.ram_bytes) {
    int best = -1;
    int64_t best_g = 0;
    for (int l = 0; l < config_.n_layers; ++l) {  // the oldest complete block in RAM, lowest layer first
      const Layer& L = layers_[static_cast<size_t>(l)];
      const int64_t g = L.spilled;
      if ((g + 1) * G <= L.cold_end && (best < 0 || g < best_g)) {
        best = l;
        best_g = g;
      }
    }
    if (best < 0) break;  // only partial blocks are left in RAM
    if (!spill_) {
      const int64_t blocks = (config_.max_positions + G - 1) / G;
      FS_ASSIGN_OR_RETURN(spill_, KvSpillFile::Create(config_.spill_dir, block_bytes, blocks));
      stats_.staging_bytes = spill_->staging_bytes();
    }
    Layer& L = layers_[static_cast<size_t>(best)];
    Block& b = L.blocks[static_cast<size_t>(best_g)];
    FS_RETURN_IF_ERROR(spill_->Write(best, best_g, b.cold));
    FreeBlock(b.cold, false);
    b.on_disk = true;
    ++L.spilled;
    stats_.cold_bytes -= block_bytes;
    stats_.disk_bytes += spill_->slot_bytes();
    stats_.written_disk_bytes += spill_->slot_bytes();
  }
  return Status::Ok();
}

Status TieredKvCache::Attend(int layer, Backend& backend, const float* q, int n_tok, int n_heads, int n_kv_heads,
                             int head_dim, float scale, int64_t window, float* out) {
  FS_CHECK(n_kv_heads == config_.n_kv_heads && head_dim == config_.head_dim, "KV Attend: {} x {} for a {} x {} cache",
           n_kv_heads, head_dim, config_.n_kv_heads, config_.head_dim);
  Layer& L = layers_[static_cast<size_t>(layer)];
  const int64_t pos0 = n_past_, last = n_past_ + n_tok - 1;
  FS_CHECK(L.written == last + 1, "KV Attend: layer {} holds {} rows, queries end at {}", layer, L.written, last);
  FS_CHECK(L.hot_lo <= std::max<int64_t>(L.cold_end, 0), "KV: hot rows from {} but cold rows end at {}", L.hot_lo,
           L.cold_end);
  // Query p reads cold rows [lo_p, split_p) and hot rows [max(split_p, lo_p), p]; the views
  // cover the union over the queries, so no block is read that no query needs.
  layer_window_[static_cast<size_t>(layer)] = window;
  split_.resize(static_cast<size_t>(n_tok));
  int64_t cold_lo = last + 1, cold_hi = 0, hot_from = last + 1;
  for (int i = 0; i < n_tok; ++i) {
    const int64_t p = pos0 + i;
    const int64_t s = Split(L, p);
    FS_CHECK(s <= std::max(L.cold_end, L.hot_lo), "KV: query {} reads cold rows up to {}, only {} exist", p, s,
             L.cold_end);
    split_[static_cast<size_t>(i)] = s;
    const int64_t lo_p = window > 0 ? std::max<int64_t>(0, p - window + 1) : 0;
    if (s > lo_p) {
      cold_lo = std::min(cold_lo, lo_p);
      cold_hi = std::max(cold_hi, s);
    }
    hot_from = std::min(hot_from, std::max(s, lo_p));
  }
  const size_t k_bytes = cold_k_.bytes();
  const uint64_t cold_row_bytes = (k_bytes + cold_v_.bytes()) / G;
  cold_views_.clear();
  if (cold_hi > cold_lo) {
    const int64_t lo = cold_lo, split_max = cold_hi;
    const int64_t g_begin = lo / G, g_end = (split_max + G - 1) / G;
    const int64_t d_end = std::min(g_end, L.spilled);
    if (g_begin < d_end) {
      FS_ASSIGN_OR_RETURN(const std::byte* base, spill_->Read(layer, g_begin, d_end));
      stats_.read_disk_bytes += static_cast<uint64_t>(d_end - g_begin) * spill_->slot_bytes();
      stats_.staging_bytes = spill_->staging_bytes();
      for (int64_t g = g_begin; g < d_end; ++g) {
        const std::byte* k = base + static_cast<size_t>(g - g_begin) * spill_->slot_bytes();
        cold_views_.push_back(KvBlockView{g * G, G, cold_k_, cold_v_, k, k + k_bytes});
      }
    }
    for (int64_t g = std::max(g_begin, L.spilled); g < g_end; ++g) {
      const Block& b = L.blocks[static_cast<size_t>(g)];
      FS_CHECK(b.cold != nullptr, "KV: cold block {} of layer {} is missing", g, layer);
      cold_views_.push_back(
          KvBlockView{g * G, std::min(G, L.cold_end - g * G), cold_k_, cold_v_, b.cold, b.cold + k_bytes});
    }
    const int64_t ram_from = std::max(lo, L.spilled * G);  // cold rows before it come from disk
    if (split_max > ram_from) stats_.read_ram_bytes += static_cast<uint64_t>(split_max - ram_from) * cold_row_bytes;
  }
  hot_views_.clear();
  for (int64_t g = hot_from / G; g * G <= last && hot_from <= last; ++g) {
    const Block& b = L.blocks[static_cast<size_t>(g)];
    FS_CHECK(b.hot != nullptr, "KV: hot block {} of layer {} is missing", g, layer);
    hot_views_.push_back(KvBlockView{g * G, std::min(G, L.written - g * G), hot_, hot_, b.hot, b.hot + hot_.bytes()});
  }
  if (hot_from <= last) stats_.read_ram_bytes += static_cast<uint64_t>(last + 1 - hot_from) * 2 * hot_.row_code_bytes();
  TieredAttentionArgs a;
  a.q = q;
  a.n_tok = n_tok;
  a.pos0 = pos0;
  a.n_heads = n_heads;
  a.n_kv_heads = config_.n_kv_heads;
  a.head_dim = config_.head_dim;
  a.scale = scale;
  a.window = window;
  a.cold = cold_views_;
  a.hot = hot_views_;
  a.split = split_.data();
  a.out = out;
  if (spill_) PrefetchAfter(layer, n_tok);  // overlaps the next disk read with this layer's compute
  backend.TieredAttention(a);
  return Status::Ok();
}

std::pair<int64_t, int64_t> TieredKvCache::DiskBlocks(const Layer& L, int64_t pos0, int n_tok, int64_t window) const {
  int64_t lo = INT64_MAX, hi = 0;
  for (int64_t p = pos0; p < pos0 + n_tok; ++p) {
    const int64_t lo_p = window > 0 ? std::max<int64_t>(0, p - window + 1) : 0;
    const int64_t s = Split(L, p);
    if (s > lo_p) {
      lo = std::min(lo, lo_p);
      hi = std::max(hi, s);
    }
  }
  if (hi == 0) return {0, 0};
  return {lo / G, std::min((hi + G - 1) / G, L.spilled)};
}

void TieredKvCache::PrefetchAfter(int layer, int n_tok) {
  // The rest of this pass reads the same query positions; after the last layer, the next pass is
  // most often one decoded token.
  for (int next = layer + 1; next < config_.n_layers; ++next) {
    const Layer& L = layers_[static_cast<size_t>(next)];
    const auto [g0, g1] = DiskBlocks(L, n_past_, n_tok, layer_window_[static_cast<size_t>(next)]);
    if (g0 < g1) return spill_->Prefetch(next, g0, g1);
  }
  for (int next = 0; next <= layer; ++next) {
    const Layer& L = layers_[static_cast<size_t>(next)];
    const auto [g0, g1] = DiskBlocks(L, n_past_ + n_tok, 1, layer_window_[static_cast<size_t>(next)]);
    if (g0 < g1) return spill_->Prefetch(next, g0, g1);
  }
}

void TieredKvCache::Advance(int n_tok) {
  n_past_ += n_tok;
  stats_.queries += static_cast<uint64_t>(n_tok);
  for (Layer& L : layers_) {
    FS_CHECK(L.written == n_past_, "KV Advance: a layer holds {} rows, expected {}", L.written, n_past_);
    if (!quantized()) continue;
    // Hot copies of whole cold blocks below what a query kRewindRows back would read hot are no
    // longer needed.
    const int64_t keep = std::min(L.cold_end, Boundary(std::max<int64_t>(0, n_past_ - kRewindRows))) / G * G;
    for (int64_t g = L.hot_lo / G; g < keep / G; ++g) {
      Block& b = L.blocks[static_cast<size_t>(g)];
      if (b.hot != nullptr) stats_.hot_bytes -= 2 * hot_.bytes();
      FreeBlock(b.hot, true);
    }
    L.hot_lo = std::max(L.hot_lo, keep);
  }
  TrimFreeBlocks();
}

void TieredKvCache::TrimFreeBlocks() {
  if (device_ == nullptr) return;
  // Decoding frees and takes at most a block of each kind per layer every kBlockRows tokens; what a
  // long prefill freed beyond that goes back to the device.
  const auto keep = static_cast<size_t>(config_.n_layers);
  for (auto* list : {&free_hot_, &free_cold_}) {
    while (list->size() > keep) {
      device_->Free(list->back());
      list->pop_back();
    }
  }
}

int64_t TieredKvCache::TruncationPoint(int64_t n) const {
  int64_t kept = n;
  for (bool changed = true; changed;) {
    changed = false;
    for (const Layer& L : layers_) {
      int64_t ce = std::min(L.cold_end, block_quantized() ? kept / G * G : kept);
      if (ce % G != 0 && ce / G < L.spilled) ce = ce / G * G;  // a partly kept block must be in RAM
      if (L.hot_lo > ce && kept > ce) {                        // rows [ce, kept) would have neither copy
        kept = ce;
        changed = true;
      }
    }
  }
  return kept;
}

int TieredKvCache::Truncate(int n) {
  FS_CHECK(n >= 0 && n <= n_past_, "KV Truncate to {} of {}", n, n_past_);
  const int64_t kept = TruncationPoint(n);
  if (spill_) spill_->Invalidate();
  const uint64_t cold_block = cold_k_.bytes() + cold_v_.bytes();
  for (Layer& L : layers_) {
    int64_t ce = std::min(L.cold_end, block_quantized() ? kept / G * G : kept);
    if (ce % G != 0 && ce / G < L.spilled) ce = ce / G * G;
    for (size_t g = 0; g < L.blocks.size(); ++g) {
      Block& b = L.blocks[g];
      const int64_t first = static_cast<int64_t>(g) * G;
      if (first >= ce) {  // cold rows of this block are dropped (a partial per-token block keeps its prefix)
        if (b.cold != nullptr) stats_.cold_bytes -= cold_block;
        if (b.on_disk) stats_.disk_bytes -= spill_->slot_bytes();
        FreeBlock(b.cold, false);
        b.on_disk = false;
      }
      if (first >= kept && b.hot != nullptr) {
        stats_.hot_bytes -= 2 * hot_.bytes();
        FreeBlock(b.hot, true);
      }
    }
    L.cold_end = ce;
    L.spilled = std::min(L.spilled, ce / G);
    L.hot_lo = std::min(L.hot_lo, kept);
    L.written = kept;
    L.blocks.resize(static_cast<size_t>((kept + G - 1) / G));  // the blocks cut off hold no memory now
  }
  n_past_ = kept;
  TrimFreeBlocks();
  return static_cast<int>(kept);
}

Status TieredKvCache::CopyBlock(const std::byte* src, bool hot, std::byte*& dst) {
  if (src == nullptr) return Status::Ok();
  FS_ASSIGN_OR_RETURN(dst, NewBlock(hot));
  const size_t bytes = hot ? hot_block_bytes() : cold_block_bytes();
  if (device_ != nullptr) {
    device_->Copy(dst, src, bytes);
  } else {
    std::memcpy(dst, src, bytes);
  }
  return Status::Ok();
}

KvStats TieredKvCache::stats() const { return stats_; }

std::string TieredKvCache::Describe() const {
  if (!quantized()) return fmt::format("KV cache: {} everywhere", Name(hot_.format));
  std::string s = fmt::format("KV cache: last {} positions {}, older ones {}-bit (keys {}, values per token{})",
                              config_.window, Name(hot_.format), config_.quant_bits, Name(cold_k_.grouping),
                              fmt::format(", {} channels a group", cold_v_.group));
  if (config_.ram_bytes > 0) {
    s += fmt::format(", {:.2f} GiB of them in RAM, the rest spilled to disk", config_.ram_bytes / 1073741824.0);
  }
  return s;
}

Result<std::unique_ptr<KvCache>> TieredKvCache::Clone() const {
  if (stats_.disk_bytes > 0) return Errorf("KV cache: cannot copy a cache with blocks on disk (raise --kv-ram)");
  std::unique_ptr<TieredKvCache> c(new TieredKvCache(config_, device_));
  c->n_past_ = n_past_;
  c->layer_window_ = layer_window_;
  c->stats_ = stats_;
  c->stats_.staging_bytes = 0;
  for (size_t l = 0; l < layers_.size(); ++l) {
    const Layer& from = layers_[l];
    Layer& to = c->layers_[l];
    to.written = from.written;
    to.cold_end = from.cold_end;
    to.hot_lo = from.hot_lo;
    to.blocks.resize(from.blocks.size());
    for (size_t g = 0; g < from.blocks.size(); ++g) {
      FS_RETURN_IF_ERROR(c->CopyBlock(from.blocks[g].hot, true, to.blocks[g].hot));
      FS_RETURN_IF_ERROR(c->CopyBlock(from.blocks[g].cold, false, to.blocks[g].cold));
    }
  }
  return std::unique_ptr<KvCache>(std::move(c));
}

}  // namespace flashstream
