#include "tomograd/eval/threshold.hpp"

#include <algorithm>
#include <numeric>

#include "check_impl.hpp"
#include "tomograd/core/csv.hpp"

namespace tomograd::eval {

ThresholdRule ThresholdRule::parse(const std::string& text) {
  ThresholdRule r;
  if (text == "youden") {
    r.kind = Kind::kYouden;
  } else if (text == "max_f1") {
    r.kind = Kind::kMaxF1;
  } else if (text.rfind("sensitivity:", 0) == 0) {
    auto v = parse_number(text.substr(12));
    if (!v || *v <= 0.0 || *v > 1.0) {
      throw ValueError("invalid threshold rule '" + text + "': the target sensitivity must be a number in (0, 1]");
    }
    r.kind = Kind::kTargetSensitivity;
    r.target_sensitivity = *v;
  } else {
    throw ValueError("unknown threshold rule '" + text + "' (valid: youden, max_f1, sensitivity:<0..1>, e.g. sensitivity:0.9)");
  }
  return r;
}

std::string ThresholdRule::name() const {
  switch (kind) {
    case Kind::kYouden: return "youden";
    case Kind::kMaxF1: return "max_f1";
    case Kind::kTargetSensitivity: return "sensitivity:" + detail::num(target_sensitivity);
  }
  return "?";
}

ThresholdChoice select_threshold(const std::vector<double>& y_true, const std::vector<double>& scores,
                                 const ThresholdRule& rule) {
  detail::check_binary(y_true, scores);
  int64_t pos = static_cast<int64_t>(std::count(y_true.begin(), y_true.end(), 1.0));
  int64_t neg = static_cast<int64_t>(y_true.size()) - pos;
  if (pos == 0 || neg == 0) {
    throw ValueError("cannot choose a threshold: the selection data has only one class (all " +
                     std::string(pos == 0 ? "0" : "1") + ")");
  }
  if (rule.kind == ThresholdRule::Kind::kTargetSensitivity &&
      !(rule.target_sensitivity > 0.0 && rule.target_sensitivity <= 1.0)) {
    throw ValueError("target sensitivity must be in (0, 1], got " + detail::num(rule.target_sensitivity));
  }
  std::vector<std::size_t> order(scores.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return scores[a] > scores[b]; });

  // Candidates are the distinct scores, highest first; a strict '>' keeps the highest threshold
  // on ties.
  bool found = false;
  double best = 0;
  ThresholdChoice choice;
  BinaryCounts c;
  c.fn = pos;
  c.tn = neg;
  for (std::size_t i = 0; i < order.size(); ++i) {
    if (y_true[order[i]] == 1.0) {
      ++c.tp;
      --c.fn;
    } else {
      ++c.fp;
      --c.tn;
    }
    if (i + 1 < order.size() && scores[order[i + 1]] == scores[order[i]]) continue;
    double se = static_cast<double>(c.tp) / static_cast<double>(pos);
    double sp = static_cast<double>(c.tn) / static_cast<double>(neg);
    double f1 = static_cast<double>(2 * c.tp) / static_cast<double>(2 * c.tp + c.fp + c.fn);
    double value = 0;
    bool eligible = true;
    switch (rule.kind) {
      case ThresholdRule::Kind::kYouden: value = se + sp - 1.0; break;
      case ThresholdRule::Kind::kMaxF1: value = f1; break;
      case ThresholdRule::Kind::kTargetSensitivity:
        // The first (highest) threshold reaching the target keeps the most specificity.
        eligible = se >= rule.target_sensitivity;
        value = 0;
        break;
    }
    if (eligible && (!found || value > best)) {
      found = true;
      best = value;
      choice.threshold = scores[order[i]];
      choice.counts = c;
      choice.sensitivity = se;
      choice.specificity = sp;
      choice.f1 = f1;
      if (rule.kind == ThresholdRule::Kind::kTargetSensitivity) break;
    }
  }
  return choice;
}

}  // namespace tomograd::eval
