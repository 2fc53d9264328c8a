// seed_everything, the one function of random.hpp that needs LibTorch (random.cpp is in
// core_base, which does not link it).
#include <torch/torch.h>

#include "tomograd/core/random.hpp"

namespace tomograd {

void seed_everything(uint64_t seed) {
  torch::manual_seed(seed);  // seeds the CPU generator and, when present, every CUDA device
}

}  // namespace tomograd
