#include "tomograd/eval/report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "tomograd/core/build_info.hpp"
#include "tomograd/core/csv.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/eval/binary.hpp"
#include "tomograd/eval/calibration.hpp"
#include "tomograd/eval/report_model.hpp"
#include "tomograd/eval/svg_plot.hpp"
#include "tomograd/eval/summary.hpp"

namespace fs = std::filesystem;

namespace tomograd::eval {

namespace {

std::string short_num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

bool contains(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

void training_plots(const fs::path& history_csv, std::vector<ReportPlot>& out) {
  CsvTable t = CsvTable::read(history_csv);
  if (t.num_rows() == 0) throw CsvError(history_csv.string() + ": no rows (expected one row per epoch)");
  std::string x_name = t.has_column("epoch") ? "epoch" : t.has_column("step") ? "step" : "";
  std::vector<double> x;
  if (!x_name.empty()) {
    x = t.numbers(x_name);
  } else {
    for (std::size_t r = 0; r < t.num_rows(); ++r) x.push_back(static_cast<double>(r + 1));
  }
  SvgPlot loss("Training curves: loss", x_name.empty() ? "row" : x_name, "loss");
  SvgPlot other("Training curves: metrics", x_name.empty() ? "row" : x_name, "value");
  std::size_t n_loss = 0, n_other = 0;
  for (const auto& col : t.header()) {
    if (col == x_name) continue;
    std::vector<double> y;
    try {
      y = t.numbers(col, /*allow_missing=*/true);  // validation columns may be empty on some epochs
    } catch (const CsvError&) {
      continue;  // text columns (timestamps, phases) are not curves
    }
    if (contains(col, "loss")) {
      loss.line(x, y, col);
      ++n_loss;
    } else if (contains(col, "samples") || contains(col, "per_s")) {
      // Throughput is in hundreds of samples/s: on the 0–1 metric axis it would flatten every curve.
      other.line_right(x, y, col, "samples/s");
      ++n_other;
    } else if (!contains(col, "lr") && !contains(col, "time") && !contains(col, "seconds")) {
      other.line(x, y, col);
      ++n_other;
    }
  }
  if (n_loss + n_other == 0) {
    throw CsvError(history_csv.string() + ": no numeric columns to plot (columns: " + std::to_string(t.num_cols()) + ")");
  }
  std::string caption = "From " + history_csv.filename().string() + ", one point per " + (x_name.empty() ? "row" : x_name) + ".";
  if (n_loss > 0) out.push_back({"training_loss", "Training curves: loss", loss.legend(SvgPlot::Legend::kTopRight).render(), caption});
  if (n_other > 0) out.push_back({"training_metrics", "Training curves: metrics", other.render(), caption});
}

// The reliability diagram of binary scores and of multiclass top-label confidences alike.
ReportPlot calibration_plot(const Evaluation& e, const ReliabilityCurve& rc, const std::string& x_label,
                            const std::string& y_label, std::string caption) {
  SvgPlot plot("Calibration curve", x_label, y_label);
  plot.line({0, 1}, {0, 1}, "perfect calibration", true, "#999999")
      .line(rc.mean_predicted, rc.fraction_positive, "model, ECE " + format_value(e.metrics.value("ece")), false, "#0072B2")
      .scatter(rc.mean_predicted, rc.fraction_positive, "", "#0072B2")
      .x_range(0, 1)
      .y_range(0, 1)
      .legend(SvgPlot::Legend::kTopLeft);
  return {"calibration_curve", "Calibration curve", plot.render(520, 480), std::move(caption)};
}

std::vector<double> column0(const Evaluation& e) {
  std::vector<double> s;
  for (const auto& p : e.data.y_pred) s.push_back(p[0]);
  return s;
}

void regression_plots(const Evaluation& e, std::vector<ReportPlot>& out) {
  const auto& y = e.data.y_true;
  auto p = column0(e);
  double lo = std::min(*std::min_element(y.begin(), y.end()), *std::min_element(p.begin(), p.end()));
  double hi = std::max(*std::max_element(y.begin(), y.end()), *std::max_element(p.begin(), p.end()));
  if (lo == hi) {
    lo -= 1;
    hi += 1;
  }
  double pad = (hi - lo) * 0.05;
  SvgPlot scatter("Predicted vs actual", "actual (y_true)", "predicted (y_pred)");
  scatter.scatter(y, p, "patients").line({lo - pad, hi + pad}, {lo - pad, hi + pad}, "identity", true, "#777777");
  std::string caption = "Each point is one unit (patient). Dashed: identity (perfect agreement).";
  // Least-squares line of y_pred on y_true shows systematic over- or under-estimation.
  double my = 0, mp = 0;
  for (std::size_t i = 0; i < y.size(); ++i) my += y[i], mp += p[i];
  my /= static_cast<double>(y.size());
  mp /= static_cast<double>(y.size());
  double sxy = 0, sxx = 0;
  for (std::size_t i = 0; i < y.size(); ++i) sxy += (y[i] - my) * (p[i] - mp), sxx += (y[i] - my) * (y[i] - my);
  if (sxx > 0) {
    double b = sxy / sxx, a = mp - b * my;
    scatter.line({lo - pad, hi + pad}, {a + b * (lo - pad), a + b * (hi + pad)},
                 "fit: y = " + short_num(a) + " + " + short_num(b) + " x", false, "#D55E00");
    caption += " Solid: least-squares fit.";
  } else {
    caption += " No fit line: y_true is constant.";
  }
  scatter.x_range(lo - pad, hi + pad).y_range(lo - pad, hi + pad).legend(SvgPlot::Legend::kTopLeft);
  out.push_back({"predicted_vs_actual", "Predicted vs actual", scatter.render(520, 480), caption});

  const BlandAltman& b = e.bland_altman;
  SvgPlot ba("Bland–Altman", "mean of predicted and actual", "predicted − actual");
  ba.scatter(b.means, b.differences, "patients");
  std::string ba_caption = "Differences y_pred − y_true against the pair means.";
  if (b.bias) {
    ba.hline(b.bias.value(), "bias " + short_num(b.bias.value()), false, "#D55E00");
    ba_caption += " Bias " + format_value(b.bias) + ".";
  }
  if (b.loa_low && b.loa_high) {
    ba.hline(b.loa_low.value(), "−1.96 SD " + short_num(b.loa_low.value()), true, "#777777");
    ba.hline(b.loa_high.value(), "+1.96 SD " + short_num(b.loa_high.value()), true, "#777777");
    ba_caption += " 95 % limits of agreement [" + format_value(b.loa_low) + ", " + format_value(b.loa_high) + "].";
  }
  out.push_back({"bland_altman", "Bland–Altman", ba.legend(SvgPlot::Legend::kTopRight).render(), ba_caption});

  std::vector<double> r(y.size());
  for (std::size_t i = 0; i < y.size(); ++i) r[i] = p[i] - y[i];
  double rlo = *std::min_element(r.begin(), r.end()), rhi = *std::max_element(r.begin(), r.end());
  int bins = std::clamp(static_cast<int>(std::ceil(std::sqrt(static_cast<double>(r.size())))), 5, 30);
  if (rlo == rhi) {
    rlo -= 0.5;
    rhi += 0.5;
  }
  std::vector<double> edges, counts(static_cast<std::size_t>(bins), 0);
  for (int i = 0; i <= bins; ++i) edges.push_back(rlo + (rhi - rlo) * i / bins);
  for (double v : r) {
    auto k = static_cast<std::size_t>(std::min(bins - 1, static_cast<int>((v - rlo) / (rhi - rlo) * bins)));
    counts[k] += 1;
  }
  SvgPlot hist("Residual histogram", "residual (predicted − actual)", "count");
  hist.bars(edges, counts, "residuals").vline(0.0, "zero", true, "#777777");
  out.push_back({"residual_histogram", "Residual histogram", hist.legend(SvgPlot::Legend::kTopRight).render(),
                 std::to_string(bins) + " equal-width bins."});
}

void binary_plots(const Evaluation& e, std::vector<ReportPlot>& out) {
  const auto& y = e.data.y_true;
  auto s = column0(e);
  const double t = e.options.threshold;
  BinaryCounts c = confusion_at_threshold(y, s, t);
  std::string op = "threshold " + short_num(t) + " (" + e.options.threshold_source + ")";
  bool both = c.positives() > 0 && c.negatives() > 0;
  if (both) {
    RocCurve roc = roc_curve(y, s);
    SvgPlot plot("ROC curve", "1 − specificity (false positive rate)", "sensitivity (true positive rate)");
    plot.line({0, 1}, {0, 1}, "chance", true, "#999999")
        .line(roc.fpr, roc.tpr, "ROC, AUC " + format_value(e.metrics.value("auc")), false, "#0072B2")
        .marker(1.0 - specificity(c).value(), sensitivity(c).value(), "operating point, " + op)
        .x_range(0, 1)
        .y_range(0, 1.02);
    out.push_back({"roc_curve", "ROC curve", plot.render(520, 480),
                   "Marked: the operating point at " + op + ": sensitivity " + format_value(sensitivity(c)) +
                       ", specificity " + format_value(specificity(c)) + "."});
  }
  if (c.positives() > 0) {
    PrCurve pr = precision_recall_curve(y, s);
    // Step curve: precision is constant to the left of each recall point, which is the area that
    // average precision sums.
    std::vector<double> rx = {0}, py = {pr.precision.front()};
    for (std::size_t i = 0; i < pr.recall.size(); ++i) {
      rx.push_back(pr.recall[i]);
      py.push_back(pr.precision[i]);
      if (i + 1 < pr.recall.size()) {
        rx.push_back(pr.recall[i]);
        py.push_back(pr.precision[i + 1]);
      }
    }
    double prevalence = static_cast<double>(c.positives()) / static_cast<double>(c.total());
    SvgPlot plot("Precision–recall curve", "recall (sensitivity)", "precision (PPV)");
    plot.hline(prevalence, "prevalence " + short_num(prevalence), true, "#999999")
        .line(rx, py, "PR, AP " + format_value(e.metrics.value("pr_auc")), false, "#0072B2");
    if (ppv(c)) plot.marker(sensitivity(c).value(), ppv(c).value(), "operating point, " + op);
    plot.x_range(0, 1).y_range(0, 1.02).legend(SvgPlot::Legend::kBottomLeft);
    out.push_back({"pr_curve", "Precision–recall curve", plot.render(520, 480),
                   "Marked: the operating point at " + op + ": recall " + format_value(sensitivity(c)) + ", precision " +
                       format_value(ppv(c)) + "."});
  }
  out.push_back({"confusion_matrix", "Confusion matrix",
                 confusion_matrix_svg(e.confusion, {"0 (negative)", "1 (positive)"}, "Confusion matrix"),
                 "At " + op + "; percentages are of each true class (row)."});
  bool probabilities = std::all_of(s.begin(), s.end(), [](double v) { return v >= 0 && v <= 1; });
  if (probabilities) {
    ReliabilityCurve rc = reliability_curve(y, s, e.options.calibration_bins);
    out.push_back(calibration_plot(e, rc, "mean predicted probability", "observed fraction positive",
                                   std::to_string(rc.num_bins) + " equal-width bins; empty bins are left out."));
  }
}

void multiclass_plots(const Evaluation& e, std::vector<ReportPlot>& out) {
  const auto& d = e.data;
  out.push_back({"confusion_matrix", "Confusion matrix", confusion_matrix_svg(e.confusion, d.class_names, "Confusion matrix"),
                 "Predicted class = arg-max of the probabilities; percentages are of each true class (row)."});
  SvgPlot roc("ROC curves (one-vs-rest)", "1 − specificity (false positive rate)", "sensitivity (true positive rate)");
  roc.line({0, 1}, {0, 1}, "chance", true, "#999999");
  int drawn = 0;
  for (std::size_t k = 0; k < d.class_names.size(); ++k) {
    std::vector<double> yk, sk;
    for (std::size_t i = 0; i < d.y_true.size(); ++i) {
      yk.push_back(static_cast<std::size_t>(d.y_true[i]) == k ? 1.0 : 0.0);
      sk.push_back(d.y_pred[i][k]);
    }
    if (!roc_auc(yk, sk)) continue;
    RocCurve c = roc_curve(yk, sk);
    roc.line(c.fpr, c.tpr, d.class_names[k] + ", AUC " + format_value(e.per_class[k].auc));
    ++drawn;
  }
  if (drawn > 0) {
    roc.x_range(0, 1).y_range(0, 1.02);
    out.push_back({"roc_curve", "ROC curves (one-vs-rest)", roc.render(520, 480),
                   "One curve per class present together with other classes."});
  }
  std::vector<double> correct, confidence;
  auto pred = argmax_rows(d.y_pred);
  for (std::size_t i = 0; i < d.y_true.size(); ++i) {
    double sum = 0;
    for (double v : d.y_pred[i]) sum += v;
    if (sum <= 0) return;
    confidence.push_back(std::min(1.0, d.y_pred[i][static_cast<std::size_t>(pred[i])] / sum));
    correct.push_back(pred[i] == static_cast<int>(d.y_true[i]) ? 1.0 : 0.0);
  }
  ReliabilityCurve rc = reliability_curve(correct, confidence, e.options.calibration_bins);
  out.push_back(calibration_plot(e, rc, "confidence (probability of the predicted class)", "accuracy",
                                 "Top-label calibration, " + std::to_string(rc.num_bins) +
                                     " equal-width bins of renormalized probabilities."));
}

}  // namespace

std::vector<ReportPlot> report_plots(const Evaluation& evaluation, const fs::path& history_csv) {
  std::vector<ReportPlot> out;
  if (!history_csv.empty()) training_plots(history_csv, out);
  switch (evaluation.data.task) {
    case TaskKind::kRegression: regression_plots(evaluation, out); break;
    case TaskKind::kBinary: binary_plots(evaluation, out); break;
    case TaskKind::kMulticlass: multiclass_plots(evaluation, out); break;
  }
  return out;
}

namespace {

// The per-task headline metric: the one a reader looks for first.
const char* headline_key(TaskKind task) {
  switch (task) {
    case TaskKind::kRegression: return "r2";
    case TaskKind::kBinary: return "auc";
    case TaskKind::kMulticlass: return "balanced_accuracy";
  }
  return "";
}

std::string model_kind(TaskKind task) {
  switch (task) {
    case TaskKind::kRegression: return "a regression model";
    case TaskKind::kBinary: return "a binary classifier";
    case TaskKind::kMulticlass: return "a multiclass classifier";
  }
  return "a model";
}

std::string value_text(const MetricEntry& m) {
  if (!m.value.defined()) return "undefined";
  if (!m.ci) return format_value(m.value);
  if (!m.ci->low.defined() || !m.ci->high.defined()) return format_value(m.value) + " (interval undefined)";
  return format_value(m.value) + " [" + format_value(m.ci->low) + ", " + format_value(m.ci->high) + "]";
}

ReportSection& metrics_section(const Evaluation& e, Report& r) {
  ReportSection& s = r.section("Metrics", "metrics");
  if (e.data.task == TaskKind::kBinary) {
    s.paragraph("Threshold " + short_num(e.options.threshold) + " (" + e.options.threshold_source +
                "): a unit is called positive when its score is at least the threshold.");
  }
  std::string level = e.bootstrap ? std::to_string(static_cast<int>(std::lround(100 * e.bootstrap->confidence))) + " % CI" : "CI";
  ReportTable t{{"Metric", "Key", "Value", level, "Resamples used"}, {}, {}, 2, ""};
  for (const auto& m : e.metrics.entries()) {
    std::string ci = "–", used = "–";
    if (m.ci) {
      ci = m.ci->low.defined() && m.ci->high.defined() ? format_value(m.ci->low) + " – " + format_value(m.ci->high) : "undefined";
      used = std::to_string(m.ci->resamples_used);
    }
    t.add({m.label, "`" + m.key + "`", format_value(m.value), ci, used}, m.key == headline_key(e.data.task));
  }
  s.table(std::move(t));
  if (e.bootstrap) {
    s.note("Intervals: percentile bootstrap, " + std::to_string(e.bootstrap->resamples) + " resamples of the " +
           std::to_string(e.bootstrap->units) + " patients with replacement, seed " + std::to_string(e.bootstrap->seed) +
           ". A resample in which a metric is undefined is skipped for that metric.");
  } else {
    s.note("No bootstrap intervals were computed.");
  }
  std::vector<std::string> undefined;
  for (const auto& m : e.metrics.entries()) {
    if (!m.value.defined()) undefined.push_back("`" + m.key + "`: " + m.value.reason());
  }
  if (!undefined.empty()) s.paragraph("Undefined metrics:").list(undefined);
  if (!e.warnings.empty()) s.list(e.warnings);
  return s;
}

void per_class_section(const Evaluation& e, Report& r) {
  if (e.per_class.empty()) return;
  ReportTable t{{"Class", "Precision", "Recall", "F1", "AUC (one-vs-rest)", "Support"}, {}, {}, 1, ""};
  for (const auto& c : e.per_class) {
    t.add({c.name, format_value(c.precision), format_value(c.recall), format_value(c.f1), format_value(c.auc),
           std::to_string(c.support)});
  }
  r.section("Per-class report", "per-class").table(std::move(t));
}

}  // namespace

std::string plain_summary(const Evaluation& e) {
  std::ostringstream o;
  o << "This report scores " << model_kind(e.data.task) << " on the **" << e.split_name() << "** split: "
    << e.num_patients() << " patients";
  if (e.num_rows() != e.num_patients()) o << " (" << e.num_rows() << " scored rows)";
  o << ".";
  const std::string key = headline_key(e.data.task);
  if (e.metrics.contains(key)) {
    const MetricEntry& m = e.metrics.at(key);
    o << " The headline metric, " << m.label << ", is ";
    if (!m.value.defined()) {
      o << "undefined here (" << m.value.reason() << ").";
    } else {
      o << "**" << format_value(m.value) << "**";
      if (m.ci && m.ci->low.defined() && m.ci->high.defined()) {
        o << " (" << std::lround(100 * m.ci->level) << " % confidence interval " << format_value(m.ci->low) << " to "
          << format_value(m.ci->high) << ", from resampling the patients).";
      } else if (m.ci) {
        o << "; its interval is undefined (" << m.ci->low.reason() << ").";
      } else {
        o << ", without an interval (no bootstrap resamples were asked for).";
      }
    }
  }
  if (e.data.task == TaskKind::kBinary) {
    o << " A patient counts as positive when its score is at least " << short_num(e.options.threshold)
      << " (threshold: " << e.options.threshold_source << ").";
  }
  return o.str();
}

Report evaluation_report(const Evaluation& e, const std::vector<ReportPlot>& plots, const std::string& title,
                         std::vector<ReportLink> links) {
  Report r;
  r.title = title;
  r.summary = plain_summary(e);
  std::string what = to_string(e.data.task) + " evaluation of " + std::to_string(e.num_rows()) + " units";
  if (!e.data.description.empty()) what += " (" + e.data.description + ")";
  r.meta.push_back(what + " · tomograd " + TOMOGRAD_VERSION);
  r.meta.push_back("Split: **" + e.split_name() + "**, " + std::to_string(e.num_patients()) + " patients · threshold: " +
                   e.threshold_origin() + " · intervals: " + e.interval_method());
  r.links = std::move(links);
  metrics_section(e, r);
  per_class_section(e, r);
  if (!plots.empty()) {
    ReportSection& s = r.section("Plots", "plots");
    for (const auto& p : plots) s.figure({p.name, p.title, p.svg, "", p.caption});
  }
  return r;
}

std::string report_html(const Evaluation& e, const std::vector<ReportPlot>& plots, const std::string& title) {
  return to_html(evaluation_report(e, plots, title));
}

std::vector<ReportLink> tensorboard_links(const fs::path& report_dir, const ReportOptions& options) {
  fs::path tb = options.tensorboard_dir;
  if (tb.empty() && !options.history_csv.empty()) tb = options.history_csv.parent_path() / "tensorboard";
  std::error_code ec;
  if (tb.empty() || !fs::is_directory(tb, ec)) return {};
  std::string href = fs::absolute(tb).lexically_normal().lexically_relative(fs::absolute(report_dir).lexically_normal()).generic_string();
  if (href.empty()) href = fs::absolute(tb).generic_string();
  if (href.back() != '/') href += '/';
  return {{"TensorBoard logs of the training run (open with `tensorboard --logdir` on this folder)", href}};
}
ReportFiles write_report(const fs::path& dir, const Evaluation& evaluation, const ReportOptions& options) {
  // Everything is rendered before the first write, so a bad history file leaves no half report.
  auto plots = report_plots(evaluation, options.history_csv);
  std::string html = to_html(evaluation_report(evaluation, plots, options.title, tensorboard_links(dir, options)));
  std::string json = evaluation_json(evaluation).dump(2) + "\n";
  std::string csv = predictions_csv(evaluation);
  std::string md = markdown_summary(evaluation);

  ReportFiles files;
  files.metrics_json = dir / "metrics.json";
  files.predictions_csv = dir / "predictions.csv";
  files.summary_md = dir / "summary.md";
  files.report_html = dir / "report.html";
  for (const auto& p : plots) files.plots.push_back(dir / "plots" / (p.name + ".svg"));
  std::vector<fs::path> all = {files.metrics_json, files.predictions_csv, files.summary_md, files.report_html};
  all.insert(all.end(), files.plots.begin(), files.plots.end());
  refuse_existing(all, options.overwrite);
  ensure_directory(dir);
  ensure_directory(dir / "plots");
  write_file_atomic(files.metrics_json, json, options.overwrite);
  write_file_atomic(files.predictions_csv, csv, options.overwrite);
  write_file_atomic(files.summary_md, md, options.overwrite);
  for (std::size_t i = 0; i < plots.size(); ++i) {
    write_file_atomic(files.plots[i], "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + plots[i].svg, options.overwrite);
  }
  write_file_atomic(files.report_html, html, options.overwrite);
  return files;
}

}  // namespace tomograd::eval
