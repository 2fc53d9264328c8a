#include "tomograd/core/torch_compat.hpp"

#include <ATen/autocast_mode.h>

#ifdef TOMOGRAD_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#endif

namespace tomograd::compat {

std::vector<std::string> cuda_device_names() {
  std::vector<std::string> names;
  const int n = cuda_device_count();
  for (int i = 0; i < n; ++i) {
#ifdef TOMOGRAD_WITH_CUDA
    names.emplace_back(at::cuda::getDeviceProperties(i)->name);
#else
    names.push_back("cuda:" + std::to_string(i));
#endif
  }
  return names;
}

void set_cuda_autocast(bool enabled, c10::ScalarType dtype) {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
  at::autocast::set_autocast_enabled(at::kCUDA, enabled);
  at::autocast::set_autocast_dtype(at::kCUDA, dtype);
#else
  at::autocast::set_enabled(enabled);
  at::autocast::set_autocast_gpu_dtype(dtype);
#endif
}

void synchronize(const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize(device.index());
}

int64_t peak_memory_bytes(const torch::Device& device) {
#ifdef TOMOGRAD_WITH_CUDA
  if (device.is_cuda()) {
    auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device.index() < 0 ? 0 : device.index());
    // Index 0 is StatType::AGGREGATE (all pools). The enum moved from CUDACachingAllocator to
    // c10::CachingDeviceAllocator in LibTorch 2.x; its values did not change.
    constexpr std::size_t kAggregate = 0;
    return stats.allocated_bytes[kAggregate].peak;
  }
#endif
  return 0;
}

void reset_peak_memory(const torch::Device& device) {
#ifdef TOMOGRAD_WITH_CUDA
  if (device.is_cuda()) c10::cuda::CUDACachingAllocator::resetPeakStats(device.index() < 0 ? 0 : device.index());
#endif
}

void clear_autocast_cache() { at::autocast::clear_cache(); }

void set_current_device(const torch::Device& device) {
#ifdef TOMOGRAD_WITH_CUDA
  if (device.is_cuda() && device.has_index()) c10::cuda::set_device(device.index());
#else
  (void)device;
#endif
}

}  // namespace tomograd::compat
