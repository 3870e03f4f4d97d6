#include "vault/ops/rotate_progress.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <sstream>
#include <string>

namespace escrow::ops {
namespace {

std::string FormatDuration(double seconds) {
  const auto s = std::lround(seconds);
  std::ostringstream out;
  if (s >= 3600) out << s / 3600 << "h";
  if (s >= 60) out << (s / 60) % 60 << "m";
  out << s % 60 << "s";
  return out.str();
}

}  // namespace

void RotateProgress::Update(std::int64_t done, bool final) {
  if (out_ == nullptr) return;
  total_ = std::max(total_, done);
  const auto now = SteadyClock::now();
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double rate = elapsed > 0 ? static_cast<double>(done) / elapsed : 0;
  const double eta = rate > 0 ? static_cast<double>(total_ - done) / rate : 0;
  const int percent = total_ > 0 ? static_cast<int>(100 * done / total_) : 100;
  std::array<char, 256> line{};
  if (tty_) {
    if (!final && now - last_ < std::chrono::milliseconds(100)) return;
    constexpr int kWidth = 30;
    const int filled = percent * kWidth / 100;
    (void)std::snprintf(line.data(), line.size(),
                  "\rre-encrypting [%s%s] %3d%% %lld/%lld  %.0f records/s  ETA %s   ",
                  std::string(static_cast<std::size_t>(filled), '#').c_str(),
                  std::string(static_cast<std::size_t>(kWidth - filled), ' ').c_str(), percent,
                  static_cast<long long>(done), static_cast<long long>(total_), rate,
                  FormatDuration(eta).c_str());
    *out_ << line.data();
    if (final) *out_ << "\n";
  } else {
    if (!final && percent < last_percent_ + 10 && now - last_ < std::chrono::seconds(5)) return;
    (void)std::snprintf(line.data(), line.size(),
                  "re-encrypting: %lld/%lld records (%d%%), %.0f records/s, ETA %s\n",
                  static_cast<long long>(done), static_cast<long long>(total_), percent, rate,
                  FormatDuration(eta).c_str());
    *out_ << line.data();
    last_percent_ = percent;
  }
  out_->flush();
  last_ = now;
}

}  // namespace escrow::ops
