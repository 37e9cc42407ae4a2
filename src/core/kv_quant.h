// Storage formats of K/V rows in the tiers of a KV cache (src/kv), their quantizer and their
// reference dequantizer. A block holds up to `rows` rows of `width` values (one layer's keys or
// values of consecutive positions, all kv heads side by side). Quantized formats are asymmetric:
// value = code * scale + min with per-group f16 (scale, min), either per row and group of
// `group` channels (kPerToken) or per channel over the block's rows (kPerChannel, which needs the
// whole block at once). Dequantization is fma(code, scale, min) in f32, so every kernel that
// follows this header reproduces DequantizeKvRows bit for bit. Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>

namespace flashstream {

enum class KvFormat : uint8_t {
  kF32,    // f32 rows
  kF16,    // IEEE half rows
  kQ8,     // 8-bit codes 0..255, one byte each
  kQ4,     // 4-bit codes 0..15, two per byte (value 2i in the low nibble of byte i)
  kCount,  // sentinel
};
bool IsValid(KvFormat f);
const char* Name(KvFormat f);
bool IsQuantized(KvFormat f);

enum class KvGrouping : uint8_t {
  kPerToken,    // (scale, min) per row and group of `group` channels: [rows, width / group] pairs
  kPerChannel,  // (scale, min) per channel over the block's rows: [width] pairs
  kCount,       // sentinel
};
const char* Name(KvGrouping g);

// Where a block's bytes are: codes [rows, width] (format's element size), then for quantized
// formats the f16 (scale, min) pairs.
struct KvBlockLayout {
  KvFormat format = KvFormat::kF16;
  KvGrouping grouping = KvGrouping::kPerToken;  // quantized formats only
  int width = 0;                                // values per row
  int group = 0;                                // channels per (scale, min) pair with kPerToken; divides width
  int rows = 0;                                 // capacity in rows

  size_t row_code_bytes() const;
  size_t code_bytes() const { return row_code_bytes() * static_cast<size_t>(rows); }
  size_t param_bytes() const;  // 0 for f32/f16
  size_t bytes() const { return code_bytes() + param_bytes(); }
};

// The per-token channel group for a row of `width` values: 64, 32 or 16 when one divides it,
// else the whole row.
int KvChannelGroup(int width);

// Quantizes (or converts) rows x[n, width] into rows row0..row0+n-1 of `block`. kPerChannel
// needs row0 == 0 and n == layout.rows (the block is quantized in one go). Each value is
// reconstructed within half a quantization step of its group: |x - x'| <= 0.5 * scale plus f32
// rounding, where scale >= (max - min) / (2^bits - 1) of the group, rounded up to f16.
// Values beyond the f16 range are not representable (as in an FP16 cache).
void QuantizeKvRows(const KvBlockLayout& layout, const float* x, int row0, int n, std::byte* block);

// Reference dequantizer: rows row0..row0+n-1 of `block` into out[n, width].
void DequantizeKvRows(const KvBlockLayout& layout, const std::byte* block, int row0, int n, float* out);

}  // namespace flashstream
