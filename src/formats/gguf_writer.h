// GgufWriter: writes GGUF v3 files. Metadata and tensor descriptions are collected first;
// Write() then streams each tensor's bytes from a callback, so a multi-GB file never sits in
// memory. Used by the synthetic-model generator and by tests.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"    // Status
#include "formats/gguf.h"  // GgufValue, GgufTensorInfo, format constants
#include "io/file.h"       // FileWriter

namespace flashstream {

// The byte stream of one tensor inside GgufWriter::Write(). Borrows the writer's file; valid
// only during the callback it is passed to.
class GgufTensorSink {
 public:
  // Appends bytes of the current tensor; writing more than the tensor's size is an error.
  Status Write(const void* src, size_t n);
  uint64_t remaining() const { return remaining_; }

 private:
  friend class GgufWriter;
  GgufTensorSink(FileWriter* file, const GgufTensorInfo* tensor) : file_(file), tensor_(tensor), remaining_(tensor->bytes) {}
  FileWriter* file_;
  const GgufTensorInfo* tensor_;
  uint64_t remaining_;
};

struct GgufWriteOptions {
  bool direct = false;  // write around the page cache (FileWriterOptions::direct)
  bool sync = false;    // wait until the data is on the device before returning
};

// Collects metadata and tensor descriptions, then writes the file. Thread-compatible.
class GgufWriter {
 public:
  // Called once per tensor in declaration order; must write exactly tensor.bytes to the sink.
  using TensorSource = std::function<Status(const GgufTensorInfo& tensor, GgufTensorSink& sink)>;

  // alignment: power of two; other than 32 it is recorded as `general.alignment`.
  explicit GgufWriter(uint64_t alignment = kGgufDefaultAlignment);

  // Adds a metadata value, replacing one with the same key (order of first insertion is kept).
  // Setting "general.alignment" here changes only the key, not the layout (see constructor).
  void Set(const std::string& key, GgufValue value);
  // Declares a tensor (shape outermost first); its data offset is assigned here, aligned.
  Status AddTensor(const std::string& name, DType dtype, const Shape& shape);

  const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return kv_; }
  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  uint64_t data_bytes() const { return data_bytes_; }  // size of the data section

  // Writes the file at `path` (created or truncated). On error the partial file is removed.
  Status Write(const std::string& path, const TensorSource& source, const GgufWriteOptions& options = {}) const;

 private:
  Status WriteAll(FileWriter& out, const TensorSource& source, bool sync) const;

  uint64_t alignment_;
  std::vector<std::pair<std::string, GgufValue>> kv_;
  std::vector<GgufTensorInfo> tensors_;
  uint64_t data_bytes_ = 0;
};

}  // namespace flashstream
