#include "core/kv_quant.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/check.h"
#include "core/half.h"

namespace flashstream {
namespace {

// The largest f16 not above x (x finite).
uint16_t HalfDown(float x) {
  uint16_t h = FloatToHalf(x);
  if (HalfToFloat(h) > x) h = (h & 0x8000u) ? static_cast<uint16_t>(h + 1u) : static_cast<uint16_t>(h - 1u);
  return h;
}

// The smallest f16 not below x (x >= 0).
uint16_t HalfUp(float x) {
  uint16_t h = FloatToHalf(x);
  if (HalfToFloat(h) < x) ++h;
  return h;
}

int Levels(KvFormat f) { return f == KvFormat::kQ8 ? 255 : 15; }

// Chooses (scale, min) for values v[i * stride], i < n, and writes their codes with `put`.
template <typename Put>
void QuantizeGroup(const float* v, int64_t stride, int n, int levels, uint16_t* params, const Put& put) {
  float lo = v[0], hi = v[0];
  for (int i = 1; i < n; ++i) {
    lo = std::min(lo, v[i * stride]);
    hi = std::max(hi, v[i * stride]);
  }
  const uint16_t min_h = HalfDown(lo);
  const float min_f = HalfToFloat(min_h);
  const uint16_t scale_h = HalfUp((hi - min_f) / static_cast<float>(levels));
  const float scale = HalfToFloat(scale_h);
  params[0] = scale_h;
  params[1] = min_h;
  for (int i = 0; i < n; ++i) {
    int code = 0;
    if (scale > 0.f) code = static_cast<int>(std::nearbyint((v[i * stride] - min_f) / scale));
    put(i, std::clamp(code, 0, levels));
  }
}

void PutCode(KvFormat f, std::byte* codes, int64_t index, int code) {
  if (f == KvFormat::kQ8) {
    codes[index] = static_cast<std::byte>(code);
    return;
  }
  std::byte& b = codes[index / 2];
  const auto c = static_cast<uint8_t>(code);
  b = (index % 2 == 0) ? static_cast<std::byte>((static_cast<uint8_t>(b) & 0xF0u) | c)
                       : static_cast<std::byte>((static_cast<uint8_t>(b) & 0x0Fu) | (c << 4));
}

int GetCode(KvFormat f, const std::byte* codes, int64_t index) {
  if (f == KvFormat::kQ8) return static_cast<uint8_t>(codes[index]);
  const auto b = static_cast<uint8_t>(codes[index / 2]);
  return index % 2 == 0 ? (b & 0x0F) : (b >> 4);
}

}  // namespace

bool IsValid(KvFormat f) { return f < KvFormat::kCount; }
bool IsQuantized(KvFormat f) { return f == KvFormat::kQ8 || f == KvFormat::kQ4; }

const char* Name(KvFormat f) {
  switch (f) {
    case KvFormat::kF32:
      return "f32";
    case KvFormat::kF16:
      return "f16";
    case KvFormat::kQ8:
      return "q8";
    case KvFormat::kQ4:
      return "q4";
    case KvFormat::kCount:
      break;
  }
  return "invalid";
}

const char* Name(KvGrouping g) {
  switch (g) {
    case KvGrouping::kPerToken:
      return "per-token";
    case KvGrouping::kPerChannel:
      return "per-channel";
    case KvGrouping::kCount:
      break;
  }
  return "invalid";
}

size_t KvBlockLayout::row_code_bytes() const {
  switch (format) {
    case KvFormat::kF32:
      return static_cast<size_t>(width) * 4;
    case KvFormat::kF16:
      return static_cast<size_t>(width) * 2;
    case KvFormat::kQ8:
      return static_cast<size_t>(width);
    case KvFormat::kQ4:
      return static_cast<size_t>(width) / 2;
    case KvFormat::kCount:
      break;
  }
  return 0;
}

size_t KvBlockLayout::param_bytes() const {
  if (!IsQuantized(format)) return 0;
  const size_t pairs =
      grouping == KvGrouping::kPerChannel ? static_cast<size_t>(width) : static_cast<size_t>(rows) * (width / group);
  return pairs * 2 * sizeof(uint16_t);
}

int KvChannelGroup(int width) {
  for (int g : {64, 32, 16}) {
    if (width % g == 0) return g;
  }
  return width;
}

void QuantizeKvRows(const KvBlockLayout& l, const float* x, int row0, int n, std::byte* block) {
  FS_CHECK(row0 >= 0 && n >= 0 && row0 + n <= l.rows, "QuantizeKvRows: rows {}+{} of {}", row0, n, l.rows);
  std::byte* codes = block + static_cast<size_t>(row0) * l.row_code_bytes();
  if (l.format == KvFormat::kF32) {
    std::memcpy(codes, x, static_cast<size_t>(n) * l.row_code_bytes());
    return;
  }
  if (l.format == KvFormat::kF16) {
    FloatToHalfRow(x, reinterpret_cast<uint16_t*>(codes), int64_t{n} * l.width);
    return;
  }
  FS_CHECK(IsQuantized(l.format) && (l.format != KvFormat::kQ4 || l.width % 2 == 0), "QuantizeKvRows: {} width {}",
           Name(l.format), l.width);
  const int levels = Levels(l.format);
  auto* params = reinterpret_cast<uint16_t*>(block + l.code_bytes());
  if (l.grouping == KvGrouping::kPerChannel) {
    FS_CHECK(row0 == 0 && n == l.rows, "per-channel blocks are quantized whole ({} rows at {})", n, row0);
    for (int c = 0; c < l.width; ++c) {
      QuantizeGroup(x + c, l.width, n, levels, params + 2 * c,
                    [&](int r, int code) { PutCode(l.format, codes, int64_t{r} * l.width + c, code); });
    }
    return;
  }
  FS_CHECK(l.group > 0 && l.width % l.group == 0, "QuantizeKvRows: group {} of width {}", l.group, l.width);
  const int groups = l.width / l.group;
  for (int r = 0; r < n; ++r) {
    std::byte* row = codes + static_cast<size_t>(r) * l.row_code_bytes();
    uint16_t* p = params + static_cast<size_t>(row0 + r) * groups * 2;
    for (int g = 0; g < groups; ++g) {
      QuantizeGroup(x + int64_t{r} * l.width + g * l.group, 1, l.group, levels, p + 2 * g,
                    [&](int i, int code) { PutCode(l.format, row, int64_t{g} * l.group + i, code); });
    }
  }
}

void DequantizeKvRows(const KvBlockLayout& l, const std::byte* block, int row0, int n, float* out) {
  FS_CHECK(row0 >= 0 && n >= 0 && row0 + n <= l.rows, "DequantizeKvRows: rows {}+{} of {}", row0, n, l.rows);
  const std::byte* codes = block + static_cast<size_t>(row0) * l.row_code_bytes();
  if (l.format == KvFormat::kF32) {
    std::memcpy(out, codes, static_cast<size_t>(n) * l.row_code_bytes());
    return;
  }
  if (l.format == KvFormat::kF16) {
    for (int64_t i = 0; i < int64_t{n} * l.width; ++i) {
      uint16_t h;
      std::memcpy(&h, codes + 2 * i, 2);
      out[i] = HalfToFloat(h);
    }
    return;
  }
  const auto* params = reinterpret_cast<const uint16_t*>(block + l.code_bytes());
  const int groups = l.grouping == KvGrouping::kPerChannel ? 0 : l.width / l.group;
  for (int r = 0; r < n; ++r) {
    const std::byte* row = codes + static_cast<size_t>(r) * l.row_code_bytes();
    for (int c = 0; c < l.width; ++c) {
      const uint16_t* p = l.grouping == KvGrouping::kPerChannel
                              ? params + 2 * c
                              : params + (static_cast<size_t>(row0 + r) * groups + c / l.group) * 2;
      out[int64_t{r} * l.width + c] =
          std::fma(static_cast<float>(GetCode(l.format, row, c)), HalfToFloat(p[0]), HalfToFloat(p[1]));
    }
  }
}

}  // namespace flashstream
