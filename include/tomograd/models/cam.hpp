#pragma once
/// @file Class activation maps: where in a slice a 2D CNN found what drove its output.
#include <torch/types.h>

#include <cstdint>

#include "tomograd/models/model.hpp"

namespace tomograd::models {

/// Grad-CAM (Selvaraju et al., 2017) of output @p output_index: the last feature maps weighted
/// by the spatial mean of the output's gradient with respect to them, ReLU, upsampled bilinearly
/// to the input size and scaled to [0, 1] per image (all zeros when nothing contributes).
/// Runs with gradients enabled whatever the caller's mode; the model's train/eval mode is left
/// as it is (use eval mode). Parameters get no gradient.
/// @param x [N,C,H,W]; @return [N,H,W] float32 on x's device.
/// Throws ValueError for models without feature maps or with a metadata head, or an output index
/// out of range.
torch::Tensor grad_cam(Model& model, const torch::Tensor& x, int64_t output_index = 0);

}  // namespace tomograd::models
