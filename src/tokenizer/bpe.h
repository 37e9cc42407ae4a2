// Byte-level BPE (GGUF tokenizer model "gpt2"): vocabulary entries are written in GPT-2's
// byte-to-unicode alphabet; a text piece starts as one symbol per byte and the adjacent pair
// whose merge has the lowest rank is merged until no ranked pair remains (ties: leftmost).
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

// GPT-2's reversible byte <-> code point map: printable bytes map to themselves, the other 68
// to U+0100 onwards, so every byte string is a printable string.
uint32_t ByteToUnicode(uint8_t byte);
// Inverse of ByteToUnicode; -1 for code points outside its image.
int UnicodeToByte(uint32_t cp);

// Decodes a vocabulary entry written in the byte-to-unicode alphabet into raw bytes.
// Returns false when the entry has characters outside that alphabet.
bool ByteLevelDecode(std::string_view token, std::string* bytes);

class BpeModel {
 public:
  // Builds the merge table from spec.tokens and spec.merges ("left right", rank = position).
  // Merges whose parts or result are not in the vocabulary are ignored, as in llama.cpp.
  static Result<BpeModel> Create(const TokenizerSpec& spec);

  // Appends the ids of one pre-tokenized piece of raw bytes. A byte whose byte-level character
  // is not in the vocabulary is dropped, as Hugging Face does (SmolLM2 lacks 21 of the 256,
  // e.g. 0x04 and 0xF5..0xFF); emitting the unknown token instead would put a control token
  // such as "<|endoftext|>" into the text.
  void Encode(std::string_view piece, std::vector<int32_t>* out) const;

 private:
  struct Merge {
    int32_t rank;
    int32_t id;  // id of the merged token
  };
  static uint64_t PairKey(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) |
           static_cast<uint32_t>(right);
  }

  std::array<int32_t, 256> byte_token_{};       // id of each single byte's token, -1 if none
  std::unordered_map<uint64_t, Merge> merges_;  // (left id, right id) -> merge
};

}  // namespace flashstream
