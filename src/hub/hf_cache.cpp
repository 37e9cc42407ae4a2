#include "hub/hf_cache.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <system_error>

namespace flashstream::hub {
namespace fs = std::filesystem;
namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : "";
}

bool IsCommit(const std::string& s) {
  return s.size() == 40 &&
         std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// "models--org--name" -> "org/name"; "" for other folders.
std::string RepoIdOfDir(const std::string& dir) {
  const std::string prefix = "models--";
  if (dir.rfind(prefix, 0) != 0) return "";
  std::string rest = dir.substr(prefix.size());
  const size_t sep = rest.find("--");
  if (sep == std::string::npos) return rest;
  return rest.substr(0, sep) + "/" + rest.substr(sep + 2);
}

std::string FormatOf(const std::vector<std::string>& files, const fs::path& snapshot) {
  bool gguf = false, safetensors = false;
  for (const std::string& f : files) {
    gguf |= f.ends_with(".gguf");
    safetensors |= f.ends_with(".safetensors");
  }
  if (safetensors) {
    std::ifstream config(snapshot / "config.json");
    const std::string text((std::istreambuf_iterator<char>(config)), std::istreambuf_iterator<char>());
    return text.find("\"quantization\"") != std::string::npos ? "mlx" : "hf";
  }
  return gguf ? "gguf" : "";
}

}  // namespace

Result<RepoSpec> ParseRepoSpec(std::string_view text, std::string revision) {
  if (!LooksLikeRepoId(text)) {
    return Errorf("'{}': expected a model id ORG/NAME or ORG/NAME:FILE", text);
  }
  RepoSpec spec;
  const size_t colon = text.find(':');
  spec.repo_id = std::string(text.substr(0, colon));
  if (colon != std::string_view::npos) spec.file = std::string(text.substr(colon + 1));
  spec.revision = revision.empty() ? "main" : std::move(revision);
  return spec;
}

bool LooksLikeRepoId(std::string_view text) {
  const std::string_view id = text.substr(0, text.find(':'));
  const size_t slash = id.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == id.size()) return false;
  if (id.find('/', slash + 1) != std::string_view::npos) return false;
  if (id.front() == '.' || id.front() == '~') return false;
  if (text.find(':') != std::string_view::npos && text.substr(text.find(':') + 1).empty()) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == '/';
  });
}

std::string HfCache::DefaultRoot() {
  if (std::string v = Env("HF_HUB_CACHE"); !v.empty()) return v;
  if (std::string v = Env("HF_HOME"); !v.empty()) return v + "/hub";
  if (std::string v = Env("XDG_CACHE_HOME"); !v.empty()) return v + "/huggingface/hub";
  return Env("HOME") + "/.cache/huggingface/hub";
}

std::string HfCache::RepoDir(const std::string& repo_id) const {
  std::string name = "models--" + repo_id;
  const size_t slash = name.find('/');
  if (slash != std::string::npos) name.replace(slash, 1, "--");
  return root_ + "/" + name;
}

std::string HfCache::SnapshotDir(const std::string& repo_id, const std::string& commit) const {
  return RepoDir(repo_id) + "/snapshots/" + commit;
}

std::string HfCache::BlobPath(const std::string& repo_id, const std::string& etag) const {
  return RepoDir(repo_id) + "/blobs/" + etag;
}

std::optional<std::string> HfCache::ReadRef(const std::string& repo_id, const std::string& revision) const {
  if (IsCommit(revision)) return revision;
  std::ifstream f(RepoDir(repo_id) + "/refs/" + revision);
  std::string commit;
  if (!(f >> commit) || !IsCommit(commit)) return std::nullopt;
  return commit;
}

Status HfCache::WriteRef(const std::string& repo_id, const std::string& revision, const std::string& commit) const {
  if (IsCommit(revision)) return Status::Ok();
  const fs::path path = RepoDir(repo_id) + "/refs/" + revision;
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream f(tmp);
    f << commit;
    if (!f) return Errorf("{}: cannot write the ref", tmp.string());
  }
  fs::rename(tmp, path, ec);
  if (ec) return Errorf("{}: {}", path.string(), ec.message());
  return Status::Ok();
}

Status HfCache::Link(const std::string& repo_id, const std::string& commit, const std::string& file,
                     const std::string& etag) const {
  const fs::path link = SnapshotDir(repo_id, commit) + "/" + file;
  std::error_code ec;
  fs::create_directories(link.parent_path(), ec);
  if (ec) return Errorf("{}: {}", link.parent_path().string(), ec.message());
  // Relative, as huggingface_hub makes them: up from snapshots/COMMIT/<dirs of file>.
  std::string target = "../../";
  for (char c : file) target += c == '/' ? "../" : "";
  target += "blobs/" + etag;
  fs::remove(link, ec);
  fs::create_symlink(target, link, ec);
  if (ec) return Errorf("{}: cannot link to {}: {}", link.string(), target, ec.message());
  return Status::Ok();
}

std::vector<std::string> HfCache::SnapshotFiles(const std::string& repo_id, const std::string& commit) const {
  std::vector<std::string> files;
  const fs::path dir = SnapshotDir(repo_id, commit);
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (fs::is_regular_file(it->path(), ec)) files.push_back(it->path().lexically_relative(dir).string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::vector<CachedRepo> HfCache::List() const {
  std::vector<CachedRepo> repos;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(root_, ec)) {
    CachedRepo r;
    r.repo_id = RepoIdOfDir(entry.path().filename().string());
    if (r.repo_id.empty()) continue;
    for (const auto& blob : fs::directory_iterator(entry.path() / "blobs", ec)) {
      if (blob.is_regular_file(ec)) r.bytes += blob.file_size(ec);
    }
    for (const auto& snap : fs::directory_iterator(entry.path() / "snapshots", ec)) {
      r.snapshots.push_back(snap.path().filename().string());
      if (r.format.empty()) r.format = FormatOf(SnapshotFiles(r.repo_id, r.snapshots.back()), snap.path());
    }
    repos.push_back(std::move(r));
  }
  std::sort(repos.begin(), repos.end(), [](const CachedRepo& a, const CachedRepo& b) { return a.repo_id < b.repo_id; });
  return repos;
}

Status HfCache::Remove(const std::string& repo_id) const {
  const std::string dir = RepoDir(repo_id);
  std::error_code ec;
  if (!fs::exists(dir, ec)) return Errorf("{} is not in the cache ({})", repo_id, root_);
  fs::remove_all(dir, ec);
  if (ec) return Errorf("{}: {}", dir, ec.message());
  return Status::Ok();
}

}  // namespace flashstream::hub
