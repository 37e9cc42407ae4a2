// ProgressBar: shows progress of a slow step (load, convert, synth, long prefill) on stderr.
// On a terminal it redraws one line at most ~10 times a second; otherwise it prints a plain
// line at every 10% step. Not thread-safe; Update() from one thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace flashstream {

class ProgressBar {
 public:
  // unit "bytes" shows MiB and GB/s; anything else shows counts in that unit.
  ProgressBar(std::string label, std::string unit, bool enabled = true);
  ~ProgressBar();
  void Update(uint64_t done, uint64_t total);
  // Prints the final state once (also called by the destructor).
  void Finish();

 private:
  std::string Render(uint64_t done, uint64_t total) const;

  std::string label_;
  std::string unit_;
  bool enabled_;
  bool tty_;
  bool finished_ = false;
  uint64_t done_ = 0, total_ = 0;
  int last_decile_ = -1;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace flashstream
