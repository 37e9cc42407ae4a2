#include "backend/cpu/kernels.h"

namespace flashstream::cpu {
namespace {
constexpr size_t kAlign = 64;
size_t AlignUp(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }
int64_t PadTo(int64_t n) { return (n + QuantizedActs::kPadTo - 1) / QuantizedActs::kPadTo * QuantizedActs::kPadTo; }
}  // namespace

size_t QuantizedActs::BytesNeeded(int64_t n_tok, int64_t n_in, int levels) {
  const auto n = static_cast<size_t>(n_tok * PadTo(n_in));
  const auto l = static_cast<size_t>(levels);
  return AlignUp(l * n) + 2 * AlignUp(n / 32 * 4) + AlignUp(n / 16 * 4) + (2 + l) * AlignUp(n / 8 * 4);
}

void QuantizedActs::Bind(void* mem, int64_t n_tok_, int64_t n_in_, bool split_layout, int levels_) {
  split = split_layout;
  levels = levels_;
  n_tok = n_tok_;
  n_in = n_in_;
  n_pad = PadTo(n_in_);
  const auto n = static_cast<size_t>(n_tok * n_pad);
  auto* p = static_cast<std::byte*>(mem);
  const auto l = static_cast<size_t>(levels_);
  q = reinterpret_cast<int8_t*>(p);
  p += AlignUp(l * n);
  d = reinterpret_cast<float*>(p);
  p += AlignUp(n / 32 * 4);
  cx32 = reinterpret_cast<float*>(p);
  p += AlignUp(n / 32 * 4);
  cx16 = reinterpret_cast<float*>(p);
  p += AlignUp(n / 16 * 4);
  lane_d = reinterpret_cast<float*>(p);
  p += AlignUp(n / 8 * 4);
  lane_negsum = reinterpret_cast<int32_t*>(p);
  p += AlignUp(l * n / 8 * 4);
  lane_cx = reinterpret_cast<float*>(p);
}

}  // namespace flashstream::cpu
