#pragma once
/// @file The one place where LibTorch 1.13 (Debian, CPU) and LibTorch 2.x (CUDA) differ for us.
#include <torch/torch.h>
#include <torch/version.h>

#include <string>
#include <vector>

namespace c10d {
class Backend;
class ProcessGroup;
}  // namespace c10d

namespace tomograd::compat {

/// LibTorch version "major.minor.patch" as compiled against.
inline std::string torch_version() {
  return std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." +
         std::to_string(TORCH_VERSION_PATCH);
}

/// True when LibTorch is 2.0 or newer.
constexpr bool kTorch2 = TORCH_VERSION_MAJOR >= 2;

/// Number of usable CUDA devices (0 for a CPU-only LibTorch).
inline int cuda_device_count() {
  return torch::cuda::is_available() ? static_cast<int>(torch::cuda::device_count()) : 0;
}

/// Names of the usable CUDA devices ("NVIDIA H100 80GB HBM3", ...); empty without CUDA.
/// Implemented in src/core/torch_compat.cpp, the only unit that may include CUDA headers.
std::vector<std::string> cuda_device_names();

/// The key of parameter @p param in an optimizer's state map: the TensorImpl address, as a string
/// in 1.13 and as a pointer in 2.x.
inline auto optimizer_state_key(const torch::Tensor& param) {
#if TORCH_VERSION_MAJOR >= 2
  return static_cast<void*>(param.unsafeGetTensorImpl());
#else
  return c10::guts::to_string(param.unsafeGetTensorImpl());
#endif
}

/// Whether @p optimizer holds state (e.g. Adam moments) for parameter @p param.
inline bool optimizer_has_state(const torch::optim::Optimizer& optimizer, const torch::Tensor& param) {
  return optimizer.state().count(optimizer_state_key(param)) > 0;
}

/// The class that c10d's process groups of one backend (ProcessGroupGloo, ProcessGroupNCCL) derive
/// from: c10d::Backend since 2.0, c10d::ProcessGroup in 1.13. Complete in the c10d headers.
#if TORCH_VERSION_MAJOR >= 2
using ProcessGroupBase = c10d::Backend;
#else
using ProcessGroupBase = c10d::ProcessGroup;
#endif

/// The environment variable that makes ProcessGroupNCCL's wait() block, and throw after the
/// group's timeout, instead of only ordering streams: TORCH_NCCL_BLOCKING_WAIT from 2.2 (which
/// still reads the old name, with a deprecation warning), NCCL_BLOCKING_WAIT before.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 2)
constexpr const char* kNcclBlockingWaitEnv = "TORCH_NCCL_BLOCKING_WAIT";
#else
constexpr const char* kNcclBlockingWaitEnv = "NCCL_BLOCKING_WAIT";
#endif

/// Waits for queued work on @p device (no-op on CPU).
void synchronize(const torch::Device& device);
/// Peak bytes allocated by the CUDA caching allocator since the last reset (0 on CPU or
/// without CUDA headers).
int64_t peak_memory_bytes(const torch::Device& device);
void reset_peak_memory(const torch::Device& device);

/// Turns CUDA autocast on or off with @p dtype (kBFloat16 or kHalf). The API moved from
/// at::autocast::set_enabled / set_autocast_gpu_dtype (1.13) to per-device calls (2.4+).
void set_cuda_autocast(bool enabled, c10::ScalarType dtype);

/// Clears autocast's cast cache (call after leaving an autocast region).
void clear_autocast_cache();

/// Makes @p device the thread's current CUDA device (torch.cuda.set_device), so that nothing a
/// rank allocates without an explicit index lands on GPU 0; no-op for the CPU or without CUDA.
void set_current_device(const torch::Device& device);

}  // namespace tomograd::compat
