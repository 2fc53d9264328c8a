#include "tomograd/models/cam.hpp"

#include <torch/torch.h>

#include "tomograd/core/error.hpp"

namespace tomograd::models {

torch::Tensor grad_cam(Model& model, const torch::Tensor& x, int64_t output_index) {
  if (x.dim() != 4) throw ValueError("grad_cam: expected [N,C,H,W] input, got " + shape_string(x.sizes()));
  torch::AutoGradMode grad_on(true);
  // The maps are detached: the gradient is needed with respect to them only, not the backbone.
  torch::Tensor maps = model.feature_maps(x).detach().requires_grad_(true);
  torch::Tensor out = model.head_forward(maps.mean({2, 3})).reshape({x.size(0), -1});
  if (output_index < 0 || output_index >= out.size(1)) {
    throw ValueError("grad_cam: output index " + std::to_string(output_index) + " outside [0, " +
                     std::to_string(out.size(1)) + ")");
  }
  torch::Tensor grad = torch::autograd::grad({out.select(1, output_index).sum()}, {maps})[0];
  torch::Tensor weights = grad.mean({2, 3}, true);
  torch::Tensor cam = torch::relu((weights * maps).sum(1, true)).detach();
  cam = torch::nn::functional::interpolate(cam, torch::nn::functional::InterpolateFuncOptions()
                                                    .size(std::vector<int64_t>{x.size(2), x.size(3)})
                                                    .mode(torch::kBilinear)
                                                    .align_corners(false));
  torch::Tensor peak = cam.amax({1, 2, 3}, true);
  cam = torch::where(peak > 0, cam / peak.clamp_min(1e-12), torch::zeros_like(cam));
  return cam.squeeze(1).to(torch::kFloat32);
}

}  // namespace tomograd::models
