#include "tokenizer/special_tokens.h"

namespace flashstream {

int32_t SpecialTokenMatcher::Child(int32_t node, uint8_t byte) const {
  for (const auto& [b, child] : nodes_[static_cast<size_t>(node)].kids) {
    if (b == byte) return child;
  }
  return -1;
}

void SpecialTokenMatcher::Add(std::string_view text, int32_t id) {
  if (text.empty()) return;
  first_byte_[static_cast<uint8_t>(text[0])] = true;
  int32_t node = 0;
  for (char c : text) {
    const auto byte = static_cast<uint8_t>(c);
    int32_t child = Child(node, byte);
    if (child < 0) {
      child = static_cast<int32_t>(nodes_.size());
      nodes_.push_back(Node{});
      nodes_[static_cast<size_t>(node)].kids.emplace_back(byte, child);
    }
    node = child;
  }
  if (nodes_[static_cast<size_t>(node)].id < 0) nodes_[static_cast<size_t>(node)].id = id;
}

std::pair<size_t, int32_t> SpecialTokenMatcher::LongestAt(std::string_view text, size_t pos) const {
  std::pair<size_t, int32_t> best{0, -1};
  int32_t node = 0;
  for (size_t i = pos; i < text.size(); ++i) {
    node = Child(node, static_cast<uint8_t>(text[i]));
    if (node < 0) break;
    const int32_t id = nodes_[static_cast<size_t>(node)].id;
    if (id >= 0) best = {i + 1 - pos, id};
  }
  return best;
}

void SpecialTokenMatcher::Partition(std::string_view text, std::vector<Fragment>* out) const {
  size_t plain_start = 0;
  for (size_t pos = 0; pos < text.size();) {
    if (!first_byte_[static_cast<uint8_t>(text[pos])]) {
      ++pos;
      continue;
    }
    const auto [len, id] = LongestAt(text, pos);
    if (len == 0) {
      ++pos;
      continue;
    }
    if (pos > plain_start) out->push_back({text.substr(plain_start, pos - plain_start), -1});
    out->push_back({text.substr(pos, len), id});
    pos += len;
    plain_start = pos;
  }
  if (plain_start < text.size()) out->push_back({text.substr(plain_start), -1});
}

}  // namespace flashstream
