#include "tomograd/eval/summary.hpp"

#include <charconv>
#include <cstdio>
#include <iomanip>
#include <sstream>

#include "tomograd/core/csv.hpp"
#include "tomograd/eval/report.hpp"

namespace tomograd::eval {

namespace {

// Shortest text that reads back as the same double.
std::string exact(double v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

nlohmann::json number_or_null(const MetricValue& v) { return v.defined() ? nlohmann::json(v.value()) : nlohmann::json(); }

std::string percent_level(double confidence) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g%%", 100.0 * confidence);
  return buf;
}

std::string interval_text(const MetricEntry& m) {
  if (!m.ci) return "";
  if (!m.ci->low.defined() || !m.ci->high.defined()) return "undefined";
  return "[" + format_value(m.ci->low) + ", " + format_value(m.ci->high) + "]";
}

// Pads to @p width columns counting UTF-8 code points (labels hold R², ρ, –), not bytes.
std::string pad(const std::string& s, std::size_t width) {
  std::size_t columns = 0;
  for (unsigned char c : s) columns += (c & 0xC0) != 0x80;
  return columns >= width ? s + " " : s + std::string(width - columns, ' ');
}

std::string class_name(const Evaluation& e, std::size_t c) {
  if (e.data.task == TaskKind::kBinary) return c == 0 ? "0 (negative)" : "1 (positive)";
  return c < e.data.class_names.size() ? e.data.class_names[c] : std::to_string(c);
}

std::string header_line(const Evaluation& e) {
  std::ostringstream o;
  o << to_string(e.data.task) << " evaluation of " << e.num_rows() << " units";
  if (!e.data.description.empty()) o << " (" << e.data.description << ")";
  return o.str();
}

std::string split_line(const Evaluation& e) {
  return "split: " + e.split_name() + ", " + std::to_string(e.num_patients()) + " patients";
}

std::string bootstrap_line(const Evaluation& e) {
  if (!e.bootstrap) return "no bootstrap intervals (--bootstrap 0)";
  std::ostringstream o;
  o << "bootstrap: " << e.bootstrap->resamples << " resamples of " << e.bootstrap->units
    << " patients with replacement, seed " << e.bootstrap->seed << ", " << percent_level(e.bootstrap->confidence)
    << " percentile intervals";
  return o.str();
}

}  // namespace

std::string format_value(const MetricValue& value) {
  if (!value.defined()) return "undefined";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", value.value());
  return buf;
}

nlohmann::json evaluation_json(const Evaluation& e) {
  nlohmann::json j;
  j["task"] = to_string(e.data.task);
  j["n"] = e.num_rows();
  j["split"] = e.split_name();
  j["n_patients"] = e.num_patients();
  if (!e.data.description.empty()) j["description"] = e.data.description;
  if (e.data.task == TaskKind::kBinary) j["threshold"] = e.options.threshold;
  j["threshold_source"] = e.threshold_origin();
  j["interval_method"] = e.interval_method();
  nlohmann::json undefined = nlohmann::json::object();
  nlohmann::json used = nlohmann::json::object();
  for (const auto& m : e.metrics.entries()) {
    j[m.key] = number_or_null(m.value);
    if (!m.value.defined()) undefined[m.key] = m.value.reason();
    if (m.ci) {
      j[m.key + "_ci_low"] = number_or_null(m.ci->low);
      j[m.key + "_ci_high"] = number_or_null(m.ci->high);
      if (!m.ci->low.defined()) undefined[m.key + "_ci"] = m.ci->low.reason();
      used[m.key] = m.ci->resamples_used;
    }
  }
  j["undefined"] = undefined;
  if (e.bootstrap) {
    j["bootstrap"] = {{"resamples", e.bootstrap->resamples},
                      {"seed", e.bootstrap->seed},
                      {"confidence", e.bootstrap->confidence},
                      {"units", e.bootstrap->units},
                      {"method", "percentile; patients resampled with replacement"},
                      {"resamples_used", used}};
  } else {
    j["bootstrap"] = nullptr;
  }
  if (!e.confusion.empty()) {
    j["confusion_matrix"] = e.confusion;
    nlohmann::json labels = nlohmann::json::array();
    for (std::size_t c = 0; c < e.confusion.size(); ++c) {
      labels.push_back(e.data.task == TaskKind::kBinary ? std::to_string(c) : class_name(e, c));
    }
    j["confusion_matrix_labels"] = labels;
  }
  if (e.data.task == TaskKind::kMulticlass) {
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& c : e.per_class) {
      rows.push_back({{"class", c.name},
                      {"precision", number_or_null(c.precision)},
                      {"recall", number_or_null(c.recall)},
                      {"f1", number_or_null(c.f1)},
                      {"auc", number_or_null(c.auc)},
                      {"support", c.support}});
    }
    j["per_class"] = rows;
  }
  if (e.data.task == TaskKind::kRegression) {
    j["bland_altman"] = {{"bias", number_or_null(e.bland_altman.bias)},
                         {"sd", number_or_null(e.bland_altman.sd)},
                         {"loa_low", number_or_null(e.bland_altman.loa_low)},
                         {"loa_high", number_or_null(e.bland_altman.loa_high)},
                         {"difference", "y_pred - y_true"}};
  }
  j["warnings"] = e.warnings;
  return j;
}

std::string format_text(const Evaluation& e) {
  std::ostringstream o;
  o << header_line(e) << "\n" << split_line(e) << "\n";
  if (e.data.task == TaskKind::kBinary) {
    o << "threshold " << e.options.threshold << " (" << e.options.threshold_source << "); positive when score >= threshold\n";
  } else {
    o << "threshold: " << e.threshold_origin() << "\n";
  }
  o << bootstrap_line(e) << "\n\n";
  std::string ci_head = e.bootstrap ? percent_level(e.bootstrap->confidence) + " CI" : "";
  o << std::left << pad("metric", 48) << std::setw(12) << "value" << ci_head << "\n";
  for (const auto& m : e.metrics.entries()) {
    o << pad(m.label + " (" + m.key + ")", 48) << std::setw(12) << format_value(m.value) << interval_text(m);
    if (m.ci && m.ci->resamples_skipped > 0 && m.value.defined()) {
      o << "  (" << m.ci->resamples_used << "/" << (m.ci->resamples_used + m.ci->resamples_skipped) << " resamples)";
    }
    o << "\n";
  }
  if (!e.confusion.empty()) {
    o << "\nconfusion matrix (rows: true, columns: predicted)\n";
    std::size_t w = 10;
    for (std::size_t c = 0; c < e.confusion.size(); ++c) w = std::max(w, class_name(e, c).size() + 2);
    o << std::setw(static_cast<int>(w)) << "";
    for (std::size_t c = 0; c < e.confusion.size(); ++c) o << std::setw(static_cast<int>(w)) << class_name(e, c);
    o << "\n";
    for (std::size_t r = 0; r < e.confusion.size(); ++r) {
      o << std::setw(static_cast<int>(w)) << class_name(e, r);
      for (int64_t v : e.confusion[r]) o << std::setw(static_cast<int>(w)) << v;
      o << "\n";
    }
  }
  if (!e.per_class.empty()) {
    o << "\n" << std::setw(20) << "class" << std::setw(12) << "precision" << std::setw(12) << "recall" << std::setw(12)
      << "f1" << std::setw(12) << "auc" << "support\n";
    for (const auto& c : e.per_class) {
      o << std::setw(20) << c.name << std::setw(12) << format_value(c.precision) << std::setw(12) << format_value(c.recall)
        << std::setw(12) << format_value(c.f1) << std::setw(12) << format_value(c.auc) << c.support << "\n";
    }
  }
  if (e.data.task == TaskKind::kRegression) {
    o << "\nBland–Altman (y_pred - y_true): bias " << format_value(e.bland_altman.bias) << ", SD "
      << format_value(e.bland_altman.sd) << ", 95% limits of agreement [" << format_value(e.bland_altman.loa_low) << ", "
      << format_value(e.bland_altman.loa_high) << "]\n";
  }
  bool any_undefined = false;
  for (const auto& m : e.metrics.entries()) {
    if (m.value.defined() && (!m.ci || m.ci->low.defined())) continue;
    if (!any_undefined) o << "\nundefined:\n";
    any_undefined = true;
    if (!m.value.defined()) o << "  " << m.key << ": " << m.value.reason() << "\n";
    else o << "  " << m.key << " interval: " << m.ci->low.reason() << "\n";
  }
  for (const auto& w : e.warnings) o << "warning: " << w << "\n";
  return o.str();
}

std::string markdown_summary(const Evaluation& e) {
  std::ostringstream o;
  o << "# Evaluation summary\n\n" << plain_summary(e) << "\n\n";
  o << "- " << header_line(e) << "\n";
  o << "- Split: " << e.split_name() << " (" << e.num_patients() << " patients)\n";
  if (e.data.task == TaskKind::kBinary) {
    o << "- Threshold: " << e.options.threshold << " (" << e.options.threshold_source << "); positive when score >= threshold\n";
  } else {
    o << "- Threshold: " << e.threshold_origin() << "\n";
  }
  o << "- Intervals: " << e.interval_method() << "\n\n";
  std::string ci_head = e.bootstrap ? percent_level(e.bootstrap->confidence) + " CI" : "CI";
  o << "| Metric | Key | Value | " << ci_head << " | Resamples used |\n|---|---|---:|---|---:|\n";
  for (const auto& m : e.metrics.entries()) {
    o << "| " << m.label << " | `" << m.key << "` | " << format_value(m.value) << " | "
      << (m.ci ? interval_text(m) : "–") << " | " << (m.ci ? std::to_string(m.ci->resamples_used) : "–") << " |\n";
  }
  if (!e.confusion.empty()) {
    o << "\n## Confusion matrix\n\nRows: true class; columns: predicted class.\n\n| true \\ predicted |";
    for (std::size_t c = 0; c < e.confusion.size(); ++c) o << " " << class_name(e, c) << " |";
    o << "\n|---|";
    for (std::size_t c = 0; c < e.confusion.size(); ++c) o << "---:|";
    o << "\n";
    for (std::size_t r = 0; r < e.confusion.size(); ++r) {
      o << "| " << class_name(e, r) << " |";
      for (int64_t v : e.confusion[r]) o << " " << v << " |";
      o << "\n";
    }
  }
  if (!e.per_class.empty()) {
    o << "\n## Per-class report\n\n| Class | Precision | Recall | F1 | AUC (one-vs-rest) | Support |\n|---|---:|---:|---:|---:|---:|\n";
    for (const auto& c : e.per_class) {
      o << "| " << c.name << " | " << format_value(c.precision) << " | " << format_value(c.recall) << " | "
        << format_value(c.f1) << " | " << format_value(c.auc) << " | " << c.support << " |\n";
    }
  }
  std::string undefined;
  for (const auto& m : e.metrics.entries()) {
    if (!m.value.defined()) undefined += "- `" + m.key + "`: " + m.value.reason() + "\n";
    else if (m.ci && !m.ci->low.defined()) undefined += "- `" + m.key + "` interval: " + m.ci->low.reason() + "\n";
  }
  if (!undefined.empty()) o << "\n## Undefined\n\n" << undefined;
  if (!e.warnings.empty()) {
    o << "\n## Warnings\n\n";
    for (const auto& w : e.warnings) o << "- " << w << "\n";
  }
  return o.str();
}

std::string predictions_csv(const Evaluation& e) {
  const auto& d = e.data;
  std::vector<std::string> header = {"id", "y_true"};
  for (const auto& n : d.pred_names) header.push_back(n);
  header.push_back(d.task == TaskKind::kRegression ? "residual" : "predicted");
  CsvTable t(header, {});
  std::vector<int> argmax;
  if (d.task == TaskKind::kMulticlass) argmax = argmax_rows(d.y_pred);
  for (std::size_t r = 0; r < d.y_true.size(); ++r) {
    std::vector<std::string> row = {e.row_name(r), exact(d.y_true[r])};
    for (double v : d.y_pred[r]) row.push_back(exact(v));
    switch (d.task) {
      case TaskKind::kRegression: row.push_back(exact(d.y_pred[r][0] - d.y_true[r])); break;
      case TaskKind::kBinary: row.push_back(d.y_pred[r][0] >= e.options.threshold ? "1" : "0"); break;
      case TaskKind::kMulticlass: row.push_back(d.class_names[static_cast<std::size_t>(argmax[r])]); break;
    }
    t.add_row(std::move(row));
  }
  return t.to_string();
}

}  // namespace tomograd::eval
