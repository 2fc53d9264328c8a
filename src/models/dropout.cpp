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

// A mask shape that keeps the first @p dims dimensions of @p x and broadcasts over the rest.
std::vector<int64_t> leading_dims(const torch::Tensor& x, int64_t dims) {
  std::vector<int64_t> shape(static_cast<std::size_t>(x.dim()), 1);
  for (int64_t d = 0; d < dims; ++d) shape[static_cast<std::size_t>(d)] = x.size(d);
  return shape;
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
  return apply_keep_mask(x, leading_dims(x, 2), p);
}

torch::Tensor drop_path(const torch::Tensor& x, double p, bool training) {
  if (!training || p <= 0.0) return x;
  return apply_keep_mask(x, leading_dims(x, 1), p);
}

template <bool kChannels>
const char* KeyedDropoutImpl<kChannels>::name() {
  return kChannels ? "Dropout3d" : "Dropout";
}

template <bool kChannels>
KeyedDropoutImpl<kChannels>::KeyedDropoutImpl(double p) : p_(p) {
  check_dropout_rate(p, name());
}

template <bool kChannels>
torch::Tensor KeyedDropoutImpl<kChannels>::forward(const torch::Tensor& x) {
  return kChannels ? batch_channel_dropout(x, p_, this->is_training()) : batch_dropout(x, p_, this->is_training());
}

template <bool kChannels>
void KeyedDropoutImpl<kChannels>::pretty_print(std::ostream& stream) const {
  stream << "tomograd::models::" << name() << "(p=" << p_ << ")";
}

template class KeyedDropoutImpl<false>;
template class KeyedDropoutImpl<true>;

}  // namespace tomograd::models
