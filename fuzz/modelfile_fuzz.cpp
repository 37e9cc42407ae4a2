// libFuzzer target: the Modelfile parser (directives, quoting, PARAMETER values through the
// named options table, TEMPLATE through the chat template parser).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "engine/modelfile.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace flashstream;
  ModelfileOptions options;
  (void)ParseModelfile(std::string_view(reinterpret_cast<const char*>(data), size), "Modelfile", &options);
  return 0;
}
