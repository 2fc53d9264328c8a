#pragma once
/// @file Loss functions configured by name, with masks for missing labels.
#include <torch/types.h>

#include <functional>
#include <string>
#include <vector>

#include "tomograd/train/dataset.hpp"

namespace tomograd::train {

/// Loss options (decoded from a config's `loss:` section).
struct LossOptions {
  /// mse | smooth_l1 | bce | cross_entropy
  std::string name = "mse";
  double beta = 1.0;                   ///< smooth_l1 transition point
  double pos_weight = 1.0;             ///< bce: weight of positive examples
  std::vector<double> class_weights;   ///< cross_entropy: per-class weights (empty = equal)
  double label_smoothing = 0.0;        ///< cross_entropy
  /// Multi-output classification: number of tasks T and classes C; outputs are [N, T*C] and
  /// targets [N, T] with a mask [N, T] for missing labels. 0 = single task.
  int64_t tasks = 0;
  int64_t classes = 0;
  std::vector<double> task_weights;    ///< weighted multi-task sum (empty = equal)
};

/// Checks names and values; throws ConfigError naming the key.
void validate(const LossOptions& options);

/// A loss: outputs of the model and the batch in, scalar out.
using LossFn = std::function<torch::Tensor(const torch::Tensor& outputs, const Batch& batch)>;

/// Builds the configured loss. Masked-out labels (Batch::mask false) never contribute; a batch
/// with no labelled entry gives a zero loss that still backpropagates.
LossFn make_loss(const LossOptions& options);

/// For a task's own loss that is a mean over @p count units other than the batch's samples (the
/// patients of patient-grouped batches, labelled entries): call it once inside the loss with the
/// mean's denominator (a scalar tensor). A data-parallel rank's part of the global batch's loss is
/// then its count over all ranks' counts, so N processes train as one; a loss that declares
/// nothing is weighted by its samples (exact when every sample weighs the same).
void declare_mean_over(const torch::Tensor& count);

/// Adds @p weight × @p regularizer(outputs, batch) to a loss: the hook for consistency
/// regularization between outputs (e.g. left/right or adjacent levels). The sum of two means:
/// in a data-parallel job each rank's part of it is weighted by its sample count.
LossFn with_regularizer(LossFn loss, std::function<torch::Tensor(const torch::Tensor&, const Batch&)> regularizer,
                        double weight);

}  // namespace tomograd::train
