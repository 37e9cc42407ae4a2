// TieredKvCache: the hybrid host KV cache (docs/KV_CACHE.md). Positions are grouped in blocks of
// kBlockRows per layer. A block holds a hot copy (f16, or f32 with KvConfig::f32) while some
// query may still read it unquantized, and a cold copy (8/4-bit, keys per channel or per token,
// values per token) once it is older than the window; cold blocks beyond the RAM budget go to a
// KvSpillFile, oldest first. Query p reads key j cold when j < Boundary(p) (its last `window`
// positions, rounded down to a block edge when keys are quantized per channel) and hot
// otherwise, so a prompt gives the same attention inputs whether it is prefilled in one chunk,
// in several, or decoded token by token. Blocks live in host memory, or with a `device` backend
// in its memory (quantized there by Backend::QuantizeKv/RequantizeKv, attended by its
// TieredAttention; no spill file then, and freed blocks are kept for reuse instead of returned).
// Owns every block and the spill file; borrows the device backend, which must outlive it; not
// thread-safe.
#pragma once

#include <algorithm>
#include <memory>
#include <utility>
#include <vector>

#include "kv/kv_cache.h"
#include "kv/kv_spill.h"

namespace flashstream {

class TieredKvCache final : public KvCache {
 public:
  static constexpr int kBlockRows = 64;
  // Positions a rewind (speculative decoding's rejected drafts) may go back and still have every
  // FP16 row a fresh run would read: FP16 copies are freed only below Boundary(n_past - this).
  static constexpr int kRewindRows = 16;

  // device: null = host memory. Fails on a configuration it cannot hold (a device cache does
  // not spill: config.ram_bytes must be 0).
  static Result<std::unique_ptr<TieredKvCache>> Create(const KvConfig& config, Backend* device = nullptr);
  ~TieredKvCache() override;
  TieredKvCache(const TieredKvCache&) = delete;
  TieredKvCache& operator=(const TieredKvCache&) = delete;

  int n_past() const override { return static_cast<int>(n_past_); }
  int max_positions() const override { return config_.max_positions; }
  Status Reserve(int n_tok) override;
  Status Write(int layer, const float* k, const float* v, int n_tok) override;
  Status Attend(int layer, Backend& backend, const float* q, int n_tok, int n_heads, int n_kv_heads, int head_dim,
                float scale, int64_t window, float* out) override;
  void Advance(int n_tok) override;
  int Truncate(int n) override;
  KvStats stats() const override;
  std::string Describe() const override;
  Result<std::unique_ptr<KvCache>> Clone() const override;

  // The first position query p reads hot (positions below it are read quantized).
  int64_t Boundary(int64_t p) const;

 private:
  struct Block {
    std::byte* hot = nullptr;   // K rows then V rows, hot_ layout each; null once freed
    std::byte* cold = nullptr;  // K block (cold_k_) then V block (cold_v_); null if none or on disk
    bool on_disk = false;
  };
  struct Layer {
    std::vector<Block> blocks;
    int64_t written = 0;   // rows [0, written) hold data (n_past_ + this pass's tokens)
    int64_t cold_end = 0;  // rows [0, cold_end) have a cold copy
    int64_t hot_lo = 0;    // rows [hot_lo, written) have a hot copy
    int64_t spilled = 0;   // blocks [0, spilled) are on disk
  };

  TieredKvCache(const KvConfig& config, Backend* device);
  size_t hot_block_bytes() const { return 2 * hot_.bytes(); }
  size_t cold_block_bytes() const { return cold_k_.bytes() + cold_v_.bytes(); }
  // A block's memory (hot or cold size): host, or the device's (reused from the free list).
  Result<std::byte*> NewBlock(bool hot);
  // Frees (host) or keeps for reuse (device) what `p` holds; sets it to null.
  void FreeBlock(std::byte*& p, bool hot);
  // Returns the device blocks kept for reuse beyond one of each kind per layer.
  void TrimFreeBlocks();
  // dst = a new block holding a copy of src's bytes (nothing when src is null).
  Status CopyBlock(const std::byte* src, bool hot, std::byte*& dst);
  int64_t width() const { return int64_t{config_.n_kv_heads} * config_.head_dim; }
  bool quantized() const { return config_.quant_bits != 0; }
  bool block_quantized() const { return quantized() && !config_.keys_per_token; }
  // Quantizes rows [cold_end, target) of layer l from their hot copies.
  Status QuantizeUpTo(Layer& layer, int64_t target);
  // Moves the oldest complete cold blocks to disk while RAM holds more than the budget.
  Status SpillOverBudget();
  // Where Truncate(n) can cut exactly: n, or less.
  int64_t TruncationPoint(int64_t n) const;
  // Split point of query p: it reads rows below it cold.
  int64_t Split(const Layer& L, int64_t p) const { return std::min(std::max(Boundary(p), L.hot_lo), p + 1); }
  // The spilled blocks [g0, g1) that queries pos0..pos0+n_tok-1 with `window` read.
  std::pair<int64_t, int64_t> DiskBlocks(const Layer& L, int64_t pos0, int n_tok, int64_t window) const;
  // Starts reading what the next Attend() (next layer, or layer 0 of a one-token pass) will read
  // from disk.
  void PrefetchAfter(int layer, int n_tok);

  KvConfig config_;
  Backend* device_ = nullptr;                     // null: blocks in host memory
  std::vector<std::byte*> free_hot_, free_cold_;  // device blocks kept for reuse
  KvBlockLayout hot_;                             // f16/f32 rows
  KvBlockLayout cold_k_, cold_v_;                 // quantized blocks
  int64_t n_past_ = 0;
  std::vector<Layer> layers_;
  std::vector<int64_t> layer_window_;   // [n_layers] the attention window of each layer's last Attend()
  std::unique_ptr<KvSpillFile> spill_;  // created at the first spill
  KvStats stats_;                       // counters; tier sizes kept current
  std::vector<int64_t> split_;          // [n_tok] per Attend call
  std::vector<KvBlockView> cold_views_, hot_views_;
  std::vector<float> rows_;  // [kBlockRows, width] f32 rows being quantized
};

}  // namespace flashstream
