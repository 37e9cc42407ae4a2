// Merge-ranked BPE. Byte-level (GGUF tokenizer model "gpt2", tokenizer.json ByteLevel):
// vocabulary entries are written in GPT-2's byte-to-unicode alphabet and a text piece starts as
// one symbol per byte. Character-level (tokenizer.json of Llama 2 / Mistral / Gemma,
// spec.byte_level false): a piece starts as one symbol per UTF-8 character, a character
// outside the vocabulary becoming its <0xXX> byte tokens (byte_fallback) or the unknown token.
// Then the adjacent pair whose merge has the lowest rank is merged until no ranked pair
// remains (ties: leftmost).
// Immutable after Create; thread-safe for concurrent const use.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
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

  // Appends the ids of one pre-tokenized piece of raw bytes. Byte-level: a byte whose
  // byte-level character is not in the vocabulary is dropped, as Hugging Face does (SmolLM2
  // lacks 21 of the 256, e.g. 0x04 and 0xF5..0xFF); emitting the unknown token instead would
  // put a control token such as "<|endoftext|>" into the text. Character-level: invalid UTF-8
  // bytes are one-byte characters (so they take the byte-fallback path).
  void Encode(std::string_view piece, std::vector<int32_t>* out) const;

 private:
  // The initial symbols (token ids; -1 = no token) of `piece`.
  void InitialSymbols(std::string_view piece, std::vector<int32_t>* ids) const;
  int32_t Lookup(std::string_view text) const;  // vocabulary id of `text`, -1 if none

  struct Merge {
    int32_t rank;
    int32_t id;  // id of the merged token
  };
  static uint64_t PairKey(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) |
           static_cast<uint32_t>(right);
  }

  bool byte_level_ = true;
  bool ignore_merges_ = false;
  int32_t unk_id_ = -1;                         // character-level without byte fallback
  std::array<int32_t, 256> byte_token_{};       // byte-level: id of each byte's character token;
                                                // character-level: its <0xXX> token; -1 if none
  std::unordered_map<uint64_t, Merge> merges_;  // (left id, right id) -> merge
  // Lets vocab_ be searched with a string_view.
  struct TextHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  // text -> id (a repeated text keeps the last)
  std::unordered_map<std::string, int32_t, TextHash, std::equal_to<>> vocab_;
};

}  // namespace flashstream
