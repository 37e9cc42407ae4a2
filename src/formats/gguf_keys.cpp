#include "formats/gguf_keys.h"

#include <cmath>    // std::isfinite
#include <cstring>  // std::memcpy
#include <limits>

namespace flashstream::gguf_keys {
namespace {

// Finds `key`; *v = nullptr when absent and optional.
Status Lookup(const GgufFile& f, const std::string& key, Presence p, const GgufValue** v) {
  *v = f.Find(key);
  if (*v == nullptr && p == Presence::kRequired) return Errorf("{}: required key '{}' is missing", f.path, key);
  return Status::Ok();
}

Status LookupArray(const GgufFile& f, const std::string& key, GgufType elem, uint64_t max_count,
                   Presence p, const GgufValue** v) {
  FS_RETURN_IF_ERROR(Lookup(f, key, p, v));
  if (*v == nullptr) return Status::Ok();
  if ((*v)->type != GgufType::kArray || (*v)->elem_type != elem) {
    return Errorf("{}: key '{}' has type {}, expected array of {}", f.path, key, (*v)->TypeName(), Name(elem));
  }
  if ((*v)->count > max_count) {
    return Errorf("{}: key '{}' has {} elements, expected at most {}", f.path, key, (*v)->count, max_count);
  }
  return Status::Ok();
}

}  // namespace

Status GetInt(const GgufFile& f, const std::string& key, int64_t lo, int64_t hi, Presence p, int* out) {
  const GgufValue* v = nullptr;
  FS_RETURN_IF_ERROR(Lookup(f, key, p, &v));
  if (v == nullptr) return Status::Ok();
  if (!IsInteger(v->type)) return Errorf("{}: key '{}' has type {}, expected an integer", f.path, key, v->TypeName());
  const std::optional<int64_t> x = v->AsInt();
  if (!x || *x < lo || *x > hi) {
    return Errorf("{}: key '{}' is {}, expected {}..{}", f.path, key, v->ToString(), lo, hi);
  }
  *out = static_cast<int>(*x);
  return Status::Ok();
}

Status GetFloat(const GgufFile& f, const std::string& key, double lo, double hi, Presence p, float* out) {
  const GgufValue* v = nullptr;
  FS_RETURN_IF_ERROR(Lookup(f, key, p, &v));
  if (v == nullptr) return Status::Ok();
  const std::optional<double> x = v->AsFloat();
  if (!x) return Errorf("{}: key '{}' has type {}, expected f32", f.path, key, v->TypeName());
  if (!std::isfinite(*x) || *x < lo || *x > hi) {
    return Errorf("{}: key '{}' is {}, expected a finite value in [{}, {}]", f.path, key, *x, lo, hi);
  }
  *out = static_cast<float>(*x);
  return Status::Ok();
}

Status GetString(const GgufFile& f, const std::string& key, Presence p, std::string* out) {
  const GgufValue* v = nullptr;
  FS_RETURN_IF_ERROR(Lookup(f, key, p, &v));
  if (v == nullptr) return Status::Ok();
  if (v->type != GgufType::kString) return Errorf("{}: key '{}' has type {}, expected string", f.path, key, v->TypeName());
  *out = v->str;
  return Status::Ok();
}

Status GetBool(const GgufFile& f, const std::string& key, bool* out) {
  const GgufValue* v = f.Find(key);
  if (v == nullptr) return Status::Ok();
  const std::optional<bool> b = v->AsBool();
  if (!b) return Errorf("{}: key '{}' has type {}, expected bool", f.path, key, v->TypeName());
  *out = *b;
  return Status::Ok();
}

Status GetStringArray(const GgufFile& f, const std::string& key, uint64_t max_count, Presence p,
                      std::vector<std::string>* out) {
  const GgufValue* v = nullptr;
  FS_RETURN_IF_ERROR(LookupArray(f, key, GgufType::kString, max_count, p, &v));
  if (v != nullptr) *out = v->strings;
  return Status::Ok();
}

Status GetF32Array(const GgufFile& f, const std::string& key, uint64_t max_count, Presence p,
                   std::vector<float>* out) {
  const GgufValue* v = nullptr;
  FS_RETURN_IF_ERROR(LookupArray(f, key, GgufType::kF32, max_count, p, &v));
  if (v == nullptr) return Status::Ok();
  out->resize(v->count);
  if (v->count) std::memcpy(out->data(), v->raw.data(), v->raw.size());
  return Status::Ok();
}

Status GetI32Array(const GgufFile& f, const std::string& key, uint64_t max_count, Presence p,
                   std::vector<int32_t>* out) {
  const GgufValue* v = f.Find(key);
  const GgufType elem = (v && v->type == GgufType::kArray && v->elem_type == GgufType::kU32) ? GgufType::kU32 : GgufType::kI32;
  FS_RETURN_IF_ERROR(LookupArray(f, key, elem, max_count, p, &v));
  if (v == nullptr) return Status::Ok();
  out->resize(v->count);
  for (uint64_t i = 0; i < v->count; ++i) {
    const uint32_t bits = static_cast<uint32_t>(v->ElementBits(i));
    if (elem == GgufType::kU32 && bits > static_cast<uint32_t>(std::numeric_limits<int32_t>::max())) {
      return Errorf("{}: key '{}' element {} is {}, larger than the int32 range", f.path, key, i, bits);
    }
    (*out)[i] = static_cast<int32_t>(bits);
  }
  return Status::Ok();
}

}  // namespace flashstream::gguf_keys
