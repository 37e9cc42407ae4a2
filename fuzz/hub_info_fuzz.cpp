// libFuzzer target: the hub's model-info JSON (it arrives from the network), then the file
// choice on whatever file list it yields.
#include <cstddef>
#include <cstdint>
#include <string>

#include "hub/hub_api.h"
#include "hub/puller.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace flashstream;
  const std::string body(reinterpret_cast<const char*>(data), size);
  Result<hub::RemoteRepo> repo = hub::ParseRepoInfo(body, "org/name");
  if (repo.ok()) {
    std::vector<std::string> files;
    for (const hub::RemoteFile& f : repo->files) files.push_back(f.path);
    (void)hub::ChooseFiles(files, hub::RepoSpec{"org/name", "", "main"});
    if (!files.empty()) (void)hub::ChooseFiles(files, hub::RepoSpec{"org/name", files.front(), "main"});
  }
  (void)hub::LooksLikeRepoId(body);
  (void)hub::ParseRepoSpec(body);
  return 0;
}
