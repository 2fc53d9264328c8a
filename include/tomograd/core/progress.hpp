#pragma once
/// @file Terminal progress bar with count, rate and ETA on stderr.
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

namespace tomograd {

/// Globally disables progress bars (set by apps for --quiet).
void set_progress_enabled(bool enabled);
/// True unless disabled with set_progress_enabled(false).
bool progress_enabled();

/// A progress bar drawn on stderr, only when stderr is a terminal and bars are enabled.
/// Thread-safe: tick() may be called from worker threads. Redraws at most 10 times a second.
class ProgressBar {
 public:
  /// @param total number of steps (0 = unknown: shows count and rate only)
  /// @param label text before the bar, e.g. "reading"
  /// @param unit  unit name shown in the rate, e.g. "slices"
  ProgressBar(int64_t total, std::string label, std::string unit = "it");
  ~ProgressBar();
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  void tick(int64_t n = 1);
  /// Draws the final state and ends the line (called by the destructor if not before).
  void finish();
  /// Whether this bar draws anything (stderr is a terminal and bars are enabled).
  bool active() const { return active_; }

  int64_t count() const;
  /// The line the bar would draw now (exposed for tests), e.g.
  /// "reading [#####.....] 20/40 50% 12.3 slices/s ETA 00:02".
  std::string render() const;

 private:
  void draw_locked(bool final);
  std::string render_locked() const;

  int64_t total_;
  int64_t count_ = 0;
  std::string label_, unit_;
  bool active_ = false;
  bool finished_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
  mutable std::mutex mutex_;
};

/// Formats seconds as "MM:SS" or "H:MM:SS".
std::string format_duration(double seconds);

}  // namespace tomograd
