#include "tokenizer/detokenizer.h"

#include <string_view>

namespace flashstream {

void Detokenizer::Feed(int32_t id, std::string* out) {
  if (id < 0 || static_cast<size_t>(id) >= tokenizer_->vocab_size()) return;
  std::string_view piece = tokenizer_->TokenText(id);
  if (tokenizer_->IsSpecial(id)) {
    // Metaspace "first" puts the space only in front of the input, never after a special token.
    if (!tokenizer_->space_prefix_first_only()) segment_start_ = true;
  } else if (!piece.empty()) {
    if (segment_start_ && tokenizer_->strips_space_prefix() && piece[0] == ' ') {
      piece.remove_prefix(1);
    }
    segment_start_ = false;
  }
  utf8_.Feed(piece, out);
}

void Detokenizer::Finish(std::string* out) {
  utf8_.Finish(out);
  segment_start_ = true;
}

}  // namespace flashstream
