// KvCache: the keys and values of every layer for the positions seen so far, and the attention
// over them. A forward pass of n_tok tokens at positions n_past().. calls, for every layer,
// Write() (the new tokens' K/V) then Attend() (their queries over everything up to themselves),
// and Advance(n_tok) once at the end. How K/V are stored (precision tiers, RAM or disk, host or
// device) is the implementation's business; the host implementation (MakeHostKvCache) keeps a
// hybrid cache, see docs/KV_CACHE.md. Not thread-safe: one forward pass at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "backend/backend.h"
#include "core/status.h"

namespace flashstream {

// How the host cache stores K/V. Plain data.
struct KvConfig {
  int n_layers = 0;
  int n_kv_heads = 0;
  int head_dim = 0;
  int max_positions = 0;  // hard context limit
  // Bits of K/V outside each query's window: 8 or 4; 0 = no quantized tier (everything at the
  // unquantized precision, nothing spills).
  int quant_bits = 8;
  // A query reads the K/V of its last `window` positions (itself included) unquantized; 0 =
  // every key quantized as soon as written (a plain quantized cache).
  int window = 128;
  bool f32 = false;             // unquantized rows in f32 instead of f16 (the exact reference)
  bool keys_per_token = false;  // key scales per token and 64 channels instead of per channel
  uint64_t ram_bytes = 0;       // quantized bytes kept in RAM; beyond it blocks spill; 0 = no limit
  std::string spill_dir;        // folder of the (unlinked) spill file; "" = $TMPDIR or /var/tmp
};

// Memory and traffic of a KV cache. Byte counts of the tiers are current; the read and written
// counters accumulate from the cache's creation.
struct KvStats {
  uint64_t hot_bytes = 0;        // unquantized (f16/f32) rows in RAM
  uint64_t cold_bytes = 0;       // quantized blocks in RAM
  uint64_t disk_bytes = 0;       // blocks in the spill file (4 KiB-aligned slots)
  uint64_t staging_bytes = 0;    // buffer the spilled blocks are read back into
  uint64_t read_ram_bytes = 0;   // K/V bytes attention read from RAM
  uint64_t read_disk_bytes = 0;  // bytes read back from the spill file
  uint64_t written_disk_bytes = 0;
  uint64_t queries = 0;  // query tokens attended (per layer pass: counted once per token)

  uint64_t ram_bytes() const { return hot_bytes + cold_bytes + staging_bytes; }
  // What happened between `before` and this (counters); tier sizes are this one's.
  KvStats Since(const KvStats& before) const;
};

class KvCache {
 public:
  virtual ~KvCache() = default;

  virtual int n_past() const = 0;
  virtual int max_positions() const = 0;
  // Fails when n_past() + n_tok exceeds max_positions().
  virtual Status Reserve(int n_tok) = 0;
  // Stores k, v [n_tok, n_kv_heads * head_dim] as positions n_past()..n_past()+n_tok-1 of
  // `layer`. Errors: the spill file could not be written (disk full).
  virtual Status Write(int layer, const float* k, const float* v, int n_tok) = 0;
  // out[n_tok, n_heads, head_dim] = causal attention of q[n_tok, n_heads, head_dim] (queries at
  // positions n_past()..) over the keys of `layer` up to each query, itself included (Write()
  // first). window > 0 limits each query to its last `window` keys. Errors: spill read failed.
  virtual Status Attend(int layer, Backend& backend, const float* q, int n_tok, int n_heads, int n_kv_heads,
                        int head_dim, float scale, int64_t window, float* out) = 0;
  // Ends the forward pass: positions n_past()..n_past()+n_tok-1 are now part of the history.
  virtual void Advance(int n_tok) = 0;
  // Forgets positions >= n (n <= n_past()). Returns how many positions are kept: n, or fewer
  // when the cache cannot cut there exactly (the caller recomputes the rest).
  virtual int Truncate(int n) = 0;
  virtual KvStats stats() const = 0;
  // One line: formats, window, limits.
  virtual std::string Describe() const = 0;
  // A deep copy (checkpoints). Fails for a cache with blocks on disk.
  virtual Result<std::unique_ptr<KvCache>> Clone() const = 0;
};

// The hybrid host cache (tiered_kv_cache.h). Fails on a configuration it cannot hold.
Result<std::unique_ptr<KvCache>> MakeHostKvCache(const KvConfig& config);
// The same hybrid cache with its blocks in `device`'s memory (borrowed; must outlive the cache),
// quantized and attended by that backend. No spill tier: fails when config.ram_bytes > 0.
Result<std::unique_ptr<KvCache>> MakeDeviceKvCache(const KvConfig& config, Backend& device);

}  // namespace flashstream
