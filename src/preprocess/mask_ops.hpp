#pragma once
// Private: voxel-wise mask building without torch temporaries.
//
// Brain extraction on a 512x512x40 CT used to chain torch ops (gt, to(uint8), logical_not,
// bitwise_and, ...), each allocating a fresh 10-40 MB tensor: about 730 MB of new memory per
// volume, 180k page faults, a quarter of the CPU time in the kernel, and the faults of two
// threads contend on the process's page-table locks, which is why a second thread barely helped.
// These helpers write each result once into memory advised for huge pages (one fault per 2 MiB).
#include <torch/torch.h>

#include <algorithm>
#include <cstdint>

#include "tomograd/core/memory.hpp"
#include "tomograd/core/parallel.hpp"

namespace tomograd::preprocess::detail {

/// Voxels per unit of parallel work.
constexpr int64_t kVoxelChunk = int64_t{1} << 18;

/// An uninitialised uint8 tensor of @p sizes that will be written once, huge-page advised.
inline torch::Tensor new_mask(at::IntArrayRef sizes) { return empty_for_fill(sizes, torch::kUInt8); }

/// out[i] = fn(i) for i in [0, n), in parallel chunks; @p out must hold n elements.
template <typename T, typename Fn>
void fill_parallel(T* out, int64_t n, Fn fn) {
  const int64_t chunks = (n + kVoxelChunk - 1) / kVoxelChunk;
  parallel_for(static_cast<std::size_t>(chunks), chunks >= 2 ? 0 : 1, [&](std::size_t c) {
    const int64_t begin = static_cast<int64_t>(c) * kVoxelChunk, end = std::min(n, begin + kVoxelChunk);
    for (int64_t i = begin; i < end; ++i) out[i] = fn(i);
  });
}

/// A uint8 mask shaped like @p like with out[i] = fn(i) ? 1 : 0.
template <typename Fn>
torch::Tensor make_mask(const torch::Tensor& like, Fn fn) {
  torch::Tensor out = new_mask(like.sizes());
  fill_parallel(out.data_ptr<uint8_t>(), out.numel(), [&](int64_t i) { return static_cast<uint8_t>(fn(i) ? 1 : 0); });
  return out;
}

/// Number of non-zero voxels of a contiguous uint8 mask.
inline int64_t count_nonzero_u8(const torch::Tensor& mask) {
  const uint8_t* p = mask.data_ptr<uint8_t>();
  const int64_t n = mask.numel();
  int64_t total = 0;
  for (int64_t i = 0; i < n; ++i) total += p[i] != 0;
  return total;
}

}  // namespace tomograd::preprocess::detail
