// The host-memory defaults of Backend's memory operations (the CPU backend uses them as they are).
#include "backend/backend.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/check.h"

namespace flashstream {

Result<void*> Backend::Allocate(size_t bytes) {
  const size_t rounded = (std::max<size_t>(bytes, 1) + 63) / 64 * 64;  // aligned_alloc wants a multiple
  void* p = std::aligned_alloc(64, rounded);
  if (p == nullptr) return Errorf("{}: cannot allocate {} bytes of host memory", Name(), bytes);
  return p;
}

void Backend::Free(void* p) { std::free(p); }

void Backend::Upload(void* dst, const void* src, size_t bytes) {
  if (bytes > 0) std::memcpy(dst, src, bytes);
}

void Backend::Download(void* dst, const void* src, size_t bytes) {
  if (bytes > 0) std::memcpy(dst, src, bytes);
}

void Backend::Copy(void* dst, const void* src, size_t bytes) {
  if (bytes > 0) std::memmove(dst, src, bytes);
}

bool Backend::BeginStepRecording(uint64_t, const int32_t*, int32_t) { return false; }
bool Backend::EndStepRecording() { return false; }
bool Backend::ReplayStep(uint64_t) { return false; }

void Backend::TieredAttention(const TieredAttentionArgs&) {
  FS_CHECK(false, "backend {} has no tiered attention over a KV cache", Name());
}

void Backend::QuantizeKv(const KvBlockLayout& layout, const float* x, int row0, int n, std::byte* block) {
  QuantizeKvRows(layout, x, row0, n, block);
}

void Backend::RequantizeKv(const KvBlockLayout& from, const std::byte* src, const KvBlockLayout& to, int row0, int n,
                           std::byte* dst) {
  std::vector<float> rows(static_cast<size_t>(n) * static_cast<size_t>(from.width));
  DequantizeKvRows(from, src, row0, n, rows.data());
  QuantizeKvRows(to, rows.data(), row0, n, dst);
}

}  // namespace flashstream
