#pragma once
/// @file Slices for 2D and 2.5D models: which slices to use, 2.5D stacks, slice jitter.
#include <torch/types.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace tomograd::preprocess {

/// Builds the 2.5D input for slice @p center of @p data ([D,H,W] or [C,D,H,W]): slices
/// center - context*step ... center + context*step, indices clamped to [0, D-1] (the edge slice
/// is replicated). @return [(2*context+1)*C, H, W] float32, channel-major: for C = 2 and
/// context 1 the order is (c0 z-1, c0 z, c0 z+1, c1 z-1, c1 z, c1 z+1).
/// Throws ValueError when @p center is outside [0, D) or context < 0 or step < 1.
torch::Tensor stack_slices(const torch::Tensor& data, int64_t center, int64_t context, int64_t step = 1);

/// Which slices of a study a 2D/2.5D dataset uses.
enum class SliceSelectionMode {
  kAll,      ///< every slice
  kMiddle,   ///< the `count` central slices
  kQuality,  ///< the slices that passed the slice quality check (see quality.hpp)
};

/// "all", "middle", "quality"; throws ValueError listing them.
SliceSelectionMode parse_slice_selection(const std::string& name);
std::string to_string(SliceSelectionMode mode);

struct SliceSelectionOptions {
  SliceSelectionMode mode = SliceSelectionMode::kAll;
  int64_t count = 0;    ///< kMiddle: number of central slices (must be > 0)
};

/// The `slices` section of a config: which slices a 2D/2.5D dataset uses and how they stack.
struct SliceOptions {
  SliceSelectionOptions selection;
  int64_t context = 0;  ///< 2.5D: slices on each side (0 = plain 2D)
  int64_t step = 1;     ///< distance between stacked slices
  /// Throws ConfigError for count <= 0 with "middle", context < 0 or step < 1.
  void validate() const;
};

/// Indices (ascending) of the slices to use among @p depth. @p quality_kept is the list of
/// slices that passed the quality check (required for kQuality). For kMiddle with count >= depth
/// every slice is returned; with an even surplus the extra slice goes to the lower half.
/// Throws ValueError for count <= 0 in kMiddle mode or an index out of range in quality_kept.
std::vector<int64_t> select_slices(int64_t depth, const SliceSelectionOptions& options,
                                   const std::vector<int64_t>& quality_kept = {});

/// Slice jitter (an augmentation): @p center moved by a uniform offset in [-max_offset,
/// max_offset], clamped to [0, depth). Draws nothing from @p rng when max_offset is 0.
int64_t jitter_slice(int64_t center, int64_t depth, int64_t max_offset, std::mt19937_64& rng);

}  // namespace tomograd::preprocess
