// Replacement policies for the routed-expert cache, and the slot table that applies them. The
// same table drives the live cache (store/expert_cache.h) and the trace replay of
// bench/bench_moe.cpp, so the policy the bench measures is the one the engine runs.
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace flashstream {

enum class ExpertPolicy : int {
  kLru,    // least recently used replaced
  kLfu,    // least frequently used (uses counted over the whole run; of equal counts the most recent goes)
  kDecay,  // frequency with exponential decay: each use adds 1, halved every half_life uses
  kCount,  // sentinel
};
inline bool IsValid(ExpertPolicy p) { return p >= ExpertPolicy::kLru && p < ExpertPolicy::kCount; }
const char* Name(ExpertPolicy p);
// "lru", "lfu" or "decay"; errors name the value and the choices.
Result<ExpertPolicy> ParseExpertPolicy(std::string_view name);
// The measured best on routing traces (docs/MOE.md, "Replacement policy").
constexpr ExpertPolicy kDefaultExpertPolicy = ExpertPolicy::kLfu;

// Which key (layer * n_expert + expert) each of `slots` slots holds, and the policy's score of
// every key. Plain data, not thread-safe (the cache calls it under its lock).
class ExpertSlots {
 public:
  // half_life: uses after which a kDecay count halves (ignored by the other policies).
  ExpertSlots(ExpertPolicy policy, int n_keys, int slots, double half_life);
  // The slot holding key, or -1.
  int Find(int key) const { return key_slot_[static_cast<size_t>(key)]; }
  int key(int slot) const { return slot_key_[static_cast<size_t>(slot)]; }
  int slots() const { return static_cast<int>(slot_key_.size()); }
  // Records one use of key (advances the clock).
  void Touch(int key);
  // An empty slot if any, else the slot whose key scores lowest among those `evictable`
  // accepts (nullptr: all); -1 when none qualifies.
  int Victim(const std::function<bool(int slot)>& evictable) const;
  // Puts key into slot (the slot's previous key, if any, leaves); key -1 empties the slot.
  void Assign(int slot, int key);

 private:
  bool Lower(int a, int b) const;  // key a is evicted before key b

  ExpertPolicy policy_;
  double decay_per_use_;        // ln 2 / half_life
  uint64_t clock_ = 0;          // uses so far
  std::vector<double> score_;   // [n_keys] LRU: last use; LFU: count; decay: log count + clock * decay
  std::vector<uint64_t> last_;  // [n_keys] clock of the last use (tie break: the most recent goes)
  std::vector<int> key_slot_;   // [n_keys] slot or -1
  std::vector<int> slot_key_;   // [slots] key or -1
};

}  // namespace flashstream
