// Metastasis preprocessing, training (patient-level MAX pooling, curriculum, validation
// threshold) and inference. Evaluation is in evaluate.cpp.
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <map>

#include "metastasis_impl.hpp"
#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/core/log.hpp"
#include "tomograd/core/random.hpp"
#include "tomograd/eval/binary.hpp"
#include "tomograd/eval/threshold.hpp"
#include "tomograd/preprocess/cache.hpp"
#include "tomograd/tasks/common/train_slice.hpp"
#include "tomograd/train/distributed.hpp"
#include "tomograd/train/run_dir.hpp"
#include "tomograd/train/sampler.hpp"
#include "tomograd/train/sharded.hpp"

namespace tomograd::tasks::metastasis {
namespace fs = std::filesystem;
using detail::num;

namespace {

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

}  // namespace

int preprocess_data(const MetastasisConfig& config) {
  std::vector<std::string> problems;
  auto patients = scan_data(config.data, false, problems);
  detail::handle_problems(config.data.dir, problems, config.data.skip_bad);
  preprocess::PreprocessCache cache(detail::cache_dir(config.data.cache_dir), config.prep.preprocess);
  std::vector<preprocess::CacheInput> inputs;
  for (const auto& p : patients) inputs.push_back({p.patient_id, p.path, p.series});
  const auto summary = cache.build_all(inputs, config.data.threads);
  std::vector<std::string> failed;
  for (const auto& [path, why] : summary.failures) failed.push_back(path + ": " + why);
  detail::handle_problems("preprocessing", failed, config.data.skip_bad);
  return summary.built + summary.reused + summary.rebuilt;
}

namespace {

/// Patient-level metrics and threshold of validation outputs: the threshold chosen by @p rule.
struct ValidationHooks {
  train::MetricsFn metrics;
  train::ThresholdFn threshold;
};

ValidationHooks validation_hooks(const eval::ThresholdRule& rule) {
  auto choose = [rule](const PatientLevel& p) -> std::optional<double> {
    const bool both = std::count(p.y_true.begin(), p.y_true.end(), 1.0) > 0 &&
                      std::count(p.y_true.begin(), p.y_true.end(), 0.0) > 0;
    if (!both) return std::nullopt;
    return eval::select_threshold(p.y_true, p.prob, rule).threshold;
  };
  ValidationHooks h;
  h.threshold = [choose](const train::EvalOutputs& o) {
    return choose(patient_level(o.outputs, o.targets, o.patient_ids));
  };
  h.metrics = [choose](const train::EvalOutputs& o) {
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
  return h;
}

/// One loss per patient on the MAX of its slice logits (per run of its slices: a patient drawn
/// twice into a batch by class balancing counts twice).
train::LossFn patient_max_loss(double pos_weight) {
  return [pos_weight](const torch::Tensor& outputs, const train::Batch& b) {
    const torch::Tensor logits = max_pool_runs(outputs, b.patient_ids);
    const torch::Tensor y = max_pool_runs(b.target.to(outputs.device(), outputs.scalar_type()), b.patient_ids);
    auto opts = torch::nn::functional::BinaryCrossEntropyWithLogitsFuncOptions();
    if (pos_weight != 1.0) opts = opts.pos_weight(torch::full({1}, pos_weight, logits.options()));
    // A mean over patients, not slices: a data-parallel rank's part is its patients' share.
    train::declare_mean_over(torch::full({}, static_cast<double>(logits.numel()), torch::kFloat64));
    return torch::nn::functional::binary_cross_entropy_with_logits(logits, y, opts);
  };
}

/// The patients of a training run (scanned and split, or read back from splits.csv to resume)
/// and their studies; bad inputs are reported or skipped.
std::pair<std::vector<Patient>, std::vector<SliceStudy>> load_cohort(const MetastasisConfig& config,
                                                                      const train::RunDir& run, bool resume) {
  std::vector<std::string> problems;
  std::vector<Patient> patients;
  if (resume) {
    patients = detail::read_splits(run.file("splits.csv"));
  } else {
    patients = scan_data(config.data, true, problems);
    detail::handle_problems(config.data.dir, problems, config.data.skip_bad);
    problems.clear();
    assign_splits(patients, config.data.val, config.data.test, config.data.split_seed);
  }
  std::vector<SliceStudy> studies = detail::load_studies(config, patients, problems);
  detail::handle_problems(config.data.dir, problems, config.data.skip_bad);
  return {std::move(patients), std::move(studies)};
}

}  // namespace

train::TrainSummary train_model(const MetastasisConfig& config, const TrainRequest& request) {
  const train::RunDir run = open_training_run(request, train_options(config, request), {"splits.csv"});
  auto [patients, studies] = load_cohort(config, run, request.resume);
  std::map<std::string, std::string> split_of;
  for (const auto& p : patients) split_of[p.patient_id] = p.split;
  // Test patients are loaded (so a bad one is reported before training) but never trained on nor
  // used to choose the threshold or the best checkpoint.
  SliceTrainJob job;
  std::size_t n_test = 0;
  for (auto& s : studies) {
    const std::string& sp = split_of[s.patient_id];
    if (sp == "val") job.val.push_back(std::move(s));
    else if (sp == "train") job.train.push_back(std::move(s));
    else ++n_test;
  }
  for (int c : {0, 1}) {
    if (std::none_of(job.train.begin(), job.train.end(), [c](const SliceStudy& s) { return s.cls == c; })) {
      throw ValueError(config.data.dir + ": the training patients hold no " + (c ? "positive" : "negative") +
                       " patient; both classes are needed");
    }
  }
  job.sections = &config;
  job.config_yaml = config.yaml;
  job.prep = &config.prep;
  job.write_run_files = [&config, &patients = patients](const train::RunDir& r) {
    write_file_atomic(r.config_file(), config.yaml);
    detail::write_csv(r.file("splits.csv"), detail::splits_table(patients), true);
  };
  train::PatientSamplerOptions so;
  so.patients_per_batch = config.data.patients_per_batch;
  so.balance_classes = config.data.balance_classes;
  so.seed = config.train.seed;
  job.sampler = [so](const StudySliceDataset& d, bool training) -> std::unique_ptr<train::Sampler> {
    train::PatientSamplerOptions o = so;
    if (!training) o.shuffle = o.balance_classes = false;
    return std::make_unique<train::PatientSampler>(d, o);
  };
  job.loss = patient_max_loss(config.loss.pos_weight);
  const ValidationHooks hooks = validation_hooks(eval::ThresholdRule::parse(config.eval.threshold));
  job.metrics = hooks.metrics;
  job.threshold = hooks.threshold;
  job.summary_suffix = ", " + std::to_string(n_test) + " held-out test patients";
  job.no_val_warning = "no validation patients: no threshold is chosen (0.5 is used)";
  return train_slice_model(request, run, std::move(job));
}

namespace {

/// The patients of infer's folders that this process scores (all, or its rank's share), their
/// studies and scores; bad inputs are reported or skipped.
struct ScoredFolders {
  std::vector<Patient> patients;
  std::vector<SliceStudy> studies;
  std::vector<PatientScore> scores;
};

ScoredFolders score_folders(detail::Loaded& l, const std::vector<fs::path>& dirs, const fs::path& input,
                            bool skip_bad) {
  ScoredFolders out;
  std::vector<std::string> problems;
  for (const auto& d : dirs) {
    Patient p;
    p.patient_id = fs::absolute(d).lexically_normal().filename().string();
    p.path = fs::absolute(d).lexically_normal();
    if (detail::pick_ct_series(p, l.config.data.min_slices, problems)) out.patients.push_back(p);
  }
  detail::handle_problems(input.string(), problems, skip_bad);
  problems.clear();
  out.studies = detail::load_studies(l.config, out.patients, problems);
  detail::handle_problems(input.string(), problems, skip_bad);
  out.scores = detail::score(l, out.studies);
  return out;
}

void write_score_files(const std::vector<PatientScore>& scores, const fs::path& output, const fs::path& slices_output,
                       bool force) {
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
}

}  // namespace

std::vector<PatientScore> infer(const fs::path& run_or_checkpoint, const fs::path& input, const fs::path& output,
                                bool force, bool skip_bad, const fs::path& slices_output, const std::string& device,
                                const DicomOutOptions& dicom) {
  for (const fs::path& f : {output, slices_output}) {
    if (!f.empty() && fs::exists(f) && !force) throw IoError(f.string() + ": exists; pass --force to replace it");
  }
  if (!dicom.dir.empty()) train::require_empty_dir(dicom.dir, dicom.force, "pass --force to write into it");
  if (!fs::is_directory(input)) throw IoError(input.string() + ": not a folder (one patient folder or a folder of them)");
  detail::Loaded l = detail::load_run(run_or_checkpoint, "best", device);
  // One patient folder holds DICOM files; a folder of patients holds folders only.
  bool has_files = false;
  std::vector<fs::path> subdirs;
  for (const auto& e : fs::directory_iterator(input)) {
    if (e.is_regular_file()) has_files = true;
    if (e.is_directory()) subdirs.push_back(e.path());
  }
  std::sort(subdirs.begin(), subdirs.end());
  if (has_files || subdirs.empty()) subdirs = {input};
  // In a data-parallel job each rank scores a contiguous share of the folders; every rank gets
  // all scores in the one-process order, rank 0 writes the CSV files.
  ScoredFolders mine;
  const auto scores = train::shard_and_gather<PatientScore>(subdirs.size(), l.device, [&](std::size_t b, std::size_t e) {
    const std::vector<fs::path> share(subdirs.begin() + static_cast<std::ptrdiff_t>(b),
                                      subdirs.begin() + static_cast<std::ptrdiff_t>(e));
    mine = score_folders(l, share, input, skip_bad);
    return mine.scores;
  });
  train::run_on_main_process([&] { write_score_files(scores, output, slices_output, force); });
  // The DICOM results last: the CSV files are written even when a source study cannot take them.
  // Each rank writes the series of the patients it scored.
  if (!dicom.dir.empty()) {
    detail::write_dicom_results(l, mine.patients, mine.studies, mine.scores, dicom);
    train::wait_for_sharded_ranks();
  }
  return scores;
}

}  // namespace tomograd::tasks::metastasis
