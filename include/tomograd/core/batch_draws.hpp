#pragma once
/// @file Random draws of layers (dropout, stochastic depth) keyed by the global batch.
///
/// A data-parallel rank runs the model on its share of each global batch. If its dropout layers
/// drew their masks from the process's generator, N processes would draw other masks than one
/// process, and one config would not train the same on 1 or N processes. While a BatchDrawScope
/// is installed (the trainer installs one around each global batch), every draw instead comes
/// from a generator seeded by the scope's seed and the draw's number within the batch: the mask
/// of the whole global batch is drawn, and this rank keeps the rows of its own samples. The same
/// sample then gets the same mask whatever the world size or rank. Without a scope (inference,
/// code outside the trainer) draws come from LibTorch's default generator, as before.
#include <torch/types.h>

#include <cstdint>

namespace tomograd {

/// Where this process's rows sit in the global batch, and the batch's seed.
struct BatchDrawKey {
  uint64_t seed = 0;         ///< depends on the run's seed, the epoch and the batch only
  int64_t global_rows = 0;   ///< samples in the global batch (all ranks)
  int64_t offset = 0;        ///< first of this rank's samples in the global batch
  int64_t local_rows = 0;    ///< this rank's samples (the model input's first dimension)
};

/// Installs @p key on the calling thread for its lifetime (draw numbers restart at 0) and restores
/// the previous scope after.
class BatchDrawScope {
 public:
  explicit BatchDrawScope(const BatchDrawKey& key);
  ~BatchDrawScope();
  BatchDrawScope(const BatchDrawScope&) = delete;
  BatchDrawScope& operator=(const BatchDrawScope&) = delete;

 private:
  BatchDrawKey previous_key_;
  uint64_t previous_draws_ = 0;
  bool previous_active_ = false;
};

/// A 0/1 mask of @p shape, each element 1 with probability @p keep, in @p options' dtype and device.
/// The first dimension of @p shape holds the samples of this rank's share, each a run of
/// shape[0] / local_rows consecutive rows (a batch [N, ...] or windows [N·W, ...] ordered by
/// sample). Under a BatchDrawScope: the rows of this rank's samples of the global batch's mask
/// (ValueError when shape[0] is not a multiple of local_rows). Without one: LibTorch's generator.
/// A global mask of at most @p whole_batch_limit elements is drawn at once by every rank (the
/// draw costs world-size times the local mask); a larger one sample by sample, each sample's rows
/// from its own generator, so that a rank draws and holds only its own (small tensors are faster
/// drawn at once; large ones would multiply the memory of every rank by the world size).
torch::Tensor batch_keep_mask(torch::IntArrayRef shape, double keep, const torch::TensorOptions& options,
                              int64_t whole_batch_limit = int64_t{1} << 22);

}  // namespace tomograd
