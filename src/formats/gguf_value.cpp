// GgufValue accessors and constructors, value-type and ggml-type tables.
#include <array>
#include <cstring>  // std::memcpy
#include <limits>

#include "core/check.h"    // FS_CHECK on constructor preconditions
#include "formats/gguf.h"  // GgufValue

namespace flashstream {
namespace {

struct TypeRow {
  std::string_view name;
  size_t size;  // bytes of a scalar; 0 for string/array
};
constexpr std::array<TypeRow, static_cast<size_t>(GgufType::kCount)> kTypes = {{
    {"u8", 1}, {"i8", 1}, {"u16", 2}, {"i16", 2}, {"u32", 4}, {"i32", 4}, {"f32", 4},
    {"bool", 1}, {"string", 0}, {"array", 0}, {"u64", 8}, {"i64", 8}, {"f64", 8},
}};

// Sign- or zero-extends the stored bits of an integer scalar of type t.
int64_t ExtendBits(GgufType t, uint64_t bits) {
  switch (t) {
    case GgufType::kI8: return static_cast<int8_t>(bits);
    case GgufType::kI16: return static_cast<int16_t>(bits);
    case GgufType::kI32: return static_cast<int32_t>(bits);
    default: return static_cast<int64_t>(bits);
  }
}

std::string ScalarToString(GgufType t, uint64_t bits) {
  if (t == GgufType::kBool) return bits ? "true" : "false";
  if (t == GgufType::kF32) {
    float f;
    const uint32_t b = static_cast<uint32_t>(bits);
    std::memcpy(&f, &b, 4);
    return fmt::format("{}", f);
  }
  if (t == GgufType::kF64) {
    double d;
    std::memcpy(&d, &bits, 8);
    return fmt::format("{}", d);
  }
  if (t == GgufType::kU64) return fmt::format("{}", bits);
  return fmt::format("{}", ExtendBits(t, bits));
}

struct GgmlRow {
  uint32_t id;
  std::string_view name;
};
constexpr GgmlRow kGgmlNames[] = {
    {0, "F32"},     {1, "F16"},      {2, "Q4_0"},     {3, "Q4_1"},     {6, "Q5_0"},
    {7, "Q5_1"},    {8, "Q8_0"},     {9, "Q8_1"},     {10, "Q2_K"},    {11, "Q3_K"},
    {12, "Q4_K"},   {13, "Q5_K"},    {14, "Q6_K"},    {15, "Q8_K"},    {16, "IQ2_XXS"},
    {17, "IQ2_XS"}, {18, "IQ3_XXS"}, {19, "IQ1_S"},   {20, "IQ4_NL"},  {21, "IQ3_S"},
    {22, "IQ2_S"},  {23, "IQ4_XS"},  {24, "I8"},      {25, "I16"},     {26, "I32"},
    {27, "I64"},    {28, "F64"},     {29, "IQ1_M"},   {30, "BF16"},    {34, "TQ1_0"},
    {35, "TQ2_0"},  {39, "MXFP4"},
};

// ggml type id of each DType, indexed by DType.
constexpr std::array<uint32_t, static_cast<size_t>(DType::kCount)> kGgmlOfDType = {
    0,   // kF32
    1,   // kF16
    30,  // kBF16
    8,   // kQ8_0
    2,   // kQ4_0
    3,   // kQ4_1
    12,  // kQ4_K
    13,  // kQ5_K
    14,  // kQ6_K
    6,   // kQ5_0
    26,  // kI32
    UINT32_MAX,  // kMlxQ4: no ggml type
    UINT32_MAX,  // kMlxQ8: no ggml type
};

}  // namespace

std::string_view Name(GgufType t) { return IsValid(t) ? kTypes[static_cast<size_t>(t)].name : "invalid"; }
size_t ScalarSize(GgufType t) { return IsValid(t) ? kTypes[static_cast<size_t>(t)].size : 0; }
bool IsFloat(GgufType t) { return t == GgufType::kF32 || t == GgufType::kF64; }
bool IsInteger(GgufType t) {
  return ScalarSize(t) > 0 && !IsFloat(t) && t != GgufType::kBool;
}

std::optional<int64_t> GgufValue::AsInt() const {
  if (!IsInteger(type)) return std::nullopt;
  if (type == GgufType::kU64 && scalar > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return std::nullopt;
  }
  return ExtendBits(type, scalar);
}

std::optional<double> GgufValue::AsFloat() const {
  if (type == GgufType::kF32) {
    float f;
    const uint32_t b = static_cast<uint32_t>(scalar);
    std::memcpy(&f, &b, 4);
    return f;
  }
  if (type == GgufType::kF64) {
    double d;
    std::memcpy(&d, &scalar, 8);
    return d;
  }
  return std::nullopt;
}

std::optional<bool> GgufValue::AsBool() const {
  if (type != GgufType::kBool) return std::nullopt;
  return scalar != 0;
}

std::string GgufValue::TypeName() const {
  if (type != GgufType::kArray) return std::string(Name(type));
  return fmt::format("array of {}", Name(elem_type));
}

std::string GgufValue::ToString() const {
  if (type == GgufType::kString) return str;
  if (type == GgufType::kArray) return fmt::format("[{} x {}]", count, Name(elem_type));
  return ScalarToString(type, scalar);
}

uint64_t GgufValue::ElementBits(uint64_t i) const {
  const size_t size = ScalarSize(elem_type);
  FS_CHECK(type == GgufType::kArray && size > 0 && i < count, "element {} of {}", i, TypeName());
  uint64_t bits = 0;
  std::memcpy(&bits, raw.data() + i * size, size);  // little-endian host
  return bits;
}

GgufValue GgufValue::Int(GgufType t, int64_t v) {
  FS_CHECK(IsInteger(t), "type {}", Name(t));
  GgufValue out;
  out.type = t;
  const size_t size = ScalarSize(t);
  out.scalar = size == 8 ? static_cast<uint64_t>(v) : static_cast<uint64_t>(v) & ((uint64_t{1} << (8 * size)) - 1);
  return out;
}

GgufValue GgufValue::U64(uint64_t v) {
  GgufValue out;
  out.type = GgufType::kU64;
  out.scalar = v;
  return out;
}

GgufValue GgufValue::Float(GgufType t, double v) {
  FS_CHECK(IsFloat(t), "type {}", Name(t));
  GgufValue out;
  out.type = t;
  if (t == GgufType::kF32) {
    const float f = static_cast<float>(v);
    uint32_t b;
    std::memcpy(&b, &f, 4);
    out.scalar = b;
  } else {
    std::memcpy(&out.scalar, &v, 8);
  }
  return out;
}

GgufValue GgufValue::Bool(bool v) {
  GgufValue out;
  out.type = GgufType::kBool;
  out.scalar = v ? 1 : 0;
  return out;
}

GgufValue GgufValue::String(std::string v) {
  GgufValue out;
  out.type = GgufType::kString;
  out.str = std::move(v);
  return out;
}

GgufValue GgufValue::StringArray(std::vector<std::string> v) {
  GgufValue out;
  out.type = GgufType::kArray;
  out.elem_type = GgufType::kString;
  out.count = v.size();
  out.strings = std::move(v);
  return out;
}

GgufValue GgufValue::ScalarArray(GgufType t, std::vector<std::byte> raw) {
  FS_CHECK(ScalarSize(t) > 0 && raw.size() % ScalarSize(t) == 0, "{} bytes of {}", raw.size(), Name(t));
  GgufValue out;
  out.type = GgufType::kArray;
  out.elem_type = t;
  out.count = raw.size() / ScalarSize(t);
  out.raw = std::move(raw);
  return out;
}

GgufValue GgufValue::F32Array(const std::vector<float>& v) {
  std::vector<std::byte> raw(v.size() * 4);
  if (!v.empty()) std::memcpy(raw.data(), v.data(), raw.size());
  return ScalarArray(GgufType::kF32, std::move(raw));
}

GgufValue GgufValue::I32Array(const std::vector<int32_t>& v) {
  std::vector<std::byte> raw(v.size() * 4);
  if (!v.empty()) std::memcpy(raw.data(), v.data(), raw.size());
  return ScalarArray(GgufType::kI32, std::move(raw));
}

GgufValue GgufValue::ArrayOfArrays(std::vector<GgufValue> v) {
  for (const GgufValue& e : v) FS_CHECK(e.type == GgufType::kArray, "element type {}", e.TypeName());
  GgufValue out;
  out.type = GgufType::kArray;
  out.elem_type = GgufType::kArray;
  out.count = v.size();
  out.arrays = std::move(v);
  return out;
}

const GgufValue* GgufFile::Find(std::string_view key) const {
  auto it = kv.find(key);
  return it == kv.end() ? nullptr : &it->second;
}

std::optional<DType> DTypeFromGgmlType(uint32_t ggml_type) {
  for (size_t i = 0; i < kGgmlOfDType.size(); ++i) {
    if (kGgmlOfDType[i] == ggml_type) return static_cast<DType>(i);
  }
  return std::nullopt;
}

uint32_t GgmlTypeFromDType(DType dtype) {
  FS_CHECK(IsValid(dtype), "dtype {}", static_cast<int>(dtype));
  return kGgmlOfDType[static_cast<size_t>(dtype)];
}

std::string_view GgmlTypeName(uint32_t ggml_type) {
  for (const GgmlRow& row : kGgmlNames) {
    if (row.id == ggml_type) return row.name;
  }
  return "unknown";
}

}  // namespace flashstream
