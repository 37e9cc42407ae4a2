// Pull: makes a hub model present in the shared Hugging Face cache and returns the path that
// `-m` then opens (the GGUF file, or the snapshot folder of a safetensors/MLX model). Only the
// files the model needs are fetched; a file already in the cache (from any tool) is not
// fetched again. Downloads resume after interruption (HTTP ranges into blobs/ETAG.incomplete,
// never mistaken for a whole blob), are checked against the hub's size and SHA-256 (LFS) or
// git SHA-1 before they are linked into the snapshot, and transient failures (transport
// errors, 429, 5xx) are retried with exponential backoff. HF_HUB_OFFLINE=1 resolves from the
// cache alone.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/status.h"
#include "hub/hf_cache.h"
#include "hub/hub_api.h"

namespace flashstream::hub {

struct PullOptions {
  HubEndpoint hub;
  bool offline = false;  // $HF_HUB_OFFLINE: never touch the network
  // Use a complete cached snapshot of the revision without asking the hub (what `run -m`
  // does; `pull` asks, to pick up a moved branch).
  bool prefer_cache = false;
  int max_attempts = 5;          // per file (and for the model info)
  double backoff_seconds = 1.0;  // wait before the 2nd attempt; doubles after each
  // Progress of one file's download: its repo path, bytes present, its size.
  std::function<void(const std::string& file, uint64_t done, uint64_t total)> progress;
  // One-line notices (fallback to the cache when the hub is unreachable, retries).
  std::function<void(const std::string& message)> notice;
};

// HF_ENDPOINT, HF_TOKEN (or HUGGING_FACE_HUB_TOKEN) and HF_HUB_OFFLINE from the environment.
PullOptions PullOptionsFromEnv();

struct PulledModel {
  std::string path;                // what -m opens
  std::string commit;              // the snapshot used
  std::vector<std::string> files;  // repo paths the model uses
  uint64_t downloaded_bytes = 0;   // bytes received (0 when everything was cached)
};

Result<PulledModel> Pull(const RepoSpec& spec, const HfCache& cache, const PullOptions& options);

// The files a model needs out of a repo's `available` files: spec.file alone when given; for a
// safetensors repo its config, tokenizer files, index and every top-level *.safetensors; for a
// GGUF repo its one GGUF. Errors name the repo and list the choices when it is ambiguous.
Result<std::vector<std::string>> ChooseFiles(const std::vector<std::string>& available, const RepoSpec& spec);

}  // namespace flashstream::hub
