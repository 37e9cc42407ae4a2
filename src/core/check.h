// FS_CHECK: internal invariants (never user input). On failure prints file:line, the
// condition and an optional formatted message to stderr, then aborts.
// FS_DCHECK compiles away in release builds; use it inside hot loops.
#pragma once

#include <fmt/format.h>  // fmt::format for the failure message

#include <string>

namespace flashstream::detail {
[[noreturn]] void CheckFailed(const char* file, int line, const char* cond, const std::string& msg);
}  // namespace flashstream::detail

#define FS_CHECK(cond, ...)                                                                   \
  do {                                                                                        \
    if (!(cond)) [[unlikely]] {                                                               \
      ::flashstream::detail::CheckFailed(__FILE__, __LINE__, #cond,                           \
                                         ::fmt::format("" __VA_ARGS__));                        \
    }                                                                                         \
  } while (0)

#ifdef NDEBUG
#define FS_DCHECK(cond, ...) \
  do {                       \
  } while (0)
#else
#define FS_DCHECK(cond, ...) FS_CHECK(cond __VA_OPT__(, ) __VA_ARGS__)
#endif
