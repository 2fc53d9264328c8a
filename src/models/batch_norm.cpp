// Synchronized BatchNorm: statistics and input gradients of the whole global batch of a
// data-parallel run (the arithmetic of torch.nn.SyncBatchNorm, written out).
#include "tomograd/models/batch_norm.hpp"

#include <string>
#include <vector>

#include "tomograd/core/error.hpp"

namespace tomograd::models {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

std::vector<int64_t> reduced_dims(const torch::Tensor& x) {
  std::vector<int64_t> dims{0};
  for (int64_t d = 2; d < x.dim(); ++d) dims.push_back(d);
  return dims;
}

/// [C] -> [1,C,1,...] to broadcast against x.
torch::Tensor per_channel(const torch::Tensor& v, const torch::Tensor& x) {
  std::vector<int64_t> shape(static_cast<std::size_t>(x.dim()), 1);
  shape[1] = v.size(0);
  return v.reshape(shape);
}

/// y = (x - mean) * invstd * weight + bias with mean and invstd of the global batch; the backward
/// pass accounts for their dependence on every rank's x through two all-reduced sums.
struct SyncBatchNormFunction : public torch::autograd::Function<SyncBatchNormFunction> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& weight,
                               const torch::Tensor& bias, const torch::Tensor& mean, const torch::Tensor& invstd,
                               double count) {
    ctx->save_for_backward({x, weight, mean, invstd});
    ctx->saved_data["count"] = count;
    const torch::Tensor xhat = (x - per_channel(mean, x)) * per_channel(invstd, x);
    return xhat * per_channel(weight, x) + per_channel(bias, x);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor &x = saved[0], &weight = saved[1], &mean = saved[2], &invstd = saved[3];
    const double count = ctx->saved_data["count"].toDouble();
    const torch::Tensor dy = grad_outputs[0];
    const auto dims = reduced_dims(x);
    const torch::Tensor xhat = (x - per_channel(mean, x)) * per_channel(invstd, x);
    const torch::Tensor sum_dy = dy.sum(dims);
    const torch::Tensor sum_dy_xhat = (dy * xhat).sum(dims);
    // Weight and bias gradients stay local: the gradient all-reduce of the parameters sums them.
    std::vector<torch::Tensor> global{sum_dy.clone(), sum_dy_xhat.clone()};
    const AllReduceSum& allreduce = batch_stats_allreduce();
    if (!allreduce) {
      throw Error("synchronized BatchNorm: the all-reduce of batch statistics was removed before the backward pass");
    }
    allreduce(global);
    const torch::Tensor dx = (dy - per_channel(global[0] / count, x) - xhat * per_channel(global[1] / count, x)) *
                             per_channel(invstd * weight, x);
    return {dx, sum_dy_xhat, sum_dy, torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor sync_batch_norm(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                              torch::Tensor running_mean, torch::Tensor running_var,
                              torch::Tensor num_batches_tracked, const torch::nn::BatchNormOptions& options,
                              const AllReduceSum& allreduce) {
  if (x.dim() < 2) {
    throw ValueError("synchronized BatchNorm needs an input [N,C,...], got " + std::to_string(x.dim()) + " dimensions");
  }
  const int64_t channels = x.size(1);
  torch::Tensor mean, var, invstd;
  double count = 0;
  {
    torch::NoGradGuard no_grad;
    const auto dims = reduced_dims(x);
    // Under autocast x is half or bfloat16, whose squares overflow (|x| > 256) or keep 8 bits:
    // squared in float32 at least. Sums in double: the variance is E[x²] − E[x]² over the global batch.
    const bool reduced = x.scalar_type() == torch::kHalf || x.scalar_type() == torch::kBFloat16;
    const torch::Tensor xd = reduced ? x.detach().to(torch::kFloat32) : x.detach();
    std::vector<torch::Tensor> stats{torch::cat({xd.sum(dims, false, torch::kDouble),
                                                 (xd * xd).sum(dims, false, torch::kDouble),
                                                 torch::full({1}, static_cast<double>(x.numel() / std::max<int64_t>(channels, 1)),
                                                             xd.options().dtype(torch::kDouble))})};
    allreduce(stats);
    count = stats[0][2 * channels].item<double>();
    if (count < 2) {
      throw ValueError("synchronized BatchNorm needs more than one value per channel over the global batch, got " +
                       std::to_string(static_cast<int64_t>(count)));
    }
    const torch::Tensor mean_d = stats[0].slice(0, 0, channels) / count;
    const torch::Tensor var_d = (stats[0].slice(0, channels, 2 * channels) / count - mean_d * mean_d).clamp_min(0);
    mean = mean_d.to(x.scalar_type());
    var = var_d.to(x.scalar_type());
    invstd = (var_d + options.eps()).rsqrt().to(x.scalar_type());
    if (options.track_running_stats() && running_mean.defined()) {
      num_batches_tracked.add_(1);
      const double factor = options.momentum() ? *options.momentum()
                                               : 1.0 / static_cast<double>(num_batches_tracked.item<int64_t>());
      running_mean.mul_(1 - factor).add_(mean_d.to(running_mean.scalar_type()), factor);
      running_var.mul_(1 - factor).add_((var_d * (count / (count - 1))).to(running_var.scalar_type()), factor);
    }
  }
  const torch::Tensor w = weight.defined() ? weight : torch::ones({channels}, x.options());
  const torch::Tensor b = bias.defined() ? bias : torch::zeros({channels}, x.options());
  return SyncBatchNormFunction::apply(x, w, b, mean, invstd, count);
}

void check_batch_norm_input(const torch::Tensor& input, size_t spatial_dims) {
  const auto d = static_cast<size_t>(input.dim());
  if (d == spatial_dims + 2 || (spatial_dims == 1 && d == 2)) return;
  throw ValueError("BatchNorm" + std::to_string(spatial_dims) + "d expects an input with " +
                   std::to_string(spatial_dims + 2) + " dimensions [N,C,...], got " + std::to_string(d));
}

bool is_batch_norm(const torch::nn::Module& module) {
  return module.as<torch::nn::BatchNorm1d>() || module.as<torch::nn::BatchNorm2d>() ||
         module.as<torch::nn::BatchNorm3d>() || module.as<BatchNorm1d>() || module.as<BatchNorm2d>() ||
         module.as<BatchNorm3d>();
}

namespace {
void print_batch_norm(std::ostream& stream, size_t dims, const torch::nn::BatchNormOptions& o) {
  stream << "tomograd::models::BatchNorm" << dims << "d(" << o.num_features() << ", eps=" << o.eps()
         << ", momentum=";
  if (o.momentum()) stream << *o.momentum();
  else stream << "None";
  stream << ", affine=" << (o.affine() ? "true" : "false")
         << ", track_running_stats=" << (o.track_running_stats() ? "true" : "false") << ")";
}
}  // namespace

}  // namespace tomograd::models

namespace torch::nn {
template <>
void BatchNormImplBase<1, tomograd::models::BatchNorm1dImpl>::pretty_print(std::ostream& stream) const {
  tomograd::models::print_batch_norm(stream, 1, options);
}
template <>
void BatchNormImplBase<2, tomograd::models::BatchNorm2dImpl>::pretty_print(std::ostream& stream) const {
  tomograd::models::print_batch_norm(stream, 2, options);
}
template <>
void BatchNormImplBase<3, tomograd::models::BatchNorm3dImpl>::pretty_print(std::ostream& stream) const {
  tomograd::models::print_batch_norm(stream, 3, options);
}
}  // namespace torch::nn
