#include "backend/backend.h"

#include "core/check.h"

namespace flashstream {

void Backend::TieredAttention(const TieredAttentionArgs&) {
  FS_CHECK(false, "backend {} has no tiered attention over a host KV cache", Name());
}

}  // namespace flashstream
