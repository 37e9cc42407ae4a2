// Safetensors headers: an 8-byte little-endian header length N, N bytes of
// JSON, then the data. The JSON maps tensor names to {"dtype", "shape",
// "data_offsets": [begin, end]} (offsets relative to the data start, 8 + N) and
// may hold "__metadata__" (string -> string). The parser never trusts its
// input: every offset is checked against the data size, against the shape and
// dtype, and against the other tensors (no overlap). Errors name the file and
// the tensor, expected vs actual. Pure functions except ReadSafetensorsHeader
// (bounded read).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"  // Result

namespace flashstream {

// Header JSON longer than this is rejected (real headers are a few MB at most).
constexpr uint64_t kMaxSafetensorsHeader = 100ull << 20;

// Element types named in safetensors headers.
enum class StDType : uint8_t {
  kBool,
  kU8,
  kI8,
  kU16,
  kI16,
  kF16,
  kBF16,
  kU32,
  kI32,
  kF32,
  kU64,
  kI64,
  kF64,
  kF8E4M3,
  kF8E5M2,
  kCount
};

// Header spelling ("BF16") and element size in bytes.
std::string_view StDTypeName(StDType t);
int StDTypeSize(StDType t);

struct SafetensorsTensor {
  std::string name;
  StDType dtype = StDType::kF32;
  std::vector<int64_t> shape;  // outermost first, as stored
  uint64_t offset = 0;         // absolute byte offset in the file (data start + begin)
  uint64_t bytes = 0;          // end - begin == elements * StDTypeSize(dtype)
};

struct SafetensorsFile {
  std::string path;
  uint64_t data_start = 0;                      // 8 + header length
  std::vector<SafetensorsTensor> tensors;       // sorted by offset
  std::map<std::string, std::string> metadata;  // "__metadata__"
};

// Parses and validates the header JSON of a file whose data section holds
// `data_bytes` bytes (file size - data_start). `path` is only used in messages.
Result<SafetensorsFile> ParseSafetensorsHeader(std::string_view json, uint64_t data_start, uint64_t data_bytes,
                                               const std::string& path);

// Parses a whole in-memory file image (8-byte length, header, data) — the fuzz
// entry point.
Result<SafetensorsFile> ParseSafetensorsImage(std::string_view image, const std::string& path);

// Reads the length prefix and header of the file at `path` (never the data) and
// parses them.
Result<SafetensorsFile> ReadSafetensorsHeader(const std::string& path);

}  // namespace flashstream
