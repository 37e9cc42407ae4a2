// GGUF v3 container: metadata key/values, tensor descriptions and the data section.
// This layer knows the file format only; gguf_model.h turns a GgufFile into a ModelIndex.
//
// File layout (all little-endian): "GGUF" u32 version, u64 tensor_count, u64 kv_count,
// kv_count x {string key, u32 value type, value}, tensor_count x {string name, u32 n_dims,
// u64 ne[n_dims] (innermost first), u32 ggml type, u64 offset relative to the data section},
// zero padding to `general.alignment` (default 32), data section. A string is u64 length +
// bytes; an array is u32 element type + u64 count + elements.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/dtype.h"   // DType of tensors
#include "core/status.h"  // Status, Result
#include "core/tensor.h"  // Shape

namespace flashstream {

inline constexpr uint32_t kGgufMagic = 0x46554747;  // "GGUF" read as a little-endian u32
inline constexpr uint32_t kGgufVersion = 3;
inline constexpr uint64_t kGgufDefaultAlignment = 32;
inline constexpr int kGgufMaxArrayNesting = 4;  // arrays of arrays deeper than this are rejected

// Metadata value types, numbered as in the file.
enum class GgufType : uint32_t {
  kU8 = 0, kI8 = 1, kU16 = 2, kI16 = 3, kU32 = 4, kI32 = 5, kF32 = 6, kBool = 7,
  kString = 8, kArray = 9, kU64 = 10, kI64 = 11, kF64 = 12,
  kCount,  // sentinel
};

constexpr bool IsValid(GgufType t) { return static_cast<uint32_t>(t) < static_cast<uint32_t>(GgufType::kCount); }
std::string_view Name(GgufType t);  // "u32", "string", "array", ...
// Bytes of one scalar (integers, floats, bool); 0 for string and array.
size_t ScalarSize(GgufType t);
bool IsInteger(GgufType t);
bool IsFloat(GgufType t);

// One metadata value. Scalars keep the stored bit pattern (zero-extended) so they round-trip
// exactly; arrays keep their elements typed by `elem_type`. Plain value type.
struct GgufValue {
  GgufType type = GgufType::kU32;
  uint64_t scalar = 0;                 // integer/bool/float scalars: stored little-endian bits
  std::string str;                     // kString
  GgufType elem_type = GgufType::kU8;  // kArray: element type
  uint64_t count = 0;                  // kArray: number of elements
  std::vector<std::byte> raw;          // kArray of scalars: count * ScalarSize(elem_type) bytes
  std::vector<std::string> strings;    // kArray of strings
  std::vector<GgufValue> arrays;       // kArray of arrays

  // Integer value of an integer scalar (u64 above INT64_MAX gives nullopt), else nullopt.
  std::optional<int64_t> AsInt() const;
  // Value of an f32/f64 scalar, else nullopt.
  std::optional<double> AsFloat() const;
  std::optional<bool> AsBool() const;
  // "[49152 x string]" for arrays, the text for strings, the number for scalars.
  std::string ToString() const;
  // Describes the type: "u32", "string", "array of i32".
  std::string TypeName() const;
  // Element i of a scalar array as a 64-bit pattern; precondition: i < count, scalar elem_type.
  uint64_t ElementBits(uint64_t i) const;

  // Constructors for writers. Preconditions: Int() gets an integer type, Float() f32/f64.
  static GgufValue Int(GgufType t, int64_t v);
  static GgufValue U32(uint32_t v) { return Int(GgufType::kU32, v); }
  static GgufValue I32(int32_t v) { return Int(GgufType::kI32, v); }
  static GgufValue U64(uint64_t v);
  static GgufValue Float(GgufType t, double v);
  static GgufValue F32(float v) { return Float(GgufType::kF32, v); }
  static GgufValue Bool(bool v);
  static GgufValue String(std::string v);
  static GgufValue StringArray(std::vector<std::string> v);
  static GgufValue F32Array(const std::vector<float>& v);
  static GgufValue I32Array(const std::vector<int32_t>& v);
  // An array of scalars of type t from their little-endian bytes (size = count * ScalarSize(t)).
  static GgufValue ScalarArray(GgufType t, std::vector<std::byte> raw);
  static GgufValue ArrayOfArrays(std::vector<GgufValue> v);  // each element must be an array
};

// One tensor description as stored (offset relative to the data section).
struct GgufTensorInfo {
  std::string name;
  uint32_t ggml_type = 0;  // type id as in the file
  DType dtype = DType::kF32;
  Shape shape;             // outermost first (the file's ne[] reversed)
  uint64_t offset = 0;     // relative to GgufFile::data_start
  uint64_t bytes = 0;      // RowBytes(dtype, cols) * rows
};

// A parsed GGUF header. Holds no tensor data. Plain value type; thread-compatible.
struct GgufFile {
  std::string path;
  uint32_t version = 0;
  uint64_t file_size = 0;
  uint64_t alignment = kGgufDefaultAlignment;
  uint64_t header_bytes = 0;  // end of the tensor infos (before padding)
  uint64_t data_start = 0;    // absolute offset of the data section
  std::map<std::string, GgufValue, std::less<>> kv;
  std::vector<GgufTensorInfo> tensors;  // in file order

  const GgufValue* Find(std::string_view key) const;
};

// Maps a ggml type id to our DType; nullopt for ids flashstream does not compute on.
std::optional<DType> DTypeFromGgmlType(uint32_t ggml_type);
// The ggml type id of a DType.
uint32_t GgmlTypeFromDType(DType dtype);
// "Q5_0", "IQ2_XS", ... for any known ggml id, "unknown" otherwise (for error messages).
std::string_view GgmlTypeName(uint32_t ggml_type);

// Parses the header of a GGUF v3 file. `bytes` is a prefix of the file (bytes.size() <=
// file_size); every count, length and offset is checked against both, and nothing is
// allocated for a count the remaining bytes cannot hold. Tensor extents are checked against
// file_size (alignment, bounds, no overlaps). Errors name `path` and the key or tensor.
// When the header runs past the end of `bytes` but not of the file, the error says the header
// is truncated and `*header_truncated` (if given) is set: retry with a longer prefix.
Result<GgufFile> ParseGguf(std::span<const std::byte> bytes, uint64_t file_size,
                           const std::string& path, bool* header_truncated = nullptr);

// Reads and parses the header of the GGUF file at `path`: reads a 16 MiB prefix and doubles it
// (up to the file size) while the header is longer.
Result<GgufFile> ReadGgufFile(const std::string& path);

}  // namespace flashstream
