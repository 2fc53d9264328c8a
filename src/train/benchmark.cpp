#include "tomograd/train/benchmark.hpp"

#include <sys/resource.h>

#include <chrono>

#include "tomograd/core/error.hpp"
#include "tomograd/core/torch_compat.hpp"
#include "tomograd/train/device.hpp"
#include "tomograd/train/optim.hpp"

namespace tomograd::train {

BenchmarkResult benchmark(torch::nn::Module& module, const std::function<torch::Tensor(const torch::Tensor&)>& forward,
                          torch::Tensor input, const torch::Device& device, const BenchmarkOptions& o) {
  if (o.steps < 1 || o.warmup < 0) throw ValueError("benchmark: steps must be >= 1 and warmup >= 0");
  const AmpMode amp = device.is_cuda() ? parse_amp(o.amp) : AmpMode::kOff;
  module.to(device);
  input = input.to(device);
  if (o.channels_last && input.dim() == 4) {
    to_channels_last(module);
    input = input.contiguous(torch::MemoryFormat::ChannelsLast);
  }
  // The Trainer's optimizer (multi-tensor AdamW) and gradient handling (set to none).
  OptimOptions adamw;
  adamw.lr = 1e-4;
  auto optimizer_ptr = make_optimizer(module, adamw, make_param_groups(module, {}));
  torch::optim::Optimizer& optimizer = *optimizer_ptr;
  GradScaler scaler(amp == AmpMode::kFp16);
  if (o.train) module.train();
  else module.eval();
  auto step = [&] {
    if (o.train) {
      zero_grad_to_none(optimizer);
      torch::Tensor loss;
      {
        AutocastGuard guard(amp, device);
        loss = forward(input).to(torch::kFloat32).pow(2).mean();
      }
      scaler.scale(loss).backward();
      scaler.step(optimizer);
    } else {
      c10::InferenceMode inference;
      AutocastGuard guard(amp, device);
      forward(input);
    }
  };
  for (int i = 0; i < o.warmup; ++i) step();
  compat::synchronize(device);
  compat::reset_peak_memory(device);
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < o.steps; ++i) step();
  compat::synchronize(device);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  BenchmarkResult r;
  r.seconds = s;
  r.steps_per_s = o.steps / s;
  r.samples_per_s = static_cast<double>(o.steps * input.size(0)) / s;
  r.device = device.str();
  if (device.is_cuda()) {
    r.peak_memory_mb = static_cast<double>(compat::peak_memory_bytes(device)) / (1024.0 * 1024.0);
  } else {
    struct rusage usage {};
    ::getrusage(RUSAGE_SELF, &usage);
    r.peak_memory_mb = static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
  }
  return r;
}

}  // namespace tomograd::train
