// Lumbar augmentations with the task's layout: the left-right mirror of a study (labels swapped)
// and the elastic / 3D rotation deformations of a classifier input.
#include "tomograd/tasks/lumbar/augment.hpp"

#include <torch/torch.h>

#include "tomograd/core/error.hpp"
#include "tomograd/preprocess/augment.hpp"
#include "vec3.hpp"

namespace tomograd::tasks::lumbar {

namespace {

/// The crop blocks of one level in build_input's order: 3 sagittal (sagittal, combined), then 1
/// axial (axial, combined).
int sagittal_blocks(const InputOptions& in) { return in.kind == "sagittal" || in.kind == "combined" ? 3 : 0; }
int axial_blocks(const InputOptions& in) { return in.kind == "axial" || in.kind == "combined" ? 1 : 0; }

}  // namespace

torch::Tensor mirror_input(const torch::Tensor& x, const InputOptions& in) {
  if (in.kind == "volume") {
    if (x.dim() != 4) throw ValueError("mirror_input: a volume input is [2,D,H,W]");
    return x.flip({1}).contiguous();
  }
  const int64_t window = 2 * in.context + 1;
  const int sag = sagittal_blocks(in), ax = axial_blocks(in);
  if (x.dim() != 3 || x.size(0) != 5 * (sag + ax) * window) {
    throw ValueError("mirror_input: a " + in.kind + " input is [" + std::to_string(5 * (sag + ax) * window) +
                     ",H,W]");
  }
  std::vector<torch::Tensor> blocks = x.split(window, 0);
  for (int l = 0; l < 5; ++l) {
    const std::size_t first = static_cast<std::size_t>(l * (sag + ax));
    for (int b = 0; b < sag; ++b) blocks[first + b] = blocks[first + b].flip({0});  // depth runs left to right
    if (sag == 3) std::swap(blocks[first + 1], blocks[first + 2]);               // left <-> right foramen
    if (ax == 1) blocks[first + sag] = blocks[first + sag].flip({2});            // columns run right to left
  }
  return torch::cat(blocks, 0).contiguous();
}

std::array<int, kLabels> mirror_grades(const std::array<int, kLabels>& grades) {
  std::array<int, kLabels> out{};
  for (int k = 0; k < kLabels; ++k) out[static_cast<std::size_t>(mirrored_label(k))] = grades[static_cast<std::size_t>(k)];
  return out;
}

LevelPoints mirror_points(const LevelPoints& points, const Vec3& centre, const Vec3& left_right) {
  LevelPoints out;
  for (int k = 0; k < kLabels; ++k) {
    const auto& p = points[static_cast<std::size_t>(k)];
    if (!p) continue;
    const double d = geom::dot(geom::sub(*p, centre), left_right);
    out[static_cast<std::size_t>(mirrored_label(k))] = geom::sub(*p, geom::scaled(left_right, 2 * d));
  }
  return out;
}

torch::Tensor deform_input(const torch::Tensor& x, const InputOptions& in, std::mt19937_64& rng) {
  namespace pp = tomograd::preprocess;
  torch::Tensor out = x;
  std::uniform_real_distribution<double> u(0.0, 1.0);
  if (in.elastic_p > 0 && in.elastic_alpha_px > 0 && u(rng) < in.elastic_p) {
    if (in.kind == "volume") {
      out = pp::displace_volume(out, pp::elastic_field_3d(out.size(1), out.size(2), out.size(3), in.elastic_alpha_px,
                                                          in.elastic_sigma_px, rng));
    } else {
      out = pp::displace(out, pp::elastic_field(out.size(1), out.size(2), in.elastic_alpha_px, in.elastic_sigma_px, rng));
    }
  }
  if (in.kind == "volume" && in.rotate3d_deg > 0) {
    std::uniform_real_distribution<double> a(-in.rotate3d_deg, in.rotate3d_deg);
    const double ad = a(rng), ah = a(rng), aw = a(rng);
    out = pp::rotate_volume(out, {ad, ah, aw});
  }
  return out;
}

}  // namespace tomograd::tasks::lumbar
