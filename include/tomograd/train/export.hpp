#pragma once
/// @file TorchScript export of a trained C++ module, for deployment without tomograd.
#include <torch/torch.h>

#include <filesystem>
#include <functional>

namespace tomograd::train {

/// Traces @p forward (the module's forward on one input tensor) on @p example and saves a
/// TorchScript module to @p path (atomically) that holds the module's parameters and buffers
/// under their C++ names and computes the same outputs; loadable with torch::jit::load or
/// Python's torch.jit.load. The module is put in eval mode. Data-dependent control flow is
/// frozen at the traced path, as with torch.jit.trace. Throws Error on failure.
/// Returns the largest absolute difference between the saved module's output on @p example
/// (after reloading it) and @p forward's.
double export_torchscript(torch::nn::Module& module, const std::function<torch::Tensor(const torch::Tensor&)>& forward,
                          const torch::Tensor& example, const std::filesystem::path& path);

}  // namespace tomograd::train
