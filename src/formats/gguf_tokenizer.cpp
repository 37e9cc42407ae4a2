// TokenizerFromGguf: TokenizerSpec from `tokenizer.ggml.*` metadata.
#include "formats/gguf_keys.h"   // typed, range-checked key lookups
#include "formats/gguf_model.h"  // TokenizerFromGguf

namespace flashstream {
namespace {

using gguf_keys::Presence;

constexpr uint64_t kMaxTokens = uint64_t{1} << 22;
constexpr uint64_t kMaxMerges = uint64_t{1} << 23;

Status CheckLength(const GgufFile& f, const std::string& key, size_t n, size_t n_tokens) {
  if (n == 0 || n == n_tokens) return Status::Ok();  // empty = absent
  return Errorf("{}: key '{}' has {} elements, expected one per token ({})", f.path, key, n, n_tokens);
}

Status GetTokenId(const GgufFile& f, const std::string& key, size_t n_tokens, int32_t* id) {
  int v = *id;
  FS_RETURN_IF_ERROR(gguf_keys::GetInt(f, key, 0, static_cast<int64_t>(n_tokens) - 1, Presence::kOptional, &v));
  *id = v;
  return Status::Ok();
}

}  // namespace

Result<TokenizerSpec> TokenizerFromGguf(const GgufFile& f) {
  TokenizerSpec spec;
  std::string model;
  FS_RETURN_IF_ERROR(gguf_keys::GetString(f, "tokenizer.ggml.model", Presence::kOptional, &model));
  FS_RETURN_IF_ERROR(gguf_keys::GetString(f, "tokenizer.chat_template", Presence::kOptional, &spec.chat_template));
  if (f.Find("tokenizer.ggml.model") == nullptr) return spec;
  if (model == "gpt2") {
    spec.kind = TokenizerSpec::Kind::kBpe;
  } else if (model == "llama") {
    spec.kind = TokenizerSpec::Kind::kSpm;
    spec.add_bos = true;           // SentencePiece defaults when the keys are absent
    spec.add_space_prefix = true;
  } else {
    return Errorf("{}: key 'tokenizer.ggml.model' is '{}', which is not supported (supported: gpt2, llama)",
                  f.path, model);
  }
  spec.pre = "default";
  FS_RETURN_IF_ERROR(gguf_keys::GetString(f, "tokenizer.ggml.pre", Presence::kOptional, &spec.pre));
  FS_RETURN_IF_ERROR(gguf_keys::GetStringArray(f, "tokenizer.ggml.tokens", kMaxTokens, Presence::kRequired, &spec.tokens));
  const size_t n = spec.tokens.size();
  if (n == 0) return Errorf("{}: key 'tokenizer.ggml.tokens' is empty", f.path);

  FS_RETURN_IF_ERROR(gguf_keys::GetF32Array(f, "tokenizer.ggml.scores", kMaxTokens, Presence::kOptional, &spec.scores));
  FS_RETURN_IF_ERROR(CheckLength(f, "tokenizer.ggml.scores", spec.scores.size(), n));
  FS_RETURN_IF_ERROR(gguf_keys::GetI32Array(f, "tokenizer.ggml.token_type", kMaxTokens, Presence::kOptional, &spec.types));
  FS_RETURN_IF_ERROR(CheckLength(f, "tokenizer.ggml.token_type", spec.types.size(), n));
  for (size_t i = 0; i < spec.types.size(); ++i) {
    if (spec.types[i] < 0 || spec.types[i] > TokenizerSpec::kByte) {
      return Errorf("{}: key 'tokenizer.ggml.token_type' element {} is {}, expected 0..{}", f.path, i,
                    spec.types[i], static_cast<int>(TokenizerSpec::kByte));
    }
  }
  const Presence merges = spec.kind == TokenizerSpec::Kind::kBpe ? Presence::kRequired : Presence::kOptional;
  FS_RETURN_IF_ERROR(gguf_keys::GetStringArray(f, "tokenizer.ggml.merges", kMaxMerges, merges, &spec.merges));
  for (size_t i = 0; i < spec.merges.size(); ++i) {
    const size_t space = spec.merges[i].find(' ');
    if (space == std::string::npos || space == 0 || space + 1 == spec.merges[i].size()) {
      return Errorf("{}: key 'tokenizer.ggml.merges' element {} is '{}', expected two pieces separated by a space",
                    f.path, i, spec.merges[i]);
    }
  }

  FS_RETURN_IF_ERROR(GetTokenId(f, "tokenizer.ggml.bos_token_id", n, &spec.bos_id));
  FS_RETURN_IF_ERROR(GetTokenId(f, "tokenizer.ggml.eos_token_id", n, &spec.eos_id));
  FS_RETURN_IF_ERROR(GetTokenId(f, "tokenizer.ggml.unknown_token_id", n, &spec.unk_id));
  FS_RETURN_IF_ERROR(GetTokenId(f, "tokenizer.ggml.padding_token_id", n, &spec.pad_id));
  FS_RETURN_IF_ERROR(GetTokenId(f, "tokenizer.ggml.eot_token_id", n, &spec.eot_id));
  FS_RETURN_IF_ERROR(gguf_keys::GetBool(f, "tokenizer.ggml.add_bos_token", &spec.add_bos));
  FS_RETURN_IF_ERROR(gguf_keys::GetBool(f, "tokenizer.ggml.add_eos_token", &spec.add_eos));
  FS_RETURN_IF_ERROR(gguf_keys::GetBool(f, "tokenizer.ggml.add_space_prefix", &spec.add_space_prefix));
  return spec;
}

}  // namespace flashstream
