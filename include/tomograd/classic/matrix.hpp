#pragma once
/// @file A dense row-major matrix of features: the plain type every classic model takes.
#include <algorithm>
#include <cstddef>
#include <string>
#include <vector>

#include "tomograd/core/error.hpp"

namespace tomograd::classic {

/// Rows are samples (one image, vertebra or patient), columns are features. float64.
class Matrix {
 public:
  Matrix() = default;
  /// A rows x cols matrix filled with @p value.
  Matrix(std::size_t rows, std::size_t cols, double value = 0.0)
      : rows_(rows), cols_(cols), data_(rows * cols, value) {}
  /// Wraps row-major @p data. Throws ValueError when its size is not rows * cols.
  Matrix(std::size_t rows, std::size_t cols, std::vector<double> data)
      : rows_(rows), cols_(cols), data_(std::move(data)) {
    if (data_.size() != rows_ * cols_) {
      throw ValueError("Matrix: " + std::to_string(data_.size()) + " values for " + std::to_string(rows_) + "x" +
                       std::to_string(cols_));
    }
  }

  std::size_t rows() const { return rows_; }
  std::size_t cols() const { return cols_; }
  bool empty() const { return rows_ == 0 || cols_ == 0; }

  double& operator()(std::size_t r, std::size_t c) { return data_[r * cols_ + c]; }
  double operator()(std::size_t r, std::size_t c) const { return data_[r * cols_ + c]; }
  /// Pointer to the first value of row @p r (cols() values follow).
  const double* row(std::size_t r) const { return data_.data() + r * cols_; }
  double* row(std::size_t r) { return data_.data() + r * cols_; }
  const std::vector<double>& data() const { return data_; }

  /// The rows listed in @p indices, in that order.
  Matrix select_rows(const std::vector<std::size_t>& indices) const {
    Matrix out(indices.size(), cols_);
    for (std::size_t i = 0; i < indices.size(); ++i) {
      const double* src = row(indices.at(i));
      std::copy(src, src + cols_, out.row(i));
    }
    return out;
  }

 private:
  std::size_t rows_ = 0;
  std::size_t cols_ = 0;
  std::vector<double> data_;
};

/// The values of @p v at @p indices.
template <typename T>
std::vector<T> select(const std::vector<T>& v, const std::vector<std::size_t>& indices) {
  std::vector<T> out;
  out.reserve(indices.size());
  for (std::size_t i : indices) out.push_back(v.at(i));
  return out;
}

}  // namespace tomograd::classic
