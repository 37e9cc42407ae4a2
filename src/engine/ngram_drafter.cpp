#include "engine/ngram_drafter.h"

#include <algorithm>

#include "core/check.h"

namespace flashstream {

NgramDrafter::NgramDrafter(int max_ngram) : max_ngram_(max_ngram) { FS_CHECK(max_ngram >= 1, "max_ngram"); }

void NgramDrafter::Draft(std::span<const int32_t> history, int max_tokens, std::vector<int32_t>* draft) const {
  const size_t len = history.size();
  if (max_tokens <= 0 || len < 2) return;
  for (size_t n = std::min<size_t>(static_cast<size_t>(max_ngram_), len - 1); n >= 1; --n) {
    const std::span<const int32_t> suffix = history.subspan(len - n);
    // Most recent match first: start positions len-n-1 down to 0 (the suffix itself excluded).
    for (size_t start = len - n; start-- > 0;) {
      if (!std::equal(suffix.begin(), suffix.end(), history.begin() + static_cast<std::ptrdiff_t>(start))) continue;
      // What followed the match, repeated when it runs into the end (a loop in the text).
      const size_t from = start + n, period = len - from;
      for (size_t j = 0; j < static_cast<size_t>(max_tokens); ++j) draft->push_back(history[from + j % period]);
      return;
    }
  }
}

}  // namespace flashstream
