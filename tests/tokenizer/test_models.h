// Test helpers (header-only): the real tokenizers, read from their GGUF files (SmolLM2 via
// FS_MODEL_SMOLLM2, the Llama-2 SPM vocab via FS_SHARED_DATA) and their reference cases from
// tests/data/tokenizer/<name>.json (made by scripts/ref_tokenizer.py).
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
#include "tokenizer/tokenizer.h"

namespace flashstream::testing {

// One reference case (see scripts/ref_tokenizer.py for the conventions).
struct RefCase {
  std::string text;
  std::vector<int32_t> ids;        // add_special=false, parse_special=true
  std::vector<int32_t> ids_plain;  // add_special=false, parse_special=false
};

struct RefData {
  bool add_bos = false;  // add_special=true puts bos_id in front
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

// Path of a model's GGUF: "smollm2" from env FS_MODEL_SMOLLM2, "llama2_spm" from env
// FS_SHARED_DATA (default $FS_SOURCE_DIR/../shared/data). "" when the variable is unset.
inline std::string ModelPath(const std::string& name) {
  if (name == "smollm2") {
    const char* env = std::getenv("FS_MODEL_SMOLLM2");
    return env != nullptr ? env : "";
  }
  const char* env = std::getenv("FS_SHARED_DATA");
  const std::string dir = env != nullptr ? env : SourceDir() + "/../shared/data";
  return dir + "/llama2-spm-vocab-only.gguf";
}

// Names: "smollm2" (BPE) and "llama2_spm" (SPM), read through the GGUF reader. Returns
// nullptr with *skip_reason set when the file is not available, or with *error set when it
// fails to load.
inline std::unique_ptr<Tokenizer> LoadModelTokenizer(const std::string& name,
                                                     std::string* skip_reason, std::string* error) {
  const std::string path = ModelPath(name);
  if (path.empty()) {
    *skip_reason = "FS_MODEL_SMOLLM2 is not set (path of the SmolLM2-135M-Instruct GGUF)";
    return nullptr;
  }
  if (!std::filesystem::exists(path)) {
    *skip_reason = path + " does not exist";
    return nullptr;
  }
  Result<TokenizerSpec> spec = ReadGgufTokenizer(path);
  if (!spec.ok()) {
    *error = spec.status().message();
    return nullptr;
  }
  auto tok = Tokenizer::Create(spec.value());
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
    data.cases.push_back(std::move(rc));
  }
  return data;
}

}  // namespace flashstream::testing
