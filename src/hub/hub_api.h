// The hub's model-info endpoint: which commit a revision is at and which files it holds, with
// each file's size and the name its bytes are stored under (sha256 for LFS files, git sha1
// otherwise). GET {endpoint}/api/models/{repo}/revision/{revision}?blobs=true.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "hub/http_client.h"

namespace flashstream::hub {

struct RemoteFile {
  std::string path;   // "model.safetensors", "sub/dir/file"
  uint64_t size = 0;  // bytes of the real file (the LFS object for LFS files)
  std::string etag;   // sha256 (LFS) or git blob sha1: the blob name in the cache
  bool lfs = false;
};

struct RemoteRepo {
  std::string commit;  // 40 hex digits
  std::vector<RemoteFile> files;
};

// Where and as whom to talk to the hub.
struct HubEndpoint {
  std::string base = "https://huggingface.co";  // $HF_ENDPOINT
  std::string token;                            // $HF_TOKEN; "" = anonymous
};

// Errors say what the status means for a user: 401/403 (gated or private: a token is needed,
// or the token lacks access), 404 (no such repo or revision), other statuses with the URL.
Result<RemoteRepo> FetchRepoInfo(HttpClient& http, const HubEndpoint& hub, const std::string& repo_id,
                                 const std::string& revision);
// Parses a model-info JSON body (exposed for tests and the fuzzer).
Result<RemoteRepo> ParseRepoInfo(const std::string& body, const std::string& repo_id);
// The message for an HTTP error status on a hub URL ("" for 2xx).
std::string HubStatusMessage(long status, const std::string& repo_id, const std::string& url, bool have_token);

}  // namespace flashstream::hub
