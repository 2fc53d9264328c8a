#pragma once
/// @file Samples, batches and datasets for the training engine.
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace tomograd::train {

/// One training example (a slice, a 2.5D stack or a volume) with its labels.
struct Sample {
  torch::Tensor input;       ///< [C,H,W] (2D/2.5D) or [C,D,H,W] (3D), float32
  torch::Tensor target;      ///< regression: [T] float; classification: [T] int64 class ids
  torch::Tensor mask;        ///< optional [T] bool: false where the label is missing
  torch::Tensor meta;        ///< optional [M] float metadata (e.g. slice thickness, spacing)
  std::string patient_id;    ///< every split, sampler and metric works per patient
};

/// A collated batch: tensors stacked along a new first dimension.
struct Batch {
  torch::Tensor input, target, mask, meta;
  std::vector<std::string> patient_ids;
  std::vector<std::size_t> indices;  ///< dataset indices of the rows
  int64_t size() const { return input.defined() ? input.size(0) : 0; }
  /// Moves tensors to @p device (non_blocking when the source is pinned).
  Batch to(const torch::Device& device, bool non_blocking = false) const;
  /// Pins host memory for faster asynchronous copies to CUDA.
  Batch pinned() const;
};

/// Stacks samples; every sample must have the same shapes and the same optional fields.
/// Throws ValueError naming the first mismatching sample's patient.
Batch collate(const std::vector<Sample>& samples, const std::vector<std::size_t>& indices);

/// A read-only, thread-safe collection of samples.
class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual std::size_t size() const = 0;
  /// Returns sample @p index. @p seed is the per-sample, per-epoch seed for random augmentation:
  /// the same seed must give the same sample. Called concurrently from loader threads.
  virtual Sample get(std::size_t index, uint64_t seed) const = 0;
  /// Patient of sample @p index (used by samplers without loading the sample).
  virtual std::string patient_of(std::size_t index) const = 0;
  /// Class of sample @p index for class balancing, or -1 when not applicable.
  virtual int64_t class_of(std::size_t index) const { return -1; }
};

/// A dataset over samples held in memory (also used by tests and feature extraction).
class TensorDataset : public Dataset {
 public:
  explicit TensorDataset(std::vector<Sample> samples, std::vector<int64_t> classes = {});
  std::size_t size() const override { return samples_.size(); }
  Sample get(std::size_t index, uint64_t seed) const override;
  std::string patient_of(std::size_t index) const override { return samples_.at(index).patient_id; }
  int64_t class_of(std::size_t index) const override;

 private:
  std::vector<Sample> samples_;
  std::vector<int64_t> classes_;
};

}  // namespace tomograd::train
