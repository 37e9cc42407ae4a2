// Internal to src/formats/hf_tokenizer_*.cpp: checked access to tokenizer.json values, with
// errors of the form "<file>: <field>: <message>", and the pipeline reader. Stateless.
#pragma once

#include <fmt/format.h>  // messages

#include <nlohmann/json.hpp>  // json values
#include <string>
#include <string_view>

#include "core/status.h"
#include "formats/model_index.h"

namespace flashstream::hf_json {

using nlohmann::json;

// Names the file in errors; the getters treat an absent key and null alike.
struct Ctx {
  std::string file;

  Status Error(std::string_view field, std::string_view message) const {
    return Errorf("{}: {}: {}", file, field, message);
  }
  const json* Get(const json& parent, const char* key) const {
    if (!parent.is_object()) return nullptr;
    const auto it = parent.find(key);
    return it == parent.end() || it->is_null() ? nullptr : &*it;
  }
  Status Missing(const std::string& field) const { return Error(field, "is missing"); }
  Status Object(const json& parent, const char* key, const std::string& field, bool required,
                const json** out) const {
    *out = Get(parent, key);
    if (*out == nullptr) return required ? Missing(field) : Status::Ok();
    if (!(*out)->is_object())
      return Error(field, fmt::format("expected an object, got {}", (*out)->type_name()));
    return Status::Ok();
  }
  Status Array(const json& parent, const char* key, const std::string& field, bool required,
               const json** out) const {
    *out = Get(parent, key);
    if (*out == nullptr) return required ? Missing(field) : Status::Ok();
    if (!(*out)->is_array())
      return Error(field, fmt::format("expected an array, got {}", (*out)->type_name()));
    return Status::Ok();
  }
  Status String(const json& parent, const char* key, const std::string& field, bool required,
                std::string* out) const {
    const json* v = Get(parent, key);
    if (v == nullptr) return required ? Missing(field) : Status::Ok();
    if (!v->is_string())
      return Error(field, fmt::format("expected a string, got {}", v->type_name()));
    *out = v->get<std::string>();
    return Status::Ok();
  }
  Status Bool(const json& parent, const char* key, const std::string& field, bool* out) const {
    const json* v = Get(parent, key);
    if (v == nullptr) return Status::Ok();
    if (!v->is_boolean())
      return Error(field, fmt::format("expected true or false, got {}", v->type_name()));
    *out = v->get<bool>();
    return Status::Ok();
  }
  Status Int(const json& parent, const char* key, const std::string& field, bool required,
             int64_t* out) const {
    const json* v = Get(parent, key);
    if (v == nullptr) return required ? Missing(field) : Status::Ok();
    if (!v->is_number_integer())
      return Error(field, fmt::format("expected an integer, got {}", v->type_name()));
    *out = v->get<int64_t>();
    return Status::Ok();
  }
};

// Reads normalizer, pre_tokenizer, decoder and post_processor into spec (after the model and
// added tokens, whose ids the post-processor's special tokens must name).
Status ReadPipeline(const Ctx& ctx, const json& root, TokenizerSpec* spec);

}  // namespace flashstream::hf_json
