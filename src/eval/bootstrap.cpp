#include "tomograd/eval/bootstrap.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <random>
#include <unordered_map>

#include "check_impl.hpp"
#include "tomograd/core/parallel.hpp"
#include "tomograd/core/progress.hpp"
#include "tomograd/core/random.hpp"

namespace tomograd::eval {

namespace {

// Unbiased integer in [0, n) by rejection (std::uniform_int_distribution differs between standard
// libraries; this keeps intervals identical everywhere for a given seed).
uint64_t uniform_below(std::mt19937_64& gen, uint64_t n) {
  const uint64_t reject_below = (0 - n) % n;  // 2^64 mod n
  for (;;) {
    uint64_t r = gen();
    if (r >= reject_below) return r % n;
  }
}

}  // namespace

std::vector<std::vector<std::size_t>> units_from_groups(const std::vector<std::string>& groups) {
  std::unordered_map<std::string, std::size_t> index;
  std::vector<std::vector<std::size_t>> units;
  for (std::size_t r = 0; r < groups.size(); ++r) {
    auto [it, fresh] = index.emplace(groups[r], units.size());
    if (fresh) units.emplace_back();
    units[it->second].push_back(r);
  }
  return units;
}

std::vector<std::vector<std::size_t>> units_from_rows(std::size_t n) {
  std::vector<std::vector<std::size_t>> units(n);
  for (std::size_t r = 0; r < n; ++r) units[r] = {r};
  return units;
}

double percentile_sorted(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) throw ValueError("percentile of no values");
  double h = q * static_cast<double>(sorted.size() - 1);
  auto lo = static_cast<std::size_t>(std::floor(h));
  if (lo + 1 >= sorted.size()) return sorted.back();
  double frac = h - static_cast<double>(lo);
  return sorted[lo] + frac * (sorted[lo + 1] - sorted[lo]);
}

BootstrapSummary add_bootstrap_intervals(MetricTable& table, const std::vector<std::vector<std::size_t>>& units,
                                         const ResampleMetrics& metrics, const BootstrapOptions& options) {
  if (options.resamples < 0) throw ValueError("bootstrap resamples must be >= 0, got " + std::to_string(options.resamples));
  if (!(options.confidence > 0.0 && options.confidence < 1.0)) {
    throw ValueError("bootstrap confidence must be in (0, 1), got " + detail::num(options.confidence));
  }
  if (units.empty()) throw ValueError("bootstrap needs at least one unit (patient)");
  for (std::size_t u = 0; u < units.size(); ++u) {
    if (units[u].empty()) throw ValueError("bootstrap unit " + std::to_string(u) + " has no rows");
  }
  BootstrapSummary summary;
  summary.resamples = options.resamples;
  summary.seed = options.seed;
  summary.confidence = options.confidence;
  summary.units = units.size();
  if (options.resamples == 0) return summary;

  const std::size_t n_resamples = static_cast<std::size_t>(options.resamples);
  const std::size_t n_keys = table.size();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  // values[k][i]: metric k on resample i, NaN where undefined (MetricValue never holds NaN).
  std::vector<std::vector<double>> values(n_keys, std::vector<double>(n_resamples, nan));
  std::optional<ProgressBar> bar;
  if (options.progress) bar.emplace(options.resamples, "bootstrap", "resamples");
  parallel_for(n_resamples, options.threads, [&](std::size_t i) {
    std::mt19937_64 gen(derive_seed(options.seed, i));
    std::vector<std::size_t> rows;
    for (std::size_t j = 0; j < units.size(); ++j) {
      const auto& unit = units[uniform_below(gen, units.size())];
      rows.insert(rows.end(), unit.begin(), unit.end());
    }
    MetricTable t = metrics(rows);
    for (std::size_t k = 0; k < n_keys; ++k) {
      const std::string& key = table.entries()[k].key;
      if (t.contains(key) && t.value(key).defined()) values[k][i] = t.value(key).value();
    }
    if (bar) bar->tick();
  });
  if (bar) bar->finish();

  const double alpha = 1.0 - options.confidence;
  for (std::size_t k = 0; k < n_keys; ++k) {
    std::vector<double> v;
    for (double x : values[k]) {
      if (!std::isnan(x)) v.push_back(x);
    }
    std::sort(v.begin(), v.end());
    ConfidenceInterval ci;
    ci.level = options.confidence;
    ci.resamples_used = static_cast<int>(v.size());
    ci.resamples_skipped = options.resamples - ci.resamples_used;
    if (v.size() >= 2) {
      ci.low = MetricValue::of(percentile_sorted(v, alpha / 2));
      ci.high = MetricValue::of(percentile_sorted(v, 1 - alpha / 2));
    } else {
      std::string why = "the metric was defined in " + std::to_string(v.size()) + " of " +
                        std::to_string(options.resamples) + " resamples";
      ci.low = ci.high = MetricValue::undefined(why);
    }
    table.entries()[k].ci = ci;
  }
  return summary;
}

}  // namespace tomograd::eval
