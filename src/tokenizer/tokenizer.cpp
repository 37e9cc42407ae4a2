#include "tokenizer/tokenizer.h"

#include <algorithm>

#include "tokenizer/bpe.h"
#include "tokenizer/detokenizer.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/special_tokens.h"
#include "tokenizer/spm.h"
#include "tokenizer/utf8.h"  // ReplaceAll

namespace flashstream {
namespace {

constexpr std::string_view kSpmSpace = "\xE2\x96\x81";  // "▁" (U+2581)

// Control-token texts that end a turn in the chat formats we know.
constexpr std::string_view kEndOfTurnTexts[] = {
    "<|im_end|>", "<|eot_id|>", "<|eom_id|>", "<|endoftext|>", "<end_of_turn>", "<|end|>",
};

bool IsSpecialType(int32_t type) {
  return type == TokenizerSpec::kControl || type == TokenizerSpec::kUnknown ||
         type == TokenizerSpec::kUserDefined;
}

// tokenizer.json's pre-tokenizer splits: Metaspace's split before each "▁", then the Splits.
std::vector<TokenizerSpec::PreSplit> PipelineSplits(const TokenizerSpec& spec) {
  std::vector<TokenizerSpec::PreSplit> splits;
  if (spec.metaspace != TokenizerSpec::Metaspace::kNone && spec.metaspace_split) {
    splits.push_back({std::string(kSpmSpace), TokenizerSpec::PreSplit::Behavior::kMergedWithNext});
  }
  splits.insert(splits.end(), spec.pre_splits.begin(), spec.pre_splits.end());
  return splits;
}

Status CheckId(const char* key, int32_t id, size_t n) {
  if (id < -1 || (id >= 0 && static_cast<size_t>(id) >= n)) {
    return Errorf("tokenizer.ggml.{} = {} is outside the vocabulary of {} tokens", key, id, n);
  }
  return Status::Ok();
}

Status Validate(const TokenizerSpec& spec) {
  if (spec.kind == TokenizerSpec::Kind::kNone) {
    return Errorf("tokenizer: no tokenizer model (tokenizer.ggml.model is absent)");
  }
  const size_t n = spec.tokens.size();
  if (n == 0) return Errorf("tokenizer.ggml.tokens is empty, expected at least one token");
  if (!spec.types.empty() && spec.types.size() != n) {
    return Errorf("tokenizer.ggml.token_type has {} entries, expected {} (one per token)",
                  spec.types.size(), n);
  }
  for (size_t i = 0; i < spec.types.size(); ++i) {
    if (spec.types[i] < 0 || spec.types[i] > TokenizerSpec::kByte) {
      return Errorf("tokenizer.ggml.token_type[{}] = {}, expected 0..6", i, spec.types[i]);
    }
  }
  if (!spec.scores.empty() && spec.scores.size() != n) {
    return Errorf("tokenizer.ggml.scores has {} entries, expected {} (one per token)",
                  spec.scores.size(), n);
  }
  FS_RETURN_IF_ERROR(CheckId("bos_token_id", spec.bos_id, n));
  FS_RETURN_IF_ERROR(CheckId("eos_token_id", spec.eos_id, n));
  FS_RETURN_IF_ERROR(CheckId("eot_token_id", spec.eot_id, n));
  FS_RETURN_IF_ERROR(CheckId("unknown_token_id", spec.unk_id, n));
  return Status::Ok();
}

}  // namespace

Tokenizer::Tokenizer() = default;
Tokenizer::~Tokenizer() = default;

Result<std::unique_ptr<Tokenizer>> Tokenizer::Create(const TokenizerSpec& spec) {
  FS_RETURN_IF_ERROR(Validate(spec));
  std::unique_ptr<Tokenizer> tok(new Tokenizer());
  tok->kind_ = spec.kind;
  tok->bos_id_ = spec.bos_id;
  tok->eos_id_ = spec.eos_id;
  tok->eot_id_ = spec.eot_id;
  tok->unk_id_ = spec.unk_id;
  tok->add_bos_ = spec.add_bos;
  tok->add_eos_ = spec.add_eos;
  const bool bpe = spec.kind == TokenizerSpec::Kind::kBpe;
  const bool byte_level = bpe && spec.byte_level;
  tok->add_space_prefix_ = !byte_level && spec.add_space_prefix;
  tok->space_prefix_first_only_ =
      tok->add_space_prefix_ && spec.metaspace == TokenizerSpec::Metaspace::kFirst;
  auto normalizer = std::make_unique<TextNormalizer>(spec);
  if (!normalizer->identity()) tok->normalizer_ = std::move(normalizer);
  if (bpe) {
    Result<PreTokenizer> pre = spec.pre == TokenizerSpec::kPreFromSplits
                                   ? PreTokenizer::FromSplits(PipelineSplits(spec))
                                   : PreTokenizer::Create(spec.pre);
    if (!pre.ok()) return pre.status();
    tok->pre_ = std::make_unique<PreTokenizer>(std::move(pre).value());
    FS_ASSIGN_OR_RETURN(BpeModel model, BpeModel::Create(spec));
    tok->bpe_ = std::make_unique<BpeModel>(std::move(model));
  } else {
    FS_ASSIGN_OR_RETURN(SpmModel model, SpmModel::Create(spec));
    tok->spm_ = std::make_unique<SpmModel>(std::move(model));
  }

  const size_t n = spec.tokens.size();
  tok->pieces_.resize(n);
  tok->special_.assign(n, 0);
  tok->end_of_generation_.assign(n, 0);
  tok->always_ = std::make_unique<SpecialTokenMatcher>();
  tok->parsed_ = std::make_unique<SpecialTokenMatcher>();
  for (size_t i = 0; i < n; ++i) {
    const auto id = static_cast<int32_t>(i);
    const int32_t type = spec.types.empty() ? TokenizerSpec::kNormal : spec.types[i];
    const std::string& text = spec.tokens[i];
    std::string& piece = tok->pieces_[i];
    if (IsSpecialType(type)) {
      piece = text;
      tok->special_[i] = 1;
      tok->parsed_->Add(text, id);
      if (type == TokenizerSpec::kUserDefined) tok->always_->Add(text, id);
      if (type == TokenizerSpec::kControl &&
          std::find(std::begin(kEndOfTurnTexts), std::end(kEndOfTurnTexts), text) !=
              std::end(kEndOfTurnTexts)) {
        tok->end_of_generation_[i] = 1;
      }
    } else if (byte_level) {
      if (!ByteLevelDecode(text, &piece)) piece = text;  // not in the byte alphabet: as is
    } else if (type == TokenizerSpec::kByte && SpmByteTokenValue(text) >= 0) {
      piece.assign(1, static_cast<char>(SpmByteTokenValue(text)));
    } else {
      piece = ReplaceAll(text, kSpmSpace, " ");
    }
  }
  for (int32_t id : {spec.eos_id, spec.eot_id}) {
    if (id >= 0) tok->end_of_generation_[static_cast<size_t>(id)] = 1;
  }
  for (const TokenizerSpec::AddedToken& added : spec.added_tokens) {
    if (added.id < 0 || static_cast<size_t>(added.id) >= n) continue;
    if (!added.lstrip && !added.rstrip) continue;
    tok->strip_.resize(n, 0);
    tok->strip_[static_cast<size_t>(added.id)] = (added.lstrip ? 1 : 0) | (added.rstrip ? 2 : 0);
  }
  return tok;
}

void Tokenizer::EncodeSegment(std::string_view text, bool segment_start, bool at_input_start,
                              std::vector<int32_t>* out) const {
  std::string normalized;
  if (normalizer_) {
    normalizer_->Apply(text, at_input_start, &normalized);
    text = normalized;
  }
  if (bpe_) {
    std::vector<std::string_view> pieces;
    pre_->Split(text, &pieces);
    for (std::string_view piece : pieces) bpe_->Encode(piece, out);
    return;
  }
  std::string escaped;
  if (add_space_prefix_ && segment_start) escaped = kSpmSpace;
  escaped += ReplaceAll(text, " ", kSpmSpace);
  spm_->Encode(escaped, out);
}

std::vector<int32_t> Tokenizer::Encode(std::string_view text, bool add_special,
                                       bool parse_special) const {
  std::vector<int32_t> ids;
  if (add_special && add_bos_ && bos_id_ >= 0) ids.push_back(bos_id_);
  std::vector<SpecialTokenMatcher::Fragment> fragments;
  (parse_special ? parsed_ : always_)->Partition(text, &fragments);
  if (!strip_.empty()) StripAroundAddedTokens(&fragments);
  bool segment_start = true;
  for (const SpecialTokenMatcher::Fragment& f : fragments) {
    if (f.id >= 0) {
      ids.push_back(f.id);
      segment_start = true;
    } else if (!f.text.empty()) {
      EncodeSegment(f.text, segment_start, f.text.data() == text.data(), &ids);
      segment_start = false;
    }
  }
  if (add_special && add_eos_ && eos_id_ >= 0) ids.push_back(eos_id_);
  return ids;
}

void Tokenizer::StripAroundAddedTokens(
    std::vector<SpecialTokenMatcher::Fragment>* fragments) const {
  constexpr std::string_view kSpaces = " \t\n\r\v\f";
  for (size_t i = 0; i < fragments->size(); ++i) {
    const int32_t id = (*fragments)[i].id;
    if (id < 0) continue;
    const uint8_t strip = strip_[static_cast<size_t>(id)];
    if ((strip & 1) && i > 0 && (*fragments)[i - 1].id < 0) {
      std::string_view& before = (*fragments)[i - 1].text;
      const size_t keep = before.find_last_not_of(kSpaces);
      before = before.substr(0, keep == std::string_view::npos ? 0 : keep + 1);
    }
    if ((strip & 2) && i + 1 < fragments->size() && (*fragments)[i + 1].id < 0) {
      std::string_view& after = (*fragments)[i + 1].text;
      const size_t skip = after.find_first_not_of(kSpaces);
      after = after.substr(skip == std::string_view::npos ? after.size() : skip);
    }
  }
}

std::string Tokenizer::Decode(std::span<const int32_t> ids) const {
  std::string out;
  Detokenizer detok(*this);
  for (int32_t id : ids) detok.Feed(id, &out);
  detok.Finish(&out);
  return out;
}

const std::string& Tokenizer::TokenText(int32_t id) const {
  static const std::string kEmpty;
  if (id < 0 || static_cast<size_t>(id) >= pieces_.size()) return kEmpty;
  return pieces_[static_cast<size_t>(id)];
}

bool Tokenizer::IsEndOfGeneration(int32_t id) const {
  return id >= 0 && static_cast<size_t>(id) < end_of_generation_.size() &&
         end_of_generation_[static_cast<size_t>(id)] != 0;
}

bool Tokenizer::IsSpecial(int32_t id) const {
  return id >= 0 && static_cast<size_t>(id) < special_.size() &&
         special_[static_cast<size_t>(id)] != 0;
}

}  // namespace flashstream
