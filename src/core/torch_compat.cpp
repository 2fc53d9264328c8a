#include "tomograd/core/torch_compat.hpp"

#ifdef TOMOGRAD_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
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

}  // namespace tomograd::compat
