#include "xgb_booster.hpp"

#include <xgboost/c_api.h>

#include <cstring>
#include <limits>
#include <mutex>

#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/core/log.hpp"
#include "tomograd/core/parallel.hpp"

namespace tomograd::classic {

namespace {

void init_xgboost() {
  static std::once_flag once;
  std::call_once(once, [] {
    // XGBoost logs through its own console logger; route it to tomograd's logger (stderr / log
    // file), never stdout.
    XGBRegisterLogCallback([](const char* msg) {
      if (std::strstr(msg, "WARNING") != nullptr) logger()->warn("xgboost: {}", msg);
      else logger()->debug("xgboost: {}", msg);
    });
  });
}

void check(const std::string& what, int rc, const char* call) {
  if (rc != 0) throw ValueError(what + ": XGBoost " + call + " failed: " + XGBGetLastError());
}

// RAII for a DMatrix built from a dense float32 copy of the features.
class DMatrix {
 public:
  DMatrix(const std::string& what, const Matrix& x, int threads) {
    std::vector<float> data(x.data().begin(), x.data().end());
    // missing = NaN: no finite feature value is treated as missing.
    check(what,
          XGDMatrixCreateFromMat_omp(data.data(), static_cast<bst_ulong>(x.rows()), static_cast<bst_ulong>(x.cols()),
                                     std::numeric_limits<float>::quiet_NaN(), &handle_, threads),
          "XGDMatrixCreateFromMat");
  }
  ~DMatrix() {
    if (handle_ != nullptr) XGDMatrixFree(handle_);
  }
  DMatrix(const DMatrix&) = delete;
  DMatrix& operator=(const DMatrix&) = delete;
  DMatrixHandle get() const { return handle_; }

 private:
  DMatrixHandle handle_ = nullptr;
};

}  // namespace

XgbBooster::XgbBooster(std::string what) : what_(std::move(what)) { init_xgboost(); }
XgbBooster::~XgbBooster() { free_handle(); }

void XgbBooster::free_handle() {
  if (handle_ != nullptr) XGBoosterFree(handle_);
  handle_ = nullptr;
  num_features_ = -1;
}

int xgboost_threads(int requested, std::size_t rows) {
  if (rows < kXgbMinRowsForThreads) return 1;
  return requested > 0 ? requested : hardware_threads();
}

void XgbBooster::train(const Matrix& x, const std::vector<double>& y, const XgbSettings& settings, int rounds,
                       int threads) {
  free_handle();
  const int n_threads = xgboost_threads(threads, x.rows());
  DMatrix dtrain(what_, x, n_threads);
  std::vector<float> labels(y.begin(), y.end());
  check(what_, XGDMatrixSetFloatInfo(dtrain.get(), "label", labels.data(), static_cast<bst_ulong>(labels.size())),
        "XGDMatrixSetFloatInfo");
  DMatrixHandle dmats[] = {dtrain.get()};
  BoosterHandle h = nullptr;
  check(what_, XGBoosterCreate(dmats, 1, &h), "XGBoosterCreate");
  handle_ = h;
  for (const auto& [k, v] : settings) {
    check(what_, XGBoosterSetParam(handle_, k.c_str(), v.c_str()), ("XGBoosterSetParam " + k).c_str());
  }
  check(what_, XGBoosterSetParam(handle_, "nthread", std::to_string(n_threads).c_str()), "XGBoosterSetParam nthread");
  for (int i = 0; i < rounds; ++i) check(what_, XGBoosterUpdateOneIter(handle_, i, dtrain.get()), "XGBoosterUpdateOneIter");
  num_features_ = static_cast<int>(x.cols());
}

std::vector<double> XgbBooster::predict(const Matrix& x, int threads) const {
  if (handle_ == nullptr) throw ValueError(what_ + ": predict before fit() or load()");
  if (num_features_ >= 0 && x.cols() != static_cast<std::size_t>(num_features_)) {
    throw ValueError(what_ + ": the model was trained on " + std::to_string(num_features_) + " features, got " +
                     std::to_string(x.cols()));
  }
  const int n_threads = xgboost_threads(threads, x.rows());
  check(what_, XGBoosterSetParam(handle_, "nthread", std::to_string(n_threads).c_str()), "XGBoosterSetParam nthread");
  DMatrix dm(what_, x, n_threads);
  // type 0: the transformed output (probabilities for binary:logistic); every tree.
  const char* config = R"({"type": 0, "training": false, "iteration_begin": 0, "iteration_end": 0, "strict_shape": false})";
  const bst_ulong* shape = nullptr;
  bst_ulong dim = 0;
  const float* result = nullptr;
  check(what_, XGBoosterPredictFromDMatrix(handle_, dm.get(), config, &shape, &dim, &result),
        "XGBoosterPredictFromDMatrix");
  bst_ulong count = 1;
  for (bst_ulong i = 0; i < dim; ++i) count *= shape[i];
  if (count != x.rows()) {
    throw ValueError(what_ + ": XGBoost returned " + std::to_string(count) + " predictions for " +
                     std::to_string(x.rows()) + " rows");
  }
  return std::vector<double>(result, result + count);
}

int XgbBooster::boosted_rounds() const {
  if (handle_ == nullptr) return 0;
  int rounds = 0;
  check(what_, XGBoosterBoostedRounds(handle_, &rounds), "XGBoosterBoostedRounds");
  return rounds;
}

void XgbBooster::save(const std::filesystem::path& file) const {
  if (handle_ == nullptr) throw ValueError(what_ + ": save() before fit()");
  AtomicFile out(file, Overwrite::kAllow);  // the temp name keeps ".json", which picks the format
  if (XGBoosterSaveModel(handle_, out.temp_path().c_str()) != 0) {
    throw IoError(what_ + ": cannot write XGBoost model '" + file.string() + "': " + XGBGetLastError());
  }
  out.commit();
}

void XgbBooster::load(const std::filesystem::path& file, const std::string& objective) {
  free_handle();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec)) {
    throw IoError(what_ + ": model file '" + file.string() + "' is missing");
  }
  BoosterHandle h = nullptr;
  check(what_, XGBoosterCreate(nullptr, 0, &h), "XGBoosterCreate");
  handle_ = h;
  if (XGBoosterLoadModel(handle_, file.c_str()) != 0) {
    std::string err = XGBGetLastError();
    free_handle();
    throw IoError(what_ + ": '" + file.string() + "' is not a readable XGBoost model: " + err);
  }
  bst_ulong n = 0;
  check(what_, XGBoosterGetNumFeature(handle_, &n), "XGBoosterGetNumFeature");
  num_features_ = static_cast<int>(n);
  // The objective is in the saved configuration: make sure a classifier file is not read as a
  // regressor (their outputs differ: probabilities vs values).
  bst_ulong len = 0;
  const char* cfg = nullptr;
  check(what_, XGBoosterSaveJsonConfig(handle_, &len, &cfg), "XGBoosterSaveJsonConfig");
  std::string config(cfg, len);
  if (config.find("\"" + objective + "\"") == std::string::npos) {
    free_handle();
    throw IoError(what_ + ": '" + file.string() + "' was not trained with objective " + objective);
  }
}

std::string xgboost_version() {
  int major = 0, minor = 0, patch = 0;
  XGBoostVersion(&major, &minor, &patch);
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
}

}  // namespace tomograd::classic
