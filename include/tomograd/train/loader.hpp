#pragma once
/// @file A threaded data loader: workers load and collate batches ahead of the training loop.
#include <torch/types.h>

#include <functional>
#include <memory>

#include "tomograd/train/dataset.hpp"
#include "tomograd/train/sampler.hpp"

namespace tomograd::train {

struct LoaderOptions {
  int workers = 2;          ///< loader threads (0 = load in the calling thread)
  int prefetch = 4;         ///< batches loaded ahead of the consumer
  bool pin_memory = false;  ///< pin host memory (only useful for CUDA)
  uint64_t seed = 0;        ///< augmentation seed: sample seed = f(seed, epoch, index)
  /// Data-parallel share: this rank loads its part of every global batch (shard_plan), so the
  /// batches and augmentation draws do not depend on the world size.
  int rank = 0;
  int world_size = 1;
  /// Patient-grouped batches: a rank takes whole patients (Sampler::patient_grouped()).
  bool keep_patients = false;
};

/// Iterates the batches of one epoch in plan order, whatever the number of workers, so results
/// are identical with 0 or N workers. Exceptions from the dataset are rethrown by next().
class DataLoader {
 public:
  DataLoader(const Dataset& dataset, const Sampler& sampler, LoaderOptions options);
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  /// Starts epoch @p epoch (stopping any epoch in progress). Returns its number of batches.
  std::size_t start_epoch(int epoch);
  /// The next batch, or false at the end of the epoch.
  bool next(Batch& batch);
  /// Number of samples this rank loads in the current epoch.
  std::size_t epoch_samples() const;
  /// Number of samples of the whole (global) plan of the current epoch, over all ranks.
  std::size_t global_epoch_samples() const;
  /// Size of global batch @p b of the current epoch (this rank's batch b is a part of it).
  std::size_t global_batch_size(std::size_t b) const;
  /// Position in global batch @p b of this rank's first sample (0 for a single process).
  std::size_t global_offset(std::size_t b) const;
  /// Seconds next() has waited for batches since start_epoch(): the time the consumer (the
  /// model step) was starved of data.
  double wait_seconds() const;

  /// The seed a dataset receives for sample @p index in epoch @p epoch.
  static uint64_t sample_seed(uint64_t seed, int epoch, std::size_t index);

 private:
  struct State;
  const Dataset& dataset_;
  const Sampler& sampler_;
  LoaderOptions options_;
  std::unique_ptr<State> state_;
};

}  // namespace tomograd::train
