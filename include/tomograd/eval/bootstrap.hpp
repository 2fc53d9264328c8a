#pragma once
/// @file Seeded percentile-bootstrap confidence intervals that resample patients, not rows.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tomograd/eval/metric_table.hpp"

namespace tomograd::eval {

struct BootstrapOptions {
  int resamples = 1000;      ///< number of resamples; 0 disables the bootstrap
  uint64_t seed = 0;         ///< same seed, same data, same intervals (on any thread count)
  double confidence = 0.95;  ///< coverage of the percentile interval, in (0, 1)
  int threads = 0;           ///< threads for the resamples (<= 0: all cores)
  bool progress = true;      ///< show a progress bar on a terminal
};

/// What was done, for reports.
struct BootstrapSummary {
  int resamples = 0;
  uint64_t seed = 0;
  double confidence = 0.95;
  std::size_t units = 0;  ///< number of resampled units (patients)
};

/// Units (patients) from per-row group ids: rows of one id form a unit, units in order of first
/// appearance. With every id distinct each row is its own unit.
std::vector<std::vector<std::size_t>> units_from_groups(const std::vector<std::string>& groups);
/// One unit per row: {{0}, {1}, ..., {n-1}}.
std::vector<std::vector<std::size_t>> units_from_rows(std::size_t n);

/// Computes metrics on row indices (rows may repeat).
using ResampleMetrics = std::function<MetricTable(const std::vector<std::size_t>& rows)>;

/// Draws options.resamples resamples of the units with replacement (as many units as there are),
/// evaluates @p metrics on the rows of the drawn units, and sets each entry of @p table whose key
/// the resamples produce to the percentile interval of its values (linear interpolation between
/// order statistics, as numpy.percentile). Resamples in which a metric is undefined are skipped
/// for that metric and counted; the interval is undefined when fewer than 2 resamples gave a
/// value. Resample i uses a generator seeded with derive_seed(seed, i), so results do not depend
/// on the thread count. Throws ValueError for no units, an empty unit, a negative resample count
/// or a confidence outside (0, 1); exceptions from @p metrics propagate.
BootstrapSummary add_bootstrap_intervals(MetricTable& table, const std::vector<std::vector<std::size_t>>& units,
                                         const ResampleMetrics& metrics, const BootstrapOptions& options);

/// The @p q quantile (0..1) of @p sorted values by linear interpolation (numpy's default).
/// Throws ValueError for an empty vector.
double percentile_sorted(const std::vector<double>& sorted, double q);

}  // namespace tomograd::eval
