#include "tokenizer/spm.h"

#include <queue>

#include "tokenizer/utf8.h"

namespace flashstream {
namespace {

bool IsMergeable(int32_t type) {
  return type == 0 || type == TokenizerSpec::kNormal || type == TokenizerSpec::kUserDefined;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

int SpmByteTokenValue(std::string_view text) {
  if (text.size() != 6 || !text.starts_with("<0x") || text[5] != '>') return -1;
  const int hi = HexDigit(text[3]), lo = HexDigit(text[4]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

Result<SpmModel> SpmModel::Create(const TokenizerSpec& spec) {
  SpmModel model;
  model.unk_id_ = spec.unk_id;
  model.byte_token_.fill(-1);
  const size_t n = spec.tokens.size();
  model.scores_.assign(n, 0.f);
  if (!spec.scores.empty()) model.scores_ = spec.scores;
  model.texts_ = spec.tokens;
  model.pieces_.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const int32_t type = spec.types.empty() ? TokenizerSpec::kNormal : spec.types[i];
    const std::string& text = model.texts_[i];
    if (IsMergeable(type)) {
      model.pieces_[text] = static_cast<int32_t>(i);  // a repeated piece keeps the last id
    } else if (type == TokenizerSpec::kByte) {
      const int value = SpmByteTokenValue(text);
      if (value >= 0) model.byte_token_[static_cast<size_t>(value)] = static_cast<int32_t>(i);
    }
  }
  return model;
}

void SpmModel::Encode(std::string_view text, std::vector<int32_t>* out) const {
  if (text.empty()) return;
  // Symbols form a doubly linked list of byte ranges; a merge grows the left symbol and
  // empties the right one.
  struct Symbol {
    uint32_t start, len;  // len 0 = merged away
    int32_t prev, next;
  };
  std::vector<Symbol> symbols;
  symbols.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    size_t len = Utf8CharLen(text, pos);
    if (len == 0) len = 1;
    const auto index = static_cast<int32_t>(symbols.size());
    symbols.push_back({static_cast<uint32_t>(pos), static_cast<uint32_t>(len), index - 1, -1});
    if (index > 0) symbols[static_cast<size_t>(index - 1)].next = index;
    pos += len;
  }
  struct Candidate {
    float score;
    int32_t left;
    uint32_t len;  // combined length when queued; a mismatch marks the candidate stale
    bool operator<(const Candidate& o) const {  // max-heap: higher score, then leftmost
      return score != o.score ? score < o.score : left > o.left;
    }
  };
  std::priority_queue<Candidate> queue;
  auto consider = [&](int32_t left) {
    if (left < 0) return;
    const Symbol& l = symbols[static_cast<size_t>(left)];
    if (l.next < 0) return;
    const Symbol& r = symbols[static_cast<size_t>(l.next)];
    const auto it = pieces_.find(text.substr(l.start, l.len + r.len));
    if (it == pieces_.end()) return;
    queue.push({scores_[static_cast<size_t>(it->second)], left, l.len + r.len});
  };
  for (int32_t i = 0; i + 1 < static_cast<int32_t>(symbols.size()); ++i) consider(i);
  while (!queue.empty()) {
    const Candidate c = queue.top();
    queue.pop();
    Symbol& l = symbols[static_cast<size_t>(c.left)];
    if (l.len == 0 || l.next < 0) continue;
    Symbol& r = symbols[static_cast<size_t>(l.next)];
    if (l.len + r.len != c.len) continue;
    l.len += r.len;
    r.len = 0;
    l.next = r.next;
    if (r.next >= 0) symbols[static_cast<size_t>(r.next)].prev = c.left;
    consider(l.prev);
    consider(c.left);
  }
  for (int32_t i = 0; i >= 0; i = symbols[static_cast<size_t>(i)].next) {
    const Symbol& s = symbols[static_cast<size_t>(i)];
    const std::string_view piece = text.substr(s.start, s.len);
    const auto it = pieces_.find(piece);
    if (it != pieces_.end()) {
      out->push_back(it->second);
      continue;
    }
    for (char byte : piece) {
      const int32_t id = byte_token_[static_cast<uint8_t>(byte)];
      if (id >= 0) {
        out->push_back(id);
      } else if (unk_id_ >= 0) {
        out->push_back(unk_id_);
      }
    }
  }
}

}  // namespace flashstream
