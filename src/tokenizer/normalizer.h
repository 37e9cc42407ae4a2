// TextNormalizer: the text steps of a tokenizer.json pipeline that run on each segment between
// added tokens before the regex splits: the normalizer (NFC, Prepend, Replace, in order), then
// the Metaspace pre-tokenizer's space replacement and "▁" prefix (TokenizerSpec::metaspace).
// Invalid UTF-8 passes NFC unchanged (only the valid runs around it are composed).
// Immutable after Create; thread-safe for concurrent const use.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "formats/model_index.h"  // TokenizerSpec

namespace flashstream {

class TextNormalizer {
 public:
  explicit TextNormalizer(const TokenizerSpec& spec)
      : steps_(spec.normalizer), metaspace_(spec.metaspace) {}

  // true when Apply is the identity.
  bool identity() const { return steps_.empty() && metaspace_ == TokenizerSpec::Metaspace::kNone; }

  // Writes the normalized `text` to *out. at_input_start: the segment begins the input (no
  // added token before it), which Metaspace's "first" prepend scheme asks for.
  void Apply(std::string_view text, bool at_input_start, std::string* out) const;

 private:
  std::vector<TokenizerSpec::NormalizerStep> steps_;
  TokenizerSpec::Metaspace metaspace_;
};

// Unicode canonical composition (NFC) of the valid UTF-8 runs of `text`; other bytes are kept.
std::string NfcNormalize(std::string_view text);

}  // namespace flashstream
