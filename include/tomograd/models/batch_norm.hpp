#pragma once
/// @file BatchNorm layers of tomograd's models: LibTorch's BatchNorm1d/2d/3d (same parameters,
/// buffers and state-dict names, so torchvision/MONAI weights load as before, and
/// is_batch_norm() finds both), plus synchronized batch statistics:
/// while training, when the train layer has installed an all-reduce (batch_stats.hpp,
/// train.sync_batchnorm in a data-parallel run), mean and variance are those of the whole global
/// batch over every process, and so are the input gradients (PyTorch's SyncBatchNorm).
#include <torch/torch.h>

#include "tomograd/core/batch_stats.hpp"

namespace tomograd::models {

/// BatchNorm over the global batch: every dimension but 1 (channels) is reduced, locally and then
/// with @p allreduce. Updates the running statistics as torch.nn.SyncBatchNorm does (unbiased
/// variance of the global batch) when @p running_mean is defined. Differentiable in x, weight and
/// bias; the backward pass all-reduces the two gradient sums it needs.
torch::Tensor sync_batch_norm(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                              torch::Tensor running_mean, torch::Tensor running_var,
                              torch::Tensor num_batches_tracked, const torch::nn::BatchNormOptions& options,
                              const AllReduceSum& allreduce);

/// Throws ValueError unless @p input is [N,C,...] with D spatial dimensions (D = 1 also takes [N,C]).
void check_batch_norm_input(const torch::Tensor& input, size_t spatial_dims);

/// LibTorch's BatchNorm arithmetic (torch::nn::BatchNormImplBase: the same options, parameters
/// and buffers) that normalizes with global-batch statistics while training when an all-reduce is
/// installed. D is the number of spatial dimensions (0 for [N,C]/[N,C,L] inputs).
template <size_t D, typename Derived>
class SyncableBatchNorm : public torch::nn::BatchNormImplBase<D, Derived> {
 public:
  using torch::nn::BatchNormImplBase<D, Derived>::BatchNormImplBase;
  torch::Tensor forward(const torch::Tensor& input) {
    const AllReduceSum& allreduce = batch_stats_allreduce();
    if (!this->is_training() || !allreduce) return torch::nn::BatchNormImplBase<D, Derived>::forward(input);
    this->_check_input_dim(input);
    return sync_batch_norm(input, this->weight, this->bias, this->running_mean, this->running_var,
                           this->num_batches_tracked, this->options, allreduce);
  }
  void _check_input_dim(const torch::Tensor& input) override { check_batch_norm_input(input, D); }
};

class BatchNorm1dImpl : public SyncableBatchNorm<1, BatchNorm1dImpl> {
 public:
  using SyncableBatchNorm<1, BatchNorm1dImpl>::SyncableBatchNorm;
};
class BatchNorm2dImpl : public SyncableBatchNorm<2, BatchNorm2dImpl> {
 public:
  using SyncableBatchNorm<2, BatchNorm2dImpl>::SyncableBatchNorm;
};
class BatchNorm3dImpl : public SyncableBatchNorm<3, BatchNorm3dImpl> {
 public:
  using SyncableBatchNorm<3, BatchNorm3dImpl>::SyncableBatchNorm;
};
TORCH_MODULE(BatchNorm1d);
TORCH_MODULE(BatchNorm2d);
TORCH_MODULE(BatchNorm3d);

/// True for LibTorch's and tomograd's BatchNorm layers (freezing, initialization).
bool is_batch_norm(const torch::nn::Module& module);

}  // namespace tomograd::models

// LibTorch defines BatchNormImplBase::pretty_print in its library for its own three classes only;
// these are ours (batch_norm.cpp).
namespace torch::nn {
template <>
void BatchNormImplBase<1, tomograd::models::BatchNorm1dImpl>::pretty_print(std::ostream& stream) const;
template <>
void BatchNormImplBase<2, tomograd::models::BatchNorm2dImpl>::pretty_print(std::ostream& stream) const;
template <>
void BatchNormImplBase<3, tomograd::models::BatchNorm3dImpl>::pretty_print(std::ostream& stream) const;
}  // namespace torch::nn
