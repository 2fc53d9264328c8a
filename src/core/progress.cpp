#include "tomograd/core/progress.hpp"

#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <iomanip>
#include <sstream>

namespace tomograd {

namespace {
std::atomic<bool> g_enabled{true};
}

void set_progress_enabled(bool enabled) { g_enabled = enabled; }
bool progress_enabled() { return g_enabled; }

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "--:--";
  auto total = static_cast<long long>(seconds + 0.5);
  long long h = total / 3600, m = (total / 60) % 60, s = total % 60;
  char buf[32];
  if (h > 0) std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", h, m, s);
  else std::snprintf(buf, sizeof buf, "%02lld:%02lld", m, s);
  return buf;
}

ProgressBar::ProgressBar(int64_t total, std::string label, std::string unit)
    : total_(total), label_(std::move(label)), unit_(std::move(unit)) {
  active_ = g_enabled && ::isatty(STDERR_FILENO) == 1;
  start_ = last_draw_ = std::chrono::steady_clock::now();
}

ProgressBar::~ProgressBar() { finish(); }

void ProgressBar::tick(int64_t n) {
  std::lock_guard<std::mutex> lock(mutex_);
  count_ += n;
  if (!active_ || finished_) return;
  auto now = std::chrono::steady_clock::now();
  if (now - last_draw_ >= std::chrono::milliseconds(100) || (total_ > 0 && count_ >= total_)) {
    last_draw_ = now;
    draw_locked(false);
  }
}

void ProgressBar::finish() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (finished_) return;
  finished_ = true;
  if (active_) draw_locked(true);
}

int64_t ProgressBar::count() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return count_;
}

std::string ProgressBar::render() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return render_locked();
}

std::string ProgressBar::render_locked() const {
  double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  double rate = elapsed > 0 ? static_cast<double>(count_) / elapsed : 0.0;
  std::ostringstream s;
  s << label_ << ' ';
  if (total_ > 0) {
    constexpr int kWidth = 24;
    double frac = std::min(1.0, static_cast<double>(count_) / static_cast<double>(total_));
    int filled = static_cast<int>(frac * kWidth);
    s << '[' << std::string(filled, '#') << std::string(kWidth - filled, '.') << "] " << count_
      << '/' << total_ << ' ' << static_cast<int>(frac * 100.0) << "% ";
  } else {
    s << count_ << ' ';
  }
  s << std::fixed << std::setprecision(rate >= 100 ? 0 : 1) << rate << ' ' << unit_ << "/s";
  if (total_ > 0) {
    double eta = rate > 0 ? static_cast<double>(total_ - count_) / rate : -1.0;
    s << (finished_ ? " in " + format_duration(elapsed) : " ETA " + format_duration(eta));
  }
  return s.str();
}

void ProgressBar::draw_locked(bool final) {
  std::string line = render_locked();
  std::fprintf(stderr, "\r\033[K%s%s", line.c_str(), final ? "\n" : "");
  std::fflush(stderr);
}

}  // namespace tomograd
