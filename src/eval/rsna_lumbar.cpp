#include "tomograd/eval/rsna_lumbar.hpp"

#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "check_impl.hpp"
#include "tomograd/eval/binary.hpp"
#include "tomograd/eval/multiclass.hpp"

namespace tomograd::eval {

LumbarCondition lumbar_condition_of(const std::string& name) {
  // Same test and order as the competition's get_condition().
  if (name.find("spinal") != std::string::npos) return LumbarCondition::kSpinal;
  if (name.find("foraminal") != std::string::npos) return LumbarCondition::kForaminal;
  if (name.find("subarticular") != std::string::npos) return LumbarCondition::kSubarticular;
  throw ValueError("no lumbar condition in '" + name + "' (expected it to contain spinal, foraminal or subarticular)");
}

std::string to_string(LumbarCondition condition) {
  switch (condition) {
    case LumbarCondition::kSpinal: return "spinal";
    case LumbarCondition::kForaminal: return "foraminal";
    case LumbarCondition::kSubarticular: return "subarticular";
  }
  return "?";
}

LumbarRow parse_lumbar_row_id(const std::string& row_id) {
  auto cut = row_id.find('_');
  if (cut == std::string::npos || cut == 0) {
    throw ValueError("row id '" + row_id + "' is not <study_id>_<condition>_<level>");
  }
  LumbarRow r;
  r.study_id = row_id.substr(0, cut);
  r.condition = lumbar_condition_of(row_id);
  r.probabilities = {0, 0, 0};
  return r;
}

LumbarScore rsna_lumbar_score(const std::vector<LumbarRow>& rows, double any_severe_scalar) {
  if (!std::isfinite(any_severe_scalar) || any_severe_scalar < 0) {
    throw ValueError("any_severe_scalar must be a finite number >= 0, got " + detail::num(any_severe_scalar));
  }
  const LumbarCondition conditions[] = {LumbarCondition::kSpinal, LumbarCondition::kForaminal,
                                        LumbarCondition::kSubarticular};
  std::vector<int> labels[3];
  std::vector<std::vector<double>> probs[3];
  std::vector<double> weights[3];
  // any_severe_spinal, per study in order of first appearance.
  std::unordered_map<std::string, std::size_t> study_index;
  std::vector<double> severe_label, severe_pred, severe_weight;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const LumbarRow& r = rows[i];
    if (r.severity < 0 || r.severity > 2) {
      throw ValueError("lumbar row " + std::to_string(i + 1) + " (study " + r.study_id + "): severity " +
                       std::to_string(r.severity) + ", expected 0 (normal/mild), 1 (moderate) or 2 (severe)");
    }
    for (double p : r.probabilities) {
      if (!std::isfinite(p) || p < 0) {
        throw ValueError("lumbar row " + std::to_string(i + 1) + " (study " + r.study_id + "): probability " +
                         detail::num(p) + ", expected a finite number >= 0");
      }
    }
    auto c = static_cast<std::size_t>(r.condition);
    double weight = std::pow(2.0, r.severity);  // 1, 2, 4
    labels[c].push_back(r.severity);
    probs[c].push_back({r.probabilities[0], r.probabilities[1], r.probabilities[2]});
    weights[c].push_back(weight);
    if (r.condition == LumbarCondition::kSpinal) {
      auto [it, fresh] = study_index.emplace(r.study_id, severe_label.size());
      double label = r.severity == 2 ? 1.0 : 0.0;
      if (fresh) {
        severe_label.push_back(label);
        severe_pred.push_back(r.probabilities[2]);
        severe_weight.push_back(weight);
      } else {
        std::size_t s = it->second;
        severe_label[s] = std::max(severe_label[s], label);
        severe_pred[s] = std::max(severe_pred[s], r.probabilities[2]);
        severe_weight[s] = std::max(severe_weight[s], weight);
      }
    }
  }
  LumbarScore out;
  MetricValue* terms[] = {&out.spinal, &out.foraminal, &out.subarticular};
  for (std::size_t c = 0; c < 3; ++c) {
    *terms[c] = labels[c].empty()
                    ? MetricValue::undefined("no " + to_string(conditions[c]) + " rows")
                    : log_loss(labels[c], probs[c], weights[c]);
  }
  out.studies = severe_label.size();
  if (severe_label.empty()) {
    out.any_severe_spinal = MetricValue::undefined("no spinal rows");
  } else {
    // The competition passes the raw maximum to log_loss, which clips it to [eps, 1 - eps].
    for (double& p : severe_pred) p = std::min(p, 1.0);
    out.any_severe_spinal = binary_log_loss(severe_label, severe_pred, severe_weight);
  }
  std::string missing;
  for (const MetricValue* m : {&out.spinal, &out.foraminal, &out.subarticular, &out.any_severe_spinal}) {
    if (!m->defined()) missing += (missing.empty() ? "" : "; ") + m->reason();
  }
  if (!missing.empty()) {
    out.score = MetricValue::undefined("the score needs all four terms: " + missing);
  } else {
    double sum = out.spinal.value() + out.foraminal.value() + out.subarticular.value() +
                 any_severe_scalar * out.any_severe_spinal.value();
    out.score = MetricValue::of(sum / (3.0 + any_severe_scalar));
  }
  return out;
}

}  // namespace tomograd::eval
