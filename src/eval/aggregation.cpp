#include "tomograd/eval/aggregation.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>
#include <unordered_map>

#include "check_impl.hpp"
#include "tomograd/core/csv.hpp"

namespace tomograd::eval {

Aggregation Aggregation::parse(const std::string& text) {
  Aggregation a;
  if (text == "mean") {
    a.kind = Kind::kMean;
  } else if (text == "max") {
    a.kind = Kind::kMax;
  } else if (text == "noisy_or") {
    a.kind = Kind::kNoisyOr;
  } else if (text.rfind("topk:", 0) == 0) {
    auto k = parse_number(text.substr(5));
    if (!k || *k < 1 || *k != std::floor(*k) || *k > 1e6) {
      throw ValueError("invalid aggregation '" + text + "': k in topk:k must be a whole number >= 1");
    }
    a.kind = Kind::kTopKMean;
    a.k = static_cast<int>(*k);
  } else {
    throw ValueError("unknown aggregation '" + text + "' (valid: mean, max, topk:<k> e.g. topk:3, noisy_or)");
  }
  return a;
}

std::string Aggregation::name() const {
  switch (kind) {
    case Kind::kMean: return "mean";
    case Kind::kMax: return "max";
    case Kind::kTopKMean: return "topk:" + std::to_string(k);
    case Kind::kNoisyOr: return "noisy_or";
  }
  return "?";
}

double aggregate(const std::vector<double>& values, const Aggregation& how) {
  if (values.empty()) throw ValueError("cannot aggregate an empty group");
  switch (how.kind) {
    case Aggregation::Kind::kMean:
      return std::accumulate(values.begin(), values.end(), 0.0) / static_cast<double>(values.size());
    case Aggregation::Kind::kMax:
      return *std::max_element(values.begin(), values.end());
    case Aggregation::Kind::kTopKMean: {
      if (how.k < 1) throw ValueError("topk aggregation needs k >= 1, got " + std::to_string(how.k));
      std::vector<double> v = values;
      std::size_t k = std::min(v.size(), static_cast<std::size_t>(how.k));
      std::partial_sort(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end(), std::greater<double>());
      return std::accumulate(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), 0.0) / static_cast<double>(k);
    }
    case Aggregation::Kind::kNoisyOr: {
      // Summing log(1 - p) keeps precision when many slices have small probabilities.
      double log_none = 0;
      for (double p : values) {
        if (!(p >= 0.0 && p <= 1.0)) {
          throw ValueError("noisy_or aggregation needs probabilities in [0, 1], got " + detail::num(p));
        }
        log_none += std::log1p(-p);
      }
      return -std::expm1(log_none);
    }
  }
  throw ValueError("unknown aggregation");
}

GroupedPredictions aggregate_by_group(const std::vector<std::string>& groups, const std::vector<double>& y_true,
                                      const std::vector<std::vector<double>>& y_pred, const Aggregation& how,
                                      const RowNamer& row_name) {
  auto name = [&](std::size_t r) { return row_name ? row_name(r) : "row " + std::to_string(r + 1); };
  if (groups.size() != y_true.size() || y_pred.size() != y_true.size()) {
    throw ValueError("mismatched lengths: " + std::to_string(groups.size()) + " group ids, " +
                     std::to_string(y_true.size()) + " targets, " + std::to_string(y_pred.size()) + " predictions");
  }
  if (y_true.empty()) throw ValueError("no rows to aggregate");
  const std::size_t cols = y_pred.front().size();
  std::unordered_map<std::string, std::size_t> index;
  std::vector<std::size_t> first_row;
  std::vector<std::vector<std::size_t>> members;
  GroupedPredictions out;
  for (std::size_t r = 0; r < groups.size(); ++r) {
    if (groups[r].empty()) throw ValueError(name(r) + ": empty group id");
    if (y_pred[r].size() != cols) {
      throw ValueError(name(r) + ": " + std::to_string(y_pred[r].size()) + " predictions, expected " + std::to_string(cols));
    }
    auto [it, fresh] = index.emplace(groups[r], out.groups.size());
    if (fresh) {
      out.groups.push_back(groups[r]);
      out.y_true.push_back(y_true[r]);
      first_row.push_back(r);
      members.emplace_back();
    } else if (!(y_true[r] == out.y_true[it->second])) {
      throw ValueError("group '" + groups[r] + "': the target differs between its rows (" + name(first_row[it->second]) +
                       ": " + detail::num(out.y_true[it->second]) + ", " + name(r) + ": " + detail::num(y_true[r]) +
                       "); a patient must have one target");
    }
    members[it->second].push_back(r);
  }
  std::vector<double> values;
  for (std::size_t g = 0; g < members.size(); ++g) {
    std::vector<double> row(cols);
    for (std::size_t c = 0; c < cols; ++c) {
      values.clear();
      for (std::size_t r : members[g]) values.push_back(y_pred[r][c]);
      try {
        row[c] = aggregate(values, how);
      } catch (const ValueError& e) {
        throw ValueError("group '" + out.groups[g] + "': " + e.what());
      }
    }
    out.y_pred.push_back(std::move(row));
    out.rows_per_group.push_back(members[g].size());
  }
  return out;
}

}  // namespace tomograd::eval
