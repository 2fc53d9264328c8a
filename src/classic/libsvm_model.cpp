#include "libsvm_model.hpp"

#include <mutex>

#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/core/log.hpp"

namespace tomograd::classic {

void silence_libsvm() {
  static std::once_flag once;
  // libsvm prints solver progress ("*", "optimization finished, #iter = ...") with printf; the
  // library never writes to stdout, so drop it (the numbers are in fitted_info()).
  std::call_once(once, [] { svm_set_print_string_function([](const char*) {}); });
}

svm_parameter default_svm_parameter() {
  svm_parameter p{};
  p.svm_type = EPSILON_SVR;
  p.kernel_type = RBF;
  p.degree = 3;
  p.gamma = 1.0;
  p.coef0 = 0.0;
  p.cache_size = 200;
  p.eps = 1e-3;
  p.C = 1.0;
  p.nr_weight = 0;
  p.weight_label = nullptr;
  p.weight = nullptr;
  p.nu = 0.5;
  p.p = 0.1;
  p.shrinking = 1;
  p.probability = 0;
  return p;
}

LibsvmModel::LibsvmModel() { silence_libsvm(); }
LibsvmModel::~LibsvmModel() { reset(); }

void LibsvmModel::reset() {
  if (model_ != nullptr) svm_free_and_destroy_model(&model_);
  model_ = nullptr;
  nodes_.clear();
  rows_.clear();
  y_.clear();
  num_features_ = -1;
}

namespace {
// One row as libsvm nodes: every feature (zeros too, as sklearn's dense libsvm sees them), then
// the index -1 terminator. Indices are 1-based, as in libsvm's file format.
void fill_row(const double* row, std::size_t cols, svm_node* out) {
  for (std::size_t j = 0; j < cols; ++j) {
    out[j].index = static_cast<int>(j) + 1;
    out[j].value = row[j];
  }
  out[cols].index = -1;
  out[cols].value = 0.0;
}
}  // namespace

void LibsvmModel::train(const std::string& what, const Matrix& x, const std::vector<double>& y,
                        const svm_parameter& param) {
  reset();
  const std::size_t n = x.rows(), f = x.cols();
  nodes_.resize(n * (f + 1));
  rows_.resize(n);
  y_ = y;
  for (std::size_t r = 0; r < n; ++r) {
    rows_[r] = nodes_.data() + r * (f + 1);
    fill_row(x.row(r), f, rows_[r]);
  }
  svm_problem prob{};
  prob.l = static_cast<int>(n);
  prob.y = y_.data();
  prob.x = rows_.data();
  if (const char* err = svm_check_parameter(&prob, &param)) {
    throw ValueError(what + ": libsvm rejected the parameters: " + err);
  }
  model_ = svm_train(&prob, &param);
  if (model_ == nullptr) throw ValueError(what + ": libsvm training failed");
  num_features_ = static_cast<int>(f);
}

void LibsvmModel::check_columns(const std::string& what, const Matrix& x) const {
  if (model_ == nullptr) throw ValueError(what + ": predict before fit() or load()");
  if (num_features_ >= 0 && x.cols() != static_cast<std::size_t>(num_features_)) {
    throw ValueError(what + ": the model was trained on " + std::to_string(num_features_) + " features, got " +
                     std::to_string(x.cols()));
  }
}

std::vector<double> LibsvmModel::predict(const Matrix& x) const {
  check_columns("libsvm", x);
  std::vector<svm_node> buf(x.cols() + 1);
  std::vector<double> out(x.rows());
  for (std::size_t r = 0; r < x.rows(); ++r) {
    fill_row(x.row(r), x.cols(), buf.data());
    out[r] = svm_predict(model_, buf.data());
  }
  return out;
}

std::vector<double> LibsvmModel::predict_probability(const Matrix& x, int label) const {
  check_columns("libsvm", x);
  if (svm_check_probability_model(model_) == 0) throw ValueError("libsvm: the model has no probability information");
  int k = svm_get_nr_class(model_);
  std::vector<int> labels(static_cast<std::size_t>(k));
  svm_get_labels(model_, labels.data());
  int idx = -1;
  for (int i = 0; i < k; ++i) {
    if (labels[static_cast<std::size_t>(i)] == label) idx = i;
  }
  if (idx < 0) throw ValueError("libsvm: the model has no class " + std::to_string(label));
  std::vector<svm_node> buf(x.cols() + 1);
  std::vector<double> prob(static_cast<std::size_t>(k));
  std::vector<double> out(x.rows());
  for (std::size_t r = 0; r < x.rows(); ++r) {
    fill_row(x.row(r), x.cols(), buf.data());
    svm_predict_probability(model_, buf.data(), prob.data());
    out[r] = prob[static_cast<std::size_t>(idx)];
  }
  return out;
}

void LibsvmModel::save(const std::string& what, const std::filesystem::path& file) const {
  if (model_ == nullptr) throw ValueError(what + ": save() before fit()");
  AtomicFile out(file, Overwrite::kAllow);
  if (svm_save_model(out.temp_path().c_str(), model_) != 0) {
    throw IoError(what + ": cannot write libsvm model '" + file.string() + "'");
  }
  out.commit();
}

void LibsvmModel::load(const std::string& what, const std::filesystem::path& file, int expected_svm_type) {
  reset();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec)) throw IoError(what + ": model file '" + file.string() + "' is missing");
  svm_model* m = svm_load_model(file.c_str());
  if (m == nullptr) throw IoError(what + ": '" + file.string() + "' is not a readable libsvm model");
  if (svm_get_svm_type(m) != expected_svm_type) {
    svm_free_and_destroy_model(&m);
    throw IoError(what + ": '" + file.string() + "' holds another kind of libsvm model");
  }
  model_ = m;
}

int libsvm_version_number() { return libsvm_version; }

}  // namespace tomograd::classic
