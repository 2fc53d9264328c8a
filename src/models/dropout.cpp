// Dropout layers with batch-keyed masks (see dropout.hpp).
#include "tomograd/models/dropout.hpp"

#include <string>
#include <vector>

#include "tomograd/core/batch_draws.hpp"
#include "tomograd/core/error.hpp"

namespace tomograd::models {

namespace {

// x scaled by a keep mask of @p mask_shape (broadcast over the rest), as LibTorch's dropout.
torch::Tensor apply_keep_mask(const torch::Tensor& x, std::vector<int64_t> mask_shape, double p) {
  if (p >= 1.0) return x * 0;
  const torch::Tensor keep = batch_keep_mask(mask_shape, 1.0 - p, x.options());
  return x * keep / (1.0 - p);
}

}  // namespace

void check_dropout_rate(double p, const char* what) {
  if (!(p >= 0.0 && p < 1.0)) {
    throw ValueError(std::string(what) + ": dropout rate expected in [0, 1), got " + std::to_string(p));
  }
}

torch::Tensor batch_dropout(const torch::Tensor& x, double p, bool training) {
  if (!training || p <= 0.0) return x;
  return apply_keep_mask(x, x.sizes().vec(), p);
}

torch::Tensor batch_channel_dropout(const torch::Tensor& x, double p, bool training) {
  if (!training || p <= 0.0) return x;
  if (x.dim() < 2) throw ValueError("channel dropout: expected [N, C, ...], got " + std::to_string(x.dim()) + " dims");
  std::vector<int64_t> shape(static_cast<std::size_t>(x.dim()), 1);
  shape[0] = x.size(0);
  shape[1] = x.size(1);
  return apply_keep_mask(x, shape, p);
}

torch::Tensor drop_path(const torch::Tensor& x, double p, bool training) {
  if (!training || p <= 0.0) return x;
  std::vector<int64_t> shape(static_cast<std::size_t>(x.dim()), 1);
  shape[0] = x.size(0);
  return apply_keep_mask(x, shape, p);
}

DropoutImpl::DropoutImpl(double p) : p_(p) { check_dropout_rate(p, "Dropout"); }

void DropoutImpl::pretty_print(std::ostream& stream) const { stream << "tomograd::models::Dropout(p=" << p_ << ")"; }

Dropout3dImpl::Dropout3dImpl(double p) : p_(p) { check_dropout_rate(p, "Dropout3d"); }

void Dropout3dImpl::pretty_print(std::ostream& stream) const {
  stream << "tomograd::models::Dropout3d(p=" << p_ << ")";
}

}  // namespace tomograd::models
