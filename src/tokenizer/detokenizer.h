// Detokenizer: streaming Decode. Feed generated ids one at a time and get back only complete
// UTF-8 text: bytes of an unfinished multi-byte character are held until it completes (or
// become U+FFFD once it cannot). The concatenation of every Feed result and Finish() equals
// Tokenizer::Decode of the same ids, SentencePiece space-prefix handling included.
// Borrows the Tokenizer, which must outlive it. Not thread-safe: one per generation stream.
#pragma once

#include <cstdint>
#include <string>

#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace flashstream {

class Detokenizer {
 public:
  explicit Detokenizer(const Tokenizer& tokenizer) : tokenizer_(&tokenizer) {}

  // Appends the text completed by `id` to out. Ids out of range are skipped.
  void Feed(int32_t id, std::string* out);
  std::string Feed(int32_t id) {
    std::string out;
    Feed(id, &out);
    return out;
  }
  // Ends the stream (held bytes become U+FFFD) and resets to the start of a new sequence.
  void Finish(std::string* out);
  std::string Finish() {
    std::string out;
    Finish(&out);
    return out;
  }

 private:
  const Tokenizer* tokenizer_;
  Utf8Sanitizer utf8_;
  bool segment_start_ = true;  // next text piece starts the sequence or follows a special token
                               // (the latter not with space_prefix_first_only)
};

}  // namespace flashstream
