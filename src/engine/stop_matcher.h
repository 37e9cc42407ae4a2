// StopMatcher: holds back generated text that could be the start of a stop string, and reports
// when a stop string appears (the stop string and what follows are never emitted).
// Owns its buffer; not thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace flashstream {

class StopMatcher {
 public:
  explicit StopMatcher(std::vector<std::string> stops) : stops_(std::move(stops)) {}
  // Appends text; returns the part that is safe to emit now.
  std::string Push(std::string_view text);
  // True once a stop string was seen; Push() then returns nothing more.
  bool stopped() const { return stopped_; }
  // The text held back at the end of generation (no stop string matched).
  std::string Flush();

 private:
  std::vector<std::string> stops_;
  std::string pending_;
  bool stopped_ = false;
};

}  // namespace flashstream
