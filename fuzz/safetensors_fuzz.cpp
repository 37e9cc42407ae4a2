// libFuzzer target: the safetensors header parser, on the input as a whole file
// image (length prefix, header, data) and as bare header JSON over a data
// section of varying size.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "formats/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace flashstream;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  (void)ParseSafetensorsImage(bytes, "fuzz.safetensors");
  (void)ParseSafetensorsHeader(bytes, 8 + size, size * 4, "fuzz.safetensors");
  (void)ParseSafetensorsHeader(bytes, 8 + size, UINT64_MAX - size, "fuzz.safetensors");
  return 0;
}
