// FakeHub: a loopback HTTP server that speaks the parts of the Hugging Face hub protocol the
// puller uses (model info with blobs, resolve with the LFS redirect to a CDN path, range
// requests, 401 for gated repos), with faults to inject: dropped connections mid-file,
// corrupted bytes, 503s. Thread-safe counters; one instance per test.
#pragma once

#include <httplib.h>  // cpp-httplib: the loopback server

#include <atomic>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "hub/digest.h"

namespace flashstream::testing {

struct FakeFile {
  std::string path;
  std::string content;
  bool lfs = false;
  std::string Sha256() const {
    hub::Digest d = hub::Digest::Sha256();
    d.Update(content.data(), content.size());
    return d.HexFinal();
  }
  std::string GitSha1() const {
    hub::Digest d = hub::Digest::GitBlobSha1(content.size());
    d.Update(content.data(), content.size());
    return d.HexFinal();
  }
};

struct FakeRepo {
  std::string commit;
  std::vector<FakeFile> files;
  bool gated = false;
};

class FakeHub {
 public:
  static constexpr const char* kToken = "hf_secret";

  FakeHub() {
    server_.Get(
        R"(/api/models/([^/]+)/([^/]+)/revision/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
          ++info_gets;
          const FakeRepo* repo = Find(req.matches[1].str() + "/" + req.matches[2].str());
          if (repo == nullptr) return Reply(res, 404);
          if (!Authorized(*repo, req)) return Reply(res, 401);
          if (fail_503_left > 0) {
            --fail_503_left;
            return Reply(res, 503);
          }
          nlohmann::json siblings = nlohmann::json::array();
          for (const FakeFile& f : repo->files) {
            nlohmann::json s = {{"rfilename", f.path}, {"blobId", f.GitSha1()}, {"size", f.content.size()}};
            if (f.lfs) s["lfs"] = {{"sha256", f.Sha256()}, {"size", f.content.size()}, {"pointerSize", 134}};
            siblings.push_back(s);
          }
          res.set_content(
              nlohmann::json{{"id", req.matches[1].str()}, {"sha", repo->commit}, {"siblings", siblings}}.dump(),
              "application/json");
        });
    server_.Get(R"(/([^/]+)/([^/]+)/resolve/([^/]+)/(.+))",
                [this](const httplib::Request& req, httplib::Response& res) {
                  const FakeRepo* repo = Find(req.matches[1].str() + "/" + req.matches[2].str());
                  if (repo == nullptr) return Reply(res, 404);
                  if (!Authorized(*repo, req)) return Reply(res, 401);
                  const FakeFile* file = FindFile(*repo, req.matches[4].str());
                  if (file == nullptr) return Reply(res, 404);
                  res.set_header("X-Repo-Commit", repo->commit);
                  if (file->lfs) {  // as the hub: a redirect to another host, metadata in its headers
                    res.set_header("X-Linked-Etag", "\"" + file->Sha256() + "\"");
                    res.set_header("X-Linked-Size", std::to_string(file->content.size()));
                    res.set_redirect(cdn_base() + "/cdn/" + file->Sha256(), 302);
                    return;
                  }
                  res.set_header("ETag", "\"" + file->GitSha1() + "\"");
                  Serve(*file, req, res);
                });
    server_.Get(R"(/cdn/([0-9a-f]+))", [this](const httplib::Request& req, httplib::Response& res) {
      FakeFile found;
      {
        std::lock_guard<std::mutex> lock(mu_);
        for (const auto& [id, repo] : repos_) {
          for (const FakeFile& f : repo.files) {
            if (f.lfs && f.Sha256() == req.matches[1].str()) found = f;
          }
        }
      }
      if (found.path.empty()) return Reply(res, 404);
      Serve(found, req, res);
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::yield();
  }
  ~FakeHub() {
    server_.stop();
    thread_.join();
  }

  std::string base() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // The same server under another host name, as the hub's CDN is another host: clients must
  // not carry the token there and read the file's metadata from the redirect itself.
  std::string cdn_base() const { return "http://localhost:" + std::to_string(port_); }
  void Add(const std::string& repo_id, FakeRepo repo) {
    std::lock_guard<std::mutex> lock(mu_);
    repos_[repo_id] = std::move(repo);
  }

  // Faults, consumed one per file GET.
  std::atomic<int> drops_left{0};  // close the connection after drop_after bytes (larger files)
  size_t drop_after = 1000;
  std::atomic<int> corrupt_left{0};   // flip one byte of the body
  std::atomic<int> fail_503_left{0};  // model info answers 503
  // Observations.
  std::atomic<int> info_gets{0};
  std::atomic<int> file_gets{0};         // file bodies served (HEAD requests included)
  std::vector<std::string> ranges_seen;  // Range headers of file GETs (under mu_)
  std::vector<std::string> Ranges() {
    std::lock_guard<std::mutex> lock(mu_);
    return ranges_seen;
  }

 private:
  static void Reply(httplib::Response& res, int status) {
    res.status = status;
    res.set_content("{\"error\":\"" + std::to_string(status) + "\"}", "application/json");
  }
  static bool Authorized(const FakeRepo& repo, const httplib::Request& req) {
    return !repo.gated || req.get_header_value("Authorization") == std::string("Bearer ") + kToken;
  }
  const FakeRepo* Find(const std::string& id) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = repos_.find(id);
    return it == repos_.end() ? nullptr : &it->second;
  }
  static const FakeFile* FindFile(const FakeRepo& repo, const std::string& path) {
    for (const FakeFile& f : repo.files) {
      if (f.path == path) return &f;
    }
    return nullptr;
  }
  // The body, with httplib doing the Range handling through the provider's offset.
  void Serve(const FakeFile& file, const httplib::Request& req, httplib::Response& res) {
    ++file_gets;
    {
      std::lock_guard<std::mutex> lock(mu_);
      ranges_seen.push_back(req.get_header_value("Range"));
    }
    std::string body = file.content;
    if (corrupt_left > 0) {
      --corrupt_left;
      body[body.size() / 2] ^= 0x5a;
    }
    bool drop = false;
    if (drops_left > 0 && body.size() > drop_after) {
      --drops_left;
      drop = true;
    }
    const size_t limit = drop ? drop_after : body.size();
    res.set_content_provider(
        body.size(), "application/octet-stream",
        [body, limit, sent = size_t{0}](size_t offset, size_t length, httplib::DataSink& sink) mutable {
          const size_t n = std::min(length, size_t{4096});
          if (sent + n > limit) {
            if (limit > sent) sink.write(body.data() + offset, limit - sent);
            return false;  // drops the connection mid-file
          }
          sink.write(body.data() + offset, n);
          sent += n;
          return true;
        });
  }

  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::map<std::string, FakeRepo> repos_;
};

}  // namespace flashstream::testing
