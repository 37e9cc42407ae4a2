#include "tokenizer/utf8.h"

namespace flashstream {
namespace {

constexpr char kReplacement[] = "\xEF\xBF\xBD";  // U+FFFD

// For a lead byte: continuation bytes needed and the allowed range of the first of them
// (narrowed for E0/ED/F0/F4 to exclude overlongs, surrogates and values above U+10FFFF).
// need < 0 marks a byte that cannot start a character.
struct Lead {
  int need;
  uint8_t lo, hi;
};

Lead LeadOf(uint8_t b) {
  if (b < 0x80) return {0, 0x80, 0xBF};
  if (b >= 0xC2 && b <= 0xDF) return {1, 0x80, 0xBF};
  if (b == 0xE0) return {2, 0xA0, 0xBF};
  if (b == 0xED) return {2, 0x80, 0x9F};
  if (b >= 0xE1 && b <= 0xEF) return {2, 0x80, 0xBF};
  if (b == 0xF0) return {3, 0x90, 0xBF};
  if (b >= 0xF1 && b <= 0xF3) return {3, 0x80, 0xBF};
  if (b == 0xF4) return {3, 0x80, 0x8F};
  return {-1, 0, 0};
}

}  // namespace

size_t Utf8CharLen(std::string_view s, size_t pos) {
  const Lead lead = LeadOf(static_cast<uint8_t>(s[pos]));
  if (lead.need < 0) return 0;
  if (s.size() - pos < static_cast<size_t>(lead.need) + 1) return 0;
  uint8_t lo = lead.lo, hi = lead.hi;
  for (int i = 1; i <= lead.need; ++i) {
    const uint8_t c = static_cast<uint8_t>(s[pos + static_cast<size_t>(i)]);
    if (c < lo || c > hi) return 0;
    lo = 0x80;
    hi = 0xBF;
  }
  return static_cast<size_t>(lead.need) + 1;
}

bool IsValidUtf8(std::string_view s) {
  for (size_t pos = 0; pos < s.size();) {
    const size_t n = Utf8CharLen(s, pos);
    if (n == 0) return false;
    pos += n;
  }
  return true;
}

std::string ReplaceAll(std::string_view s, std::string_view from, std::string_view to) {
  if (from.empty()) return std::string(s);
  std::string out;
  out.reserve(s.size());
  for (size_t pos = 0;;) {
    const size_t hit = s.find(from, pos);
    if (hit == std::string_view::npos) {
      out.append(s.substr(pos));
      return out;
    }
    out.append(s.substr(pos, hit - pos)).append(to);
    pos = hit + from.size();
  }
}

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

void Utf8Sanitizer::Feed(std::string_view bytes, std::string* out) {
  for (char c : bytes) Step(static_cast<uint8_t>(c), out);
}

void Utf8Sanitizer::Finish(std::string* out) {
  if (n_held_ > 0) out->append(kReplacement);
  n_held_ = 0;
  need_ = 0;
}

void Utf8Sanitizer::Step(uint8_t b, std::string* out) {
  if (n_held_ > 0) {
    if (b >= lo_ && b <= hi_) {
      held_[n_held_++] = static_cast<char>(b);
      lo_ = 0x80;
      hi_ = 0xBF;
      if (--need_ == 0) {
        out->append(held_, static_cast<size_t>(n_held_));
        n_held_ = 0;
      }
      return;
    }
    // The held prefix is a maximal ill-formed subpart; b starts afresh.
    out->append(kReplacement);
    n_held_ = 0;
    need_ = 0;
  }
  const Lead lead = LeadOf(b);
  if (lead.need == 0) {
    out->push_back(static_cast<char>(b));
  } else if (lead.need < 0) {
    out->append(kReplacement);
  } else {
    held_[0] = static_cast<char>(b);
    n_held_ = 1;
    need_ = lead.need;
    lo_ = lead.lo;
    hi_ = lead.hi;
  }
}

}  // namespace flashstream
