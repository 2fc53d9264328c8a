// Metastasis evaluation: patient level vs slice level at the stored threshold, and the
// highest-scoring slices with Grad-CAM overlays.
#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <array>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <tuple>

#include "metastasis_impl.hpp"
#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/core/log.hpp"
#include "tomograd/eval/evaluation.hpp"
#include "tomograd/eval/report.hpp"
#include "tomograd/eval/report_model.hpp"
#include "tomograd/models/cam.hpp"
#include "tomograd/train/distributed.hpp"
#include "tomograd/train/sharded.hpp"

namespace tomograd::tasks::metastasis {
namespace fs = std::filesystem;
using detail::num;

namespace {

/// Grad-CAM of the slice logit, [h,w] on the CPU; for a model without spatial feature maps (such
/// as SimpleCNN) an all-zero map, said once in @p section.
torch::Tensor slice_cam(models::Model& model, const torch::Tensor& x, eval::ReportSection& section, bool& cam_ok) {
  if (cam_ok) {
    try {
      return models::grad_cam(model, x, 0)[0].to(torch::kCPU);
    } catch (const ValueError& e) {
      cam_ok = false;
      section.paragraph(std::string("No Grad-CAM for this model (") + e.what() +
                        "): the right-hand panels carry no heat map.");
    }
  }
  return torch::zeros({x.size(2), x.size(3)});
}


/// The slice (min-max scaled to grey) beside the same slice with the Grad-CAM heat map blended in.
std::vector<uchar> cam_png(const torch::Tensor& slice, const torch::Tensor& cam) {
  torch::Tensor s = slice.to(torch::kFloat32).contiguous();
  const float lo = s.min().item<float>(), hi = s.max().item<float>();
  s = ((s - lo) / std::max(hi - lo, 1e-6f) * 255.0f).clamp(0, 255).to(torch::kUInt8).contiguous();
  torch::Tensor c = (cam.to(torch::kFloat32) * 255.0f).clamp(0, 255).to(torch::kUInt8).contiguous();
  const int h = static_cast<int>(s.size(0)), w = static_cast<int>(s.size(1));
  cv::Mat grey(h, w, CV_8UC1, s.data_ptr<uint8_t>());
  cv::Mat heat(h, w, CV_8UC1, c.data_ptr<uint8_t>());
  cv::Mat grey3, heat3, blend, both;
  cv::cvtColor(grey, grey3, cv::COLOR_GRAY2BGR);
  cv::applyColorMap(heat, heat3, cv::COLORMAP_JET);
  cv::addWeighted(grey3, 0.6, heat3, 0.4, 0.0, blend);
  cv::hconcat(grey3, blend, both);
  if (both.rows < 192) cv::resize(both, both, cv::Size(), 192.0 / both.rows, 192.0 / both.rows, cv::INTER_NEAREST);
  std::vector<uchar> png;
  cv::imencode(".png", both, png);
  return png;
}

/// The patients to evaluate (@p name: a split of the run, "" for its default, or "external" with
/// @p data), and what the run's splits say about them.
struct Selection {
  std::vector<Patient> patients;
  std::string name;
  std::size_t n_val = 0;
  bool has_test = false;
};

Selection select_patients(const detail::Loaded& l, const fs::path& run, const std::string& split, const fs::path& data) {
  Selection sel;
  sel.name = split;
  std::vector<std::string> problems;
  if (fs::is_regular_file(run / "splits.csv")) {
    for (const auto& p : detail::read_splits(run / "splits.csv")) {
      sel.n_val += p.split == "val";
      sel.has_test = sel.has_test || p.split == "test";
    }
  }
  std::string& name = sel.name;
  if (!data.empty()) {
    DataOptions d = l.config.data;
    d.dir = fs::absolute(data).string();
    sel.patients = scan_data(d, true, problems);
    detail::handle_problems(data.string(), problems, l.config.data.skip_bad);
    name = "external";
    return sel;
  }
  if (name.empty()) {
    name = sel.has_test ? "test" : "val";
    if (!sel.has_test) {
      logger()->warn("{}: the run has no held-out test patients (trained with data.test = 0): evaluating the "
                     "validation patients, on which the threshold and the best checkpoint were chosen",
                     run.string());
    }
  }
  if (name != "train" && name != "val" && name != "test" && name != "all") {
    throw ValueError("--split must be train, val, test or all (or pass --data DIR), got '" + name + "'");
  }
  for (const auto& p : detail::read_splits(run / "splits.csv")) {
    if (name == "all" || p.split == name) sel.patients.push_back(p);
  }
  return sel;
}

/// Where the threshold comes from, said plainly: a threshold tuned on the patients it is then
/// applied to makes sensitivity, specificity and F1 look better than they are.
std::string threshold_origin(const detail::Loaded& l, const Selection& sel) {
  const std::string& name = sel.name;
  const std::size_t n_val = sel.n_val;
  const bool has_test = sel.has_test;
  const std::string rule = l.config.eval.threshold;
  const std::string chosen = "threshold " + num(l.threshold) + " chosen by " + rule + " on the " + std::to_string(n_val) +
                             " validation patients (stored in the checkpoint)";
  std::string origin;
  if (name == "test") {
    origin = chosen + "; these held-out test patients took no part in training, the threshold or the checkpoint";
  } else if (name == "val") {
    origin = "threshold " + num(l.threshold) + " (" + rule + ") and the best checkpoint were tuned on these same " +
             std::to_string(n_val) + " validation patients: an optimistic estimate" +
             (has_test ? " (the held-out test split gives the honest one)"
                       : " (the run has no held-out test split; train with data.test > 0 for one)");
  } else if (name == "train") {
    origin = chosen + "; these are the training patients: an optimistic estimate";
  } else if (name == "all") {
    origin = chosen + "; these patients include the training and validation patients: an optimistic estimate";
  } else {
    origin = chosen + " of the run; these external patients took no part in training";
  }
  return origin;
}

/// Patient-level and slice-level evaluations of @p scores.
std::pair<eval::Evaluation, eval::Evaluation> evaluate_levels(const std::vector<PatientScore>& scores,
                                                              const detail::Loaded& l, const std::string& name,
                                                              const std::string& origin) {
  // Patient level: the honest number (one decision per patient, as used clinically).
  eval::EvaluationData pd;
  pd.task = eval::TaskKind::kBinary;
  pd.split = name;
  eval::EvaluationData sd = pd;  // slice level: every slice labelled with its patient's label
  for (const auto& s : scores) {
    pd.ids.push_back(s.patient_id);
    pd.y_true.push_back(s.label);
    pd.y_pred.push_back({s.probability});
    for (const auto& [z, p] : s.slice_probabilities) {
      sd.ids.push_back(s.patient_id + ":" + std::to_string(z));
      sd.y_true.push_back(s.label);
      sd.y_pred.push_back({p});
      sd.bootstrap_groups.push_back(s.patient_id);
    }
  }
  pd.pred_names = sd.pred_names = {"probability"};
  pd.description = "patients of '" + name + "': probability = sigmoid(max slice logit)";
  sd.description = "every scored slice, labelled with its patient's label (intervals resample patients)";
  eval::EvaluationOptions eo;
  eo.threshold = l.threshold;
  eo.threshold_source = origin;
  eo.bootstrap.resamples = l.config.eval.bootstrap;
  eval::Evaluation pe = eval::evaluate(std::move(pd), eo);
  eval::Evaluation se = eval::evaluate(std::move(sd), eo);
  return {std::move(pe), std::move(se)};
}

using SideBySide = std::vector<std::array<std::string, 3>>;

/// Slice vs patient level side by side: slice_vs_patient.md and slice_metrics.json in @p dir;
/// returns the rows (metric, patient level, slice level) for the HTML report.
SideBySide write_slice_vs_patient(const fs::path& dir, const eval::Evaluation& pe, const eval::Evaluation& se,
                                  const std::string& name, const std::string& origin, double threshold, bool force) {
  auto fmt = [](const eval::MetricEntry& m) {
    std::string s = m.value.defined() ? num(m.value.value()) : "n/a";
    if (m.ci && m.ci->low.defined() && m.ci->high.defined()) {
      s += " [" + num(m.ci->low.value()) + ", " + num(m.ci->high.value()) + "]";
    }
    return s;
  };
  SideBySide side_by_side;
  nlohmann::json sj;
  for (const char* k : {"auc", "f1", "sensitivity", "specificity", "accuracy", "balanced_accuracy"}) {
    const auto& a = pe.metrics.at(k);
    const auto& b = se.metrics.at(k);
    side_by_side.push_back({a.label, fmt(a), fmt(b)});
    sj[k] = b.value.defined() ? nlohmann::json(b.value.value()) : nlohmann::json(nullptr);
    if (b.ci) {
      sj[std::string(k) + "_ci_low"] = b.ci->low.defined() ? nlohmann::json(b.ci->low.value()) : nlohmann::json(nullptr);
      sj[std::string(k) + "_ci_high"] = b.ci->high.defined() ? nlohmann::json(b.ci->high.value()) : nlohmann::json(nullptr);
    }
  }
  sj["split"] = name;
  sj["n_patients"] = se.num_patients();
  sj["n_slices"] = se.num_rows();
  sj["threshold"] = threshold;
  sj["threshold_source"] = origin;
  sj["interval_method"] = se.interval_method();
  std::ostringstream cmp;
  cmp << "| metric | patient level (n=" << pe.num_rows() << ") | slice level (n=" << se.num_rows() << ") |\n|---|---|---|\n";
  for (const auto& r : side_by_side) cmp << "| " << r[0] << " | " << r[1] << " | " << r[2] << " |\n";
  const Overwrite ow = force ? Overwrite::kAllow : Overwrite::kNever;
  write_file_atomic(dir / "slice_vs_patient.md",
                    "# Patient level vs slice level (same threshold " + num(threshold) + ")\n\n- Split: " + name +
                        " (" + std::to_string(pe.num_rows()) + " patients)\n- Threshold: " + origin +
                        "\n- Intervals: " + pe.interval_method() + "\n\n" + cmp.str(),
                    ow);
  write_file_atomic(dir / "slice_metrics.json", sj.dump(2) + "\n", ow);
  return side_by_side;
}

/// The loaded study of a scored patient, by patient id.
using StudyLookup = std::function<const SliceStudy&(const std::string&)>;

/// The studies of @p patients by id: those this process loaded (@p own), the others (scored by
/// another rank of a data-parallel job) loaded again on first use, through the preprocessing cache.
StudyLookup study_lookup(const detail::Loaded& l, const std::vector<Patient>& patients,
                         const std::vector<SliceStudy>& own) {
  auto loaded = std::make_shared<std::map<std::string, SliceStudy>>();
  return [&l, &patients, &own, loaded](const std::string& id) -> const SliceStudy& {
    for (const auto& s : own) {
      if (s.patient_id == id) return s;
    }
    if (auto it = loaded->find(id); it != loaded->end()) return it->second;
    const auto p = std::find_if(patients.begin(), patients.end(), [&](const Patient& q) { return q.patient_id == id; });
    std::vector<std::string> problems;
    auto studies = p == patients.end() ? std::vector<SliceStudy>{} : detail::load_studies(l.config, {*p}, problems);
    if (studies.empty()) throw IoError("patient " + id + ": its study could not be loaded again for the report");
    return loaded->emplace(id, std::move(studies.front())).first->second;
  };
}

/// The report's own sections: patient vs slice level, and the highest-scoring slices with their
/// Grad-CAM overlays (also saved as PNGs in @p dir/top_slices).
void add_slice_sections(eval::Report& report, const fs::path& dir, detail::Loaded& l, const StudyLookup& study_of,
                        const std::vector<PatientScore>& scores, const SideBySide& side_by_side) {
  eval::ReportTable table;
  table.header = {"metric", "patient level", "slice level"};
  for (const auto& r : side_by_side) table.add({r[0], r[1], r[2]});
  report.section("Patient level vs slice level")
      .paragraph("The same threshold applied to each slice on its own inflates the number of decisions and mixes "
                 "easy slices with the few that carry a lesion; the patient-level numbers are the ones that match a "
                 "clinical read.")
      .table(table);
  std::vector<std::tuple<double, std::size_t, int>> top;  // probability, study, slice
  for (std::size_t i = 0; i < scores.size(); ++i) {
    for (const auto& [z, p] : scores[i].slice_probabilities) top.emplace_back(p, i, z);
  }
  std::sort(top.begin(), top.end(), [](const auto& a, const auto& b) { return std::get<0>(a) > std::get<0>(b); });
  top.resize(std::min<std::size_t>(top.size(), static_cast<std::size_t>(l.config.eval.top_slices)));
  auto& section = report.section("Highest-scoring slices (Grad-CAM)");
  bool cam_ok = true;
  section.paragraph("Left: the preprocessed slice; right: Grad-CAM of the slice logit (red = regions that raised it).");
  fs::create_directories(dir / "top_slices");
  for (std::size_t k = 0; k < top.size(); ++k) {
    const auto& [p, i, z] = top[k];
    const SliceStudy& st = study_of(scores[i].patient_id);
    const torch::Tensor x = preprocess::stack_slices(st.data, z, l.config.prep.slices.context,
                                                     l.config.prep.slices.step)
                                .unsqueeze(0)
                                .to(l.device);
    const int64_t centre_channel = l.config.prep.slices.context;  // the centre slice of the first window
    const torch::Tensor cam = slice_cam(*l.model, x, section, cam_ok);
    const auto png = cam_png(x[0][centre_channel].to(torch::kCPU), cam);
    const std::string name = std::to_string(k + 1) + "_" + st.patient_id + "_slice" + std::to_string(z);
    const std::string bytes(png.begin(), png.end());
    write_file_atomic(dir / "top_slices" / (name + ".png"), bytes, Overwrite::kAllow);
    section.figure({name, st.patient_id + " slice " + std::to_string(z), "", bytes,
                    "p = " + num(p) + ", label " + std::to_string(st.cls)});
  }
}

}  // namespace

fs::path evaluate_run(const fs::path& run, const std::string& split, const fs::path& data, const std::string& checkpoint,
                      bool force, const std::string& device) {
  detail::Loaded l = detail::load_run(run, checkpoint, device);
  const Selection sel = select_patients(l, run, split, data);
  if (sel.patients.empty()) throw ValueError(run.string() + ": no patients to evaluate in '" + sel.name + "'");
  // In a data-parallel job each rank loads and scores a contiguous share of the patients; every
  // rank gets all scores in the one-process order, and rank 0 alone writes the evaluation.
  std::vector<SliceStudy> studies;
  const auto scores = train::shard_and_gather<PatientScore>(sel.patients.size(), l.device, [&](std::size_t b, std::size_t e) {
    const std::vector<Patient> share(sel.patients.begin() + static_cast<std::ptrdiff_t>(b),
                                     sel.patients.begin() + static_cast<std::ptrdiff_t>(e));
    std::vector<std::string> problems;
    studies = detail::load_studies(l.config, share, problems);
    detail::handle_problems(run.string(), problems, l.config.data.skip_bad);
    return detail::score(l, studies);
  });
  const fs::path dir = run / "eval" / sel.name;
  train::run_on_main_process([&] {
    const std::string origin = threshold_origin(l, sel);
    const auto [pe, se] = evaluate_levels(scores, l, sel.name, origin);
    eval::ReportOptions ro;
    ro.title = "Metastasis " + l.config.model.arch + " — " + sel.name + " patients";
    if (fs::exists(run / "history.csv")) ro.history_csv = run / "history.csv";
    ro.overwrite = force ? Overwrite::kAllow : Overwrite::kNever;
    const auto files = eval::write_report(dir, pe, ro);
    const SideBySide rows = write_slice_vs_patient(dir, pe, se, sel.name, origin, l.threshold, force);
    // The standard report of the patient-level evaluation, with this task's sections added.
    eval::Report report =
        eval::evaluation_report(pe, eval::report_plots(pe, ro.history_csv), ro.title, eval::tensorboard_links(dir, ro));
    add_slice_sections(report, dir, l, study_lookup(l, sel.patients, studies), scores, rows);
    write_file_atomic(files.report_html, eval::to_html(report), Overwrite::kAllow);
  });
  return dir;
}

}  // namespace tomograd::tasks::metastasis
