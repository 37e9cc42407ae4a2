// Wall-clock intervals for statistics and timelines (steady clock). Pure; thread-safe.
#pragma once

#include <chrono>

namespace flashstream {

// Seconds elapsed since t0.
inline double SecondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace flashstream
