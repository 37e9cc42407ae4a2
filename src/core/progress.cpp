#include "core/progress.h"

#include <fmt/format.h>  // fmt::format for the bar
#include <unistd.h>      // isatty

#include <cstdio>

namespace flashstream {

ProgressBar::ProgressBar(std::string label, std::string unit, bool enabled)
    : label_(std::move(label)),
      unit_(std::move(unit)),
      enabled_(enabled),
      tty_(isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

ProgressBar::~ProgressBar() { Finish(); }

std::string ProgressBar::Render(uint64_t done, uint64_t total) const {
  const double frac = total > 0 ? static_cast<double>(done) / static_cast<double>(total) : 1.0;
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  std::string amount;
  if (unit_ == "bytes") {
    const double rate = secs > 0 ? done / secs / 1e9 : 0;
    amount = fmt::format("{:.0f}/{:.0f} MiB  {:.2f} GB/s", done / 1048576.0, total / 1048576.0, rate);
  } else {
    const double rate = secs > 0 ? done / secs : 0;
    amount = fmt::format("{}/{} {}  {:.1f} {}/s", done, total, unit_, rate, unit_);
  }
  const double eta = frac > 0 ? secs * (1 - frac) / frac : 0;
  constexpr int kWidth = 30;
  const int filled = static_cast<int>(frac * kWidth);
  return fmt::format("{} [{}{}] {:3.0f}%  {}  {:.1f}s{}", label_, std::string(static_cast<size_t>(filled), '#'),
                     std::string(static_cast<size_t>(kWidth - filled), '.'), frac * 100, amount, secs,
                     frac < 1 ? fmt::format(" (eta {:.0f}s)", eta) : std::string());
}

void ProgressBar::Update(uint64_t done, uint64_t total) {
  done_ = done;
  total_ = total;
  if (!enabled_ || finished_) return;
  const auto now = std::chrono::steady_clock::now();
  if (tty_) {
    if (now - last_draw_ < std::chrono::milliseconds(100) && done < total) return;
    last_draw_ = now;
    std::fprintf(stderr, "\r%s\033[K", Render(done, total).c_str());
  } else {
    const int decile = total > 0 ? static_cast<int>(done * 10 / total) : 10;
    if (decile == last_decile_) return;
    last_decile_ = decile;
    std::fprintf(stderr, "%s\n", Render(done, total).c_str());
  }
  std::fflush(stderr);
}

void ProgressBar::Finish() {
  if (finished_) return;
  finished_ = true;
  if (!enabled_ || total_ == 0) return;
  if (tty_) {
    std::fprintf(stderr, "\r%s\033[K\n", Render(done_, total_).c_str());
  } else if (last_decile_ != 10) {
    std::fprintf(stderr, "%s\n", Render(done_, total_).c_str());
  }
  std::fflush(stderr);
}

}  // namespace flashstream
