#include "tomograd/core/random.hpp"

namespace tomograd {

uint64_t derive_seed(uint64_t seed, uint64_t stream) {
  // SplitMix64 (Steele, Lea & Flood 2014) over seed and stream.
  uint64_t z = seed + 0x9E3779B97F4A7C15ULL * (stream + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

}  // namespace tomograd
