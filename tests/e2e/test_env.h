// Where end-to-end tests find their inputs: the real models (env FS_MODEL_SMOLLM2 and
// FS_MODEL_GEMMA3, set by scripts/test.sh), committed test data (FS_SOURCE_DIR) and the flashstream binary.
#pragma once

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace flashstream::testing {

inline std::string SmolLm2Path() {
  const char* p = std::getenv("FS_MODEL_SMOLLM2");
  return p != nullptr ? p : "";
}

inline std::string Gemma3Path() {
  const char* p = std::getenv("FS_MODEL_GEMMA3");
  return p != nullptr ? p : "";
}

inline std::string SourcePath(const std::string& rel) { return std::string(FS_SOURCE_DIR) + "/" + rel; }

inline std::string SharedDataPath(const std::string& name) {
  const char* p = std::getenv("FS_SHARED_DATA");
  return (p != nullptr ? std::string(p) : std::string(FS_SOURCE_DIR) + "/../shared/data") + "/" + name;
}

inline std::vector<char> ReadBytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<char>(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

}  // namespace flashstream::testing

#define FS_REQUIRE_SMOLLM2()                                                         \
  do {                                                                               \
    if (::flashstream::testing::SmolLm2Path().empty())                               \
      GTEST_SKIP() << "FS_MODEL_SMOLLM2 is not set (scripts/test.sh sets it)";       \
  } while (0)

#define FS_REQUIRE_GEMMA3()                                                          \
  do {                                                                               \
    if (::flashstream::testing::Gemma3Path().empty())                                \
      GTEST_SKIP() << "FS_MODEL_GEMMA3 is not set (scripts/test.sh sets it)";        \
  } while (0)
