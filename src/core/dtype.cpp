#include "core/dtype.h"

#include <array>

#include "core/check.h"

namespace flashstream {
namespace {
constexpr std::array<DTypeInfo, static_cast<size_t>(DType::kCount)> kInfo = {{
    {"f32", 1, 4},
    {"f16", 1, 2},
    {"bf16", 1, 2},
    {"q8_0", 32, 34},
    {"q4_0", 32, 18},
    {"q4_1", 32, 20},
    {"q4_k", 256, 144},
    {"q5_k", 256, 176},
    {"q6_k", 256, 210},
    {"q5_0", 32, 22},
    {"i32", 1, 4},
    {"mlx_q4", 8, 4},
    {"mlx_q8", 4, 4},
}};
}  // namespace

const DTypeInfo& Info(DType t) {
  FS_CHECK(IsValid(t), "dtype {}", static_cast<int>(t));
  return kInfo[static_cast<size_t>(t)];
}

bool IsQuantized(DType t) { return Info(t).block_elems > 1; }

uint64_t RowBytes(DType t, int64_t n_elems) {
  const DTypeInfo& info = Info(t);
  FS_CHECK(n_elems % info.block_elems == 0, "{} elements is not a multiple of the {} block ({})",
           n_elems, info.name, info.block_elems);
  return static_cast<uint64_t>(n_elems / info.block_elems) * static_cast<uint64_t>(info.block_bytes);
}

std::optional<DType> DTypeFromName(std::string_view name) {
  for (size_t i = 0; i < kInfo.size(); ++i) {
    if (kInfo[i].name == name) return static_cast<DType>(i);
  }
  return std::nullopt;
}

}  // namespace flashstream
