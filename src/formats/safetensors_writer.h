// SafetensorsWriter: writes one .safetensors file. Tensors are declared first
// (name, dtype, shape, in data order); Write() then streams each tensor's bytes
// from a callback, so a large file never sits in memory. The header is padded
// with spaces to a multiple of 8 bytes. Thread-compatible.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/dtype.h"           // DType
#include "core/status.h"          // Status
#include "formats/safetensors.h"  // StDType
#include "io/file.h"              // FileWriter

namespace flashstream {

class SafetensorsWriter {
 public:
  struct Entry {
    std::string name;
    StDType dtype;
    std::vector<int64_t> shape;  // outermost first
    uint64_t bytes;
  };
  // Called once per tensor in declaration order; must append exactly
  // entry.bytes to `out`.
  using Source = std::function<Status(size_t index, const Entry& entry, FileWriter& out)>;

  void Add(std::string name, StDType dtype, std::vector<int64_t> shape);
  void SetMetadata(const std::string& key, const std::string& value) { metadata_[key] = value; }
  const std::vector<Entry>& entries() const { return entries_; }
  uint64_t data_bytes() const { return data_bytes_; }

  // Writes the file (created or truncated); on error the partial file is
  // removed.
  Status Write(const std::string& path, const Source& source, bool direct = false) const;

 private:
  std::vector<Entry> entries_;
  std::map<std::string, std::string> metadata_;
  uint64_t data_bytes_ = 0;
};

// Maps F32/F16/BF16 onto the safetensors spelling; nullopt for other dtypes.
std::optional<StDType> StDTypeOf(DType dtype);

}  // namespace flashstream
