// `flashstream pull | list | rm`: models in the shared Hugging Face cache (src/hub).
#include <fmt/format.h>  // fmt::print

#include <memory>

#include "cli_options.h"
#include "commands.h"
#include "hub/hf_cache.h"
#include "hub/puller.h"
#include "io/system_memory.h"

namespace flashstream::cli {
namespace {

struct HubState {
  std::string model;
  std::string revision = "main";
  double ram_gib = 0;
};

int Pull(const HubState& st) {
  Result<hub::RepoSpec> spec = hub::ParseRepoSpec(st.model, st.revision);
  if (!spec.ok()) {
    PrintError(spec.status().message());
    return 1;
  }
  const hub::HfCache cache(hub::HfCache::DefaultRoot());
  Result<hub::PulledModel> pulled = hub::Pull(*spec, cache, HubOptionsWithProgress());
  if (!pulled.ok()) {
    PrintError(pulled.status().message());
    return 1;
  }
  fmt::print(stderr, "{} at {}: {} file(s), {:.1f} MiB downloaded\n", spec->repo_id, pulled->commit.substr(0, 12),
             pulled->files.size(), pulled->downloaded_bytes / 1048576.0);
  fmt::print("{}\n", pulled->path);
  return 0;
}

int List(const HubState& st) {
  const hub::HfCache cache(hub::HfCache::DefaultRoot());
  // The weight budget `run` would use: --ram, else the memory this process may use.
  const double budget = st.ram_gib > 0 ? st.ram_gib * 1073741824.0 : static_cast<double>(ReadMemoryLimits().usable());
  const std::vector<hub::CachedRepo> repos = cache.List();
  fmt::print("{} ({} models)\n", cache.root(), repos.size());
  fmt::print("{:<56} {:>10}  {:<6} {}\n", "MODEL", "SIZE", "FORMAT", st.ram_gib > 0 ? "FITS --ram" : "FITS RAM");
  for (const hub::CachedRepo& r : repos) {
    fmt::print("{:<56} {:>7.2f} GiB  {:<6} {}\n", r.repo_id, r.bytes / 1073741824.0, r.format.empty() ? "?" : r.format,
               r.bytes <= budget ? "resident" : "streams");
  }
  return 0;
}

int Remove(const HubState& st) {
  Result<hub::RepoSpec> spec = hub::ParseRepoSpec(st.model);
  const hub::HfCache cache(hub::HfCache::DefaultRoot());
  const Status removed = spec.ok() ? cache.Remove(spec->repo_id) : spec.status();
  if (!removed.ok()) {
    PrintError(removed.message());
    return 1;
  }
  fmt::print(stderr, "removed {}\n", spec->repo_id);
  return 0;
}

}  // namespace

CommandFn AddPullCommand(CLI::App& cmd) {
  auto st = std::make_shared<HubState>();
  cmd.add_option("model", st->model, "model id ORG/NAME[:FILE]")->required();
  cmd.add_option("--revision", st->revision, "branch, tag or commit");
  return [st] { return Pull(*st); };
}

CommandFn AddListCommand(CLI::App& cmd) {
  auto st = std::make_shared<HubState>();
  cmd.add_option("--ram", st->ram_gib, "weight budget in GiB to compare sizes with (default: available memory)")
      ->check(CLI::NonNegativeNumber);
  return [st] { return List(*st); };
}

CommandFn AddRmCommand(CLI::App& cmd) {
  auto st = std::make_shared<HubState>();
  cmd.add_option("model", st->model, "model id ORG/NAME")->required();
  return [st] { return Remove(*st); };
}

}  // namespace flashstream::cli
