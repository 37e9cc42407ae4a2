// The regex pre-tokenizers named by GGUF's tokenizer.ggml.pre, as PCRE2 patterns. Shared by the
// tokenizer (src/tokenizer/pretokenizer.cpp) and the tokenizer.json writer, which spells each
// name out as tokenizer.json Split/ByteLevel steps. Constant data; thread-safe.
#pragma once

#include <array>
#include <string_view>

#include "formats/model_index.h"  // TokenizerSpec::kGpt2Pattern

namespace flashstream::pre_patterns {

// GPT-2's split: contractions, optional space + letters / numbers / other symbols, whitespace
// runs (a run before non-space leaves its last space to the next piece).
inline constexpr const char* kGpt2 = TokenizerSpec::kGpt2Pattern;
// Llama 3: case-insensitive contractions, one optional non-letter prefix before letters,
// numbers in groups of up to three, newlines kept together.
inline constexpr const char* kLlama3 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// Qwen2: as Llama 3 but every number code point on its own.
inline constexpr const char* kQwen2 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// Isolates each number code point (Hugging Face's Digits(individual_digits=True)).
inline constexpr const char* kEachDigit = R"(\p{N})";

struct Named {
  std::string_view name;
  std::array<const char*, 2> patterns;  // applied in order, each "isolated"; nullptr = unused
};

// One line per supported tokenizer.ggml.pre value.
inline constexpr Named kNamed[] = {
    {"", {kGpt2, nullptr}},
    {"default", {kGpt2, nullptr}},
    {"gpt2", {kGpt2, nullptr}},
    {"smollm", {kEachDigit, kGpt2}},
    {"llama-bpe", {kLlama3, nullptr}},
    {"llama3", {kLlama3, nullptr}},
    {"qwen2", {kQwen2, nullptr}},
};

// The entry for `name`, or nullptr.
inline const Named* Find(std::string_view name) {
  for (const Named& n : kNamed) {
    if (n.name == name) return &n;
  }
  return nullptr;
}

}  // namespace flashstream::pre_patterns
