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
#include "tomograd/models/registry.hpp"
#include "tomograd/train/checkpoint.hpp"
#include "tomograd/train/device.hpp"
#include "tomograd/train/sampler.hpp"

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

models::ModelPtr build_model(const models::ModelSpec& spec, bool load_pretrained) {
  models::register_builtin_models();
  models::ModelSpec s = spec;
  if (!load_pretrained) s.pretrained.path.clear();
  models::WeightLoadReport report;
  auto model = models::create_model(s, &report);
  if (!s.pretrained.path.empty()) logger()->info("pretrained weights: {}", s.pretrained.path);
  return model;
}

}  // namespace

train::TrainSummary train_model(const BmdConfig& config, const TrainRequest& request) {
  const fs::path& out = request.out;
  if (out.empty()) throw ValueError("train: no run directory given (--out)");
  const bool exists_nonempty = fs::exists(out) && !(fs::is_directory(out) && fs::is_empty(out));
  if (exists_nonempty && !request.resume && !request.force) {
    throw IoError(out.string() + ": the run directory exists and is not empty; pass --resume to continue it or " +
                  "--force to train into it anyway (its checkpoints are replaced)");
  }
  if (request.resume && !fs::exists(out / "splits.csv")) {
    throw IoError(out.string() + ": cannot resume, no splits.csv (was it written by bmd train?)");
  }
  std::vector<std::string> problems;
  std::vector<Patient> patients;
  if (request.resume) {
    patients = read_splits(out / "splits.csv");
  } else if (request.patients) {
    patients = *request.patients;
  } else {
    patients = read_manifest(config.data.manifest, config.data.target, true, problems);
    assign_splits(patients, config.data.train, config.data.val, config.data.test, config.data.split_seed);
  }
  const TargetStats stats = target_stats(patients);
  const auto n_train = static_cast<std::size_t>(std::count_if(patients.begin(), patients.end(),
                                                              [](const Patient& p) { return p.split == "train"; }));
  if (problems.empty() && n_train < 2) problems.push_back("fewer than 2 training patients");
  if (problems.empty() && !(stats.std > 0)) problems.push_back("every training patient has the same target");
  detail::throw_if_problems(config.data.manifest.empty() ? "bmd train" : config.data.manifest, problems);
  std::vector<SliceStudy> studies = detail::load_studies(config, patients, stats.mean, stats.std, problems);
  detail::throw_if_problems(config.data.manifest.empty() ? "bmd train" : config.data.manifest, problems);

  fs::create_directories(out);
  if (!request.resume) {
    write_file_atomic(out / "config.yaml", config.yaml);
    detail::write_csv(out / "splits.csv", splits_table(patients), true);
    write_json(out / "target_scaler.json",
               {{"target", config.data.target}, {"mean", stats.mean}, {"std", stats.std}, {"train_patients", n_train}},
               true);
  }

  std::map<std::string, std::string> split_of;
  for (const auto& p : patients) split_of[p.patient_id] = p.split;
  std::vector<SliceStudy> tr, va;
  for (auto& s : studies) {
    const std::string& sp = split_of[s.patient_id];
    if (sp == "train") tr.push_back(std::move(s));
    else if (sp == "val") va.push_back(std::move(s));
  }
  auto policy = config.prep.augment.enabled
                    ? std::make_shared<const preprocess::AugmentationPolicy>(config.prep.augment)
                    : nullptr;
  StudySliceDataset train_ds(std::move(tr), config.prep.slices, policy);
  StudySliceDataset val_ds(std::move(va), config.prep.slices);
  logger()->info("{} training patients ({} slices), {} validation patients ({} slices); target mean {:.4f}, sd {:.4f}",
                 train_ds.studies().size(), train_ds.size(), val_ds.studies().size(), val_ds.size(), stats.mean,
                 stats.std);

  const auto batch = static_cast<int64_t>(config.data.batch_size);
  // drop_last: BatchNorm cannot train on a final batch of one sample.
  train::RandomSampler train_sampler(train_ds.size(), batch, true, config.train.seed,
                                     train_ds.size() > static_cast<std::size_t>(batch));
  train::RandomSampler val_sampler(val_ds.size(), batch, false, 0);

  // The initial weights come from the seed too, so a run is reproducible from its config.
  seed_everything(config.train.seed);
  auto model = build_model(config.model, !request.resume);
  auto forward = [model](const train::Batch& b) { return model->forward(b.input); };
  const double collapse = config.eval.collapse_ratio;
  train::MetricsFn metrics = [stats, collapse](const train::EvalOutputs& o) {
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
  train::Trainer trainer(model, forward, train::make_loss(config.loss), config.optim, config.scheduler,
                         train::Curriculum(config.curriculum), config.train, out, config.yaml);
  const bool has_val = val_ds.size() > 0;
  if (!has_val) logger()->warn("no validation patients: best.pt follows the training loss");
  return trainer.fit(train_ds, train_sampler, has_val ? &val_ds : nullptr, has_val ? &val_sampler : nullptr, metrics,
                     nullptr, request.resume);
}

RunInfo open_run(const fs::path& run) {
  for (const char* f : {"config.yaml", "target_scaler.json", "splits.csv"}) {
    if (!fs::is_regular_file(run / f)) {
      throw IoError(run.string() + ": not a bmd run directory (missing " + f + "; runs are written by bmd train)");
    }
  }
  RunInfo info;
  info.dir = run;
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

Predictions predict(const RunInfo& run, const std::vector<Patient>& patients, const std::string& checkpoint,
                    bool with_features) {
  const fs::path ckpt = detail::checkpoint_path(run.dir, checkpoint);
  if (!fs::is_regular_file(ckpt)) {
    throw IoError(ckpt.string() + ": checkpoint does not exist (train first, or pick --checkpoint last|final)");
  }
  auto model = build_model(run.config.model, false);
  train::load_checkpoint(ckpt, *model, nullptr, false);
  const torch::Device device = train::parse_device(run.config.train.device);
  model->to(device);
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

fs::path evaluate_run(const fs::path& run_dir, const std::string& split, const std::string& checkpoint, bool force) {
  if (split != "train" && split != "val" && split != "test" && split != "all") {
    throw ValueError("--split must be train, val, test or all, got '" + split + "'");
  }
  const RunInfo run = open_run(run_dir);
  const auto patients = detail::patients_of(run.patients, split);
  if (patients.empty()) throw ValueError(run_dir.string() + ": the " + split + " split has no patients");
  const Predictions p = predict(run, patients, checkpoint);
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
  const fs::path dir = run_dir / "eval" / split;
  eval::write_report(dir, ev, ro);
  return dir;
}

void predict_to_file(const fs::path& run_dir, const fs::path& input, const fs::path& out, const std::string& checkpoint,
                     bool force) {
  if (fs::exists(out) && !force) throw IoError(out.string() + ": exists; pass --force to replace it");
  const RunInfo run = open_run(run_dir);
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
  detail::write_csv(out, t, force);
}

std::vector<fs::path> extract_features(const fs::path& run_dir, const std::string& checkpoint, bool force) {
  const RunInfo run = open_run(run_dir);
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
    detail::write_csv(file, t, force);
    written.push_back(file);
    logger()->info("{}: {} patients x {} features", file.string(), p.patient_ids.size(), e);
  }
  return written;
}

}  // namespace tomograd::tasks::bmd
