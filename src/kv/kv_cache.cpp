#include "kv/kv_cache.h"

#include "kv/tiered_kv_cache.h"

namespace flashstream {

KvStats KvStats::Since(const KvStats& before) const {
  KvStats d = *this;
  d.read_ram_bytes -= before.read_ram_bytes;
  d.read_disk_bytes -= before.read_disk_bytes;
  d.written_disk_bytes -= before.written_disk_bytes;
  d.queries -= before.queries;
  return d;
}

Result<std::unique_ptr<KvCache>> MakeHostKvCache(const KvConfig& config) {
  FS_ASSIGN_OR_RETURN(std::unique_ptr<TieredKvCache> cache, TieredKvCache::Create(config));
  return std::unique_ptr<KvCache>(std::move(cache));
}

Result<std::unique_ptr<KvCache>> MakeDeviceKvCache(const KvConfig& config, Backend& device) {
  FS_ASSIGN_OR_RETURN(std::unique_ptr<TieredKvCache> cache, TieredKvCache::Create(config, &device));
  return std::unique_ptr<KvCache>(std::move(cache));
}

}  // namespace flashstream
