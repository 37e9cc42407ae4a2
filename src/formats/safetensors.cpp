#include "formats/safetensors.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <nlohmann/json.hpp>  // header JSON

#include "io/file.h"  // File::ReadAt for the bounded header read

namespace flashstream {
namespace {

struct StRow {
  std::string_view name;
  int size;
};
constexpr std::array<StRow, static_cast<size_t>(StDType::kCount)> kStTypes = {{
    {"BOOL", 1},
    {"U8", 1},
    {"I8", 1},
    {"U16", 2},
    {"I16", 2},
    {"F16", 2},
    {"BF16", 2},
    {"U32", 4},
    {"I32", 4},
    {"F32", 4},
    {"U64", 8},
    {"I64", 8},
    {"F64", 8},
    {"F8_E4M3", 1},
    {"F8_E5M2", 1},
}};

// A non-negative integer that fits int64 / uint64, or false.
bool AsU64(const nlohmann::json& v, uint64_t* out) {
  if (v.is_number_unsigned()) {
    *out = v.get<uint64_t>();
    return true;
  }
  if (v.is_number_integer() && v.get<int64_t>() >= 0) {
    *out = static_cast<uint64_t>(v.get<int64_t>());
    return true;
  }
  return false;
}

Result<SafetensorsTensor> ParseEntry(const std::string& path, const std::string& name, const nlohmann::json& e,
                                     uint64_t data_start, uint64_t data_bytes) {
  if (!e.is_object())
    return Errorf("{}: tensor '{}': header entry is {}, expected an object", path, name, e.type_name());
  SafetensorsTensor t;
  t.name = name;
  auto dt = e.find("dtype");
  if (dt == e.end() || !dt->is_string()) return Errorf("{}: tensor '{}': missing string 'dtype'", path, name);
  const std::string dts = dt->get<std::string>();
  auto row = std::find_if(kStTypes.begin(), kStTypes.end(), [&](const StRow& r) { return r.name == dts; });
  if (row == kStTypes.end()) return Errorf("{}: tensor '{}': unknown dtype '{}'", path, name, dts);
  t.dtype = static_cast<StDType>(row - kStTypes.begin());
  auto sh = e.find("shape");
  if (sh == e.end() || !sh->is_array()) return Errorf("{}: tensor '{}': missing array 'shape'", path, name);
  if (sh->size() > 8) return Errorf("{}: tensor '{}': shape has {} dims, at most 8 supported", path, name, sh->size());
  uint64_t elements = 1;
  for (const nlohmann::json& d : *sh) {
    uint64_t v = 0;
    if (!AsU64(d, &v) || v > (1ull << 40)) {
      return Errorf("{}: tensor '{}': shape entry {} is not a dimension in [0, 2^40]", path, name, d.dump());
    }
    t.shape.push_back(static_cast<int64_t>(v));
    elements = v == 0 || elements == 0 ? 0 : (elements > (1ull << 62) / v ? (1ull << 62) : elements * v);
  }
  auto off = e.find("data_offsets");
  uint64_t begin = 0, end = 0;
  if (off == e.end() || !off->is_array() || off->size() != 2 || !AsU64((*off)[0], &begin) || !AsU64((*off)[1], &end)) {
    return Errorf(
        "{}: tensor '{}': 'data_offsets' must be [begin, end] of "
        "non-negative integers",
        path, name);
  }
  if (begin > end || end > data_bytes) {
    return Errorf(
        "{}: tensor '{}': data_offsets [{}, {}] outside the data "
        "section of {} bytes",
        path, name, begin, end, data_bytes);
  }
  const uint64_t want = elements * static_cast<uint64_t>(row->size);
  if (elements >= (1ull << 62) / 8 || end - begin != want) {
    return Errorf(
        "{}: tensor '{}': data_offsets [{}, {}] hold {} bytes, shape "
        "{} of {} needs {}",
        path, name, begin, end, end - begin, sh->dump(), dts, want);
  }
  t.offset = data_start + begin;
  t.bytes = end - begin;
  return t;
}

}  // namespace

std::string_view StDTypeName(StDType t) { return kStTypes[static_cast<size_t>(t)].name; }
int StDTypeSize(StDType t) { return kStTypes[static_cast<size_t>(t)].size; }

Result<SafetensorsFile> ParseSafetensorsHeader(std::string_view json, uint64_t data_start, uint64_t data_bytes,
                                               const std::string& path) {
  nlohmann::json root = nlohmann::json::parse(json.begin(), json.end(), nullptr,
                                              /*allow_exceptions=*/false);
  if (root.is_discarded()) return Errorf("{}: the safetensors header is not valid JSON", path);
  if (!root.is_object())
    return Errorf("{}: the safetensors header is {}, expected a JSON object", path, root.type_name());
  SafetensorsFile f;
  f.path = path;
  f.data_start = data_start;
  for (const auto& [key, value] : root.items()) {
    if (key == "__metadata__") {
      if (!value.is_object()) return Errorf("{}: '__metadata__' is {}, expected an object", path, value.type_name());
      for (const auto& [mk, mv] : value.items()) {
        if (!mv.is_string()) return Errorf("{}: '__metadata__' value of '{}' is not a string", path, mk);
        f.metadata.emplace(mk, mv.get<std::string>());
      }
      continue;
    }
    FS_ASSIGN_OR_RETURN(SafetensorsTensor t, ParseEntry(path, key, value, data_start, data_bytes));
    f.tensors.push_back(std::move(t));
  }
  std::sort(f.tensors.begin(), f.tensors.end(), [](const SafetensorsTensor& a, const SafetensorsTensor& b) {
    return a.offset != b.offset ? a.offset < b.offset : a.bytes < b.bytes;
  });
  for (size_t i = 1; i < f.tensors.size(); ++i) {
    const SafetensorsTensor& a = f.tensors[i - 1];
    const SafetensorsTensor& b = f.tensors[i];
    if (b.offset < a.offset + a.bytes) {
      return Errorf(
          "{}: tensors '{}' and '{}' overlap (bytes [{}, {}) and "
          "[{}, {}) of the data)",
          path, a.name, b.name, a.offset - data_start, a.offset - data_start + a.bytes, b.offset - data_start,
          b.offset - data_start + b.bytes);
    }
  }
  return f;
}

Result<SafetensorsFile> ParseSafetensorsImage(std::string_view image, const std::string& path) {
  if (image.size() < 8) return Errorf("{}: {} bytes, too short for the 8-byte header length", path, image.size());
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = n << 8 | static_cast<uint8_t>(image[static_cast<size_t>(i)]);
  if (n > kMaxSafetensorsHeader)
    return Errorf("{}: header length {} exceeds the {} byte limit", path, n, kMaxSafetensorsHeader);
  if (n > image.size() - 8)
    return Errorf("{}: header length {} runs past the end of the {}-byte file", path, n, image.size());
  return ParseSafetensorsHeader(image.substr(8, n), 8 + n, image.size() - 8 - n, path);
}

Result<SafetensorsFile> ReadSafetensorsHeader(const std::string& path) {
  FS_ASSIGN_OR_RETURN(File file, File::Open(path));
  if (file.size() < 8)
    return Errorf("{}: {} bytes, too short for the 8-byte header length (truncated?)", path, file.size());
  uint8_t len[8];
  FS_RETURN_IF_ERROR(file.ReadAt(0, len, 8));
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = n << 8 | len[i];
  if (n > kMaxSafetensorsHeader)
    return Errorf("{}: header length {} exceeds the {} byte limit", path, n, kMaxSafetensorsHeader);
  if (n > file.size() - 8) {
    return Errorf(
        "{}: header length {} runs past the end of the {}-byte file "
        "(truncated?)",
        path, n, file.size());
  }
  std::string json(n, '\0');
  FS_RETURN_IF_ERROR(file.ReadAt(8, json.data(), n));
  return ParseSafetensorsHeader(json, 8 + n, file.size() - 8 - n, path);
}

}  // namespace flashstream
