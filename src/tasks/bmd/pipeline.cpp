// BMD training, inference, evaluation and feature extraction.
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

#include "bmd_impl.hpp"
#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/core/log.hpp"
#include "tomograd/core/progress.hpp"
#include "tomograd/core/random.hpp"
#include "tomograd/eval/evaluation.hpp"
#include "tomograd/eval/regression.hpp"
#include "tomograd/eval/report.hpp"
#include "tomograd/tasks/common/train_slice.hpp"
#include "tomograd/train/checkpoint.hpp"
#include "tomograd/train/device.hpp"
#include "tomograd/train/distributed.hpp"
#include "tomograd/train/sampler.hpp"
#include "tomograd/train/sharded.hpp"

namespace tomograd::tasks::bmd {
namespace fs = std::filesystem;
using detail::num;

namespace {

struct TargetStats {
  double mean = 0.0, std = 1.0;
};

TargetStats target_stats(const std::vector<Patient>& patients) {
  std::vector<double> y;
  for (const auto& p : patients) {
    if (p.split == "train") y.push_back(p.bmd);
  }
  TargetStats s;
  if (y.empty()) return s;
  s.mean = std::accumulate(y.begin(), y.end(), 0.0) / static_cast<double>(y.size());
  double ss = 0.0;
  for (double v : y) ss += (v - s.mean) * (v - s.mean);
  s.std = y.size() > 1 ? std::sqrt(ss / static_cast<double>(y.size() - 1)) : 0.0;
  return s;
}

/// Patient-level mean of slice outputs (in dataset order of first appearance).
struct PatientMeans {
  std::vector<std::string> ids;
  std::vector<double> values;
};

PatientMeans patient_means(const torch::Tensor& outputs, const std::vector<std::string>& patient_ids) {
  std::map<std::string, std::pair<double, int>> acc;
  PatientMeans m;
  auto out = outputs.reshape({-1}).to(torch::kFloat64).contiguous();
  const double* v = out.data_ptr<double>();
  for (std::size_t i = 0; i < patient_ids.size(); ++i) {
    auto [it, fresh] = acc.try_emplace(patient_ids[i], 0.0, 0);
    if (fresh) m.ids.push_back(patient_ids[i]);
    it->second.first += v[i];
    it->second.second += 1;
  }
  for (const auto& id : m.ids) m.values.push_back(acc[id].first / acc[id].second);
  return m;
}

void write_json(const fs::path& path, const nlohmann::json& j, bool force) {
  write_file_atomic(path, j.dump(2) + "\n", force ? Overwrite::kAllow : Overwrite::kNever);
}

CsvTable splits_table(const std::vector<Patient>& patients) {
  CsvTable t({"patient_id", "split", "bmd", "path"}, {});
  for (const auto& p : patients) t.add_row({p.patient_id, p.split, num(p.bmd), p.path.string()});
  return t;
}

std::vector<Patient> read_splits(const fs::path& file) {
  const CsvTable t = CsvTable::read(file);
  const auto ids = t.strings("patient_id"), splits = t.strings("split"), paths = t.strings("path");
  const auto y = t.numbers("bmd", true);
  std::vector<Patient> out;
  for (std::size_t r = 0; r < t.num_rows(); ++r) {
    Patient p;
    p.patient_id = ids[r];
    p.split = splits[r];
    p.bmd = y[r];
    p.path = paths[r];
    p.line = t.line_of(r);
    out.push_back(std::move(p));
  }
  return out;
}

/// Patient-level regression metrics of validation outputs (targets standardized with @p stats),
/// with a warning when the predictions have collapsed to about the mean.
train::MetricsFn validation_metrics(TargetStats stats, double collapse) {
  return [stats, collapse](const train::EvalOutputs& o) {
    const PatientMeans pm = patient_means(o.outputs, o.patient_ids);
    const PatientMeans tm = patient_means(o.targets, o.patient_ids);
    std::vector<double> y, p;
    for (std::size_t i = 0; i < pm.ids.size(); ++i) {
      p.push_back(pm.values[i] * stats.std + stats.mean);
      y.push_back(tm.values[i] * stats.std + stats.mean);
    }
    std::map<std::string, double> m;
    const auto table = eval::regression_metrics(y, p);
    for (const char* k : {"r2", "mae", "rmse", "pearson", "mape"}) {
      m[std::string("val_") + k] = table.value(k).value_or(std::nan(""));
    }
    auto sd = [](const std::vector<double>& v) {
      const double mu = std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
      double ss = 0;
      for (double x : v) ss += (x - mu) * (x - mu);
      return std::sqrt(ss / static_cast<double>(v.size()));
    };
    const double ratio = sd(y) > 0 ? sd(p) / sd(y) : std::nan("");
    m["val_pred_sd_ratio"] = ratio;
    if (std::isfinite(ratio) && ratio < collapse) {
      logger()->warn("validation predictions have collapsed: their spread is {:.1f} % of the targets' (below {:.0f} %); "
                     "the model predicts about the mean (try a higher learning rate, less regularization or "
                     "pretrained weights)",
                     100 * ratio, 100 * collapse);
    }
    return m;
  };
}

/// The cohort of a training run: the manifest's patients (split here), the preassigned ones (cv),
/// or, resuming, the run's splits.csv; every problem is reported before anything is trained.
struct Cohort {
  std::vector<Patient> patients;
  TargetStats stats;
  std::size_t n_train = 0;
  std::vector<SliceStudy> studies;
};

Cohort load_cohort(const BmdConfig& config, const TrainRequest& request, const train::RunDir& run,
                   const std::optional<std::vector<Patient>>& preassigned) {
  std::vector<std::string> problems;
  Cohort c;
  if (request.resume) {
    c.patients = read_splits(run.file("splits.csv"));
  } else if (preassigned) {
    c.patients = *preassigned;
  } else {
    c.patients = read_manifest(config.data.manifest, config.data.target, true, problems);
    assign_splits(c.patients, config.data.train, config.data.val, config.data.test, config.data.split_seed);
  }
  c.stats = target_stats(c.patients);
  c.n_train = static_cast<std::size_t>(
      std::count_if(c.patients.begin(), c.patients.end(), [](const Patient& p) { return p.split == "train"; }));
  if (problems.empty() && c.n_train < 2) problems.push_back("fewer than 2 training patients");
  if (problems.empty() && !(c.stats.std > 0)) problems.push_back("every training patient has the same target");
  const std::string what = config.data.manifest.empty() ? "bmd train" : config.data.manifest;
  detail::throw_if_problems(what, problems);
  c.studies = detail::load_studies(config, c.patients, c.stats.mean, c.stats.std, problems);
  detail::throw_if_problems(what, problems);
  return c;
}

}  // namespace

namespace detail {

train::TrainSummary train_cohort(const BmdConfig& config, const TrainRequest& request,
                                 const std::optional<std::vector<Patient>>& patients) {
  const train::RunDir run = open_training_run(request, train_options(config, request), {"splits.csv"});
  Cohort c = load_cohort(config, request, run, patients);
  SliceTrainJob job;
  job.sections = &config;
  job.config_yaml = config.yaml;
  job.prep = &config.prep;
  std::map<std::string, std::string> split_of;
  for (const auto& p : c.patients) split_of[p.patient_id] = p.split;
  for (auto& s : c.studies) {
    const std::string& sp = split_of[s.patient_id];
    if (sp == "train") job.train.push_back(std::move(s));
    else if (sp == "val") job.val.push_back(std::move(s));
  }
  job.write_run_files = [&](const train::RunDir& r) {
    write_file_atomic(r.config_file(), config.yaml);
    detail::write_csv(r.file("splits.csv"), splits_table(c.patients), true);
    write_json(r.file("target_scaler.json"),
               {{"target", config.data.target}, {"mean", c.stats.mean}, {"std", c.stats.std},
                {"train_patients", c.n_train}},
               true);
  };
  const auto batch = static_cast<int64_t>(config.data.batch_size);
  const uint64_t seed = config.train.seed;
  job.sampler = [batch, seed](const StudySliceDataset& d, bool training) -> std::unique_ptr<train::Sampler> {
    // drop_last: BatchNorm cannot train on a final batch of one sample.
    if (training) return std::make_unique<train::RandomSampler>(d.size(), batch, true, seed, d.size() > static_cast<std::size_t>(batch));
    return std::make_unique<train::RandomSampler>(d.size(), batch, false, 0);
  };
  job.metrics = validation_metrics(c.stats, config.eval.collapse_ratio);
  char suffix[96];
  std::snprintf(suffix, sizeof suffix, "; target mean %.4f, sd %.4f", c.stats.mean, c.stats.std);
  job.summary_suffix = suffix;
  job.no_val_warning = "no validation patients: best.pt follows the training loss";
  return train_slice_model(request, run, std::move(job));
}

}  // namespace detail

train::TrainSummary train_model(const BmdConfig& config, const TrainRequest& request) {
  return detail::train_cohort(config, request, std::nullopt);
}

RunInfo open_run(const fs::path& run, const std::string& device) {
  train::RunDir::open(run, {"config.yaml", "target_scaler.json", "splits.csv"}, "bmd", "bmd train");
  RunInfo info;
  info.dir = run;
  info.device = device;
  info.config = load_config(run / "config.yaml");
  const auto j = nlohmann::json::parse(read_file(run / "target_scaler.json"), nullptr, false);
  if (j.is_discarded() || !j.contains("mean") || !j.contains("std")) {
    throw IoError((run / "target_scaler.json").string() + ": expected {\"mean\": ..., \"std\": ...}");
  }
  info.target_mean = j["mean"].get<double>();
  info.target_std = j["std"].get<double>();
  info.patients = read_splits(run / "splits.csv");
  return info;
}

namespace {

/// One patient's prediction, as the ranks of a data-parallel job send it to each other.
struct PredictionRow {
  std::string patient_id;
  double y_true = 0.0, y_pred = 0.0;
  std::vector<double> features;
};

void to_json(nlohmann::json& j, const PredictionRow& r) { j = {r.patient_id, r.y_true, r.y_pred, r.features}; }

void from_json(const nlohmann::json& j, PredictionRow& r) {
  r.patient_id = j.at(0).get<std::string>();
  r.y_true = j.at(1).get<double>();
  r.y_pred = j.at(2).get<double>();
  r.features = j.at(3).get<std::vector<double>>();
}

/// predict() of the patients this process scores (all of them, or its rank's share).
Predictions predict_share(const RunInfo& run, const std::vector<Patient>& patients, const std::string& checkpoint,
                          bool with_features) {
  const fs::path ckpt = train::RunDir(run.dir).checkpoint(checkpoint);
  const torch::Device device = train::parse_device(run.device);
  auto model = detail::build_model(run.config.model, false);
  model->to(device);  // the checkpoint's tensors are mapped to the model's device
  train::load_checkpoint(ckpt, *model, nullptr, false);
  model->eval();
  std::vector<std::string> problems;
  auto studies = detail::load_studies(run.config, patients, run.target_mean, run.target_std, problems);
  detail::throw_if_problems("prediction inputs", problems);
  StudySliceDataset ds(std::move(studies), run.config.prep.slices);

  Predictions out;
  std::map<std::string, std::size_t> row;
  std::vector<int> counts;
  torch::Tensor feat_sum;
  for (const auto& s : ds.studies()) {
    row[s.patient_id] = out.patient_ids.size();
    out.patient_ids.push_back(s.patient_id);
  }
  out.y_pred.assign(out.patient_ids.size(), 0.0);
  out.y_true.assign(out.patient_ids.size(), std::nan(""));
  counts.assign(out.patient_ids.size(), 0);
  for (const auto& p : patients) {
    if (auto it = row.find(p.patient_id); it != row.end()) out.y_true[it->second] = p.bmd;
  }
  torch::NoGradGuard no_grad;
  const std::size_t batch = static_cast<std::size_t>(std::max(1, run.config.data.batch_size));
  ProgressBar bar(static_cast<int64_t>(ds.size()), "predicting", "slices");
  for (std::size_t start = 0; start < ds.size(); start += batch) {
    std::vector<torch::Tensor> inputs;
    std::vector<std::size_t> rows;
    for (std::size_t i = start; i < std::min(ds.size(), start + batch); ++i) {
      inputs.push_back(ds.get(i, 0).input);
      rows.push_back(row[ds.patient_of(i)]);
    }
    torch::Tensor x = torch::stack(inputs).to(device);
    torch::Tensor y = model->forward(x).reshape({-1}).to(torch::kCPU, torch::kFloat64);
    torch::Tensor f;
    if (with_features) {
      f = model->features(x).to(torch::kCPU, torch::kFloat64);
      if (!feat_sum.defined()) feat_sum = torch::zeros({static_cast<int64_t>(out.patient_ids.size()), f.size(1)}, f.options());
    }
    for (std::size_t k = 0; k < rows.size(); ++k) {
      out.y_pred[rows[k]] += y[static_cast<int64_t>(k)].item<double>();
      counts[rows[k]] += 1;
      if (with_features) feat_sum[static_cast<int64_t>(rows[k])] += f[static_cast<int64_t>(k)];
    }
    bar.tick(static_cast<int64_t>(rows.size()));
  }
  bar.finish();
  for (std::size_t r = 0; r < out.patient_ids.size(); ++r) {
    out.y_pred[r] = out.y_pred[r] / counts[r] * run.target_std + run.target_mean;
  }
  if (with_features) {
    auto c = torch::tensor(std::vector<double>(counts.begin(), counts.end()), torch::kFloat64).unsqueeze(1);
    torch::Tensor mean = (feat_sum / c).contiguous();
    for (int64_t r = 0; r < mean.size(0); ++r) {
      const double* p = mean[r].data_ptr<double>();
      out.features.emplace_back(p, p + mean.size(1));
    }
  }
  return out;
}

}  // namespace

Predictions predict(const RunInfo& run, const std::vector<Patient>& patients, const std::string& checkpoint,
                    bool with_features) {
  // In a data-parallel job each rank loads and scores a contiguous share of the patients; every
  // rank gets all rows, in the one-process order.
  const auto rows = train::shard_and_gather<PredictionRow>(
      patients.size(), train::parse_device(run.device), [&](std::size_t begin, std::size_t end) {
        const std::vector<Patient> share(patients.begin() + static_cast<std::ptrdiff_t>(begin),
                                         patients.begin() + static_cast<std::ptrdiff_t>(end));
        const Predictions p = predict_share(run, share, checkpoint, with_features);
        std::vector<PredictionRow> out;
        for (std::size_t i = 0; i < p.patient_ids.size(); ++i) {
          out.push_back({p.patient_ids[i], p.y_true[i], p.y_pred[i], with_features ? p.features[i] : std::vector<double>{}});
        }
        return out;
      });
  Predictions out;
  for (const auto& r : rows) {
    out.patient_ids.push_back(r.patient_id);
    out.y_true.push_back(r.y_true);
    out.y_pred.push_back(r.y_pred);
    if (with_features) out.features.push_back(r.features);
  }
  return out;
}

namespace {

/// RUN/eval/<split>/ of predictions @p p (rank 0 of a data-parallel job).
void write_evaluation(const RunInfo& run, const fs::path& run_dir, const std::string& split,
                      const std::string& checkpoint, const Predictions& p, bool force, const fs::path& dir) {
  eval::EvaluationData data;
  data.task = eval::TaskKind::kRegression;
  data.split = split;
  data.y_true = p.y_true;
  for (double v : p.y_pred) data.y_pred.push_back({v});
  data.ids = p.patient_ids;
  data.pred_names = {"y_pred"};
  data.description = "BMD (" + run.config.data.target + ", g/cm²) of the " + split + " patients of " +
                     run_dir.filename().string() + ", checkpoint " + checkpoint + ": mean of " +
                     std::to_string(2 * run.config.prep.slices.context + 1) + "-slice 2.5D predictions per patient";
  eval::EvaluationOptions eo;
  eo.bootstrap.resamples = run.config.eval.bootstrap;
  eo.bootstrap.confidence = run.config.eval.confidence;
  const eval::Evaluation ev = eval::evaluate(std::move(data), eo);
  eval::ReportOptions ro;
  ro.title = "BMD " + run.config.model.arch + " — " + split + " split";
  if (fs::exists(run_dir / "history.csv")) ro.history_csv = run_dir / "history.csv";
  ro.overwrite = force ? Overwrite::kAllow : Overwrite::kNever;
  eval::write_report(dir, ev, ro);
}

}  // namespace

fs::path evaluate_run(const fs::path& run_dir, const std::string& split, const std::string& checkpoint, bool force,
                      const std::string& device) {
  if (split != "train" && split != "val" && split != "test" && split != "all") {
    throw ValueError("--split must be train, val, test or all, got '" + split + "'");
  }
  const RunInfo run = open_run(run_dir, device);
  const auto patients = detail::patients_of(run.patients, split);
  if (patients.empty()) throw ValueError(run_dir.string() + ": the " + split + " split has no patients");
  const Predictions p = predict(run, patients, checkpoint);
  const fs::path dir = run_dir / "eval" / split;
  train::run_on_main_process([&] { write_evaluation(run, run_dir, split, checkpoint, p, force, dir); });
  return dir;
}

void predict_to_file(const fs::path& run_dir, const fs::path& input, const fs::path& out, const std::string& checkpoint,
                     bool force, const std::string& device) {
  if (fs::exists(out) && !force) throw IoError(out.string() + ": exists; pass --force to replace it");
  const RunInfo run = open_run(run_dir, device);
  std::vector<Patient> patients;
  std::vector<std::string> problems;
  if (!fs::exists(input)) throw IoError(input.string() + ": does not exist");
  if (fs::is_regular_file(input) && input.extension() == ".csv") {
    patients = read_manifest(input, run.config.data.target, false, problems);
  } else if (fs::is_directory(input)) {
    // A folder of patient folders, or a single series folder.
    std::vector<fs::path> subdirs;
    for (const auto& e : fs::directory_iterator(input)) {
      if (e.is_directory()) subdirs.push_back(e.path());
    }
    std::sort(subdirs.begin(), subdirs.end());
    if (subdirs.empty()) subdirs.push_back(input);
    for (const auto& d : subdirs) {
      Patient p;
      p.patient_id = d == input ? fs::absolute(input).lexically_normal().filename().string() : d.filename().string();
      p.path = fs::absolute(d).lexically_normal();
      p.bmd = std::nan("");
      patients.push_back(p);
    }
  } else {
    Patient p;
    p.patient_id = input.stem().string();
    p.path = fs::absolute(input);
    p.bmd = std::nan("");
    patients.push_back(p);
  }
  detail::throw_if_problems(input.string(), problems);
  const Predictions pr = predict(run, patients, checkpoint);
  const bool has_truth = std::any_of(pr.y_true.begin(), pr.y_true.end(), [](double v) { return std::isfinite(v); });
  std::vector<std::string> header{"patient_id", "bmd_pred"};
  if (has_truth) header.push_back(run.config.data.target);
  CsvTable t(header, {});
  for (std::size_t i = 0; i < pr.patient_ids.size(); ++i) {
    std::vector<std::string> r{pr.patient_ids[i], num(pr.y_pred[i])};
    if (has_truth) r.push_back(num(pr.y_true[i]));
    t.add_row(std::move(r));
  }
  train::run_on_main_process([&] { detail::write_csv(out, t, force); });
}

std::vector<fs::path> extract_features(const fs::path& run_dir, const std::string& checkpoint, bool force,
                                       const std::string& device) {
  const RunInfo run = open_run(run_dir, device);
  std::vector<fs::path> written;
  for (const std::string split : {"train", "val", "test"}) {
    const auto patients = detail::patients_of(run.patients, split);
    if (patients.empty()) continue;
    const fs::path file = run_dir / "features" / (split + ".csv");
    if (fs::exists(file) && !force) throw IoError(file.string() + ": exists; pass --force to replace it");
    const Predictions p = predict(run, patients, checkpoint, true);
    std::vector<std::string> header{"patient_id", run.config.data.target};
    const std::size_t e = p.features.empty() ? 0 : p.features[0].size();
    for (std::size_t k = 0; k < e; ++k) header.push_back("f" + std::to_string(k));
    CsvTable t(header, {});
    for (std::size_t i = 0; i < p.patient_ids.size(); ++i) {
      std::vector<std::string> r{p.patient_ids[i], num(p.y_true[i])};
      for (double v : p.features[i]) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.7g", v);
        r.emplace_back(buf);
      }
      t.add_row(std::move(r));
    }
    train::run_on_main_process([&] {
      detail::write_csv(file, t, force);
      logger()->info("{}: {} patients x {} features", file.string(), p.patient_ids.size(), e);
    });
    written.push_back(file);
  }
  return written;
}

}  // namespace tomograd::tasks::bmd
