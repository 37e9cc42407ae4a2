// Tokenizer: text <-> token ids for the models' own vocabularies, built from a TokenizerSpec
// (GGUF metadata or tokenizer.json). Two kinds:
//  - kBpe (GGUF "gpt2", tokenizer.json BPE): merge-ranked BPE after a regex pre-tokenizer
//    chosen by spec.pre (or spec.pre_splits), byte-level or, for tokenizer.json files of
//    Llama 2 / Mistral / Gemma, character-level with "▁" for spaces and byte fallback; the
//    tokenizer.json normalizer and Metaspace steps run first on each segment.
//  - kSpm (GGUF "llama"): SentencePiece score-based BPE with "▁" for spaces and byte fallback.
// Special tokens: user-defined tokens (type 4) are always matched in the raw text; control and
// unknown tokens (types 3, 2) only when parse_special is true. Matching is leftmost-longest,
// before pre-tokenization, and text between matches is encoded on its own. For kSpm with
// add_space_prefix, a space is put in front of each text segment that starts the input or
// follows a special token (llama.cpp and the Llama-2 tokenizer.json do the same).
// Any byte string can be encoded: invalid UTF-8 goes through the byte-level alphabet (kBpe;
// a byte the vocabulary lacks is dropped, as Hugging Face does) or byte fallback (kSpm; the
// unknown token when a byte token is missing). Decode output is always valid UTF-8.
// Immutable after Create; thread-safe for concurrent const use.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "formats/model_index.h"
#include "tokenizer/special_tokens.h"  // SpecialTokenMatcher::Fragment

namespace flashstream {

class BpeModel;
class PreTokenizer;
class SpmModel;
class TextNormalizer;

class Tokenizer {
 public:
  // Validates the spec (kind, array lengths, special ids in range, merges syntax, known
  // pre-tokenizer) and builds the tables. Errors name the GGUF key and expected vs actual.
  static Result<std::unique_ptr<Tokenizer>> Create(const TokenizerSpec& spec);
  ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // add_special: put bos in front when spec.add_bos (and eos at the end when spec.add_eos).
  // parse_special: match control/unknown token texts such as "<|im_start|>" in `text`.
  std::vector<int32_t> Encode(std::string_view text, bool add_special, bool parse_special) const;

  // Concatenates the pieces of `ids` (special tokens render as their text, e.g. "<s>"),
  // replacing ill-formed UTF-8 with U+FFFD. Ids outside [0, vocab_size) are skipped.
  // kSpm with add_space_prefix: the first space of the text that starts the sequence or
  // follows a special token is dropped, undoing Encode's prefix, so that for valid UTF-8
  // Decode(Encode(s, false, true)) == s for both kinds (kSpm: unless s holds "▁" itself,
  // which decodes as a space; kBpe: unless s holds a byte the vocabulary lacks).
  std::string Decode(std::span<const int32_t> ids) const;

  // The raw bytes of one token's piece ("▁" and byte tokens resolved; may be partial UTF-8);
  // "" for an id out of range.
  const std::string& TokenText(int32_t id) const;

  // true for eos, eot, and control tokens that end a turn ("<|im_end|>", "<|eot_id|>",
  // "<|endoftext|>", "<end_of_turn>", "<|end|>", "<|eom_id|>") when present.
  bool IsEndOfGeneration(int32_t id) const;
  // true for control, unknown and user-defined tokens (the ones Encode matches as specials).
  bool IsSpecial(int32_t id) const;

  TokenizerSpec::Kind kind() const { return kind_; }
  size_t vocab_size() const { return pieces_.size(); }
  int32_t bos() const { return bos_id_; }  // -1 = absent
  int32_t eos() const { return eos_id_; }
  int32_t eot() const { return eot_id_; }
  int32_t unk() const { return unk_id_; }
  // true when Decode drops the space that Encode puts in front of a segment (kSpm, and
  // character-level kBpe whose tokenizer.json decoder strips it).
  bool strips_space_prefix() const { return add_space_prefix_; }
  // true when that space is only put in front of the input's first segment, not after special
  // tokens (tokenizer.json Metaspace with prepend_scheme "first").
  bool space_prefix_first_only() const { return space_prefix_first_only_; }

 private:
  Tokenizer();
  void EncodeSegment(std::string_view text, bool segment_start, bool at_input_start,
                     std::vector<int32_t>* out) const;
  // Removes the whitespace that lstrip/rstrip added tokens take from their neighbours.
  void StripAroundAddedTokens(std::vector<SpecialTokenMatcher::Fragment>* fragments) const;

  TokenizerSpec::Kind kind_ = TokenizerSpec::Kind::kNone;
  std::vector<std::string> pieces_;  // id -> raw bytes
  std::vector<uint8_t> special_;     // id -> 1 for control/unknown/user-defined
  std::vector<uint8_t> end_of_generation_;
  int32_t bos_id_ = -1, eos_id_ = -1, eot_id_ = -1, unk_id_ = -1;
  bool add_bos_ = false, add_eos_ = false, add_space_prefix_ = false;
  bool space_prefix_first_only_ = false;
  std::vector<uint8_t> strip_;  // id -> bit 0: lstrip, bit 1: rstrip (tokenizer.json added tokens)
  std::unique_ptr<SpecialTokenMatcher> always_;  // user-defined tokens
  std::unique_ptr<SpecialTokenMatcher> parsed_;  // user-defined + control + unknown
  std::unique_ptr<TextNormalizer> normalizer_;   // tokenizer.json steps; null = none
  std::unique_ptr<PreTokenizer> pre_;            // kBpe only
  std::unique_ptr<BpeModel> bpe_;                // kBpe only
  std::unique_ptr<SpmModel> spm_;                // kSpm only
};

}  // namespace flashstream
