// UTF-8 helpers for the tokenizers: character lengths for splitting text that may hold invalid
// bytes, and an incremental sanitizer that turns an arbitrary byte stream into valid UTF-8.
// All functions are pure; Utf8Sanitizer is a small value type (thread-compatible).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace flashstream {

// Length in bytes of the well-formed UTF-8 character that starts at s[pos], or 0 when the
// bytes there are not one (bad lead byte, bad continuation, overlong, surrogate, > U+10FFFF,
// or truncated). Precondition: pos < s.size().
size_t Utf8CharLen(std::string_view s, size_t pos);

// true when every byte of s belongs to a well-formed UTF-8 character.
bool IsValidUtf8(std::string_view s);

// Appends the UTF-8 encoding of code point cp (<= 0x10FFFF) to out.
void AppendUtf8(uint32_t cp, std::string* out);

// s with every occurrence of `from` replaced by `to`, left to right (s unchanged when `from` is
// empty). Byte-wise, which is exact on UTF-8: a character's bytes never match inside another's.
std::string ReplaceAll(std::string_view s, std::string_view from, std::string_view to);

// Turns a byte stream, fed in chunks, into valid UTF-8: complete characters pass through,
// an incomplete character at the end of a chunk is held until its remaining bytes arrive, and
// each maximal ill-formed subpart becomes one U+FFFD (Unicode's "substitution of maximal
// subparts", as Python's errors="replace"). Chunking never changes the output.
class Utf8Sanitizer {
 public:
  // Appends to out the valid text completed by `bytes`.
  void Feed(std::string_view bytes, std::string* out);
  // Ends the stream: a held incomplete character becomes U+FFFD. The sanitizer is then empty.
  void Finish(std::string* out);
  bool holding() const { return n_held_ > 0; }

 private:
  void Step(uint8_t b, std::string* out);

  char held_[4] = {};
  int n_held_ = 0;     // bytes of the incomplete character held so far
  int need_ = 0;       // continuation bytes still expected
  uint8_t lo_ = 0x80;  // allowed range of the next continuation byte
  uint8_t hi_ = 0xBF;
};

}  // namespace flashstream
