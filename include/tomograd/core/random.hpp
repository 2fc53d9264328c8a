#pragma once
/// @file Seeding helpers: one user seed gives reproducible, independent streams.
#include <cstdint>

namespace tomograd {

/// Seeds LibTorch's global generator (CPU and CUDA) with @p seed.
void seed_everything(uint64_t seed);

/// A well-mixed seed for stream @p stream derived from @p seed (SplitMix64), so per-worker or
/// per-sample generators are independent and reproducible.
uint64_t derive_seed(uint64_t seed, uint64_t stream);

}  // namespace tomograd
