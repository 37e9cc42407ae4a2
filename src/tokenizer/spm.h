// SentencePiece-style BPE (GGUF tokenizer model "llama"): text (spaces already written as
// "▁") starts as one symbol per UTF-8 character; the adjacent pair whose concatenation is a
// vocabulary piece with the highest score is merged until none remains (ties: leftmost).
// Symbols left without a piece fall back to <0xXX> byte tokens, else to the unknown token.
// Immutable after Create; thread-safe for concurrent const use.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "formats/model_index.h"

namespace flashstream {

// The byte value of a byte-fallback token text "<0xXX>" (hex, either case), or -1.
int SpmByteTokenValue(std::string_view text);

class SpmModel {
 public:
  // Pieces that text can merge into: tokens of type normal, user-defined or undefined (0).
  // Byte tokens are found by their "<0xXX>" text among tokens of type byte.
  static Result<SpmModel> Create(const TokenizerSpec& spec);

  // Appends the ids of `text` (raw bytes; invalid UTF-8 bytes are single-byte symbols).
  void Encode(std::string_view text, std::vector<int32_t>* out) const;

 private:
  // Owns a copy of the piece texts so that `pieces_` can hold views of them.
  std::vector<std::string> texts_;
  std::unordered_map<std::string_view, int32_t> pieces_;  // mergeable piece -> id
  std::vector<float> scores_;                             // id -> score (0 when absent)
  std::array<int32_t, 256> byte_token_{};                 // byte -> <0xXX> id, -1 if none
  int32_t unk_id_ = -1;
};

}  // namespace flashstream
