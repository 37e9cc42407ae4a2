// NgramDrafter: prompt-lookup drafting. Finds the most recent earlier occurrence of the longest
// suffix (max_ngram tokens down to 1) of the token history and proposes the tokens that followed
// it; when the continuation reaches the end of the history, the text is taken to loop and the
// continuation repeats. Stateless between calls; thread-compatible.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace flashstream {

class NgramDrafter {
 public:
  // max_ngram >= 1: the longest suffix tried first.
  explicit NgramDrafter(int max_ngram);
  // Appends to `draft` max_tokens ids continuing `history`, or none when no suffix of history
  // occurs earlier in it.
  void Draft(std::span<const int32_t> history, int max_tokens, std::vector<int32_t>* draft) const;

 private:
  int max_ngram_;
};

}  // namespace flashstream
