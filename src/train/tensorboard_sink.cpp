// The Trainer's TensorBoard sink: history.csv's values per epoch, step losses, input previews and
// binary validation curves.
#include <algorithm>
#include <cmath>
#include <map>

#include "tomograd/core/error.hpp"
#include "tomograd/core/log.hpp"
#include "tomograd/train/tensorboard.hpp"

namespace fs = std::filesystem;

namespace tomograd::train {

namespace {

struct Canvas {
  Image8 image;
  void set(int x, int y, uint8_t r, uint8_t g, uint8_t b) {
    if (x < 0 || y < 0 || x >= image.width || y >= image.height) return;
    uint8_t* p = &image.pixels[(static_cast<std::size_t>(y) * image.width + x) * 3];
    p[0] = r, p[1] = g, p[2] = b;
  }
  // A line of about 2 pixels' width between two points in pixel coordinates.
  void line(double x0, double y0, double x1, double y1, uint8_t r, uint8_t g, uint8_t b) {
    const int n = static_cast<int>(std::ceil(std::max(std::abs(x1 - x0), std::abs(y1 - y0)))) + 1;
    for (int i = 0; i <= n; ++i) {
      const double t = static_cast<double>(i) / n;
      const int x = static_cast<int>(std::lround(x0 + t * (x1 - x0))), y = static_cast<int>(std::lround(y0 + t * (y1 - y0)));
      set(x, y, r, g, b), set(x + 1, y, r, g, b), set(x, y + 1, r, g, b);
    }
  }
};

// (x, y) points of the ROC or the precision-recall curve, thresholds at every distinct score.
std::vector<std::pair<double, double>> curve_points(const std::vector<double>& scores, const std::vector<int>& labels,
                                                    bool roc) {
  std::vector<std::size_t> order(scores.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return scores[a] > scores[b]; });
  const double pos = static_cast<double>(std::count(labels.begin(), labels.end(), 1));
  const double neg = static_cast<double>(labels.size()) - pos;
  std::vector<std::pair<double, double>> pts;
  if (roc) pts.emplace_back(0.0, 0.0);
  double tp = 0, fp = 0;
  for (std::size_t k = 0; k < order.size(); ++k) {
    (labels[order[k]] == 1 ? tp : fp) += 1;
    if (k + 1 < order.size() && scores[order[k + 1]] == scores[order[k]]) continue;  // ties: one threshold
    if (roc) pts.emplace_back(fp / neg, tp / pos);
    else pts.emplace_back(tp / pos, tp / (tp + fp));
  }
  if (!roc && !pts.empty()) pts.insert(pts.begin(), {0.0, pts.front().second});
  return pts;
}

// The channel or slice a person would look at: the centre one.
torch::Tensor preview_plane(const torch::Tensor& input) {
  torch::Tensor t = input.detach().to(torch::kCPU, torch::kFloat32);
  if (t.dim() == 4) t = t[0][t.size(1) / 2];          // [C,D,H,W]: first channel, centre slice
  else if (t.dim() == 3) t = t[t.size(0) / 2];        // [C,H,W]: centre channel (2.5D stacks)
  return t;
}

}  // namespace

Image8 curve_image(const std::vector<double>& scores, const std::vector<int>& labels, bool roc, int size) {
  const auto pos = std::count(labels.begin(), labels.end(), 1);
  if (scores.size() != labels.size() || pos == 0 || pos == static_cast<long>(labels.size())) return {};
  Canvas c{{size, size, 3, std::vector<uint8_t>(static_cast<std::size_t>(size) * size * 3, 255)}};
  const double m = 8, span = size - 2 * m;
  auto px = [&](double v) { return m + v * span; };
  auto py = [&](double v) { return size - m - v * span; };
  for (auto [a, b, e, f] : {std::array<double, 4>{0, 0, 1, 0}, {1, 0, 1, 1}, {1, 1, 0, 1}, {0, 1, 0, 0}}) {
    c.line(px(a), py(b), px(e), py(f), 120, 120, 120);
  }
  const double chance = roc ? 0.0 : static_cast<double>(pos) / static_cast<double>(labels.size());
  if (roc) c.line(px(0), py(0), px(1), py(1), 190, 190, 190);
  else c.line(px(0), py(chance), px(1), py(chance), 190, 190, 190);
  const auto pts = curve_points(scores, labels, roc);
  for (std::size_t i = 1; i < pts.size(); ++i) {
    c.line(px(pts[i - 1].first), py(pts[i - 1].second), px(pts[i].first), py(pts[i].second), 0, 114, 178);
  }
  return c.image;
}

TensorBoardSink::TensorBoardSink(const fs::path& dir, const torch::optim::Optimizer* optimizer,
                                 std::vector<std::string> group_names)
    : writer_(dir), optimizer_(optimizer), group_names_(std::move(group_names)) {}

void TensorBoardSink::on_start(const Dataset& train) {
  const std::size_t n = std::min<std::size_t>(4, train.size());
  for (std::size_t k = 0; k < n; ++k) {
    const std::size_t index = k * train.size() / n;
    const torch::Tensor plane = preview_plane(train.get(index, 0).input);
    if (plane.dim() == 2) writer_.image("inputs/sample_" + std::to_string(k), to_image8(plane), 0);
  }
  writer_.flush();
}

void TensorBoardSink::on_step(const StepRecord& step) { writer_.scalar("train/step_loss", step.loss, step.global_step); }

PatientScores patient_max_scores(const std::vector<double>& scores, const std::vector<int>& labels,
                                 const std::vector<std::string>& patient_ids) {
  if (scores.size() != labels.size() || scores.size() != patient_ids.size()) {
    throw ValueError("patient_max_scores: " + std::to_string(scores.size()) + " scores, " +
                     std::to_string(labels.size()) + " labels and " + std::to_string(patient_ids.size()) +
                     " patient IDs; expected one of each per sample");
  }
  std::map<std::string, std::size_t> row_of;
  PatientScores out;
  for (std::size_t i = 0; i < scores.size(); ++i) {
    const auto [it, added] = row_of.emplace(patient_ids[i], out.scores.size());
    if (added) {
      out.scores.push_back(scores[i]);
      out.labels.push_back(labels[i]);
      out.patient_ids.push_back(patient_ids[i]);
    } else {
      out.scores[it->second] = std::max(out.scores[it->second], scores[i]);
      out.labels[it->second] = std::max(out.labels[it->second], labels[i]);
    }
  }
  return out;
}

void TensorBoardSink::on_validation(int epoch, const EvalOutputs& out) {
  if (!out.outputs.defined() || !out.targets.defined() || out.outputs.numel() != out.targets.numel()) return;
  const torch::Tensor logits = out.outputs.reshape({-1}).to(torch::kFloat64);
  const torch::Tensor targets = out.targets.reshape({-1}).to(torch::kFloat64);
  if (!torch::logical_or(targets == 0, targets == 1).all().item<bool>()) return;  // not a binary task
  const torch::Tensor p = torch::sigmoid(logits).contiguous(), t = targets.contiguous();
  std::vector<double> scores(p.data_ptr<double>(), p.data_ptr<double>() + p.numel());
  std::vector<int> labels;
  for (int64_t i = 0; i < t.numel(); ++i) labels.push_back(static_cast<int>(t.data_ptr<double>()[i]));
  const Image8 roc = curve_image(scores, labels, true), pr = curve_image(scores, labels, false);
  if (!roc.pixels.empty()) writer_.image("val/roc_curve", roc, epoch);
  if (!pr.pixels.empty()) writer_.image("val/pr_curve", pr, epoch);
  // Several samples of one patient (slices of a study): the curves of the patients too, each
  // patient scored by its highest sample, as a MAX-pooling task (metastasis) scores patients.
  if (out.patient_ids.size() != scores.size()) return;
  const PatientScores patients = patient_max_scores(scores, labels, out.patient_ids);
  if (patients.scores.size() == scores.size()) return;  // one sample per patient: the curves above
  const Image8 proc = curve_image(patients.scores, patients.labels, true);
  const Image8 ppr = curve_image(patients.scores, patients.labels, false);
  if (!proc.pixels.empty()) writer_.image("val/roc_curve_patient_max", proc, epoch);
  if (!ppr.pixels.empty()) writer_.image("val/pr_curve_patient_max", ppr, epoch);
}

void TensorBoardSink::on_epoch(const EpochRecord& r) {
  const int64_t step = r.epoch;
  writer_.scalar("epoch/train_loss", r.train_loss, step);
  if (std::isfinite(r.val_loss)) writer_.scalar("epoch/val_loss", r.val_loss, step);
  for (const auto& [name, value] : r.metrics) {
    if (name != "train_loss" && name != "val_loss") writer_.scalar("epoch/" + name, value, step);
  }
  writer_.scalar("epoch/lr", r.lr, step);
  writer_.scalar("epoch/samples_per_s", r.samples_per_s, step);
  writer_.scalar("epoch/data_wait", r.data_wait, step);
  if (optimizer_ != nullptr) {
    const auto lrs = get_lrs(*optimizer_);
    for (std::size_t g = 0; g < lrs.size(); ++g) {
      const std::string name = g < group_names_.size() ? group_names_[g] : "group" + std::to_string(g);
      if (!optimizer_->param_groups()[g].params().empty()) writer_.scalar("lr/" + name, lrs[g], step);
    }
  }
  writer_.flush();
}

}  // namespace tomograd::train
