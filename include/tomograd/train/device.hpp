#pragma once
/// @file Device selection, mixed precision and memory format.
#include <torch/torch.h>

#include <functional>
#include <optional>
#include <string>

namespace tomograd::train {

/// Parses "auto" (a CUDA device when available, else CPU), "cpu", "cuda" or "cuda:N".
/// In a data-parallel job (WORLD_SIZE > 1, docs/distributed.md) "auto" and "cuda" take the GPU of
/// the rank's LOCAL_RANK; otherwise cuda:0. Throws ValueError for an unknown name or a CUDA device
/// that is not available.
torch::Device parse_device(const std::string& name);

/// parse_device() for a process that sees @p cuda_count CUDA devices, in a job where it has
/// @p local_rank (none: a single process). "auto" and "cuda" then take cuda:(local_rank mod
/// count): one process per GPU as torchrun starts them, or each rank's own GPU as cuda:0 where
/// Slurm's --gpus-per-task shows it only that one. "cuda:N" is taken as written.
torch::Device resolve_device(const std::string& name, int cuda_count, std::optional<int> local_rank);

/// The intra-op CPU threads a process should give LibTorch when the user chose none: 0 (leave
/// LibTorch alone) when OMP_NUM_THREADS is set, which LibTorch reads itself; else @p cores (the
/// physical cores this process may use) shared among the processes of a data-parallel job that
/// run on this machine: LOCAL_WORLD_SIZE (torchrun), or all WORLD_SIZE ranks when MASTER_ADDR is
/// a loopback address; at least 1. Slurm's tasks are not divided: srun binds each to its own CPUs,
/// which @p cores already counts. LibTorch's own default, half the hardware threads on x86 (it
/// assumes two per core), leaves half of a machine without SMT idle. @p getenv is injectable.
int default_cpu_threads(int cores, const std::function<const char*(const char*)>& getenv = nullptr);

/// Gives LibTorch default_cpu_threads(physical_cores()) intra-op threads unless that is 0; the
/// apps call it before running a command (`tomograd bench --threads` may then override it).
void apply_default_cpu_threads();

/// Mixed precision mode: "off", "bf16" or "fp16" (fp16 uses dynamic loss scaling).
enum class AmpMode { kOff, kBf16, kFp16 };
AmpMode parse_amp(const std::string& name);
std::string to_string(AmpMode mode);

/// Enables autocast for CUDA in its scope (no-op for kOff or a CPU device).
class AutocastGuard {
 public:
  AutocastGuard(AmpMode mode, const torch::Device& device);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  bool active_ = false;
};

/// Dynamic loss scaling for fp16 (as torch.cuda.amp.GradScaler): scales the loss, unscales
/// gradients before clipping, skips steps with inf/NaN gradients and adapts the scale.
class GradScaler {
 public:
  explicit GradScaler(bool enabled, double init_scale = 65536.0, double growth = 2.0, double backoff = 0.5,
                      int growth_interval = 2000);
  torch::Tensor scale(const torch::Tensor& loss) const;
  /// Divides gradients of @p optimizer's parameters by the scale; returns false if any is not
  /// finite (the step must then be skipped). Idempotent until update().
  bool unscale(torch::optim::Optimizer& optimizer);
  /// Steps unless gradients overflowed; then updates the scale. Returns whether it stepped.
  bool step(torch::optim::Optimizer& optimizer);
  bool enabled() const { return enabled_; }
  double current_scale() const { return scale_; }
  void set_scale(double s) { scale_ = s; }

 private:
  bool enabled_;
  double scale_, growth_, backoff_;
  int growth_interval_, good_steps_ = 0;
  bool unscaled_ = false, found_inf_ = false;
};

/// Converts 4D parameters and buffers of @p module to channels_last.
void to_channels_last(torch::nn::Module& module);

/// Deterministic mode: deterministic algorithms and no cuDNN benchmarking. On a CUDA @p device
/// also a fixed cuBLAS workspace (CUBLAS_WORKSPACE_CONFIG, unless set), and kernels without a
/// deterministic CUDA version run with LibTorch's warning instead of an error.
void set_deterministic(bool on, const torch::Device& device = torch::kCPU);

}  // namespace tomograd::train
