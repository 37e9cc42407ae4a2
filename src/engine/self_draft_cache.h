// The disk cache of --self-draft copies: building a low-bit copy reads every streamed layer and
// requantizes it, so the copy is written once to a cache file and read back on later loads.
// A file is named by a SHA-256 key over the weight files' identity (path, size, modification
// time), the copied layers and the bit width: a changed model file gets a new key, never a
// stale copy. Reads check the header and every layer's size against what the caller expects;
// writes go to a temporary file renamed into place, so a crash or a full disk leaves no partial
// cache. Free functions; thread-safe on distinct paths.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "formats/model_index.h"

namespace flashstream {

// The folder of cached copies for EngineOptions::self_draft_cache `dir`: "" when it is "none"
// (no cache); `dir` when set; else $FLASHSTREAM_CACHE/self-draft, else
// $XDG_CACHE_HOME/flashstream/self-draft, else ~/.cache/flashstream/self-draft.
std::string SelfDraftCacheDir(const std::string& dir);

// Hex SHA-256 naming the copy of the layers where !layer_resident at `bits` of the model in
// `index`; an error if a weight file cannot be stat'ed.
Result<std::string> SelfDraftCacheKey(const ModelIndex& index, const std::vector<bool>& layer_resident, int bits);

// The file of `key` in `dir`.
std::string SelfDraftCachePath(const std::string& dir, const std::string& key, int bits);

// Reads the copy at `path` into layers[l] (resized to layer_bytes[l]; 0 = layer not copied).
// An error (the file's absence included) when its header, key or any layer size differs.
Status ReadSelfDraftCache(const std::string& path, const std::string& key, const std::vector<uint64_t>& layer_bytes,
                          std::vector<std::vector<std::byte>>* layers);

// Writes layers[l] (empty = not copied) under `key` to `path`, creating its folder.
Status WriteSelfDraftCache(const std::string& path, const std::string& key,
                           const std::vector<std::vector<std::byte>>& layers);

}  // namespace flashstream
