#include "tomograd/train/device.hpp"

#include <c10/core/impl/DeviceGuardImplInterface.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>

#include "tomograd/core/error.hpp"
#include "tomograd/core/log.hpp"
#include "tomograd/core/parallel.hpp"
#include "tomograd/core/torch_compat.hpp"
#include "tomograd/train/distributed.hpp"

namespace tomograd::train {

namespace {

/// Why CUDA device @p index cannot be used, in words that name what is missing.
std::string cuda_unavailable_reason(int index, int count) {
  // The CUDA device guard is registered by libc10_cuda, which only a CUDA LibTorch has.
  if (!c10::impl::hasDeviceGuardImpl(c10::DeviceType::CUDA)) {
    return "this program is built against a LibTorch " + compat::torch_version() +
           " without CUDA (build against a CUDA LibTorch: TOMOGRAD_TORCH=python with a CUDA PyTorch, docs/gpu.md; "
           "or use --device cpu)";
  }
  if (count == 0) {
    const char* visible = std::getenv("CUDA_VISIBLE_DEVICES");
    return "the CUDA LibTorch sees no GPU (check nvidia-smi and the driver" +
           (visible ? std::string("; CUDA_VISIBLE_DEVICES='") + visible + "'" : std::string()) + ")";
  }
  return "this machine has " + std::to_string(count) + " CUDA device(s), cuda:0 to cuda:" + std::to_string(count - 1) +
         " (cuda:" + std::to_string(index) + " asked)";
}

}  // namespace

torch::Device resolve_device(const std::string& name, int count, std::optional<int> local_rank) {
  const std::string expected = "invalid device '" + name + "' (expected auto, cpu, cuda or cuda:N)";
  if (name == "cpu" || (name == "auto" && count == 0)) return torch::kCPU;
  if (name != "auto" && name != "cuda" && name.rfind("cuda:", 0) != 0) throw ValueError(expected);
  int index = 0;
  if ((name == "auto" || name == "cuda") && local_rank && count > 0) {
    // One process per GPU, as torchrun and srun start them: local rank r takes GPU r.
    index = *local_rank % count;
    static std::atomic<bool> told{false};
    if (index != *local_rank && !told.exchange(true)) {
      // One GPU visible to a rank of local rank > 0 is how Slurm's --gpus-per-task binds them.
      const std::string what = "local rank " + std::to_string(*local_rank) + " takes cuda:" + std::to_string(index) +
                               " of the " + std::to_string(count) + " GPU(s) this process sees";
      if (count > 1) {
        logger()->warn("{}: ranks share GPUs (start at most {} processes per node, or set CUDA_VISIBLE_DEVICES per "
                       "rank; NCCL cannot put two ranks on one GPU: TOMOGRAD_DIST_BACKEND=gloo)", what, count);
      } else {
        logger()->info("{}", what);
      }
    }
  } else if (name.size() > 4) {
    const std::string digits = name.substr(5);
    if (digits.empty() || digits.size() > 4 || digits.find_first_not_of("0123456789") != std::string::npos) {
      throw ValueError(expected);
    }
    index = std::stoi(digits);
  }
  if (index >= count) {
    throw ValueError("device '" + name + "' is not available: " + cuda_unavailable_reason(index, count));
  }
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
}

int default_cpu_threads(int cores, const std::function<const char*(const char*)>& getenv) {
  auto env = [&](const char* name) -> std::string {
    const char* v = getenv ? getenv(name) : std::getenv(name);
    return v ? v : "";
  };
  if (!env("OMP_NUM_THREADS").empty()) return 0;
  auto positive = [](const std::string& text) {
    if (text.empty() || text.size() > 6 || text.find_first_not_of("0123456789") != std::string::npos) return 0;
    return std::stoi(text);
  };
  int local = positive(env("LOCAL_WORLD_SIZE"));
  if (local == 0 && is_loopback(env("MASTER_ADDR"))) local = positive(env("WORLD_SIZE"));
  return std::max(1, std::max(1, cores) / std::max(1, local));
}

void apply_default_cpu_threads() {
  const int threads = default_cpu_threads(physical_cores());
  if (threads > 0 && threads != torch::get_num_threads()) torch::set_num_threads(threads);
}

torch::Device parse_device(const std::string& name) {
  std::optional<int> local_rank;
  try {
    const DistributedEnv env = read_distributed_env();
    if (env.active()) local_rank = env.local_rank;
  } catch (const ConfigError&) {
    // A malformed launcher environment is reported, naming the variable, when the job is joined.
  }
  return resolve_device(name, compat::cuda_device_count(), local_rank);
}

AmpMode parse_amp(const std::string& name) {
  if (name == "off" || name == "none" || name == "fp32") return AmpMode::kOff;
  if (name == "bf16") return AmpMode::kBf16;
  if (name == "fp16") return AmpMode::kFp16;
  throw ValueError("invalid AMP mode '" + name + "' (expected off, bf16 or fp16)");
}

std::string to_string(AmpMode mode) {
  switch (mode) {
    case AmpMode::kBf16: return "bf16";
    case AmpMode::kFp16: return "fp16";
    default: return "off";
  }
}

AutocastGuard::AutocastGuard(AmpMode mode, const torch::Device& device) {
  if (mode == AmpMode::kOff || !device.is_cuda()) return;
  compat::set_cuda_autocast(true, mode == AmpMode::kBf16 ? at::kBFloat16 : at::kHalf);
  active_ = true;
}

AutocastGuard::~AutocastGuard() {
  if (!active_) return;
  compat::set_cuda_autocast(false, at::kHalf);
  compat::clear_autocast_cache();
}

GradScaler::GradScaler(bool enabled, double init_scale, double growth, double backoff, int growth_interval)
    : enabled_(enabled), scale_(init_scale), growth_(growth), backoff_(backoff), growth_interval_(growth_interval) {}

torch::Tensor GradScaler::scale(const torch::Tensor& loss) const { return enabled_ ? loss * scale_ : loss; }

bool GradScaler::unscale(torch::optim::Optimizer& optimizer) {
  if (!enabled_) return true;
  if (unscaled_) return !found_inf_;
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> grads;
  for (auto& group : optimizer.param_groups()) {
    for (auto& p : group.params()) {
      if (p.grad().defined()) grads.push_back(p.grad());
    }
  }
  found_inf_ = false;
  if (!grads.empty()) {
    // One fused kernel unscales every gradient and flags inf/NaN on the device, then a single
    // device-to-host read (torch.cuda.amp.GradScaler does the same). LibTorch 1.13 has that kernel
    // for CUDA only; on the CPU the same result comes from a loop that still reads back once.
    const auto options = torch::TensorOptions().dtype(torch::kFloat32).device(grads.front().device());
    torch::Tensor found = torch::zeros({1}, options);
    if (grads.front().is_cuda()) {
      at::_amp_foreach_non_finite_check_and_unscale_(grads, found, torch::full({1}, 1.0 / scale_, options));
    } else {
      at::_foreach_mul_(grads, 1.0 / scale_);
      for (const auto& g : grads) found.add_(torch::isfinite(g).logical_not().any());
    }
    found_inf_ = found.item<float>() > 0;
  }
  unscaled_ = true;
  return !found_inf_;
}

bool GradScaler::step(torch::optim::Optimizer& optimizer) {
  if (!enabled_) {
    optimizer.step();
    return true;
  }
  const bool ok = unscale(optimizer);
  if (ok) optimizer.step();
  if (found_inf_) {
    scale_ *= backoff_;
    good_steps_ = 0;
    logger()->debug("fp16 gradient overflow: step skipped, loss scale now {}", scale_);
  } else if (++good_steps_ >= growth_interval_) {
    scale_ *= growth_;
    good_steps_ = 0;
  }
  unscaled_ = false;
  found_inf_ = false;
  return ok;
}

void to_channels_last(torch::nn::Module& module) {
  // Parameters, buffers and their gradients keep this layout: LibTorch's convolutions return
  // channels_last outputs for channels_last inputs and weights, on the CPU (oneDNN) and on CUDA.
  torch::NoGradGuard no_grad;
  for (auto& p : module.parameters(true)) {
    if (p.dim() == 4) p.set_data(p.contiguous(torch::MemoryFormat::ChannelsLast));
  }
  for (auto& b : module.buffers(true)) {
    if (b.dim() == 4) b.set_data(b.contiguous(torch::MemoryFormat::ChannelsLast));
  }
}

void set_deterministic(bool on, const torch::Device& device) {
  const bool cuda = on && device.is_cuda();
  if (cuda) {
    // cuBLAS is deterministic only with a fixed workspace, which LibTorch checks for once, at
    // the first cuBLAS call: set before it (a value the user set is kept).
    setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8", /*overwrite=*/0);
    // Some CUDA backward kernels have no deterministic version (adaptive average pooling, 3D max
    // pooling, trilinear interpolation: in every network here). Strict mode would refuse them at
    // the first step; LibTorch warns about each instead, and everything else is deterministic.
    logger()->info("train.deterministic on {}: deterministic cuDNN and cuBLAS; LibTorch warns about the kernels "
                   "that have no deterministic CUDA version and runs them anyway", device.str());
  }
  at::globalContext().setDeterministicAlgorithms(on, /*warn_only=*/cuda);
  at::globalContext().setBenchmarkCuDNN(!on);
  at::globalContext().setDeterministicCuDNN(on);
}

}  // namespace tomograd::train
