// ParseGguf / ReadGgufFile: the bounds-checked GGUF header parser.
#include <algorithm>
#include <cstring>  // std::memcpy
#include <numeric>  // std::iota
#include <set>      // duplicate tensor names

#include "formats/gguf.h"  // ParseGguf, ReadGgufFile
#include "io/file.h"       // File for ReadGgufFile

namespace flashstream {
namespace {

constexpr uint64_t kMaxKeyBytes = 65535;
constexpr uint64_t kMaxTensorNameBytes = 255;
constexpr uint64_t kMinKvBytes = 8 + 4 + 1;              // empty key is rejected; smallest value
constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 8 + 4 + 8;  // name len, n_dims, 1 dim, type, offset
constexpr int64_t kMaxTensorElements = int64_t{1} << 60;
constexpr uint64_t kInitialPrefix = uint64_t{16} << 20;
constexpr uint64_t kMaxHeaderBytes = uint64_t{1} << 30;

// Reads little-endian fields from a prefix of a file. Every read is checked against the bytes
// at hand and the file size; errors carry no context (callers add the path and key/tensor).
class Reader {
 public:
  Reader(std::span<const std::byte> bytes, uint64_t file_size) : bytes_(bytes), file_size_(file_size) {}

  uint64_t pos() const { return pos_; }
  uint64_t left_in_file() const { return file_size_ - pos_; }
  bool truncated() const { return truncated_; }

  // Checks that n more bytes can be read.
  Status Need(uint64_t n) {
    if (n > file_size_ - pos_) {
      return Errorf("needs {} bytes at offset {} but the file ends at {}", n, pos_, file_size_);
    }
    if (n > bytes_.size() - pos_) {
      truncated_ = true;
      return Errorf("header truncated: needs bytes up to offset {} but only the first {} were read",
                    pos_ + n, bytes_.size());
    }
    return Status::Ok();
  }

  template <typename T>
  Status Read(T* out) {
    FS_RETURN_IF_ERROR(Need(sizeof(T)));
    std::memcpy(out, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return Status::Ok();
  }

  Status ReadBytes(void* dst, uint64_t n) {
    FS_RETURN_IF_ERROR(Need(n));
    if (n) std::memcpy(dst, bytes_.data() + pos_, n);
    pos_ += n;
    return Status::Ok();
  }

  Status ReadString(std::string* out, uint64_t max_len) {
    uint64_t len = 0;
    FS_RETURN_IF_ERROR(Read(&len));
    if (len > left_in_file()) {
      return Errorf("string length {} at offset {} exceeds the {} bytes left in the file", len,
                    pos_ - 8, left_in_file());
    }
    if (len > max_len) return Errorf("string length {} exceeds the limit {}", len, max_len);
    FS_RETURN_IF_ERROR(Need(len));
    out->assign(reinterpret_cast<const char*>(bytes_.data() + pos_), len);
    pos_ += len;
    return Status::Ok();
  }

 private:
  std::span<const std::byte> bytes_;
  uint64_t file_size_;
  uint64_t pos_ = 0;
  bool truncated_ = false;
};

Status ReadValue(Reader& r, GgufType type, int depth, GgufValue* out);

// Smallest encoding of one value of type t (to bound counts before allocating).
uint64_t MinValueBytes(GgufType t) {
  if (t == GgufType::kString) return 8;
  if (t == GgufType::kArray) return 4 + 8;
  return ScalarSize(t);
}

Status ReadType(Reader& r, GgufType* out) {
  uint32_t id = 0;
  FS_RETURN_IF_ERROR(r.Read(&id));
  if (id >= static_cast<uint32_t>(GgufType::kCount)) {
    return Errorf("unknown value type id {} (valid: 0..{})", id, static_cast<uint32_t>(GgufType::kCount) - 1);
  }
  *out = static_cast<GgufType>(id);
  return Status::Ok();
}

Status ReadArray(Reader& r, int depth, GgufValue* out) {
  if (depth >= kGgufMaxArrayNesting) return Errorf("arrays nested deeper than {}", kGgufMaxArrayNesting);
  FS_RETURN_IF_ERROR(ReadType(r, &out->elem_type));
  FS_RETURN_IF_ERROR(r.Read(&out->count));
  const uint64_t min_bytes = MinValueBytes(out->elem_type);
  if (out->count > r.left_in_file() / min_bytes) {
    return Errorf("array of {} x {} needs at least {} bytes per element but only {} bytes are left in the file",
                  out->count, Name(out->elem_type), min_bytes, r.left_in_file());
  }
  // Fails early (as truncated) when the prefix cannot hold the array, before allocating.
  FS_RETURN_IF_ERROR(r.Need(out->count * min_bytes));
  if (out->elem_type == GgufType::kString) {
    out->strings.resize(out->count);
    for (uint64_t i = 0; i < out->count; ++i) {
      Status s = r.ReadString(&out->strings[i], r.left_in_file());
      if (!s.ok()) return Errorf("element {}: {}", i, s.message());
    }
  } else if (out->elem_type == GgufType::kArray) {
    out->arrays.resize(out->count);
    for (uint64_t i = 0; i < out->count; ++i) {
      out->arrays[i].type = GgufType::kArray;
      Status s = ReadArray(r, depth + 1, &out->arrays[i]);
      if (!s.ok()) return Errorf("element {}: {}", i, s.message());
    }
  } else {
    out->raw.resize(out->count * min_bytes);
    FS_RETURN_IF_ERROR(r.ReadBytes(out->raw.data(), out->raw.size()));
    if (out->elem_type == GgufType::kBool) {
      for (uint64_t i = 0; i < out->count; ++i) {
        if (static_cast<uint8_t>(out->raw[i]) > 1) {
          return Errorf("element {}: bool byte {} is not 0 or 1", i, static_cast<int>(out->raw[i]));
        }
      }
    }
  }
  return Status::Ok();
}

Status ReadValue(Reader& r, GgufType type, int depth, GgufValue* out) {
  out->type = type;
  if (type == GgufType::kString) return r.ReadString(&out->str, r.left_in_file());
  if (type == GgufType::kArray) return ReadArray(r, depth, out);
  out->scalar = 0;
  FS_RETURN_IF_ERROR(r.ReadBytes(&out->scalar, ScalarSize(type)));  // little-endian host
  if (type == GgufType::kBool && out->scalar > 1) return Errorf("bool byte {} is not 0 or 1", out->scalar);
  return Status::Ok();
}

Status ReadAlignment(const GgufFile& file, uint64_t* alignment) {
  const GgufValue* v = file.Find("general.alignment");
  if (v == nullptr) return Status::Ok();
  const std::optional<int64_t> a = v->AsInt();
  if (!a) return Errorf("{}: key 'general.alignment' has type {}, expected u32", file.path, v->TypeName());
  if (*a <= 0 || *a > (int64_t{1} << 30) || (*a & (*a - 1)) != 0) {
    return Errorf("{}: key 'general.alignment' is {}, expected a power of two in [1, 2^30]", file.path, *a);
  }
  *alignment = static_cast<uint64_t>(*a);
  return Status::Ok();
}

// Reads dims, type and offset of tensor `t` (name already read) and derives shape and bytes.
Status ReadTensorLayout(Reader& r, GgufTensorInfo* t) {
  uint32_t n_dims = 0;
  FS_RETURN_IF_ERROR(r.Read(&n_dims));
  if (n_dims < 1 || n_dims > static_cast<uint32_t>(kMaxDims)) {
    return Errorf("has {} dims, expected 1..{}", n_dims, kMaxDims);
  }
  uint64_t ne[kMaxDims] = {};
  int64_t elements = 1;
  for (uint32_t i = 0; i < n_dims; ++i) {
    FS_RETURN_IF_ERROR(r.Read(&ne[i]));
    if (ne[i] == 0 || ne[i] > static_cast<uint64_t>(kMaxTensorElements) ||
        static_cast<int64_t>(ne[i]) > kMaxTensorElements / elements) {
      return Errorf("dim {} (innermost first) is {}, expected 1..2^60 elements in all", i, ne[i]);
    }
    elements *= static_cast<int64_t>(ne[i]);
  }
  FS_RETURN_IF_ERROR(r.Read(&t->ggml_type));
  const std::optional<DType> dtype = DTypeFromGgmlType(t->ggml_type);
  if (!dtype) {
    return Errorf("has ggml type id {} ({}), which is not supported (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K, Q5_K, Q6_K, I32)",
                  t->ggml_type, GgmlTypeName(t->ggml_type));
  }
  t->dtype = *dtype;
  t->shape.rank = static_cast<int>(n_dims);
  for (uint32_t i = 0; i < n_dims; ++i) t->shape.dims[n_dims - 1 - i] = static_cast<int64_t>(ne[i]);
  const int block = Info(t->dtype).block_elems;
  if (ne[0] % static_cast<uint64_t>(block) != 0) {
    return Errorf("row length {} is not a multiple of the {} block size {}", ne[0], Name(t->dtype), block);
  }
  t->bytes = RowBytes(t->dtype, static_cast<int64_t>(ne[0])) * static_cast<uint64_t>(elements / static_cast<int64_t>(ne[0]));
  return r.Read(&t->offset);
}

// Checks alignment, bounds and overlaps of every tensor's data extent.
Status CheckExtents(const GgufFile& file) {
  const uint64_t avail = file.data_start <= file.file_size ? file.file_size - file.data_start : 0;
  for (const GgufTensorInfo& t : file.tensors) {
    if (t.offset % file.alignment != 0) {
      return Errorf("{}: tensor '{}': offset {} is not a multiple of the alignment {}", file.path,
                    t.name, t.offset, file.alignment);
    }
    if (t.offset > avail || t.bytes > avail - t.offset) {
      return Errorf("{}: tensor '{}': {} bytes at offset {} of the data section (which starts at {}) run past the end of the file ({} bytes)",
                    file.path, t.name, t.bytes, t.offset, file.data_start, file.file_size);
    }
  }
  std::vector<size_t> order(file.tensors.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return file.tensors[a].offset < file.tensors[b].offset;
  });
  for (size_t i = 1; i < order.size(); ++i) {
    const GgufTensorInfo& prev = file.tensors[order[i - 1]];
    const GgufTensorInfo& cur = file.tensors[order[i]];
    if (prev.offset + prev.bytes > cur.offset) {
      return Errorf("{}: tensor '{}': data at offset {} overlaps tensor '{}' at [{}, {})", file.path,
                    cur.name, cur.offset, prev.name, prev.offset, prev.offset + prev.bytes);
    }
  }
  return Status::Ok();
}

Status ParseHeader(Reader& r, const std::string& path, GgufFile* file, uint64_t* tensor_count,
                   uint64_t* kv_count) {
  if (file->file_size < 4 + 4 + 8 + 8) {
    return Errorf("{}: file is {} bytes, too small for a GGUF header (24 bytes)", path, file->file_size);
  }
  uint32_t magic = 0;
  Status s = r.Read(&magic);
  if (!s.ok()) return Errorf("{}: magic: {}", path, s.message());
  if (magic != kGgufMagic) {
    std::string shown;
    for (int i = 0; i < 4; ++i) {
      const char c = static_cast<char>((magic >> (8 * i)) & 0xff);
      shown += (c >= 0x20 && c < 0x7f) ? c : '?';
    }
    return Errorf("{}: not a GGUF file: magic '{}' (0x{:08x}), expected 'GGUF'", path, shown, magic);
  }
  s = r.Read(&file->version);
  if (s.ok()) s = r.Read(tensor_count);
  if (s.ok()) s = r.Read(kv_count);
  if (!s.ok()) return Errorf("{}: header: {}", path, s.message());
  if (file->version != kGgufVersion) {
    return Errorf("{}: GGUF version {} is not supported, expected {}", path, file->version, kGgufVersion);
  }
  if (*kv_count > r.left_in_file() / kMinKvBytes) {
    return Errorf("{}: metadata count {} needs at least {} bytes each but only {} bytes are left in the file",
                  path, *kv_count, kMinKvBytes, r.left_in_file());
  }
  if (*tensor_count > r.left_in_file() / kMinTensorInfoBytes) {
    return Errorf("{}: tensor count {} needs at least {} bytes each but only {} bytes are left in the file",
                  path, *tensor_count, kMinTensorInfoBytes, r.left_in_file());
  }
  return Status::Ok();
}

Status ParseKvs(Reader& r, uint64_t kv_count, GgufFile* file) {
  for (uint64_t i = 0; i < kv_count; ++i) {
    std::string key;
    Status s = r.ReadString(&key, kMaxKeyBytes);
    if (!s.ok()) return Errorf("{}: key of metadata entry {}: {}", file->path, i, s.message());
    if (key.empty()) return Errorf("{}: metadata entry {} has an empty key", file->path, i);
    GgufType type{};
    GgufValue value;
    s = ReadType(r, &type);
    if (s.ok()) s = ReadValue(r, type, 0, &value);
    if (!s.ok()) return Errorf("{}: key '{}': {}", file->path, key, s.message());
    if (!file->kv.emplace(key, std::move(value)).second) {
      return Errorf("{}: key '{}' appears twice", file->path, key);
    }
  }
  return Status::Ok();
}

Status ParseTensorInfos(Reader& r, uint64_t tensor_count, GgufFile* file) {
  std::set<std::string_view> names;
  for (uint64_t i = 0; i < tensor_count; ++i) {
    GgufTensorInfo t;
    Status s = r.ReadString(&t.name, kMaxTensorNameBytes);
    if (!s.ok()) return Errorf("{}: name of tensor {}: {}", file->path, i, s.message());
    if (t.name.empty()) return Errorf("{}: tensor {} has an empty name", file->path, i);
    s = ReadTensorLayout(r, &t);
    if (!s.ok()) return Errorf("{}: tensor '{}': {}", file->path, t.name, s.message());
    file->tensors.push_back(std::move(t));
  }
  for (const GgufTensorInfo& t : file->tensors) {
    if (!names.insert(t.name).second) return Errorf("{}: tensor '{}' appears twice", file->path, t.name);
  }
  return Status::Ok();
}

}  // namespace

Result<GgufFile> ParseGguf(std::span<const std::byte> bytes, uint64_t file_size, const std::string& path,
                           bool* header_truncated) {
  if (header_truncated) *header_truncated = false;
  if (bytes.size() > file_size) {
    return Errorf("{}: {} bytes given for a file of {} bytes", path, bytes.size(), file_size);
  }
  GgufFile file;
  file.path = path;
  file.file_size = file_size;
  Reader r(bytes, file_size);
  uint64_t tensor_count = 0;
  uint64_t kv_count = 0;
  Status s = ParseHeader(r, path, &file, &tensor_count, &kv_count);
  if (s.ok()) s = ParseKvs(r, kv_count, &file);
  if (s.ok()) s = ReadAlignment(file, &file.alignment);
  if (s.ok()) s = ParseTensorInfos(r, tensor_count, &file);
  if (!s.ok()) {
    if (header_truncated) *header_truncated = r.truncated();
    return s;
  }
  file.header_bytes = r.pos();
  file.data_start = (file.header_bytes + file.alignment - 1) / file.alignment * file.alignment;
  FS_RETURN_IF_ERROR(CheckExtents(file));
  return file;
}

Result<GgufFile> ReadGgufFile(const std::string& path) {
  FS_ASSIGN_OR_RETURN(File f, File::Open(path));
  const uint64_t size = f.size();
  std::vector<std::byte> prefix;
  uint64_t want = std::min(kInitialPrefix, size);
  while (true) {
    const uint64_t have = prefix.size();
    prefix.resize(want);
    FS_RETURN_IF_ERROR(f.ReadAt(have, prefix.data() + have, want - have));
    // The header is read once; keep it out of the page cache so it does not count against a
    // streaming run's memory budget.
    f.DropCache(0, want);
    bool truncated = false;
    Result<GgufFile> parsed = ParseGguf(prefix, size, path, &truncated);
    if (parsed.ok() || !truncated || want == size) return parsed;
    if (want >= kMaxHeaderBytes) {
      return Errorf("{}: GGUF header is larger than {} bytes; refusing to read it", path, kMaxHeaderBytes);
    }
    want = std::min({want * 2, size, kMaxHeaderBytes});
  }
}

}  // namespace flashstream
