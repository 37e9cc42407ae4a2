#include "formats/gguf_writer.h"

#include <unistd.h>  // unlink

#include "core/check.h"  // FS_CHECK on inconsistent GgufValue arrays

namespace flashstream {
namespace {

uint64_t AlignUp(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

template <typename T>
Status Put(FileWriter& out, T v) {
  return out.Write(&v, sizeof(T));  // little-endian host
}

Status PutString(FileWriter& out, const std::string& s) {
  FS_RETURN_IF_ERROR(Put<uint64_t>(out, s.size()));
  return out.Write(s.data(), s.size());
}

Status PutValue(FileWriter& out, const GgufValue& v);

Status PutArray(FileWriter& out, const GgufValue& v) {
  FS_RETURN_IF_ERROR(Put<uint32_t>(out, static_cast<uint32_t>(v.elem_type)));
  FS_RETURN_IF_ERROR(Put<uint64_t>(out, v.count));
  if (v.elem_type == GgufType::kString) {
    FS_CHECK(v.strings.size() == v.count, "{} strings, count {}", v.strings.size(), v.count);
    for (const std::string& s : v.strings) FS_RETURN_IF_ERROR(PutString(out, s));
  } else if (v.elem_type == GgufType::kArray) {
    FS_CHECK(v.arrays.size() == v.count, "{} arrays, count {}", v.arrays.size(), v.count);
    for (const GgufValue& a : v.arrays) FS_RETURN_IF_ERROR(PutArray(out, a));
  } else {
    FS_CHECK(v.raw.size() == v.count * ScalarSize(v.elem_type), "{} bytes, count {}", v.raw.size(), v.count);
    FS_RETURN_IF_ERROR(out.Write(v.raw.data(), v.raw.size()));
  }
  return Status::Ok();
}

Status PutValue(FileWriter& out, const GgufValue& v) {
  if (v.type == GgufType::kString) return PutString(out, v.str);
  if (v.type == GgufType::kArray) return PutArray(out, v);
  return out.Write(&v.scalar, ScalarSize(v.type));  // low bytes of the little-endian pattern
}

}  // namespace

Status GgufTensorSink::Write(const void* src, size_t n) {
  if (n > remaining_) {
    return Errorf("{}: tensor '{}': source wrote {} bytes more than its {} bytes", file_->path(), tensor_->name,
                  n - remaining_, tensor_->bytes);
  }
  remaining_ -= n;
  return file_->Write(src, n);
}

GgufWriter::GgufWriter(uint64_t alignment) : alignment_(alignment) {
  FS_CHECK(alignment > 0 && (alignment & (alignment - 1)) == 0, "alignment {}", alignment);
  if (alignment != kGgufDefaultAlignment) Set("general.alignment", GgufValue::U32(static_cast<uint32_t>(alignment)));
}

void GgufWriter::Set(const std::string& key, GgufValue value) {
  for (auto& [k, v] : kv_) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  kv_.emplace_back(key, std::move(value));
}

Status GgufWriter::AddTensor(const std::string& name, DType dtype, const Shape& shape) {
  if (name.empty()) return Errorf("GGUF writer: empty tensor name");
  for (const GgufTensorInfo& t : tensors_) {
    if (t.name == name) return Errorf("GGUF writer: tensor '{}' added twice", name);
  }
  if (shape.rank < 1 || shape.rank > kMaxDims) return Errorf("GGUF writer: tensor '{}' has rank {}, expected 1..{}", name, shape.rank, kMaxDims);
  for (int i = 0; i < shape.rank; ++i) {
    if (shape[i] <= 0) return Errorf("GGUF writer: tensor '{}' has shape {}, expected positive dims", name, shape.ToString());
  }
  const int64_t cols = shape[shape.rank - 1];
  if (cols % Info(dtype).block_elems != 0) {
    return Errorf("GGUF writer: tensor '{}': row length {} is not a multiple of the {} block size {}", name, cols,
                  Name(dtype), Info(dtype).block_elems);
  }
  if (IsMlx(dtype)) {
    return Errorf("GGUF writer: tensor '{}': dtype {} has no GGUF type (dequantize or requantize it first)", name,
                  Name(dtype));
  }
  GgufTensorInfo t;
  t.name = name;
  t.dtype = dtype;
  t.ggml_type = GgmlTypeFromDType(dtype);
  t.shape = shape;
  t.offset = AlignUp(data_bytes_, alignment_);
  t.bytes = RowBytes(dtype, cols) * static_cast<uint64_t>(shape.elements() / cols);
  data_bytes_ = t.offset + t.bytes;
  tensors_.push_back(std::move(t));
  return Status::Ok();
}

Status GgufWriter::WriteAll(FileWriter& out, const TensorSource& source, bool sync) const {
  FS_RETURN_IF_ERROR(Put<uint32_t>(out, kGgufMagic));
  FS_RETURN_IF_ERROR(Put<uint32_t>(out, kGgufVersion));
  FS_RETURN_IF_ERROR(Put<uint64_t>(out, tensors_.size()));
  FS_RETURN_IF_ERROR(Put<uint64_t>(out, kv_.size()));
  for (const auto& [key, value] : kv_) {
    FS_RETURN_IF_ERROR(PutString(out, key));
    FS_RETURN_IF_ERROR(Put<uint32_t>(out, static_cast<uint32_t>(value.type)));
    FS_RETURN_IF_ERROR(PutValue(out, value));
  }
  for (const GgufTensorInfo& t : tensors_) {
    FS_RETURN_IF_ERROR(PutString(out, t.name));
    FS_RETURN_IF_ERROR(Put<uint32_t>(out, static_cast<uint32_t>(t.shape.rank)));
    for (int i = t.shape.rank - 1; i >= 0; --i) FS_RETURN_IF_ERROR(Put<uint64_t>(out, static_cast<uint64_t>(t.shape[i])));
    FS_RETURN_IF_ERROR(Put<uint32_t>(out, t.ggml_type));
    FS_RETURN_IF_ERROR(Put<uint64_t>(out, t.offset));
  }
  const uint64_t data_start = AlignUp(out.position(), alignment_);
  FS_RETURN_IF_ERROR(out.WriteZeros(data_start - out.position()));
  for (const GgufTensorInfo& t : tensors_) {
    FS_RETURN_IF_ERROR(out.WriteZeros(data_start + t.offset - out.position()));
    GgufTensorSink sink(&out, &t);
    FS_RETURN_IF_ERROR(source(t, sink));
    if (sink.remaining() != 0) {
      return Errorf("{}: tensor '{}': source wrote {} of its {} bytes", out.path(), t.name, t.bytes - sink.remaining(),
                    t.bytes);
    }
  }
  if (sync) FS_RETURN_IF_ERROR(out.Sync());
  return out.Close();
}

Status GgufWriter::Write(const std::string& path, const TensorSource& source, const GgufWriteOptions& options) const {
  FS_ASSIGN_OR_RETURN(FileWriter out, FileWriter::Create(path, {.direct = options.direct}));
  Status s = WriteAll(out, source, options.sync);
  if (!s.ok()) ::unlink(path.c_str());
  return s;
}

}  // namespace flashstream
