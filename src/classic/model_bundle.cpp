#include "tomograd/classic/model_bundle.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <set>

#include "libsvm_model.hpp"
#include "tomograd/classic/metrics.hpp"
#include "tomograd/classic/registry.hpp"
#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/build_info.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/core/log.hpp"
#include "xgb_booster.hpp"

namespace fs = std::filesystem;

namespace tomograd::classic {

namespace {

constexpr const char* kFormat = "tomograd-classic-model";
constexpr int kFormatVersion = 1;
// Every model file name a model folder can hold (the current model's is kept, others removed
// on --force so a folder never holds a stale model of another kind).
const char* const kModelFiles[] = {"model.libsvm", "model.xgb.json", "elasticnet.json"};

std::string utc_now() {
  std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// Whole-file checks with file lines in the message, before any model sees the data.
void check_training_target(const FeatureTable& t, Task task) {
  if (!t.has_target()) throw ValueError(t.source + ": no target column");
  if (task == Task::kRegression) {
    bool constant = std::all_of(t.y.begin(), t.y.end(), [&](double v) { return v == t.y.front(); });
    if (constant) {
      throw ValueError(t.source + ": target column '" + t.target_column + "' is constant (all " +
                       std::to_string(t.y.size()) + " rows are " + format_number(t.y.front()) +
                       "); a regression needs varying targets");
    }
    return;
  }
  for (std::size_t r = 0; r < t.y.size(); ++r) {
    if (t.y[r] != 0.0 && t.y[r] != 1.0) {
      throw ValueError(t.source + ": line " + std::to_string(t.lines[r]) + ", column '" + t.target_column +
                       "': a binary target must be 0 or 1, got " + format_number(t.y[r]));
    }
  }
  bool single = std::all_of(t.y.begin(), t.y.end(), [&](double v) { return v == t.y.front(); });
  if (single) {
    throw ValueError(t.source + ": target column '" + t.target_column + "' has a single class (all " +
                     std::to_string(t.y.size()) + " rows are " + format_number(t.y.front()) +
                     "); a binary task needs both 0 and 1");
  }
}

nlohmann::json target_summary(const FeatureTable& t, Task task) {
  if (task == Task::kBinary) {
    auto positives = std::count(t.y.begin(), t.y.end(), 1.0);
    return {{"positives", positives}, {"negatives", static_cast<long>(t.y.size()) - positives}};
  }
  double mean = 0, lo = t.y.front(), hi = t.y.front();
  for (double v : t.y) {
    mean += v;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  mean /= static_cast<double>(t.y.size());
  double var = 0;
  for (double v : t.y) var += (v - mean) * (v - mean);
  return {{"mean", mean}, {"std", std::sqrt(var / static_cast<double>(t.y.size()))}, {"min", lo}, {"max", hi}};
}

template <typename T>
T get_key(const nlohmann::json& j, const char* key, const fs::path& file) {
  if (!j.contains(key)) throw IoError(file.string() + ": missing key '" + key + "'");
  try {
    return j.at(key).get<T>();
  } catch (const nlohmann::json::exception&) {
    throw IoError(file.string() + ": key '" + key + "' has the wrong type (" + j.at(key).dump() + ")");
  }
}

}  // namespace

ModelBundle::ModelBundle() = default;
ModelBundle::~ModelBundle() = default;
ModelBundle::ModelBundle(ModelBundle&&) noexcept = default;
ModelBundle& ModelBundle::operator=(ModelBundle&&) noexcept = default;

const Estimator& ModelBundle::estimator() const {
  if (regressor_) return *regressor_;
  if (classifier_) return *classifier_;
  throw ValueError("model bundle: no fitted model");
}

Task ModelBundle::task() const { return regressor_ ? Task::kRegression : Task::kBinary; }

const std::string& ModelBundle::model_name() const { return metadata_.at("model").get_ref<const std::string&>(); }

ModelBundle ModelBundle::fit(const FeatureTable& train, const FitOptions& options) {
  const ModelEntry& entry = model_registry().get(options.model, options.task);
  if (options.folds == 1 || options.folds < 0) {
    throw ConfigError("--folds must be 0 (no cross-validation) or at least 2, got " + std::to_string(options.folds));
  }
  if (options.folds == 0 && !options.grid.empty()) {
    throw ConfigError("a parameter grid needs cross-validation to choose from it (--folds >= 2)");
  }
  check_training_target(train, options.task);

  ModelBundle b;
  nlohmann::json cv = nullptr;
  ParamMap best;
  if (options.folds >= 2) {
    GridSearchOptions g;
    g.folds = options.folds;
    g.seed = options.seed;
    g.metric = options.metric;
    g.threads = options.threads;
    GridSearchResult r = grid_search(entry, options.params, options.grid, train.x, train.y, train.ids, g);
    const GridPoint& p = r.points[r.best];
    logger()->info("grid search: best of {} by mean {} = {:.4g} in {:.1f} s", r.points.size(), r.metric,
                   p.mean.at(r.metric), r.seconds);
    best = p.params;
    cv = r.to_json();
  } else {
    if (!options.metric.empty()) higher_is_better(options.metric);
    best = entry.resolve(options.params);
  }

  b.scaler_.fit(train.x);
  Matrix xs = b.scaler_.transform(train.x);
  if (options.task == Task::kRegression) {
    b.regressor_ = entry.make_regressor(best);
    b.regressor_->set_threads(options.threads);
    b.regressor_->fit(xs, train.y);
  } else {
    b.classifier_ = entry.make_classifier(best);
    b.classifier_->set_threads(options.threads);
    b.classifier_->fit(xs, train.y);
  }
  const Estimator& est = b.estimator();

  nlohmann::json constant = nlohmann::json::array();
  for (std::size_t j : b.scaler_.constant_features()) constant.push_back(train.feature_names[j]);
  if (!constant.empty()) {
    logger()->warn("{}: {} feature column(s) are constant in the training rows and carry no information (first: {})",
                   train.source, constant.size(), constant[0].get<std::string>());
  }
  std::set<std::string> ids(train.ids.begin(), train.ids.end());

  nlohmann::json& m = b.metadata_;
  m["format"] = kFormat;
  m["format_version"] = kFormatVersion;
  m["tomograd_version"] = TOMOGRAD_VERSION;
  m["library_versions"] = {{"xgboost", xgboost_version()}, {"libsvm", libsvm_version_number()}};
  m["created_utc"] = utc_now();
  m["task"] = task_name(options.task);
  m["model"] = entry.name;
  m["description"] = entry.description;
  m["model_file"] = est.file_name();
  m["parameters"] = est.parameters();
  m["fitted"] = est.fitted_info();
  m["id_column"] = train.id_column;
  m["target_column"] = train.target_column;
  m["features"] = train.feature_names;
  m["scaler"] = b.scaler_.to_json();
  m["constant_features"] = constant;
  m["training"] = {{"source", fs::path(train.source).filename().string()},
                   {"rows", train.num_rows()},
                   {"ids", ids.size()},
                   {"target", target_summary(train, options.task)}};
  m["cross_validation"] = cv;
  b.features_ = train.feature_names;
  return b;
}

void check_model_dir(const fs::path& dir, bool force) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) return;
  if (!fs::is_directory(dir, ec)) throw IoError("model folder '" + dir.string() + "' exists and is not a folder");
  if (force) return;
  if (fs::directory_iterator(dir, ec) != fs::directory_iterator()) {
    throw IoError("model folder '" + dir.string() + "' is not empty; choose a new folder or pass --force to "
                  "overwrite its model");
  }
}

void ModelBundle::save(const fs::path& dir, bool force) const {
  const Estimator& est = estimator();
  check_model_dir(dir, force);
  ensure_directory(dir);
  // Model file first, metadata last: a folder whose metadata.json exists has a complete model.
  est.save(dir / est.file_name());
  write_file_atomic(dir / kMetadataFile, metadata_.dump(2) + "\n", force ? Overwrite::kAllow : Overwrite::kNever);
  if (force) {
    for (const char* name : kModelFiles) {
      if (name != est.file_name()) {
        std::error_code ec;
        fs::remove(dir / name, ec);
      }
    }
  }
}

ModelBundle ModelBundle::load(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw IoError("model folder '" + dir.string() + "' does not exist");
  fs::path meta_file = dir / kMetadataFile;
  if (!fs::is_regular_file(meta_file, ec)) {
    throw IoError("'" + dir.string() + "' is not a tomograd model folder (no " + kMetadataFile + ")");
  }
  ModelBundle b;
  try {
    b.metadata_ = nlohmann::json::parse(read_file(meta_file));
  } catch (const nlohmann::json::exception& e) {
    throw IoError(meta_file.string() + ": not valid JSON: " + e.what());
  }
  const nlohmann::json& m = b.metadata_;
  if (!m.is_object() || m.value("format", "") != kFormat) {
    throw IoError(meta_file.string() + ": not a tomograd classic model (\"format\" is not \"" + kFormat + "\")");
  }
  int version = get_key<int>(m, "format_version", meta_file);
  if (version > kFormatVersion) {
    throw IoError(meta_file.string() + ": format_version " + std::to_string(version) +
                  " is newer than this tomograd reads (" + std::to_string(kFormatVersion) + ")");
  }
  Task task;
  try {
    task = parse_task(get_key<std::string>(m, "task", meta_file));
  } catch (const ConfigError& e) {
    throw IoError(meta_file.string() + ": " + e.what());
  }
  auto name = get_key<std::string>(m, "model", meta_file);
  if (!model_registry().has(name, task)) {
    throw IoError(meta_file.string() + ": unknown " + task_name(task) + " model '" + name + "'");
  }
  const ModelEntry& entry = model_registry().get(name, task);
  ParamMap params;
  try {
    params = param_map_from_json(get_key<nlohmann::json>(m, "parameters", meta_file));
    if (task == Task::kRegression) b.regressor_ = entry.make_regressor(params);
    else b.classifier_ = entry.make_classifier(params);
  } catch (const ConfigError& e) {
    throw IoError(meta_file.string() + ": " + e.what());
  }
  auto model_file = get_key<std::string>(m, "model_file", meta_file);
  if (model_file != b.estimator().file_name()) {
    throw IoError(meta_file.string() + ": model_file '" + model_file + "' does not match model '" + name + "'");
  }
  if (b.regressor_) b.regressor_->load(dir / model_file);
  else b.classifier_->load(dir / model_file);
  try {
    b.scaler_ = StandardScaler::from_json(get_key<nlohmann::json>(m, "scaler", meta_file));
  } catch (const ValueError& e) {
    throw IoError(meta_file.string() + ": " + e.what());
  }
  b.features_ = get_key<std::vector<std::string>>(m, "features", meta_file);
  if (b.features_.size() != b.scaler_.mean().size()) {
    throw IoError(meta_file.string() + ": " + std::to_string(b.features_.size()) + " features but a scaler for " +
                  std::to_string(b.scaler_.mean().size()));
  }
  get_key<std::string>(m, "id_column", meta_file);
  get_key<std::string>(m, "target_column", meta_file);
  return b;
}

FeatureTableOptions ModelBundle::input_options() const {
  FeatureTableOptions o;
  o.id_column = metadata_.at("id_column").get<std::string>();
  o.target_column = metadata_.at("target_column").get<std::string>();
  o.target_mode = TargetMode::kOptional;
  o.features = features_;
  return o;
}

std::vector<double> ModelBundle::predict(const FeatureTable& input) const {
  if (input.feature_names != features_) {
    throw ValueError(input.source + ": feature columns differ from the model's " + std::to_string(features_.size()) +
                     " training features (read the file with input_options())");
  }
  Matrix xs = scaler_.transform(input.x);
  if (regressor_) return regressor_->predict(xs);
  return classifier_->predict_proba(xs);
}

CsvTable ModelBundle::prediction_table(const FeatureTable& input, const std::vector<double>& predictions) const {
  if (predictions.size() != input.num_rows()) {
    throw ValueError("prediction table: " + std::to_string(predictions.size()) + " predictions for " +
                     std::to_string(input.num_rows()) + " rows");
  }
  std::vector<std::string> outputs = task() == Task::kRegression ? std::vector<std::string>{"prediction"}
                                                                   : std::vector<std::string>{"probability", "predicted_label"};
  std::vector<std::string> header{input.id_column};
  if (input.has_target()) {
    // Keep the target's name unless it collides with an output column.
    bool clash = std::find(outputs.begin(), outputs.end(), input.target_column) != outputs.end();
    header.push_back(clash ? input.target_column + "_true" : input.target_column);
  }
  header.insert(header.end(), outputs.begin(), outputs.end());
  CsvTable out(header, {}, "predictions");
  for (std::size_t r = 0; r < input.num_rows(); ++r) {
    std::vector<std::string> row{input.ids[r]};
    if (input.has_target()) row.push_back(format_number(input.y[r]));
    row.push_back(format_number(predictions[r]));
    if (task() == Task::kBinary) row.push_back(predictions[r] >= 0.5 ? "1" : "0");
    out.add_row(std::move(row));
  }
  return out;
}

}  // namespace tomograd::classic
