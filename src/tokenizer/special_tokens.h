// SpecialTokenMatcher: finds special-token texts in raw text and splits the text around them,
// leftmost-longest (as Hugging Face's added-token splitting). A byte trie over the texts gives
// the longest match at each position in O(longest text).
// Fill with Add, then use; immutable use is thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

namespace flashstream {

class SpecialTokenMatcher {
 public:
  // Registers `text` as token `id`. Empty texts are ignored; a repeated text keeps its first id.
  void Add(std::string_view text, int32_t id);

  // One piece of a partition: either plain text (id == -1) or a matched token.
  struct Fragment {
    std::string_view text;
    int32_t id;
  };
  // Splits `text` into plain-text fragments (never empty) and matched tokens, in order.
  void Partition(std::string_view text, std::vector<Fragment>* out) const;

 private:
  struct Node {
    int32_t id = -1;                                // token ending here, -1 if none
    std::vector<std::pair<uint8_t, int32_t>> kids;  // byte -> child node
  };
  int32_t Child(int32_t node, uint8_t byte) const;
  // Length and id of the longest token starting at text[pos]; {0, -1} if none.
  std::pair<size_t, int32_t> LongestAt(std::string_view text, size_t pos) const;

  std::vector<Node> nodes_{Node{}};  // nodes_[0] is the root
  std::array<bool, 256> first_byte_{};
};

}  // namespace flashstream
