// Test helpers (header-only): the real tokenizers, read from their GGUF files (SmolLM2 via
// FS_MODEL_SMOLLM2, the Llama-2 SPM vocab via FS_SHARED_DATA, Gemma 3 via FS_MODEL_GEMMA3) or
// tokenizer.json folders (FS_TOKENIZER_LLAMA3, FS_TOKENIZER_QWEN3, made by scripts/setup.sh),
// and their reference cases from tests/data/tokenizer/<name>.json (scripts/ref_tokenizer.py).
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>  // reference files
#include <string>
#include <vector>

#include "formats/gguf_model.h"
#include "formats/hf_tokenizer.h"
#include "tokenizer/tokenizer.h"

namespace flashstream::testing {

// One reference case (see scripts/ref_tokenizer.py for the conventions).
struct RefCase {
  std::string text;
  std::vector<int32_t> ids;        // add_special=false, parse_special=true
  std::vector<int32_t> ids_plain;  // add_special=false, parse_special=false
  // Hugging Face's own GGUF conversion (Metaspace "first" for SentencePiece), parse_special=true.
  std::vector<int32_t> ids_hf_gguf;
};

struct RefData {
  int hf_gguf_cases = 0;  // cases whose ids_hf_gguf differ from ids
  bool add_bos = false;   // add_special=true puts bos_id in front
  int32_t bos_id = -1;
  std::vector<RefCase> cases;
};

inline std::string SourceDir() {
  const char* env = std::getenv("FS_SOURCE_DIR");
  return env != nullptr ? env : FS_SOURCE_DIR;
}

inline nlohmann::json ReadJson(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    std::fprintf(stderr, "cannot open %s\n", path.c_str());
    std::abort();
  }
  return nlohmann::json::parse(in);
}

inline std::string Env(const char* name) {
  const char* env = std::getenv(name);
  return env != nullptr ? env : "";
}

// Path of a model's GGUF: "smollm2" from env FS_MODEL_SMOLLM2, "gemma3" from FS_MODEL_GEMMA3,
// "llama2_spm" from env FS_SHARED_DATA (default $FS_SOURCE_DIR/../shared/data). "" when the
// variable is unset.
inline std::string ModelPath(const std::string& name) {
  if (name == "smollm2") return Env("FS_MODEL_SMOLLM2");
  if (name == "gemma3") return Env("FS_MODEL_GEMMA3");
  const char* env = std::getenv("FS_SHARED_DATA");
  const std::string dir = env != nullptr ? env : SourceDir() + "/../shared/data";
  return dir + "/llama2-spm-vocab-only.gguf";
}

// The TokenizerSpec of a model by name: GGUF "smollm2" (BPE), "llama2_spm" (SPM), "gemma3"
// (SPM); tokenizer.json "llama3", "qwen3". Returns false with *skip_reason set when the file
// is not available, or with *error set when it fails to load.
inline bool LoadModelSpec(const std::string& name, TokenizerSpec* out, std::string* skip_reason,
                          std::string* error) {
  const bool json = name == "llama3" || name == "qwen3";
  const std::string var = json ? (name == "llama3" ? "FS_TOKENIZER_LLAMA3" : "FS_TOKENIZER_QWEN3")
                               : (name == "gemma3" ? "FS_MODEL_GEMMA3" : "FS_MODEL_SMOLLM2");
  const std::string path = json ? Env(var.c_str()) : ModelPath(name);
  if (path.empty()) {
    *skip_reason = var + " is not set (scripts/test.sh sets it)";
    return false;
  }
  if (!std::filesystem::exists(path)) {
    *skip_reason = path + " does not exist";
    return false;
  }
  Result<TokenizerSpec> spec = json ? ReadHfTokenizer(path) : ReadGgufTokenizer(path);
  if (!spec.ok()) {
    *error = spec.status().message();
    return false;
  }
  *out = std::move(spec).value();
  return true;
}

inline std::unique_ptr<Tokenizer> MakeTokenizer(const TokenizerSpec& spec, std::string* error) {
  auto tok = Tokenizer::Create(spec);
  if (!tok.ok()) {
    *error = tok.status().message();
    return nullptr;
  }
  return std::move(tok).value();
}

// LoadModelSpec + Tokenizer::Create.
inline std::unique_ptr<Tokenizer> LoadModelTokenizer(const std::string& name,
                                                     std::string* skip_reason, std::string* error) {
  TokenizerSpec spec;
  if (!LoadModelSpec(name, &spec, skip_reason, error)) return nullptr;
  auto tok = Tokenizer::Create(spec);
  if (!tok.ok()) {
    *error = tok.status().message();
    return nullptr;
  }
  return std::move(tok).value();
}

inline RefData LoadReference(const std::string& name) {
  const nlohmann::json j = ReadJson(SourceDir() + "/tests/data/tokenizer/" + name + ".json");
  RefData data;
  data.add_bos = j.at("add_bos");
  data.bos_id = j.at("bos_id");
  for (const nlohmann::json& c : j.at("cases")) {
    RefCase rc;
    rc.text = c.at("text");
    rc.ids = c.at("ids").get<std::vector<int32_t>>();
    rc.ids_plain = c.contains("ids_plain") ? c["ids_plain"].get<std::vector<int32_t>>() : rc.ids;
    rc.ids_hf_gguf =
        c.contains("hf_gguf_ids") ? c["hf_gguf_ids"].get<std::vector<int32_t>>() : rc.ids;
    if (c.contains("hf_gguf_ids")) ++data.hf_gguf_cases;
    data.cases.push_back(std::move(rc));
  }
  return data;
}

}  // namespace flashstream::testing
