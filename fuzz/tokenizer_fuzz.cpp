// libFuzzer target: arbitrary bytes (invalid UTF-8 included) through Tokenizer::Encode of both
// kinds, and arbitrary id arrays through Decode and the streaming Detokenizer.
// Vocabularies, loaded once: SmolLM2 (BPE) from env FS_MODEL_SMOLLM2 and the Llama-2 SPM vocab
// from env FS_SHARED_DATA; a small synthetic vocabulary of the same kind stands in for each
// one that is unavailable.
// Input layout: byte 0 picks the tokenizer (bit 0), add_special (bit 1), parse_special (bit 2)
// and the mode (bit 3: 0 = encode the rest as text, 1 = decode the rest as int32 ids).
// Invariants (trap on violation): ids in range; Decode is valid UTF-8; the streamed text equals
// Decode; for SPM, valid UTF-8 text without special tokens and without "▁" (which decodes
// as a space) round-trips exactly.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "formats/gguf_model.h"  // ReadGgufTokenizer for the real vocabularies
#include "tokenizer/bpe.h"       // ByteToUnicode for the synthetic BPE vocabulary
#include "tokenizer/detokenizer.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace flashstream {
namespace {

TokenizerSpec SyntheticBpe() {
  TokenizerSpec spec;
  spec.kind = TokenizerSpec::Kind::kBpe;
  spec.pre = "smollm";
  for (int b = 0; b < 256; ++b) {
    std::string t;
    AppendUtf8(ByteToUnicode(static_cast<uint8_t>(b)), &t);
    spec.tokens.push_back(t);
  }
  const std::string sp = spec.tokens[' '];
  for (const char* m : {"t h", "th e", "a n", "i n", "e r"}) {
    spec.merges.push_back(m);
    std::string joined = m;
    joined.erase(joined.find(' '), 1);
    spec.tokens.push_back(joined);
  }
  spec.merges.push_back(sp + " the");
  spec.tokens.push_back(sp + "the");
  spec.tokens.push_back("<|im_start|>");
  spec.tokens.push_back("<|im_end|>");
  spec.types.assign(spec.tokens.size(), TokenizerSpec::kNormal);
  spec.types[spec.tokens.size() - 2] = TokenizerSpec::kControl;
  spec.types[spec.tokens.size() - 1] = TokenizerSpec::kControl;
  spec.eos_id = static_cast<int32_t>(spec.tokens.size() - 1);
  return spec;
}

TokenizerSpec SyntheticSpm() {
  TokenizerSpec spec;
  spec.kind = TokenizerSpec::Kind::kSpm;
  spec.add_bos = true;
  spec.add_space_prefix = true;
  spec.tokens = {"<unk>", "<s>", "</s>"};
  spec.types = {TokenizerSpec::kUnknown, TokenizerSpec::kControl, TokenizerSpec::kControl};
  spec.unk_id = 0;
  spec.bos_id = 1;
  spec.eos_id = 2;
  const char kHex[] = "0123456789ABCDEF";
  for (int b = 0; b < 256; ++b) {
    spec.tokens.push_back(std::string("<0x") + kHex[b >> 4] + kHex[b & 15] + ">");
    spec.types.push_back(TokenizerSpec::kByte);
  }
  for (const char* piece :
       {"\xE2\x96\x81", "a", "b", "e", "t", "h", "th", "the", "\xE2\x96\x81the"}) {
    spec.tokens.push_back(piece);
    spec.types.push_back(TokenizerSpec::kNormal);
  }
  spec.scores.resize(spec.tokens.size());
  for (size_t i = 0; i < spec.scores.size(); ++i) spec.scores[i] = -static_cast<float>(i);
  return spec;
}

std::unique_ptr<Tokenizer> Load(const std::string& path, TokenizerSpec fallback) {
  if (!path.empty()) {
    Result<TokenizerSpec> spec = ReadGgufTokenizer(path);
    if (spec.ok()) fallback = std::move(spec).value();
  }
  auto tok = Tokenizer::Create(fallback);
  if (!tok.ok()) std::abort();  // the fallbacks are valid; a real file that loads must be too
  return std::move(tok).value();
}

struct Tokenizers {
  std::unique_ptr<Tokenizer> bpe, spm;
};

const Tokenizers& Get() {
  static const Tokenizers t = [] {
    const char* smollm2 = std::getenv("FS_MODEL_SMOLLM2");
    const char* shared = std::getenv("FS_SHARED_DATA");
    Tokenizers t;
    t.bpe = Load(smollm2 != nullptr ? smollm2 : "", SyntheticBpe());
    t.spm = Load(shared != nullptr ? std::string(shared) + "/llama2-spm-vocab-only.gguf" : "",
                 SyntheticSpm());
    return t;
  }();
  return t;
}

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

void CheckDecode(const Tokenizer& tok, const std::vector<int32_t>& ids) {
  const std::string decoded = tok.Decode(ids);
  Check(IsValidUtf8(decoded));
  Detokenizer detok(tok);
  std::string streamed;
  for (int32_t id : ids) {
    const std::string chunk = detok.Feed(id);
    Check(IsValidUtf8(chunk));
    streamed += chunk;
  }
  streamed += detok.Finish();
  Check(streamed == decoded);
}

}  // namespace
}  // namespace flashstream

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace flashstream;
  if (size == 0) return 0;
  const uint8_t flags = data[0];
  const Tokenizer& tok = (flags & 1) ? *Get().spm : *Get().bpe;
  const bool add_special = (flags & 2) != 0, parse_special = (flags & 4) != 0;
  const std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  if ((flags & 8) == 0) {
    const std::vector<int32_t> ids = tok.Encode(rest, add_special, parse_special);
    for (int32_t id : ids) Check(id >= 0 && static_cast<size_t>(id) < tok.vocab_size());
    CheckDecode(tok, ids);
    if (tok.kind() == TokenizerSpec::Kind::kSpm && !add_special && !parse_special &&
        IsValidUtf8(rest) && rest.find("\xE2\x96\x81") == std::string_view::npos) {
      Check(tok.Decode(ids) == rest);
    }
  } else {
    std::vector<int32_t> ids(rest.size() / sizeof(int32_t));
    if (!ids.empty()) std::memcpy(ids.data(), rest.data(), ids.size() * sizeof(int32_t));
    for (int32_t& id : ids) {
      // Mostly in range, sometimes not.
      if ((id & 0x70000000) != 0x70000000)
        id = static_cast<int32_t>(static_cast<uint32_t>(id) % (tok.vocab_size() + 2));
    }
    CheckDecode(tok, ids);
  }
  return 0;
}
