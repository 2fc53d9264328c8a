#pragma once
/// @file Throughput of training steps and inference for any module (tomograd bench).
#include <torch/torch.h>

#include <functional>
#include <string>

namespace tomograd::train {

struct BenchmarkOptions {
  int warmup = 3;              ///< untimed steps first (allocator, cuDNN autotuning)
  int steps = 20;              ///< timed steps
  bool train = true;           ///< forward+backward+optimizer step, else forward without grad
  std::string amp = "off";     ///< off | bf16 | fp16 (CUDA only)
  bool channels_last = false;  ///< 2D models, CPU and CUDA
};

struct BenchmarkResult {
  double seconds = 0;          ///< timed steps only
  double samples_per_s = 0;
  double steps_per_s = 0;
  double peak_memory_mb = 0;   ///< CUDA: peak allocated by the caching allocator; CPU: peak RSS
  std::string device;
};

/// Runs @p forward on @p input (already shaped [N,...]) on @p device. Throws Error on failure.
BenchmarkResult benchmark(torch::nn::Module& module, const std::function<torch::Tensor(const torch::Tensor&)>& forward,
                          torch::Tensor input, const torch::Device& device, const BenchmarkOptions& options);

}  // namespace tomograd::train
