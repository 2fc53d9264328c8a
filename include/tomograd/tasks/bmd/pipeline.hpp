#pragma once
/// @file The BMD task: spine bone mineral density (g/cm²) regressed from lumbar MRI, end to end.
///
/// Run directory of `bmd train --out RUN` (docs/bmd.md):
///   RUN/config.yaml          resolved configuration (overrides applied, manifest made absolute)
///   RUN/splits.csv           patient_id,split,bmd,path — the patient-level split used
///   RUN/target_scaler.json   training mean and standard deviation of the target
///   RUN/train.log, RUN/history.csv, RUN/checkpoints/{last,best,final}.pt (+ .json)
///   RUN/eval/<split>/        `bmd evaluate`: metrics.json, predictions.csv, summary.md, report.html
///   RUN/features/<split>.csv `bmd extract-features`: patient_id,bmd,f0..f{E-1}
///   RUN/ml/<model>/          `bmd fit-ml`: the fitted model folder + test/ report
///   RUN/compare.{md,json,html} `bmd compare`
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tomograd/preprocess/config.hpp"
#include "tomograd/tasks/common/train_request.hpp"
#include "tomograd/tasks/training_sections.hpp"
#include "tomograd/train/trainer.hpp"

namespace tomograd::tasks::bmd {

/// The `data` section.
struct DataOptions {
  std::string manifest;          ///< CSV: patient_id,path,<target>[,split]; paths relative to the CSV
  std::string target = "bmd";    ///< target column
  std::string cache_dir;         ///< preprocessed-study cache ("" = $XDG_CACHE_HOME/tomograd/preprocess)
  int batch_size = 16;
  double train = 0.8, val = 0.1, test = 0.1;  ///< split fractions when the manifest has no split column
  uint64_t split_seed = 42;
  int threads = 0;               ///< preprocessing threads (0 = all cores)
};

/// The `eval` section.
struct EvalOptions {
  int bootstrap = 1000;          ///< resamples of patients for 95 % intervals (0 = none)
  double confidence = 0.95;
  /// Warn when the standard deviation of validation predictions falls below this fraction of
  /// the targets' (a model that predicts the mean).
  double collapse_ratio = 0.1;
};

/// Everything a BMD run is configured by (configs/bmd_resnet18.yaml documents each key).
struct BmdConfig : TrainingSections {  // model, loss, optim, scheduler, curriculum, train
  DataOptions data;
  preprocess::PreprocessConfig prep;
  EvalOptions eval;
  std::string yaml;              ///< the resolved configuration as YAML
};

/// Loads @p path, applies "a.b=value" @p overrides, decodes every section (unknown keys are
/// errors naming the dotted path) and makes data.manifest absolute. Throws ConfigError.
BmdConfig load_config(const std::filesystem::path& path, const std::vector<std::string>& overrides = {});
/// The same from YAML text (@p source names it in messages).
BmdConfig parse_config(const std::string& text, const std::string& source,
                       const std::vector<std::string>& overrides = {});

/// One manifest row.
struct Patient {
  std::string patient_id;
  std::filesystem::path path;    ///< absolute
  double bmd = 0.0;              ///< NaN when the manifest has no target (prediction)
  std::string split;             ///< train | val | test, or "" before assignment
  std::size_t line = 0;          ///< manifest line (header = 1)
};

/// Reads a manifest, collecting every problem (missing column, empty id, patient listed twice,
/// path that does not exist, missing or non-numeric target when @p require_target, unknown split)
/// as "manifest.csv line N (patient P): ..." in @p problems instead of stopping at the first.
std::vector<Patient> read_manifest(const std::filesystem::path& manifest, const std::string& target,
                                   bool require_target, std::vector<std::string>& problems);

/// Assigns train/val/test to every patient without a split: patients sorted by target and taken
/// in blocks, shuffled within each block from @p seed, so each split spans the BMD range
/// (stratified by quantile). Counts are round(N·fraction) for val and test, the rest train.
void assign_splits(std::vector<Patient>& patients, double train, double val, double test, uint64_t seed);

/// Folds for cross-validation: patients sorted by target, shuffled within blocks of @p folds,
/// fold = position in block (grouped by patient, stratified by BMD quantile). Returns the fold of
/// each patient.
std::vector<int> stratified_folds(const std::vector<Patient>& patients, int folds, uint64_t seed);

/// Trains the configured model (validating the whole cohort first, then preprocessing it through
/// the cache). Returns the trainer's summary. Throws DataError listing every bad input.
train::TrainSummary train_model(const BmdConfig& config, const TrainRequest& request);

/// A trained run loaded for inference.
struct RunInfo {
  std::filesystem::path dir;
  BmdConfig config;
  double target_mean = 0.0, target_std = 1.0;
  std::vector<Patient> patients;  ///< from splits.csv
  std::string device = "auto";    ///< where its model runs: auto | cpu | cuda | cuda:N
};
/// Reads RUN/config.yaml, target_scaler.json and splits.csv; the model will run on @p device
/// (whatever device it was trained on). Throws IoError naming the missing file.
RunInfo open_run(const std::filesystem::path& run, const std::string& device = "auto");

/// Patient-level predictions of a run's checkpoint on @p patients (mean over selected slices).
struct Predictions {
  std::vector<std::string> patient_ids;
  std::vector<double> y_true;     ///< NaN when unknown
  std::vector<double> y_pred;
  std::vector<std::vector<double>> features;  ///< filled when asked for: [N][E] mean embeddings
};
Predictions predict(const RunInfo& run, const std::vector<Patient>& patients, const std::string& checkpoint = "best",
                    bool with_features = false);

/// `bmd evaluate`: scores @p split (train|val|test) and writes RUN/eval/<split>/. Returns the folder.
std::filesystem::path evaluate_run(const std::filesystem::path& run, const std::string& split,
                                   const std::string& checkpoint = "best", bool force = false,
                                   const std::string& device = "auto");

/// `bmd predict`: predictions for a manifest (.csv) or a folder (one patient per subfolder, or
/// one series) into @p out (patient_id,bmd_pred[,bmd]).
void predict_to_file(const std::filesystem::path& run, const std::filesystem::path& input,
                     const std::filesystem::path& out, const std::string& checkpoint = "best", bool force = false,
                     const std::string& device = "auto");

/// `bmd extract-features`: RUN/features/{train,val,test}.csv. Returns the files written.
std::vector<std::filesystem::path> extract_features(const std::filesystem::path& run,
                                                    const std::string& checkpoint = "best", bool force = false,
                                                    const std::string& device = "auto");

/// The default search grid of a classical model for `bmd fit-ml`.
std::vector<std::pair<std::string, std::vector<std::string>>> default_grid(const std::string& model);

/// Options of fit_ml().
struct FitMlRequest {
  std::vector<std::string> models{"svr"};  ///< svr | xgboost | rf | elasticnet
  int folds = 5;
  uint64_t seed = 42;
  bool force = false;
};
/// `bmd fit-ml`: grid search with grouped CV on the training patients' features (train + val),
/// refit, score on the test patients. Writes RUN/ml/<model>/ (+ test/ report). Returns test R²
/// per model.
std::map<std::string, double> fit_ml(const std::filesystem::path& run, const FitMlRequest& request);

/// `bmd compare`: the CNN and every fitted classical model on the test split, with intervals.
/// Writes RUN/compare.md, compare.json, compare.html and returns the Markdown table. Evaluates the
/// CNN on the test split first (on @p device) when RUN/eval/test is missing.
std::string compare_run(const std::filesystem::path& run, int bootstrap = 1000, const std::string& device = "auto");

/// `bmd cv`: grouped, BMD-stratified K-fold cross-validation into @p out/fold_<k>/ plus
/// oof_predictions.csv and cv_summary.{json,md}. @p device: "" = the config's train.device.
/// Returns the Markdown summary.
std::string cross_validate(const BmdConfig& config, int folds, const std::filesystem::path& out, bool force = false,
                           const std::string& device = "");

/// `bmd runs`: one line per run directory under @p dir (recursively, depth 2) with its
/// architecture, epochs, checkpoints and key metrics, as a Markdown table.
std::string list_runs(const std::filesystem::path& dir);

}  // namespace tomograd::tasks::bmd
