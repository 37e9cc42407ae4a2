#include "tokenizer/bpe.h"

#include <fmt/format.h>  // "<0xXX>" byte-token texts

#include <queue>

#include "tokenizer/utf8.h"

namespace flashstream {
namespace {

bool MapsToItself(int b) { return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174; }

// Decodes one code point of a well-formed UTF-8 character of length n at s[pos].
uint32_t CodePointAt(std::string_view s, size_t pos, size_t n) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data() + pos);
  if (n == 1) return p[0];
  uint32_t cp = p[0] & (0x7F >> n);
  for (size_t i = 1; i < n; ++i) cp = (cp << 6) | (p[i] & 0x3F);
  return cp;
}

}  // namespace

uint32_t ByteToUnicode(uint8_t byte) {
  if (MapsToItself(byte)) return byte;
  // The bytes that do not map to themselves take U+0100, U+0101, ... in byte order.
  uint32_t shifted = 0;
  for (int b = 0; b < byte; ++b) shifted += MapsToItself(b) ? 0 : 1;
  return 256 + shifted;
}

int UnicodeToByte(uint32_t cp) {
  static const std::array<int, 324> kInverse = [] {
    std::array<int, 324> inv;
    inv.fill(-1);
    for (int b = 0; b < 256; ++b) inv[ByteToUnicode(static_cast<uint8_t>(b))] = b;
    return inv;
  }();
  return cp < kInverse.size() ? kInverse[cp] : -1;
}

bool ByteLevelDecode(std::string_view token, std::string* bytes) {
  bytes->clear();
  for (size_t pos = 0; pos < token.size();) {
    const size_t n = Utf8CharLen(token, pos);
    if (n == 0) return false;
    const int b = UnicodeToByte(CodePointAt(token, pos, n));
    if (b < 0) return false;
    bytes->push_back(static_cast<char>(b));
    pos += n;
  }
  return true;
}

Result<BpeModel> BpeModel::Create(const TokenizerSpec& spec) {
  BpeModel model;
  model.byte_level_ = spec.byte_level;
  model.ignore_merges_ = spec.ignore_merges;
  model.unk_id_ = spec.unk_id;
  model.vocab_.reserve(spec.tokens.size());
  for (size_t i = 0; i < spec.tokens.size(); ++i) {
    model.vocab_[spec.tokens[i]] = static_cast<int32_t>(i);
  }
  for (int b = 0; b < 256; ++b) {
    std::string text;
    if (spec.byte_level) {
      AppendUtf8(ByteToUnicode(static_cast<uint8_t>(b)), &text);
    } else if (spec.byte_fallback) {
      text = fmt::format("<0x{:02X}>", b);
    }
    model.byte_token_[static_cast<size_t>(b)] = text.empty() ? -1 : model.Lookup(text);
  }
  model.merges_.reserve(spec.merges.size());
  std::string joined;
  for (size_t rank = 0; rank < spec.merges.size(); ++rank) {
    const std::string& merge = spec.merges[rank];
    const size_t space = merge.find(' ', 1);
    if (space == std::string::npos || space + 1 >= merge.size()) {
      return Errorf("tokenizer.ggml.merges[{}] = '{}': expected 'left right'", rank, merge);
    }
    const std::string_view left(merge.data(), space);
    const std::string_view right(merge.data() + space + 1, merge.size() - space - 1);
    joined.assign(left).append(right);
    const int32_t l = model.Lookup(left), r = model.Lookup(right), m = model.Lookup(joined);
    if (l < 0 || r < 0 || m < 0) continue;
    // The first (lowest-rank) occurrence of a pair wins.
    model.merges_.try_emplace(PairKey(l, r), Merge{static_cast<int32_t>(rank), m});
  }
  return model;
}

int32_t BpeModel::Lookup(std::string_view text) const {
  const auto it = vocab_.find(text);
  return it == vocab_.end() ? -1 : it->second;
}

void BpeModel::InitialSymbols(std::string_view piece, std::vector<int32_t>* ids) const {
  if (byte_level_) {
    for (char c : piece) ids->push_back(byte_token_[static_cast<uint8_t>(c)]);
    return;
  }
  for (size_t pos = 0; pos < piece.size();) {
    size_t len = Utf8CharLen(piece, pos);
    if (len == 0) len = 1;
    const std::string_view ch = piece.substr(pos, len);
    pos += len;
    if (const int32_t id = Lookup(ch); id >= 0) {
      ids->push_back(id);
      continue;
    }
    bool all_bytes = true;
    for (char c : ch) all_bytes = all_bytes && byte_token_[static_cast<uint8_t>(c)] >= 0;
    if (all_bytes) {
      for (char c : ch) ids->push_back(byte_token_[static_cast<uint8_t>(c)]);
    } else {
      ids->push_back(unk_id_);
    }
  }
}

void BpeModel::Encode(std::string_view piece, std::vector<int32_t>* out) const {
  if (piece.empty()) return;
  if (ignore_merges_) {
    std::string word;
    if (byte_level_) {
      for (char c : piece) AppendUtf8(ByteToUnicode(static_cast<uint8_t>(c)), &word);
    } else {
      word = piece;
    }
    if (const int32_t id = Lookup(word); id >= 0) {
      out->push_back(id);
      return;
    }
  }
  std::vector<int32_t> initial;
  initial.reserve(piece.size());
  InitialSymbols(piece, &initial);
  const size_t n = initial.size();
  // Symbols form a doubly linked list; a merge grows the left symbol and unlinks the right one.
  struct Symbol {
    int32_t id;
    int32_t prev, next;  // -1 at the ends
  };
  std::vector<Symbol> symbols(n);
  for (size_t i = 0; i < n; ++i) {
    symbols[i] = {initial[i], static_cast<int32_t>(i) - 1,
                  i + 1 < n ? static_cast<int32_t>(i + 1) : -1};
  }
  struct Candidate {
    int32_t rank, pos, left, right, merged;
    bool operator>(const Candidate& o) const {
      return rank != o.rank ? rank > o.rank : pos > o.pos;
    }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> queue;
  auto consider = [&](int32_t pos) {
    if (pos < 0) return;
    const Symbol& s = symbols[static_cast<size_t>(pos)];
    if (s.next < 0 || s.id < 0) return;
    const int32_t right = symbols[static_cast<size_t>(s.next)].id;
    if (right < 0) return;
    const auto it = merges_.find(PairKey(s.id, right));
    if (it != merges_.end()) queue.push({it->second.rank, pos, s.id, right, it->second.id});
  };
  for (size_t i = 0; i + 1 < n; ++i) consider(static_cast<int32_t>(i));
  while (!queue.empty()) {
    const Candidate c = queue.top();
    queue.pop();
    Symbol& left = symbols[static_cast<size_t>(c.pos)];
    // Stale when either side has changed since the candidate was queued (merged ids differ
    // from their parts, and unlinked symbols get id -1).
    if (left.id != c.left || left.next < 0) continue;
    Symbol& right = symbols[static_cast<size_t>(left.next)];
    if (right.id != c.right) continue;
    left.id = c.merged;
    right.id = -1;
    left.next = right.next;
    if (right.next >= 0) symbols[static_cast<size_t>(right.next)].prev = c.pos;
    consider(left.prev);
    consider(c.pos);
  }
  for (int32_t i = 0; i >= 0; i = symbols[static_cast<size_t>(i)].next) {
    const int32_t id = symbols[static_cast<size_t>(i)].id;
    if (id >= 0) out->push_back(id);
  }
}

}  // namespace flashstream
