// Typed, validated metadata lookups shared by the GGUF config and tokenizer readers (internal to
// src/formats). Each returns an error naming the file and key, expected vs actual; when an
// optional key is absent the output is left unchanged.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"    // Status
#include "formats/gguf.h"  // GgufFile, GgufValue

namespace flashstream::gguf_keys {

enum class Presence { kOptional, kRequired };

// Integer key (any integer type) within [lo, hi].
Status GetInt(const GgufFile& f, const std::string& key, int64_t lo, int64_t hi, Presence p, int* out);
// f32/f64 key, finite and within [lo, hi].
Status GetFloat(const GgufFile& f, const std::string& key, double lo, double hi, Presence p, float* out);
Status GetString(const GgufFile& f, const std::string& key, Presence p, std::string* out);
Status GetBool(const GgufFile& f, const std::string& key, bool* out);

// Arrays with the given element type; `max_count` bounds the element count.
Status GetStringArray(const GgufFile& f, const std::string& key, uint64_t max_count, Presence p,
                      std::vector<std::string>* out);
Status GetF32Array(const GgufFile& f, const std::string& key, uint64_t max_count, Presence p,
                   std::vector<float>* out);
// Accepts i32 or u32 elements (values must fit in int32).
Status GetI32Array(const GgufFile& f, const std::string& key, uint64_t max_count, Presence p,
                   std::vector<int32_t>* out);

}  // namespace flashstream::gguf_keys
