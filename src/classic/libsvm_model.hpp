#pragma once
// Private: owns a libsvm model and the training rows its support vectors point into.
#include <libsvm/svm.h>

#include <filesystem>
#include <string>
#include <vector>

#include "tomograd/classic/matrix.hpp"

namespace tomograd::classic {

/// A libsvm svm_model plus its memory. svm_train() keeps pointers into the training problem
/// (support vectors are rows of prob.x), so the node storage lives as long as the model.
class LibsvmModel {
 public:
  LibsvmModel();
  ~LibsvmModel();
  LibsvmModel(const LibsvmModel&) = delete;
  LibsvmModel& operator=(const LibsvmModel&) = delete;

  /// Trains. @p what names the model in messages. Throws ValueError for a parameter libsvm
  /// rejects (svm_check_parameter).
  void train(const std::string& what, const Matrix& x, const std::vector<double>& y, const svm_parameter& param);
  /// svm_predict on every row: values (SVR) or labels (SVC).
  std::vector<double> predict(const Matrix& x) const;
  /// Platt probability of class @p label for every row (models trained with probability = 1).
  std::vector<double> predict_probability(const Matrix& x, int label) const;

  void save(const std::string& what, const std::filesystem::path& file) const;
  void load(const std::string& what, const std::filesystem::path& file, int expected_svm_type);

  bool fitted() const { return model_ != nullptr; }
  const svm_model* get() const { return model_; }
  /// Number of features seen in training (-1 for a loaded model: libsvm files do not say).
  int num_features() const { return num_features_; }

 private:
  void reset();
  void check_columns(const std::string& what, const Matrix& x) const;

  svm_model* model_ = nullptr;
  std::vector<svm_node> nodes_;
  std::vector<svm_node*> rows_;
  std::vector<double> y_;
  int num_features_ = -1;
};

/// Routes libsvm's console output away from stdout (called before every libsvm call).
void silence_libsvm();

/// A default svm_parameter (libsvm's and sklearn's defaults).
svm_parameter default_svm_parameter();

/// libsvm's version as libsvm writes it (e.g. 324 for 3.24), from the library linked at run time.
int libsvm_version_number();

}  // namespace tomograd::classic
