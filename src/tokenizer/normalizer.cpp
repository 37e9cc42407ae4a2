#include "tokenizer/normalizer.h"

#include <utf8proc.h>  // NFC composition

#include <cstdlib>

#include "tokenizer/utf8.h"

namespace flashstream {
namespace {

constexpr std::string_view kMetaspace = "\xE2\x96\x81";  // "▁" (U+2581)

void AppendNfc(std::string_view run, std::string* out) {
  if (run.empty()) return;
  utf8proc_uint8_t* composed = nullptr;
  const utf8proc_ssize_t n =
      utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(run.data()),
                   static_cast<utf8proc_ssize_t>(run.size()), &composed,
                   static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  if (n < 0) {
    out->append(run);  // utf8proc rejects the run (not expected for valid UTF-8): keep it
  } else {
    out->append(reinterpret_cast<const char*>(composed), static_cast<size_t>(n));
  }
  std::free(composed);
}

}  // namespace

std::string NfcNormalize(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t run_start = 0;
  for (size_t pos = 0; pos < text.size();) {
    const size_t len = Utf8CharLen(text, pos);
    if (len > 0) {
      pos += len;
      continue;
    }
    AppendNfc(text.substr(run_start, pos - run_start), &out);
    out.push_back(text[pos]);
    run_start = ++pos;
  }
  AppendNfc(text.substr(run_start), &out);
  return out;
}

void TextNormalizer::Apply(std::string_view text, bool at_input_start, std::string* out) const {
  std::string s(text);
  for (const TokenizerSpec::NormalizerStep& step : steps_) {
    switch (step.type) {
      case TokenizerSpec::NormalizerStep::Type::kNfc:
        s = NfcNormalize(s);
        break;
      case TokenizerSpec::NormalizerStep::Type::kPrepend:
        if (!s.empty()) s.insert(0, step.content);
        break;
      case TokenizerSpec::NormalizerStep::Type::kReplace:
        s = ReplaceAll(s, step.pattern, step.content);
        break;
    }
  }
  if (metaspace_ != TokenizerSpec::Metaspace::kNone) {
    s = ReplaceAll(s, " ", kMetaspace);
    const bool prepend = metaspace_ == TokenizerSpec::Metaspace::kAlways ||
                         (metaspace_ == TokenizerSpec::Metaspace::kFirst && at_input_start);
    if (prepend && !s.empty() && !std::string_view(s).starts_with(kMetaspace)) {
      s.insert(0, kMetaspace);
    }
  }
  *out = std::move(s);
}

}  // namespace flashstream
