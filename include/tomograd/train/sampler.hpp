#pragma once
/// @file Batch samplers: which dataset indices form each batch of an epoch.
#include <cstdint>
#include <string>
#include <vector>

#include "tomograd/train/dataset.hpp"

namespace tomograd::train {

using BatchPlan = std::vector<std::vector<std::size_t>>;

/// Decides the batches of each epoch. Deterministic: the plan depends only on the seed and epoch.
class Sampler {
 public:
  virtual ~Sampler() = default;
  virtual BatchPlan plan(int epoch) const = 0;
  /// True when each batch holds whole patients whose samples must stay together (a data-parallel
  /// rank then takes whole patients of each global batch).
  virtual bool patient_grouped() const { return false; }
};

/// Fixed-size batches over all samples, shuffled per epoch from the seed (or in order).
class RandomSampler : public Sampler {
 public:
  RandomSampler(std::size_t dataset_size, int64_t batch_size, bool shuffle, uint64_t seed, bool drop_last = false);
  BatchPlan plan(int epoch) const override;

 private:
  std::size_t n_;
  int64_t batch_size_;
  bool shuffle_, drop_last_;
  uint64_t seed_;
};

/// Options of PatientSampler.
struct PatientSamplerOptions {
  /// Patients per batch. Every batch holds all samples of its patients, so a patient is never
  /// split across batches and a patient-level loss can pool that patient's slices.
  int64_t patients_per_batch = 4;
  bool shuffle = true;
  /// Oversample patients of rarer classes (patient class = max class of its samples) so each
  /// class appears about equally often per epoch.
  bool balance_classes = false;
  uint64_t seed = 0;
};

/// Patient-level batches (see PatientSamplerOptions).
class PatientSampler : public Sampler {
 public:
  PatientSampler(const Dataset& dataset, PatientSamplerOptions options);
  BatchPlan plan(int epoch) const override;
  bool patient_grouped() const override { return true; }
  std::size_t num_patients() const { return patients_.size(); }

 private:
  std::vector<std::string> patients_;                 ///< in first-seen order
  std::vector<std::vector<std::size_t>> indices_;     ///< per patient
  std::vector<int64_t> classes_;                      ///< per patient (-1: none)
  PatientSamplerOptions options_;
};

}  // namespace tomograd::train
