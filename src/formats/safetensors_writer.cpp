#include "formats/safetensors_writer.h"

#include <cstdio>             // std::remove
#include <nlohmann/json.hpp>  // header JSON

namespace flashstream {

std::optional<StDType> StDTypeOf(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return StDType::kF32;
    case DType::kF16:
      return StDType::kF16;
    case DType::kBF16:
      return StDType::kBF16;
    default:
      return std::nullopt;
  }
}

void SafetensorsWriter::Add(std::string name, StDType dtype, std::vector<int64_t> shape) {
  uint64_t n = static_cast<uint64_t>(StDTypeSize(dtype));
  for (int64_t d : shape) n *= static_cast<uint64_t>(d);
  entries_.push_back({std::move(name), dtype, std::move(shape), n});
  data_bytes_ += n;
}

Status SafetensorsWriter::Write(const std::string& path, const Source& source, bool direct) const {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata_.empty()) header["__metadata__"] = metadata_;
  uint64_t offset = 0;
  for (const Entry& e : entries_) {
    header[e.name] = {
        {"dtype", StDTypeName(e.dtype)}, {"shape", e.shape}, {"data_offsets", {offset, offset + e.bytes}}};
    offset += e.bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  Status status = [&]() -> Status {
    FS_ASSIGN_OR_RETURN(FileWriter out, FileWriter::Create(path, FileWriterOptions{direct}));
    uint8_t len[8];
    for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(static_cast<uint64_t>(text.size()) >> (8 * i));
    FS_RETURN_IF_ERROR(out.Write(len, 8));
    FS_RETURN_IF_ERROR(out.Write(text.data(), text.size()));
    for (size_t i = 0; i < entries_.size(); ++i) {
      const uint64_t before = out.position();
      FS_RETURN_IF_ERROR(source(i, entries_[i], out));
      if (out.position() - before != entries_[i].bytes) {
        return Errorf("{}: tensor '{}': the source wrote {} bytes, expected {}", path, entries_[i].name,
                      out.position() - before, entries_[i].bytes);
      }
    }
    return out.Close();
  }();
  if (!status.ok()) std::remove(path.c_str());
  return status;
}

}  // namespace flashstream
