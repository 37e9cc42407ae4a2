// Hugging Face tokenizer folders <-> TokenizerSpec.
//  - Read: tokenizer.json (model BPE: byte-level with ByteLevel/Split/Digits pre-tokenizers, or
//    character-level with byte_fallback and NFC/Prepend/Replace normalizers or Metaspace;
//    added tokens with their flags; decoder and post-processor) and the optional
//    tokenizer_config.json (chat_template, bos/eos/unk/pad tokens, add_bos_token,
//    add_eos_token). Component types we do not implement are errors naming the field and the
//    supported types; so are bad ids, duplicate ids, id gaps and merges naming absent tokens.
//  - Write: the same two files from a spec (a GGUF's tokenizer, for `convert --to hf`).
//    Byte-level BPE keeps its vocabulary and merges; SentencePiece becomes a character-level
//    BPE with byte fallback whose merges come from the piece scores, as Hugging Face's own
//    SentencePiece conversion makes them.
// Errors are one line and start with the file's path. Stateless functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"          // Result, Status
#include "formats/model_index.h"  // TokenizerSpec

namespace flashstream {

// Reads <folder>/tokenizer.json and, when present, <folder>/tokenizer_config.json.
Result<TokenizerSpec> ReadHfTokenizer(const std::string& folder);

// The same from the files' texts: `config_json` "" = no tokenizer_config.json. `folder` only
// names the files in messages.
Result<TokenizerSpec> ParseHfTokenizer(std::string_view tokenizer_json,
                                       std::string_view config_json, const std::string& folder);

// The texts of tokenizer.json and tokenizer_config.json for `spec` (kBpe or kSpm).
struct HfTokenizerFiles {
  std::string tokenizer_json;
  std::string config_json;
};
Result<HfTokenizerFiles> HfTokenizerFromSpec(const TokenizerSpec& spec);

// HfTokenizerFromSpec, written into `folder` (which must exist).
Status WriteHfTokenizer(const TokenizerSpec& spec, const std::string& folder);

}  // namespace flashstream
