#include "engine/self_draft_cache.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "hub/digest.h"
#include "io/file.h"

namespace flashstream {
namespace {

constexpr char kMagic[8] = {'F', 'S', 'D', 'R', 'A', 'F', 'T', '1'};
constexpr size_t kKeyChars = 64;

// File layout: magic[8], key[64] (hex), u64 n_layers, u64 bytes[n_layers], then each copied
// layer's bytes in layer order.
uint64_t HeaderBytes(size_t n_layers) { return sizeof(kMagic) + kKeyChars + 8 + 8 * n_layers; }

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : "";
}

}  // namespace

std::string SelfDraftCacheDir(const std::string& dir) {
  if (dir == "none") return "";
  if (!dir.empty()) return dir;
  if (!Env("FLASHSTREAM_CACHE").empty()) return Env("FLASHSTREAM_CACHE") + "/self-draft";
  if (!Env("XDG_CACHE_HOME").empty()) return Env("XDG_CACHE_HOME") + "/flashstream/self-draft";
  return Env("HOME") + "/.cache/flashstream/self-draft";
}

Result<std::string> SelfDraftCacheKey(const ModelIndex& index, const std::vector<bool>& layer_resident, int bits) {
  hub::Digest d = hub::Digest::Sha256();
  const auto add = [&d](const std::string& s) { d.Update(s.data(), s.size() + 1); };  // with its NUL
  add(fmt::format("self-draft v1 bits {}", bits));
  for (const std::string& file : index.files) {
    std::error_code ec;
    const std::filesystem::path abs = std::filesystem::absolute(file, ec);
    struct stat st {};
    if (ec || ::stat(file.c_str(), &st) != 0) {
      return Errorf("{}: cannot stat the weight file for the self-draft cache key: {}", file, std::strerror(errno));
    }
    add(fmt::format("{} {} {}.{}", abs.string(), st.st_size, st.st_mtim.tv_sec, st.st_mtim.tv_nsec));
  }
  std::string mask;
  for (bool resident : layer_resident) mask += resident ? 'r' : 's';
  add(mask);
  return d.HexFinal();
}

std::string SelfDraftCachePath(const std::string& dir, const std::string& key, int bits) {
  return fmt::format("{}/{}-q{}.bin", dir, key.substr(0, 32), bits);
}

Status ReadSelfDraftCache(const std::string& path, const std::string& key, const std::vector<uint64_t>& layer_bytes,
                          std::vector<std::vector<std::byte>>* layers) {
  FS_ASSIGN_OR_RETURN(File f, File::Open(path));
  const size_t n = layer_bytes.size();
  uint64_t want = HeaderBytes(n);
  for (uint64_t b : layer_bytes) want += b;
  if (f.size() != want) return Errorf("{}: {} bytes, expected {}", path, f.size(), want);
  std::vector<char> header(HeaderBytes(n));
  FS_RETURN_IF_ERROR(f.ReadAt(0, header.data(), header.size()));
  if (std::memcmp(header.data(), kMagic, sizeof(kMagic)) != 0) return Errorf("{}: not a self-draft cache file", path);
  if (std::string_view(header.data() + sizeof(kMagic), kKeyChars) != key) {
    return Errorf("{}: cached for another model file or layer split", path);
  }
  uint64_t count = 0;
  std::memcpy(&count, header.data() + sizeof(kMagic) + kKeyChars, 8);
  if (count != n) return Errorf("{}: {} layers, expected {}", path, count, n);
  for (size_t l = 0; l < n; ++l) {
    uint64_t bytes = 0;
    std::memcpy(&bytes, header.data() + sizeof(kMagic) + kKeyChars + 8 + 8 * l, 8);
    if (bytes != layer_bytes[l])
      return Errorf("{}: layer {} holds {} bytes, expected {}", path, l, bytes, layer_bytes[l]);
  }
  layers->assign(n, {});
  uint64_t offset = header.size();
  for (size_t l = 0; l < n; ++l) {
    (*layers)[l].resize(layer_bytes[l]);
    FS_RETURN_IF_ERROR(f.ReadAt(offset, (*layers)[l].data(), layer_bytes[l]));
    offset += layer_bytes[l];
  }
  return Status::Ok();
}

Status WriteSelfDraftCache(const std::string& path, const std::string& key,
                           const std::vector<std::vector<std::byte>>& layers) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  if (ec) return Errorf("{}: cannot create the self-draft cache folder: {}", path, ec.message());
  const std::string tmp = fmt::format("{}.tmp.{}", path, ::getpid());
  Status status = [&]() -> Status {
    FS_ASSIGN_OR_RETURN(FileWriter w, FileWriter::Create(tmp, FileWriterOptions{.direct = true}));
    FS_RETURN_IF_ERROR(w.Write(kMagic, sizeof(kMagic)));
    FS_RETURN_IF_ERROR(w.Write(key.data(), kKeyChars));
    const uint64_t n = layers.size();
    FS_RETURN_IF_ERROR(w.Write(&n, 8));
    for (const auto& layer : layers) {
      const uint64_t bytes = layer.size();
      FS_RETURN_IF_ERROR(w.Write(&bytes, 8));
    }
    for (const auto& layer : layers) FS_RETURN_IF_ERROR(w.Write(layer.data(), layer.size()));
    return w.Close();
  }();
  if (status.ok() && std::rename(tmp.c_str(), path.c_str()) != 0) {
    status = Errorf("{}: cannot rename the finished cache file into place: {}", path, std::strerror(errno));
  }
  if (!status.ok()) std::filesystem::remove(tmp, ec);
  return status;
}

}  // namespace flashstream
