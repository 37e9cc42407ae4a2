#include "store/expert_policy.h"

#include <cmath>

namespace flashstream {

const char* Name(ExpertPolicy p) {
  switch (p) {
    case ExpertPolicy::kLru:
      return "lru";
    case ExpertPolicy::kLfu:
      return "lfu";
    case ExpertPolicy::kDecay:
      return "decay";
    case ExpertPolicy::kCount:
      break;
  }
  return "invalid";
}

Result<ExpertPolicy> ParseExpertPolicy(std::string_view name) {
  for (int i = 0; i < static_cast<int>(ExpertPolicy::kCount); ++i) {
    if (name == Name(static_cast<ExpertPolicy>(i))) return static_cast<ExpertPolicy>(i);
  }
  return Errorf("expert cache policy '{}' is unknown, expected lru, lfu or decay", name);
}

ExpertSlots::ExpertSlots(ExpertPolicy policy, int n_keys, int slots, double half_life)
    : policy_(policy),
      decay_per_use_(std::log(2.0) / std::max(1.0, half_life)),
      score_(static_cast<size_t>(n_keys), policy == ExpertPolicy::kDecay ? -INFINITY : 0.0),
      last_(static_cast<size_t>(n_keys), 0),
      key_slot_(static_cast<size_t>(n_keys), -1),
      slot_key_(static_cast<size_t>(slots), -1) {}

void ExpertSlots::Touch(int key) {
  ++clock_;
  const size_t k = static_cast<size_t>(key);
  switch (policy_) {
    case ExpertPolicy::kLru:
      score_[k] = static_cast<double>(clock_);
      break;
    case ExpertPolicy::kLfu:
      score_[k] += 1;
      break;
    case ExpertPolicy::kDecay: {
      // score = log(count at clock 0 scale): log(c * 2^(-(clock - last)/h) + 1) + clock * ln2/h.
      const double now = static_cast<double>(clock_) * decay_per_use_;
      const double decayed = std::exp(score_[k] - now);  // the count decayed to now
      score_[k] = std::log(decayed + 1.0) + now;
      break;
    }
    case ExpertPolicy::kCount:
      break;
  }
  last_[k] = clock_;
}

bool ExpertSlots::Lower(int a, int b) const {
  const size_t i = static_cast<size_t>(a);
  const size_t j = static_cast<size_t>(b);
  if (score_[i] != score_[j]) return score_[i] < score_[j];
  return last_[i] > last_[j];  // equal counts: the most recent goes, the older residents stay
}

int ExpertSlots::Victim(const std::function<bool(int)>& evictable) const {
  int best = -1;
  for (int s = 0; s < slots(); ++s) {
    if (evictable && !evictable(s)) continue;
    const int k = slot_key_[static_cast<size_t>(s)];
    if (k < 0) return s;
    if (best < 0 || Lower(k, slot_key_[static_cast<size_t>(best)])) best = s;
  }
  return best;
}

void ExpertSlots::Assign(int slot, int key) {
  int& old = slot_key_[static_cast<size_t>(slot)];
  if (old >= 0) key_slot_[static_cast<size_t>(old)] = -1;
  old = key;
  if (key >= 0) key_slot_[static_cast<size_t>(key)] = slot;
}

}  // namespace flashstream
