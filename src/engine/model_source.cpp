#include "engine/model_source.h"

#include <filesystem>

namespace flashstream {

Result<std::string> ResolveModelSource(const std::string& model, const std::string& revision,
                                       const hub::PullOptions& options) {
  std::error_code ec;
  if (std::filesystem::exists(model, ec)) return model;
  if (!hub::LooksLikeRepoId(model)) {
    return Errorf("{}: no such file or folder (and not a model id ORG/NAME[:FILE])", model);
  }
  FS_ASSIGN_OR_RETURN(hub::RepoSpec spec, hub::ParseRepoSpec(model, revision));
  hub::PullOptions cache_first = options;
  cache_first.prefer_cache = true;
  FS_ASSIGN_OR_RETURN(hub::PulledModel pulled, hub::Pull(spec, hub::HfCache(hub::HfCache::DefaultRoot()), cache_first));
  return pulled.path;
}

}  // namespace flashstream
