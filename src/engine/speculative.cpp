#include "engine/speculative.h"

#include <algorithm>
#include <cmath>

#include "core/check.h"

namespace flashstream {

DraftVerdict VerifyDraft(Sampler& sampler, std::span<const float> logits, std::span<const int32_t> history,
                         int32_t draft) {
  const int32_t token = sampler.Sample(logits, history);
  return {token == draft, token};
}

DraftPolicy::DraftPolicy(int draft_max) : draft_max_(draft_max) { FS_CHECK(draft_max >= 0, "draft_max"); }

double DraftPolicy::acceptance() const { return (accepted_ + 1) / (accepted_ + rejected_ + 2); }

double DraftPolicy::PassCost(int n_tokens) const {
  if (sw_ <= 0) return 0;
  const double mx = sx_ / sw_, my = sy_ / sw_;
  const double var = sxx_ / sw_ - mx * mx;
  // One distinct pass size so far: no slope yet, so assume cost does not grow (optimistic: it
  // makes the policy try drafts, whose measured cost then corrects the model).
  const double slope = var > 1e-9 ? std::max(0.0, (sxy_ / sw_ - mx * my) / var) : 0.0;
  const double c1 = std::max(1e-9, my - slope * mx);
  return c1 + slope * (n_tokens - 1);
}

int DraftPolicy::Choose(int available, bool costs_drafting) {
  ++passes_;
  const int limit = std::min({available, draft_max_, 2 * longest_pass_ - 1});
  if (limit <= 0 || passes_ % kProbeEvery == 1) return 0;
  const double a = std::min(acceptance(), 0.999);
  int best = 0;
  double best_rate = 1.0 / PassCost(1);
  for (int k = 1; k <= limit; ++k) {
    const double tokens = (1 - std::pow(a, k + 1)) / (1 - a);
    const double rate = tokens / (PassCost(k + 1) + (costs_drafting ? k * draft_seconds_ : 0.0));
    if (rate > best_rate) best = k, best_rate = rate;
  }
  // Settled on plain decoding: halfway between probes, draft one token anyway, so that the
  // acceptance and the draft's cost stay measured when they (or the machine's load) change.
  if (best == 0 && passes_ % kProbeEvery == kProbeEvery / 2 + 1) return 1;
  return best;
}

void DraftPolicy::RecordPass(int n_tokens, double seconds) {
  longest_pass_ = std::max(longest_pass_, n_tokens);
  const double x = n_tokens - 1;
  sw_ = kDecay * sw_ + 1;
  sx_ = kDecay * sx_ + x;
  sy_ = kDecay * sy_ + seconds;
  sxx_ = kDecay * sxx_ + x * x;
  sxy_ = kDecay * sxy_ + x * seconds;
}

void DraftPolicy::RecordDraftSeconds(int drafted, double seconds) {
  if (drafted <= 0) return;
  const double per_token = seconds / drafted;
  draft_seconds_ = draft_seconds_ > 0 ? kDecay * draft_seconds_ + (1 - kDecay) * per_token : per_token;
}

void DraftPolicy::RecordDraft(int drafted, int accepted) {
  // Tokens after the first rejection were never decided, so they count for nothing.
  const int decided = std::min(drafted, accepted + 1);
  accepted_ = kDecay * accepted_ + accepted;
  rejected_ = kDecay * rejected_ + (decided - accepted);
}

}  // namespace flashstream
