#include "hub/puller.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "hub/digest.h"

namespace flashstream::hub {
namespace fs = std::filesystem;
namespace {

constexpr const char* kModelFiles[] = {"config.json",
                                       "generation_config.json",
                                       "tokenizer.json",
                                       "tokenizer_config.json",
                                       "special_tokens_map.json",
                                       "tokenizer.model",
                                       "model.safetensors.index.json"};

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : "";
}

bool Retryable(long status) { return status == 429 || status >= 500; }

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const std::string& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

// Appends to `path`, hashing what is written; remembers the first write error.
class PartFile {
 public:
  PartFile(const std::string& path, Digest* digest) : path_(path), digest_(digest) {
    f_ = std::fopen(path.c_str(), "ab");
  }
  ~PartFile() {
    if (f_ != nullptr) std::fclose(f_);
  }
  bool ok() const { return f_ != nullptr && error_.ok(); }
  const Status& error() const { return error_; }
  bool Write(const char* data, size_t n) {
    if (std::fwrite(data, 1, n, f_) != n) {
      error_ = Errorf("{}: write failed (disk full?)", path_);
      return false;
    }
    digest_->Update(data, n);
    return true;
  }
  Status Close() {
    const bool closed = f_ != nullptr && std::fclose(f_) == 0;
    f_ = nullptr;
    if (!error_.ok()) return error_;
    return closed ? Status::Ok() : Errorf("{}: cannot close (disk full?)", path_);
  }

 private:
  std::string path_;
  Digest* digest_;
  std::FILE* f_ = nullptr;
  Status error_;
};

// Hashes the first `n` bytes already in `path` (a resumed download).
Status HashExisting(const std::string& path, uint64_t n, Digest& digest) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return Errorf("{}: cannot reopen the partial download", path);
  std::vector<char> buf(1 << 20);
  uint64_t left = n;
  while (left > 0) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(left, buf.size()));
    if (std::fread(buf.data(), 1, want, f) != want) {
      std::fclose(f);
      return Errorf("{}: short read of the partial download", path);
    }
    digest.Update(buf.data(), want);
    left -= want;
  }
  std::fclose(f);
  return Status::Ok();
}

class Puller {
 public:
  Puller(const RepoSpec& spec, const HfCache& cache, const PullOptions& options)
      : spec_(spec), cache_(cache), options_(options) {}

  Result<PulledModel> Run();

 private:
  Result<PulledModel> FromCache(const std::string& why) const;
  Result<RemoteRepo> FetchInfo();
  // Makes blobs/ETAG complete and verified; adds to downloaded_.
  Status FetchBlob(const std::string& commit, const RemoteFile& file);
  // One GET of the rest of the file into `part`; returns false in *again when it should be retried.
  Status Attempt(const std::string& commit, const RemoteFile& file, const std::string& part, bool* again);
  void Backoff(int attempt, const std::string& what) const;
  void Notice(const std::string& message) const {
    if (options_.notice) options_.notice(message);
  }
  PulledModel MakeResult(const std::string& commit, std::vector<std::string> files) const;

  const RepoSpec& spec_;
  const HfCache& cache_;
  const PullOptions& options_;
  HttpClient http_;
  uint64_t downloaded_ = 0;  // bytes received, failed attempts included
};

PulledModel Puller::MakeResult(const std::string& commit, std::vector<std::string> files) const {
  PulledModel m;
  m.commit = commit;
  const std::string snapshot = cache_.SnapshotDir(spec_.repo_id, commit);
  const bool single = files.size() == 1 && !files[0].ends_with(".safetensors") && files[0] != "config.json";
  m.path = single ? snapshot + "/" + files[0] : snapshot;
  m.files = std::move(files);
  m.downloaded_bytes = downloaded_;
  return m;
}

Result<PulledModel> Puller::FromCache(const std::string& why) const {
  const std::optional<std::string> commit = cache_.ReadRef(spec_.repo_id, spec_.revision);
  if (!commit) {
    return Errorf("{} ({}) is not in the Hugging Face cache at {}{}", spec_.repo_id, spec_.revision, cache_.root(),
                  why);
  }
  FS_ASSIGN_OR_RETURN(std::vector<std::string> files, ChooseFiles(cache_.SnapshotFiles(spec_.repo_id, *commit), spec_));
  return MakeResult(*commit, std::move(files));
}

void Puller::Backoff(int attempt, const std::string& what) const {
  const double wait = options_.backoff_seconds * (1 << std::min(attempt - 1, 10));
  Notice(fmt::format("{}; retrying in {:.0f} s (attempt {} of {})", what, wait, attempt + 1, options_.max_attempts));
  std::this_thread::sleep_for(std::chrono::duration<double>(wait));
}

Result<RemoteRepo> Puller::FetchInfo() {
  Status last;
  for (int attempt = 1; attempt <= options_.max_attempts; ++attempt) {
    HttpRequest req;
    req.url = fmt::format("{}/api/models/{}/revision/{}?blobs=true", options_.hub.base, spec_.repo_id, spec_.revision);
    req.bearer_token = options_.hub.token;
    Result<HttpResponse> res = http_.Send(req);
    if (res.ok() && !Retryable(res->status)) {
      if (std::string msg = HubStatusMessage(res->status, spec_.repo_id, req.url, !options_.hub.token.empty());
          !msg.empty()) {
        return Status::Error(msg);
      }
      return ParseRepoInfo(res->body, spec_.repo_id);
    }
    last = res.ok() ? Errorf("{}: HTTP {} from {}", spec_.repo_id, res->status, req.url) : res.status();
    if (attempt < options_.max_attempts) Backoff(attempt, last.message());
  }
  return Errorf("{} (after {} attempts)", last.message(), options_.max_attempts);
}

Status Puller::Attempt(const std::string& commit, const RemoteFile& file, const std::string& part, bool* again) {
  *again = false;
  std::error_code ec;
  uint64_t have = fs::exists(part, ec) ? fs::file_size(part, ec) : 0;
  if (have > file.size) {
    fs::remove(part, ec);
    have = 0;
  }
  Digest digest = file.lfs ? Digest::Sha256() : Digest::GitBlobSha1(file.size);
  if (have > 0) FS_RETURN_IF_ERROR(HashExisting(part, have, digest));
  uint64_t done = have;
  if (have < file.size || file.size == 0) {
    PartFile out(part, &digest);
    if (!out.ok()) return Errorf("{}: cannot open for writing", part);
    HttpRequest req;
    req.url = fmt::format("{}/{}/resolve/{}/{}", options_.hub.base, spec_.repo_id, commit, file.path);
    req.bearer_token = options_.hub.token;
    req.range_begin = have;
    req.sink = [&](const char* data, size_t n) {
      if (!out.Write(data, n)) return false;
      done += n;
      downloaded_ += n;
      if (options_.progress) options_.progress(file.path, done, file.size);
      return true;
    };
    Result<HttpResponse> res = http_.Send(req);
    const Status closed = out.Close();
    if (!closed.ok()) return closed;  // a local write error is not retried
    if (!res.ok()) {
      *again = true;
      return res.status();
    }
    if (res->range_ignored) {  // the server sent the whole file: start over
      fs::remove(part, ec);
      *again = true;
      return Errorf("{}: the server ignored the resume range", req.url);
    }
    if (Retryable(res->status)) {
      *again = true;
      return Errorf("{}: HTTP {}", req.url, res->status);
    }
    if (std::string msg = HubStatusMessage(res->status, spec_.repo_id, req.url, !options_.hub.token.empty());
        !msg.empty()) {
      return Status::Error(msg);
    }
  }
  const uint64_t size = fs::file_size(part, ec);
  if (size != file.size) {
    *again = true;
    if (size > file.size) fs::remove(part, ec);
    return Errorf("{}: {} bytes downloaded, the hub says {}", file.path, size, file.size);
  }
  if (!file.etag.empty()) {
    const std::string got = digest.HexFinal();
    if (got != file.etag) {
      fs::remove(part, ec);
      *again = true;
      return Errorf("{}: corrupted download: {} {} but the hub says {}", file.path, file.lfs ? "sha256" : "git sha1",
                    got, file.etag);
    }
  }
  return Status::Ok();
}

Status Puller::FetchBlob(const std::string& commit, const RemoteFile& file) {
  if (file.etag.empty()) return Errorf("{}: the hub gave no checksum for {}", spec_.repo_id, file.path);
  const std::string blob = cache_.BlobPath(spec_.repo_id, file.etag);
  std::error_code ec;
  if (fs::exists(blob, ec) && fs::file_size(blob, ec) == file.size) return Status::Ok();
  fs::create_directories(fs::path(blob).parent_path(), ec);
  const std::string part = blob + ".incomplete";
  Status last;
  for (int attempt = 1; attempt <= options_.max_attempts; ++attempt) {
    bool again = false;
    last = Attempt(commit, file, part, &again);
    if (last.ok()) {
      fs::rename(part, blob, ec);
      if (ec) return Errorf("{}: {}", blob, ec.message());
      return Status::Ok();
    }
    if (!again) return last;
    if (attempt < options_.max_attempts) Backoff(attempt, last.message());
  }
  return Errorf("{} (after {} attempts)", last.message(), options_.max_attempts);
}

Result<PulledModel> Puller::Run() {
  if (options_.offline) return FromCache(" (HF_HUB_OFFLINE=1: nothing is downloaded)");
  if (options_.prefer_cache) {
    Result<PulledModel> cached = FromCache("");
    if (cached.ok()) return cached;
  }
  Result<RemoteRepo> info = FetchInfo();
  if (!info.ok()) {
    // Unreachable hub, but a snapshot is cached: use it, as huggingface_hub does.
    const bool denied = info.status().message().find("access denied") != std::string::npos ||
                        info.status().message().find("not found") != std::string::npos;
    if (!denied) {
      Result<PulledModel> cached = FromCache("");
      if (cached.ok()) {
        Notice(fmt::format("{}; using the cached snapshot {}", info.status().message(), cached->commit));
        return cached;
      }
    }
    return info.status();
  }
  std::vector<std::string> available;
  for (const RemoteFile& f : info->files) available.push_back(f.path);
  FS_ASSIGN_OR_RETURN(std::vector<std::string> chosen, ChooseFiles(available, spec_));
  for (const std::string& path : chosen) {
    const RemoteFile& file =
        *std::find_if(info->files.begin(), info->files.end(), [&](const RemoteFile& f) { return f.path == path; });
    FS_RETURN_IF_ERROR(FetchBlob(info->commit, file));
    FS_RETURN_IF_ERROR(cache_.Link(spec_.repo_id, info->commit, file.path, file.etag));
  }
  FS_RETURN_IF_ERROR(cache_.WriteRef(spec_.repo_id, spec_.revision, info->commit));
  return MakeResult(info->commit, std::move(chosen));
}

}  // namespace

PullOptions PullOptionsFromEnv() {
  PullOptions o;
  if (std::string e = Env("HF_ENDPOINT"); !e.empty()) {
    while (!e.empty() && e.back() == '/') e.pop_back();
    o.hub.base = e;
  }
  o.hub.token = Env("HF_TOKEN");
  if (o.hub.token.empty()) o.hub.token = Env("HUGGING_FACE_HUB_TOKEN");
  const std::string offline = Env("HF_HUB_OFFLINE");
  o.offline = offline == "1" || offline == "true" || offline == "TRUE" || offline == "yes" || offline == "ON";
  return o;
}

Result<std::vector<std::string>> ChooseFiles(const std::vector<std::string>& available, const RepoSpec& spec) {
  auto has = [&](const std::string& f) { return std::find(available.begin(), available.end(), f) != available.end(); };
  std::vector<std::string> ggufs, safetensors;
  for (const std::string& f : available) {
    if (f.ends_with(".gguf")) ggufs.push_back(f);
    if (f.ends_with(".safetensors") && f.find('/') == std::string::npos) safetensors.push_back(f);
  }
  if (!spec.file.empty()) {
    if (has(spec.file)) return std::vector<std::string>{spec.file};
    return Errorf("{}: no file '{}' in the repo; its GGUF files: {}", spec.repo_id, spec.file,
                  ggufs.empty() ? "none" : Join(ggufs));
  }
  if (!safetensors.empty()) {
    if (!has("config.json")) return Errorf("{}: safetensors weights but no config.json", spec.repo_id);
    std::vector<std::string> files;
    for (const char* f : kModelFiles) {
      if (has(f)) files.emplace_back(f);
    }
    files.insert(files.end(), safetensors.begin(), safetensors.end());
    return files;
  }
  if (ggufs.size() == 1) return ggufs;
  if (ggufs.empty()) return Errorf("{}: the repo holds neither safetensors nor GGUF weights", spec.repo_id);
  return Errorf("{}: {} GGUF files; name one as {}:FILE. Choices: {}", spec.repo_id, ggufs.size(), spec.repo_id,
                Join(ggufs));
}

Result<PulledModel> Pull(const RepoSpec& spec, const HfCache& cache, const PullOptions& options) {
  return Puller(spec, cache, options).Run();
}

}  // namespace flashstream::hub
