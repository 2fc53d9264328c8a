#pragma once
// Internals of the train layer (not installed): the summed weight that make_loss's weighted means
// divide by, recorded per call, so that the data-parallel trainer can make each rank's loss a part
// of the global batch's weighted mean (sum of the ranks' numerators over the sum of their weights)
// instead of weighting the rank's mean by its sample count, which is exact only when every sample
// weighs the same (no class weights, no missing labels).
#include <torch/types.h>

#include <optional>

namespace tomograd::train::detail {

/// Forgets this thread's recorded weights (before a loss call).
void reset_loss_weight();
/// Records the summed weight @p denominator (a scalar) a weighted mean divided by.
void record_loss_weight(const torch::Tensor& denominator);
/// Records a term with no single weight (a mean over samples beside a weighted one): the loss is
/// then weighted by sample count.
void record_unweighted_mean();
/// The one weight recorded since the reset (a detached scalar on the loss's device); nullopt for
/// none or several (a loss made of several means: the trainer then weights by sample count).
std::optional<torch::Tensor> recorded_loss_weight();

}  // namespace tomograd::train::detail
