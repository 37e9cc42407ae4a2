// libFuzzer target: arbitrary bytes as tokenizer.json (and, after a 0x00 byte, as
// tokenizer_config.json) through ParseHfTokenizer; a spec that parses goes through
// Tokenizer::Create, a short encode/decode, and the writer, whose output must parse again.
// Invariants (trap on violation): no crash/UB/leak; errors are one line; ids in range.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "formats/hf_tokenizer.h"
#include "tokenizer/tokenizer.h"

namespace {

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace flashstream;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t zero = input.find('\0');
  const std::string_view tokenizer_json = input.substr(0, zero);
  const std::string_view config_json = zero == std::string_view::npos ? "" : input.substr(zero + 1);
  Result<TokenizerSpec> spec = ParseHfTokenizer(tokenizer_json, config_json, "fuzz");
  if (!spec.ok()) {
    Check(spec.status().message().find('\n') == std::string::npos);
    return 0;
  }
  auto tok = Tokenizer::Create(spec.value());
  if (!tok.ok()) return 0;
  const Tokenizer& t = *tok.value();
  const std::vector<int32_t> ids = t.Encode("Hello, world! 123 \xE6\x97\xA5 <|end|>\n", true, true);
  for (int32_t id : ids) Check(id >= 0 && static_cast<size_t>(id) < t.vocab_size());
  (void)t.Decode(ids);
  Result<HfTokenizerFiles> files = HfTokenizerFromSpec(spec.value());
  if (files.ok()) {
    Result<TokenizerSpec> back =
        ParseHfTokenizer(files.value().tokenizer_json, files.value().config_json, "fuzz");
    Check(back.ok());
    Check(back.value().tokens == spec.value().tokens);
  }
  return 0;
}
