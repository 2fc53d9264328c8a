#pragma once
// Internal helpers shared by the synthetic phantoms (src/tasks/*/synth.cpp). Not installed.
#include <torch/torch.h>

#include <algorithm>
#include <vector>

namespace tomograd::tasks::synth {

// Smooth random field: Gaussian noise on a coarse grid with cells of about @p cell_mm,
// trilinearly upsampled to the volume and normalized to unit standard deviation.
inline torch::Tensor smooth_noise(torch::Generator& gen, int64_t d, int64_t h, int64_t w, const double spacing[3],
                                  double cell_mm) {
  auto cells = [&](int64_t n, double sp) { return std::max<int64_t>(2, static_cast<int64_t>(n * sp / cell_mm) + 2); };
  torch::Tensor coarse = torch::randn({1, 1, cells(d, spacing[0]), cells(h, spacing[1]), cells(w, spacing[2])},
                                      gen, torch::TensorOptions().dtype(torch::kFloat32));
  torch::Tensor f = torch::nn::functional::interpolate(
                        coarse, torch::nn::functional::InterpolateFuncOptions()
                                    .size(std::vector<int64_t>{d, h, w})
                                    .mode(torch::kTrilinear)
                                    .align_corners(true))
                        .squeeze();
  if (f.dim() != 3) f = f.reshape({d, h, w});
  return (f - f.mean()) / f.std().clamp_min(1e-6);
}

// Super-ellipsoid indicator |x/a|^p + |y/b|^p + |z/c|^2 <= 1 (boxy vertebral bodies and discs).
inline torch::Tensor superellipsoid(const torch::Tensor& x, const torch::Tensor& y, const torch::Tensor& z, double a,
                                    double b, double c, double p) {
  return (x / a).abs().pow(p) + (y / b).abs().pow(p) + (z / c).pow(2) <= 1.0;
}

}  // namespace tomograd::tasks::synth
