// Speculative decoding pieces shared by every drafting mode: the lossless acceptance rule and
// the policy that sizes drafts from measured acceptance and pass costs.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "engine/sampler.h"

namespace flashstream {

// The outcome for one drafted token: accepted (token == the draft), or rejected with the token
// to use instead.
struct DraftVerdict {
  bool accepted = false;
  int32_t token = -1;
};

// Decides a drafted token against the target's logits (the row that predicts it): samples the
// token exactly as plain decoding would (same distribution, one random number) and accepts the
// draft iff they agree. For a deterministic draft (q = a point mass) this is the standard
// rejection rule: acceptance has probability p(draft), and a rejected draft is replaced by a
// token distributed as max(0, p - q) renormalized. Since every emitted token costs one random
// number either way, a seeded run emits the very tokens plain decoding emits, whatever the
// drafts and their lengths.
DraftVerdict VerifyDraft(Sampler& sampler, std::span<const float> logits, std::span<const int32_t> history,
                         int32_t draft);

// DraftPolicy: how many drafted tokens to verify in the next pass. It keeps a decayed estimate
// of the per-token acceptance rate a, a linear cost model of a forward pass of n tokens,
// cost(n) = c1 + slope (n - 1), fitted to measured passes, and the measured cost d of drafting
// one token (0 for lookup); it picks the k in 0..draft_max that maximizes expected tokens per
// second, (1 - a^(k+1)) / (1 - a) / (cost(k + 1) + k d). k = 0 (plain decoding) wins whenever
// drafting does not pay; every kProbeEvery passes it runs one plain pass so cost(1) stays
// measured. A draft is never longer than twice the longest pass measured so far (k + 1 <= 2 n):
// the cost of a size never measured is a guess, so the length grows 1, 3, 7, 15 as passes prove
// cheap, and a model where they are not (a small resident one, compute-bound) pays for one
// 2-token pass before it settles on plain decoding. Settled there, it still drafts one token once
// every kProbeEvery passes, so a draft that starts to pay is noticed. Not thread-safe.
class DraftPolicy {
 public:
  explicit DraftPolicy(int draft_max);
  // Draft length for the next pass, given `available` draftable tokens (<= draft_max);
  // `costs_drafting`: the draft comes from a model (its measured cost per token counts).
  int Choose(int available, bool costs_drafting);
  // A pass of n_tokens took `seconds`.
  void RecordPass(int n_tokens, double seconds);
  // Of `drafted` tokens verified in order, the first `accepted` were accepted.
  void RecordDraft(int drafted, int accepted);
  // Drafting `drafted` tokens took `seconds` (a draft model's passes).
  void RecordDraftSeconds(int drafted, double seconds);
  double acceptance() const;
  double PassCost(int n_tokens) const;  // model estimate in seconds; 0 before any pass

 private:
  static constexpr int kProbeEvery = 32;
  static constexpr double kDecay = 0.97;
  int draft_max_;
  int passes_ = 0;
  int longest_pass_ = 0;                // tokens in the longest pass recorded
  double accepted_ = 0, rejected_ = 0;  // decayed counts of per-token outcomes
  double draft_seconds_ = 0;            // per drafted token, decayed mean; 0 before any
  // Decayed sums for the weighted least-squares fit of seconds against n - 1.
  double sw_ = 0, sx_ = 0, sy_ = 0, sxx_ = 0, sxy_ = 0;
};

}  // namespace flashstream
