// Metastasis training (patient-level MAX pooling, curriculum, validation threshold), inference
// and evaluation (patient vs slice level, Grad-CAM of the top slices).
#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <iostream>
#include <map>
#include <sstream>

#include "metastasis_impl.hpp"
#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/core/log.hpp"
#include "tomograd/core/progress.hpp"
#include "tomograd/core/random.hpp"
#include "tomograd/eval/binary.hpp"
#include "tomograd/eval/evaluation.hpp"
#include "tomograd/eval/report.hpp"
#include "tomograd/eval/threshold.hpp"
#include "tomograd/models/cam.hpp"
#include "tomograd/models/registry.hpp"
#include "tomograd/preprocess/cache.hpp"
#include "tomograd/train/checkpoint.hpp"
#include "tomograd/train/device.hpp"
#include "tomograd/train/sampler.hpp"

namespace tomograd::tasks::metastasis {
namespace fs = std::filesystem;
using detail::num;

namespace {

/// Reports or skips bad patients: with @p skip they are listed as warnings and left out.
void handle_problems(const std::string& what, const std::vector<std::string>& problems, bool skip) {
  if (problems.empty()) return;
  if (!skip) {
    detail::throw_if_problems(what, problems, "nothing was done (pass --skip-bad to leave them out)");
  }
  logger()->warn("{}: skipping {} bad input(s):", what, problems.size());
  for (const auto& p : problems) logger()->warn("  - {}", p);
}

/// Preprocessed studies of @p patients (through the cache), their selected slices and labels.
std::vector<SliceStudy> load_studies(const MetastasisConfig& config, const std::vector<Patient>& patients,
                                     std::vector<std::string>& problems) {
  std::vector<preprocess::CacheInput> inputs;
  for (const auto& p : patients) inputs.push_back({p.patient_id, p.path, p.series});
  auto studies = tasks::detail::cached_slice_studies(detail::cache_dir(config.data.cache_dir), config.prep.preprocess,
                                                     config.prep.slices, inputs, config.data.threads, problems);
  std::vector<SliceStudy> out;
  for (std::size_t i = 0; i < patients.size(); ++i) {
    if (!studies[i]) continue;
    SliceStudy s = std::move(*studies[i]);
    const int label = patients[i].label;
    if (label >= 0) s.target = torch::tensor({static_cast<float>(label)});
    s.label = label >= 0 ? std::to_string(label) : "";
    s.cls = label;
    out.push_back(std::move(s));
  }
  return out;
}

models::ModelPtr build_model(const models::ModelSpec& spec, bool load_pretrained) {
  models::register_builtin_models();
  models::ModelSpec s = spec;
  if (!load_pretrained) s.pretrained.path.clear();
  return models::create_model(s);
}

/// Patient-level probabilities and labels from slice outputs.
struct PatientLevel {
  std::vector<std::string> ids;
  std::vector<double> y_true, prob;
};

PatientLevel patient_level(const torch::Tensor& outputs, const torch::Tensor& targets,
                           const std::vector<std::string>& ids) {
  PatientLevel p;
  const torch::Tensor logits = max_pool_patients(outputs.to(torch::kFloat32), ids, &p.ids);
  const torch::Tensor labels = max_pool_patients(targets.to(torch::kFloat32), ids);
  const torch::Tensor prob = torch::sigmoid(logits).to(torch::kFloat64).contiguous();
  const torch::Tensor y = labels.to(torch::kFloat64).contiguous();
  p.prob.assign(prob.data_ptr<double>(), prob.data_ptr<double>() + prob.numel());
  p.y_true.assign(y.data_ptr<double>(), y.data_ptr<double>() + y.numel());
  return p;
}

CsvTable splits_table(const std::vector<Patient>& patients) {
  CsvTable t({"patient_id", "split", "label", "path", "series"}, {});
  for (const auto& p : patients) t.add_row({p.patient_id, p.split, std::to_string(p.label), p.path.string(), p.series});
  return t;
}

std::vector<Patient> read_splits(const fs::path& file) {
  const CsvTable t = CsvTable::read(file);
  std::vector<Patient> out;
  for (std::size_t r = 0; r < t.num_rows(); ++r) {
    Patient p;
    p.patient_id = t.at(r, t.column_index("patient_id"));
    p.split = t.at(r, t.column_index("split"));
    p.label = std::stoi(t.at(r, t.column_index("label")));
    p.path = t.at(r, t.column_index("path"));
    p.series = t.at(r, t.column_index("series"));
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace

int preprocess_data(const MetastasisConfig& config) {
  std::vector<std::string> problems;
  auto patients = scan_data(config.data, false, problems);
  handle_problems(config.data.dir, problems, config.data.skip_bad);
  preprocess::PreprocessCache cache(detail::cache_dir(config.data.cache_dir), config.prep.preprocess);
  std::vector<preprocess::CacheInput> inputs;
  for (const auto& p : patients) inputs.push_back({p.patient_id, p.path, p.series});
  const auto summary = cache.build_all(inputs, config.data.threads);
  std::vector<std::string> failed;
  for (const auto& [path, why] : summary.failures) failed.push_back(path + ": " + why);
  handle_problems("preprocessing", failed, config.data.skip_bad);
  return summary.built + summary.reused + summary.rebuilt;
}

train::TrainSummary train_model(const MetastasisConfig& config, const fs::path& out, bool resume, bool force) {
  if (out.empty()) throw ValueError("train: no run directory given (--out)");
  if (!resume) detail::require_empty_dir(out, force, "pass --resume to continue it or --force to train into it");
  std::vector<std::string> problems;
  std::vector<Patient> patients;
  if (resume) {
    if (!fs::exists(out / "splits.csv")) throw IoError(out.string() + ": cannot resume, no splits.csv");
    patients = read_splits(out / "splits.csv");
  } else {
    patients = scan_data(config.data, true, problems);
    handle_problems(config.data.dir, problems, config.data.skip_bad);
    problems.clear();
    assign_splits(patients, config.data.val, config.data.test, config.data.split_seed);
  }
  std::vector<SliceStudy> studies = load_studies(config, patients, problems);
  handle_problems(config.data.dir, problems, config.data.skip_bad);
  std::map<std::string, std::string> split_of;
  for (const auto& p : patients) split_of[p.patient_id] = p.split;
  // Test patients are loaded (so a bad one is reported before training) but never trained on nor
  // used to choose the threshold or the best checkpoint.
  std::vector<SliceStudy> tr, va;
  std::size_t n_test = 0;
  for (auto& s : studies) {
    const std::string& sp = split_of[s.patient_id];
    if (sp == "val") va.push_back(std::move(s));
    else if (sp == "train") tr.push_back(std::move(s));
    else ++n_test;
  }
  for (int c : {0, 1}) {
    if (std::none_of(tr.begin(), tr.end(), [c](const SliceStudy& s) { return s.cls == c; })) {
      throw ValueError(config.data.dir + ": the training patients hold no " + (c ? "positive" : "negative") +
                       " patient; both classes are needed");
    }
  }
  fs::create_directories(out);
  if (!resume) {
    write_file_atomic(out / "config.yaml", config.yaml);
    detail::write_csv(out / "splits.csv", splits_table(patients), true);
  }
  auto policy = config.prep.augment.enabled
                    ? std::make_shared<const preprocess::AugmentationPolicy>(config.prep.augment)
                    : nullptr;
  StudySliceDataset train_ds(std::move(tr), config.prep.slices, policy);
  StudySliceDataset val_ds(std::move(va), config.prep.slices);
  logger()->info("{} training patients ({} slices), {} validation patients ({} slices), {} held-out test patients",
                 train_ds.studies().size(), train_ds.size(), val_ds.studies().size(), val_ds.size(), n_test);
  train::PatientSamplerOptions so;
  so.patients_per_batch = config.data.patients_per_batch;
  so.balance_classes = config.data.balance_classes;
  so.seed = config.train.seed;
  train::PatientSampler train_sampler(train_ds, so);
  so.shuffle = false;
  so.balance_classes = false;
  train::PatientSampler val_sampler(val_ds, so);

  // The initial weights come from the seed too, so a run is reproducible from its config.
  seed_everything(config.train.seed);
  auto model = build_model(config.model, !resume);
  auto forward = [model](const train::Batch& b) { return model->forward(b.input); };
  const double pos_weight = config.loss.pos_weight;
  // One loss per patient on the MAX of its slice logits.
  train::LossFn loss = [pos_weight](const torch::Tensor& outputs, const train::Batch& b) {
    const torch::Tensor logits = max_pool_patients(outputs, b.patient_ids);
    const torch::Tensor y = max_pool_patients(b.target.to(outputs.device(), outputs.scalar_type()), b.patient_ids);
    auto opts = torch::nn::functional::BinaryCrossEntropyWithLogitsFuncOptions();
    if (pos_weight != 1.0) opts = opts.pos_weight(torch::full({1}, pos_weight, logits.options()));
    return torch::nn::functional::binary_cross_entropy_with_logits(logits, y, opts);
  };
  const eval::ThresholdRule rule = eval::ThresholdRule::parse(config.eval.threshold);
  auto choose = [rule](const PatientLevel& p) -> std::optional<double> {
    const bool both = std::count(p.y_true.begin(), p.y_true.end(), 1.0) > 0 &&
                      std::count(p.y_true.begin(), p.y_true.end(), 0.0) > 0;
    if (!both) return std::nullopt;
    return eval::select_threshold(p.y_true, p.prob, rule).threshold;
  };
  train::ThresholdFn threshold = [choose](const train::EvalOutputs& o) {
    return choose(patient_level(o.outputs, o.targets, o.patient_ids));
  };
  train::MetricsFn metrics = [choose](const train::EvalOutputs& o) {
    const PatientLevel p = patient_level(o.outputs, o.targets, o.patient_ids);
    const double thr = choose(p).value_or(0.5);
    const auto table = eval::binary_metrics(p.y_true, p.prob, thr);
    std::map<std::string, double> m;
    for (const char* k : {"f1", "sensitivity", "specificity", "auc", "balanced_accuracy"}) {
      m[std::string("val_") + k] = table.value(k).value_or(std::nan(""));
    }
    m["val_threshold"] = thr;
    return m;
  };
  train::Trainer trainer(model, forward, loss, config.optim, config.scheduler, train::Curriculum(config.curriculum),
                         config.train, out, config.yaml);
  const bool has_val = val_ds.size() > 0;
  if (!has_val) logger()->warn("no validation patients: no threshold is chosen (0.5 is used)");
  return trainer.fit(train_ds, train_sampler, has_val ? &val_ds : nullptr, has_val ? &val_sampler : nullptr, metrics,
                     has_val ? threshold : nullptr, resume);
}

namespace {

/// A run's model, configuration and threshold.
struct Loaded {
  fs::path run;
  MetastasisConfig config;
  models::ModelPtr model;
  torch::Device device{torch::kCPU};
  double threshold = 0.5;
  std::string checkpoint;
};

Loaded load_run(const fs::path& run_or_checkpoint, const std::string& checkpoint) {
  Loaded l;
  fs::path ckpt;
  if (fs::is_regular_file(run_or_checkpoint)) {
    ckpt = run_or_checkpoint;
    l.run = fs::absolute(ckpt).parent_path().parent_path();
  } else {
    l.run = run_or_checkpoint;
    ckpt = detail::checkpoint_path(l.run, checkpoint);
  }
  if (!fs::is_regular_file(l.run / "config.yaml")) {
    throw IoError(l.run.string() + ": not a metastasis run directory (no config.yaml; runs are written by metastasis train)");
  }
  if (!fs::is_regular_file(ckpt)) throw IoError(ckpt.string() + ": checkpoint does not exist");
  l.config = load_config(l.run / "config.yaml");
  l.model = build_model(l.config.model, false);
  const train::CheckpointMeta meta = train::load_checkpoint(ckpt, *l.model, nullptr, false);
  l.threshold = meta.threshold.value_or(0.5);
  l.checkpoint = ckpt.string();
  l.device = train::parse_device(l.config.train.device);
  l.model->to(l.device);
  l.model->eval();
  return l;
}

/// Slice logits of every selected slice of each study.
std::vector<PatientScore> score(Loaded& l, const std::vector<SliceStudy>& studies) {
  torch::NoGradGuard no_grad;
  std::vector<PatientScore> out;
  int64_t total = 0;
  for (const auto& s : studies) total += static_cast<int64_t>(s.slices.size());
  ProgressBar bar(total, "scoring", "slices");
  for (const auto& s : studies) {
    PatientScore ps;
    ps.patient_id = s.patient_id;
    ps.label = s.cls;
    double best = -1e300;
    for (std::size_t start = 0; start < s.slices.size(); start += 32) {
      std::vector<torch::Tensor> xs;
      const std::size_t end = std::min(s.slices.size(), start + 32);
      for (std::size_t k = start; k < end; ++k) {
        xs.push_back(preprocess::stack_slices(s.data, s.slices[k], l.config.prep.slices.context,
                                              l.config.prep.slices.step));
      }
      const torch::Tensor logits = l.model->forward(torch::stack(xs).to(l.device)).reshape({-1}).to(torch::kCPU);
      for (std::size_t k = start; k < end; ++k) {
        const double z = logits[static_cast<int64_t>(k - start)].item<double>();
        ps.slice_probabilities.emplace_back(static_cast<int>(s.slices[k]), 1.0 / (1.0 + std::exp(-z)));
        if (z > best) {
          best = z;
          ps.top_slice = static_cast<int>(s.slices[k]);
        }
      }
      bar.tick(static_cast<int64_t>(end - start));
    }
    ps.probability = 1.0 / (1.0 + std::exp(-best));
    ps.prediction = ps.probability >= l.threshold ? 1 : 0;
    out.push_back(std::move(ps));
  }
  bar.finish();
  return out;
}

std::string base64(const std::vector<uchar>& bytes) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const unsigned v = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out += {k[(v >> 18) & 63], k[(v >> 12) & 63], k[(v >> 6) & 63], k[v & 63]};
  }
  if (i + 1 == bytes.size()) {
    const unsigned v = bytes[i] << 16;
    out += {k[(v >> 18) & 63], k[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == bytes.size()) {
    const unsigned v = (bytes[i] << 16) | (bytes[i + 1] << 8);
    out += {k[(v >> 18) & 63], k[(v >> 12) & 63], k[(v >> 6) & 63], '='};
  }
  return out;
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

}  // namespace

std::vector<PatientScore> infer(const fs::path& run_or_checkpoint, const fs::path& input, const fs::path& output,
                                bool force, bool skip_bad, const fs::path& slices_output) {
  for (const fs::path& f : {output, slices_output}) {
    if (!f.empty() && fs::exists(f) && !force) throw IoError(f.string() + ": exists; pass --force to replace it");
  }
  if (!fs::is_directory(input)) throw IoError(input.string() + ": not a folder (one patient folder or a folder of them)");
  Loaded l = load_run(run_or_checkpoint, "best");
  // One patient folder holds DICOM files; a folder of patients holds folders only.
  bool has_files = false;
  std::vector<fs::path> subdirs;
  for (const auto& e : fs::directory_iterator(input)) {
    if (e.is_regular_file()) has_files = true;
    if (e.is_directory()) subdirs.push_back(e.path());
  }
  std::sort(subdirs.begin(), subdirs.end());
  if (has_files || subdirs.empty()) subdirs = {input};
  std::vector<Patient> patients;
  std::vector<std::string> problems;
  for (const auto& d : subdirs) {
    Patient p;
    p.patient_id = fs::absolute(d).lexically_normal().filename().string();
    p.path = fs::absolute(d).lexically_normal();
    if (detail::pick_ct_series(p, l.config.data.min_slices, problems)) patients.push_back(p);
  }
  handle_problems(input.string(), problems, skip_bad);
  problems.clear();
  const auto studies = load_studies(l.config, patients, problems);
  handle_problems(input.string(), problems, skip_bad);
  auto scores = score(l, studies);
  if (!output.empty()) {
    CsvTable t({"patient_id", "probability", "prediction", "top_slice"}, {});
    for (const auto& s : scores) {
      t.add_row({s.patient_id, num(s.probability), std::to_string(s.prediction), std::to_string(s.top_slice)});
    }
    detail::write_csv(output, t, force);
  }
  if (!slices_output.empty()) {
    CsvTable t({"patient_id", "slice", "probability"}, {});
    for (const auto& s : scores) {
      for (const auto& [z, p] : s.slice_probabilities) t.add_row({s.patient_id, std::to_string(z), num(p)});
    }
    detail::write_csv(slices_output, t, force);
  }
  return scores;
}

fs::path evaluate_run(const fs::path& run, const std::string& split, const fs::path& data, const std::string& checkpoint,
                      bool force) {
  Loaded l = load_run(run, checkpoint);
  std::vector<Patient> patients;
  std::string name = split;
  std::vector<std::string> problems;
  std::size_t n_val = 0;
  bool has_test = false;
  if (fs::is_regular_file(run / "splits.csv")) {
    for (const auto& p : read_splits(run / "splits.csv")) {
      n_val += p.split == "val";
      has_test = has_test || p.split == "test";
    }
  }
  if (!data.empty()) {
    DataOptions d = l.config.data;
    d.dir = fs::absolute(data).string();
    patients = scan_data(d, true, problems);
    handle_problems(data.string(), problems, l.config.data.skip_bad);
    name = "external";
  } else {
    if (name.empty()) {
      name = has_test ? "test" : "val";
      if (!has_test) {
        logger()->warn("{}: the run has no held-out test patients (trained with data.test = 0): evaluating the "
                       "validation patients, on which the threshold and the best checkpoint were chosen",
                       run.string());
      }
    }
    if (name != "train" && name != "val" && name != "test" && name != "all") {
      throw ValueError("--split must be train, val, test or all (or pass --data DIR), got '" + name + "'");
    }
    for (const auto& p : read_splits(run / "splits.csv")) {
      if (name == "all" || p.split == name) patients.push_back(p);
    }
  }
  if (patients.empty()) throw ValueError(run.string() + ": no patients to evaluate in '" + name + "'");
  problems.clear();
  const auto studies = load_studies(l.config, patients, problems);
  handle_problems(run.string(), problems, l.config.data.skip_bad);
  const auto scores = score(l, studies);

  // Where the threshold comes from, said plainly: a threshold tuned on the patients it is then
  // applied to makes sensitivity, specificity and F1 look better than they are.
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
  const eval::Evaluation pe = eval::evaluate(std::move(pd), eo);
  const eval::Evaluation se = eval::evaluate(std::move(sd), eo);
  const fs::path dir = run / "eval" / name;
  eval::ReportOptions ro;
  ro.title = "Metastasis " + l.config.model.arch + " — " + name + " patients";
  if (fs::exists(run / "history.csv")) ro.history_csv = run / "history.csv";
  ro.overwrite = force ? Overwrite::kAllow : Overwrite::kNever;
  const auto files = eval::write_report(dir, pe, ro);

  // Slice vs patient level side by side: one list of rows, written as Markdown and as HTML.
  auto fmt = [](const eval::MetricEntry& m) {
    std::string s = m.value.defined() ? num(m.value.value()) : "n/a";
    if (m.ci && m.ci->low.defined() && m.ci->high.defined()) {
      s += " [" + num(m.ci->low.value()) + ", " + num(m.ci->high.value()) + "]";
    }
    return s;
  };
  std::vector<std::array<std::string, 3>> side_by_side;
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
  sj["threshold"] = l.threshold;
  sj["threshold_source"] = origin;
  sj["interval_method"] = se.interval_method();
  std::ostringstream cmp;
  cmp << "| metric | patient level (n=" << pe.num_rows() << ") | slice level (n=" << se.num_rows() << ") |\n|---|---|---|\n";
  for (const auto& r : side_by_side) cmp << "| " << r[0] << " | " << r[1] << " | " << r[2] << " |\n";
  const Overwrite ow = force ? Overwrite::kAllow : Overwrite::kNever;
  write_file_atomic(dir / "slice_vs_patient.md",
                    "# Patient level vs slice level (same threshold " + num(l.threshold) + ")\n\n- Split: " + name +
                        " (" + std::to_string(pe.num_rows()) + " patients)\n- Threshold: " + origin +
                        "\n- Intervals: " + pe.interval_method() + "\n\n" + cmp.str(),
                    ow);
  write_file_atomic(dir / "slice_metrics.json", sj.dump(2) + "\n", ow);

  // The highest-scoring slices with Grad-CAM overlays.
  std::vector<std::tuple<double, std::size_t, int>> top;  // probability, study, slice
  for (std::size_t i = 0; i < scores.size(); ++i) {
    for (const auto& [z, p] : scores[i].slice_probabilities) top.emplace_back(p, i, z);
  }
  std::sort(top.begin(), top.end(), [](const auto& a, const auto& b) { return std::get<0>(a) > std::get<0>(b); });
  top.resize(std::min<std::size_t>(top.size(), static_cast<std::size_t>(l.config.eval.top_slices)));
  std::ostringstream html;
  html << "<h2>Patient level vs slice level</h2><p>The same threshold applied to each slice on its own inflates the "
          "number of decisions and mixes easy slices with the few that carry a lesion; the patient-level numbers are "
          "the ones that match a clinical read.</p><table><tr><th>metric</th><th>patient level</th><th>slice level"
          "</th></tr>";
  for (const auto& r : side_by_side) html << "<tr><td>" << r[0] << "</td><td>" << r[1] << "</td><td>" << r[2] << "</td></tr>";
  html << "</table><h2>Highest-scoring slices (Grad-CAM)</h2><p>Left: the preprocessed slice; right: Grad-CAM of the "
          "slice logit (red = regions that raised it).</p>";
  fs::create_directories(dir / "top_slices");
  for (std::size_t k = 0; k < top.size(); ++k) {
    const auto& [p, i, z] = top[k];
    const SliceStudy& st = studies[i];
    const torch::Tensor x = preprocess::stack_slices(st.data, z, l.config.prep.slices.context,
                                                     l.config.prep.slices.step)
                                .unsqueeze(0)
                                .to(l.device);
    const torch::Tensor cam = models::grad_cam(*l.model, x, 0)[0].to(torch::kCPU);
    const int64_t centre_channel = l.config.prep.slices.context;  // the centre slice of the first window
    const auto png = cam_png(x[0][centre_channel].to(torch::kCPU), cam);
    const std::string file = std::to_string(k + 1) + "_" + st.patient_id + "_slice" + std::to_string(z) + ".png";
    write_file_atomic(dir / "top_slices" / file, std::string(png.begin(), png.end()), Overwrite::kAllow);
    html << "<figure style=\"display:inline-block;margin:6px\"><img alt=\"" << file << "\" src=\"data:image/png;base64,"
         << base64(png) << "\"><figcaption>" << st.patient_id << " slice " << z << ": p = " << num(p) << ", label "
         << st.cls << "</figcaption></figure>";
  }
  std::string page = read_file(files.report_html);
  const auto at = page.rfind("</body>");
  page.insert(at == std::string::npos ? page.size() : at, html.str());
  write_file_atomic(files.report_html, page, Overwrite::kAllow);
  return dir;
}

}  // namespace tomograd::tasks::metastasis
