#include "hub/hub_api.h"

#include <nlohmann/json.hpp>  // the model-info body

namespace flashstream::hub {

std::string HubStatusMessage(long status, const std::string& repo_id, const std::string& url, bool have_token) {
  if (status >= 200 && status < 300) return "";
  if (status == 401 || status == 403) {
    return have_token ? fmt::format(
                            "{}: access denied (HTTP {}): HF_TOKEN does not grant access to this gated or "
                            "private model; accept its terms on the hub or use another token",
                            repo_id, status)
                      : fmt::format(
                            "{}: access denied (HTTP {}): the model is gated or private; set HF_TOKEN to a "
                            "token that has access",
                            repo_id, status);
  }
  if (status == 404) return fmt::format("{}: not found on the hub ({})", repo_id, url);
  return fmt::format("{}: HTTP {} from {}", repo_id, status, url);
}

Result<RemoteRepo> ParseRepoInfo(const std::string& body, const std::string& repo_id) {
  using nlohmann::json;
  const json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return Errorf("{}: model info is not a JSON object", repo_id);
  RemoteRepo repo;
  if (!j.contains("sha") || !j["sha"].is_string()) return Errorf("{}: model info lacks the commit 'sha'", repo_id);
  repo.commit = j["sha"].get<std::string>();
  if (!j.contains("siblings") || !j["siblings"].is_array()) {
    return Errorf("{}: model info lacks the file list 'siblings'", repo_id);
  }
  for (const json& s : j["siblings"]) {
    if (!s.is_object() || !s.contains("rfilename") || !s["rfilename"].is_string()) {
      return Errorf("{}: model info has a file entry without 'rfilename'", repo_id);
    }
    RemoteFile f;
    f.path = s["rfilename"].get<std::string>();
    if (f.path.empty() || f.path.front() == '/' || f.path.find("..") != std::string::npos) {
      return Errorf("{}: model info names an unsafe file path '{}'", repo_id, f.path);
    }
    if (s.contains("lfs") && s["lfs"].is_object() && s["lfs"].contains("sha256") && s["lfs"]["sha256"].is_string()) {
      f.lfs = true;
      f.etag = s["lfs"]["sha256"].get<std::string>();
      if (s["lfs"].contains("size") && s["lfs"]["size"].is_number_unsigned()) f.size = s["lfs"]["size"].get<uint64_t>();
    } else {
      if (s.contains("blobId") && s["blobId"].is_string()) f.etag = s["blobId"].get<std::string>();
      if (s.contains("size") && s["size"].is_number_unsigned()) f.size = s["size"].get<uint64_t>();
    }
    repo.files.push_back(std::move(f));
  }
  return repo;
}

Result<RemoteRepo> FetchRepoInfo(HttpClient& http, const HubEndpoint& hub, const std::string& repo_id,
                                 const std::string& revision) {
  HttpRequest req;
  req.url = fmt::format("{}/api/models/{}/revision/{}?blobs=true", hub.base, repo_id, revision);
  req.bearer_token = hub.token;
  FS_ASSIGN_OR_RETURN(HttpResponse res, http.Send(req));
  if (std::string msg = HubStatusMessage(res.status, repo_id, req.url, !hub.token.empty()); !msg.empty()) {
    return Status::Error(msg);
  }
  return ParseRepoInfo(res.body, repo_id);
}

}  // namespace flashstream::hub
