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
  /// Number of samples in the current epoch's plan.
  std::size_t epoch_samples() const;

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
