// libFuzzer target: the GGUF header parser and the ModelIndex construction on its result.
// Each input is parsed as a whole file and as a prefix of a longer one (the truncation path).
#include <cstddef>
#include <cstdint>
#include <span>

#include "formats/gguf.h"
#include "formats/gguf_model.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace flashstream;
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  Result<GgufFile> file = ParseGguf(bytes, size, "fuzz.gguf");
  if (file.ok()) {
    for (const auto& [key, value] : file->kv) (void)value.ToString();
    (void)ModelIndexFromGguf(*file);
    (void)TokenizerFromGguf(*file);
  }
  bool truncated = false;
  (void)ParseGguf(bytes.first(size / 2), size, "fuzz.gguf", &truncated);
  (void)ParseGguf(bytes, uint64_t{size} + 1000, "fuzz.gguf", &truncated);
  return 0;
}
