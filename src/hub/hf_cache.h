// HfCache: the Hugging Face hub cache layout on disk, shared with huggingface_hub,
// transformers and mlx-lm, so a model any of them downloaded is used in place and what
// flashstream downloads they find too:
//   ROOT/models--ORG--NAME/refs/REVISION          the commit a branch or tag points to
//   ROOT/models--ORG--NAME/blobs/ETAG             file contents, named by sha256 (LFS) or git sha1
//   ROOT/models--ORG--NAME/snapshots/COMMIT/PATH  relative symlink to ../../blobs/ETAG
// Plain filesystem operations; not synchronized with other processes beyond atomic renames.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace flashstream::hub {

// What `-m` names when it is not a path: "org/name", optionally ":FILE" (one file of the
// repo, e.g. a GGUF), at `revision` (a branch, tag or commit).
struct RepoSpec {
  std::string repo_id;  // "org/name"
  std::string file;     // "" = let the puller choose
  std::string revision = "main";
};

// Parses "org/name[:file]"; errors name the text and what was expected.
Result<RepoSpec> ParseRepoSpec(std::string_view text, std::string revision = "main");
// True for text shaped like a repo id ("org/name[:file]": one '/', no leading '.', '/' or '~').
bool LooksLikeRepoId(std::string_view text);

// A repo present in the cache, for `flashstream list`.
struct CachedRepo {
  std::string repo_id;
  uint64_t bytes = 0;                  // all blobs
  std::vector<std::string> snapshots;  // commit ids
  std::string format;                  // "gguf", "mlx", "hf" or "" (unknown)
};

class HfCache {
 public:
  // $HF_HUB_CACHE, else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else
  // ~/.cache/huggingface/hub (as huggingface_hub resolves it).
  static std::string DefaultRoot();
  explicit HfCache(std::string root) : root_(std::move(root)) {}

  const std::string& root() const { return root_; }
  std::string RepoDir(const std::string& repo_id) const;
  std::string SnapshotDir(const std::string& repo_id, const std::string& commit) const;
  std::string BlobPath(const std::string& repo_id, const std::string& etag) const;

  // The commit `revision` points to: a 40-hex revision is a commit itself; else refs/REVISION.
  std::optional<std::string> ReadRef(const std::string& repo_id, const std::string& revision) const;
  Status WriteRef(const std::string& repo_id, const std::string& revision, const std::string& commit) const;
  // snapshots/COMMIT/FILE -> relative link to the blob (replacing an existing link).
  Status Link(const std::string& repo_id, const std::string& commit, const std::string& file,
              const std::string& etag) const;
  // Files of a snapshot (paths relative to it), links resolved to existing blobs only.
  std::vector<std::string> SnapshotFiles(const std::string& repo_id, const std::string& commit) const;

  std::vector<CachedRepo> List() const;
  // Deletes the repo's folder; an error when it is not cached.
  Status Remove(const std::string& repo_id) const;

 private:
  std::string root_;
};

}  // namespace flashstream::hub
